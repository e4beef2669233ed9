//! Webhooks: where the changes of the feed are delivered, and the queue of deliveries
//! (`webhook_deliveries`), which each change fills in its own transaction (`models::change`) and
//! the delivery worker (`crate::delivery`) empties.
//!
//! An attempt is claimed with a lease (`leased_until`): the claim sets it in one statement that
//! skips rows another instance holds (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one
//! writer at a time), so each attempt is made by one instance. A lease that runs out (the instance
//! died mid-attempt) makes the delivery claimable again: at least once, never lost.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};

use super::change::Change;
use super::error::{ModelError, ModelResult};
use super::listing::{as_i64, by_id_only, wrong_type, Listing, Page, Predicate};
use crate::clock::now;
use crate::db::schema::webhook_deliveries::{self, dsl as queue};
use crate::db::schema::webhooks::{self, dsl as col};
use crate::db::{last_insert_id, Backend, DbConnection, StoredTime};
use crate::domain::ResourceType;
use crate::jsonapi::query::{FilterOp, FilterTarget};
use crate::jsonapi::schema::{Field as _, Relationship as _};
use crate::predicate;
use crate::schema::WebhookField as F;

#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = webhooks)]
pub struct Webhook {
    pub id: i64,
    pub url: String,
    /// Space-separated type names.
    pub resource_types: String,
    pub active: bool,
    pub secret: String,
    pub last_delivery_at: Option<NaiveDateTime>,
    pub last_delivery_status: Option<i32>,
    pub failed_deliveries: i64,
    #[diesel(deserialize_as = StoredTime)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = StoredTime)]
    pub updated_at: NaiveDateTime,
}

/// A webhook to create.
pub struct NewWebhook {
    pub url: String,
    pub resource_types: Vec<&'static str>,
    pub active: bool,
    pub secret: String,
}

/// Changes to a webhook; `None` keeps a value.
#[derive(Default, AsChangeset)]
#[diesel(table_name = webhooks)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub resource_types: Option<String>,
    pub active: Option<bool>,
}

crate::lookups_by_id!(Webhook, webhooks);

impl Webhook {
    pub fn types(&self) -> impl Iterator<Item = &str> {
        self.resource_types
            .split(' ')
            .filter(|name| !name.is_empty())
    }

    pub fn create(conn: &mut DbConnection, new: &NewWebhook) -> QueryResult<Self> {
        let at = now();
        diesel::insert_into(webhooks::table)
            .values((
                col::url.eq(&new.url),
                col::resource_types.eq(new.resource_types.join(" ")),
                col::active.eq(new.active),
                col::secret.eq(&new.secret),
                col::failed_deliveries.eq(0),
                col::created_at.eq(at),
                col::updated_at.eq(at),
            ))
            .execute(conn)?;
        let id = last_insert_id(conn)?;
        Self::find(conn, id)?.ok_or(diesel::result::Error::NotFound)
    }

    /// Applies `changes`; values equal to the stored ones change nothing (not `updatedAt`).
    pub fn update(conn: &mut DbConnection, id: i64, changes: &WebhookChanges) -> ModelResult<Self> {
        let not_found = || ModelError::not_found(ResourceType::Webhook, id);
        let current = Self::find(conn, id)?.ok_or_else(not_found)?;
        let unchanged = changes.url.as_ref().is_none_or(|url| *url == current.url)
            && (changes.resource_types.as_ref())
                .is_none_or(|types| *types == current.resource_types)
            && changes.active.is_none_or(|active| active == current.active);
        if unchanged {
            return Ok(current);
        }
        diesel::update(webhooks::table.find(id))
            .set((changes, col::updated_at.eq(now())))
            .execute(conn)?;
        Self::find(conn, id)?.ok_or_else(not_found)
    }

    /// Deletes the webhook and its queued deliveries (`ON DELETE CASCADE`).
    pub fn delete(conn: &mut DbConnection, id: i64) -> ModelResult<()> {
        crate::db::write_transaction(conn, |conn| {
            diesel::delete(queue::webhook_deliveries.filter(queue::webhook_id.eq(id)))
                .execute(conn)?;
            match diesel::delete(webhooks::table.find(id)).execute(conn)? {
                0 => Err(ModelError::not_found(ResourceType::Webhook, id)),
                _ => Ok(()),
            }
        })
    }

