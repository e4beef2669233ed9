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
use crate::db::{DbConnection, StoredTime, TransactionError};
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
            DbConnection::Sqlite(sqlite) => {
                // A multi-row insert per chunk (NULLs bound as such, not `DEFAULT`, which would
                // make diesel insert row by row), each chunk's 8 binds a row under SQLite's
                // 32,766 per statement. The one or two changes of a single create or update
                // (the record and its prospect) are one-row inserts instead: diesel keeps that
                // statement prepared, while it prepares a multi-row one again on every run. More
                // stay one statement a chunk, so that a batch's statements do not grow with it.
                for chunk in rows.chunks(super::BATCH_ROWS) {
                    let insert = || diesel::insert_into(changes::table);
                    let ids: Vec<i64> = match chunk.len() <= FEW_CHANGES {
                        true => (chunk.iter())
                            .map(|row| insert().values(row).returning(col::id).get_result(sqlite))
                            .collect::<QueryResult<_>>()?,
                        false => (insert().values(chunk).returning(col::id)).get_results(sqlite)?,
                    };
                    // Under the write lock nobody else draws ids: this statement's are
                    // consecutive.
                    let (Some(&first), Some(&last)) = (ids.iter().min(), ids.iter().max()) else {
                        continue;
                    };
                    queue_deliveries(sqlite, first, last)?;
                }
                Ok(())
            }
        }
    }
}

/// Up to how many changes SQLite inserts one row a statement ([`Journal::commit`]).
const FEW_CHANGES: usize = 2;

/// [`Journal::commit`] on PostgreSQL, in one statement (one round trip): take the feed lock in
/// shared mode, then insert the changes in their order (their ids drawn under the lock), then
/// queue their deliveries. The lock comes first because every row the insert reads joins the
/// lock's one row.
fn pg_commit(conn: &mut diesel::pg::PgConnection, rows: Vec<NewChange>) -> QueryResult<()> {
    let column = |pick: fn(&NewChange) -> String| rows.iter().map(pick).collect::<Vec<_>>();
    let optional =
        |pick: fn(&NewChange) -> Option<String>| rows.iter().map(pick).collect::<Vec<_>>();
    PgRecord {
        actions: column(|row| row.action.to_owned()),
        resource_types: column(|row| row.resource_type.to_owned()),
        resource_ids: rows.iter().map(|row| row.resource_id).collect(),
        changed_fields: column(|row| row.changed_fields.clone()),
        before_states: optional(|row| row.before_state.clone()),
        after_states: optional(|row| row.after_state.clone()),
        actor: rows[0].actor_id,
        at: rows[0].occurred_at,
    }
    .execute(conn)
    .map(drop)
}

/// [`pg_commit`]'s statement, one array a column. A query type of its own because diesel prepares
/// every `sql_query` again on each run (a parse and one more round trip), while it keeps the
/// prepared statement of a type with a static query id: this one runs on every write.
#[derive(diesel::query_builder::QueryId)]
struct PgRecord {
    actions: Vec<String>,
    resource_types: Vec<String>,
    resource_ids: Vec<i64>,
    changed_fields: Vec<String>,
    before_states: Vec<Option<String>>,
    after_states: Vec<Option<String>>,
    actor: Option<i64>,
    at: NaiveDateTime,
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for PgRecord {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{Array, Nullable, Text, Timestamp};
        out.push_sql("WITH feed AS (SELECT pg_advisory_xact_lock_shared(");
        out.push_bind_param::<BigInt, _>(&FEED_LOCK)?;
        out.push_sql(
            ") AS locked), added AS (INSERT INTO changes (action, resource_type, resource_id, \
             changed_fields, before_state, after_state, actor_id, occurred_at) \
             SELECT r.action, r.resource_type, r.resource_id, r.changed_fields, r.before_state, \
             r.after_state, ",
        );
        out.push_bind_param::<Nullable<BigInt>, _>(&self.actor)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&self.at)?;
        out.push_sql(" FROM feed, unnest(");
        out.push_bind_param::<Array<Text>, _>(&self.actions)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(&self.resource_types)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<BigInt>, _>(&self.resource_ids)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Text>, _>(&self.changed_fields)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.before_states)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.after_states)?;
        out.push_sql(
            "::text[]) WITH ORDINALITY AS r(action, resource_type, resource_id, changed_fields, \
             before_state, after_state, n) ORDER BY r.n RETURNING id, resource_type, occurred_at) \
             INSERT INTO webhook_deliveries (webhook_id, change_id, attempts, next_attempt_at) \
             SELECT w.id, a.id, 0, a.occurred_at FROM added a JOIN webhooks w ON w.active \
             AND (' ' || w.resource_types || ' ') LIKE ('% ' || a.resource_type || ' %')",
        );
        Ok(())
    }
}

impl RunQueryDsl<diesel::pg::PgConnection> for PgRecord {}

/// Queues one delivery of each change `first..=last` to every active webhook that receives its
/// type (SQLite; PostgreSQL does it in [`pg_commit`]'s statement). Built with diesel's DSL, not
/// as SQL text, so that its prepared statement is cached: it runs on every write.
fn queue_deliveries(conn: &mut SqliteConnection, first: i64, last: i64) -> QueryResult<()> {
    use crate::db::schema::webhooks::dsl as hook;
    use diesel::sql_types::{Integer, Text};
    use webhook_deliveries::dsl as delivery;
    // `resource_types` is a space-separated list: a type matches when ` type ` occurs in
    // ` list `.
    let receives = (" "
        .into_sql::<Text>()
        .concat(hook::resource_types)
        .concat(" "))
    .like(
        "% ".into_sql::<Text>()
            .concat(col::resource_type)
            .concat(" %"),
    );
    let deliveries = changes::table
        .inner_join(crate::db::schema::webhooks::table.on(hook::active.and(receives)))
        .filter(col::id.between(first, last))
        .order((col::id, hook::id))
        .select((hook::id, col::id, 0.into_sql::<Integer>(), col::occurred_at));
    diesel::insert_into(webhook_deliveries::table)
        .values(deliveries)
        .into_columns((
            delivery::webhook_id,
            delivery::change_id,
            delivery::attempts,
            delivery::next_attempt_at,
        ))
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
