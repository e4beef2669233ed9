//! The SQL side of collection queries: typed filters become `WHERE` predicates, sorts become
//! `ORDER BY` with an `id` tie-break, and cursors become keyset predicates (`(k1, id) > (v1, i1)`
//! spelled out per key), so a deep page costs the same as the first. The query *language* lives in
//! [`crate::jsonapi::query`]; each model maps its field names to columns with [`predicate!`] and
//! [`order_by!`].

use diesel::backend::Backend;
use diesel::expression::BoxableExpression;
use diesel::query_dsl::methods::ThenOrderDsl;
use diesel::sql_types::{Bool, Nullable};

use super::error::ModelError;
use crate::jsonapi::cursor::{Cursor, CursorValue};
use crate::jsonapi::query::{CompareOp, Filter, FilterValue, SortKey};
use crate::jsonapi::schema::Field;

/// A boxed `WHERE` predicate on table (or join) `T` for backend `DB`.
pub type Predicate<T, DB> = Box<dyn BoxableExpression<T, DB, SqlType = Nullable<Bool>>>;

/// Builds one column comparison for [`keyset`].
pub type Compare<'a, F, T, DB> =
    dyn Fn(F, CompareOp, &FilterValue) -> Result<Predicate<T, DB>, ModelError> + 'a;

/// A row that can stand at a cursor position: its values of `F`'s sort keys, and its id.
pub trait Keyed<F: Field> {
    fn id(&self) -> i64;

    /// The row's value of sort key `field` (`Null` for fields that do not sort); by default that
    /// of a type that sorts by `id` only.
    fn sort_value(&self, field: F) -> CursorValue {
        if field == F::ID {
            CursorValue::Int(self.id())
        } else {
            CursorValue::Null
        }
    }
}

/// Which way a page is read from its cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `page[after]` or the first page.
    Forward,
    /// `page[before]`: rows are read in reverse order and flipped back.
    Backward,
}

/// Everything a model needs to list one page of `F`'s type.
#[derive(Clone, Debug)]
pub struct Listing<F: Field> {
    pub filters: Vec<Filter<F>>,
    /// The client's sort keys followed by the `id` tie-break (unless `id` is already a key).
    pub keys: Vec<SortKey<F>>,
    pub size: u32,
    pub cursor: Option<(Direction, Cursor)>,
    pub count: bool,
}

impl<F: Field> Listing<F> {
    pub fn direction(&self) -> Direction {
        self.cursor
            .as_ref()
            .map_or(Direction::Forward, |(direction, _)| *direction)
    }

    /// Sort keys with the `id` tie-break appended.
    pub fn keys_with_tiebreak(sort: &[SortKey<F>]) -> Vec<SortKey<F>> {
        let mut keys = sort.to_vec();
        if !keys.iter().any(|key| key.field == F::ID) {
            keys.push(SortKey {
                field: F::ID,
                descending: false,
            });
        }
        keys
    }
}

/// One page of rows, in the requested order.
#[derive(Debug)]
pub struct Page<T> {
    pub rows: Vec<T>,
    /// Whether more rows lie beyond this page in the direction it was read.
    pub more: bool,
    pub direction: Direction,
    /// `meta.count`, when asked for.
    pub total: Option<i64>,
}

impl<T> Page<T> {
    /// The same page with each row turned into `U`.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            rows: self.rows.into_iter().map(f).collect(),
            more: self.more,
            direction: self.direction,
            total: self.total,
        }
    }

    /// Trims the look-ahead row and restores the requested order.
    pub fn from_rows<F: Field>(mut rows: Vec<T>, listing: &Listing<F>, total: Option<i64>) -> Self {
        let more = rows.len() > listing.size as usize;
        rows.truncate(listing.size as usize);
        let direction = listing.direction();
        if direction == Direction::Backward {
            rows.reverse();
        }
        Page {
            rows,
            more,
            direction,
            total,
        }
    }
}

