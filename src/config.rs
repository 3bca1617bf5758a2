//! Runtime settings: every `HALLPASS_*` variable, with safe defaults.
//!
//! Precedence is command-line flag > environment variable > `hallpass.toml` > built-in
//! default. The TOML file uses the same names in lower case without the prefix
//! (`listen = "0.0.0.0:8080"`); it is applied by turning its values into clap defaults,
//! so `hallpass --help` stays the one list of settings.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use ipnet::IpNet;

/// Settings shared by every subcommand.
#[derive(Args, Debug, Clone)]
pub struct Config {
    /// Address the HTTP server listens on.
    #[arg(long, env = "HALLPASS_LISTEN", default_value = "127.0.0.1:8080", global = true)]
    pub listen: SocketAddr,

    /// Directory for the SQLite database and stored files.
    #[arg(long, env = "HALLPASS_DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,

    /// Database URL: `sqlite:PATH` or `postgres://…`. Default: SQLite in the data dir.
    #[arg(long, env = "HALLPASS_DATABASE_URL", global = true)]
    pub database_url: Option<String>,

    /// Redis URL for shared rate limits and instant revocation across nodes.
    #[arg(long, env = "HALLPASS_REDIS_URL", global = true)]
    pub redis_url: Option<String>,

    /// Access token lifetime in seconds (at most 900).
    #[arg(long, env = "HALLPASS_ACCESS_TOKEN_TTL", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(30..=900), global = true)]
    pub access_token_ttl: u64,

    /// Seconds a rotated refresh token still returns its successor (concurrent clients).
    #[arg(long, env = "HALLPASS_REFRESH_GRACE", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=120), global = true)]
    pub refresh_grace: u64,

    /// Consecutive failed logins before an account is locked (for a growing period).
    #[arg(long, env = "HALLPASS_LOGIN_MAX_FAILURES", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=100), global = true)]
    pub login_max_failures: u32,

    /// Prefix of every Redis key and channel (lets deployments share one Redis).
    #[arg(long, env = "HALLPASS_REDIS_PREFIX", default_value = "hallpass", global = true)]
    pub redis_prefix: String,

    /// Requests per minute per client IP on the credential endpoints of `/api/v1/auth/*`.
    #[arg(long, env = "HALLPASS_AUTH_RATE_PER_MINUTE", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub auth_rate_per_minute: u32,

