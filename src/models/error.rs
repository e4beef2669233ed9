//! [`ModelError`]: why a model refused or failed a write, in the model's terms. `crate::errors`
//! turns each into what the client sees.

use thiserror::Error;

use crate::domain::ResourceType;

/// What made a phone number a duplicate on its prospect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DuplicateCause {
    /// Its new `number` (and extension).
    Number,
    /// Moving it to a prospect that already has it.
    Move,
}

#[derive(Debug, Error)]
pub enum ModelError {
    #[error("there is no {kind} with id {id}")]
    NotFound { kind: ResourceType, id: i64 },
    /// `number` + `extension` already on the prospect.
    #[error("{number} (extension {extension:?}) is already on the prospect")]
    Duplicate {
        number: String,
        extension: String,
        cause: DuplicateCause,
    },
    /// Another prospect has this `externalId`.
    #[error("another prospect has the external id {0:?}")]
    ExternalIdTaken(String),
    /// The stored version is not the one the write was conditional on (`If-Match`).
    #[error("the stored version does not match")]
    VersionMismatch,
    /// A number moved between prospects again and again while the write tried to lock its list.
    #[error("the number kept moving between prospects")]
    KeptMoving,
    /// A typed field this model has no column for in this role: the declarations in
    /// `crate::schema` allow something the model does not implement.
    #[error("the model cannot {0}")]
    Unsupported(String),
    /// A batched write ([`crate::models::PhoneNumberRow::create_many`],
    /// [`crate::models::Prospect::create_many`]) was refused by a unique index: one of its rows
    /// is a duplicate, and only writing them one by one tells which.
    #[error("a row of the batch is refused by a unique index")]
    RefusedInBatch,
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

impl ModelError {
    pub fn not_found(kind: ResourceType, id: i64) -> Self {
        Self::NotFound { kind, id }
    }
}

impl crate::db::TransactionError for ModelError {
    fn is_contention(&self) -> bool {
        match self {
            Self::Database(error) => crate::db::is_contention(error),
            _ => false,
        }
    }
}

pub type ModelResult<T> = Result<T, ModelError>;
