//! Phone-number rows, the writes that keep each prospect's list consistent, and the model's API
//! for both backends. Its listing query (filters, sorts, cursors) is in `listing.rs`, written once
//! and compiled for each backend; code that runs on one backend only is in `sqlite.rs` and
//! `postgres.rs` (how [`PhoneNumberRow::list_with_prospects`] reads the page's prospects).
//!
//! Invariant: the `position` values (the API's `order`) of one prospect's numbers are exactly
//! `0..n-1`. Every write that can change a list runs inside a recorded write transaction
//! ([`crate::models::recorded`]) whose first statements lock the prospect row(s) involved
//! ([`Prospect::lock`]). That lock
//! - on PostgreSQL is the prospect's row lock, so writers of one list queue behind each other
//!   (prospects are always locked in id order, so two moves cannot deadlock), while writers of
//!   other prospects' lists run in parallel;
//! - on SQLite is the database write lock that `BEGIN IMMEDIATE` took before the transaction read
//!   anything, so the busy timeout queues writers instead of failing them with a stale snapshot.
//!
//! The write reads the locked lists before it changes them and again after ([`Lists::finish`]):
//! every number that differs is recorded in the change feed (created, updated — a shifted sibling
//! shows `order` and `updatedAt` —, moved or deleted), and each prospect's new list is stored on
//! its row ([`Prospect::store_phones`]) with a new version and `updatedAt`, because its `*Phones`
//! arrays change with its numbers (its ETag must change too). A write that changes nothing writes
//! nothing. The stored list is always the one the number rows say.
//!
//! Numbers whose `order` shifts get a new version and `updatedAt` as well: their representation
//! changed. Duplicates (`number` + `extension` on one prospect) are refused by a unique index, so
//! two racing inserts cannot both succeed.

use std::borrow::Cow;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::change::Journal;
use super::error::{DuplicateCause, ModelError, ModelResult};
use super::listing::{Listing, Page};
use super::versioned::Versioned;
use super::Prospect;
use crate::clock::now;
use crate::db::schema::phone_numbers::{self, dsl as col};
use crate::db::{DbConnection, StoredTime};
use crate::domain::ResourceType;
use crate::domain::{PhoneType, UnknownVariant};
use crate::jsonapi::document::Attr;
use crate::schema::PhoneNumberField as F;

mod listing;
mod postgres;
mod sqlite;

#[derive(Clone, Debug, Queryable, QueryableByName, Selectable, Identifiable)]
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
    pub sms_opt_out: bool,
    /// When `sms_opt_out` last changed; `None` until it does.
    pub sms_opt_out_changed_at: Option<NaiveDateTime>,
    pub notes: Option<String>,
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
    pub sms_opt_out: bool,
    pub notes: Option<String>,
    /// Requested position; `None` appends. Clamped to the end of the list.
    pub order: Option<i64>,
}

#[derive(Insertable)]
#[diesel(table_name = phone_numbers, treat_none_as_default_value = false)]
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
    sms_opt_out: bool,
    sms_opt_out_changed_at: Option<NaiveDateTime>,
    notes: Option<&'a str>,
    version: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl<'a> InsertRow<'a> {
    /// The row of `new` at `position` with `version`, created at `at`.
    fn of(new: &'a NewPhoneNumber, position: i32, version: i64, at: NaiveDateTime) -> Self {
        let parsed = &new.parsed;
        InsertRow {
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
            sms_opt_out: new.sms_opt_out,
            // An opt-out given at creation is a change from the default.
            sms_opt_out_changed_at: new.sms_opt_out.then_some(at),
            notes: new.notes.as_deref(),
            version,
            created_at: at,
            updated_at: at,
        }
    }
}

/// Changes to an existing number; `None` keeps a value.
#[derive(Clone, Debug, Default)]
pub struct PhoneNumberChanges {
    pub parsed: Option<ParsedColumns>,
    pub phone_type: Option<String>,
    pub status: Option<String>,
    pub source: Option<Option<String>>,
    pub sms_opt_out: Option<bool>,
    pub notes: Option<Option<String>>,
    pub order: Option<i64>,
    /// Move to this prospect.
    pub prospect_id: Option<i64>,
}

