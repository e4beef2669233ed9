//! The `user` resource type (read-only over the API).

use super::{FieldKind, FieldSpec, Relationship, ResourceType};
use crate::jsonapi::schema::Field;
use crate::permissions::Role;

/// The fields of a `user`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UserField {
    Id,
    Name,
    Email,
    Role,
    CreatedAt,
    UpdatedAt,
}

impl Field for UserField {
    type Rel = Relationship;
    const TYPE: ResourceType = ResourceType::User;
    const ALL: &'static [Self] = &[
        Self::Id,
        Self::Name,
        Self::Email,
        Self::Role,
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
    const INCLUDES: &'static [&'static [Relationship]] = &[];

    fn spec(self) -> FieldSpec {
        self.declare()
    }
}

impl UserField {
    /// Each field's declaration: wire name, kind and capabilities. A `const fn`, so that
    /// [`Field::SPECS`] is a table built at compile time, which views read as they render.
    const fn declare(self) -> FieldSpec {
        use FieldKind::{DateTime, Enum, Str};
        const fn field(name: &'static str, kind: FieldKind) -> FieldSpec {
            FieldSpec::read_only(name, kind)
        }
        match self {
            Self::Id => field("id", FieldKind::Id).filterable().sortable(),
            Self::Name => field("name", Str).sortable(),
            Self::Email => field("email", Str).filterable().sortable(),
            Self::Role => field("role", Enum(&Role::NAMES)).filterable(),
            Self::CreatedAt => field("createdAt", DateTime).sortable(),
            Self::UpdatedAt => field("updatedAt", DateTime).filterable().sortable(),
        }
    }
}
