//! The change feed: every committed create, update and delete of a phone number or a prospect, as
//! a row of `changes` written in the write's own transaction, and the webhook deliveries each
//! change queues (`webhook_deliveries`, sent by [`crate::delivery`]).
//!
//! Writes record through a [`Journal`], which only [`recorded`] hands out: it runs the work in a
//! write transaction, and as the transaction's last step ([`Journal::commit`]) inserts the
//! changes the work noted and queues their deliveries. A write that fails or rolls back leaves
//! nothing; a write that changed nothing noted nothing.
//!
//! A consumer paging with `page[after]` never misses a change: no change becomes visible with an
//! id below one already visible.
//! - SQLite serializes writers (`BEGIN IMMEDIATE`), so the autoincrement order is the commit order.
//! - PostgreSQL hands out identity values in the order transactions *ask* for them, and a
//!   transaction that asked earlier may commit later. So writers draw change ids only under the
//!   feed's advisory lock ([`FEED_LOCK`]) in shared mode, as their transaction's last statement,
//!   and hold it until they commit; and the feed is read ([`Change::settled`]) under that lock in
//!   exclusive mode, which PostgreSQL grants once no writer holds ids it has not committed. Writers
//!   do not wait for each other (their commits share the WAL's flushes); a read waits for the
//!   writers already drawing, and holds back new ones for its one statement.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use serde_json::Value;

use super::error::ModelResult;
use super::listing::{as_i64, as_string, as_time, by_id_only, wrong_type, Listing, Page};
use super::{PhoneNumberRow, Prospect};
use crate::clock::now;
use crate::db::schema::changes::{self, dsl as col};
use crate::db::schema::webhook_deliveries;
use crate::db::{last_insert_id, DbConnection, StoredTime, TransactionError};
use crate::domain::ResourceType;
use crate::jsonapi::document::{Attr, Timestamp};
use crate::jsonapi::query::{FilterOp, FilterTarget};
use crate::jsonapi::schema::{Field, Relationship as _};
use crate::schema::{ChangeField as F, PhoneNumberField, ProspectField, Relationship};
use crate::{nullable_predicate, predicate};

/// The advisory lock key under which PostgreSQL writers draw change ids (shared) and the feed is
/// read (exclusive): `"pbfeed"` in ASCII.
pub const FEED_LOCK: i64 = 0x7062_6665_6564;

/// A stored change.
#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = changes)]
pub struct Change {
    pub id: i64,
    pub action: String,
    pub resource_type: String,
    pub resource_id: i64,
    /// JSON array text.
    pub changed_fields: String,
    /// JSON object text (`{"attributes": …, "relationships": …}`), `None` for `created`.
    pub before_state: Option<String>,
    /// The same after the change, `None` for `deleted`.
    pub after_state: Option<String>,
    pub actor_id: Option<i64>,
    #[diesel(deserialize_as = StoredTime)]
    pub occurred_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = changes, treat_none_as_default_value = false)]
struct NewChange {
    action: &'static str,
    resource_type: &'static str,
    resource_id: i64,
    changed_fields: String,
    before_state: Option<String>,
    after_state: Option<String>,
    actor_id: Option<i64>,
    occurred_at: NaiveDateTime,
}

