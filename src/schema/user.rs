//! The `user` resource type (read-only over the API).

use super::{Capability::*, FieldKind::*, FieldSpec, Relationship, ResourceType};
use crate::permissions::Role;

fields! {
    /// The fields of a `user`.
    pub enum UserField of User, includes &[];
    Id => FieldSpec::new("id", Id, &[Filterable, Sortable]),
    Name => FieldSpec::new("name", Str, &[Sortable]),
    Email => FieldSpec::new("email", Str, &[Filterable, Sortable]),
    Role => FieldSpec::new("role", Enum(&Role::NAMES), &[Filterable]),
    CreatedAt => FieldSpec::new("createdAt", DateTime, &[Sortable]),
    UpdatedAt => FieldSpec::new("updatedAt", DateTime, &[Filterable, Sortable]),
}
