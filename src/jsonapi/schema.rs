//! What the toolkit needs to know of a resource type, as traits that the service's typed
//! declarations implement (`crate::schema`): each type's fields are one enum implementing
//! [`Field`], and every relationship of the service is a variant of one enum implementing
//! [`Relationship`]. The query parser, the request-body reader and the views read a field's wire
//! name, kind and capabilities from [`Field::spec`], never from a string table of their own.

use std::fmt::Debug;
use std::hash::Hash;

use crate::domain::ResourceType;

/// The type of a field's values, which decides how filter values are parsed and how the OpenAPI
/// document describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A resource id: a positive `i64`, a string on the wire.
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
    /// A list of strings.
    StrList,
    /// `true` or `false`.
    Bool,
    /// A JSON object (read-only, never filtered).
    Object,
    /// A suffix of the digits of a phone number (the caller-ID lookup): a filter only, with no
    /// value of its own, so not an attribute. Filter values keep only their digits, without
    /// leading zeros, and need at least [`MIN_SUFFIX_DIGITS`] of them.
    DigitsSuffix,
}

/// The fewest digits a [`FieldKind::DigitsSuffix`] filter value may have.
pub const MIN_SUFFIX_DIGITS: usize = 4;

impl FieldKind {
    /// Whether ranges and comparisons apply (`Id`, `Int`, `DateTime`).
    pub fn is_ordered(self) -> bool {
        matches!(self, Self::Id | Self::Int | Self::DateTime)
    }
}

/// Everything the toolkit knows of one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// The field's name on the wire (`id` for the id, which is not an attribute).
    pub name: &'static str,
    pub kind: FieldKind,
    /// Whether `filter[name]` is allowed.
    pub filterable: bool,
    /// Whether `sort=name` is allowed.
    pub sortable: bool,
    /// Whether `sort=-name` is allowed too.
    pub descending: bool,
    /// Whether the value may be null.
    pub nullable: bool,
    /// Whether a create or update may set it; other attributes are read-only (ignored in writes).
    pub writable: bool,
}

/// What a field is beyond readable; a [`FieldSpec`] lists those it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// `filter[name]` is allowed.
    Filterable,
    /// `sort=name` and `sort=-name` are allowed.
    Sortable,
    /// `sort=name` is allowed, `sort=-name` is not (a feed read in one order only).
    SortableAscending,
    /// The value may be null.
    Nullable,
    /// A create or update may set it.
    Writable,
}

impl FieldSpec {
    /// The field called `name`, holding `kind` values, with `capabilities`.
    pub const fn new(name: &'static str, kind: FieldKind, capabilities: &[Capability]) -> Self {
        let mut spec = FieldSpec {
            name,
            kind,
            filterable: false,
            sortable: false,
            descending: false,
            nullable: false,
            writable: false,
        };
        let mut at = 0;
        while at < capabilities.len() {
            match capabilities[at] {
                Capability::Filterable => spec.filterable = true,
                Capability::Sortable => (spec.sortable, spec.descending) = (true, true),
                Capability::SortableAscending => spec.sortable = true,
                Capability::Nullable => spec.nullable = true,
                Capability::Writable => spec.writable = true,
            }
            at += 1;
        }
        spec
    }
}

/// The fields of one resource type, `id` included: an enum whose [`Field::spec`] is an exhaustive
/// match, so a new variant cannot be forgotten there.
pub trait Field: Copy + Eq + Ord + Hash + Debug + Send + Sync + 'static {
    /// The service's relationship enum.
    type Rel: Relationship;
    /// The resource type these are the fields of.
    const TYPE: ResourceType;
    /// Every field, `id` first, in the order resource objects show them.
    const ALL: &'static [Self];
    /// The id.
    const ID: Self;
    /// [`Field::spec`] of each of [`Field::ALL`], in the same order, as a table.
    const SPECS: &'static [FieldSpec];
    /// The include paths responses of this type support (API.md section 4); others are 400.
    const INCLUDES: &'static [&'static [Self::Rel]];

    fn spec(self) -> FieldSpec;

    fn name(self) -> &'static str {
        self.spec().name
    }

    /// The field called `name` on the wire, `id` included.
    fn named(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|field| field.name() == name)
    }

    /// Every attribute (every field but the id and the filters that have no value of their own).
    fn attributes() -> impl Iterator<Item = Self> {
        Self::ALL
            .iter()
            .copied()
            .filter(|field| *field != Self::ID && field.spec().kind != FieldKind::DigitsSuffix)
    }
}

/// Everything the toolkit knows of one relationship.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelSpec {
    /// The relationship's name on the wire.
    pub name: &'static str,
    /// The type that has it.
    pub owner: ResourceType,
    /// The type it points at.
    pub target: ResourceType,
    pub to_many: bool,
    /// Whether `filter[name][id]` is allowed.
    pub filterable_by_id: bool,
    /// Whether resource objects show it only when `fields[TYPE]` or `include` names it (JSON:API
    /// lets a server leave out what was not asked for).
    pub on_request: bool,
}

/// Every relationship of the service: one enum, whose [`Relationship::spec`] is an exhaustive
/// match.
pub trait Relationship: Copy + Eq + Ord + Hash + Debug + Send + Sync + 'static {
    const ALL: &'static [Self];

    fn spec(self) -> RelSpec;

    fn name(self) -> &'static str {
        self.spec().name
    }

    /// The relationships of `owner`, in declaration order.
    fn of(owner: ResourceType) -> impl Iterator<Item = Self> {
        Self::ALL
            .iter()
            .copied()
            .filter(move |rel| rel.spec().owner == owner)
    }

    /// The relationship of `owner` called `name`.
    fn named(owner: ResourceType, name: &str) -> Option<Self> {
        Self::of(owner).find(|rel| rel.name() == name)
    }
}