/// A record as the feed shows it: its attributes as a GET shows them (a prospect's `*Phones`
/// arrays left out: they are views of its numbers, whose own changes are in the feed), then its
/// to-one relationships' ids.
struct Snapshot {
    attributes: Vec<(&'static str, Value)>,
    relationships: Vec<(&'static str, Value)>,
}

/// An attribute value as JSON.
fn json_of(attr: Attr<'_>) -> Value {
    match attr {
        Attr::Str(text) | Attr::OptStr(Some(text)) | Attr::Json(Some(text)) => text.into(),
        Attr::OptStr(None) | Attr::OptInt(None) | Attr::OptTime(None) | Attr::Json(None) => {
            Value::Null
        }
        Attr::Int(number) | Attr::OptInt(Some(number)) => number.into(),
        Attr::Time(time) | Attr::OptTime(Some(time)) => Timestamp(time).to_string().into(),
        Attr::List(items) => items.into_iter().map(|item| item.into_owned()).collect(),
        Attr::Bool(value) => value.into(),
        Attr::IdText(id) => id.to_string().into(),
    }
}

fn id_text(id: i64) -> Value {
    id.to_string().into()
}

impl Snapshot {
    fn of_number(row: &PhoneNumberRow) -> Self {
        let attributes = PhoneNumberField::attributes()
            .filter_map(|field| Some((field.name(), json_of(row.attr(field)?))))
            .collect();
        let prospect = Relationship::PhoneNumberProspect.name();
        Snapshot {
            attributes,
            relationships: vec![(prospect, id_text(row.prospect_id))],
        }
    }

    fn of_prospect(row: &Prospect) -> Self {
        let attributes = ProspectField::attributes()
            .filter(|field| !matches!(field, ProspectField::Phones(_)))
            .filter_map(|field| Some((field.name(), json_of(row.attr(&[], field)?))))
            .collect();
        let owner = Relationship::ProspectOwner.name();
        Snapshot {
            attributes,
            relationships: vec![(owner, id_text(row.owner_id))],
        }
    }

    fn members(&self) -> impl Iterator<Item = &(&'static str, Value)> {
        self.attributes.iter().chain(&self.relationships)
    }

    /// `{"attributes": {…}, "relationships": {…}}`, members in the order a GET shows them.
    fn to_json(&self) -> String {
        // Written straight into one buffer: an import notes a snapshot or two per row.
        let object = |out: &mut Vec<u8>, members: &[(&str, Value)]| {
            out.push(b'{');
            for (at, (name, value)) in members.iter().enumerate() {
                if at > 0 {
                    out.push(b',');
                }
                // Writing to a `Vec` cannot fail, and neither can serializing a `Value`.
                let _ = serde_json::to_writer(&mut *out, name);
                out.push(b':');
                let _ = serde_json::to_writer(&mut *out, value);
            }
            out.push(b'}');
        };
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(b"{\"attributes\":");
        object(&mut out, &self.attributes);
        out.extend_from_slice(b",\"relationships\":");
        object(&mut out, &self.relationships);
        out.push(b'}');
        String::from_utf8(out).unwrap_or_default()
    }
}

/// What happened to a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Created,
    Updated,
    Deleted,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Updated => "updated",
            Action::Deleted => "deleted",
        }
    }
}

/// One change noted by a write, not yet stored.
struct Entry {
    action: Action,
    kind: ResourceType,
    id: i64,
    changed: Vec<&'static str>,
    before: Option<String>,
    after: Option<String>,
}

/// The changes one write transaction makes, noted as it makes them and stored as its last step.
/// Only [`recorded`] makes one, so holding one means being inside a write transaction.
pub struct Journal {
    actor: Option<i64>,
    entries: Vec<Entry>,
}

impl Journal {
    /// Runs `work` in a savepoint of the current write transaction: when it fails, both its writes
    /// and the changes it noted here are undone, and the transaction goes on.
    pub fn savepoint<T, E: TransactionError>(
        &mut self,
        conn: &mut DbConnection,
        mut work: impl FnMut(&mut DbConnection, &mut Journal) -> Result<T, E>,
    ) -> Result<T, E> {
        let noted = self.entries.len();
        let result = crate::db::write_transaction(conn, |conn| work(conn, self));
        if result.is_err() {
            self.entries.truncate(noted);
        }
        result
    }

    /// Notes a phone number's change from `before` to `after` (`None`: did not exist); nothing when
    /// the two show the same.
    pub fn number(&mut self, before: Option<&PhoneNumberRow>, after: Option<&PhoneNumberRow>) {
        let id = before.or(after).map_or(0, |row| row.id);
        let kind = ResourceType::PhoneNumber;
        self.note(
            kind,
            id,
            before.map(Snapshot::of_number),
            after.map(Snapshot::of_number),
        );
    }

    /// Notes a prospect's change, as [`Journal::number`] does.
    pub fn prospect(&mut self, before: Option<&Prospect>, after: Option<&Prospect>) {
        let id = before.or(after).map_or(0, |row| row.id);
        let (before, after) = (
            before.map(Snapshot::of_prospect),
            after.map(Snapshot::of_prospect),
        );
        self.note(ResourceType::Prospect, id, before, after);
    }

    fn note(
        &mut self,
        kind: ResourceType,
        id: i64,
        before: Option<Snapshot>,
        after: Option<Snapshot>,
    ) {
        let (action, changed) = match (&before, &after) {
            (None, None) => return,
            (None, Some(only)) | (Some(only), None) => {
                let action = if before.is_none() {
                    Action::Created
                } else {
                    Action::Deleted
                };
                (action, only.members().map(|(name, _)| *name).collect())
            }
            (Some(old), Some(new)) => {
                let changed: Vec<&'static str> = (old.members().zip(new.members()))
                    .filter(|(old, new)| old != new)
                    .map(|((name, _), _)| *name)
                    .collect();
                if changed.is_empty() {
                    return;
                }
                (Action::Updated, changed)
            }
        };
        self.entries.push(Entry {
            action,
            kind,
            id,
            changed,
            before: before.as_ref().map(Snapshot::to_json),
            after: after.as_ref().map(Snapshot::to_json),
        });
    }

