//! `hallpass` — see `hallpass --help`.

// glibc's malloc keeps the 19 MiB argon2 buffers in per-thread arenas after they are
// freed (its mmap threshold grows with each large free), so RSS climbed past 600 MiB
// under a login flood; mimalloc returns them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    hallpass::cli::main()
}
