//! Rows, insert forms and changesets, with the queries as associated functions returning
//! `QueryResult`, or [`ModelResult`] where a rule of the data can refuse the write (a duplicate, a
//! version mismatch). One module per resource type, plus [`listing`] (the SQL of collection
//! queries) and the id-list helpers below for loading includes. A query that must differ per
//! backend sits in the model of its type (`phone_number/{sqlite,postgres}.rs`). Nothing here knows
//! about HTTP; handlers call these inside [`crate::db::run`] or [`crate::db::read`].

pub mod change;
pub mod error;
pub mod includes;
pub mod listing;
pub mod phone_number;
pub mod prospect;
pub mod token;
pub mod user;
pub mod webhook;

pub use change::{recorded, Change, Journal};
pub use error::{DuplicateCause, ModelError, ModelResult};
pub use phone_number::{PhoneNumberRow, ProspectPhone};
pub use prospect::Prospect;
pub use token::ApiToken;
pub use user::User;
pub use webhook::Webhook;

/// Up to this many ids, [`unique`] and [`in_order`] compare ids one by one instead of hashing them:
/// a page names few distinct ids (one prospect's numbers name one), and a scan of a short slice
/// costs less than building a hash table (SipHash per id, an allocation).
const SCAN_LIMIT: usize = 128;

/// `ids` once each, in first-seen order.
pub fn unique(ids: impl Iterator<Item = i64>) -> Vec<i64> {
    let mut ids: Vec<i64> = ids.collect();
    if ids.len() <= SCAN_LIMIT {
        let mut kept = 0;
        for at in 0..ids.len() {
            if !ids[..kept].contains(&ids[at]) {
                ids[kept] = ids[at];
                kept += 1;
            }
        }
        ids.truncate(kept);
        return ids;
    }
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    ids.retain(|id| seen.insert(*id));
    ids
}

/// Orders `rows` like `ids` (first-seen order), dropping ids that were not found. Each row's id is
/// one of `ids`, and no two rows share one (they were read by those ids).
pub fn in_order<T>(ids: &[i64], mut rows: Vec<T>, id_of: impl Fn(&T) -> i64) -> Vec<T> {
    if ids.len() <= SCAN_LIMIT {
        rows.sort_by_cached_key(|row| ids.iter().position(|&id| id == id_of(row)));
        return rows;
    }
    let mut by_id: std::collections::HashMap<i64, T> =
        rows.into_iter().map(|row| (id_of(&row), row)).collect();
    ids.iter().filter_map(|id| by_id.remove(id)).collect()
}

#[cfg(test)]
mod tests {
    use super::{in_order, unique, SCAN_LIMIT};

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
    fn unique_keeps_first_seen_order_on_both_sides_of_the_scan_limit() {
        for len in [0, 1, 5, SCAN_LIMIT, SCAN_LIMIT + 1, 3 * SCAN_LIMIT] {
            // Ids repeat in runs and come back later, as a page's prospect ids do.
            let ids: Vec<i64> = (0..len as i64).map(|at| (at / 3) * 7 % 50).collect();
            assert_eq!(unique(ids.iter().copied()), first_seen(&ids), "{len} ids");
        }
    }

    #[test]
    fn in_order_orders_rows_like_their_ids_on_both_sides_of_the_scan_limit() {
        for count in [1, 2, SCAN_LIMIT, SCAN_LIMIT + 1, 2 * SCAN_LIMIT + 3] {
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
