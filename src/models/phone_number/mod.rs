//! Phone-number rows, the writes that keep each prospect's list consistent, and the model's API
//! for both backends. Its listing query (filters, sorts, cursors) is in `listing.rs`, written once
//! and compiled for each backend; code that runs on one backend only is in `sqlite.rs` and
//! `postgres.rs` (how [`PhoneNumberRow::list_with_prospects`] reads the page's prospects).
//!
//! Invariant: the `position` values (the API's `order`) of one prospect's numbers are exactly
//! `0..n-1`. Every write that can change a list runs in one transaction whose *first statement* is an
//! `UPDATE` of the prospect row(s) involved ([`Prospect::touch`]). That statement
//! - on PostgreSQL takes the prospect's row lock, so writers of one list queue behind each other
//!   (prospects are always locked in id order, so two moves cannot deadlock), while writers of
//!   other prospects' lists run in parallel;
//! - on SQLite takes the database write lock before the transaction has read anything, so the
//!   busy timeout queues writers instead of failing them with a stale snapshot;
//! - bumps the prospect's version and `updatedAt`, because its `*Phones` arrays change with its
//!   numbers (its ETag must change too).
//!
//! Its *last* statement stores each changed list on its prospect's row ([`Prospect::store_phones`]),
//! still under that lock, so the stored list is always the one the number rows say.
//!
//! Numbers whose `order` shifts get a new version and `updatedAt` as well: their representation
//! changed. Duplicates (`number` + `extension` on one prospect) are refused by a unique index, so
//! two racing inserts cannot both succeed.

use std::borrow::Cow;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::error::{DuplicateCause, ModelError, ModelResult};
use super::listing::{Listing, Page};
use super::Prospect;
use crate::clock::now;
use crate::db::schema::phone_numbers::{self, dsl as col};
use crate::db::{last_insert_id, DbConnection, StoredTime};
use crate::domain::ResourceType;
use crate::domain::{PhoneType, UnknownVariant};
use crate::schema::PhoneNumberField as F;

mod listing;
mod postgres;
mod sqlite;

#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = phone_numbers)]
pub struct PhoneNumberRow {
    pub id: i64,
    pub prospect_id: i64,
    pub number: String,
    pub raw_number: String,
    pub country_code: Option<String>,
    /// `""` when the number has none (so the unique index sees it); `null` on the wire.
    pub extension: String,
    pub phone_type: String,
    pub position: i32,
    pub status: String,
    #[diesel(deserialize_as = StoredTime)]
    pub status_changed_at: NaiveDateTime,
    pub source: Option<String>,
    pub formatted_number: String,
    pub line_type: String,
    pub version: i64,
    #[diesel(deserialize_as = StoredTime)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = StoredTime)]
    pub updated_at: NaiveDateTime,
}

/// What a prospect shows of one of its numbers: an entry of its `*Phones` arrays and of its
/// `phoneNumbers` linkage. The prospect row keeps its list of these (see
/// [`Prospect::store_phones`]), so reading a prospect reads no number rows.
///
/// In that list each is a JSON array, `[id, number, extension, phoneType]`: every read of a
/// prospect parses its list, and without member names it is half the text to parse.
#[derive(Clone, Debug, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = phone_numbers)]
pub struct ProspectPhone {
    pub id: i64,
    pub number: String,
    pub extension: String,
    /// An enum, not text: a prospect shows its numbers grouped by type, and its list is read with
    /// every prospect shown (no allocation per entry for the type).
    #[diesel(deserialize_as = String)]
    pub phone_type: PhoneType,
}

impl serde::Serialize for ProspectPhone {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let phone_type = self.phone_type.as_str();
        (self.id, &self.number, &self.extension, phone_type).serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for ProspectPhone {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (id, number, extension, phone_type): (i64, String, String, String) =
            serde::Deserialize::deserialize(deserializer)?;
        Ok(ProspectPhone {
            id,
            number,
            extension,
            phone_type: phone_type.parse().map_err(serde::de::Error::custom)?,
        })
    }
}