    /// How many deliveries each of `ids` has queued (retries included).
    pub fn pending(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<HashMap<i64, i64>> {
        let counts: Vec<(i64, i64)> = queue::webhook_deliveries
            .filter(queue::webhook_id.eq_any(ids))
            .group_by(queue::webhook_id)
            .select((queue::webhook_id, diesel::dsl::count_star()))
            .load(conn)?;
        Ok(counts.into_iter().collect())
    }

    /// One page of webhooks matching `listing`.
    pub fn list(conn: &mut DbConnection, listing: &Listing<F>) -> ModelResult<Page<Self>> {
        crate::by_backend!(conn, list(listing))
    }
}

crate::per_backend! {
    type Filtered = webhooks::BoxedQuery<'static, Db>;

    pub(super) fn list(conn: &mut Conn, listing: &Listing<F>) -> ModelResult<Page<Webhook>> {
        crate::list_page!(conn, listing, webhooks::table.into_boxed(), Webhook, order, predicate)
    }

    fn predicate(target: FilterTarget<F>, op: &FilterOp) -> ModelResult<Predicate<webhooks::table, Db>> {
        match target {
            FilterTarget::Field(F::Id) => Ok(predicate!(col::id, op, "id", as_i64)),
            FilterTarget::Field(field) => Err(wrong_type(field.name())),
            FilterTarget::RelationshipId(rel) => Err(wrong_type(rel.name())),
        }
    }


    fn order(query: Filtered, field: F, descending: bool) -> ModelResult<Filtered> {
        by_id_only(query, field, descending, col::id)
    }
}

impl super::listing::Keyed<F> for Webhook {
    fn id(&self) -> i64 {
        self.id
    }
}

/// One claimed delivery attempt: what to send, where, and how many attempts came before.
pub struct Attempt {
    pub delivery_id: i64,
    pub attempts: i32,
    pub webhook: Webhook,
    pub change: Change,
}

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// How an attempt ended: the HTTP status it got (`None`: no HTTP answer) and whether it counts as
/// delivered.
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    pub status: Option<u16>,
    pub delivered: bool,
}

/// How one attempt ended, for [`Attempt::record`].
#[derive(Clone, Copy, Debug)]
pub struct Finished {
    pub delivery_id: i64,
    pub webhook_id: i64,
    /// Attempts made before this one.
    pub attempts: i32,
    pub outcome: Outcome,
    /// When to try again after a failure; `None`: that was the last attempt.
    pub retry_after: Option<chrono::Duration>,
    /// When the attempt ended.
    pub at: NaiveDateTime,
}

impl Finished {
    /// Whether the delivery leaves the queue: delivered, or given up.
    fn done(&self) -> bool {
        self.outcome.delivered || self.retry_after.is_none()
    }
}

impl Attempt {
    /// Claims up to `limit` due deliveries of active webhooks for `lease` (leased to this caller
    /// until then), oldest first, and reads what each attempt sends. An inactive webhook's queued
    /// deliveries wait until it is active again.
    pub fn claim(
        conn: &mut DbConnection,
        limit: i64,
        lease: chrono::Duration,
    ) -> QueryResult<Vec<Attempt>> {
        let at = now();
        let sql = match conn {
            DbConnection::Sqlite(_) => Self::claim_statement(Backend::Sqlite, ["?", "?", "?", "?"]),
            DbConnection::Pg(_) => {
                Self::claim_statement(Backend::Postgres, ["$1", "$2", "$3", "$4"])
            }
        };
        let claimed: Vec<Claimed> = diesel::sql_query(sql)
            .bind::<Timestamp, _>(at + lease)
            .bind::<Timestamp, _>(at)
            .bind::<Timestamp, _>(at)
            .bind::<BigInt, _>(limit)
            .load(conn)?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = claimed.iter().map(|row| row.id).collect();
        let rows: Vec<(i64, i32, Webhook, Change)> = queue::webhook_deliveries
            .inner_join(webhooks::table)
            .inner_join(crate::db::schema::changes::table)
            .filter(queue::id.eq_any(&ids))
            .select((
                queue::id,
                queue::attempts,
                Webhook::as_select(),
                Change::as_select(),
            ))
            .load(conn)?;
        Ok(rows
            .into_iter()
            .map(|(delivery_id, attempts, webhook, change)| Attempt {
                delivery_id,
                attempts,
                webhook,
                change,
            })
            .collect())
    }

