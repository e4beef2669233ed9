//! Rows, insert forms and changesets, with the queries as associated functions returning
//! `QueryResult` (or `ApiResult` where a rule of the contract can refuse the write). Nothing here
//! knows about HTTP; handlers call these inside [`crate::db::run`].

pub mod listing;
pub mod phone_number;
pub mod prospect;
pub mod token;
pub mod user;

use chrono::{NaiveDateTime, SubsecRound, Utc};
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::db::DbConnection;

pub use phone_number::{PhoneNumberRow, ProspectPhone};
pub use prospect::Prospect;
pub use token::ApiToken;
pub use user::User;

/// The current time in UTC, truncated to the millisecond the wire format shows, so that what a client
/// reads back (and filters or pages by) is exactly what is stored.
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(3)
}

#[derive(QueryableByName)]
struct LastId {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// `ids` once each, in first-seen order.
pub fn unique(ids: impl Iterator<Item = i64>) -> Vec<i64> {
    let mut seen = std::collections::HashSet::new();
    ids.filter(|id| seen.insert(*id)).collect()
}

/// Orders `rows` like `ids` (first-seen order), dropping ids that were not found.
pub fn in_order<T>(ids: &[i64], rows: Vec<T>, id_of: impl Fn(&T) -> i64) -> Vec<T> {
    let mut by_id: std::collections::HashMap<i64, T> =
        rows.into_iter().map(|row| (id_of(&row), row)).collect();
    ids.iter().filter_map(|id| by_id.remove(id)).collect()
}

/// The id the last `INSERT` on this connection generated. The one place where the two backends
/// need different SQL (`RETURNING` does not compile through the multi-connection).
pub fn last_insert_id(conn: &mut DbConnection) -> QueryResult<i64> {
    let sql = match conn {
        DbConnection::Sqlite(_) => "SELECT last_insert_rowid() AS id",
        DbConnection::Pg(_) => "SELECT lastval() AS id",
    };
    diesel::sql_query(sql)
        .get_result::<LastId>(conn)
        .map(|row| row.id)
}
