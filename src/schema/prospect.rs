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
    const INCLUDES: &'static [&'static [Relationship]] = &[
        &[Relationship::ProspectPhoneNumbers],
        &[Relationship::ProspectOwner],
    ];

    fn spec(self) -> FieldSpec {
        use FieldKind::{DateTime, Str, StrList};
        let field = FieldSpec::read_only;
        let name = |name| {
            field(name, Str)
                .filterable()
                .sortable()
                .nullable()
                .writable()
        };
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
