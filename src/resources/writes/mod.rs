//! The write rules of each resource type: what a create, an update, a move or a delete checks and
//! does, in the order API.md section 9 fixes. The single-resource endpoints, the relationship
//! endpoints and `/operations` all write through these.

pub mod phone_number;
pub mod prospect;
pub mod webhook;

use crate::db::DbConnection;
use crate::errors::ApiResult;
use crate::models::{recorded, Journal, ModelResult};
use crate::permissions::Principal;
use crate::resources::conditional::Precondition;
use crate::resources::served::{existing, Served};

/// The database work of a write request: `work` runs in a write transaction that records its
/// changes in the change feed with `principal` as their actor.
pub fn as_actor<T>(
    principal: &Principal,
    mut work: impl FnMut(&mut DbConnection, &mut Journal) -> ApiResult<T>,
) -> impl FnOnce(&mut DbConnection) -> ApiResult<T> {
    let actor = Some(principal.user_id);
    move |conn| recorded(conn, actor, |conn, journal| work(conn, journal))
}

/// A model's delete (see [`Deletable::DELETE`]).
pub type Delete = fn(&mut DbConnection, &mut Journal, i64, &dyn Fn(i64) -> bool) -> ModelResult<()>;

/// A type the API deletes records of: who may delete one, and the model's delete.
pub trait Deletable: Served {
    /// The model's delete: the record and what depends on it (each recorded in the journal), if
    /// its version passes the precondition.
    const DELETE: Delete;

    /// Whether `principal` may delete `record` (403 if not).
    fn authorize_delete(
        conn: &mut DbConnection,
        principal: &Principal,
        record: &Self,
    ) -> ApiResult<()>;
}

/// Deletes record `id`: 404 if it does not exist, then the record permission, then `If-Match`.
pub fn delete<R: Deletable>(
    conn: &mut DbConnection,
    journal: &mut Journal,
    principal: &Principal,
    id: i64,
    precondition: &Precondition,
) -> ApiResult<()> {
    let current = existing::<R>(conn, id)?;
    R::authorize_delete(conn, principal, &current)?;
    Ok(R::DELETE(conn, journal, id, &precondition.of_record(id))?)
}

/// Local ids (`lid`) of resources created earlier in the same Atomic Operations request.
pub type Lids = std::collections::HashMap<String, i64>;
