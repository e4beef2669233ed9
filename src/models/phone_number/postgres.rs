//! The number listing with its prospects on PostgreSQL: the prospects come in the page's own
//! statement, a left join, because each statement there is a round trip (docs/performance.md,
//! "Included prospects, per backend").

use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::result::Error as DieselError;

use super::listing::pg;
use super::{InsertRow, PhoneNumberRow};
use crate::models::error::ModelResult;
use crate::models::listing::{Listing, Page};
use crate::models::prospect::{PhoneList, Prospect, RawProspect};
use crate::schema::PhoneNumberField as F;

/// [`PhoneNumberRow::list_with_prospects`] on PostgreSQL: one statement, one snapshot.
pub(super) fn list_with_prospects(
    conn: &mut PgConnection,
    listing: &Listing<F>,
    prospect_id: Option<i64>,
) -> ModelResult<(Page<PhoneNumberRow>, Vec<Prospect>)> {
    Ok(list_joined(conn, listing, prospect_id)?.split()?)
}

/// A number and its prospect, read in one statement.
#[derive(Queryable, Selectable)]
#[diesel(table_name = crate::db::schema::phone_numbers)]
struct NumberWithProspect {
    #[diesel(embed)]
    number: PhoneNumberRow,
    /// Always there (the number's prospect is a foreign key); an `Option` because the listing's
    /// join is a left join. Its list stays text until [`Page::split`] keeps it: the join repeats a
    /// prospect with each of its numbers, and only the first copy is parsed.
    #[diesel(embed)]
    prospect: Option<RawProspect>,
}

/// [`PhoneNumberRow::list`] with each number's prospect, in the same statement: the listing's
/// PostgreSQL build, selecting the prospect columns of the join it already reads from.
fn list_joined(
    conn: &mut PgConnection,
    listing: &Listing<F>,
    prospect_id: Option<i64>,
) -> ModelResult<Page<NumberWithProspect>> {
    let base = || pg::base(prospect_id);
    crate::list_page!(
        conn,
        listing,
        base(),
        NumberWithProspect,
        pg::order,
        pg::predicate
    )
}

impl Page<NumberWithProspect> {
    /// The page's numbers, and their prospects once each in first-seen order (each prospect's list
    /// parsed once, however many of its numbers the page shows).
    fn split(self) -> QueryResult<(Page<PhoneNumberRow>, Vec<Prospect>)> {
        let mut seen = std::collections::HashSet::new();
        let mut prospects = Vec::new();
        let mut rows = Vec::with_capacity(self.rows.len());
        for row in self.rows {
            if let Some(prospect) = row.prospect.filter(|prospect| seen.insert(prospect.id)) {
                let prospect = prospect
                    .parse()
                    .map_err(|error| DieselError::DeserializationError(Box::new(error)))?;
                prospects.push(prospect);
            }
            rows.push(row.number);
        }
        let page = Page {
            rows,
            more: self.more,
            direction: self.direction,
            total: self.total,
        };
        Ok((page, prospects))
    }
}

/// Stores each prospect's list, version and `updatedAt` as `prospects` give them, in one
/// statement (one round trip for a batch's lists).
pub(super) fn store_lists(conn: &mut PgConnection, prospects: &[Prospect]) -> QueryResult<()> {
    use diesel::sql_types::{Array, BigInt, Text, Timestamp};
    let ids: Vec<i64> = prospects.iter().map(|prospect| prospect.id).collect();
    let phones: Vec<String> = (prospects.iter())
        .map(|prospect| PhoneList::to_json(&prospect.phones))
        .collect();
    let versions: Vec<i64> = prospects.iter().map(|prospect| prospect.version).collect();
    let times: Vec<chrono::NaiveDateTime> = prospects
        .iter()
        .map(|prospect| prospect.updated_at)
        .collect();
    diesel::sql_query(
        "UPDATE prospects AS p SET phones = v.phones, version = v.version, \
         updated_at = v.updated_at FROM unnest($1::bigint[], $2::text[], $3::bigint[], \
         $4::timestamp[]) AS v(id, phones, version, updated_at) WHERE p.id = v.id",
    )
    .bind::<Array<BigInt>, _>(ids)
    .bind::<Array<Text>, _>(phones)
    .bind::<Array<BigInt>, _>(versions)
    .bind::<Array<Timestamp>, _>(times)
    .execute(conn)
    .map(drop)
}

/// Inserts `rows` in one statement whose parameters are one array a column: PostgreSQL parses
/// and binds a multi-row `VALUES` of a thousand rows (18 parameters each) for longer than it
/// takes to insert them.
pub(super) fn insert_numbers(
    conn: &mut PgConnection,
    rows: &[InsertRow<'_>],
) -> QueryResult<Vec<PhoneNumberRow>> {
    use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Text, Timestamp};
    diesel::sql_query(
        "INSERT INTO phone_numbers (prospect_id, number, raw_number, country_code, extension, \
         phone_type, position, status, status_changed_at, source, formatted_number, line_type, \
         sms_opt_out, sms_opt_out_changed_at, notes, version, created_at, updated_at) \
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], \
         $6::text[], $7::int[], $8::text[], $9::timestamp[], $10::text[], $11::text[], \
         $12::text[], $13::bool[], $14::timestamp[], $15::text[], $16::bigint[], \
         $17::timestamp[], $18::timestamp[]) \
         RETURNING id, prospect_id, number, raw_number, country_code, extension, phone_type, \
         position, status, status_changed_at, source, formatted_number, line_type, sms_opt_out, \
         sms_opt_out_changed_at, notes, version, created_at, updated_at",
    )
    .bind::<Array<BigInt>, _>(rows.iter().map(|r| r.prospect_id).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|r| r.number).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|r| r.raw_number).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(rows.iter().map(|r| r.country_code).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|r| r.extension).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|r| r.phone_type).collect::<Vec<_>>())
    .bind::<Array<Integer>, _>(rows.iter().map(|r| r.position).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|r| r.status).collect::<Vec<_>>())
    .bind::<Array<Timestamp>, _>(rows.iter().map(|r| r.status_changed_at).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(rows.iter().map(|r| r.source).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|r| r.formatted_number).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|r| r.line_type).collect::<Vec<_>>())
    .bind::<Array<Bool>, _>(rows.iter().map(|r| r.sms_opt_out).collect::<Vec<_>>())
    .bind::<Array<Nullable<Timestamp>>, _>(
        rows.iter()
            .map(|r| r.sms_opt_out_changed_at)
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Nullable<Text>>, _>(rows.iter().map(|r| r.notes).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(rows.iter().map(|r| r.version).collect::<Vec<_>>())
    .bind::<Array<Timestamp>, _>(rows.iter().map(|r| r.created_at).collect::<Vec<_>>())
    .bind::<Array<Timestamp>, _>(rows.iter().map(|r| r.updated_at).collect::<Vec<_>>())
    .load(conn)
}
