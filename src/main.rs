//! `hallpass` — see `hallpass --help`.

fn main() -> std::process::ExitCode {
    hallpass::cli::main()
}