impl ProspectPhone {
    /// The entry of a `*Phones` array: `number`, plus `;ext=N` (RFC 3966) when there is an
    /// extension.
    pub fn array_entry(&self) -> Cow<'_, str> {
        if self.extension.is_empty() {
            Cow::Borrowed(&self.number)
        } else {
            Cow::Owned(format!("{};ext={}", self.number, self.extension))
        }
    }

    /// A prospect's numbers as it shows them, in list order, read from the number rows.
    pub fn of_prospect(conn: &mut DbConnection, prospect_id: i64) -> QueryResult<Vec<Self>> {
        crate::on_backend!(conn, |conn| phone_numbers::table
            .filter(col::prospect_id.eq(prospect_id))
            .order(col::position)
            .select(Self::as_select())
            .load(conn))
    }
}

impl TryFrom<&PhoneNumberRow> for ProspectPhone {
    type Error = UnknownVariant;

    fn try_from(row: &PhoneNumberRow) -> Result<Self, UnknownVariant> {
        Ok(ProspectPhone {
            id: row.id,
            number: row.number.clone(),
            extension: row.extension.clone(),
            phone_type: row.phone_type.parse()?,
        })
    }
}

/// The columns that come from parsing the number.
#[derive(Clone, Debug, PartialEq, Eq, AsChangeset)]
#[diesel(table_name = phone_numbers, treat_none_as_null = true)]
pub struct ParsedColumns {
    pub number: String,
    pub raw_number: String,
    pub country_code: Option<String>,
    pub extension: String,
    pub formatted_number: String,
    pub line_type: String,
}

/// A number to create.
#[derive(Clone, Debug)]
pub struct NewPhoneNumber {
    pub prospect_id: i64,
    pub parsed: ParsedColumns,
    pub phone_type: String,
    pub status: String,
    pub source: Option<String>,
    /// Requested position; `None` appends. Clamped to the end of the list.
    pub order: Option<i64>,
}

#[derive(Insertable)]
#[diesel(table_name = phone_numbers)]
struct InsertRow<'a> {
    prospect_id: i64,
    number: &'a str,
    raw_number: &'a str,
    country_code: Option<&'a str>,
    extension: &'a str,
    phone_type: &'a str,
    position: i32,
    status: &'a str,
    status_changed_at: NaiveDateTime,
    source: Option<&'a str>,
    formatted_number: &'a str,
    line_type: &'a str,
    version: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// Changes to an existing number; `None` keeps a value.
#[derive(Clone, Debug, Default)]
pub struct PhoneNumberChanges {
    pub parsed: Option<ParsedColumns>,
    pub phone_type: Option<String>,
    pub status: Option<String>,
    pub source: Option<Option<String>>,
    pub order: Option<i64>,
    /// Move to this prospect.
    pub prospect_id: Option<i64>,
}

impl PhoneNumberChanges {
    /// Whether the changes show in a prospect's list (its `*Phones` arrays or linkage): `status`
    /// and `source` do not, so those writes leave the stored lists alone.
    fn changes_lists(&self) -> bool {
        self.parsed.is_some()
            || self.phone_type.is_some()
            || self.order.is_some()
            || self.prospect_id.is_some()
    }
}

#[derive(AsChangeset, Default)]
#[diesel(table_name = phone_numbers)]
struct ColumnChanges {
    phone_type: Option<String>,
    status: Option<String>,
    status_changed_at: Option<NaiveDateTime>,
    source: Option<Option<String>>,
}

/// A number already on the prospect.
fn duplicate(cause: DuplicateCause, number: &str, extension: &str) -> ModelError {
    ModelError::Duplicate {
        number: number.to_owned(),
        extension: extension.to_owned(),
        cause,
    }
}

