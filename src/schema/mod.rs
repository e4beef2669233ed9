//! The resource types, each declared once: per type an enum of its fields (wire name, value kind,
//! and whether it is filterable, sortable, nullable and writable) and the service's one enum of
//! relationships (target type, cardinality). Everything else — the query parser, request bodies,
//! views, models' column mappings, permissions — takes these enums and matches them exhaustively,
//! so a field added here and forgotten elsewhere does not compile.
//!
//! Adding a field: a variant in its type's enum and its arm in `spec`; the compiler then lists
//! every match that needs it (view, model columns and sort values, the write's draft).

mod phone_number;
mod prospect;
mod user;

#[cfg(test)]
mod query_tests;

pub use phone_number::PhoneNumberField;
pub use prospect::ProspectField;
pub use user::UserField;

pub use crate::domain::ResourceType;
use crate::jsonapi::schema::{Field, RelSpec};
pub use crate::jsonapi::schema::{FieldKind, FieldSpec};

/// Every relationship of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Relationship {
    /// A phone number's prospect (to-one; every number has one).
    PhoneNumberProspect,
    /// A prospect's phone numbers (to-many, in `order`).
    ProspectPhoneNumbers,
    /// A prospect's owner (to-one user).
    ProspectOwner,
}

impl crate::jsonapi::schema::Relationship for Relationship {
    const ALL: &'static [Self] = &[
        Self::PhoneNumberProspect,
        Self::ProspectPhoneNumbers,
        Self::ProspectOwner,
    ];

    fn spec(self) -> RelSpec {
        use ResourceType::{PhoneNumber, Prospect, User};
        let (name, owner, target, to_many, filterable_by_id) = match self {
            Self::PhoneNumberProspect => ("prospect", PhoneNumber, Prospect, false, true),
            Self::ProspectPhoneNumbers => ("phoneNumbers", Prospect, PhoneNumber, true, false),
            Self::ProspectOwner => ("owner", Prospect, User, false, true),
        };
        RelSpec {
            name,
            owner,
            target,
            to_many,
            filterable_by_id,
        }
    }
}

/// The members of `kind` that `fields[TYPE]` may name: its attributes and relationships.
pub fn members(kind: ResourceType) -> Vec<&'static str> {
    fn attributes<F: Field>() -> impl Iterator<Item = &'static str> {
        F::attributes().map(F::name)
    }
    let attributes: Vec<&'static str> = match kind {
        ResourceType::PhoneNumber => attributes::<PhoneNumberField>().collect(),
        ResourceType::Prospect => attributes::<ProspectField>().collect(),
        ResourceType::User => attributes::<UserField>().collect(),
    };
    use crate::jsonapi::schema::Relationship as _;
    attributes
        .into_iter()
        .chain(Relationship::of(kind).map(|rel| rel.name()))
        .collect()
}
