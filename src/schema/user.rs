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
    const INCLUDES: &'static [&'static [Relationship]] = &[];

    fn spec(self) -> FieldSpec {
        use FieldKind::{DateTime, Enum, Str};
        let field = FieldSpec::read_only;
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
