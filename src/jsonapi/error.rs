//! The toolkit's own errors: why a request's headers or document were refused. They carry what a
//! JSON:API error object needs (the pointer, the detail); `crate::errors` gives each its status
//! and code.

use thiserror::Error;

use crate::domain::ResourceType;

/// One invalid member of a request document (422 at `pointer`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub pointer: String,
    pub detail: String,
}

impl FieldError {
    pub fn new(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            detail: detail.into(),
        }
    }
}

/// A request the toolkit refuses before any resource is touched.
#[derive(Debug, Error)]
pub enum RequestError {
    /// A document that is not JSON, or not the shape JSON:API prescribes.
    #[error("bad request: {detail}")]
    BadRequest {
        detail: String,
        pointer: Option<String>,
    },
    /// A document that names another type or id than the URL.
    #[error("conflict: {detail}")]
    Conflict { detail: String, pointer: String },
    /// Something JSON:API allows and this server does not support (client-generated ids).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Members with invalid values.
    #[error("validation failed")]
    Invalid(Vec<FieldError>),
    /// An identifier that cannot name any record of its type.
    #[error("there is no {kind} with id {id}")]
    NotFound { kind: ResourceType, id: String },
    #[error("payload too large")]
    PayloadTooLarge { limit: usize },
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("not acceptable: {0}")]
    NotAcceptable(String),
}

impl RequestError {
    /// 400 at `pointer`.
    pub fn bad_request(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::BadRequest {
            detail: detail.into(),
            pointer: Some(pointer.into()),
        }
    }

    /// 409 at `pointer`.
    pub fn conflict(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Conflict {
            detail: detail.into(),
            pointer: pointer.into(),
        }
    }

    /// 422 for one member.
    pub fn invalid(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(pointer, detail)])
    }
}