/// A filter or cursor value of the wrong type for its column, or a field the model cannot filter
/// on: the parser types values per field and admits only filterable ones, so reaching this is a
/// mismatch between the declarations and the model.
pub fn wrong_type(field: &str) -> ModelError {
    ModelError::Unsupported(format!("filter `{field}` with this value"))
}

/// A sort key the model cannot order by: the parser admits only sortable fields, so reaching this
/// is a mismatch between the declarations and the model, not a client error.
pub fn unsortable<F: Field>(field: F) -> ModelError {
    ModelError::Unsupported(format!("sort {} by `{}`", F::TYPE, field.name()))
}

/// The `order` of a type whose only sort key is its id (`id`, its column): its schema declares no
/// other field sortable, so the query parser refuses the others before a listing gets here.
pub fn by_id_only<F: Field, Q, Id>(
    query: Q,
    field: F,
    descending: bool,
    id: Id,
) -> Result<Q, ModelError>
where
    Id: diesel::ExpressionMethods,
    Q: ThenOrderDsl<diesel::dsl::Desc<Id>, Output = Q>
        + ThenOrderDsl<diesel::dsl::Asc<Id>, Output = Q>,
{
    if field != F::ID {
        return Err(unsortable(field));
    }
    Ok(if descending {
        <Q as ThenOrderDsl<_>>::then_order_by(query, id.desc())
    } else {
        <Q as ThenOrderDsl<_>>::then_order_by(query, id.asc())
    })
}

pub fn as_i64(field: &str, value: &FilterValue) -> Result<i64, ModelError> {
    match value {
        FilterValue::Int(number) => Ok(*number),
        _ => Err(wrong_type(field)),
    }
}

pub fn as_i32(field: &str, value: &FilterValue) -> Result<i32, ModelError> {
    // Out-of-range integers can match no 32-bit column value; saturating keeps range semantics.
    as_i64(field, value).map(|number| number.clamp(i32::MIN as i64, i32::MAX as i64) as i32)
}

pub fn as_string(field: &str, value: &FilterValue) -> Result<String, ModelError> {
    match value {
        FilterValue::Str(text) => Ok(text.clone()),
        _ => Err(wrong_type(field)),
    }
}

/// A boolean filter value (the parser admits only `true` and `false`).
pub fn as_bool(field: &str, value: &FilterValue) -> Result<bool, ModelError> {
    match value {
        FilterValue::Str(text) if text == "true" => Ok(true),
        FilterValue::Str(text) if text == "false" => Ok(false),
        _ => Err(wrong_type(field)),
    }
}

pub fn as_time(field: &str, value: &FilterValue) -> Result<chrono::NaiveDateTime, ModelError> {
    match value {
        FilterValue::DateTime(time) => Ok(*time),
        _ => Err(wrong_type(field)),
    }
}

/// A cursor value as a filter value, to compare a column with it.
pub fn cursor_as_filter(value: &CursorValue) -> FilterValue {
    match value {
        CursorValue::Int(number) => FilterValue::Int(*number),
        CursorValue::Str(text) => FilterValue::Str(text.clone()),
        CursorValue::DateTime(time) => FilterValue::DateTime(*time),
        CursorValue::Null => FilterValue::Str(String::new()),
    }
}

