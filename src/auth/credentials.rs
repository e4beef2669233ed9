//! [`CredentialCache`]: the credentials of tokens seen recently, so that a read does not spend a
//! statement on authentication. On PostgreSQL a statement costs the database ~95 µs of CPU on the
//! 2-core machine whatever it does (bench/README.md): as much as the read itself. On SQLite the
//! token's indexed lookup is a tenth of the instructions of a read by id.
//!
//! What a credential holds (user, role, scopes, expiry) never changes for a token; only revocation
//! ends it early, and revocation happens in another process (`phonebook token revoke`) or, in the
//! tests, on a pooled connection of this one. A revoked token is refused on its next request:
//!
//! - **SQLite**: before a GET trusts the cache, an idle pooled connection is asked
//!   ([`check_credentials`]) for its `data_version` (which changes when any other connection, in
//!   any process, commits) and its `total_changes()` (its own writes), compared with what it read
//!   last time. That answer is exact when it is given. Any write at all counts, so under write load
//!   the cache is emptied often; a read-only load keeps it.
//! - **PostgreSQL**: every pooled connection `LISTEN`s on [`REVOCATIONS`] ([`listen_for_revocations`],
//!   the pool's connect hook) and `ApiToken::revoke_all` notifies that channel in the revoking
//!   transaction. The notification reaches an idle connection a moment after the commit, so the
//!   look at an idle connection before the handler ([`check_credentials`]) only catches most
//!   revocations early. What makes it exact is the request's own statement: PostgreSQL hands a
//!   listening session the notifications signalled before a statement began ahead of that
//!   statement's `ReadyForQuery`, so the handler's connection looks again after its statements
//!   (`Context::database`). A connection the pool opened after the look began to listen late and
//!   may have missed a revocation: its arrival counts as one ([`Pool::connections_opened`]). A request served from the cache that runs no statement of its own (the
//!   entry point, a 400 before the database) is confirmed by a lookup as it ends
//!   ([`crate::auth::caller::confirm_cached_credential`]).
//!
//! Whenever a revocation may have happened the cache is emptied and the token looked up with a
//! query ([`CredentialCache::look_up`]). Writes always authenticate with a query. A credential
//! read before the cache was last emptied is not added to it ([`CredentialCache::generation`]):
//! its token may have been revoked between the lookup and the insert.
//!
//! A new way to change a user's role or delete a user would have to notify the channel too (on
//! SQLite every write counts already).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use chrono::NaiveDateTime;

use diesel::connection::SimpleConnection;

use crate::clock::now;
use crate::db::{Backend, DbConnection, Pool};
pub use crate::models::token::REVOCATIONS;
use crate::models::ApiToken;
use crate::permissions::Principal;

/// The pool's connect hook: a PostgreSQL connection listens for revocations.
pub fn listen_for_revocations(conn: &mut DbConnection) -> diesel::QueryResult<()> {
    match conn {
        DbConnection::Pg(conn) => conn.batch_execute(&format!("LISTEN {REVOCATIONS}")),
        DbConnection::Sqlite(_) => Ok(()),
    }
}

/// Whether a revocation was announced to this connection since it last looked (PostgreSQL; a
/// connection that cannot tell answers yes, so the caller authenticates with a query).
pub fn revocations_arrived(conn: &mut DbConnection) -> bool {
    crate::db::notified(conn)
}

/// What an idle pooled connection can tell of the credentials cached before now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialCheck {
    /// Nothing that could revoke a token has happened since a connection was last asked.
    Current,
    /// Something may have: the cache must be emptied before it is used again.
    Stale,
    /// No connection was idle to ask (SQLite): look the token up this time.
    Unknown,
}

