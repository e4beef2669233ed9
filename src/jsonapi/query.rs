//! Strict parser of a request's raw query string into a typed [`Query`] (API.md sections 4 and 9).
//!
//! The resources are described as static data ([`ResourceSpec`]); [`parse`] checks every parameter
//! against them and answers either a fully typed [`Query`] or the first [`QueryError`] (a 400 whose
//! `parameter` becomes `source.parameter`).
//!
//! # Grammar
//!
//! The parameter families are `include`, `fields[TYPE]`, `sort`, `page[size]`, `page[after]`,
//! `page[before]`, `count`, `newFilterSyntax`, `provideAuthorizationMeta` and `filter[...]`; the
//! whole grammar is the one table in `Family::classify`. Anything else is a 400 naming the
//! parameter.
//!
//! # Choices where the contract leaves one
//!
//! - **Decoding.** The query is split on `&`, each piece on its first `=` (a piece without `=` has
//!   the empty value, empty pieces such as `a=1&&b=2` are skipped). Names and values are
//!   percent-decoded as `application/x-www-form-urlencoded`: `+` is a space, `%2B` is a plus.
//!   Brackets may come raw or percent-encoded; errors name the parameter with its brackets decoded
//!   (`filter[foo]`). Invalid UTF-8 is a 400.
//! - **A literal `+` in phone numbers and datetimes.** Clients often send
//!   `filter[number]=+18889387356` or `filter[createdAt][gte]=2026-01-01T00:00:00+02:00` without
//!   encoding the `+`. For a `PhoneNumber` value (each list item separately), a `+` that arrived
//!   literally at the very start of the item is restored as `+` (everywhere else it stays a space,
//!   which the normaliser ignores, so `(888)+938-7356` from a form encoder still works). For a
//!   `DateTime` value, where a space is never valid, the value is read with literal `+` kept when
//!   the form-decoded reading is not RFC 3339.
//! - **Repeats.** An exact repeat (same decoded name, same decoded value) counts once; the same
//!   name with different values is a 400 — except `filter[f][]` lists under `newFilterSyntax=true`,
//!   whose distinct values accumulate. `newFilterSyntax` may come anywhere: it is read in a first
//!   pass.
//! - **`include=`** (entirely empty) asks for no includes: `Some(vec![])`. **`fields[TYPE]=`** is
//!   the empty fieldset (JSON:API: no fields). An empty item anywhere in a list (`a,,b`, `a,`) is a
//!   400. `id` and `type` are not fields, so `fields[TYPE]=id` is a 400.
//! - **`sort`**: an unknown or non-sortable field is the profile's unsupported-sort error; an empty
//!   item or a field named twice (`sort=id,-id`) is a plain 400.
//! - **`page[size]`**: ASCII digits only (no sign), not zero; leading zeros are harmless (`050` =
//!   50).
//! - **`__null__` / `__notnull__`** are accepted on every field, nullable or not (on a non-nullable
//!   field they simply match nothing / everything). They must be the whole value: inside a list, a
//!   range or a comparison they are a 400.
//! - **Ranges** (legacy syntax, `a..b`) must be the whole value (`1..3,5` is a 400); `neginf` may
//!   only open the low end and `inf` the high end. A range whose low end is above its high end is
//!   accepted and matches nothing. Ranges and comparisons apply to `Id`, `Int` and `DateTime`
//!   fields only.
//! - **`newFilterSyntax=true`**: `filter[f]=v` is one literal value, `filter[f][]=v` a list item,
//!   `filter[f][gt|gte|lt|lte]=v` a comparison; `,` and `..` are literal. `filter[f]=a` beside
//!   `filter[f][]=b` gives two filters, combined with AND like all filters. Without it, bracket
//!   forms are a 400.
//! - Values are deduplicated inside an any-of list, so re-sent lists keep the same cursor binding.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, NaiveDateTime};
use percent_encoding::percent_decode_str;
use serde_json::{json, Value as Json};

/// Page size when `page[size]` is absent.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest accepted `page[size]`.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// Filter value matching a null field.
pub const NULL_MARKER: &str = "__null__";
/// Filter value matching a non-null field.
pub const NOT_NULL_MARKER: &str = "__notnull__";

// -----------------------------------------------------------------------------------------------
// Schema
// -----------------------------------------------------------------------------------------------

/// The type of a field, which decides how filter values are parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A resource id: a positive `i64`.
    Id,
    /// An `i64`.
    Int,
    /// An RFC 3339 timestamp, compared in UTC.
    DateTime,
    /// A string, matched exactly and case-sensitively.
    Str,
    /// A string out of a fixed set of names (exact case).
    Enum(&'static [&'static str]),
    /// A phone number; filter values go through the normaliser and compare as E.164.
    PhoneNumber,
}

impl FieldKind {
    /// Whether ranges and comparisons apply (`Id`, `Int`, `DateTime`).
    pub fn is_ordered(self) -> bool {
        matches!(self, Self::Id | Self::Int | Self::DateTime)
    }
}

/// One attribute of a resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// The attribute's name on the wire.
    pub name: &'static str,
    /// Its type.
    pub kind: FieldKind,
    /// Whether `filter[name]` is allowed.
    pub filterable: bool,
    /// Whether `sort=name` is allowed.
    pub sortable: bool,
    /// Whether the attribute may be null.
    pub nullable: bool,
}

/// One relationship of a resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelSpec {
    /// The relationship's name on the wire.
    pub name: &'static str,
    /// The resource type it points at.
    pub target: &'static str,
    /// Whether it is to-many.
    pub to_many: bool,
    /// Whether `filter[name][id]` is allowed.
    pub filterable_by_id: bool,
}

/// A resource type: its attributes and relationships. `id` is implicit (see [`ID_FIELD`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceSpec {
    /// The JSON:API type name (`phoneNumber`).
    pub type_name: &'static str,
    /// Its attributes.
    pub attributes: &'static [FieldSpec],
    /// Its relationships.
    pub relationships: &'static [RelSpec],
}

/// The implicit `id` field every type has: filterable, sortable, of kind [`FieldKind::Id`].
pub static ID_FIELD: FieldSpec = FieldSpec {
    name: "id",
    kind: FieldKind::Id,
    filterable: true,
    sortable: true,
    nullable: false,
};

impl ResourceSpec {
    /// The attribute called `name`, if any.
    pub fn attribute(&self, name: &str) -> Option<&'static FieldSpec> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The relationship called `name`, if any.
    pub fn relationship(&self, name: &str) -> Option<&'static RelSpec> {
        self.relationships.iter().find(|r| r.name == name)
    }

    /// The attribute called `name`, or [`ID_FIELD`] for `id`.
    pub fn field(&self, name: &str) -> Option<&'static FieldSpec> {
        if name == ID_FIELD.name {
            Some(&ID_FIELD)
        } else {
            self.attribute(name)
        }
    }

    /// `id` and the attributes, in declaration order.
    pub fn fields(&self) -> impl Iterator<Item = &'static FieldSpec> {
        std::iter::once(&ID_FIELD).chain(self.attributes.iter())
    }
}

// -----------------------------------------------------------------------------------------------
// Errors
// -----------------------------------------------------------------------------------------------

/// Which 400 a [`QueryError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryErrorKind {
    /// A plain `invalidQueryParameter`.
    Invalid,
    /// The cursor profile's unsupported-sort error.
    UnsupportedSort,
    /// The cursor profile's max-size-exceeded error (`meta.page.maxSize = max`).
    MaxPageSizeExceeded {
        /// The largest page size allowed.
        max: u32,
    },
    /// The cursor profile's range-pagination-not-supported error.
    RangePaginationNotSupported,
}