    /// Stores the noted changes and queues their webhook deliveries: the transaction's last step.
    fn commit(self, conn: &mut DbConnection) -> QueryResult<()> {
        if self.entries.is_empty() {
            return Ok(());
        }
        let at = now();
        let rows: Vec<NewChange> = (self.entries.into_iter())
            .map(|entry| NewChange {
                action: entry.action.as_str(),
                resource_type: entry.kind.name(),
                resource_id: entry.id,
                changed_fields: Value::from(entry.changed).to_string(),
                before_state: entry.before,
                after_state: entry.after,
                actor_id: self.actor,
                occurred_at: at,
            })
            .collect();
        match conn {
            DbConnection::Pg(pg) => pg_commit(pg, rows),
            DbConnection::Sqlite(_) => {
                // A multi-row insert per chunk (NULLs bound as such, not `DEFAULT`, which would
                // make diesel insert row by row), each chunk's 8 binds a row under SQLite's
                // 32,766 per statement.
                for chunk in rows.chunks(super::BATCH_ROWS) {
                    let DbConnection::Sqlite(sqlite) = &mut *conn else {
                        unreachable!("matched as SQLite")
                    };
                    diesel::insert_into(changes::table)
                        .values(chunk)
                        .execute(sqlite)?;
                    // Under the write lock nobody else draws ids, so this statement's are the
                    // `chunk.len()` ids up to the last one.
                    let last = last_insert_id(conn)?;
                    queue_deliveries(conn, last - chunk.len() as i64 + 1, last)?;
                }
                Ok(())
            }
        }
    }
}

