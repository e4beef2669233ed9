//! [`ApiError`], the one error type of the HTTP layer, and the one place where it becomes a JSON:API
//! error document with its status, stable `code` and headers. Handlers return `Result<_, ApiError>`
//! and never build an error response themselves.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::Serialize;
use thiserror::Error;

use crate::jsonapi::media;
use crate::jsonapi::query::{QueryError, QueryErrorKind};
use crate::permissions::{Denial, Scope};
use crate::rate_limit::RateInfo;

/// One invalid member of a request document: 422 `validationError` at `pointer`.
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

/// Everything a request can fail with.
#[derive(Debug, Error)]
pub enum ApiError {
    #[error("bad request: {detail}")]
    BadRequest {
        detail: String,
        pointer: Option<String>,
    },
    #[error("invalid query parameter {}: {}", .0.parameter, .0.detail)]
    Query(QueryError),
    #[error("unauthorized")]
    Unauthorized { token_sent: bool },
    #[error("missing scope {0}")]
    MissingScope(Scope),
    #[error("denied by role")]
    RoleDenied,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed { allow: String },
    #[error("not acceptable: {0}")]
    NotAcceptable(String),
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("conflict: {detail}")]
    Conflict {
        detail: String,
        pointer: Option<String>,
    },
    #[error("precondition failed")]
    PreconditionFailed,
    #[error("payload too large")]
    PayloadTooLarge { limit: usize },
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("rate limit exceeded")]
    RateLimited {
        retry_after_secs: u64,
        info: RateInfo,
    },
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("write contention: {0}")]
    Contention(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// An error of operation `index` of an Atomic Operations request; pointers are re-rooted at
    /// `/atomic:operations/{index}`.
    #[error("operation {index}: {error}")]
    InOperation { index: usize, error: Box<ApiError> },
}