impl QueryErrorKind {
    /// The cursor-pagination profile's error type URI (for `links.type`), if this is one of its
    /// errors.
    pub fn profile_error_type(self) -> Option<&'static str> {
        match self {
            Self::Invalid => None,
            Self::UnsupportedSort => Some("https://jsonapi.org/profiles/ethanresnick/cursor-pagination/unsupported-sort"),
            Self::MaxPageSizeExceeded { .. } => {
                Some("https://jsonapi.org/profiles/ethanresnick/cursor-pagination/max-size-exceeded")
            }
            Self::RangePaginationNotSupported => {
                Some("https://jsonapi.org/profiles/ethanresnick/cursor-pagination/range-pagination-not-supported")
            }
        }
    }
}

/// A rejected query parameter: always a 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// The parameter as the client wrote it, brackets decoded (`filter[foo]`): `source.parameter`.
    pub parameter: String,
    /// A human-readable explanation: `detail`.
    pub detail: String,
    /// Which error it is.
    pub kind: QueryErrorKind,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "query parameter `{}`: {}", self.parameter, self.detail)
    }
}

impl std::error::Error for QueryError {}

impl QueryError {
    /// A plain 400 `invalidQueryParameter` at `parameter`.
    pub fn invalid(parameter: impl Into<String>, detail: impl Into<String>) -> Self {
        QueryError {
            parameter: parameter.into(),
            detail: detail.into(),
            kind: QueryErrorKind::Invalid,
        }
    }
}

/// A failure inside one parameter, before the parameter's name is attached.
struct Fail {
    kind: QueryErrorKind,
    detail: String,
}

impl From<String> for Fail {
    fn from(detail: String) -> Self {
        Fail {
            kind: QueryErrorKind::Invalid,
            detail,
        }
    }
}

impl Fail {
    fn at(self, parameter: &str) -> QueryError {
        QueryError {
            parameter: parameter.to_owned(),
            detail: self.detail,
            kind: self.kind,
        }
    }
}

type Res<T> = Result<T, Fail>;

// -----------------------------------------------------------------------------------------------
// The typed query
// -----------------------------------------------------------------------------------------------

/// Which kind of GET the query belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// A collection or to-many related endpoint: every family is allowed.
    Collection,
    /// One resource or a to-one related resource: only `include`, `fields[..]` and
    /// `provideAuthorizationMeta`.
    Single,
    /// A DELETE or a relationship endpoint (`/…/relationships/…`), whose response has no resource
    /// to shape: no query parameter at all.
    Bare,
}

/// What [`parse`] checks the query against.
pub struct Options<'a> {
    /// The kind of endpoint.
    pub endpoint: Endpoint,
    /// The primary resource type of the response.
    pub resource: &'static ResourceSpec,
    /// Every resource type (for `fields[TYPE]` and include paths).
    pub all: &'static [&'static ResourceSpec],
    /// Normalises a `PhoneNumber` filter value to E.164; `Err` carries a reason.
    pub normalize_phone: &'a dyn Fn(&str) -> Result<String, String>,
}

/// One sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    /// `id` or a sortable attribute.
    pub field: &'static str,
    /// `-field`.
    pub descending: bool,
}

/// The cursor-pagination parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageParams {
    /// `page[size]`, default [`DEFAULT_PAGE_SIZE`], at most [`MAX_PAGE_SIZE`].
    pub size: u32,
    /// `page[after]`, the raw cursor text (decoded by `cursor.rs`).
    pub after: Option<String>,
    /// `page[before]`, the raw cursor text.
    pub before: Option<String>,
}

impl Default for PageParams {
    fn default() -> Self {
        PageParams {
            size: DEFAULT_PAGE_SIZE,
            after: None,
            before: None,
        }
    }
}

/// What a filter applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterTarget {
    /// An attribute (`filter[status]`).
    Attribute,
    /// The resource's own id (`filter[id]`).
    Id,
    /// The id of a to-one relationship (`filter[prospect][id]`).
    RelationshipId,
}

/// A comparison operator of `newFilterSyntax`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `[gt]`
    Gt,
    /// `[gte]`
    Gte,
    /// `[lt]`
    Lt,
    /// `[lte]`
    Lte,
}

impl CompareOp {
    /// The operator's name in `filter[f][name]`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gt => "gt",
            Self::Gte => "gte",
            Self::Lt => "lt",
            Self::Lte => "lte",
        }
    }
}

/// A typed filter value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterValue {
    /// For `Id` and `Int` fields.
    Int(i64),
    /// For `DateTime` fields, in UTC.
    DateTime(NaiveDateTime),
    /// For `Str`, `Enum` and `PhoneNumber` (normalised) fields.
    Str(String),
}

/// What a filter asks of its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterOp {
    /// Equal to one of the values (never empty, no duplicates).
    AnyOf(Vec<FilterValue>),
    /// Inclusive range; `None` is an open end (`neginf` / `inf`).
    Range {
        /// Lowest value matched, if bounded.
        low: Option<FilterValue>,
        /// Highest value matched, if bounded.
        high: Option<FilterValue>,
    },
    /// A comparison with a value.
    Compare(CompareOp, FilterValue),
    /// `__null__`
    IsNull,
    /// `__notnull__`
    IsNotNull,
}

/// One filter; all filters of a query AND together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// Attribute name, `id`, or the relationship name for [`FilterTarget::RelationshipId`].
    pub field: &'static str,
    /// What `field` names.
    pub target: FilterTarget,
    /// The condition.
    pub op: FilterOp,
}

/// A parsed, validated query string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    /// `None`: not asked; `Some(vec![])`: `include=`. Relationship-name chains, deduplicated,
    /// sorted, with every prefix present (`prospect.owner` implies `prospect`).
    pub include: Option<Vec<Vec<&'static str>>>,
    /// Sparse fieldsets: type name → attribute and relationship names.
    pub fields: BTreeMap<&'static str, BTreeSet<&'static str>>,
    /// Sort keys in order, without duplicates; empty means the default (`id` ascending).
    pub sort: Vec<SortKey>,
    /// Pagination.
    pub page: PageParams,
    /// `count=true`.
    pub count: bool,
    /// Filters, in the order of the query string.
    pub filters: Vec<Filter>,
    /// `provideAuthorizationMeta=true`.
    pub authorization_meta: bool,
}

impl Query {
    /// A canonical, stable string of everything a cursor depends on: the resource type, the parent
    /// of a related endpoint (`Some(("prospect", 7))`), the sort and the filters (in a canonical
    /// order, so reordered parameters or re-sent lists bind the same). Page, include, fields and
    /// count are left out.
    pub fn binding(&self, type_name: &str, parent: Option<(&str, i64)>) -> String {
        let sort: Vec<String> = self
            .sort
            .iter()
            .map(|k| format!("{}{}", if k.descending { "-" } else { "" }, k.field))
            .collect();
        let mut filters: Vec<String> = self
            .filters
            .iter()
            .map(|f| f.canonical().to_string())
            .collect();
        filters.sort();
        filters.dedup();
        json!(["phonebook/binding/1", type_name, parent, sort, filters]).to_string()
    }
}

impl Filter {
    fn canonical(&self) -> Json {
        let target = match self.target {
            FilterTarget::Attribute => "attr",
            FilterTarget::Id => "id",
            FilterTarget::RelationshipId => "rel",
        };
        let op = match &self.op {
            FilterOp::AnyOf(values) => {
                let mut values: Vec<String> =
                    values.iter().map(|v| v.canonical().to_string()).collect();
                values.sort();
                values.dedup();
                json!(["in", values])
            }
            FilterOp::Range { low, high } => {
                json!([
                    "range",
                    low.as_ref().map(FilterValue::canonical),
                    high.as_ref().map(FilterValue::canonical)
                ])
            }
            FilterOp::Compare(op, value) => json!([op.name(), value.canonical()]),
            FilterOp::IsNull => json!(["null"]),
            FilterOp::IsNotNull => json!(["notnull"]),
        };
        json!([self.field, target, op])
    }
}

