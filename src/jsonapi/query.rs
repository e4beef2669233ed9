//! Strict parser of a request's raw query string into a typed [`Query`] (API.md sections 4 and 9).
//!
//! [`parse`] checks every parameter against the typed declaration of the response's resource type
//! (a [`Field`] enum and its relationships) and answers either a fully typed [`Query`] (sort keys
//! and filters name [`Field`] variants, include paths are chains of relationship variants) or the
//! first [`QueryError`] (a 400 whose `parameter` becomes `source.parameter`).
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
//! - A string value containing U+0000 is a 400: no stored string holds one.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, NaiveDateTime};
use percent_encoding::percent_decode_str;
use serde_json::{json, Value as Json};

use super::schema::{Field, FieldKind, FieldSpec, Relationship};
use crate::domain::ResourceType;

/// Page size when `page[size]` is absent.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest accepted `page[size]`.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// Filter value matching a null field.
pub const NULL_MARKER: &str = "__null__";
/// Filter value matching a non-null field.
pub const NOT_NULL_MARKER: &str = "__notnull__";

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
    /// A paginated relationship endpoint: its linkage in pages, so the page parameters and
    /// `count` only.
    Linkage,
}

/// What [`parse`] checks the query against, besides the primary type's fields.
pub struct Options<'a> {
    /// The kind of endpoint.
    pub endpoint: Endpoint,
    /// The members (attributes and relationships) of a type, for `fields[TYPE]`.
    pub members: &'a dyn Fn(ResourceType) -> Vec<&'static str>,
    /// Normalises a `PhoneNumber` filter value to E.164; `Err` carries a reason.
    pub normalize_phone: &'a dyn Fn(&str) -> Result<String, String>,
}

/// One sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey<F> {
    /// `id` or a sortable attribute.
    pub field: F,
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
pub enum FilterTarget<F: Field> {
    /// A field: an attribute (`filter[status]`) or the id (`filter[id]`).
    Field(F),
    /// The id of a to-one relationship (`filter[prospect][id]`).
    RelationshipId(F::Rel),
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
pub struct Filter<F: Field> {
    /// What the filter tests.
    pub target: FilterTarget<F>,
    /// The condition.
    pub op: FilterOp,
}

/// A parsed, validated query string for a response whose primary data are of `F`'s type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query<F: Field> {
    /// `None`: not asked; `Some(vec![])`: `include=`. Relationship chains, deduplicated, in declaration order,
    /// with every prefix present (`prospect.owner` implies `prospect`).
    pub include: Option<Vec<Vec<F::Rel>>>,
    /// Sparse fieldsets: type → attribute and relationship names.
    pub fields: BTreeMap<ResourceType, BTreeSet<&'static str>>,
    /// Sort keys in order, without duplicates; empty means the default (`id` ascending).
    pub sort: Vec<SortKey<F>>,
    /// Pagination.
    pub page: PageParams,
    /// `count=true`.
    pub count: bool,
    /// Filters, in the order of the query string.
    pub filters: Vec<Filter<F>>,
    /// `provideAuthorizationMeta=true`.
    pub authorization_meta: bool,
}

impl<F: Field> Default for Query<F> {
    fn default() -> Self {
        Query {
            include: None,
            fields: BTreeMap::new(),
            sort: Vec::new(),
            page: PageParams::default(),
            count: false,
            filters: Vec::new(),
            authorization_meta: false,
        }
    }
}

impl<F: Field> Query<F> {
    /// Whether the query names `rel`: in the fieldset of the type that has it, or anywhere in an
    /// include path.
    pub fn names(&self, rel: F::Rel) -> bool {
        let spec = rel.spec();
        let fieldset = self.fields.get(&spec.owner);
        fieldset.is_some_and(|members| members.contains(spec.name))
            || self
                .include
                .iter()
                .flatten()
                .flatten()
                .any(|named| *named == rel)
    }

    /// Whether `include` asks for exactly this relationship chain.
    pub fn includes(&self, path: &[F::Rel]) -> bool {
        self.include
            .iter()
            .flatten()
            .any(|candidate| candidate.as_slice() == path)
    }