/// [`Journal::commit`] on PostgreSQL, in one statement (one round trip): take the feed lock in
/// shared mode, then insert the changes in their order (their ids drawn under the lock), then
/// queue their deliveries. The lock comes first because every row the insert reads joins the
/// lock's one row.
fn pg_commit(conn: &mut diesel::pg::PgConnection, rows: Vec<NewChange>) -> QueryResult<()> {
    use diesel::sql_types::{Array, Nullable, Text};
    let (actor, at) = (rows[0].actor_id, rows[0].occurred_at);
    let column = |pick: fn(&NewChange) -> String| rows.iter().map(pick).collect::<Vec<_>>();
    let optional =
        |pick: fn(&NewChange) -> Option<String>| rows.iter().map(pick).collect::<Vec<_>>();
    diesel::sql_query(
        "WITH feed AS (SELECT pg_advisory_xact_lock_shared($1) AS locked), \
         added AS (INSERT INTO changes (action, resource_type, resource_id, changed_fields, \
         before_state, after_state, actor_id, occurred_at) \
         SELECT r.action, r.resource_type, r.resource_id, r.changed_fields, r.before_state, \
         r.after_state, $8, $9 FROM feed, unnest($2::text[], $3::text[], $4::bigint[], \
         $5::text[], $6::text[], $7::text[]) WITH ORDINALITY AS r(action, resource_type, \
         resource_id, changed_fields, before_state, after_state, n) ORDER BY r.n \
         RETURNING id, resource_type, occurred_at) \
         INSERT INTO webhook_deliveries (webhook_id, change_id, attempts, next_attempt_at) \
         SELECT w.id, a.id, 0, a.occurred_at FROM added a JOIN webhooks w ON w.active \
         AND (' ' || w.resource_types || ' ') LIKE ('% ' || a.resource_type || ' %')",
    )
    .bind::<BigInt, _>(FEED_LOCK)
    .bind::<Array<Text>, _>(column(|row| row.action.to_owned()))
    .bind::<Array<Text>, _>(column(|row| row.resource_type.to_owned()))
    .bind::<Array<BigInt>, _>(rows.iter().map(|row| row.resource_id).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(column(|row| row.changed_fields.clone()))
    .bind::<Array<Nullable<Text>>, _>(optional(|row| row.before_state.clone()))
    .bind::<Array<Nullable<Text>>, _>(optional(|row| row.after_state.clone()))
    .bind::<Nullable<BigInt>, _>(actor)
    .bind::<diesel::sql_types::Timestamp, _>(at)
    .execute(conn)
    .map(drop)
}

/// Queues one delivery of each change `first..=last` to every active webhook that receives its
/// type.
fn queue_deliveries(conn: &mut DbConnection, first: i64, last: i64) -> QueryResult<()> {
    let placeholders = match conn {
        DbConnection::Sqlite(_) => ("?", "?"),
        DbConnection::Pg(_) => ("$1", "$2"),
    };
    let sql = format!(
        "INSERT INTO webhook_deliveries (webhook_id, change_id, attempts, next_attempt_at) \
         SELECT w.id, c.id, 0, c.occurred_at FROM changes c JOIN webhooks w ON w.active \
         AND (' ' || w.resource_types || ' ') LIKE ('% ' || c.resource_type || ' %') \
         WHERE c.id BETWEEN {} AND {} ORDER BY c.id, w.id",
        placeholders.0, placeholders.1
    );
    diesel::sql_query(sql)
        .bind::<BigInt, _>(first)
        .bind::<BigInt, _>(last)
        .execute(conn)
        .map(drop)
}

/// Runs `work` in a write transaction that records the changes it notes in its [`Journal`]
/// (`actor`: who makes them; `None` for the command line). On PostgreSQL a transaction aborted by
/// contention runs again with a fresh journal ([`crate::db::write_transaction`]).
pub fn recorded<T, E: TransactionError>(
    conn: &mut DbConnection,
    actor: Option<i64>,
    mut work: impl FnMut(&mut DbConnection, &mut Journal) -> Result<T, E>,
) -> Result<T, E> {
    crate::db::write_transaction(conn, |conn| {
        let mut journal = Journal {
            actor,
            entries: Vec::new(),
        };
        let value = work(conn, &mut journal)?;
        journal.commit(conn)?;
        Ok(value)
    })
}

crate::lookups_by_id!(Change, changes);

impl Change {
    /// Runs `read` of the feed once every change id drawn so far belongs to a committed (or
    /// rolled back) transaction, so that it shows no change whose predecessors could still
    /// appear. On PostgreSQL that is the feed lock in exclusive mode, held by a transaction around
    /// `read` (whose statements see every commit made before the lock was granted); on SQLite,
    /// where writers commit in id order, `read` runs as it is.
    pub fn settled<T, E: From<diesel::result::Error>>(
        conn: &mut DbConnection,
        read: impl FnOnce(&mut DbConnection) -> Result<T, E>,
    ) -> Result<T, E> {
        if !matches!(conn, DbConnection::Pg(_)) {
            return read(conn);
        }
        conn.transaction(|conn| {
            diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                .bind::<BigInt, _>(FEED_LOCK)
                .execute(conn)?;
            read(conn)
        })
    }

    /// One page of the feed matching `listing`, restricted to the changes of `readable` types
    /// (`None`: every type).
    pub fn list(
        conn: &mut DbConnection,
        listing: &Listing<F>,
        readable: Option<&[&'static str]>,
    ) -> ModelResult<Page<Self>> {
        crate::by_backend!(conn, list(listing, readable))
    }

    /// Removes the changes that occurred before `before`, except those whose webhook deliveries
    /// are still queued. Returns how many went.
    pub fn prune(conn: &mut DbConnection, before: NaiveDateTime) -> QueryResult<usize> {
        use webhook_deliveries::dsl as delivery;
        let queued = webhook_deliveries::table
            .filter(delivery::change_id.eq(col::id))
            .select(delivery::id);
        diesel::delete(
            changes::table
                .filter(col::occurred_at.lt(before))
                .filter(diesel::dsl::not(diesel::dsl::exists(queued))),
        )
        .execute(conn)
    }
}

crate::per_backend! {
    type Filtered = changes::BoxedQuery<'static, Db>;

    pub(super) fn list(
        conn: &mut Conn,
        listing: &Listing<F>,
        readable: Option<&[&'static str]>,
    ) -> ModelResult<Page<Change>> {
        let base = || -> Filtered {
            let query = changes::table.into_boxed();
            match readable {
                Some(types) => query.filter(col::resource_type.eq_any(types.to_vec())),
                None => query,
            }
        };
        crate::list_page!(conn, listing, base(), Change, order, predicate)
    }

    fn predicate(
        target: FilterTarget<F>,
        op: &FilterOp,
    ) -> ModelResult<crate::models::listing::Predicate<changes::table, Db>> {
        let field = match target {
            FilterTarget::Field(field) => field,
            FilterTarget::RelationshipId(Relationship::ChangeActor) => {
                let name = Relationship::ChangeActor.name();
                return Ok(nullable_predicate!(col::actor_id, op, name, as_i64));
            }
            FilterTarget::RelationshipId(other) => return Err(wrong_type(other.name())),
        };
        let name = field.name();
        Ok(match field {
            F::Id => predicate!(col::id, op, name, as_i64),
            F::Action => predicate!(col::action, op, name, as_string),
            F::ResourceKind => predicate!(col::resource_type, op, name, as_string),
            F::ResourceId => predicate!(col::resource_id, op, name, as_i64),
            F::OccurredAt => predicate!(col::occurred_at, op, name, as_time),
            F::ChangedFields | F::Before | F::After => return Err(wrong_type(name)),
        })
    }


    fn order(query: Filtered, field: F, descending: bool) -> ModelResult<Filtered> {
        by_id_only(query, field, descending, col::id)
    }
}

impl super::listing::Keyed<F> for Change {
    fn id(&self) -> i64 {
        self.id
    }
}
