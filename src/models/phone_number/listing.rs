//! The number listing's query: which column each filter, sort key and cursor value of a
//! [`PhoneNumberField`](crate::schema::PhoneNumberField) is. Written once and compiled for each
//! backend's own connection ([`crate::per_backend!`]); PostgreSQL's build is also what the
//! listing joined with prospects is made of ([`super::postgres`]).

use diesel::prelude::*;

use super::PhoneNumberRow;
use crate::db::schema::phone_numbers::{self, dsl as col};
use crate::db::schema::prospects;
use crate::db::DbConnection;
use crate::jsonapi::cursor::CursorValue;
use crate::jsonapi::query::{FilterOp, FilterTarget, FilterValue};
use crate::jsonapi::schema::{Field as _, Relationship as _};
use crate::models::error::ModelResult;
use crate::models::listing::{
    as_bool, as_i32, as_i64, as_string, as_time, unsortable, wrong_type, Keyed, Listing, Page,
    Predicate,
};
use crate::schema::PhoneNumberField as F;
use crate::{nullable_predicate, order_by, predicate};

/// What number listings read from: numbers left-joined with their prospects, so that one set of
/// predicate builders serves the plain listing and the one that reads each number's prospect in
/// the same statement ([`super::postgres`]). A listing that selects no prospect column pays
/// nothing for the join: both planners drop a left join on a unique key whose columns nobody reads.
type ListSource = diesel::dsl::LeftJoinQuerySource<phone_numbers::table, prospects::table>;

/// How many of a number's last characters its `number_last_seven` column holds.
const LAST_SEVEN: usize = 7;

/// One page of numbers matching `listing`, optionally only those of one prospect.
pub(super) fn page(
    conn: &mut DbConnection,
    listing: &Listing<F>,
    prospect_id: Option<i64>,
) -> ModelResult<Page<PhoneNumberRow>> {
    crate::by_backend!(conn, list(listing, prospect_id))
}

/// The fields a listing cannot sort by, as one pattern: `order` refuses them and a cursor holds no
/// value for them, so a new field must be placed either here or among the sort columns.
macro_rules! unsorted {
    () => {
        F::Digits
            | F::RawNumber
            | F::CountryCode
            | F::Extension
            | F::Source
            | F::FormattedNumber
            | F::LineType
            | F::SmsOptOut
            | F::SmsOptOutChangedAt
            | F::Notes
    };
}

