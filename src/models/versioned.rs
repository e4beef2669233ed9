//! The update and the delete of one record under `If-Match`, written once for phone numbers and
//! prospects: lock what the write needs and read the record again under those locks, refuse a
//! stored version the precondition does not accept (412), write and note nothing when an update
//! would leave the record as it is, else write and note what changed.

use chrono::NaiveDateTime;

use super::change::Journal;
use super::error::{ModelError, ModelResult};
use crate::clock::now;
use crate::db::DbConnection;

/// A record type whose single-record writes check its version first. Its own part is how it
/// locks, compares and writes; [`Versioned::update`] and [`Versioned::delete`] put them in order.
pub trait Versioned: Sized {
    /// What an update may change; `None` keeps a value.
    type Changes;
    /// What a write holds locked besides the record, as it was before the write.
    type Locked;

    /// The record's id.
    fn id(&self) -> i64;

    /// Locks what a write of record `id` needs (an update's `changes` may need more than a
    /// delete) and reads the record under those locks: 404 when there is none. `read` is the
    /// record as the caller read it before any lock, if it did: a first guess of what to lock.
    fn lock_record(
        conn: &mut DbConnection,
        id: i64,
        read: Option<Self>,
        changes: Option<&Self::Changes>,
    ) -> ModelResult<(Self, Self::Locked)>;

    /// The stored version, which `If-Match` names.
    fn version(&self) -> i64;

    /// Whether `changes` would leave `self` as it is.
    fn unchanged_by(&self, changes: &Self::Changes, locked: &Self::Locked) -> bool;

    /// Writes `changes` to the locked record `self` at `at`, noting what changed; returns the
    /// record as it now stands.
    fn apply(
        &self,
        conn: &mut DbConnection,
        journal: &mut Journal,
        changes: &Self::Changes,
        locked: Self::Locked,
        at: NaiveDateTime,
    ) -> ModelResult<Self>;

    /// Deletes the locked record `self` (and what goes with it) at `at`, noting each delete.
    fn remove(
        &self,
        conn: &mut DbConnection,
        journal: &mut Journal,
        locked: Self::Locked,
        at: NaiveDateTime,
    ) -> ModelResult<()>;

    /// Applies `changes` to the record `read` (as the caller read it before any lock) if its
    /// stored version passes `expected_version` (else 412). Changes equal to the stored values
    /// write nothing and note nothing: not the version, not `updatedAt`.
    fn update(
        conn: &mut DbConnection,
        journal: &mut Journal,
        read: Self,
        changes: &Self::Changes,
        expected_version: &dyn Fn(i64) -> bool,
    ) -> ModelResult<Self> {
        let id = read.id();
        let (current, locked) = Self::lock_record(conn, id, Some(read), Some(changes))?;
        if !expected_version(current.version()) {
            return Err(ModelError::VersionMismatch);
        }
        if current.unchanged_by(changes, &locked) {
            return Ok(current);
        }
        current.apply(conn, journal, changes, locked, now())
    }

    /// Deletes record `id` if its stored version passes `expected_version` (else 412).
    fn delete(
        conn: &mut DbConnection,
        journal: &mut Journal,
        id: i64,
        expected_version: &dyn Fn(i64) -> bool,
    ) -> ModelResult<()> {
        let (current, locked) = Self::lock_record(conn, id, None, None)?;
        if !expected_version(current.version()) {
            return Err(ModelError::VersionMismatch);
        }
        current.remove(conn, journal, locked, now())
    }
}
