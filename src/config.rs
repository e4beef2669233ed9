//! Configuration, read once from the environment at start-up into [`Config`]. Nothing else in the
//! crate reads the environment.
//!
//! Read here rather than through clap's `env`: [`Config::from_lookup`] lets tests and the bench
//! build a configuration without the process environment, a set but empty variable counts as unset,
//! and a bad value is one `NAME: problem` line, not a usage error on every subcommand.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `DATABASE_URL` | `sqlite://phonebook.db` | `sqlite://PATH` or `postgres://...`; the scheme picks the backend |
//! | `PHONEBOOK_BIND` | `127.0.0.1:8080` | address `serve` listens on |
//! | `PHONEBOOK_PUBLIC_URL` | from the request's `Host` | origin used in absolute links, e.g. `https://crm.example.com` |
//! | `PHONEBOOK_DEFAULT_REGION` | `US` | region for numbers written without `+` or an international prefix |
//! | `PHONEBOOK_RATE_LIMIT` | `10000` | requests per user per hour; `0` turns the limiter off |
//! | `PHONEBOOK_MAX_BODY_BYTES` | `1048576` | larger request bodies get 413 |
//! | `PHONEBOOK_BOOTSTRAP_TOKEN` | random | the admin token created on an empty database |
//! | `PHONEBOOK_CURSOR_SECRET` | a key made once and stored in the database | key that signs page cursors |
//! | `PHONEBOOK_REDIS_URL` | unset | `redis://host:port/db`: the rate limit is kept in Redis, one budget for all instances |
//! | `PHONEBOOK_REDIS_KEY_PREFIX` | `phonebook:` | prefix of the keys the service writes in Redis |
//! | `PHONEBOOK_DB_POOL_SIZE` | 2 × CPUs | pooled database connections |
//! | `PHONEBOOK_DB_TIMEOUT_MS` | `1000` | longest wait for a pooled connection before 503 |
//! | `PHONEBOOK_WORKERS` | number of CPUs | HTTP worker threads |
//! | `RUST_LOG` | `info` | log filter (`env_logger`) |

use std::env;

use thiserror::Error;

/// A variable that is set but cannot be used.
#[derive(Debug, Error)]
#[error("{name}: {problem}")]
pub struct ConfigError {
    name: &'static str,
    problem: String,
}

/// Every setting of the service.
#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: String,
    pub bind: String,
    pub public_url: Option<String>,
    pub default_region: String,
    pub rate_limit_per_hour: u32,
    pub max_body_bytes: usize,
    pub bootstrap_token: Option<String>,
    /// The key from `PHONEBOOK_CURSOR_SECRET`; `None`: the one stored in the database.
    pub cursor_secret: Option<[u8; 32]>,
    /// The Redis of the shared rate limiter (a URL the `redis` crate reads).
    pub redis_url: Option<String>,
    pub redis_key_prefix: String,
    pub pool_size: u32,
    pub pool_timeout_ms: u64,
    pub workers: Option<usize>,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| env::var(name).ok().filter(|value| !value.is_empty()))
    }

    /// Reads settings through `lookup`, so tests can build a configuration without touching the
    /// process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let parsed = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            lookup(name).map_or(Ok(default), |value| {
                value.trim().parse().map_err(|_| ConfigError {
                    name,
                    problem: format!("expected a non-negative integer, got {value:?}"),
                })
            })
        };
        let default_region = lookup("PHONEBOOK_DEFAULT_REGION")
            .unwrap_or_else(|| "US".into())
            .to_ascii_uppercase();
        if !crate::domain::phone_number::is_valid_region(&default_region) {
            return Err(ConfigError {
                name: "PHONEBOOK_DEFAULT_REGION",
                problem: format!("{default_region:?} is not a region with a numbering plan"),
            });
        }
        let cursor_secret =
            lookup("PHONEBOOK_CURSOR_SECRET").map(|secret| crate::auth::sha256(secret.as_bytes()));
        let redis_url = lookup("PHONEBOOK_REDIS_URL");
        if let Some(url) = &redis_url {
            redis::Client::open(url.as_str()).map_err(|error| ConfigError {
                name: "PHONEBOOK_REDIS_URL",
                problem: format!(
                    "{url:?} is not a usable Redis URL such as redis://127.0.0.1:6379/0 ({error})"
                ),
            })?;
        }
        Ok(Self {
            redis_url,
            redis_key_prefix: lookup("PHONEBOOK_REDIS_KEY_PREFIX")
                .unwrap_or_else(|| "phonebook:".into()),
            database_url: lookup("DATABASE_URL").unwrap_or_else(|| "sqlite://phonebook.db".into()),
            bind: lookup("PHONEBOOK_BIND").unwrap_or_else(|| "127.0.0.1:8080".into()),
            public_url: lookup("PHONEBOOK_PUBLIC_URL")
                .map(|url| url.trim_end_matches('/').to_owned()),
            default_region,
            rate_limit_per_hour: u32::try_from(parsed("PHONEBOOK_RATE_LIMIT", 10_000)?).map_err(
                |_| ConfigError {
                    name: "PHONEBOOK_RATE_LIMIT",
                    problem: "too large".into(),
                },
            )?,
            max_body_bytes: parsed("PHONEBOOK_MAX_BODY_BYTES", 1 << 20)? as usize,
            bootstrap_token: lookup("PHONEBOOK_BOOTSTRAP_TOKEN"),
            cursor_secret,
            pool_size: parsed("PHONEBOOK_DB_POOL_SIZE", default_pool_size())?.clamp(1, 1024) as u32,
            pool_timeout_ms: parsed("PHONEBOOK_DB_TIMEOUT_MS", 1000)?.max(1),
            workers: lookup("PHONEBOOK_WORKERS")
                .map(|_| parsed("PHONEBOOK_WORKERS", 0).map(|n| n.max(1) as usize))
                .transpose()?,
        })
    }
}

/// Two connections per CPU: enough to keep every core busy while other requests wait on the
/// database; each SQLite connection keeps its own page cache, so more cost memory and contention
/// without adding throughput (docs/performance.md, "Pool size").
fn default_pool_size() -> u64 {
    std::thread::available_parallelism().map_or(2, |n| n.get() as u64) * 2
}
