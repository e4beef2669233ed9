//! The `phoneNumber` resource type.

use super::{Capability::*, FieldKind::*, FieldSpec, Relationship, ResourceType};
use crate::domain::{LineType, PhoneType, Status};

fields! {
    /// The fields of a `phoneNumber`.
    pub enum PhoneNumberField of PhoneNumber, includes &[
        &[Relationship::PhoneNumberProspect],
        &[Relationship::PhoneNumberProspect, Relationship::ProspectOwner],
        &[Relationship::PhoneNumberSharedWith],
        &[Relationship::PhoneNumberSharedWith, Relationship::ProspectOwner],
    ];
    Id => FieldSpec::new("id", Id, &[Filterable, Sortable]),
    Number => FieldSpec::new("number", PhoneNumber, &[Filterable, Sortable, Writable]),
    /// `filter[digits]`: the numbers whose digits end with the value's (not an attribute).
    Digits => FieldSpec::new("digits", DigitsSuffix, &[Filterable]),
    RawNumber => FieldSpec::new("rawNumber", Str, &[Writable]),
    CountryCode => FieldSpec::new("countryCode", Str, &[Filterable, Nullable, Writable]),
    Extension => FieldSpec::new("extension", Str, &[Nullable, Writable]),
    PhoneType =>
        FieldSpec::new("phoneType", Enum(PhoneType::NAMES), &[Filterable, Sortable, Writable]),
    Order => FieldSpec::new("order", Int, &[Filterable, Sortable, Writable]),
    Status => FieldSpec::new("status", Enum(Status::NAMES), &[Filterable, Sortable, Writable]),
    StatusChangedAt => FieldSpec::new("statusChangedAt", DateTime, &[Filterable, Sortable]),
    Source => FieldSpec::new("source", Str, &[Filterable, Nullable, Writable]),
    FormattedNumber => FieldSpec::new("formattedNumber", Str, &[]),
    LineType => FieldSpec::new("lineType", Enum(LineType::NAMES), &[Filterable]),
    SmsOptOut => FieldSpec::new("smsOptOut", Bool, &[Filterable, Writable]),
    SmsOptOutChangedAt => FieldSpec::new("smsOptOutChangedAt", DateTime, &[Nullable]),
    Notes => FieldSpec::new("notes", Str, &[Nullable, Writable]),
    CreatedAt => FieldSpec::new("createdAt", DateTime, &[Filterable, Sortable]),
    UpdatedAt => FieldSpec::new("updatedAt", DateTime, &[Filterable, Sortable]),
}