#[derive(AsChangeset, Default)]
#[diesel(table_name = phone_numbers)]
struct ColumnChanges {
    phone_type: Option<String>,
    status: Option<String>,
    status_changed_at: Option<NaiveDateTime>,
    source: Option<Option<String>>,
    sms_opt_out: Option<bool>,
    sms_opt_out_changed_at: Option<Option<NaiveDateTime>>,
    notes: Option<Option<String>>,
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

/// The lists of numbers one write changes, locked, as they were before it: their prospects' rows
/// and their numbers. What the write changed is what differs from them afterwards
/// ([`Lists::finish`]).
pub struct Lists {
    prospects: Vec<Prospect>,
    /// Every number of those prospects, by prospect id, then `order`.
    numbers: Vec<PhoneNumberRow>,
}

impl Lists {
    /// Locks the prospects `ids` (in ascending order) and reads their numbers.
    fn lock(conn: &mut DbConnection, ids: &[i64]) -> ModelResult<Self> {
        let prospects = (ids.iter())
            .map(|&id| Prospect::lock(conn, id))
            .collect::<ModelResult<Vec<_>>>()?;
        let numbers = PhoneNumberRow::of_prospects(conn, ids)?;
        Ok(Lists { prospects, numbers })
    }

    fn len_of(&self, prospect_id: i64) -> i64 {
        self.numbers
            .iter()
            .filter(|row| row.prospect_id == prospect_id)
            .count() as i64
    }

    /// The write's last step: reads the lists again, records each number that changed (created,
    /// updated, shifted, moved or deleted), stores each prospect's new list with a new version
    /// and `updatedAt` (and records that), and returns the numbers of the lists as they now stand.
    fn finish(
        self,
        conn: &mut DbConnection,
        journal: &mut Journal,
        at: NaiveDateTime,
    ) -> ModelResult<Vec<PhoneNumberRow>> {
        let ids: Vec<i64> = self.prospects.iter().map(|prospect| prospect.id).collect();
        let after = PhoneNumberRow::of_prospects(conn, &ids)?;
        self.finish_as(conn, journal, after, at)
    }

    /// [`Lists::finish`] for a write that knows how its lists now stand (`after`, in list order),
    /// as one that changed a single row in place does: nothing read again.
    fn finish_as(
        self,
        conn: &mut DbConnection,
        journal: &mut Journal,
        after: Vec<PhoneNumberRow>,
        at: NaiveDateTime,
    ) -> ModelResult<Vec<PhoneNumberRow>> {
        for row in &after {
            journal.number(find(&self.numbers, row.id), Some(row));
        }
        for row in self
            .numbers
            .iter()
            .filter(|row| find(&after, row.id).is_none())
        {
            journal.number(Some(row), None);
        }
        for prospect in &self.prospects {
            let phones = (after.iter())
                .filter(|row| row.prospect_id == prospect.id)
                .map(ProspectPhone::try_from)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| DieselError::DeserializationError(Box::new(error)))?;
            let stored = Prospect::store_phones(conn, prospect, phones, at)?;
            journal.prospect(Some(prospect), Some(&stored));
        }
        Ok(after)
    }
}

/// Stores each prospect's list, version and `updatedAt` as `prospects` give them: one prepared
/// `UPDATE` each (on SQLite a function call, not a round trip).
fn store_each_list(conn: &mut DbConnection, prospects: &[Prospect]) -> QueryResult<()> {
    use super::prospect::{PhoneList, StoreList};
    for prospect in prospects {
        let phones = PhoneList::to_json(&prospect.phones);
        StoreList::of(prospect.id, &phones, prospect.version, prospect.updated_at).run(conn)?;
    }
    Ok(())
}

fn find(rows: &[PhoneNumberRow], id: i64) -> Option<&PhoneNumberRow> {
    rows.iter().find(|row| row.id == id)
}

/// Number `id` out of the rows of the lists a write finished.
fn take(rows: Vec<PhoneNumberRow>, id: i64) -> ModelResult<PhoneNumberRow> {
    (rows.into_iter())
        .find(|row| row.id == id)
        .ok_or(ModelError::Database(DieselError::NotFound))
}