crate::per_backend! {
    pub(super) mod;

    /// A filtered number listing, before its selection.
    type Filtered = diesel::dsl::IntoBoxed<
        'static,
        diesel::dsl::LeftJoin<phone_numbers::table, prospects::table>,
        Db,
    >;

    /// One page of numbers matching `listing`, optionally only those of one prospect.
    pub(super) fn list(
        conn: &mut Conn,
        listing: &Listing<F>,
        prospect_id: Option<i64>,
    ) -> ModelResult<Page<PhoneNumberRow>> {
        crate::list_page!(conn, listing, base(prospect_id), PhoneNumberRow, order, predicate)
    }

    /// The listing's query before the client's filters: every number, or one prospect's.
    pub(crate) fn base(prospect_id: Option<i64>) -> Filtered {
        let query = phone_numbers::table.left_join(prospects::table).into_boxed();
        match prospect_id {
            Some(prospect_id) => query.filter(col::prospect_id.eq(prospect_id)),
            None => query,
        }
    }


    pub(crate) fn predicate(
        target: FilterTarget<F>,
        op: &FilterOp,
    ) -> ModelResult<Predicate<ListSource, Db>> {
        use crate::schema::Relationship;
        let field = match target {
            FilterTarget::Field(field) => field,
            FilterTarget::RelationshipId(Relationship::PhoneNumberProspect) => {
                return Ok(predicate!(col::prospect_id, op, Relationship::PhoneNumberProspect.name(), as_i64))
            }
            FilterTarget::RelationshipId(other) => return Err(wrong_type(other.name())),
        };
        let name = field.name();
        Ok(match field {
            F::Id => predicate!(col::id, op, name, as_i64),
            F::Number => predicate!(col::number, op, name, as_string),
            F::Digits => digits_predicate(op)?,
            F::CountryCode => nullable_predicate!(col::country_code, op, name, as_string),
            F::PhoneType => predicate!(col::phone_type, op, name, as_string),
            F::Order => predicate!(col::position, op, name, as_i32),
            F::Status => predicate!(col::status, op, name, as_string),
            F::StatusChangedAt => predicate!(col::status_changed_at, op, name, as_time),
            F::Source => nullable_predicate!(col::source, op, name, as_string),
            F::LineType => predicate!(col::line_type, op, name, as_string),
            F::SmsOptOut => predicate!(col::sms_opt_out, op, name, as_bool),
            F::CreatedAt => predicate!(col::created_at, op, name, as_time),
            F::UpdatedAt => predicate!(col::updated_at, op, name, as_time),
            F::RawNumber
            | F::Extension
            | F::FormattedNumber
            | F::SmsOptOutChangedAt
            | F::Notes => return Err(wrong_type(name)),
        })
    }

    /// `filter[digits]`: numbers ending with the value's digits are those whose reversed number
    /// starts with them reversed, a range of the `number_reversed` index (`:` follows `9`, and
    /// the reversed number's other characters, digits and its final `+`, sort before it). A value
    /// of seven digits or more also names the number's last seven: an equality, which PostgreSQL
    /// can estimate without the value and so serves from a cached plan (docs/performance.md).
    fn digits_predicate(op: &FilterOp) -> ModelResult<Predicate<ListSource, Db>> {
        let name = F::Digits.name();
        let ends_with = |value: &FilterValue| -> ModelResult<Predicate<ListSource, Db>> {
            let digits = as_string(name, value)?;
            let reversed: String = digits.chars().rev().collect();
            let end = format!("{reversed}:");
            let range = col::number_reversed
                .ge(reversed)
                .and(col::number_reversed.lt(end))
                .nullable();
            let last_seven = digits.char_indices().rev().nth(LAST_SEVEN - 1);
            Ok(match last_seven {
                Some((start, _)) => Box::new(
                    col::number_last_seven
                        .eq(digits[start..].to_owned())
                        .nullable()
                        .and(range),
                ),
                None => Box::new(range),
            })
        };
        match op {
            FilterOp::AnyOf(values) => {
                let mut any: Option<Predicate<ListSource, Db>> = None;
                for value in values {
                    let one = ends_with(value)?;
                    any = Some(match any {
                        None => one,
                        Some(rest) => Box::new(rest.or(one)),
                    });
                }
                any.ok_or_else(|| wrong_type(name))
            }
            FilterOp::IsNull | FilterOp::IsNotNull => {
                Ok(predicate!(col::number_reversed, op, name, as_string))
            }
            FilterOp::Range { .. } | FilterOp::Compare(..) => Err(wrong_type(name)),
        }
    }

    pub(crate) fn order(query: Filtered, field: F, descending: bool) -> ModelResult<Filtered> {
        Ok(match field {
            F::Id => order_by!(query, col::id, descending),
            F::Number => order_by!(query, col::number, descending),
            F::PhoneType => order_by!(query, col::phone_type, descending),
            F::Order => order_by!(query, col::position, descending),
            F::Status => order_by!(query, col::status, descending),
            F::StatusChangedAt => order_by!(query, col::status_changed_at, descending),
            F::CreatedAt => order_by!(query, col::created_at, descending),
            F::UpdatedAt => order_by!(query, col::updated_at, descending),
            unsorted!() => return Err(unsortable(field)),
        })
    }
}

impl Keyed<F> for PhoneNumberRow {
    /// The value of a sort key of this row, for its cursor (`Null` for fields that do not sort).
    fn sort_value(&self, field: F) -> CursorValue {
        match field {
            F::Id => CursorValue::Int(self.id),
            F::Number => CursorValue::Str(self.number.clone()),
            F::PhoneType => CursorValue::Str(self.phone_type.clone()),
            F::Order => CursorValue::Int(i64::from(self.position)),
            F::Status => CursorValue::Str(self.status.clone()),
            F::StatusChangedAt => CursorValue::DateTime(self.status_changed_at),
            F::CreatedAt => CursorValue::DateTime(self.created_at),
            F::UpdatedAt => CursorValue::DateTime(self.updated_at),
            unsorted!() => CursorValue::Null,
        }
    }
    fn id(&self) -> i64 {
        self.id
    }
}
