//! The write rules of each resource type: what a create, an update, a move or a delete checks and
//! does, in the order API.md section 9 fixes. The single-resource endpoints, the relationship
//! endpoints and `/operations` all write through these.

pub mod phone_number;
pub mod prospect;

use crate::db::DbConnection;
use crate::errors::ApiResult;
use crate::models::ModelResult;
use crate::permissions::{authorize, Action, Principal};
use crate::resources::conditional::Precondition;
use crate::resources::served::{existing, Served};

/// A model's delete (see [`Deletable::DELETE`]).
pub type Delete = fn(&mut DbConnection, i64, &dyn Fn(i64) -> bool) -> ModelResult<()>;

/// A type the API deletes records of: the permission a delete asks for, and the model's delete.
pub trait Deletable: Served {
    /// The model's delete: the record and what depends on it, if its version passes the
    /// precondition.
    const DELETE: Delete;

    /// The record permission deleting `record` needs.
    fn delete_action(conn: &mut DbConnection, record: &Self) -> ApiResult<Action>;
}

/// Deletes record `id`: 404 if it does not exist, then the record permission, then `If-Match`.
pub fn delete<R: Deletable>(
    conn: &mut DbConnection,
    principal: &Principal,
    id: i64,
    precondition: &Precondition,
) -> ApiResult<()> {
    let current = existing::<R>(conn, id)?;
    authorize(principal, &R::delete_action(conn, &current)?)?;
    Ok(R::DELETE(conn, id, &precondition.of_record(id))?)
}

/// Local ids (`lid`) of resources created earlier in the same Atomic Operations request.
pub type Lids = std::collections::HashMap<String, i64>;