/// Asks an idle pooled connection, on the calling thread, whether a token may have been revoked
/// since a pooled connection was last asked. Never waits. PostgreSQL reads the notifications that
/// have arrived ([`revocations_arrived`]), and a connection opened since the last check counts as
/// news too: it began to listen after the check, so it may have missed a revocation. With no
/// connection idle PostgreSQL answers [`CredentialCheck::Current`], since the handler's own
/// connection looks again after its statements. SQLite asks whether anything was written since
/// this connection last looked ([`crate::db::written_since_last_look`]), which is exact at the
/// moment it answers.
pub fn check_credentials(
    pool: &Pool,
    backend: Backend,
    cache: &CredentialCache,
) -> CredentialCheck {
    let joined =
        backend == Backend::Postgres && cache.connections_joined(pool.connections_opened());
    let Some(mut conn) = pool.try_get() else {
        return match backend {
            Backend::Postgres if joined => CredentialCheck::Stale,
            Backend::Postgres => CredentialCheck::Current,
            Backend::Sqlite => CredentialCheck::Unknown,
        };
    };
    let changed = match *conn {
        DbConnection::Pg(_) => revocations_arrived(&mut conn) | joined,
        DbConnection::Sqlite(_) => crate::db::written_since_last_look(&mut conn),
    };
    if changed {
        CredentialCheck::Stale
    } else {
        CredentialCheck::Current
    }
}

/// At most this many credentials are kept; a full cache starts over (one query per token again).
const CAPACITY: usize = 10_000;

/// Live credentials by token hash, kept as the [`Principal`] each authenticates (parsed once).
#[derive(Debug, Default)]
pub struct CredentialCache {
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    by_hash: HashMap<String, Entry>,
    /// How many times the cache was emptied for a possible revocation.
    generation: u64,
    /// How many connections the pool had opened when it was last checked (PostgreSQL).
    connections_opened: u64,
}

#[derive(Debug)]
struct Entry {
    principal: Principal,
    expires_at: Option<NaiveDateTime>,
}

impl CredentialCache {
    fn entries(&self) -> MutexGuard<'_, Entries> {
        self.entries
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Who a token hash authenticates, if it was seen and has not expired since.
    pub fn get(&self, hash: &str) -> Option<Principal> {
        let mut entries = self.entries();
        let entry = entries.by_hash.get(hash)?;
        if entry.expires_at.is_some_and(|expires| expires <= now()) {
            entries.by_hash.remove(hash);
            return None;
        }
        Some(entry.principal.clone())
    }

    /// Whether the pool has opened connections since the last check (and notes that it has now
    /// seen `opened`).
    fn connections_joined(&self, opened: u64) -> bool {
        std::mem::replace(&mut self.entries().connections_opened, opened) != opened
    }

    /// Which emptying of the cache a lookup about to start follows; pass it to [`Self::insert`].
    pub fn generation(&self) -> u64 {
        self.entries().generation
    }

    /// Keeps a credential looked up after the cache was at `generation`, unless it has been
    /// emptied since: then the lookup may have read a token revoked before the insert.
    pub fn insert(
        &self,
        generation: u64,
        hash: String,
        principal: Principal,
        expires_at: Option<NaiveDateTime>,
    ) {
        let mut entries = self.entries();
        if entries.generation != generation {
            return;
        }
        if entries.by_hash.len() >= CAPACITY {
            entries.by_hash.clear();
        }
        entries.by_hash.insert(
            hash,
            Entry {
                principal,
                expires_at,
            },
        );
    }

    /// Looks a token up with a query: who it authenticates if it is live, kept for the next
    /// requests unless the cache is emptied while the lookup runs.
    pub fn look_up(
        &self,
        conn: &mut DbConnection,
        hash: &str,
    ) -> diesel::QueryResult<Option<Principal>> {
        let generation = self.generation();
        let Some(credential) = ApiToken::authenticate(conn, hash)? else {
            return Ok(None);
        };
        let principal = credential.principal();
        self.insert(
            generation,
            hash.to_owned(),
            principal.clone(),
            credential.expires_at,
        );
        Ok(Some(principal))
    }

