//! The write rules of each resource type: what a create, an update, a move or a delete checks and
//! does, in the order API.md section 9 fixes. The single-resource endpoints, the relationship
//! endpoints and `/operations` all write through these.

pub mod phone_number;
pub mod prospect;
pub mod webhook;

use crate::db::DbConnection;
use crate::errors::ApiResult;
use crate::models::{recorded, Journal};
use crate::permissions::Principal;

/// The database work of a write request: `work` runs in a write transaction that records its
/// changes in the change feed with `principal` as their actor.
pub fn as_actor<T>(
    principal: &Principal,
    mut work: impl FnMut(&mut DbConnection, &mut Journal) -> ApiResult<T>,
) -> impl FnOnce(&mut DbConnection) -> ApiResult<T> {
    let actor = Some(principal.user_id);
    move |conn| recorded(conn, actor, |conn, journal| work(conn, journal))
}

/// Local ids (`lid`) of resources created earlier in the same Atomic Operations request.
pub type Lids = std::collections::HashMap<String, i64>;