    /// A canonical, stable string of everything a cursor depends on: the resource type, the parent
    /// of a related endpoint (`Some(("prospect", 7))`), the sort and the filters (in a canonical
    /// order, so reordered parameters or re-sent lists bind the same). Page, include, fields and
    /// count are left out.
    pub fn binding(&self, type_name: &str, parent: Option<(&str, i64)>) -> String {
        let sort: Vec<String> = self
            .sort
            .iter()
            .map(|k| format!("{}{}", if k.descending { "-" } else { "" }, k.field.name()))
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

impl<F: Field> Filter<F> {
    fn canonical(&self) -> Json {
        let (field, target) = match self.target {
            FilterTarget::Field(field) if field == F::ID => (field.name(), "id"),
            FilterTarget::Field(field) => (field.name(), "attr"),
            FilterTarget::RelationshipId(rel) => (rel.name(), "rel"),
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
        json!([field, target, op])
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
            Endpoint::Linkage => matches!(
                self,
                Family::PageSize | Family::PageAfter | Family::PageBefore | Family::Count
            ),
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
            let place = match endpoint {
                Endpoint::Linkage => {
                    "on a paginated relationship (it takes `page[..]` and `count`)"
                }
                _ => "on a single resource",
            };
            return Err(invalid(format!("`{name}` is not supported {place}")));
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
pub fn parse<F: Field>(raw_query: &str, opts: &Options) -> Result<Query<F>, QueryError> {
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

/// 400 when `include` names a path that responses of `F`'s type do not support (API.md section 4).
/// [`parse`] checks only that each path exists; which paths a response type supports is this
/// separate rule.
pub fn check_includes<F: Field>(query: &Query<F>) -> Result<(), QueryError> {
    match query
        .include
        .iter()
        .flatten()
        .find(|path| !F::INCLUDES.contains(&path.as_slice()))
    {
        Some(path) => {
            let path: Vec<&str> = path.iter().map(|rel| rel.name()).collect();
            Err(QueryError::invalid(
                "include",
                format!(
                    "`{}` cannot be included in {} responses.",
                    path.join("."),
                    F::TYPE.name()
                ),
            ))
        }
        None => Ok(()),
    }
}

fn apply<F: Field>(
    query: &mut Query<F>,
    group: &Group,
    opts: &Options,
    new_syntax: bool,
) -> Res<()> {
    let text = group.text();
    match group.family {
        Family::Include => query.include = Some(parse_include::<F>(text)?),
        Family::Fields => {
            let (type_name, names) = parse_fields(group.segments()[0], text, opts)?;
            query.fields.insert(type_name, names);
        }
        Family::Sort => query.sort = parse_sort(text)?,
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

/// The wire names of `F`'s fields whose spec passes `which`, for error details.
fn field_names<F: Field>(which: impl Fn(&FieldSpec) -> bool) -> impl Iterator<Item = &'static str> {
    F::ALL
        .iter()
        .filter(move |f| which(&f.spec()))
        .map(|f| f.name())
}

fn parse_bool(text: &str) -> Res<bool> {
    match text {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("`{text}` is not `true` or `false`").into()),
    }
}

fn parse_include<F: Field>(text: &str) -> Res<Vec<Vec<F::Rel>>> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let mut paths = BTreeSet::new();
    for item in list(text)? {
        let mut kind = F::TYPE;
        let mut path = Vec::new();
        for segment in item.split('.') {
            let rel = F::Rel::named(kind, segment).ok_or_else(|| {
                format!(
                    "`{item}` is not an include path of `{}`: `{kind}` has no relationship `{segment}` (it has {})",
                    F::TYPE,
                    names(F::Rel::of(kind).map(Relationship::name)),
                )
            })?;
            path.push(rel);
            paths.insert(path.clone());
            kind = rel.spec().target;
        }
    }
    Ok(paths.into_iter().collect())
}

fn parse_fields(
    type_name: &str,
    text: &str,
    opts: &Options,
) -> Res<(ResourceType, BTreeSet<&'static str>)> {
    let kind = ResourceType::named(type_name).ok_or_else(|| {
        format!(
            "`{type_name}` is not a resource type (types: {})",
            names(ResourceType::ALL.iter().map(|kind| kind.name()))
        )
    })?;
    let mut fields = BTreeSet::new();
    if text.is_empty() {
        return Ok((kind, fields));
    }
    let members = (opts.members)(kind);
    for item in list(text)? {
        let name = members
            .iter()
            .copied()
            .find(|member| *member == item)
            .ok_or_else(|| format!("`{item}` is not an attribute or relationship of `{kind}`"))?;
        fields.insert(name);
    }
    Ok((kind, fields))
}

fn parse_sort<F: Field>(text: &str) -> Res<Vec<SortKey<F>>> {
    let mut keys: Vec<SortKey<F>> = Vec::new();
    for item in list(text)? {
        let (descending, name) = item
            .strip_prefix('-')
            .map_or((false, item), |name| (true, name));
        if name.is_empty() {
            return Err(format!("`{item}` names no field").into());
        }
        let field = F::named(name)
            .filter(|f| f.spec().sortable)
            .ok_or_else(|| Fail {
                kind: QueryErrorKind::UnsupportedSort,
                detail: format!(
                    "`{}` cannot be sorted by `{name}` (sortable: {})",
                    F::TYPE,
                    names(field_names::<F>(|spec| spec.sortable)),
                ),
            })?;
        if descending && !field.spec().descending {
            return Err(Fail {
                kind: QueryErrorKind::UnsupportedSort,
                detail: format!("`{}` is sorted by `{name}` ascending only", F::TYPE),
            });
        }
        if keys.iter().any(|k| k.field == field) {
            return Err(format!("`{name}` is sorted on more than once").into());
        }
        keys.push(SortKey { field, descending });
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

/// Resolves `filter[SEGMENTS…]` to what it tests; answers that, the kind of its values and the
/// segments after it.
fn resolve_filter_field<'s, F: Field>(
    segments: &'s [&'s str],
) -> Res<(FilterTarget<F>, FieldKind, &'s [&'s str])> {
    let (first, rest) = segments
        .split_first()
        .ok_or_else(|| String::from("no field named"))?;
    if let Some(rel) = F::Rel::named(F::TYPE, first) {
        return match rest.split_first() {
            Some((&"id", rest)) if rel.spec().filterable_by_id => {
                Ok((FilterTarget::RelationshipId(rel), FieldKind::Id, rest))
            }
            Some((&"id", _)) => Err(format!("`{first}` cannot be filtered on").into()),
            _ => Err(
                format!("relationship `{first}` is filtered by id: `filter[{first}][id]`").into(),
            ),
        };
    }
    let field = F::named(first)
        .filter(|f| f.spec().filterable)
        .ok_or_else(|| {
            format!(
                "`{}` cannot be filtered on `{first}` (filterable: {})",
                F::TYPE,
                names(
                    field_names::<F>(|spec| spec.filterable).chain(
                        F::Rel::of(F::TYPE)
                            .filter(|r| r.spec().filterable_by_id)
                            .map(Relationship::name)
                    ),
                ),
            )
        })?;
    Ok((FilterTarget::Field(field), field.spec().kind, rest))
}

fn parse_filter<F: Field>(
    segments: &[&str],
    values: &[Value],
    opts: &Options,
    new_syntax: bool,
) -> Res<Filter<F>> {
    let (target, kind, rest) = resolve_filter_field::<F>(segments)?;
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
        target,
        op: shape.typed(kind, opts.normalize_phone)?,
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
        // No stored string holds U+0000 (writes refuse it), and PostgreSQL cannot compare one.
        FieldKind::Str | FieldKind::StrList if text.contains('\0') => {
            Err(String::from("a filter value cannot contain U+0000"))
        }
        FieldKind::Str | FieldKind::StrList => Ok(FilterValue::Str(text.to_owned())),
        FieldKind::Bool => match text {
            "true" | "false" => Ok(FilterValue::Str(text.to_owned())),
            _ => Err(format!("`{text}` is not true or false")),
        },
        FieldKind::Object => Err(format!("`{text}`: objects cannot be filtered on")),
        FieldKind::DigitsSuffix => {
            let digits: String = text.chars().filter(char::is_ascii_digit).collect();
            let digits = digits.trim_start_matches('0');
            if digits.len() >= super::schema::MIN_SUFFIX_DIGITS {
                Ok(FilterValue::Str(digits.to_owned()))
            } else {
                Err(format!(
                    "`{text}` has fewer than {} digits once its other characters and leading zeros are dropped",
                    super::schema::MIN_SUFFIX_DIGITS
                ))
            }
        }
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