impl FilterValue {
    fn canonical(&self) -> Json {
        match self {
            Self::Int(n) => json!(["i", n]),
            Self::DateTime(t) => json!(["t", t.format("%Y-%m-%dT%H:%M:%S%.9f").to_string()]),
            Self::Str(s) => json!(["s", s]),
        }
    }
}

// -----------------------------------------------------------------------------------------------
// Decoding the raw query
// -----------------------------------------------------------------------------------------------

/// A decoded value, twice: form-decoded (`+` is a space) and with literal `+` kept. Both decodings
/// differ only in single ASCII bytes, so they are byte-aligned: a range of one names the same
/// characters in the other. Each is borrowed from the raw query unless decoding changed it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Value<'q> {
    text: Cow<'q, str>,
    plus: Cow<'q, str>,
}

/// A slice of a [`Value`], in both decodings.
#[derive(Clone, Copy)]
struct Item<'a> {
    text: &'a str,
    plus: &'a str,
}

impl Value<'_> {
    fn item(&self) -> Item<'_> {
        Item {
            text: &self.text,
            plus: &self.plus,
        }
    }
}

impl<'a> Item<'a> {
    fn slice(self, range: std::ops::Range<usize>) -> Item<'a> {
        Item {
            text: &self.text[range.clone()],
            plus: &self.plus[range],
        }
    }

    fn split(self, sep: &str) -> Vec<Item<'a>> {
        let mut items = Vec::new();
        let mut start = 0;
        for (at, _) in self.text.match_indices(sep) {
            items.push(self.slice(start..at));
            start = at + sep.len();
        }
        items.push(self.slice(start..self.text.len()));
        items
    }

    fn split_once(self, sep: &str) -> Option<(Item<'a>, Item<'a>)> {
        let at = self.text.find(sep)?;
        Some((
            self.slice(0..at),
            self.slice(at + sep.len()..self.text.len()),
        ))
    }
}

/// A query-string name or value as a form decodes it (`+` is a space, percent escapes decoded,
/// invalid UTF-8 replaced): how errors name a parameter, and how links tell a repeated parameter
/// from a new one. Borrowed unless there was something to decode.
pub fn decode_lossy(raw: &str) -> Cow<'_, str> {
    match plus_as_space(raw) {
        Cow::Borrowed(raw) => percent_decode_str(raw).decode_utf8_lossy(),
        Cow::Owned(spaced) => {
            Cow::Owned(percent_decode_str(&spaced).decode_utf8_lossy().into_owned())
        }
    }
}

/// `raw` with `+` read as a space, as forms encode one; borrowed when there is none.
fn plus_as_space(raw: &str) -> Cow<'_, str> {
    if raw.contains('+') {
        Cow::Owned(raw.replace('+', " "))
    } else {
        Cow::Borrowed(raw)
    }
}

/// `raw` percent-decoded (and with `+` as a space when `plus_is_space`); `None` when that is not
/// UTF-8. Borrowed unless there was something to decode: most queries have nothing to.
fn decode(raw: &str, plus_is_space: bool) -> Option<Cow<'_, str>> {
    match plus_is_space.then(|| plus_as_space(raw)) {
        Some(Cow::Owned(spaced)) => percent_decode_str(&spaced)
            .decode_utf8()
            .ok()
            .map(|text| Cow::Owned(text.into_owned())),
        _ => percent_decode_str(raw).decode_utf8().ok(),
    }
}

/// Splits a decoded name into its base and bracket segments: `filter[a][]` → `("filter", ["a", ""])`.
fn split_name(name: &str) -> Option<(&str, Vec<&str>)> {
    let (base, mut rest) = name.split_at(name.find('[').unwrap_or(name.len()));
    if base.contains(']') {
        return None;
    }
    let mut segments = Vec::new();
    while !rest.is_empty() {
        let (segment, tail) = rest.strip_prefix('[')?.split_once(']')?;
        if segment.contains('[') {
            return None;
        }
        segments.push(segment);
        rest = tail;
    }
    Some((base, segments))
}

/// The parameter families: the whole top-level grammar is [`Family::classify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Include,
    Fields,
    Sort,
    PageSize,
    PageAfter,
    PageBefore,
    Count,
    NewFilterSyntax,
    AuthorizationMeta,
    Filter,
}

impl Family {
    fn classify(base: &str, segments: &[&str]) -> Option<Family> {
        Some(match (base, segments) {
            ("include", []) => Family::Include,
            ("fields", [_]) => Family::Fields,
            ("sort", []) => Family::Sort,
            ("page", ["size"]) => Family::PageSize,
            ("page", ["after"]) => Family::PageAfter,
            ("page", ["before"]) => Family::PageBefore,
            ("count", []) => Family::Count,
            ("newFilterSyntax", []) => Family::NewFilterSyntax,
            ("provideAuthorizationMeta", []) => Family::AuthorizationMeta,
            ("filter", [_, ..]) => Family::Filter,
            _ => return None,
        })
    }

    fn allowed_on(self, endpoint: Endpoint) -> bool {
        match endpoint {
            Endpoint::Collection => true,
            Endpoint::Single => matches!(
                self,
                Family::Include | Family::Fields | Family::AuthorizationMeta
            ),
            Endpoint::Bare => false,
        }
    }
}

/// All occurrences of one parameter name, exact repeats collapsed.
struct Group<'q> {
    name: Cow<'q, str>,
    family: Family,
    values: Vec<Value<'q>>,
}

impl<'q> Group<'q> {
    fn segments(&self) -> Vec<&str> {
        split_name(&self.name)
            .map(|(_, segments)| segments)
            .unwrap_or_default()
    }

    fn is_list_filter(&self) -> bool {
        self.family == Family::Filter && self.segments().last() == Some(&"")
    }

    /// The value of a parameter that may only have one.
    fn value(&self) -> &Value<'q> {
        &self.values[0]
    }

    fn text(&self) -> &str {
        &self.value().text
    }
}

/// Decodes, classifies and groups the parameters (first pass).
fn collect(raw_query: &str, endpoint: Endpoint) -> Result<Vec<Group<'_>>, QueryError> {
    let mut groups: Vec<Group> = Vec::new();
    for piece in raw_query.split('&').filter(|piece| !piece.is_empty()) {
        let (raw_name, raw_value) = piece.split_once('=').unwrap_or((piece, ""));
        let invalid = |detail: String| Fail::from(detail).at(&decode_lossy(raw_name));
        let name =
            decode(raw_name, true).ok_or_else(|| invalid("the name is not valid UTF-8".into()))?;
        let family = split_name(&name)
            .and_then(|(base, segments)| Family::classify(base, &segments))
            .ok_or_else(|| invalid(format!("`{name}` is not a supported query parameter")))?;
        if !family.allowed_on(endpoint) {
            return Err(invalid(format!(
                "`{name}` is not supported on a single resource"
            )));
        }
        let not_utf8 = || invalid("the value is not valid UTF-8".into());
        let plus = decode(raw_value, false).ok_or_else(not_utf8)?;
        let text = if raw_value.contains('+') {
            decode(raw_value, true).ok_or_else(not_utf8)?
        } else {
            plus.clone()
        };
        let value = Value { text, plus };
        // A query names a handful of parameters: a scan finds a repeat without building a map
        // (as `Caller::query_pieces` does for links).
        match groups.iter_mut().find(|group| group.name == name) {
            Some(group) if group.values.contains(&value) => {}
            Some(group) => group.values.push(value),
            None => groups.push(Group {
                name,
                family,
                values: vec![value],
            }),
        }
    }
    Ok(groups)
}

// -----------------------------------------------------------------------------------------------
// Parsing
// -----------------------------------------------------------------------------------------------

