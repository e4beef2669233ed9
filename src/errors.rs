//! [`ApiError`], the one error type of the HTTP layer, and the one place where it becomes a JSON:API
//! error document with its status, stable `code` and headers. Handlers return `Result<_, ApiError>`
//! and never build an error response themselves. The layers below have errors of their own
//! (`ModelError`, `DbError`, the toolkit's `RequestError` and `QueryError`, the permission
//! module's `Denial`); each becomes an `ApiError` in one `From` impl here, and every error kind's
//! status, code and title sit in one table ([`ApiError::describe`]).

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::Serialize;
use thiserror::Error;

use crate::db::DbError;
use crate::domain::ResourceType;
use crate::jsonapi::error::RequestError;
use crate::jsonapi::media;
use crate::jsonapi::query::{QueryError, QueryErrorKind};
use crate::models::{DuplicateCause, ModelError};
use crate::permissions::{Denial, Scope};
use crate::rate_limit::RateInfo;

pub use crate::jsonapi::error::FieldError;

/// The request header that makes a POST safe to retry (API.md section 12).
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

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
    /// A malformed request header (400 at `source.header`).
    #[error("bad header {header}: {detail}")]
    BadHeader {
        header: &'static str,
        detail: String,
    },
    /// 409: the first request with this `Idempotency-Key` is still running.
    #[error("idempotency key in use")]
    IdempotencyKeyInUse,
    /// 422: the `Idempotency-Key` was used for another method, path or body.
    #[error("idempotency key reused")]
    IdempotencyKeyReused,
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
        RequestError::invalid(pointer, detail).into()
    }

    /// 400 `badRequest` for a document that lacks a member.
    pub fn bad_request(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        RequestError::bad_request(pointer, detail).into()
    }

    pub fn not_found(kind: ResourceType, id: impl std::fmt::Display) -> Self {
        Self::NotFound(format!("There is no {kind} with id {id}."))
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

    /// The one table of every error kind's status, stable `code` and `title`.
    fn describe(&self) -> (StatusCode, &'static str, &'static str) {
        use StatusCode as S;
        match self.root() {
            ApiError::BadRequest { .. } => (S::BAD_REQUEST, "badRequest", "Bad request"),
            ApiError::Query(_) => (
                S::BAD_REQUEST,
                "invalidQueryParameter",
                "Invalid query parameter",
            ),
            ApiError::Unauthorized { .. } => (S::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            ApiError::MissingScope(_) => (
                S::FORBIDDEN,
                "unauthorizedOauthScope",
                "Missing OAuth scope",
            ),
            ApiError::RoleDenied => (S::FORBIDDEN, "unauthorizedRequest", "Not allowed"),
            ApiError::Forbidden(_) => (S::FORBIDDEN, "forbidden", "Forbidden"),
            ApiError::NotFound(_) => (S::NOT_FOUND, "resourceNotFound", "Not found"),
            ApiError::MethodNotAllowed { .. } => (
                S::METHOD_NOT_ALLOWED,
                "methodNotAllowed",
                "Method not allowed",
            ),
            ApiError::NotAcceptable(_) => (S::NOT_ACCEPTABLE, "notAcceptable", "Not acceptable"),
            ApiError::UnsupportedMediaType(_) => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupportedMediaType",
                "Unsupported media type",
            ),
            ApiError::Conflict { .. } | ApiError::IdempotencyKeyInUse => {
                (S::CONFLICT, "conflict", "Conflict")
            }
            ApiError::BadHeader { .. } => (S::BAD_REQUEST, "badRequest", "Bad request"),
            ApiError::IdempotencyKeyReused => (
                S::UNPROCESSABLE_ENTITY,
                "validationError",
                "Idempotency-Key reused",
            ),
            ApiError::PreconditionFailed => (
                S::PRECONDITION_FAILED,
                "preconditionFailed",
                "Precondition failed",
            ),
            ApiError::PayloadTooLarge { .. } => {
                (S::PAYLOAD_TOO_LARGE, "payloadTooLarge", "Payload too large")
            }
            ApiError::Validation(_) => (
                S::UNPROCESSABLE_ENTITY,
                "validationError",
                "Invalid attribute",
            ),
            ApiError::RateLimited { .. } => (
                S::TOO_MANY_REQUESTS,
                "rateLimitExceeded",
                "Rate limit exceeded",
            ),
            ApiError::Unavailable(_) | ApiError::Contention(_) => (
                S::SERVICE_UNAVAILABLE,
                "serviceUnavailable",
                "Service unavailable",
            ),
            ApiError::Internal(_) => (S::INTERNAL_SERVER_ERROR, "internalError", "Internal error"),
            ApiError::InOperation { .. } => unreachable!("root() unwraps operations"),
        }
    }

    /// What each error object of this error says: its `detail` and where it points.
    fn details(&self) -> Vec<(String, Option<Source>)> {
        let one = |detail: String, source: Option<Source>| vec![(detail, source)];
        let at = |pointer: &Option<String>| pointer.clone().map(Source::pointer);
        match self {
            ApiError::BadRequest { detail, pointer } | ApiError::Conflict { detail, pointer } => {
                one(detail.clone(), at(pointer))
            }
            ApiError::Query(error) => one(
                error.detail.clone(),
                Some(Source::parameter(&error.parameter)),
            ),
            ApiError::Unauthorized { token_sent } => one(
                if *token_sent {
                    "The bearer token is unknown, expired or revoked.".into()
                } else {
                    "This request needs an `Authorization: Bearer <token>` header.".into()
                },
                Some(Source::header("Authorization")),
            ),
            ApiError::MissingScope(scope) => one(
                format!("This request needs the `{scope}` scope, which the token does not have."),
                None,
            ),
            ApiError::RoleDenied => one(
                "Your role does not allow this request on this record.".into(),
                None,
            ),
            ApiError::Forbidden(detail) | ApiError::NotFound(detail) => one(detail.clone(), None),
            ApiError::MethodNotAllowed { allow } => {
                one(format!("This route allows {allow}."), None)
            }
            ApiError::NotAcceptable(detail) => one(detail.clone(), Some(Source::header("Accept"))),
            ApiError::UnsupportedMediaType(detail) => {
                one(detail.clone(), Some(Source::header("Content-Type")))
            }
            ApiError::BadHeader { header, detail } => {
                one(detail.clone(), Some(Source::header(header)))
            }
            ApiError::IdempotencyKeyInUse => one(
                "A request with this Idempotency-Key is still being processed; retry once it has \
                 answered."
                    .into(),
                Some(Source::header(IDEMPOTENCY_KEY)),
            ),
            ApiError::IdempotencyKeyReused => one(
                "This Idempotency-Key was used for a request with another method, path or body; \
                 use a new key for a new request."
                    .into(),
                Some(Source::header(IDEMPOTENCY_KEY)),
            ),
            ApiError::PreconditionFailed => one(
                "The resource has changed since the version named in If-Match.".into(),
                Some(Source::header("If-Match")),
            ),
            ApiError::PayloadTooLarge { limit } => one(
                format!("Request bodies may be at most {limit} bytes."),
                None,
            ),
            ApiError::Validation(fields) => fields
                .iter()
                .map(|field| {
                    (
                        field.detail.clone(),
                        Some(Source::pointer(field.pointer.clone())),
                    )
                })
                .collect(),
            ApiError::RateLimited {
                retry_after_secs, ..
            } => one(
                format!("Too many requests; try again in {retry_after_secs} s."),
                None,
            ),
            ApiError::Contention(_) => one(
                "Too many concurrent writes to the same records; try again.".into(),
                None,
            ),
            ApiError::Unavailable(_) => one(
                "The database is unavailable; try again shortly.".into(),
                None,
            ),
            ApiError::Internal(_) => one(
                "Something went wrong on our side; the request id identifies it in our logs."
                    .into(),
                None,
            ),
            ApiError::InOperation { index, error } => error
                .details()
                .into_iter()
                .map(|(detail, source)| (detail, Some(Source::in_operation(*index, source))))
                .collect(),
        }
    }

    /// The error's details in one line, each after the member it concerns (`number: …`), as the
    /// command line reports a rejected row.
    pub fn reason(&self) -> String {
        let details = self.details().into_iter().map(|(detail, source)| {
            let member = source
                .and_then(|source| source.pointer)
                .and_then(|pointer| pointer.rsplit('/').next().map(str::to_owned))
                .filter(|member| !member.is_empty() && member != "data");
            match member {
                Some(member) => format!("{member}: {detail}"),
                None => detail,
            }
        });
        details.collect::<Vec<_>>().join("; ")
    }

    /// The error objects of the response document.
    fn objects(&self) -> Vec<ErrorObject> {
        let (status, code, title) = self.describe();
        let (links, meta) = match self.root() {
            ApiError::Query(error) => (
                error
                    .kind
                    .profile_error_type()
                    .map(|r#type| ErrorLinks { r#type }),
                match error.kind {
                    QueryErrorKind::MaxPageSizeExceeded { max } => {
                        Some(serde_json::json!({ "page": { "maxSize": max } }))
                    }
                    _ => None,
                },
            ),
            _ => (None, None),
        };
        self.details()
            .into_iter()
            .map(|(detail, source)| ErrorObject {
                status: status.as_str().to_owned(),
                code,
                title,
                detail,
                source,
                links: links.clone(),
                meta: meta.clone(),
            })
            .collect()
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
    fn header(header: &str) -> Self {
        Self {
            pointer: None,
            parameter: None,
            header: Some(header.to_owned()),
        }
    }

    /// Where an error of operation `index` points: its pointer re-rooted at the operation; a
    /// parameter or header as it is; anything else at the operation itself.
    fn in_operation(index: usize, source: Option<Source>) -> Self {
        let prefix = format!("/atomic:operations/{index}");
        match source {
            Some(Source {
                pointer: Some(pointer),
                ..
            }) => Source::pointer(prefix + &pointer),
            Some(other) if other.parameter.is_some() || other.header.is_some() => other,
            _ => Source::pointer(prefix),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
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

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.describe().0
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
            // Transient contention between writers (`db::is_contention`): the outermost write
            // transaction retries these (`db::write_transaction`); what is left is 503, which
            // clients retry, never a 500.
            error if crate::db::is_contention(&error) => ApiError::Contention(error.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Unavailable(error) => ApiError::Unavailable(error.to_string()),
            DbError::Interrupted(error) => ApiError::Internal(error),
        }
    }
}

impl From<RequestError> for ApiError {
    fn from(error: RequestError) -> Self {
        match error {
            RequestError::BadRequest { detail, pointer } => {
                ApiError::BadRequest { detail, pointer }
            }
            RequestError::Conflict { detail, pointer } => ApiError::Conflict {
                detail,
                pointer: Some(pointer),
            },
            RequestError::Forbidden(detail) => ApiError::Forbidden(detail),
            RequestError::Invalid(fields) => ApiError::Validation(fields),
            RequestError::NotFound { kind, id } => ApiError::not_found(kind, id),
            RequestError::PayloadTooLarge { limit } => ApiError::PayloadTooLarge { limit },
            RequestError::UnsupportedMediaType(detail) => ApiError::UnsupportedMediaType(detail),
            RequestError::NotAcceptable(detail) => ApiError::NotAcceptable(detail),
        }
    }
}

/// Where a duplicate number points in a resource object: the attribute that made it, or the
/// relationship that moved it. Relationship endpoints point at their own linkage instead
/// ([`ApiError::duplicate_at`]).
const NUMBER_POINTER: &str = "/data/attributes/number";
const MOVE_POINTER: &str = "/data/relationships/prospect";

impl From<ModelError> for ApiError {
    fn from(error: ModelError) -> Self {
        match error {
            ModelError::NotFound { kind, id } => ApiError::not_found(kind, id),
            ModelError::Duplicate {
                ref number,
                ref extension,
                cause,
            } => {
                let pointer = match cause {
                    DuplicateCause::Number => NUMBER_POINTER,
                    DuplicateCause::Move => MOVE_POINTER,
                };
                ApiError::invalid(pointer, duplicate_detail(number, extension))
            }
            ModelError::ExternalIdTaken(external_id) => ApiError::invalid(
                "/data/attributes/externalId",
                format!("Another prospect already has the externalId `{external_id}`."),
            ),
            ModelError::VersionMismatch => ApiError::PreconditionFailed,
            ModelError::KeptMoving => ApiError::Conflict {
                detail: "The number kept moving between prospects; try again.".into(),
                pointer: None,
            },
            // Callers of a batched write fall back to one-by-one writes on this one.
            ModelError::Unsupported(_) | ModelError::RefusedInBatch => {
                ApiError::Internal(error.to_string())
            }
            ModelError::Database(error) => error.into(),
        }
    }
}

fn duplicate_detail(number: &str, extension: &str) -> String {
    let shown = if extension.is_empty() {
        number.to_owned()
    } else {
        format!("{number} ext. {extension}")
    };
    format!("{shown} is a duplicate: the prospect already has this number.")
}

impl ApiError {
    /// A model error of a write whose document is a linkage (`/data`, `/data/3`): a duplicate made
    /// by a move points there.
    pub fn duplicate_at(pointer: &str) -> impl Fn(ModelError) -> ApiError + '_ {
        move |error| match error {
            ModelError::Duplicate {
                number,
                extension,
                cause: DuplicateCause::Move,
            } => ApiError::invalid(pointer, duplicate_detail(&number, &extension)),
            other => other.into(),
        }
    }
}

impl crate::db::TransactionError for ApiError {
    fn is_contention(&self) -> bool {
        ApiError::is_contention(self)
    }
}

/// The result of every handler and model call that can fail in a way a client sees.
pub type ApiResult<T> = Result<T, ApiError>;
