//! The resource types, each declared once: per type an enum of its fields (wire name, value kind,
//! and whether it is filterable, sortable, nullable and writable) and the service's one enum of
//! relationships (target type, cardinality). Everything else — the query parser, request bodies,
//! views, models' column mappings, permissions — takes these enums and matches them exhaustively,
//! so a field added here and forgotten elsewhere does not compile.
//!
//! Adding a field: a row in its type's `fields!` table; the compiler then lists every match that
//! needs it (view, model columns and sort values, the write's draft).

/// Declares a resource type's fields as one table, a row a field: `Variant => spec`, `id` first,
/// then in the order resource objects show them. The table gives [`Field::ALL`],
/// [`Field::SPECS`] (built at compile time, which views read as they render) and
/// [`Field::spec`] (an exhaustive match of constants). `pub enum Name of Type` also declares the enum, a unit
/// variant a row; `impl Name of Type` takes an enum declared by hand, whose variants may carry a
/// value (`Phones(PhoneType::Home) => …`).
macro_rules! fields {
    (
        $(#[$meta:meta])*
        pub enum $name:ident of $type:ident, includes $includes:expr;
        $($(#[$variant_meta:meta])* $variant:ident => $spec:expr,)+
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$variant_meta])* $variant,)+
        }

        fields! { impl $name of $type, includes $includes; $($variant => $spec,)+ }
    };
    (
        impl $name:ident of $type:ident, includes $includes:expr;
        $($variant:ident $(($value:path))? => $spec:expr,)+
    ) => {
        impl $crate::jsonapi::schema::Field for $name {
            type Rel = Relationship;
            const TYPE: ResourceType = ResourceType::$type;
            const ALL: &'static [Self] = &[$(Self::$variant $(($value))?),+];
            const ID: Self = Self::Id;
            const SPECS: &'static [FieldSpec] = &[$($spec),+];
            const INCLUDES: &'static [&'static [Relationship]] = $includes;

            fn spec(self) -> FieldSpec {
                match self {
                    $(Self::$variant $(($value))? => const { $spec },)+
                }
            }
        }
    };
}

mod change;
mod phone_number;
mod prospect;
mod user;
mod webhook;

#[cfg(test)]
mod query_tests;

pub use change::{ChangeField, ACTIONS, RECORDED_TYPES};
pub use phone_number::PhoneNumberField;
pub use prospect::ProspectField;
pub use user::UserField;
pub use webhook::WebhookField;

pub use crate::domain::ResourceType;
pub use crate::jsonapi::schema::{Capability, FieldKind, FieldSpec};
use crate::jsonapi::schema::{Field, RelSpec};

/// Every relationship of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Relationship {
    /// A phone number's prospect (to-one; every number has one).
    PhoneNumberProspect,
    /// A prospect's phone numbers (to-many, in `order`).
    ProspectPhoneNumbers,
    /// A prospect's owner (to-one user).
    ProspectOwner,
    /// Who made a change (to-one user; null for the command line).
    ChangeActor,
    /// The other prospects with a number of the same `number` (to-many, read-only, in id order;
    /// shown only when asked for).
    PhoneNumberSharedWith,
}

impl crate::jsonapi::schema::Relationship for Relationship {
    const ALL: &'static [Self] = &[
        Self::PhoneNumberProspect,
        Self::ProspectPhoneNumbers,
        Self::ProspectOwner,
        Self::ChangeActor,
        Self::PhoneNumberSharedWith,
    ];

    fn spec(self) -> RelSpec {
        use ResourceType::{Change, PhoneNumber, Prospect, User};
        let (name, owner, target, to_many, filterable_by_id) = match self {
            Self::PhoneNumberProspect => ("prospect", PhoneNumber, Prospect, false, true),
            Self::ProspectPhoneNumbers => ("phoneNumbers", Prospect, PhoneNumber, true, false),
            Self::ProspectOwner => ("owner", Prospect, User, false, true),
            Self::ChangeActor => ("actor", Change, User, false, true),
            Self::PhoneNumberSharedWith => ("sharedWith", PhoneNumber, Prospect, true, false),
        };
        RelSpec {
            name,
            owner,
            target,
            to_many,
            filterable_by_id,
            // Its linkage costs a query of its own, so resources show it only when asked for.
            on_request: self == Self::PhoneNumberSharedWith,
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
        ResourceType::Change => attributes::<ChangeField>().collect(),
        ResourceType::Webhook => attributes::<WebhookField>().collect(),
    };
    use crate::jsonapi::schema::Relationship as _;
    attributes
        .into_iter()
        .chain(Relationship::of(kind).map(|rel| rel.name()))
        .collect()
}
