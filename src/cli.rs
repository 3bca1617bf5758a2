//! The command line: `hallpass [serve]`, `hallpass migrate`, `hallpass user create`.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::accounts::create::{self as accounts, AccountInput, Creation};
use crate::accounts::password::PasswordHasherPool;
use crate::app::{AppState, Application};
use crate::auth::permissions::RoleBook;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, LogFormat, read_settings_file};
use crate::http::error::ApiError;
use crate::store::Db;

/// Hallpass: accounts, sessions and tokens for your app, in one binary.
///
/// Every setting can also be given in `hallpass.toml` (path in HALLPASS_CONFIG) using
/// its long name with underscores, e.g. `access_token_ttl = 600`.
#[derive(Parser, Debug)]
#[command(name = "hallpass", version)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage accounts from the shell.
    User {
        #[command(subcommand)]
        action: UserCommand,
    },
    /// Import data from files.
    Import {
        #[command(subcommand)]
        what: ImportCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum ImportCommand {
    /// Import runs from a CSV file (`date,location,distance,time`) for a user: all
    /// rows or none.
    Runs {
        #[arg(long)]
        user: String,
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create an account. The password is read from HALLPASS_PASSWORD or, if unset,
    /// from one line of standard input.
    Create {
        #[arg(long)]
        username: String,
        /// A role to grant (repeatable); default `user`.
        #[arg(long = "role")]
        roles: Vec<String>,
        #[arg(long)]
        email: Option<String>,
    },
}

/// Parses arguments with `hallpass.toml` values as defaults.
pub fn parse() -> anyhow::Result<Cli> {
    let path =
        std::env::var_os("HALLPASS_CONFIG").map_or_else(|| PathBuf::from("hallpass.toml"), PathBuf::from);
    let file = read_settings_file(&path)?;
    let mut command = Cli::command();
    for (key, value) in file.flat {
        let known = command.get_arguments().any(|a| a.get_id() == key.as_str());
        if !known {
            anyhow::bail!("{}: unknown setting `{key}`", path.display());
        }
        command = command.mut_arg(key, |arg| arg.default_value(value));
    }
    let mut cli = Cli::from_arg_matches(&command.get_matches())?;
    cli.config.roles = file.roles;
    Ok(cli)
}

/// Parses `args` alone: no environment variable and no settings file is read (for
/// tests and embedders, whose results must not depend on the shell they run in).
pub fn parse_args_only<I, T>(args: I) -> anyhow::Result<Cli>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let command = Cli::command().mut_args(|arg| arg.env(None::<&str>));
    Ok(Cli::from_arg_matches(&command.try_get_matches_from(args)?)?)
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

pub fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(err) => {
            eprintln!("hallpass: {err:#}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&cli.config);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("hallpass: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("hallpass: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => Application::build(cli.config).await?.run_until_stopped().await,
        Command::Migrate => {
            Db::connect(&cli.config.database_url()).await?.migrate().await?;
            println!("migrations applied");
            Ok(())
        }
        Command::User { action: UserCommand::Create { username, roles, email } } => {
            create_user(&cli.config, &username, &roles, email.as_deref()).await
        }
        Command::Import { what: ImportCommand::Runs { user, file } } => {
            import_runs(cli.config, &user, &file).await
        }
    }
}

async fn import_runs(config: Config, username: &str, file: &std::path::Path) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
    let state = AppState::new(config, std::sync::Arc::new(SystemClock)).await?;
    let user = crate::accounts::store::find_by_login(&state.db, username)
        .await?
        .filter(|u| u.expired_at.is_none())
        .ok_or_else(|| anyhow::anyhow!("no active user `{username}`"))?;
    let imported = crate::runs::import::import(&state, &user.id, text).await.map_err(explain)?;
    println!("imported {imported} runs for {}; their weather is fetched by the server", user.username);
    Ok(())
}

/// An API error as a line for the terminal.
fn explain(err: ApiError) -> anyhow::Error {
    match err {
        ApiError::Validation(errors) => {
            let problems: Vec<String> = errors.iter().map(|e| format!("{} {}", e.field, e.message)).collect();
            anyhow::anyhow!("{}", problems.join("; "))
        }
        other => anyhow::anyhow!("{other}"),
    }
}

async fn create_user(
    config: &Config,
    username: &str,
    roles: &[String],
    email: Option<&str>,
) -> anyhow::Result<()> {
    let book = RoleBook::new(&config.roles)?;
    let unknown: Vec<&String> = roles.iter().filter(|r| !book.exists(r)).collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = book.names().collect();
        anyhow::bail!("unknown role(s) {unknown:?}; known roles: {}", known.join(", "));
    }
    let password = match std::env::var("HALLPASS_PASSWORD") {
        Ok(password) => password,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let db = Db::connect(&config.database_url()).await?;
    db.migrate().await?;
    let mut role_names: Vec<&str> = roles.iter().map(String::as_str).collect();
    if role_names.is_empty() {
        role_names.push("user");
    }
    let input = AccountInput { username, password: Some(&password), email, name: None };
    let creation = Creation { roles: &role_names, created_by: None, link: None };
    let min = usize::from(config.password_min_length);
    let account = accounts::validate(&PasswordHasherPool::new()?, min, &input).await.map_err(explain)?;
    let mut tx = db.begin().await?;
    let user = accounts::create(&mut tx, account, creation, SystemClock.now()).await.map_err(explain)?;
    tx.commit().await?;
    println!("created user {} ({}) with roles {}", user.username, user.id, user.roles.join(", "));
    Ok(())
}