impl ApiError {
    /// 422 for one member.
    pub fn invalid(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(pointer, detail)])
    }

    /// 400 `badRequest` for a document that lacks a member.
    pub fn bad_request(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::BadRequest {
            detail: detail.into(),
            pointer: Some(pointer.into()),
        }
    }

    pub fn conflict(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Conflict {
            detail: detail.into(),
            pointer: Some(pointer.into()),
        }
    }

    pub fn not_found(type_name: &str, id: impl std::fmt::Display) -> Self {
        Self::NotFound(format!("There is no {type_name} with id {id}."))
    }

    /// Whether the write lost a race that running it again can win (see [`ApiError::Contention`]).
    pub fn is_contention(&self) -> bool {
        matches!(self.root(), ApiError::Contention(_))
    }

    fn root(&self) -> &ApiError {
        match self {
            ApiError::InOperation { error, .. } => error.root(),
            other => other,
        }
    }

    /// The error objects of the response document.
    fn objects(&self) -> Vec<ErrorObject> {
        let status = self.status_code();
        let one = |code: &'static str, title: &'static str, detail: String| ErrorObject {
            status: status.as_str().to_owned(),
            code,
            title,
            detail,
            source: None,
            links: None,
            meta: None,
        };
        match self {
            ApiError::BadRequest { detail, pointer } => {
                vec![one("badRequest", "Bad request", detail.clone()).at_pointer(pointer.clone())]
            }
            ApiError::Query(error) => {
                let mut object = one(
                    "invalidQueryParameter",
                    "Invalid query parameter",
                    error.detail.clone(),
                );
                object.source = Some(Source::parameter(&error.parameter));
                match error.kind {
                    QueryErrorKind::Invalid => {}
                    QueryErrorKind::UnsupportedSort => {
                        object.links = Some(ErrorLinks {
                            r#type: media::UNSUPPORTED_SORT,
                        });
                    }
                    QueryErrorKind::MaxPageSizeExceeded { max } => {
                        object.links = Some(ErrorLinks {
                            r#type: media::MAX_SIZE_EXCEEDED,
                        });
                        object.meta = Some(serde_json::json!({ "page": { "maxSize": max } }));
                    }
                    QueryErrorKind::RangePaginationNotSupported => {
                        object.links = Some(ErrorLinks {
                            r#type: media::RANGE_NOT_SUPPORTED,
                        });
                    }
                }
                vec![object]
            }
            ApiError::Unauthorized { token_sent } => vec![one(
                "unauthorized",
                "Unauthorized",
                if *token_sent {
                    "The bearer token is unknown, expired or revoked.".into()
                } else {
                    "This request needs an `Authorization: Bearer <token>` header.".into()
                },
            )
            .at_header("Authorization")],
            ApiError::MissingScope(scope) => vec![one(
                "unauthorizedOauthScope",
                "Missing OAuth scope",
                format!("This request needs the `{scope}` scope, which the token does not have."),
            )],
            ApiError::RoleDenied => vec![one(
                "unauthorizedRequest",
                "Not allowed",
                "Your role does not allow this request on this record.".into(),
            )],
            ApiError::Forbidden(detail) => vec![one("forbidden", "Forbidden", detail.clone())],
            ApiError::NotFound(detail) => {
                vec![one("resourceNotFound", "Not found", detail.clone())]
            }
            ApiError::MethodNotAllowed { allow } => vec![one(
                "methodNotAllowed",
                "Method not allowed",
                format!("This route allows {allow}."),
            )],
            ApiError::NotAcceptable(detail) => {
                vec![one("notAcceptable", "Not acceptable", detail.clone()).at_header("Accept")]
            }
            ApiError::UnsupportedMediaType(detail) => vec![one(
                "unsupportedMediaType",
                "Unsupported media type",
                detail.clone(),
            )
            .at_header("Content-Type")],
            ApiError::Conflict { detail, pointer } => {
                vec![one("conflict", "Conflict", detail.clone()).at_pointer(pointer.clone())]
            }
            ApiError::PreconditionFailed => vec![one(
                "preconditionFailed",
                "Precondition failed",
                "The resource has changed since the version named in If-Match.".into(),
            )
            .at_header("If-Match")],
            ApiError::PayloadTooLarge { limit } => vec![one(
                "payloadTooLarge",
                "Payload too large",
                format!("Request bodies may be at most {limit} bytes."),
            )],
            ApiError::Validation(fields) => fields
                .iter()
                .map(|field| {
                    one("validationError", "Invalid attribute", field.detail.clone())
                        .at_pointer(Some(field.pointer.clone()))
                })
                .collect(),
            ApiError::RateLimited {
                retry_after_secs, ..
            } => vec![one(
                "rateLimitExceeded",
                "Rate limit exceeded",
                format!("Too many requests; try again in {retry_after_secs} s."),
            )],
            ApiError::Contention(_) => vec![one(
                "serviceUnavailable",
                "Service unavailable",
                "Too many concurrent writes to the same records; try again.".into(),
            )],
            ApiError::Unavailable(_) => vec![one(
                "serviceUnavailable",
                "Service unavailable",
                "The database is unavailable; try again shortly.".into(),
            )],
            ApiError::Internal(_) => vec![one(
                "internalError",
                "Internal error",
                "Something went wrong on our side; the request id identifies it in our logs."
                    .into(),
            )],
            ApiError::InOperation { index, error } => error
                .objects()
                .into_iter()
                .map(|mut object| {
                    let prefix = format!("/atomic:operations/{index}");
                    object.source = Some(match object.source.take() {
                        Some(Source {
                            pointer: Some(pointer),
                            ..
                        }) => Source::pointer(prefix + &pointer),
                        Some(other)
                            if other.pointer.is_none()
                                && (other.parameter.is_some() || other.header.is_some()) =>
                        {
                            other
                        }
                        _ => Source::pointer(prefix),
                    });
                    object
                })
                .collect(),
        }
    }
}

/// `source` of an error object.
#[derive(Debug, Serialize)]
struct Source {
    #[serde(skip_serializing_if = "Option::is_none")]
    pointer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    header: Option<String>,
}

