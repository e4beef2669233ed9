//! [`Sharers`]: for each of a page's numbers, the other prospects that have a number with the
//! same `number` (its `sharedWith`) — the first [`SHOWN`] of them in id order, and how many there
//! are in all — read in one statement for the whole page, never one per number.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::db::DbConnection;

/// How many of a number's sharers its `sharedWith` linkage lists.
pub const SHOWN: i64 = 100;

/// The most ids one statement asks about: the largest page, and far below both backends' limits
/// on bound parameters (the numbers included with a page of prospects, and their sharers, can be
/// more).
pub const PER_STATEMENT: usize = crate::jsonapi::query::MAX_PAGE_SIZE as usize;

/// The prospects one number is shared with, as its `sharedWith` shows them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shared {
    /// The first [`SHOWN`] of them, in id order.
    pub first: Vec<i64>,
    /// How many there are in all.
    pub count: i64,
}

/// [`Shared`] per number id, for the numbers it was loaded for.
#[derive(Debug, Default)]
pub struct Sharers(HashMap<i64, Shared>);

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    number_id: i64,
    #[diesel(sql_type = BigInt)]
    prospect_id: i64,
    #[diesel(sql_type = BigInt)]
    total: i64,
}

impl Sharers {
    /// The sharers of the numbers `ids`: one statement per [`PER_STATEMENT`] numbers (so one for
    /// any page of numbers), whose window functions keep the first [`SHOWN`] per number and count
    /// them all. The inner `DISTINCT` makes a prospect with two numbers of that value one sharer;
    /// the join reads the `phone_numbers_number` index.
    pub fn of_numbers(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<Self> {
        let mut sharers = Sharers::default();
        for ids in ids.chunks(PER_STATEMENT) {
            let placeholders: Vec<String> = match conn {
                DbConnection::Sqlite(_) => vec!["?".into(); ids.len()],
                DbConnection::Pg(_) => (1..=ids.len()).map(|at| format!("${at}")).collect(),
            };
            let rows = crate::by_backend!(conn, load(&Self::statement(&placeholders), ids))?;
            for row in rows {
                let shared = sharers.0.entry(row.number_id).or_default();
                shared.first.push(row.prospect_id);
                shared.count = row.total;
            }
        }
        for &id in ids {
            sharers.0.entry(id).or_default();
        }
        Ok(sharers)
    }

    /// The statement of [`Sharers::of_numbers`] for the number ids `ids` (placeholders, or
    /// literals for a query plan).
    pub fn statement(ids: &[String]) -> String {
        format!(
            "SELECT number_id, prospect_id, total FROM (\
             SELECT number_id, prospect_id, \
             ROW_NUMBER() OVER (PARTITION BY number_id ORDER BY prospect_id) AS nth, \
             COUNT(*) OVER (PARTITION BY number_id) AS total \
             FROM (SELECT DISTINCT mine.id AS number_id, other.prospect_id AS prospect_id \
             FROM phone_numbers mine JOIN phone_numbers other ON other.number = mine.number \
             AND other.prospect_id <> mine.prospect_id WHERE mine.id IN ({})) AS pairs\
             ) AS ranked WHERE nth <= {SHOWN} ORDER BY number_id, prospect_id",
            ids.join(", ")
        )
    }

    /// What number `id` is shared with (nobody, if it was not loaded).
    pub fn of(&self, id: i64) -> Option<&Shared> {
        self.0.get(&id)
    }

    /// The sharers listed for `numbers`, once each, in first-seen order.
    pub fn prospect_ids(&self, numbers: &[i64]) -> Vec<i64> {
        let listed = numbers.iter().filter_map(|&id| self.of(id));
        super::unique(listed.flat_map(|shared| shared.first.iter().copied()))
    }
}

crate::per_backend! {
    pub(super) fn load(conn: &mut Conn, sql: &str, ids: &[i64]) -> QueryResult<Vec<Row>> {
        let mut query = diesel::sql_query(sql).into_boxed::<Db>();
        for &id in ids {
            query = query.bind::<BigInt, _>(id);
        }
        query.load(conn)
    }
}
