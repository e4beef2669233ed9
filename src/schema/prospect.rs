//! The `prospect` resource type.

use super::{Capability::*, FieldKind::*, FieldSpec, Relationship, ResourceType};
use crate::domain::PhoneType;

/// The fields of a `prospect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProspectField {
    Id,
    FirstName,
    LastName,
    Title,
    Company,
    /// Its id in another system; unique when not null.
    ExternalId,
    /// Its numbers of one type, as `*Phones` arrays (read-only; written through numbers).
    Phones(PhoneType),
    CreatedAt,
    UpdatedAt,
}

/// A name: free text, filterable, sortable (nulls as empty), nullable, writable.
const fn name(name: &'static str) -> FieldSpec {
    FieldSpec::new(name, Str, &[Filterable, Sortable, Nullable, Writable])
}

fields! {
    impl ProspectField of Prospect, includes &[
        &[Relationship::ProspectPhoneNumbers],
        &[Relationship::ProspectOwner],
    ];
    Id => FieldSpec::new("id", Id, &[Filterable, Sortable]),
    FirstName => name("firstName"),
    LastName => name("lastName"),
    Title => name("title"),
    Company => name("company"),
    ExternalId => FieldSpec::new("externalId", Str, &[Filterable, Nullable, Writable]),
    Phones(PhoneType::Home) => FieldSpec::new("homePhones", StrList, &[]),
    Phones(PhoneType::Mobile) => FieldSpec::new("mobilePhones", StrList, &[]),
    Phones(PhoneType::Work) => FieldSpec::new("workPhones", StrList, &[]),
    Phones(PhoneType::Voip) => FieldSpec::new("voipPhones", StrList, &[]),
    Phones(PhoneType::Other) => FieldSpec::new("otherPhones", StrList, &[]),
    CreatedAt => FieldSpec::new("createdAt", DateTime, &[Filterable, Sortable]),
    UpdatedAt => FieldSpec::new("updatedAt", DateTime, &[Filterable, Sortable]),
}