/// Builds a predicate on a NOT NULL column (or a nullable one wrapped in `assume_not_null`/coalesce)
/// from a filter operation; `$convert` turns a filter value into the column's Rust type.
#[macro_export]
macro_rules! predicate {
    ($column:expr, $op:expr, $field:expr, $convert:path) => {{
        use diesel::dsl::not;
        use diesel::prelude::*;
        use $crate::jsonapi::query::{CompareOp, FilterOp};
        use $crate::models::listing::Predicate;
        let field: &str = $field;
        let predicate: Predicate<_, _> = match $op {
            // One value (`filter[prospect][id]=7`, the common case) is `=`, not `IN`: diesel
            // never caches a statement with `IN` on SQLite (its bind count varies), and PostgreSQL
            // plans `= ANY($1)` without knowing the array has one element, so it would sort that
            // prospect's rows instead of reading them in order from the `(prospect_id, id)` index.
            FilterOp::AnyOf(values) if values.len() == 1 => {
                Box::new($column.eq($convert(field, &values[0])?).nullable())
            }
            FilterOp::AnyOf(values) => {
                let values = values
                    .iter()
                    .map(|value| $convert(field, value))
                    .collect::<Result<Vec<_>, _>>()?;
                Box::new($column.eq_any(values).nullable())
            }
            FilterOp::Range { low, high } => match (low, high) {
                (Some(low), Some(high)) => Box::new(
                    $column
                        .ge($convert(field, low)?)
                        .and($column.le($convert(field, high)?))
                        .nullable(),
                ),
                (Some(low), None) => Box::new($column.ge($convert(field, low)?).nullable()),
                (None, Some(high)) => Box::new($column.le($convert(field, high)?).nullable()),
                (None, None) => Box::new($column.eq($column).nullable()),
            },
            FilterOp::Compare(op, value) => {
                let value = $convert(field, value)?;
                match op {
                    CompareOp::Gt => Box::new($column.gt(value).nullable()),
                    CompareOp::Gte => Box::new($column.ge(value).nullable()),
                    CompareOp::Lt => Box::new($column.lt(value).nullable()),
                    CompareOp::Lte => Box::new($column.le(value).nullable()),
                }
            }
            // A NOT NULL column is never null.
            FilterOp::IsNull => Box::new(not($column.eq($column)).nullable()),
            FilterOp::IsNotNull => Box::new($column.eq($column).nullable()),
        };
        predicate
    }};
}

/// Like [`predicate!`] for a nullable column: `__null__`/`__notnull__` test the column itself, every
/// other operation compares its non-null values.
#[macro_export]
macro_rules! nullable_predicate {
    ($column:expr, $op:expr, $field:expr, $convert:path) => {{
        use diesel::prelude::*;
        use $crate::jsonapi::query::FilterOp;
        use $crate::models::listing::Predicate;
        let predicate: Predicate<_, _> = match $op {
            FilterOp::IsNull => Box::new($column.is_null().nullable()),
            FilterOp::IsNotNull => Box::new($column.is_not_null().nullable()),
            other => $crate::predicate!($column.assume_not_null(), other, $field, $convert),
        };
        predicate
    }};
}

/// One page of `$row`s: `$base` builds the boxed query before the client's filters (the
/// model's own restrictions, such as one prospect's numbers), which `$predicate` turns into `WHERE`
/// clauses and, unless a `$compare(field, op, value)` is given, keyset comparisons (a sort key
/// compares like a filter on its field when its column is NOT NULL); `$order` appends one sort
/// key. The filtered query is built once more for `count=true`. The selection comes last, so that `$order` and `$predicate` work on the
/// one filtered query type whatever a listing selects from it. `$conn` is a backend's own
/// connection, the one the query was boxed for.
/// A macro rather than a generic function: diesel's boxed-query types differ per table and
/// backend, and the trait bounds a generic version needs would say less than these lines.
#[macro_export]
macro_rules! list_page {
    ($conn:expr, $listing:expr, $base:expr, $row:ty, $order:path, $predicate:path) => {
        $crate::list_page!(
            $conn,
            $listing,
            $base,
            $row,
            $order,
            $predicate,
            |field, op, value| {
                use $crate::jsonapi::query::{FilterOp, FilterTarget};
                $predicate(
                    FilterTarget::Field(field),
                    &FilterOp::Compare(op, Clone::clone(value)),
                )
            }
        )
    };
    ($conn:expr, $listing:expr, $base:expr, $row:ty, $order:path, $predicate:path, $compare:expr) => {{
        use diesel::prelude::*;
        use $crate::jsonapi::query::{CompareOp, FilterValue};
        use $crate::models::listing::{keyset, Direction, Page};
        let listing = $listing;
        let filtered = || -> $crate::models::error::ModelResult<_> {
            let mut query = $base;
            for filter in &listing.filters {
                query = query.filter($predicate(filter.target, &filter.op)?);
            }
            Ok(query)
        };
        let total = if listing.count {
            Some(filtered()?.count().get_result($conn)?)
        } else {
            None
        };
        let direction = listing.direction();
        let mut query = filtered()?;
        for key in &listing.keys {
            query = $order(
                query,
                key.field,
                key.descending != (direction == Direction::Backward),
            )?;
        }
        if let Some((_, cursor)) = &listing.cursor {
            let compare = |field, op: CompareOp, value: &FilterValue| $compare(field, op, value);
            query = query.filter(keyset(&listing.keys, cursor, direction, &compare)?);
        }
        let rows = query
            .select(<$row>::as_select())
            .limit(i64::from(listing.size) + 1)
            .load($conn)?;
        Ok(Page::from_rows(rows, listing, total))
    }};
}

