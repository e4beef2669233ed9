//! Idempotency keys (API.md section 12): per user, a key names one request (its fingerprint: the
//! method, the path with its query and the body bytes) and, once that request has answered, the
//! answer to replay. The HTTP side is `crate::idempotency`; this is the rows and their rules.
//!
//! - [`claim`] is race-safe across instances: the row is inserted with `ON CONFLICT DO NOTHING`,
//!   so of concurrent first requests exactly one gets [`Claim::Mine`]; the others read the row.
//! - A key is kept for [`KEPT_FOR`] from its first request; an expired row is removed when its
//!   key is used again, and every row of every user by [`sweep`], which callers run now and then
//!   (no cron).
//! - A claim whose request never answered (its process was killed) is free again after
//!   [`ABANDONED_AFTER`]: long past any request's running time.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::clock::now;
use crate::db::schema::idempotency_keys as keys;
use crate::db::DbConnection;

/// How long a key and its answer are kept.
pub const KEPT_FOR: Duration = Duration::hours(24);

/// How long a claim without an answer blocks its key.
pub const ABANDONED_AFTER: Duration = Duration::seconds(60);

/// The answer a key keeps, to be replayed byte for byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kept {
    pub status: u16,
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub etag: Option<String>,
    pub body: Vec<u8>,
}

/// What [`claim`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// The key is this request's: run it, then [`keep`] or [`release`] with this claim.
    Mine(String),
    /// The first request with this key is still running.
    Running,
    /// The key was used for another method, path or body.
    OtherRequest,
    /// The first request's answer.
    Answered(Kept),
}

#[derive(Queryable)]
struct Row {
    fingerprint: String,
    claim: String,
    created_at: NaiveDateTime,
    status: Option<i32>,
    content_type: Option<String>,
    location: Option<String>,
    etag: Option<String>,
    body: Option<Vec<u8>>,
}

/// Claims `key` of `user` for the request `fingerprint`, or says why not.
pub fn claim(
    conn: &mut DbConnection,
    user: i64,
    key: &str,
    fingerprint: &str,
) -> QueryResult<Claim> {
    // A row found expired is removed and the insert tried again; one removed by someone else
    // between the insert and the read likewise. Three rounds cover both.
    for _ in 0..3 {
        let claim = hex::encode(rand::random::<[u8; 16]>());
        let created_at = now();
        let row = (
            keys::user_id.eq(user),
            keys::idempotency_key.eq(key),
            keys::fingerprint.eq(fingerprint),
            keys::claim.eq(&claim),
            keys::created_at.eq(created_at),
        );
        let inserted = crate::on_backend!(conn, |c| diesel::insert_into(keys::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c))?;
        if inserted == 1 {
            return Ok(Claim::Mine(claim));
        }
        let found: Option<Row> = crate::on_backend!(conn, |c| keys::table
            .find((user, key))
            .select((
                keys::fingerprint,
                keys::claim,
                keys::created_at,
                keys::status,
                keys::content_type,
                keys::location,
                keys::etag,
                keys::body,
            ))
            .first(c)
            .optional())?;
        let Some(found) = found else { continue };
        let age = created_at - found.created_at;
        if age >= KEPT_FOR || (found.status.is_none() && age >= ABANDONED_AFTER) {
            release(conn, user, key, &found.claim)?;
            continue;
        }
        return Ok(if found.fingerprint != fingerprint {
            Claim::OtherRequest
        } else if let Some(status) = found.status {
            Claim::Answered(Kept {
                status: u16::try_from(status).unwrap_or(500),
                content_type: found.content_type,
                location: found.location,
                etag: found.etag,
                body: found.body.unwrap_or_default(),
            })
        } else {
            Claim::Running
        });
    }
    // Each round found an expired row and removed it, yet the insert conflicted again: another
    // request with the key keeps claiming it at this very moment.
    Ok(Claim::Running)
}

/// Keeps `answer` for the key `claim` holds.
pub fn keep(
    conn: &mut DbConnection,
    user: i64,
    key: &str,
    claim: &str,
    answer: &Kept,
) -> QueryResult<()> {
    let mine = keys::table
        .filter(keys::user_id.eq(user))
        .filter(keys::idempotency_key.eq(key))
        .filter(keys::claim.eq(claim));
    let values = (
        keys::status.eq(Some(i32::from(answer.status))),
        keys::content_type.eq(answer.content_type.as_deref()),
        keys::location.eq(answer.location.as_deref()),
        keys::etag.eq(answer.etag.as_deref()),
        keys::body.eq(Some(answer.body.as_slice())),
    );
    crate::on_backend!(conn, |c| diesel::update(mine).set(values).execute(c)).map(drop)
}

/// Frees the key `claim` holds (its request's answer is not kept: a retry runs again), or the
/// expired row of that claim.
pub fn release(conn: &mut DbConnection, user: i64, key: &str, claim: &str) -> QueryResult<()> {
    let mine = keys::table
        .filter(keys::user_id.eq(user))
        .filter(keys::idempotency_key.eq(key))
        .filter(keys::claim.eq(claim));
    crate::on_backend!(conn, |c| diesel::delete(mine).execute(c)).map(drop)
}

/// Removes every expired key (of every user); returns how many.
pub fn sweep(conn: &mut DbConnection) -> QueryResult<usize> {
    let expired = keys::table.filter(keys::created_at.lt(now() - KEPT_FOR));
    crate::on_backend!(conn, |c| diesel::delete(expired).execute(c))
}

/// Whether `user` has used `key` (within the time keys are kept).
pub fn is_used(conn: &mut DbConnection, user: i64, key: &str) -> QueryResult<bool> {
    let kept = keys::table
        .filter(keys::user_id.eq(user))
        .filter(keys::idempotency_key.eq(key))
        .filter(keys::created_at.ge(now() - KEPT_FOR));
    crate::on_backend!(conn, |c| diesel::select(diesel::dsl::exists(kept))
        .get_result(c))
}