impl Source {
    fn pointer(pointer: String) -> Self {
        Self {
            pointer: Some(pointer),
            parameter: None,
            header: None,
        }
    }
    fn parameter(parameter: &str) -> Self {
        Self {
            pointer: None,
            parameter: Some(parameter.to_owned()),
            header: None,
        }
    }
}

#[derive(Debug, Serialize)]
struct ErrorLinks {
    /// JSON:API 1.1 error `links.type`: identifies the type of error (here: the cursor profile's).
    #[serde(rename = "type")]
    r#type: &'static str,
}

#[derive(Debug, Serialize)]
struct ErrorObject {
    status: String,
    code: &'static str,
    title: &'static str,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<Source>,
    #[serde(skip_serializing_if = "Option::is_none")]
    links: Option<ErrorLinks>,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta: Option<serde_json::Value>,
}

impl ErrorObject {
    fn at_pointer(mut self, pointer: Option<String>) -> Self {
        if let Some(pointer) = pointer {
            self.source = Some(Source::pointer(pointer));
        }
        self
    }
    fn at_header(mut self, header: &str) -> Self {
        self.source = Some(Source {
            pointer: None,
            parameter: None,
            header: Some(header.to_owned()),
        });
        self
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self.root() {
            ApiError::BadRequest { .. } | ApiError::Query(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::MissingScope(_) | ApiError::RoleDenied | ApiError::Forbidden(_) => {
                StatusCode::FORBIDDEN
            }
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::Contention(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::InOperation { .. } => unreachable!("root() unwraps operations"),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let root = self.root();
        let profile_error = matches!(
            root,
            ApiError::Query(QueryError {
                kind: QueryErrorKind::UnsupportedSort
                    | QueryErrorKind::MaxPageSizeExceeded { .. }
                    | QueryErrorKind::RangePaginationNotSupported,
                ..
            })
        );
        let content_type = if profile_error {
            media::PAGINATED
        } else if matches!(self, ApiError::InOperation { .. }) {
            media::ATOMIC
        } else {
            media::JSONAPI
        };
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, content_type));
        match root {
            ApiError::Unauthorized { token_sent } => {
                let challenge = if *token_sent {
                    r#"Bearer realm="phonebook", error="invalid_token""#
                } else {
                    r#"Bearer realm="phonebook""#
                };
                response.insert_header((header::WWW_AUTHENTICATE, challenge));
            }
            ApiError::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, allow.clone()));
            }
            ApiError::RateLimited {
                retry_after_secs, ..
            } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            _ => {}
        }
        let document = serde_json::json!({
            "jsonapi": media::jsonapi_object(matches!(self, ApiError::InOperation { .. }), profile_error),
            "errors": self.objects(),
        });
        response.body(document.to_string())
    }
}

impl From<Denial> for ApiError {
    fn from(denial: Denial) -> Self {
        match denial {
            Denial::MissingScope(scope) => ApiError::MissingScope(scope),
            Denial::Role => ApiError::RoleDenied,
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(error: QueryError) -> Self {
        ApiError::Query(error)
    }
}

impl From<DieselError> for ApiError {
    fn from(error: DieselError) -> Self {
        match error {
            DieselError::NotFound => ApiError::NotFound("The resource does not exist.".into()),
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => ApiError::Unavailable(info.message().to_owned()),
            // Transient contention between writers: PostgreSQL picked this transaction as a
            // deadlock victim or could not serialize it; SQLite's busy timeout ran out. The
            // outermost write transaction retries these (`db::write_transaction`); what is left
            // is 503, which clients retry, never a 500.
            DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, info) => {
                ApiError::Contention(info.message().to_owned())
            }
            DieselError::DatabaseError(_, info)
                if info.message().contains("deadlock detected")
                    || info.message().contains("database is locked") =>
            {
                ApiError::Contention(info.message().to_owned())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<r2d2::Error> for ApiError {
    fn from(error: r2d2::Error) -> Self {
        ApiError::Unavailable(error.to_string())
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        ApiError::Internal(error.to_string())
    }
}

/// The result of every handler and model call that can fail in a way a client sees.
pub type ApiResult<T> = Result<T, ApiError>;