    /// The statement of [`Attempt::claim`], its values (the lease's end, now twice, the limit) as
    /// `values` gives them: placeholders, or literals for a query plan. It reads the queue in
    /// `webhook_deliveries_due` order and stops at `limit` rows, whatever the queue's length.
    /// SQLite is told the index: left to itself it would read the webhook's deliveries by
    /// `webhook_deliveries_webhook` and sort them all, a whole queue's work per claim.
    pub fn claim_statement(backend: Backend, values: [&str; 4]) -> String {
        let [lease_end, now, also_now, limit] = values;
        let (indexed_by, skip_locked) = match backend {
            Backend::Sqlite => (" INDEXED BY webhook_deliveries_due", ""),
            Backend::Postgres => ("", " FOR UPDATE SKIP LOCKED"),
        };
        format!(
            "UPDATE webhook_deliveries SET leased_until = {lease_end} WHERE id IN (SELECT id FROM \
             webhook_deliveries{indexed_by} WHERE next_attempt_at <= {now} AND (leased_until IS \
             NULL OR leased_until < {also_now}) AND webhook_id IN (SELECT id FROM webhooks WHERE \
             active) ORDER BY next_attempt_at, id LIMIT {limit}{skip_locked}) RETURNING id"
        )
    }

    /// Records how attempts ended, in one transaction: a delivered one leaves the queue; a failed
    /// one is due again after its `retry_after` (or, without one, after the last attempt, leaves
    /// the queue counted as failed). Each webhook's last delivery attributes take its latest
    /// attempt's time and status. One transaction for many attempts, because every attempt of a
    /// webhook updates that webhook's row: one at a time, each waiting for the previous commit,
    /// they could not keep up with a receiver that answers at once.
    pub fn record(conn: &mut DbConnection, finished: &[Finished]) -> QueryResult<()> {
        // Webhook id → (latest attempt's time and status, deliveries given up); in id order, so
        // that instances recording at once lock webhook rows in the same order.
        let mut latest: BTreeMap<i64, (NaiveDateTime, Option<i32>, i64)> = BTreeMap::new();
        for attempt in finished {
            let status = attempt.outcome.status.map(i32::from);
            let entry = (latest.entry(attempt.webhook_id)).or_insert((attempt.at, status, 0));
            if attempt.at >= entry.0 {
                (entry.0, entry.1) = (attempt.at, status);
            }
            entry.2 += i64::from(!attempt.outcome.delivered && attempt.retry_after.is_none());
        }
        let done: Vec<i64> = (finished.iter().filter(|attempt| attempt.done()))
            .map(|attempt| attempt.delivery_id)
            .collect();
        crate::db::write_transaction(conn, |conn| {
            if !done.is_empty() {
                diesel::delete(queue::webhook_deliveries.filter(queue::id.eq_any(&done)))
                    .execute(conn)?;
            }
            for attempt in finished.iter().filter(|attempt| !attempt.done()) {
                let delay = attempt.retry_after.unwrap_or_default();
                diesel::update(webhook_deliveries::table.find(attempt.delivery_id))
                    .set((
                        queue::attempts.eq(attempt.attempts + 1),
                        queue::next_attempt_at.eq(attempt.at + delay),
                        queue::leased_until.eq(None::<NaiveDateTime>),
                    ))
                    .execute(conn)?;
            }
            for (id, (at, status, failed)) in &latest {
                diesel::update(webhooks::table.find(*id))
                    .set((
                        col::last_delivery_at.eq(Some(*at)),
                        col::last_delivery_status.eq(*status),
                        col::failed_deliveries.eq(col::failed_deliveries + *failed),
                    ))
                    .execute(conn)?;
            }
            Ok(())
        })
    }

    /// Gives the leases of `ids` back (an instance shutting down with attempts in flight), so that
    /// any instance may make those attempts at once.
    pub fn release(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<usize> {
        diesel::update(queue::webhook_deliveries.filter(queue::id.eq_any(ids)))
            .set(queue::leased_until.eq(None::<NaiveDateTime>))
            .execute(conn)
    }
}