    /// Comma-separated proxy addresses or CIDRs whose `X-Forwarded-For` is believed.
    #[arg(
        long,
        env = "HALLPASS_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_parser = parse_proxy,
        global = true
    )]
    pub trusted_proxies: Vec<IpNet>,

    /// Public base URL of this server; also the `iss` of the tokens it issues.
    #[arg(long, env = "HALLPASS_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// Allow self-service sign-up at `POST /api/v1/auth/register`.
    #[arg(long, env = "HALLPASS_REGISTRATION_OPEN", default_value_t = true,
          action = clap::ArgAction::Set, global = true)]
    pub registration_open: bool,

    /// Minimum password length (8 to 64).
    #[arg(long, env = "HALLPASS_PASSWORD_MIN_LENGTH", default_value_t = 8,
          value_parser = clap::value_parser!(u8).range(8..=64), global = true)]
    pub password_min_length: u8,

    /// Issuer (`iss`) of outside identity tokens to accept (OIDC), e.g. your IdP's URL.
    #[arg(long, env = "HALLPASS_OIDC_ISSUER", global = true)]
    pub oidc_issuer: Option<String>,

    /// Audience (`aud`) outside identity tokens must carry (usually your client id).
    #[arg(long, env = "HALLPASS_OIDC_AUDIENCE", global = true)]
    pub oidc_audience: Option<String>,

    /// Where the outside issuer publishes its signing keys (JWKS).
    #[arg(long, env = "HALLPASS_OIDC_JWKS_URL", global = true)]
    pub oidc_jwks_url: Option<String>,

    /// Firebase project id: a preset for Google's issuer, audience and JWKS URL.
    #[arg(long, env = "HALLPASS_FIREBASE_PROJECT_ID", global = true)]
    pub firebase_project_id: Option<String>,

    /// Open-Meteo archive endpoint (past dates).
    #[arg(
        long,
        env = "HALLPASS_WEATHER_ARCHIVE_URL",
        default_value = "https://archive-api.open-meteo.com/v1/archive",
        global = true
    )]
    pub weather_archive_url: String,

    /// Open-Meteo forecast endpoint (recent and future dates).
    #[arg(
        long,
        env = "HALLPASS_WEATHER_FORECAST_URL",
        default_value = "https://api.open-meteo.com/v1/forecast",
        global = true
    )]
    pub weather_forecast_url: String,

    /// How long a weather lookup may take, in milliseconds.
    #[arg(long, env = "HALLPASS_WEATHER_TIMEOUT_MS", default_value_t = 3000,
          value_parser = clap::value_parser!(u64).range(50..=60_000), global = true)]
    pub weather_timeout_ms: u64,

    /// Refuse runs whose weather cannot be fetched right away (503), as seed 002 did;
    /// otherwise they are stored as `pending` and retried in the background.
    #[arg(long, env = "HALLPASS_WEATHER_REQUIRED", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub weather_required: bool,

    #[command(flatten)]
    pub files: crate::files::settings::FileSettings,

    /// Extra roles (name → permissions), from the `[roles]` table of `hallpass.toml`.
    #[arg(skip)]
    pub roles: Vec<(String, Vec<String>)>,

    /// Log format: `json` (structured, one object a line) or `text`.
    #[arg(long, env = "HALLPASS_LOG_FORMAT", default_value = "json", global = true)]
    pub log_format: LogFormat,

    /// Log filter in `RUST_LOG` syntax.
    #[arg(long, env = "HALLPASS_LOG", default_value = "info", global = true)]
    pub log: String,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

impl Config {
    /// The database URL actually used: the configured one or SQLite in the data dir.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite:{}", self.data_dir.join("hallpass.db").display()),
        }
    }

    /// The outside identity provider, if one is configured (explicit settings win
    /// over the Firebase preset).
    pub fn oidc(&self) -> anyhow::Result<Option<OidcSettings>> {
        let preset = self.firebase_project_id.as_deref().map(|project| OidcSettings {
            issuer: format!("https://securetoken.google.com/{project}"),
            audience: project.to_owned(),
            jwks_url: FIREBASE_JWKS_URL.to_owned(),
        });
        let explicit = [&self.oidc_issuer, &self.oidc_audience, &self.oidc_jwks_url];
        if explicit.iter().all(|s| s.is_none()) {
            return Ok(preset);
        }
        let pick = |value: &Option<String>, from_preset: Option<String>, name: &str| {
            value
                .clone()
                .or(from_preset)
                .ok_or_else(|| anyhow::anyhow!("{name} is required when outside identities are configured"))
        };
        Ok(Some(OidcSettings {
            issuer: pick(
                &self.oidc_issuer,
                preset.as_ref().map(|p| p.issuer.clone()),
                "HALLPASS_OIDC_ISSUER",
            )?,
            audience: pick(
                &self.oidc_audience,
                preset.as_ref().map(|p| p.audience.clone()),
                "HALLPASS_OIDC_AUDIENCE",
            )?,
            jwks_url: pick(&self.oidc_jwks_url, preset.map(|p| p.jwks_url), "HALLPASS_OIDC_JWKS_URL")?,
        }))
    }

    /// The `iss`/`aud` of our own tokens.
    pub fn issuer(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }
}

const FIREBASE_JWKS_URL: &str =
    "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com";

/// Where outside identity tokens come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSettings {
    pub issuer: String,
    pub audience: String,
    pub jwks_url: String,
}

