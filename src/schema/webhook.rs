//! The `webhook` resource type: where and which changes are delivered (admins only).

use super::{Capability::*, FieldKind::*, FieldSpec, Relationship, ResourceType};

fields! {
    /// The fields of a `webhook`.
    pub enum WebhookField of Webhook, includes &[];
    Id => FieldSpec::new("id", Id, &[Filterable, Sortable]),
    Url => FieldSpec::new("url", Str, &[Writable]),
    ResourceTypes => FieldSpec::new("resourceTypes", StrList, &[Writable]),
    Active => FieldSpec::new("active", Bool, &[Writable]),
    Secret => FieldSpec::new("secret", Str, &[]),
    LastDeliveryAt => FieldSpec::new("lastDeliveryAt", DateTime, &[Nullable]),
    LastDeliveryStatus => FieldSpec::new("lastDeliveryStatus", Int, &[Nullable]),
    PendingDeliveries => FieldSpec::new("pendingDeliveries", Int, &[]),
    FailedDeliveries => FieldSpec::new("failedDeliveries", Int, &[]),
    CreatedAt => FieldSpec::new("createdAt", DateTime, &[]),
    UpdatedAt => FieldSpec::new("updatedAt", DateTime, &[]),
}
