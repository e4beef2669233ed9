//! The write rules of each resource type: what a create, an update, a move or a delete checks and
//! does, in the order API.md section 9 fixes. The single-resource endpoints, the relationship
//! endpoints and `/operations` all write through these.

pub mod phone_number;
pub mod prospect;
pub mod webhook;

use crate::db::DbConnection;
use crate::errors::{ApiError, ApiResult};
use crate::models::{recorded, Journal, ModelResult, Versioned};
use crate::permissions::Principal;
use crate::resources::conditional::Precondition;
use crate::resources::served::{existing, Served};

/// Creates the resources of `inputs`, in their order, with the outcome creating them one after the
/// other would have, in one batched write. Each input is checked (`prepare`) until the first one
/// refused; those before it are written by `create_many` in a savepoint, and when the database
/// refuses that batch (a duplicate) they are written again one by one (`create_one`) to find
/// which. The first refusal comes back with its input's index.
pub fn create_run<Input, New, Row>(
    conn: &mut DbConnection,
    journal: &mut Journal,
    inputs: &[Input],
    mut prepare: impl FnMut(&mut DbConnection, &Input) -> ApiResult<New>,
    create_many: impl Fn(&mut DbConnection, &mut Journal, &[New]) -> ModelResult<Vec<Row>>,
    create_one: impl Fn(&mut DbConnection, &mut Journal, &New) -> ModelResult<Row>,
) -> Result<Vec<Row>, (usize, ApiError)> {
    let mut news = Vec::with_capacity(inputs.len());
    let mut refused = None;
    for (index, input) in inputs.iter().enumerate() {
        match prepare(conn, input) {
            Ok(new) => news.push(new),
            Err(error) => {
                refused = Some((index, error));
                break;
            }
        }
    }
    let batch = journal.savepoint(conn, |conn, journal| create_many(conn, journal, &news));
    let rows = match batch {
        Ok(rows) => rows,
        // Whatever refused the batch, writing one by one refuses the same input as it would have.
        Err(_) => {
            let mut rows = Vec::with_capacity(news.len());
            for (index, new) in news.iter().enumerate() {
                let row = create_one(conn, journal, new);
                rows.push(row.map_err(|error| (index, error.into()))?);
            }
            rows
        }
    };
    match refused {
        Some(refused) => Err(refused),
        None => Ok(rows),
    }
}

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

/// The last step of an update of a number or a prospect, once the request's checks have
/// passed: applies `changes` to the record `current` (as those checks read it) if `If-Match`
/// (`precondition`) accepts its stored version (the model's [`Versioned::update`]).
pub fn update<R: Versioned>(
    conn: &mut DbConnection,
    journal: &mut Journal,
    current: R,
    changes: &R::Changes,
    precondition: &Precondition,
) -> ApiResult<R> {
    let expected = precondition.of_record(current.id());
    Ok(R::update(conn, journal, current, changes, &expected)?)
}

/// Local ids (`lid`) of resources created earlier in the same Atomic Operations request.
pub type Lids = std::collections::HashMap<String, i64>;
