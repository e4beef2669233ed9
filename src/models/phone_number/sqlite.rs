//! The number listing with its prospects on SQLite: the page, then its prospects by id, in one
//! read snapshot. A statement there is a function call, cheaper than decoding each prospect again
//! with every one of its numbers (docs/performance.md, "Included prospects, per backend").

use super::PhoneNumberRow;
use crate::db::DbConnection;
use crate::models::error::ModelResult;
use crate::models::listing::{Listing, Page};
use crate::models::prospect::Prospect;
use crate::schema::PhoneNumberField as F;

/// [`PhoneNumberRow::list_with_prospects`] on SQLite (`conn` is a SQLite connection): two
/// statements, one snapshot, so a write between them cannot show a prospect whose list disagrees
/// with the page.
pub(super) fn list_with_prospects(
    conn: &mut DbConnection,
    listing: &Listing<F>,
    prospect_id: Option<i64>,
) -> ModelResult<(Page<PhoneNumberRow>, Vec<Prospect>)> {
    crate::db::read_snapshot(conn, |conn| {
        let page = PhoneNumberRow::list(conn, listing, prospect_id)?;
        let prospects = Prospect::of_numbers(conn, &page.rows)?;
        Ok((page, prospects))
    })
}
