//! API tokens: only the SHA-256 hash of a token is stored, with its scopes, expiry and revocation.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::clock::now;
use crate::db::schema::{api_tokens, users};
use crate::db::{DbConnection, StoredTime};
use crate::permissions::{Principal, Role, Scopes};

/// The channel revocations are announced on (PostgreSQL), in the revoking transaction; the
/// credential cache listens on it (`auth::credentials`).
pub const REVOCATIONS: &str = "phonebook_token_revocations";

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    pub token_hash: String,
    pub scopes: String,
    pub expires_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    #[diesel(deserialize_as = StoredTime)]
    pub created_at: NaiveDateTime,
}

/// A live token as a request sees it: whose it is and what it may do.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
pub struct Credential {
    #[diesel(select_expression = users::id)]
    pub user_id: i64,
    #[diesel(select_expression = users::role)]
    pub role: String,
    pub scopes: String,
    pub expires_at: Option<NaiveDateTime>,
}

impl Credential {
    /// Who the token authenticates, for permission checks. Stored roles and scopes were validated
    /// when they were written; an unreadable role reads only, unreadable scopes grant nothing.
    pub fn principal(&self) -> Principal {
        Principal {
            user_id: self.user_id,
            role: self.role.parse().unwrap_or(Role::Viewer),
            scopes: Scopes::parse(&self.scopes).unwrap_or_else(|_| Scopes::empty()),
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = api_tokens)]
struct NewToken<'a> {
    user_id: i64,
    token_hash: &'a str,
    scopes: &'a str,
    expires_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
}

impl ApiToken {
    /// Stores a token by its hash.
    pub fn create(
        conn: &mut DbConnection,
        user_id: i64,
        token_hash: &str,
        scopes: &str,
        expires_at: Option<NaiveDateTime>,
    ) -> QueryResult<()> {
        diesel::insert_into(api_tokens::table)
            .values(NewToken {
                user_id,
                token_hash,
                scopes,
                expires_at,
                created_at: now(),
            })
            .execute(conn)
            .map(drop)
    }

    /// The live token with this hash, as what authenticating a request needs of it: not revoked,
    /// not expired.
    pub fn authenticate(
        conn: &mut DbConnection,
        token_hash: &str,
    ) -> QueryResult<Option<Credential>> {
        // Only the four columns a request needs: this runs on every API request, and each
        // timestamp or string column costs a conversion. Expiry is checked here rather than in
        // SQL: the statement then binds only the hash, and stays one cached prepared statement.
        let found = crate::on_backend!(conn, |conn| api_tokens::table
            .inner_join(users::table)
            .filter(api_tokens::token_hash.eq(token_hash))
            .filter(api_tokens::revoked_at.is_null())
            .select(Credential::as_select())
            .first::<Credential>(conn)
            .optional())?;
        let at = now();
        Ok(found.filter(|credential| credential.expires_at.is_none_or(|expires| expires > at)))
    }

    /// Revokes every live token of a user; returns how many. On PostgreSQL the revocation is
    /// announced to the servers' connections when it commits (see `auth::credentials`).
    pub fn revoke_all(conn: &mut DbConnection, user_id: i64) -> QueryResult<usize> {
        conn.transaction(|conn| {
            let revoked = diesel::update(api_tokens::table)
                .filter(api_tokens::user_id.eq(user_id))
                .filter(api_tokens::revoked_at.is_null())
                .set(api_tokens::revoked_at.eq(now()))
                .execute(conn)?;
            if matches!(conn, DbConnection::Pg(_)) {
                diesel::sql_query(format!("NOTIFY {REVOCATIONS}")).execute(conn)?;
            }
            Ok(revoked)
        })
    }
}
