//! The write rules of each resource type: what a create, an update, a move or a delete checks and
//! does, in the order API.md section 9 fixes. The single-resource endpoints, the relationship
//! endpoints and `/operations` all write through these.

pub mod phone_number;
pub mod prospect;

/// Local ids (`lid`) of resources created earlier in the same Atomic Operations request.
pub type Lids = std::collections::HashMap<String, i64>;
