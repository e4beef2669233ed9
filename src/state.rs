//! [`AppState`]: what every handler shares (the pool, the configuration, the rate limiter, the
//! cursor key, the credential cache), built once at start-up.

use crate::auth::credentials::CredentialCache;
use crate::config::Config;
use crate::db::{Backend, DatabaseUrl, Pool};
use crate::jsonapi::cursor::CursorCodec;
use crate::models::server_key;
use crate::rate_limit::Limiter;

/// What every handler shares.
pub struct AppState {
    pub pool: Pool,
    pub config: Config,
    pub rate_limiter: Option<Limiter>,
    pub cursors: CursorCodec,
    /// Credentials of recent tokens (see [`CredentialCache`]).
    pub credentials: CredentialCache,
    /// The database's backend, as `DATABASE_URL` names it.
    pub backend: Backend,
}

impl AppState {
    /// The shared state of a process serving from `pool`. Without `PHONEBOOK_CURSOR_SECRET` the
    /// cursor key is the one stored in the database (made there by the first instance), so
    /// cursors survive restarts and work on every instance.
    pub fn new(pool: Pool, config: Config) -> Result<Self, StateError> {
        // The pool was built from this URL. Were it unreadable, SQLite's answers are the cautious
        // ones (`db::check_credentials`).
        let backend =
            DatabaseUrl::parse(&config.database_url).map_or(Backend::Sqlite, |url| url.backend);
        let cursor_key = match config.cursor_secret {
            Some(key) => key,
            None => server_key::get_or_create(&mut *pool.get()?, server_key::CURSOR_KEY)?,
        };
        let rate_limiter = Limiter::new(
            config.rate_limit_per_hour,
            config.redis_url.as_deref(),
            &config.redis_key_prefix,
        )?;
        Ok(Self {
            rate_limiter,
            cursors: CursorCodec::new(cursor_key),
            credentials: CredentialCache::default(),
            backend,
            pool,
            config,
        })
    }
}

/// Why [`AppState::new`] could not build the state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("database unavailable: {0}")]
    Unavailable(#[from] r2d2::Error),
    #[error("reading the stored cursor key: {0}")]
    CursorKey(#[from] diesel::result::Error),
    #[error("PHONEBOOK_REDIS_URL: {0}")]
    Redis(#[from] redis::RedisError),
}
