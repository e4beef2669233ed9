//! The `change` resource type: an entry of the change feed (read-only, sorted by `id` only).

use super::{Capability::*, FieldKind::*, FieldSpec, Relationship, ResourceType};

/// What happened to the resource.
pub const ACTIONS: &[&str] = &["created", "updated", "deleted"];

/// The types whose changes are recorded.
pub const RECORDED_TYPES: &[&str] = &["phoneNumber", "prospect"];

fields! {
    /// The fields of a `change`.
    pub enum ChangeField of Change, includes &[];
    Id => FieldSpec::new("id", Id, &[Filterable, SortableAscending]),
    Action => FieldSpec::new("action", Enum(ACTIONS), &[Filterable]),
    ResourceKind => FieldSpec::new("resourceType", Enum(RECORDED_TYPES), &[Filterable]),
    ResourceId => FieldSpec::new("resourceId", Id, &[Filterable]),
    ChangedFields => FieldSpec::new("changedFields", StrList, &[]),
    Before => FieldSpec::new("before", Object, &[Nullable]),
    After => FieldSpec::new("after", Object, &[Nullable]),
    OccurredAt => FieldSpec::new("occurredAt", DateTime, &[Filterable]),
}