/// Parses `raw_query` (the part after `?`, still percent-encoded) against `opts`.
///
/// # Errors
///
/// The first parameter that breaks the grammar or the schema, as a [`QueryError`] (always a 400).
pub fn parse(raw_query: &str, opts: &Options) -> Result<Query, QueryError> {
    let groups = collect(raw_query, opts.endpoint)?;
    let single = |group: &Group| {
        if group.values.len() > 1 {
            Err(Fail::from(format!(
                "`{}` is given more than once with different values",
                group.name
            )))
        } else {
            Ok(())
        }
    };
    let new_syntax = match groups.iter().find(|g| g.family == Family::NewFilterSyntax) {
        Some(group) => single(group)
            .and_then(|()| parse_bool(group.text()))
            .map_err(|f| f.at(&group.name))?,
        None => false,
    };
    let mut query = Query::default();
    for group in &groups {
        if !(new_syntax && group.is_list_filter()) {
            single(group).map_err(|f| f.at(&group.name))?;
        }
        apply(&mut query, group, opts, new_syntax).map_err(|f| f.at(&group.name))?;
    }
    if query.page.after.is_some() && query.page.before.is_some() {
        return Err(QueryError {
            parameter: "page[before]".into(),
            detail: "`page[after]` and `page[before]` together ask for range pagination, which is not supported"
                .into(),
            kind: QueryErrorKind::RangePaginationNotSupported,
        });
    }
    Ok(query)
}

fn apply(query: &mut Query, group: &Group, opts: &Options, new_syntax: bool) -> Res<()> {
    let text = group.text();
    match group.family {
        Family::Include => query.include = Some(parse_include(text, opts)?),
        Family::Fields => {
            let (type_name, names) = parse_fields(group.segments()[0], text, opts)?;
            query.fields.insert(type_name, names);
        }
        Family::Sort => query.sort = parse_sort(text, opts.resource)?,
        Family::PageSize => query.page.size = parse_page_size(text)?,
        Family::PageAfter => query.page.after = Some(parse_cursor(text)?),
        Family::PageBefore => query.page.before = Some(parse_cursor(text)?),
        Family::Count => query.count = parse_bool(text)?,
        Family::NewFilterSyntax => {}
        Family::AuthorizationMeta => query.authorization_meta = parse_bool(text)?,
        Family::Filter => query.filters.push(parse_filter(
            &group.segments(),
            &group.values,
            opts,
            new_syntax,
        )?),
    }
    Ok(())
}

/// Splits a comma list, rejecting empty items.
fn list(text: &str) -> Res<std::str::Split<'_, char>> {
    if text.split(',').any(str::is_empty) {
        return Err(format!("`{text}` has an empty item").into());
    }
    Ok(text.split(','))
}

fn names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn find_type(opts: &Options, name: &str) -> Option<&'static ResourceSpec> {
    opts.all.iter().copied().find(|spec| spec.type_name == name)
}

fn parse_bool(text: &str) -> Res<bool> {
    match text {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("`{text}` is not `true` or `false`").into()),
    }
}

fn parse_include(text: &str, opts: &Options) -> Res<Vec<Vec<&'static str>>> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let mut paths = BTreeSet::new();
    for item in list(text)? {
        let mut spec = opts.resource;
        let mut path = Vec::new();
        for segment in item.split('.') {
            let rel = spec.relationship(segment).ok_or_else(|| {
                format!(
                    "`{item}` is not an include path of `{}`: `{}` has no relationship `{segment}` (it has {})",
                    opts.resource.type_name,
                    spec.type_name,
                    names(spec.relationships.iter().map(|r| r.name)),
                )
            })?;
            path.push(rel.name);
            paths.insert(path.clone());
            spec = find_type(opts, rel.target).ok_or_else(|| {
                format!(
                    "relationship `{}` points at unknown type `{}`",
                    rel.name, rel.target
                )
            })?;
        }
    }
    Ok(paths.into_iter().collect())
}

fn parse_fields(
    type_name: &str,
    text: &str,
    opts: &Options,
) -> Res<(&'static str, BTreeSet<&'static str>)> {
    let spec = find_type(opts, type_name).ok_or_else(|| {
        format!(
            "`{type_name}` is not a resource type (types: {})",
            names(opts.all.iter().map(|s| s.type_name))
        )
    })?;
    let mut fields = BTreeSet::new();
    if text.is_empty() {
        return Ok((spec.type_name, fields));
    }
    for item in list(text)? {
        let name = spec
            .attribute(item)
            .map(|a| a.name)
            .or_else(|| spec.relationship(item).map(|r| r.name))
            .ok_or_else(|| {
                format!(
                    "`{item}` is not an attribute or relationship of `{}`",
                    spec.type_name
                )
            })?;
        fields.insert(name);
    }
    Ok((spec.type_name, fields))
}

fn parse_sort(text: &str, spec: &ResourceSpec) -> Res<Vec<SortKey>> {
    let mut keys: Vec<SortKey> = Vec::new();
    for item in list(text)? {
        let (descending, name) = item
            .strip_prefix('-')
            .map_or((false, item), |name| (true, name));
        if name.is_empty() {
            return Err(format!("`{item}` names no field").into());
        }
        let field = spec
            .field(name)
            .filter(|f| f.sortable)
            .ok_or_else(|| Fail {
                kind: QueryErrorKind::UnsupportedSort,
                detail: format!(
                    "`{}` cannot be sorted by `{name}` (sortable: {})",
                    spec.type_name,
                    names(spec.fields().filter(|f| f.sortable).map(|f| f.name)),
                ),
            })?;
        if keys.iter().any(|k| k.field == field.name) {
            return Err(format!("`{name}` is sorted on more than once").into());
        }
        keys.push(SortKey {
            field: field.name,
            descending,
        });
    }
    Ok(keys)
}

fn parse_page_size(text: &str) -> Res<u32> {
    let digits = text.trim_start_matches('0');
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || digits.is_empty() {
        return Err(format!("`{text}` is not a positive integer").into());
    }
    match digits.parse::<u32>() {
        Ok(size) if size <= MAX_PAGE_SIZE => Ok(size),
        _ => Err(Fail {
            kind: QueryErrorKind::MaxPageSizeExceeded { max: MAX_PAGE_SIZE },
            detail: format!("the page size may be at most {MAX_PAGE_SIZE}"),
        }),
    }
}

fn parse_cursor(text: &str) -> Res<String> {
    if text.is_empty() {
        return Err(String::from("the cursor is empty").into());
    }
    Ok(text.to_owned())
}

// -----------------------------------------------------------------------------------------------
// Filters
// -----------------------------------------------------------------------------------------------

/// The bracket form of a filter after its field: `filter[f]`, `filter[f][]`, `filter[f][gte]`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Plain,
    List,
    Compare(CompareOp),
}

impl Form {
    fn of(rest: &[&str]) -> Option<Form> {
        Some(match rest {
            [] => Form::Plain,
            [""] => Form::List,
            ["gt"] => Form::Compare(CompareOp::Gt),
            ["gte"] => Form::Compare(CompareOp::Gte),
            ["lt"] => Form::Compare(CompareOp::Lt),
            ["lte"] => Form::Compare(CompareOp::Lte),
            _ => return None,
        })
    }
}

