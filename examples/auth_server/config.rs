//! Configuration from the command line and the environment. Every error is one line naming the setting.

use std::env;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The shortest secret accepted: HS256 needs at least the hash size (RFC 7518 §3.2).
pub const MIN_SECRET_BYTES: usize = 32;

/// Where the users live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// A file, created with its schema if missing.
    File(PathBuf),
    /// `sqlite::memory:`: gone when the server stops.
    Memory,
}

/// Where the HMAC secret came from.
pub enum Secret {
    /// `BETTER_AUTH_SECRET`.
    FromEnv(String),
    /// Generated for this run by `--dev`.
    Generated(String),
}

impl Secret {
    pub fn bytes(&self) -> &[u8] {
        match self {
            Secret::FromEnv(s) | Secret::Generated(s) => s.as_bytes(),
        }
    }
}

pub struct Config {
    pub listen: SocketAddr,
    pub database: Database,
    pub secret: Secret,
    /// `PUBLIC_URL`'s origin, if given (else the listening address's).
    pub public_url: Option<String>,
    /// `CSRF_ALLOWED_ORIGINS`: other origins whose pages may POST with the cookie.
    pub allowed_origins: Vec<String>,
}

/// The default database: a file in the working directory, named after the example (`*.db` is gitignored).
pub const DEFAULT_DATABASE_URL: &str = "sqlite://auth_server.db";

/// A set, non-empty environment variable.
fn var(name: &str) -> Result<Option<String>, String> {
    match env::var(name) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(env::VarError::NotPresent) => Ok(None),
        Err(env::VarError::NotUnicode(_)) => Err(format!("{name} is not valid UTF-8")),
    }
}

pub fn from_env(args: impl Iterator<Item = String>) -> Result<Config, String> {
    let mut dev = false;
    for arg in args {
        match arg.as_str() {
            "--dev" => dev = true,
            other => {
                return Err(format!(
                    "unknown argument {other:?} (the only option is --dev)"
                ));
            }
        }
    }

    let listen = var("LISTEN_ADDR")?.unwrap_or_else(|| "127.0.0.1:3000".into());
    let listen: SocketAddr = listen
        .trim()
        .parse()
        .map_err(|_| format!("LISTEN_ADDR {listen:?} is not an address like 127.0.0.1:3000"))?;

    let url = var("DATABASE_URL")?.unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
    let database = parse_database_url(&url)?;

    let secret = match var("BETTER_AUTH_SECRET")? {
        Some(secret) if secret.len() < MIN_SECRET_BYTES => {
            return Err(format!(
                "BETTER_AUTH_SECRET is {} bytes; at least {MIN_SECRET_BYTES} are needed (e.g. `openssl rand -base64 32`)",
                secret.len()
            ));
        }
        Some(secret) => Secret::FromEnv(secret),
        None if dev => Secret::Generated(random_secret()?),
        None => {
            return Err(format!(
                "BETTER_AUTH_SECRET is not set: give a secret of at least {MIN_SECRET_BYTES} bytes, or start with --dev to generate a throwaway one"
            ));
        }
    };

    let public_url = var("PUBLIC_URL")?
        .map(|u| parse_origin("PUBLIC_URL", &u))
        .transpose()?;
    let allowed_origins = var("CSRF_ALLOWED_ORIGINS")?
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(|o| parse_origin("CSRF_ALLOWED_ORIGINS", o))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();

    Ok(Config {
        listen,
        database,
        secret,
        public_url,
        allowed_origins,
    })
}

/// `sqlite://relative.db`, `sqlite:relative.db`, `sqlite:///absolute.db`, `sqlite::memory:`.
pub fn parse_database_url(url: &str) -> Result<Database, String> {
    let bad = |why: &str| format!("DATABASE_URL {url:?}: {why}");
    let Some(rest) = url.trim().strip_prefix("sqlite:") else {
        return Err(bad(
            "only SQLite is supported: use sqlite://path/to/users.db or sqlite::memory:",
        ));
    };
    if rest == ":memory:" || rest == "//:memory:" {
        return Ok(Database::Memory);
    }
    if rest.contains(['?', '#']) {
        return Err(bad("query parameters are not supported"));
    }
    let path = rest.strip_prefix("//").unwrap_or(rest);
    if path.is_empty() || path.ends_with('/') {
        return Err(bad("no file name"));
    }
    Ok(Database::File(PathBuf::from(path)))
}

/// `scheme://host[:port]`, lowercased, for http and https only; a trailing `/` is allowed.
pub fn parse_origin(setting: &str, value: &str) -> Result<String, String> {
    let bad = || format!("{setting}: {value:?} is not an origin like https://app.example.com");
    let value = value.trim();
    let (scheme, rest) = value.split_once("://").ok_or_else(bad)?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(bad());
    }
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty()
        || authority.contains(['/', '?', '#', '@', ' '])
        || authority.parse::<http::uri::Authority>().is_err()
    {
        return Err(bad());
    }
    Ok(format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

/// 32 random bytes, base64url: a throwaway secret for `--dev`.
fn random_secret() -> Result<String, String> {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for --dev: {e}"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}