fn unique_violation(error: &DieselError) -> bool {
    matches!(
        error,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}

fn clamp_position(requested: Option<i64>, len: i64) -> i32 {
    requested.unwrap_or(len).clamp(0, len) as i32
}

impl PhoneNumberRow {
    /// The extension as the API shows it.
    pub fn extension(&self) -> Option<&str> {
        Some(self.extension.as_str()).filter(|extension| !extension.is_empty())
    }

    pub fn find(conn: &mut DbConnection, id: i64) -> QueryResult<Option<Self>> {
        crate::on_backend!(conn, |conn| phone_numbers::table
            .find(id)
            .select(Self::as_select())
            .first(conn)
            .optional())
    }

    pub fn by_ids(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<Vec<Self>> {
        phone_numbers::table
            .filter(col::id.eq_any(ids))
            .select(Self::as_select())
            .load(conn)
    }

    /// Every number of these prospects, in list order: one query for any number of prospects.
    pub fn of_prospects(conn: &mut DbConnection, prospect_ids: &[i64]) -> QueryResult<Vec<Self>> {
        // One prospect is `=` (cached prepared statement; see `Prospect::by_ids`).
        let ordered = phone_numbers::table.order((col::prospect_id, col::position));
        crate::on_backend!(conn, |conn| match prospect_ids {
            [id] => ordered
                .filter(col::prospect_id.eq(*id))
                .select(Self::as_select())
                .load(conn),
            _ => ordered
                .filter(col::prospect_id.eq_any(prospect_ids))
                .select(Self::as_select())
                .load(conn),
        })
    }

    fn list_len(conn: &mut DbConnection, prospect_id: i64) -> QueryResult<i64> {
        phone_numbers::table
            .filter(col::prospect_id.eq(prospect_id))
            .count()
            .get_result(conn)
    }

    /// Moves the numbers at `range` of a list by `delta` places, marking them changed.
    fn shift(
        conn: &mut DbConnection,
        prospect_id: i64,
        from: i32,
        to: Option<i32>,
        delta: i32,
        at: NaiveDateTime,
    ) -> QueryResult<usize> {
        let mut query = diesel::update(phone_numbers::table)
            .filter(col::prospect_id.eq(prospect_id))
            .filter(col::position.ge(from))
            .into_boxed();
        if let Some(to) = to {
            query = query.filter(col::position.le(to));
        }
        query
            .set((
                col::position.eq(col::position + delta),
                col::version.eq(col::version + 1),
                col::updated_at.eq(at),
            ))
            .execute(conn)
    }

    /// Locks, in ascending id order, every list that moving the numbers `ids` to `target` changes:
    /// `target`'s and those the numbers are on now. A request that moves several numbers in one
    /// transaction calls this first; moving them one by one would lock the prospects in the order
    /// of the request, and two such requests (or one and a single move) could each hold a
    /// prospect the other waits for: a deadlock on PostgreSQL. The later per-number writes then
    /// touch rows this transaction already holds. Must run inside a write transaction.
    pub fn lock_lists_for_move(
        conn: &mut DbConnection,
        ids: &[i64],
        target: i64,
    ) -> ModelResult<()> {
        let at = now();
        let mut locked = std::collections::BTreeSet::new();
        // A number may move between reading its prospect and locking it: read again under the
        // locks until every list involved is held (normally once).
        for _ in 0..3 {
            let mut wanted: std::collections::BTreeSet<i64> = phone_numbers::table
                .filter(col::id.eq_any(ids))
                .select(col::prospect_id)
                .distinct()
                .load::<i64>(conn)?
                .into_iter()
                .collect();
            // Numbers already on `target` do not move: a request that moves none changes nothing.
            wanted.remove(&target);
            if wanted.is_empty() && locked.is_empty() {
                return Ok(());
            }
            wanted.insert(target);
            let missing: Vec<i64> = wanted.difference(&locked).copied().collect();
            if missing.is_empty() {
                return Ok(());
            }
            for id in missing {
                Prospect::touch(conn, id, at)?;
                locked.insert(id);
            }
        }
        Ok(())
    }

    /// Creates a number at its position, shifting those after it.
    pub fn create(conn: &mut DbConnection, new: &NewPhoneNumber) -> ModelResult<Self> {
        crate::db::write_transaction(conn, |conn| {
            let at = now();
            Prospect::touch(conn, new.prospect_id, at)?;
            let len = Self::list_len(conn, new.prospect_id)?;
            let position = clamp_position(new.order, len);
            Self::shift(conn, new.prospect_id, position, None, 1, at)?;
            let parsed = &new.parsed;
            diesel::insert_into(phone_numbers::table)
                .values(InsertRow {
                    prospect_id: new.prospect_id,
                    number: &parsed.number,
                    raw_number: &parsed.raw_number,
                    country_code: parsed.country_code.as_deref(),
                    extension: &parsed.extension,
                    phone_type: &new.phone_type,
                    position,
                    status: &new.status,
                    status_changed_at: at,
                    source: new.source.as_deref(),
                    formatted_number: &parsed.formatted_number,
                    line_type: &parsed.line_type,
                    version: 1,
                    created_at: at,
                    updated_at: at,
                })
                .execute(conn)
                .map_err(|error| {
                    if unique_violation(&error) {
                        duplicate(DuplicateCause::Number, &parsed.number, &parsed.extension)
                    } else {
                        error.into()
                    }
                })?;
            let id = last_insert_id(conn)?;
            Prospect::store_phones(conn, new.prospect_id)?;
            Self::find(conn, id)?.ok_or(ModelError::Database(DieselError::NotFound))
        })
    }

    /// Runs `write` on number `id` in a write transaction whose first statements lock the lists
    /// involved — the number's and `target`'s, in id order — and which reads the number again
    /// under those locks and checks `expected_version` (the `If-Match` check, 412 otherwise). The
    /// number may be moved by someone else between the first read and the locks: then it starts
    /// over, three times at most. `write` gets the current row, the lists locked and the time.
    fn with_lists_locked<T>(
        conn: &mut DbConnection,
        id: i64,
        expected_version: &dyn Fn(i64) -> bool,
        target: impl Fn(&Self) -> i64,
        mut write: impl FnMut(&mut DbConnection, &Self, &[i64], NaiveDateTime) -> ModelResult<T>,
    ) -> ModelResult<T> {
        let not_found = || ModelError::not_found(ResourceType::PhoneNumber, id);
        for _ in 0..3 {
            let before = Self::find(conn, id)?.ok_or_else(not_found)?;
            let written = crate::db::write_transaction(conn, |conn| -> ModelResult<Option<T>> {
                let at = now();
                let mut locks = vec![before.prospect_id, target(&before)];
                locks.sort_unstable();
                locks.dedup();
                for &prospect in &locks {
                    Prospect::touch(conn, prospect, at)?;
                }
                let current = Self::find(conn, id)?.ok_or_else(not_found)?;
                if current.prospect_id != before.prospect_id {
                    return Ok(None);
                }
                if !expected_version(current.version) {
                    return Err(ModelError::VersionMismatch);
                }
                write(conn, &current, &locks, at).map(Some)
            })?;
            if let Some(value) = written {
                return Ok(value);
            }
        }
        Err(ModelError::KeptMoving)
    }

    /// Applies `changes` to number `id`, if its version passes `expected_version`.
    pub fn update(
        conn: &mut DbConnection,
        id: i64,
        changes: &PhoneNumberChanges,
        expected_version: &dyn Fn(i64) -> bool,
    ) -> ModelResult<Self> {
        let target = |row: &Self| changes.prospect_id.unwrap_or(row.prospect_id);
        Self::with_lists_locked(
            conn,
            id,
            expected_version,
            target,
            |conn, current, locks, at| {
                let target = target(current);
                let position = Self::reposition(conn, current, target, changes.order, at)?;
                let status_changed =
                    (changes.status.as_ref()).filter(|status| **status != current.status);
                let columns = ColumnChanges {
                    phone_type: changes.phone_type.clone(),
                    status: status_changed.cloned(),
                    status_changed_at: status_changed.map(|_| at),
                    source: changes.source.clone(),
                };
                // One statement, so that the unique index judges the row as it ends up: a move that
                // also changes the number must not be refused for the number it had.
                diesel::update(phone_numbers::table.find(id))
                    .set((
                        (
                            col::prospect_id.eq(target),
                            col::position.eq(position),
                            col::version.eq(current.version + 1),
                            col::updated_at.eq(at),
                        ),
                        changes.parsed.as_ref(),
                        columns,
                    ))
                    .execute(conn)
                    .map_err(|error| match (&changes.parsed, unique_violation(&error)) {
                        (_, false) => error.into(),
                        (Some(new), true) => {
                            duplicate(DuplicateCause::Number, &new.number, &new.extension)
                        }
                        (None, true) => {
                            duplicate(DuplicateCause::Move, &current.number, &current.extension)
                        }
                    })?;
                if changes.changes_lists() {
                    for &prospect in locks {
                        Prospect::store_phones(conn, prospect)?;
                    }
                }
                Self::find(conn, id)?.ok_or(ModelError::Database(DieselError::NotFound))
            },
        )
    }

    /// The position `current` takes on `target`'s list, the numbers it passes shifted: a move
    /// leaves the old list and joins the new one (appended unless `order` says where); `order`
    /// alone moves it within its list.
    fn reposition(
        conn: &mut DbConnection,
        current: &Self,
        target: i64,
        order: Option<i64>,
        at: NaiveDateTime,
    ) -> ModelResult<i32> {
        let from = current.position;
        if target != current.prospect_id {
            Self::shift(conn, current.prospect_id, from + 1, None, -1, at)?;
            let position = clamp_position(order, Self::list_len(conn, target)?);
            Self::shift(conn, target, position, None, 1, at)?;
            return Ok(position);
        }
        let Some(order) = order else {
            return Ok(from);
        };
        let last = Self::list_len(conn, target)? - 1;
        let position = order.clamp(0, last) as i32;
        if position < from {
            Self::shift(conn, target, position, Some(from - 1), 1, at)?;
        } else if position > from {
            Self::shift(conn, target, from + 1, Some(position), -1, at)?;
        }
        Ok(position)
    }

    /// Deletes number `id` and closes the gap in its list.
    pub fn delete(
        conn: &mut DbConnection,
        id: i64,
        expected_version: &dyn Fn(i64) -> bool,
    ) -> ModelResult<()> {
        let own_list = |row: &Self| row.prospect_id;
        Self::with_lists_locked(
            conn,
            id,
            expected_version,
            own_list,
            |conn, current, _, at| {
                diesel::delete(phone_numbers::table.find(id)).execute(conn)?;
                let (list, next) = (current.prospect_id, current.position + 1);
                Self::shift(conn, list, next, None, -1, at)?;
                Prospect::store_phones(conn, list)?;
                Ok(())
            },
        )
    }

    /// One page of numbers matching `listing`, optionally only those of one prospect.
    pub fn list(
        conn: &mut DbConnection,
        listing: &Listing<F>,
        prospect_id: Option<i64>,
    ) -> ModelResult<Page<Self>> {
        listing::page(conn, listing, prospect_id)
    }

    /// [`PhoneNumberRow::list`] and the page's prospects, once each in first-seen order, from one
    /// snapshot: on PostgreSQL in the page's own statement (`postgres.rs`), on SQLite by id in a
    /// second one (`sqlite.rs`); docs/performance.md, "Included prospects, per backend", says why.
    pub fn list_with_prospects(
        conn: &mut DbConnection,
        listing: &Listing<F>,
        prospect_id: Option<i64>,
    ) -> ModelResult<(Page<Self>, Vec<Prospect>)> {
        match conn {
            DbConnection::Pg(conn) => postgres::list_with_prospects(conn, listing, prospect_id),
            DbConnection::Sqlite(_) => sqlite::list_with_prospects(conn, listing, prospect_id),
        }
    }
}