/// A filter's value split into its parts but not yet typed.
enum Shape<'a> {
    IsNull,
    IsNotNull,
    AnyOf(Vec<Item<'a>>),
    Range(Item<'a>, Item<'a>),
    Compare(CompareOp, Item<'a>),
}

impl<'a> Shape<'a> {
    /// A list, or a null test when it is exactly one marker.
    fn list(items: Vec<Item<'a>>) -> Shape<'a> {
        match items.as_slice() {
            [only] if only.text == NULL_MARKER => Shape::IsNull,
            [only] if only.text == NOT_NULL_MARKER => Shape::IsNotNull,
            _ => Shape::AnyOf(items),
        }
    }

    /// The legacy grammar: `a`, `a,b,c`, `a..b`, `__null__`, `__notnull__`.
    fn legacy(value: Item<'a>) -> Res<Shape<'a>> {
        let items = value.split(",");
        match items.as_slice() {
            [only] => Ok(only.split_once("..").map_or_else(
                || Shape::list(items.clone()),
                |(lo, hi)| Shape::Range(lo, hi),
            )),
            _ if items.iter().any(|item| item.text.contains("..")) => {
                Err(format!("`{}`: a range cannot be part of a list", value.text).into())
            }
            _ => Ok(Shape::list(items)),
        }
    }

    fn typed(
        self,
        kind: FieldKind,
        normalize: &dyn Fn(&str) -> Result<String, String>,
    ) -> Res<FilterOp> {
        let value = |item: Item| typed_value(kind, item, normalize);
        let bound = |item: Item, open: &str| {
            if item.text == open {
                Ok(None)
            } else {
                value(item).map(Some)
            }
        };
        let ordered = || -> Res<()> {
            if kind.is_ordered() {
                Ok(())
            } else {
                Err(
                    String::from("ranges and comparisons apply to integers and datetimes only")
                        .into(),
                )
            }
        };
        Ok(match self {
            Shape::IsNull => FilterOp::IsNull,
            Shape::IsNotNull => FilterOp::IsNotNull,
            Shape::AnyOf(items) => {
                let mut values: Vec<FilterValue> = Vec::with_capacity(items.len());
                for item in items {
                    let v = value(item)?;
                    if !values.contains(&v) {
                        values.push(v);
                    }
                }
                FilterOp::AnyOf(values)
            }
            Shape::Range(low, high) => {
                ordered()?;
                FilterOp::Range {
                    low: bound(low, "neginf")?,
                    high: bound(high, "inf")?,
                }
            }
            Shape::Compare(op, item) => {
                ordered()?;
                FilterOp::Compare(op, value(item)?)
            }
        })
    }
}

/// Resolves `filter[SEGMENTS…]` to its field; answers the field and the segments after it.
fn resolve_filter_field<'s>(
    spec: &ResourceSpec,
    segments: &'s [&'s str],
) -> Res<(
    &'static str,
    FilterTarget,
    &'static FieldSpec,
    &'s [&'s str],
)> {
    let (first, rest) = segments
        .split_first()
        .ok_or_else(|| String::from("no field named"))?;
    if let Some(rel) = spec.relationship(first) {
        return match rest.split_first() {
            Some((&"id", rest)) if rel.filterable_by_id => {
                Ok((rel.name, FilterTarget::RelationshipId, &ID_FIELD, rest))
            }
            Some((&"id", _)) => Err(format!("`{first}` cannot be filtered on").into()),
            _ => Err(
                format!("relationship `{first}` is filtered by id: `filter[{first}][id]`").into(),
            ),
        };
    }
    let field = spec.field(first).filter(|f| f.filterable).ok_or_else(|| {
        format!(
            "`{}` cannot be filtered on `{first}` (filterable: {})",
            spec.type_name,
            names(
                spec.fields()
                    .filter(|f| f.filterable)
                    .map(|f| f.name)
                    .chain(
                        spec.relationships
                            .iter()
                            .filter(|r| r.filterable_by_id)
                            .map(|r| r.name)
                    ),
            ),
        )
    })?;
    let target = if field.name == ID_FIELD.name {
        FilterTarget::Id
    } else {
        FilterTarget::Attribute
    };
    Ok((field.name, target, field, rest))
}

fn parse_filter(
    segments: &[&str],
    values: &[Value],
    opts: &Options,
    new_syntax: bool,
) -> Res<Filter> {
    let (name, target, field, rest) = resolve_filter_field(opts.resource, segments)?;
    let form = Form::of(rest)
        .ok_or_else(|| format!("`[{}]` is not a filter operator", rest.join("][")))?;
    if form != Form::Plain && !new_syntax {
        return Err(String::from("bracket forms of `filter` need `newFilterSyntax=true`").into());
    }
    let first = values[0].item();
    let shape = match form {
        Form::Plain if new_syntax => Shape::list(vec![first]),
        Form::Plain => Shape::legacy(first)?,
        Form::List => Shape::list(values.iter().map(Value::item).collect()),
        Form::Compare(op) => Shape::Compare(op, first),
    };
    Ok(Filter {
        field: name,
        target,
        op: shape.typed(field.kind, opts.normalize_phone)?,
    })
}

fn parse_datetime(text: &str) -> Option<NaiveDateTime> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.naive_utc())
}

