//! The `phoneNumber` resource type.

use super::{FieldKind, FieldSpec, Relationship, ResourceType};
use crate::domain::{LineType, PhoneType, Status};
use crate::jsonapi::schema::Field;

/// The fields of a `phoneNumber`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PhoneNumberField {
    Id,
    Number,
    RawNumber,
    CountryCode,
    Extension,
    PhoneType,
    Order,
    Status,
    StatusChangedAt,
    Source,
    FormattedNumber,
    LineType,
    CreatedAt,
    UpdatedAt,
}

impl Field for PhoneNumberField {
    type Rel = Relationship;
    const TYPE: ResourceType = ResourceType::PhoneNumber;
    const ALL: &'static [Self] = &[
        Self::Id,
        Self::Number,
        Self::RawNumber,
        Self::CountryCode,
        Self::Extension,
        Self::PhoneType,
        Self::Order,
        Self::Status,
        Self::StatusChangedAt,
        Self::Source,
        Self::FormattedNumber,
        Self::LineType,
        Self::CreatedAt,
        Self::UpdatedAt,
    ];
    const ID: Self = Self::Id;
    const SPECS: &'static [FieldSpec] = &{
        let mut specs = [FieldSpec::read_only("", FieldKind::Id); Self::ALL.len()];
        let mut at = 0;
        while at < specs.len() {
            specs[at] = Self::ALL[at].declare();
            at += 1;
        }
        specs
    };
    const INCLUDES: &'static [&'static [Relationship]] = &[
        &[Relationship::PhoneNumberProspect],
        &[
            Relationship::PhoneNumberProspect,
            Relationship::ProspectOwner,
        ],
    ];

    fn spec(self) -> FieldSpec {
        self.declare()
    }
}

impl PhoneNumberField {
    /// Each field's declaration: wire name, kind and capabilities. A `const fn`, so that
    /// [`Field::SPECS`] is a table built at compile time, which views read as they render.
    const fn declare(self) -> FieldSpec {
        use FieldKind::{DateTime, Enum, Int, Str};
        const fn field(name: &'static str, kind: FieldKind) -> FieldSpec {
            FieldSpec::read_only(name, kind)
        }
        match self {
            Self::Id => field("id", FieldKind::Id).filterable().sortable(),
            Self::Number => field("number", FieldKind::PhoneNumber)
                .filterable()
                .sortable()
                .writable(),
            Self::RawNumber => field("rawNumber", Str).writable(),
            Self::CountryCode => field("countryCode", Str).filterable().nullable().writable(),
            Self::Extension => field("extension", Str).nullable().writable(),
            Self::PhoneType => field("phoneType", Enum(PhoneType::NAMES))
                .filterable()
                .sortable()
                .writable(),
            Self::Order => field("order", Int).filterable().sortable().writable(),
            Self::Status => field("status", Enum(Status::NAMES))
                .filterable()
                .sortable()
                .writable(),
            Self::StatusChangedAt => field("statusChangedAt", DateTime).filterable().sortable(),
            Self::Source => field("source", Str).filterable().nullable().writable(),
            Self::FormattedNumber => field("formattedNumber", Str),
            Self::LineType => field("lineType", Enum(LineType::NAMES)).filterable(),
            Self::CreatedAt => field("createdAt", DateTime).filterable().sortable(),
            Self::UpdatedAt => field("updatedAt", DateTime).filterable().sortable(),
        }
    }
}
