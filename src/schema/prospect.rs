//! The `prospect` resource type.

use super::{FieldKind, FieldSpec, Relationship, ResourceType};
use crate::domain::PhoneType;
use crate::jsonapi::schema::Field;

/// The fields of a `prospect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProspectField {
    Id,
    FirstName,
    LastName,
    Title,
    Company,
    /// Its numbers of one type, as `*Phones` arrays (read-only; written through numbers).
    Phones(PhoneType),
    CreatedAt,
    UpdatedAt,
}

impl Field for ProspectField {
    type Rel = Relationship;
    const TYPE: ResourceType = ResourceType::Prospect;
    const ALL: &'static [Self] = &[
        Self::Id,
        Self::FirstName,
        Self::LastName,
        Self::Title,
        Self::Company,
        Self::Phones(PhoneType::Home),
        Self::Phones(PhoneType::Mobile),
        Self::Phones(PhoneType::Work),
        Self::Phones(PhoneType::Voip),
        Self::Phones(PhoneType::Other),
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
        &[Relationship::ProspectPhoneNumbers],
        &[Relationship::ProspectOwner],
    ];

    fn spec(self) -> FieldSpec {
        self.declare()
    }
}

impl ProspectField {
    /// Each field's declaration: wire name, kind and capabilities. A `const fn`, so that
    /// [`Field::SPECS`] is a table built at compile time, which views read as they render.
    const fn declare(self) -> FieldSpec {
        use FieldKind::{DateTime, Str, StrList};
        const fn field(name: &'static str, kind: FieldKind) -> FieldSpec {
            FieldSpec::read_only(name, kind)
        }
        const fn name(name: &'static str) -> FieldSpec {
            field(name, Str)
                .filterable()
                .sortable()
                .nullable()
                .writable()
        }
        match self {
            Self::Id => field("id", FieldKind::Id).filterable().sortable(),
            Self::FirstName => name("firstName"),
            Self::LastName => name("lastName"),
            Self::Title => name("title"),
            Self::Company => name("company"),
            Self::Phones(phone_type) => field(
                match phone_type {
                    PhoneType::Home => "homePhones",
                    PhoneType::Mobile => "mobilePhones",
                    PhoneType::Work => "workPhones",
                    PhoneType::Voip => "voipPhones",
                    PhoneType::Other => "otherPhones",
                },
                StrList,
            ),
            Self::CreatedAt => field("createdAt", DateTime).filterable().sortable(),
            Self::UpdatedAt => field("updatedAt", DateTime).filterable().sortable(),
        }
    }
}