fn typed_value(
    kind: FieldKind,
    item: Item,
    normalize: &dyn Fn(&str) -> Result<String, String>,
) -> Res<FilterValue> {
    let text = item.text;
    if text.is_empty() {
        return Err(String::from("a filter value or list item is empty").into());
    }
    if text == NULL_MARKER || text == NOT_NULL_MARKER {
        return Err(format!("`{text}` must be the whole filter value").into());
    }
    let value = match kind {
        FieldKind::Id => text
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| text.parse::<i64>().ok())
            .flatten()
            .filter(|&id| id > 0)
            .map(FilterValue::Int)
            .ok_or_else(|| format!("`{text}` is not an id (a positive integer)")),
        FieldKind::Int => text
            .parse()
            .map(FilterValue::Int)
            .map_err(|_| format!("`{text}` is not an integer")),
        FieldKind::DateTime => parse_datetime(text)
            .or_else(|| parse_datetime(item.plus))
            .map(FilterValue::DateTime)
            .ok_or_else(|| format!("`{text}` is not an RFC 3339 datetime")),
        FieldKind::Str => Ok(FilterValue::Str(text.to_owned())),
        FieldKind::Enum(allowed) => allowed
            .contains(&text)
            .then(|| FilterValue::Str(text.to_owned()))
            .ok_or_else(|| format!("`{text}` is not one of {}", names(allowed.iter().copied()))),
        FieldKind::PhoneNumber => {
            let input: Cow<str> = match text.strip_prefix(' ') {
                Some(rest) if item.plus.starts_with('+') => format!("+{rest}").into(),
                _ => text.into(),
            };
            normalize(&input)
                .map(FilterValue::Str)
                .map_err(|reason| format!("`{input}` is not a phone number: {reason}"))
        }
    };
    Ok(value?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    // The real resource tables: the parser is tested against what the service serves.
    use crate::resources::specs::{PHONE_NUMBER, PROSPECT, USER};
    static ALL: &[&ResourceSpec] = &crate::resources::specs::ALL;

    /// A stand-in for the libphonenumber normaliser: NANP numbers, default region US.
    fn normalize(input: &str) -> Result<String, String> {
        let plus = input.trim_start().starts_with('+');
        if input
            .chars()
            .any(|c| !(c.is_ascii_digit() || " ()-.+/".contains(c)))
        {
            return Err("not a phone number".into());
        }
        let digits: String = input.chars().filter(char::is_ascii_digit).collect();
        match (plus, digits.len()) {
            (true, 8..=15) => Ok(format!("+{digits}")),
            (false, 10) => Ok(format!("+1{digits}")),
            (false, 11) if digits.starts_with('1') => Ok(format!("+{digits}")),
            _ => Err("not a valid number".into()),
        }
    }

    fn parse_on(
        raw: &str,
        endpoint: Endpoint,
        resource: &'static ResourceSpec,
    ) -> Result<Query, QueryError> {
        parse(
            raw,
            &Options {
                endpoint,
                resource,
                all: ALL,
                normalize_phone: &normalize,
            },
        )
    }

    fn ok(raw: &str) -> Query {
        parse_on(raw, Endpoint::Collection, &PHONE_NUMBER).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    fn err(raw: &str) -> QueryError {
        match parse_on(raw, Endpoint::Collection, &PHONE_NUMBER) {
            Ok(q) => panic!("{raw}: accepted as {q:?}"),
            Err(e) => e,
        }
    }

    /// Asserts a 400 of kind `Invalid` naming `parameter`.
    fn rejects(raw: &str, parameter: &str) {
        let e = err(raw);
        assert_eq!(
            (e.parameter.as_str(), e.kind),
            (parameter, QueryErrorKind::Invalid),
            "{raw}: {e}"
        );
    }

    fn only_filter(raw: &str) -> Filter {
        let q = ok(raw);
        assert_eq!(q.filters.len(), 1, "{raw}");
        q.filters
            .into_iter()
            .next()
            .unwrap_or_else(|| unreachable!())
    }

    fn op(raw: &str) -> FilterOp {
        only_filter(raw).op
    }

    fn s(v: &str) -> FilterValue {
        FilterValue::Str(v.into())
    }

    fn t(y: i32, m: u32, d: u32, h: u32) -> FilterValue {
        FilterValue::DateTime(
            NaiveDate::from_ymd_opt(y, m, d)
                .and_then(|d| d.and_hms_opt(h, 0, 0))
                .unwrap(),
        )
    }

    #[test]
    fn empty_query_gives_defaults() {
        let q = ok("");
        assert_eq!(q, Query::default());
        assert_eq!(q.page.size, 50);
        assert_eq!(q.include, None);
        assert_eq!(ok("&&"), q);
    }

    #[test]
    fn unknown_parameters_are_rejected_by_name() {
        for (raw, parameter) in [
            ("foo=1", "foo"),
            ("fooBar=1", "fooBar"),
            ("includes=x", "includes"),
            ("page[number]=2", "page[number]"),
            ("page%5Bnumber%5D=2", "page[number]"),
            ("fields=number", "fields"),
            ("fields[a][b]=x", "fields[a][b]"),
            ("sort[x]=id", "sort[x]"),
            ("filter=1", "filter"),
            ("filter[status=valid", "filter[status"),
            ("filter]status[=valid", "filter]status["),
            ("filter[status]x=valid", "filter[status]x"),
            ("Include=prospect", "Include"),
            ("=x", ""),
        ] {
            rejects(raw, parameter);
        }
    }

    #[test]
    fn unknown_field_type_is_rejected() {
        rejects("fields[unknownType]=a", "fields[unknownType]");
    }

    #[test]
    fn percent_encoded_brackets_mean_the_same() {
        let raw = only_filter("filter[status]=valid");
        assert_eq!(only_filter("filter%5Bstatus%5D=valid"), raw);
        assert_eq!(only_filter("filter%5bstatus%5d=valid"), raw);
        assert_eq!(
            raw,
            Filter {
                field: "status",
                target: FilterTarget::Attribute,
                op: FilterOp::AnyOf(vec![s("valid")])
            }
        );
        rejects("filter%5Bnope%5D=1", "filter[nope]");
        assert_eq!(
            ok("fields%5BphoneNumber%5D=number").fields,
            ok("fields[phoneNumber]=number").fields
        );
    }

    #[test]
    fn repeats_identical_count_once_and_different_are_rejected() {
        assert_eq!(
            ok("sort=id&sort=id&page[size]=10&page%5Bsize%5D=10"),
            ok("sort=id&page[size]=10")
        );
        assert_eq!(
            ok("filter[status]=valid&filter[status]=valid")
                .filters
                .len(),
            1
        );
        rejects("sort=id&sort=-id", "sort");
        rejects("include=prospect&include=", "include");
        rejects("page[size]=10&page%5Bsize%5D=20", "page[size]");
        rejects(
            "filter[status]=valid&filter[status]=invalid",
            "filter[status]",
        );
        rejects("count=true&count=false", "count");
        rejects("fields[user]=name&fields[user]=email", "fields[user]");
        rejects(
            "newFilterSyntax=true&newFilterSyntax=false",
            "newFilterSyntax",
        );
        // Legacy syntax does not know lists in brackets, repeated or not.
        rejects(
            "filter[status][]=valid&filter[status][]=invalid",
            "filter[status][]",
        );
    }

    #[test]
    fn include_paths() {
        assert_eq!(ok("include=").include, Some(vec![]));
        assert_eq!(ok("include").include, Some(vec![]));
        assert_eq!(ok("include=prospect").include, Some(vec![vec!["prospect"]]));
        let both = Some(vec![vec!["prospect"], vec!["prospect", "owner"]]);
        assert_eq!(ok("include=prospect.owner").include, both);
        assert_eq!(
            ok("include=prospect.owner,prospect,prospect.owner").include,
            both
        );
        for raw in [
            "include=prospect.nope",
            "include=nope",
            "include=prospect,",
            "include=prospect,,prospect.owner",
        ] {
            rejects(raw, "include");
        }
        rejects("include=prospect..owner", "include");
        rejects("include=owner", "include");
        let q = parse_on(
            "include=owner,phoneNumbers.prospect",
            Endpoint::Collection,
            &PROSPECT,
        )
        .unwrap();
        assert_eq!(
            q.include,
            Some(vec![
                vec!["owner"],
                vec!["phoneNumbers"],
                vec!["phoneNumbers", "prospect"]
            ])
        );
        assert!(parse_on("include=owner", Endpoint::Collection, &USER).is_err());
    }

    #[test]
    fn sparse_fieldsets() {
        let q = ok("fields[phoneNumber]=number,prospect,status&fields[user]=");
        assert_eq!(
            q.fields["phoneNumber"],
            BTreeSet::from(["number", "prospect", "status"])
        );
        assert_eq!(q.fields["user"], BTreeSet::new());
        for raw in [
            "fields[phoneNumber]=nope",
            "fields[phoneNumber]=number,,status",
            "fields[phoneNumber]=id",
        ] {
            rejects(raw, "fields[phoneNumber]");
        }
        rejects("fields[prospect]=number", "fields[prospect]");
    }

    #[test]
    fn sort_keys() {
        assert_eq!(
            ok("sort=-updatedAt,id").sort,
            vec![
                SortKey {
                    field: "updatedAt",
                    descending: true
                },
                SortKey {
                    field: "id",
                    descending: false
                }
            ]
        );
        assert_eq!(
            ok("sort=-id").sort,
            vec![SortKey {
                field: "id",
                descending: true
            }]
        );
        for raw in [
            "sort=nope",
            "sort=rawNumber",
            "sort=countryCode",
            "sort=prospect",
            "sort=prospect.lastName",
            "sort=+id",
        ] {
            let e = err(raw);
            assert_eq!(
                (e.parameter.as_str(), e.kind),
                ("sort", QueryErrorKind::UnsupportedSort),
                "{raw}"
            );
        }
        for raw in [
            "sort=",
            "sort=id,",
            "sort=id,,order",
            "sort=-",
            "sort=id,-id",
            "sort=order,order",
        ] {
            rejects(raw, "sort");
        }
        assert!(parse_on("sort=name,-email", Endpoint::Collection, &USER).is_ok());
        assert!(parse_on("sort=role", Endpoint::Collection, &USER).is_err());
    }

    #[test]
    fn page_size() {
        assert_eq!(ok("page[size]=1000").page.size, 1000);
        assert_eq!(ok("page[size]=1").page.size, 1);
        assert_eq!(ok("page[size]=007").page.size, 7);
        for raw in [
            "page[size]=0",
            "page[size]=-1",
            "page[size]=abc",
            "page[size]=",
            "page[size]=+5",
            "page[size]=%2B5",
            "page[size]=1.5",
            "page[size]=000",
        ] {
            rejects(raw, "page[size]");
        }
        for raw in ["page[size]=1001", "page[size]=99999999999999999999999"] {
            let e = err(raw);
            assert_eq!(e.parameter, "page[size]");
            assert_eq!(e.kind, QueryErrorKind::MaxPageSizeExceeded { max: 1000 });
            assert!(e
                .kind
                .profile_error_type()
                .is_some_and(|t| t.ends_with("/max-size-exceeded")));
        }
    }

    #[test]
    fn page_cursors() {
        let q = ok("page[after]=abc_-1&page[size]=5");
        assert_eq!(
            q.page,
            PageParams {
                size: 5,
                after: Some("abc_-1".into()),
                before: None
            }
        );
        assert_eq!(ok("page[before]=xyz").page.before.as_deref(), Some("xyz"));
        rejects("page[after]=", "page[after]");
        rejects("page[before]", "page[before]");
        let e = err("page[before]=a&page[after]=b");
        assert_eq!(
            (e.parameter.as_str(), e.kind),
            ("page[before]", QueryErrorKind::RangePaginationNotSupported)
        );
        assert!(e
            .kind
            .profile_error_type()
            .is_some_and(|t| t.ends_with("/range-pagination-not-supported")));
    }

    #[test]
    fn booleans() {
        assert!(ok("count=true").count);
        assert!(!ok("count=false").count);
        assert!(ok("provideAuthorizationMeta=true").authorization_meta);
        for (raw, parameter) in [
            ("count=1", "count"),
            ("count=", "count"),
            ("count=TRUE", "count"),
            ("provideAuthorizationMeta=yes", "provideAuthorizationMeta"),
            ("newFilterSyntax=on", "newFilterSyntax"),
        ] {
            rejects(raw, parameter);
        }
    }

    #[test]
    fn bare_endpoint_allows_nothing() {
        let bare = |raw: &str| parse_on(raw, Endpoint::Bare, &PHONE_NUMBER);
        assert!(bare("").is_ok());
        for (raw, parameter) in [
            ("include=prospect", "include"),
            ("fields[phoneNumber]=number", "fields[phoneNumber]"),
            ("provideAuthorizationMeta=true", "provideAuthorizationMeta"),
            ("sort=id", "sort"),
        ] {
            assert_eq!(
                bare(raw).map_err(|e| e.parameter),
                Err(parameter.to_owned()),
                "{raw}"
            );
        }
    }

    #[test]
    fn single_endpoint_allows_only_include_fields_and_meta() {
        let single = |raw: &str| parse_on(raw, Endpoint::Single, &PHONE_NUMBER);
        let q = single("include=prospect&fields[phoneNumber]=number&provideAuthorizationMeta=true")
            .unwrap();
        assert!(q.authorization_meta);
        for (raw, parameter) in [
            ("sort=id", "sort"),
            ("page[size]=5", "page[size]"),
            ("page[after]=x", "page[after]"),
            ("filter[id]=1", "filter[id]"),
            ("count=false", "count"),
            ("newFilterSyntax=true", "newFilterSyntax"),
            ("foo=1", "foo"),
        ] {
            assert_eq!(
                single(raw).map_err(|e| e.parameter),
                Err(parameter.to_owned()),
                "{raw}"
            );
        }
    }

    #[test]
    fn legacy_filter_values() {
        assert_eq!(
            op("filter[order]=3"),
            FilterOp::AnyOf(vec![FilterValue::Int(3)])
        );
        assert_eq!(
            op("filter[order]=-3"),
            FilterOp::AnyOf(vec![FilterValue::Int(-3)])
        );
        assert_eq!(
            op("filter[status]=valid,invalid,valid"),
            FilterOp::AnyOf(vec![s("valid"), s("invalid")])
        );
        assert_eq!(
            op("filter[order]=1..5"),
            FilterOp::Range {
                low: Some(FilterValue::Int(1)),
                high: Some(FilterValue::Int(5))
            }
        );
        assert_eq!(
            op("filter[createdAt]=neginf..2026-01-01T00:00:00Z"),
            FilterOp::Range {
                low: None,
                high: Some(t(2026, 1, 1, 0))
            }
        );
        assert_eq!(
            op("filter[updatedAt]=2026-01-01T02:00:00%2B02:00..inf"),
            FilterOp::Range {
                low: Some(t(2026, 1, 1, 0)),
                high: None
            }
        );
        assert_eq!(
            op("filter[order]=neginf..inf"),
            FilterOp::Range {
                low: None,
                high: None
            }
        );
        assert_eq!(op("filter[source]=__null__"), FilterOp::IsNull);
        assert_eq!(op("filter[status]=__notnull__"), FilterOp::IsNotNull);
        assert_eq!(
            op("filter[source]=web+form"),
            FilterOp::AnyOf(vec![s("web form")])
        );
        assert_eq!(op("filter[source]=a%2Bb"), FilterOp::AnyOf(vec![s("a+b")]));
        assert_eq!(op("filter[countryCode]=US"), FilterOp::AnyOf(vec![s("US")]));
    }

    #[test]
    fn legacy_filter_errors() {
        for (raw, parameter) in [
            ("filter[status]=", "filter[status]"),
            ("filter[status]=a,,b", "filter[status]"),
            ("filter[status]=valid,,invalid", "filter[status]"),
            ("filter[status]=valid,", "filter[status]"),
            ("filter[status]=MOBILE", "filter[status]"),
            ("filter[phoneType]=MOBILE", "filter[phoneType]"),
            ("filter[source]=a..b", "filter[source]"),
            ("filter[status]=valid..valid", "filter[status]"),
            ("filter[number]=%2B1..%2B2", "filter[number]"),
            ("filter[order]=1..", "filter[order]"),
            ("filter[order]=..5", "filter[order]"),
            ("filter[order]=inf..5", "filter[order]"),
            ("filter[order]=1..neginf", "filter[order]"),
            ("filter[order]=1..3,5", "filter[order]"),
            ("filter[order]=x", "filter[order]"),
            ("filter[order]=1.5", "filter[order]"),
            ("filter[createdAt]=yesterday", "filter[createdAt]"),
            ("filter[createdAt]=2026-01-01", "filter[createdAt]"),
            ("filter[source]=a,__null__", "filter[source]"),
            ("filter[order]=__null__..5", "filter[order]"),
            ("filter[rawNumber]=1", "filter[rawNumber]"),
            ("filter[extension]=1", "filter[extension]"),
            ("filter[nope]=1", "filter[nope]"),
            ("filter[status][gte]=valid", "filter[status][gte]"),
            ("filter[order][gte]=1", "filter[order][gte]"),
            ("filter[order][]=1", "filter[order][]"),
            ("filter[status][foo]=valid", "filter[status][foo]"),
            ("filter[id][id]=1", "filter[id][id]"),
            ("filter[order][gte][x]=1", "filter[order][gte][x]"),
        ] {
            rejects(raw, parameter);
        }
    }

    #[test]
    fn id_filters() {
        assert_eq!(
            only_filter("filter[id]=1,2"),
            Filter {
                field: "id",
                target: FilterTarget::Id,
                op: FilterOp::AnyOf(vec![FilterValue::Int(1), FilterValue::Int(2)])
            }
        );
        assert_eq!(
            only_filter("filter[prospect][id]=1,2"),
            Filter {
                field: "prospect",
                target: FilterTarget::RelationshipId,
                op: FilterOp::AnyOf(vec![FilterValue::Int(1), FilterValue::Int(2)])
            }
        );
        assert_eq!(
            op("filter[id]=1..9"),
            FilterOp::Range {
                low: Some(FilterValue::Int(1)),
                high: Some(FilterValue::Int(9))
            }
        );
        for raw in [
            "filter[id]=0",
            "filter[id]=-1",
            "filter[id]=abc",
            "filter[id]=",
            "filter[id]=99999999999999999999",
            "filter[id]=%2B1",
        ] {
            rejects(raw, "filter[id]");
        }
        rejects("filter[prospect]=1", "filter[prospect]");
        rejects("filter[prospect][name]=1", "filter[prospect][name]");
        rejects("filter[prospect][id]=x", "filter[prospect][id]");
        let on_prospects = |raw: &str| parse_on(raw, Endpoint::Collection, &PROSPECT);
        assert_eq!(
            on_prospects("filter[owner][id]=4").unwrap().filters[0].field,
            "owner"
        );
        assert_eq!(
            on_prospects("filter[phoneNumbers][id]=4")
                .unwrap_err()
                .parameter,
            "filter[phoneNumbers][id]"
        );
        assert_eq!(
            on_prospects("filter[homePhones]=x").unwrap_err().parameter,
            "filter[homePhones]"
        );
        assert_eq!(
            on_prospects("filter[firstName]=__null__").unwrap().filters[0].op,
            FilterOp::IsNull
        );
    }

    #[test]
    fn phone_number_filters_are_normalised() {
        let plus = FilterOp::AnyOf(vec![s("+18889387356")]);
        for raw in [
            "filter[number]=+18889387356",
            "filter[number]=%2B18889387356",
            "filter[number]=(888)%20938-7356",
            "filter[number]=(888)+938-7356",
            "filter[number]=8889387356",
        ] {
            assert_eq!(op(raw), plus, "{raw}");
        }
        // A literal leading `+` is restored per list item; non-NANP numbers need it.
        assert_eq!(
            op("filter[number]=+49301234567,+18889387356"),
            FilterOp::AnyOf(vec![s("+49301234567"), s("+18889387356")])
        );
        // An encoded space is a space, not a plus.
        rejects("filter[number]=%2049301234567", "filter[number]");
        rejects("filter[number]=not-a-number", "filter[number]");
        rejects("filter[number]=", "filter[number]");
        assert_eq!(op("filter[number]=__null__"), FilterOp::IsNull);
    }

    #[test]
    fn datetimes_accept_offsets_and_literal_plus() {
        let expected = FilterOp::AnyOf(vec![t(2026, 1, 1, 0)]);
        for raw in [
            "filter[createdAt]=2026-01-01T00:00:00Z",
            "filter[createdAt]=2026-01-01T00:00:00.000Z",
            "filter[createdAt]=2026-01-01T02:00:00+02:00",
            "filter[createdAt]=2026-01-01T02:00:00%2B02:00",
            "filter[createdAt]=2025-12-31T19:00:00-05:00",
        ] {
            assert_eq!(op(raw), expected, "{raw}");
        }
    }

    #[test]
    fn new_filter_syntax() {
        let list = op("filter[source][]=a,b&filter[source][]=c..d&newFilterSyntax=true");
        assert_eq!(list, FilterOp::AnyOf(vec![s("a,b"), s("c..d")]));
        assert_eq!(
            op("newFilterSyntax=true&filter[source]=a,b"),
            FilterOp::AnyOf(vec![s("a,b")])
        );
        assert_eq!(
            op("newFilterSyntax=true&filter[source]=x..y"),
            FilterOp::AnyOf(vec![s("x..y")])
        );
        assert_eq!(
            op("newFilterSyntax=true&filter[source]=__null__"),
            FilterOp::IsNull
        );
        assert_eq!(
            op("newFilterSyntax=true&filter[source][]=__notnull__"),
            FilterOp::IsNotNull
        );
        assert_eq!(
            op("newFilterSyntax=true&filter[status][]=valid&filter[status][]=valid&filter[status][]=invalid"),
            FilterOp::AnyOf(vec![s("valid"), s("invalid")])
        );
        assert_eq!(
            op("newFilterSyntax=true&filter[prospect][id][]=1&filter[prospect][id][]=2"),
            FilterOp::AnyOf(vec![FilterValue::Int(1), FilterValue::Int(2)])
        );
        let q = ok("filter[createdAt][gte]=2026-01-01T00:00:00Z&filter[createdAt][lt]=2026-02-01T00:00:00Z&newFilterSyntax=true");
        assert_eq!(
            q.filters
                .iter()
                .map(|f| (f.field, f.op.clone()))
                .collect::<Vec<_>>(),
            vec![
                (
                    "createdAt",
                    FilterOp::Compare(CompareOp::Gte, t(2026, 1, 1, 0))
                ),
                (
                    "createdAt",
                    FilterOp::Compare(CompareOp::Lt, t(2026, 2, 1, 0))
                ),
            ]
        );
        assert_eq!(
            op("newFilterSyntax=true&filter[order][gt]=2"),
            FilterOp::Compare(CompareOp::Gt, FilterValue::Int(2))
        );
        assert_eq!(
            op("newFilterSyntax=true&filter[id][lte]=2"),
            FilterOp::Compare(CompareOp::Lte, FilterValue::Int(2))
        );
        assert_eq!(
            op("newFilterSyntax=false&filter[order]=1..2"),
            op("filter[order]=1..2")
        );
    }

    #[test]
    fn new_filter_syntax_errors() {
        let nfs =
            |raw: &str, parameter: &str| rejects(&format!("newFilterSyntax=true&{raw}"), parameter);
        nfs("filter[source][gte]=a", "filter[source][gte]");
        nfs("filter[status][lt]=valid", "filter[status][lt]");
        nfs(
            "filter[order][gte]=1&filter[order][gte]=2",
            "filter[order][gte]",
        );
        nfs("filter[order][gte]=", "filter[order][gte]");
        nfs("filter[order][gte]=__null__", "filter[order][gte]");
        nfs("filter[order]=1..5", "filter[order]");
        nfs("filter[order]=1,2", "filter[order]");
        nfs("filter[order]=1&filter[order]=2", "filter[order]");
        nfs(
            "filter[status][]=valid&filter[status][]=",
            "filter[status][]",
        );
        nfs("filter[status][]=MOBILE", "filter[status][]");
        nfs(
            "filter[source][]=a&filter[source][]=__null__",
            "filter[source][]",
        );
        nfs("filter[order][between]=1", "filter[order][between]");
        nfs("filter[rawNumber][]=x", "filter[rawNumber][]");
    }

    #[test]
    fn filters_on_different_fields_and_together() {
        let q = ok(
            "filter[status]=valid&filter[phoneType]=mobile,work&filter[prospect][id]=3&count=true",
        );
        assert_eq!(
            q.filters.iter().map(|f| f.field).collect::<Vec<_>>(),
            ["status", "phoneType", "prospect"]
        );
        assert!(q.count);
    }

    #[test]
    fn invalid_utf8_is_rejected() {
        rejects("filter[source]=%FF", "filter[source]");
        assert_eq!(err("%FF=1").kind, QueryErrorKind::Invalid);
    }

    #[test]
    fn binding_is_canonical() {
        let b = |raw: &str| ok(raw).binding("phoneNumber", None);
        let base = b("sort=-order&filter[status]=valid,invalid&filter[order]=1..3");
        assert_eq!(
            base,
            b("filter[order]=1..3&filter[status]=invalid,valid,valid&sort=-order")
        );
        assert_eq!(base, b("sort=-order&filter[status]=valid,invalid&filter[order]=1..3&page[size]=7&count=true&include=prospect&fields[user]=name"));
        assert_ne!(
            base,
            b("sort=order&filter[status]=valid,invalid&filter[order]=1..3")
        );
        assert_ne!(
            base,
            b("sort=-order&filter[status]=valid&filter[order]=1..3")
        );
        assert_ne!(
            base,
            b("sort=-order&filter[status]=valid,invalid&filter[order]=1..4")
        );
        assert_ne!(
            base,
            ok("sort=-order&filter[status]=valid,invalid&filter[order]=1..3")
                .binding("prospect", None)
        );
        let q = ok("");
        assert_ne!(
            q.binding("phoneNumber", Some(("prospect", 1))),
            q.binding("phoneNumber", Some(("prospect", 2)))
        );
        assert_ne!(b("filter[source]=1"), b("filter[order]=1"));
        assert_ne!(b("filter[order]=1"), b("filter[id]=1"));
        assert_ne!(
            b("filter[order]=1..inf"),
            b("newFilterSyntax=true&filter[order][gte]=1")
        );
    }

    #[test]
    fn errors_display_and_profile_types() {
        let e = err("sort=nope");
        assert!(e.to_string().contains("`sort`"));
        assert!(e.detail.contains("`updatedAt`"), "{}", e.detail);
        assert!(e
            .kind
            .profile_error_type()
            .is_some_and(|t| t.ends_with("/unsupported-sort")));
        assert_eq!(QueryErrorKind::Invalid.profile_error_type(), None);
    }
}