/// A proxy address (`10.0.0.1`) or network (`10.0.0.0/8`).
fn parse_proxy(raw: &str) -> Result<IpNet, String> {
    let raw = raw.trim();
    raw.parse::<IpNet>()
        .or_else(|_| raw.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{raw}` is neither an IP address nor a CIDR network"))
}

/// What `hallpass.toml` holds: flat settings (as clap defaults) and the `[roles]` table.
#[derive(Debug, Default)]
pub struct SettingsFile {
    pub flat: Vec<(String, String)>,
    pub roles: Vec<(String, Vec<String>)>,
}

/// Reads `hallpass.toml`; a missing file is an empty one.
pub fn read_settings_file(path: &Path) -> anyhow::Result<SettingsFile> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(SettingsFile::default()),
        Err(e) => return Err(anyhow::anyhow!("reading {}: {e}", path.display())),
    };
    let table: toml::Table = toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut file = SettingsFile::default();
    let text_of = |v: &toml::Value| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
    for (key, value) in table {
        match value {
            toml::Value::Table(roles) if key == "roles" => {
                for (name, permissions) in roles {
                    let list = permissions.as_array().ok_or_else(|| {
                        anyhow::anyhow!("{}: role `{name}` must be a list of permissions", path.display())
                    })?;
                    file.roles.push((name, list.iter().map(text_of).collect()));
                }
            }
            toml::Value::Table(_) => anyhow::bail!("{}: unknown section [{key}]", path.display()),
            toml::Value::Array(items) => {
                file.flat.push((key, items.iter().map(text_of).collect::<Vec<_>>().join(",")))
            }
            other => file.flat.push((key, text_of(&other))),
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Config {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            config: Config,
        }
        Wrapper::try_parse_from(std::iter::once("hallpass").chain(args.iter().copied())).unwrap().config
    }

    #[test]
    fn firebase_preset_and_explicit_oidc_settings() {
        assert_eq!(config(&[]).oidc().unwrap(), None);
        let firebase = config(&["--firebase-project-id", "hugs-app"]).oidc().unwrap().unwrap();
        assert_eq!(firebase.issuer, "https://securetoken.google.com/hugs-app");
        assert_eq!(firebase.audience, "hugs-app");
        assert!(firebase.jwks_url.starts_with("https://www.googleapis.com/"));
        let mixed = config(&["--firebase-project-id", "p", "--oidc-jwks-url", "http://127.0.0.1:1/k"])
            .oidc()
            .unwrap()
            .unwrap();
        assert_eq!((mixed.audience.as_str(), mixed.jwks_url.as_str()), ("p", "http://127.0.0.1:1/k"));
        assert!(
            config(&["--oidc-issuer", "https://idp"]).oidc().is_err(),
            "audience and JWKS URL are required"
        );
    }

    #[test]
    fn proxies_are_addresses_or_networks() {
        assert_eq!(parse_proxy("10.0.0.1").unwrap().to_string(), "10.0.0.1/32");
        assert_eq!(parse_proxy(" ::1 ").unwrap().to_string(), "::1/128");
        assert_eq!(parse_proxy("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert!(parse_proxy("proxy.local").is_err());
    }

    #[test]
    fn settings_file_has_flat_values_and_roles() {
        let dir = std::env::temp_dir().join(format!("hallpass-toml-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("hallpass.toml");
        std::fs::write(&path, "listen = \"0.0.0.0:9000\"\naccess_token_ttl = 600\ntrusted_proxies = [\"10.0.0.1\", \"10.0.0.2\"]\n[roles]\nauditor = [\"audit:read\"]\n").unwrap();
        let file = read_settings_file(&path).unwrap();
        let pairs = file.flat;
        assert!(pairs.contains(&("listen".into(), "0.0.0.0:9000".into())));
        assert!(pairs.contains(&("access_token_ttl".into(), "600".into())));
        assert!(pairs.contains(&("trusted_proxies".into(), "10.0.0.1,10.0.0.2".into())));
        assert_eq!(pairs.len(), 3, "sections are not flat settings");
        assert_eq!(file.roles, vec![("auditor".to_owned(), vec!["audit:read".to_owned()])]);
        assert!(read_settings_file(&dir.join("missing.toml")).unwrap().flat.is_empty());
        std::fs::write(&path, "listen = ").unwrap();
        assert!(read_settings_file(&path).is_err());
        std::fs::write(&path, "[mystery]\nx = 1\n").unwrap();
        assert!(read_settings_file(&path).is_err());
    }
}
