//! [`AppState`]: what every handler shares (the pool, the configuration, the rate limiter, the
//! cursor key, the credential cache), built once at start-up.

use crate::auth::credentials::CredentialCache;
use crate::config::Config;
use crate::db::{Backend, DatabaseUrl, Pool};
use crate::jsonapi::cursor::CursorCodec;
use crate::rate_limit::RateLimiter;

/// What every handler shares.
pub struct AppState {
    pub pool: Pool,
    pub config: Config,
    pub rate_limiter: Option<RateLimiter>,
    pub cursors: CursorCodec,
    /// Signs change cursors, with the database's own key (they never expire).
    pub feed_cursors: CursorCodec,
    /// Credentials of recent tokens (see [`CredentialCache`]).
    pub credentials: CredentialCache,
    /// The database's backend, as `DATABASE_URL` names it.
    pub backend: Backend,
}

impl AppState {
    pub fn new(pool: Pool, config: Config) -> Self {
        // The pool was built from this URL. Were it unreadable, SQLite's answers are the cautious
        // ones (`db::check_credentials`).
        let backend =
            DatabaseUrl::parse(&config.database_url).map_or(Backend::Sqlite, |url| url.backend);
        // Read at start-up; a database that cannot answer now leaves the feed's cursors valid for
        // this process only.
        let feed_key = (pool.get().ok())
            .and_then(|mut conn| crate::models::Change::cursor_key(&mut conn).ok())
            .unwrap_or(config.cursor_secret);
        Self {
            feed_cursors: CursorCodec::new(feed_key),
            rate_limiter: RateLimiter::new(config.rate_limit_per_hour),
            cursors: CursorCodec::new(config.cursor_secret),
            credentials: CredentialCache::default(),
            backend,
            pool,
            config,
        }
    }
}