crate::lookups_by_id!(PhoneNumberRow, phone_numbers);

impl PhoneNumberRow {
    /// The row's value of an attribute as resource objects (and the change feed's snapshots) show
    /// it; `None` for the id. One exhaustive match: a new field cannot be forgotten.
    #[inline]
    pub fn attr(&self, field: F) -> Option<Attr<'_>> {
        Some(match field {
            F::Id | F::Digits => return None,
            F::Number => Attr::Str(&self.number),
            F::RawNumber => Attr::Str(&self.raw_number),
            F::CountryCode => Attr::OptStr(self.country_code.as_deref()),
            F::Extension => Attr::OptStr(self.extension()),
            F::PhoneType => Attr::Str(&self.phone_type),
            F::Order => Attr::Int(i64::from(self.position)),
            F::Status => Attr::Str(&self.status),
            F::StatusChangedAt => Attr::Time(self.status_changed_at),
            F::Source => Attr::OptStr(self.source.as_deref()),
            F::FormattedNumber => Attr::Str(&self.formatted_number),
            F::LineType => Attr::Str(&self.line_type),
            F::SmsOptOut => Attr::Bool(self.sms_opt_out),
            F::SmsOptOutChangedAt => Attr::OptTime(self.sms_opt_out_changed_at),
            F::Notes => Attr::OptStr(self.notes.as_deref()),
            F::CreatedAt => Attr::Time(self.created_at),
            F::UpdatedAt => Attr::Time(self.updated_at),
        })
    }

    /// The extension as the API shows it.
    pub fn extension(&self) -> Option<&str> {
        Some(self.extension.as_str()).filter(|extension| !extension.is_empty())
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
    /// lock rows this transaction already holds. Takes a [`Journal`] as proof that it runs inside
    /// a write transaction; it changes nothing itself.
    pub fn lock_lists_for_move(
        conn: &mut DbConnection,
        _: &mut Journal,
        ids: &[i64],
        target: i64,
    ) -> ModelResult<()> {
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
                Prospect::lock(conn, id)?;
                locked.insert(id);
            }
        }
        Ok(())
    }

    /// Creates a number at its position, shifting those after it: the batched create of one
    /// number, whose refusal by the unique index is the number already on the prospect.
    pub fn create(
        conn: &mut DbConnection,
        journal: &mut Journal,
        new: &NewPhoneNumber,
    ) -> ModelResult<Self> {
        let created = Self::create_many(conn, journal, std::slice::from_ref(new)).map_err(
            |error| match error {
                ModelError::RefusedInBatch => duplicate(
                    DuplicateCause::Number,
                    &new.parsed.number,
                    &new.parsed.extension,
                ),
                other => other,
            },
        )?;
        (created.into_iter().next()).ok_or(ModelError::Database(DieselError::NotFound))
    }

    /// Creates the numbers `news`, in their order, exactly as creating them one after the other in
    /// this transaction would — the same positions, versions and stored lists, the same changes
    /// noted in the same order — in a few statements for the whole batch: one lock of
    /// its prospects (in id order), one read of their lists, one multi-row `INSERT … RETURNING`
    /// per [`BATCH_ROWS`](crate::models::BATCH_ROWS) numbers, one `UPDATE` per distinct shift of
    /// numbers already there (none when every number is appended) and one store of each list.
    /// Returns the numbers in the order of `news`, as they stand after the batch.
    ///
    /// A duplicate (of a number already on its prospect, or within the batch) fails the whole
    /// batch with [`ModelError::RefusedInBatch`]; the caller writes the numbers one by one to
    /// find which, inside a savepoint (PostgreSQL aborts a transaction at a failed statement).
    pub fn create_many(
        conn: &mut DbConnection,
        journal: &mut Journal,
        news: &[NewPhoneNumber],
    ) -> ModelResult<Vec<Self>> {
        use std::collections::{BTreeMap, HashMap};
        if news.is_empty() {
            return Ok(Vec::new());
        }
        let at = now();
        let mut ids: Vec<i64> = news.iter().map(|new| new.prospect_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let prospects = Prospect::lock_all(conn, &ids)?;
        let before = Self::of_prospects(conn, &ids)?;

        // The order computation: each list as a sequence of existing numbers (`Ok(index into
        // before)`) and new ones (`Err(index into news)`), each new one inserted where its create
        // would put it.
        let mut lists: HashMap<i64, Vec<Result<usize, usize>>> = HashMap::new();
        for (index, row) in before.iter().enumerate() {
            lists.entry(row.prospect_id).or_default().push(Ok(index));
        }
        let mut inserted_at = Vec::with_capacity(news.len());
        for (index, new) in news.iter().enumerate() {
            let list = lists.entry(new.prospect_id).or_default();
            let position = clamp_position(new.order, list.len() as i64);
            list.insert(position as usize, Err(index));
            inserted_at.push(position);
        }
        // Where each number ends up. A number shifted `d` places was shifted `d` times: `d` new
        // versions. Existing numbers are grouped by that distance, one `UPDATE` each.
        let mut final_at = vec![0; news.len()];
        let mut shifted: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
        for list in lists.values() {
            for (position, slot) in list.iter().enumerate() {
                let position = position as i32;
                match *slot {
                    Ok(index) if position != before[index].position => {
                        let distance = position - before[index].position;
                        shifted.entry(distance).or_default().push(before[index].id);
                    }
                    Ok(_) => {}
                    Err(index) => final_at[index] = position,
                }
            }
        }
        for (distance, ids) in &shifted {
            diesel::update(phone_numbers::table.filter(col::id.eq_any(ids)))
                .set((
                    col::position.eq(col::position + *distance),
                    col::version.eq(col::version + i64::from(*distance)),
                    col::updated_at.eq(at),
                ))
                .execute(conn)?;
        }
        let mut created: HashMap<(i64, String, String), Self> = HashMap::new();
        let chunk_rows = crate::models::BATCH_ROWS;
        for (chunk_index, chunk) in news.chunks(chunk_rows).enumerate() {
            let start = chunk_index * chunk_rows;
            let rows: Vec<InsertRow<'_>> = (chunk.iter().enumerate())
                .map(|(offset, new)| {
                    let index = start + offset;
                    let shifts = i64::from(final_at[index] - inserted_at[index]);
                    InsertRow::of(new, final_at[index], 1 + shifts, at)
                })
                .collect();
            let returned = match conn {
                DbConnection::Pg(conn) if rows.len() > 1 => postgres::insert_numbers(conn, &rows),
                // One row (every single create) is a statement each backend caches; diesel
                // prepares a multi-row `INSERT` again every time.
                _ if rows.len() == 1 => {
                    let insert = diesel::insert_into(phone_numbers::table).values(&rows[0]);
                    crate::on_backend!(&mut *conn, |conn| insert
                        .returning(Self::as_returning())
                        .get_results(conn))
                }
                _ => {
                    let insert = diesel::insert_into(phone_numbers::table).values(&rows);
                    crate::on_backend!(&mut *conn, |conn| insert
                        .returning(Self::as_returning())
                        .get_results(conn))
                }
            };
            let returned: Vec<Self> = returned.map_err(|error| match unique_violation(&error) {
                true => ModelError::RefusedInBatch,
                false => error.into(),
            })?;
            // `RETURNING` promises no order: the unique key finds each row's new number.
            for row in returned {
                let key = (row.prospect_id, row.number.clone(), row.extension.clone());
                created.insert(key, row);
            }
        }

        // The changes, noted as the creates one by one note them: for each new number its
        // `created`, then each sibling it shifted, then its prospect's new version.
        let mut current: HashMap<i64, (Prospect, Vec<Self>)> = prospects
            .into_iter()
            .map(|prospect| (prospect.id, (prospect, Vec::new())))
            .collect();
        for row in &before {
            if let Some((_, list)) = current.get_mut(&row.prospect_id) {
                list.push(row.clone());
            }
        }
        let mut ids_of_news = Vec::with_capacity(news.len());
        for (index, new) in news.iter().enumerate() {
            let key = (
                new.prospect_id,
                new.parsed.number.clone(),
                new.parsed.extension.clone(),
            );
            let mut row =
                (created.get(&key).cloned()).ok_or(ModelError::Database(DieselError::NotFound))?;
            ids_of_news.push(row.id);
            let (prospect, list) = (current.get_mut(&new.prospect_id))
                .ok_or(ModelError::Database(DieselError::NotFound))?;
            let position = inserted_at[index];
            (row.position, row.version) = (position, 1);
            journal.number(None, Some(&row));
            list.insert(position as usize, row);
            for sibling in &mut list[position as usize + 1..] {
                let was = sibling.clone();
                sibling.position += 1;
                sibling.version += 1;
                sibling.updated_at = at;
                journal.number(Some(&was), Some(sibling));
            }
            let next = prospect.next_version(at);
            journal.prospect(Some(prospect), Some(&next));
            *prospect = next;
        }

        // Each list stored once, as its last create would have left it.
        let mut stored = Vec::with_capacity(current.len());
        let mut rows_by_id = HashMap::new();
        for (_, (mut prospect, list)) in current {
            let phones = (list.iter())
                .map(ProspectPhone::try_from)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| DieselError::DeserializationError(Box::new(error)))?;
            prospect.phones = super::prospect::PhoneList(phones);
            stored.push(prospect);
            rows_by_id.extend(list.into_iter().map(|row| (row.id, row)));
        }
        match conn {
            // Several lists in one round trip. PostgreSQL plans that statement at every run, so
            // one list (a single create) takes the prepared per-prospect `UPDATE` instead.
            DbConnection::Pg(conn) if stored.len() > 1 => postgres::store_lists(conn, &stored)?,
            _ => store_each_list(conn, &stored)?,
        }
        (ids_of_news.iter())
            .map(|id| (rows_by_id.remove(id)).ok_or(ModelError::Database(DieselError::NotFound)))
            .collect()
    }

    /// The position `current` takes on `target`'s list, the numbers it passes shifted: a move
    /// leaves the old list and joins the new one (appended unless `order` says where); `order`
    /// alone moves it within its list. `lists` are the lists as they were.
    fn reposition(
        conn: &mut DbConnection,
        current: &Self,
        target: i64,
        order: Option<i64>,
        lists: &Lists,
        at: NaiveDateTime,
    ) -> ModelResult<i32> {
        let from = current.position;
        if target != current.prospect_id {
            Self::shift(conn, current.prospect_id, from + 1, None, -1, at)?;
            let position = clamp_position(order, lists.len_of(target));
            Self::shift(conn, target, position, None, 1, at)?;
            return Ok(position);
        }
        let Some(order) = order else {
            return Ok(from);
        };
        let last = lists.len_of(target) - 1;
        let position = order.clamp(0, last) as i32;
        if position < from {
            Self::shift(conn, target, position, Some(from - 1), 1, at)?;
        } else if position > from {
            Self::shift(conn, target, from + 1, Some(position), -1, at)?;
        }
        Ok(position)
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

/// A number's writes hold the lists involved locked: its own and, for a move, the target's.
impl Versioned for PhoneNumberRow {
    type Changes = PhoneNumberChanges;
    /// The lists involved, as they were ([`Lists::lock`]).
    type Locked = Lists;

    fn id(&self) -> i64 {
        self.id
    }

    /// Locks the lists involved — the number's and the one `changes` moves it to, in id order —
    /// and reads the number again under those locks. The number may be moved by someone else
    /// between the first read and the locks: then it starts over, three times at most.
    fn lock_record(
        conn: &mut DbConnection,
        id: i64,
        mut read: Option<Self>,
        changes: Option<&PhoneNumberChanges>,
    ) -> ModelResult<(Self, Lists)> {
        let not_found = || ModelError::not_found(ResourceType::PhoneNumber, id);
        for _ in 0..3 {
            let before = match read.take() {
                Some(read) => read,
                None => Self::find(conn, id)?.ok_or_else(not_found)?,
            };
            let target = changes.and_then(|changes| changes.prospect_id);
            let mut locks = vec![before.prospect_id, target.unwrap_or(before.prospect_id)];
            locks.sort_unstable();
            locks.dedup();
            let lists = Lists::lock(conn, &locks)?;
            let Some(current) = lists.numbers.iter().find(|row| row.id == id).cloned() else {
                // Moved to a list this attempt did not lock, or deleted meanwhile.
                continue;
            };
            return Ok((current, lists));
        }
        Err(ModelError::KeptMoving)
    }

    fn version(&self) -> i64 {
        self.version
    }

    fn unchanged_by(&self, changes: &PhoneNumberChanges, lists: &Lists) -> bool {
        let parsed = ParsedColumns {
            number: self.number.clone(),
            raw_number: self.raw_number.clone(),
            country_code: self.country_code.clone(),
            extension: self.extension.clone(),
            formatted_number: self.formatted_number.clone(),
            line_type: self.line_type.clone(),
        };
        let len = lists.len_of(self.prospect_id);
        let position = changes.order.map(|order| order.clamp(0, len - 1) as i32);
        changes.prospect_id.is_none_or(|id| id == self.prospect_id)
            && changes.parsed.as_ref().is_none_or(|new| *new == parsed)
            && changes
                .phone_type
                .as_ref()
                .is_none_or(|new| *new == self.phone_type)
            && changes
                .status
                .as_ref()
                .is_none_or(|new| *new == self.status)
            && changes
                .source
                .as_ref()
                .is_none_or(|new| *new == self.source)
            && changes
                .sms_opt_out
                .is_none_or(|new| new == self.sms_opt_out)
            && changes.notes.as_ref().is_none_or(|new| *new == self.notes)
            && position.is_none_or(|position| position == self.position)
    }

    fn apply(
        &self,
        conn: &mut DbConnection,
        journal: &mut Journal,
        changes: &PhoneNumberChanges,
        lists: Lists,
        at: NaiveDateTime,
    ) -> ModelResult<Self> {
        let target = changes.prospect_id.unwrap_or(self.prospect_id);
        let position = Self::reposition(conn, self, target, changes.order, &lists, at)?;
        let status_changed = (changes.status.as_ref()).filter(|status| **status != self.status);
        let opt_out_changed = (changes.sms_opt_out).filter(|opt_out| *opt_out != self.sms_opt_out);
        let columns = ColumnChanges {
            phone_type: changes.phone_type.clone(),
            status: status_changed.cloned(),
            status_changed_at: status_changed.map(|_| at),
            source: changes.source.clone(),
            sms_opt_out: opt_out_changed,
            sms_opt_out_changed_at: opt_out_changed.map(|_| Some(at)),
            notes: changes.notes.clone(),
        };
        // One statement, so that the unique index judges the row as it ends up: a move that also
        // changes the number must not be refused for the number it had.
        let update = diesel::update(phone_numbers::table.find(self.id)).set((
            (
                col::prospect_id.eq(target),
                col::position.eq(position),
                col::version.eq(self.version + 1),
                col::updated_at.eq(at),
            ),
            changes.parsed.as_ref(),
            columns,
        ));
        let updated: Self = crate::on_backend!(&mut *conn, |conn| update
            .returning(Self::as_returning())
            .get_result(conn))
        .map_err(|error| match (&changes.parsed, unique_violation(&error)) {
            (_, false) => error.into(),
            (Some(new), true) => duplicate(DuplicateCause::Number, &new.number, &new.extension),
            (None, true) => duplicate(DuplicateCause::Move, &self.number, &self.extension),
        })?;
        if (target, position) != (self.prospect_id, self.position) {
            return take(lists.finish(conn, journal, at)?, self.id);
        }
        // In place: the lists are as they were but for this row.
        let after = (lists.numbers.iter())
            .map(|row| match row.id == self.id {
                true => updated.clone(),
                false => row.clone(),
            })
            .collect();
        lists.finish_as(conn, journal, after, at)?;
        Ok(updated)
    }

    /// Deletes the number and closes the gap in its list.
    fn remove(
        &self,
        conn: &mut DbConnection,
        journal: &mut Journal,
        lists: Lists,
        at: NaiveDateTime,
    ) -> ModelResult<()> {
        diesel::delete(phone_numbers::table.find(self.id)).execute(conn)?;
        Self::shift(conn, self.prospect_id, self.position + 1, None, -1, at)?;
        lists.finish(conn, journal, at).map(drop)
    }
}
