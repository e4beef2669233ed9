//! [`CredentialCache`]: the credentials of tokens seen recently, so that a read on PostgreSQL does
//! not spend a statement on authentication. There a statement costs the database ~95 µs of CPU on
//! the 2-core machine whatever it does (bench/README.md): as much as the read itself.
//!
//! What a credential holds (user, role, scopes, expiry) never changes for a token; only revocation
//! ends it early, and revocation happens in another process (`phonebook token revoke`). So:
//! every pooled PostgreSQL connection `LISTEN`s on [`REVOCATIONS`]; `ApiToken::revoke_all` notifies
//! that channel in the revoking transaction; and a request served from the cache looks at the
//! notifications that reached a pooled connection, before its handler runs and again on the
//! handler's own connection after its statements (`Caller::database`). PostgreSQL sends a
//! listening session the notifications pending when a statement began before that statement's
//! `ReadyForQuery`, so a read that starts after a revocation committed finds it there, empties the
//! cache and authenticates again with a query: the revoked token gets 401 on its next request.
//! Writes always authenticate with a query. SQLite uses no cache: its lookup is a function call in
//! this process, and another process's revocation is visible to it at once.
//!
//! A new way to change a user's role or delete a user would have to notify the channel too.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::models::now;
use crate::models::token::Credential;

/// The channel revocations are announced on.
pub const REVOCATIONS: &str = "phonebook_token_revocations";

/// At most this many credentials are kept; a full cache starts over (one query per token again).
const CAPACITY: usize = 10_000;

/// Live credentials by token hash.
#[derive(Debug, Default)]
pub struct CredentialCache {
    entries: Mutex<HashMap<String, Credential>>,
}

impl CredentialCache {
    /// The credential of a token hash, if it was seen and has not expired since.
    pub fn get(&self, hash: &str) -> Option<Credential> {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let credential = entries.get(hash)?;
        if credential
            .expires_at
            .is_some_and(|expires| expires <= now())
        {
            entries.remove(hash);
            return None;
        }
        Some(credential.clone())
    }

    pub fn insert(&self, hash: String, credential: Credential) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(hash, credential);
    }

    /// Forgets every credential: a revocation was announced (it names no token).
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn credential(expires_in: Option<Duration>) -> Credential {
        Credential {
            user_id: 7,
            role: "member".into(),
            scopes: "phoneNumbers.read".into(),
            expires_at: expires_in.map(|span| now() + span),
        }
    }

    #[test]
    fn keeps_live_credentials_until_cleared() {
        let cache = CredentialCache::default();
        assert!(cache.get("a").is_none());
        cache.insert("a".into(), credential(None));
        cache.insert("b".into(), credential(Some(Duration::hours(1))));
        assert_eq!(cache.get("a").map(|c| c.user_id), Some(7));
        assert!(cache.get("b").is_some());
        cache.clear();
        assert!(cache.get("a").is_none() && cache.get("b").is_none());
    }

    #[test]
    fn an_expired_credential_is_gone() {
        let cache = CredentialCache::default();
        cache.insert("a".into(), credential(Some(Duration::milliseconds(-1))));
        assert!(cache.get("a").is_none());
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = CredentialCache::default();
        for n in 0..CAPACITY {
            cache.insert(n.to_string(), credential(None));
        }
        assert!(cache.get("0").is_some());
        cache.insert("new".into(), credential(None));
        assert!(cache.get("0").is_none());
        assert!(cache.get("new").is_some());
    }
}