/// Appends `ORDER BY $column ASC|DESC` to a boxed query.
#[macro_export]
macro_rules! order_by {
    ($query:expr, $column:expr, $descending:expr) => {{
        use diesel::prelude::*;
        if $descending {
            $query.then_order_by($column.desc())
        } else {
            $query.then_order_by($column.asc())
        }
    }};
}

/// The keyset predicate "strictly after the cursor row" for `keys` read in `direction`:
/// `k1 > v1 OR (k1 = v1 AND (k2 > v2 OR (k2 = v2 AND ...)))`, with `>` turned into `<` for descending
/// keys (and both flipped when reading backward); an inclusive cursor also matches its own row (the
/// last key compares with `>=`). `compare(field, op, value)` builds one column comparison.
pub fn keyset<F: Field, T: 'static, DB: Backend + 'static>(
    keys: &[SortKey<F>],
    cursor: &Cursor,
    direction: Direction,
    compare: &Compare<'_, F, T, DB>,
) -> Result<Predicate<T, DB>, ModelError>
where
    // What `k >= v AND (k > v OR rest)` needs to be boxed again; diesel implements it for every
    // backend, but only a bound can say so to a generic function.
    diesel::dsl::And<Predicate<T, DB>, diesel::dsl::Or<Predicate<T, DB>, Predicate<T, DB>>>:
        BoxableExpression<T, DB, SqlType = Nullable<Bool>>,
{
    use diesel::BoolExpressionMethods;
    let mut values: Vec<FilterValue> = cursor.values.iter().map(cursor_as_filter).collect();
    values.resize(keys.len(), FilterValue::Int(cursor.id));
    // The id tie-break, when appended, takes the cursor's id.
    if let Some(position) = keys.iter().position(|key| key.field == F::ID) {
        values[position] = FilterValue::Int(cursor.id);
    }
    let mut predicate: Option<Predicate<T, DB>> = None;
    for (key, value) in keys.iter().zip(values.iter()).rev() {
        let ascending = key.descending == (direction == Direction::Backward);
        let last = predicate.is_none();
        let strictly = compare(
            key.field,
            match (ascending, last && cursor.inclusive) {
                (true, false) => CompareOp::Gt,
                (true, true) => CompareOp::Gte,
                (false, false) => CompareOp::Lt,
                (false, true) => CompareOp::Lte,
            },
            value,
        )?;
        predicate = Some(match predicate {
            None => strictly,
            Some(rest) => {
                let at_least = compare(
                    key.field,
                    if ascending {
                        CompareOp::Gte
                    } else {
                        CompareOp::Lte
                    },
                    value,
                )?;
                // `k >= v AND (k > v OR rest)` equals `k > v OR (k = v AND rest)` and lets the
                // database use the leading key's index range.
                Box::new(at_least.and(strictly.or(rest)))
            }
        });
    }
    predicate.ok_or_else(|| ModelError::Unsupported("page with a keyset of no keys".into()))
}
