//! Rows, insert forms and changesets, with the queries as associated functions returning
//! `QueryResult`, or [`ModelResult`] where a rule of the data can refuse the write (a duplicate, a
//! version mismatch). One module per resource type, plus [`listing`] (the SQL of collection
//! queries) and the id-list helpers below for loading includes. A query that must differ per
//! backend sits in the model of its type (`phone_number/{sqlite,postgres}.rs`). Nothing here knows
//! about HTTP; handlers call these inside [`crate::db::run`] or [`crate::db::read`].

use std::collections::{HashMap, HashSet};

pub mod change;
pub mod error;
pub mod idempotency;
pub mod includes;
pub mod listing;
pub mod phone_number;
pub mod prospect;
pub mod server_key;
pub mod shared;
pub mod token;
pub mod user;
pub mod versioned;
pub mod webhook;

pub use change::{recorded, Change, Journal};
pub use error::{DuplicateCause, ModelError, ModelResult};
pub use phone_number::{PhoneNumberRow, ProspectPhone};
pub use prospect::Prospect;
pub use token::ApiToken;
pub use user::User;
pub use versioned::Versioned;
pub use webhook::Webhook;

/// Rows per multi-row `INSERT` of a batched create (`create_many`): a phone number row has 18
/// binds, so a chunk stays far under SQLite's 32,766 and PostgreSQL's 65,535 per statement.
pub const BATCH_ROWS: usize = 1000;

/// `find` and `by_ids` for a row type `$row` of `$table` whose key is `id`, run on the backend's own
/// connection ([`crate::on_backend!`]), as every request reads rows by id.
#[macro_export]
macro_rules! lookups_by_id {
    ($row:ty, $table:ident) => {
        impl $row {
            /// The row with this id, if there is one.
            pub fn find(conn: &mut $crate::db::DbConnection, id: i64) -> QueryResult<Option<Self>> {
                $crate::on_backend!(conn, |conn| $table::table
                    .find(id)
                    .select(Self::as_select())
                    .first(conn)
                    .optional())
            }

            /// The rows with these ids, in no particular order.
            pub fn by_ids(
                conn: &mut $crate::db::DbConnection,
                ids: &[i64],
            ) -> QueryResult<Vec<Self>> {
                // One id (a page of one prospect's numbers) is `=`: diesel caches that
                // statement, and never one with `IN` on SQLite, whose bind count varies.
                $crate::on_backend!(conn, |conn| match ids {
                    [id] => $table::table.find(*id).select(Self::as_select()).load(conn),
                    _ => $table::table
                        .filter($table::id.eq_any(ids))
                        .select(Self::as_select())
                        .load(conn),
                })
            }
        }
    };
}

/// `ids` once each, in first-seen order.
pub fn unique(ids: impl Iterator<Item = i64>) -> Vec<i64> {
    let mut seen = HashSet::new();
    ids.filter(|id| seen.insert(*id)).collect()
}

/// Orders `rows` like `ids` (first-seen order), dropping ids that were not found. Each row's id is
/// one of `ids`, and no two rows share one (they were read by those ids).
pub fn in_order<T>(ids: &[i64], rows: Vec<T>, id_of: impl Fn(&T) -> i64) -> Vec<T> {
    let mut by_id: HashMap<i64, T> = rows.into_iter().map(|row| (id_of(&row), row)).collect();
    ids.iter().filter_map(|id| by_id.remove(id)).collect()
}

#[cfg(test)]
mod tests {
    use super::{in_order, unique};

    /// What both functions promise, written the obvious way.
    fn first_seen(ids: &[i64]) -> Vec<i64> {
        let mut seen = Vec::new();
        for &id in ids {
            if !seen.contains(&id) {
                seen.push(id);
            }
        }
        seen
    }

    #[test]
    fn unique_keeps_first_seen_order() {
        for len in [0, 1, 5, 128, 400] {
            // Ids repeat in runs and come back later, as a page's prospect ids do.
            let ids: Vec<i64> = (0..len as i64).map(|at| (at / 3) * 7 % 50).collect();
            assert_eq!(unique(ids.iter().copied()), first_seen(&ids), "{len} ids");
        }
    }

    #[test]
    fn in_order_orders_rows_like_their_ids() {
        for count in [1, 2, 128, 259] {
            let ids: Vec<i64> = (0..count as i64).map(|at| (at * 37) % 1000 + 1).collect();
            // Rows as a database returns them: by id, and some ids not found.
            let mut rows: Vec<(i64, String)> = ids
                .iter()
                .filter(|id| *id % 5 != 0)
                .map(|&id| (id, format!("row {id}")))
                .collect();
            rows.sort();
            let found: Vec<i64> = ids.iter().copied().filter(|id| id % 5 != 0).collect();
            let ordered = in_order(&ids, rows, |row| row.0);
            assert_eq!(ordered.iter().map(|row| row.0).collect::<Vec<_>>(), found);
            assert!(ordered
                .iter()
                .all(|(id, text)| *text == format!("row {id}")));
        }
    }
}