    /// Forgets every credential: a token may have been revoked (no announcement names it).
    pub fn clear(&self) {
        let mut entries = self.entries();
        entries.by_hash.clear();
        entries.generation += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permissions::{Role, Scopes};
    use chrono::Duration;

    fn principal() -> Principal {
        Principal {
            user_id: 7,
            role: Role::Member,
            scopes: Scopes::parse("phoneNumbers.read").unwrap(),
        }
    }

    fn expiring(span: Duration) -> Option<NaiveDateTime> {
        Some(now() + span)
    }

    #[test]
    fn keeps_live_credentials_until_cleared() {
        let cache = CredentialCache::default();
        assert!(cache.get("a").is_none());
        let generation = cache.generation();
        cache.insert(generation, "a".into(), principal(), None);
        cache.insert(
            generation,
            "b".into(),
            principal(),
            expiring(Duration::hours(1)),
        );
        assert_eq!(cache.get("a").map(|c| c.user_id), Some(7));
        assert!(cache.get("b").is_some());
        cache.clear();
        assert!(cache.get("a").is_none() && cache.get("b").is_none());
    }

    #[test]
    fn a_lookup_that_started_before_the_cache_was_emptied_is_not_kept() {
        let cache = CredentialCache::default();
        let before = cache.generation();
        cache.clear();
        cache.insert(before, "a".into(), principal(), None);
        assert!(cache.get("a").is_none());
        cache.insert(cache.generation(), "a".into(), principal(), None);
        assert!(cache.get("a").is_some());
    }

    #[test]
    fn an_expired_credential_is_gone() {
        let cache = CredentialCache::default();
        let generation = cache.generation();
        cache.insert(
            generation,
            "a".into(),
            principal(),
            expiring(Duration::milliseconds(-1)),
        );
        assert!(cache.get("a").is_none());
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = CredentialCache::default();
        let generation = cache.generation();
        for n in 0..CAPACITY {
            cache.insert(generation, n.to_string(), principal(), None);
        }
        assert!(cache.get("0").is_some());
        cache.insert(generation, "new".into(), principal(), None);
        assert!(cache.get("0").is_none());
        assert!(cache.get("new").is_some());
    }

    #[test]
    fn sqlite_tells_of_every_write_since_a_pooled_connection_last_looked() {
        use crate::db::{pool, DatabaseUrl, PoolOptions};
        use diesel::sql_types::BigInt;
        use diesel::RunQueryDsl;

        #[derive(diesel::QueryableByName)]
        struct Value {
            #[diesel(sql_type = BigInt)]
            value: i64,
        }
        let value = |conn: &mut DbConnection| {
            diesel::sql_query("SELECT value FROM counter")
                .get_result::<Value>(conn)
                .unwrap()
                .value
        };
        let bump = |conn: &mut DbConnection| {
            conn.batch_execute("UPDATE counter SET value = value + 1")
                .unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("marks.db").display());
        let url = DatabaseUrl::parse(&url).unwrap();
        let options = |size| PoolOptions {
            size,
            timeout: std::time::Duration::from_secs(5),
            statement_counter: None,
            on_connect: None,
            min_idle: 1,
        };
        let others = pool(&url, options(1)).unwrap();
        let mut elsewhere = others.get().unwrap();
        elsewhere
            .batch_execute(
                "CREATE TABLE counter (value BIGINT NOT NULL); INSERT INTO counter VALUES (1);",
            )
            .unwrap();
        // One connection, so that every look is this connection's.
        let pool = pool(&url, options(1)).unwrap();
        let cache = CredentialCache::default();
        let check = || check_credentials(&pool, Backend::Sqlite, &cache);
        assert_eq!(
            check(),
            CredentialCheck::Stale,
            "a connection that never looked"
        );
        assert_eq!(check(), CredentialCheck::Current);
        // Another connection's commit (another process's would be the same to SQLite) ...
        bump(&mut elsewhere);
        assert_eq!(check(), CredentialCheck::Stale, "a commit elsewhere");
        assert_eq!(check(), CredentialCheck::Current);
        // ... and one made on the very connection that looks next.
        bump(&mut pool.get().unwrap());
        assert_eq!(check(), CredentialCheck::Stale, "its own commit");
        assert_eq!(check(), CredentialCheck::Current);
        // Reads change nothing; with no connection idle, nothing can be told.
        value(&mut pool.get().unwrap());
        assert_eq!(check(), CredentialCheck::Current);
        let busy = pool.get().unwrap();
        assert_eq!(check(), CredentialCheck::Unknown);
        drop(busy);
    }
}
