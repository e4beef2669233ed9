//! [`Caller`]: who is calling, extracted before every `/api/v2` handler runs. In the order API.md
//! section 9 prescribes (routing has already happened), the extractor negotiates the media type
//! (415/406), authenticates the bearer token (401) and applies the rate limit (429).

use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderMap};
use actix_web::http::Method;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;

use crate::auth::credentials::CredentialCheck;
use crate::db::Backend;
use crate::errors::ApiError;
use crate::jsonapi::media::{self, Dialect};
use crate::models::ApiToken;
use crate::permissions::Principal;
use crate::rate_limit::Decision;
use crate::state::AppState;

/// The authenticated caller of a request.
#[derive(Debug)]
pub struct Caller {
    pub principal: Principal,
    /// The token hash, when the principal came from the credential cache on PostgreSQL: the
    /// handler's database work looks for revocations once more (see [`crate::auth::credentials`];
    /// on SQLite the look before the handler is exact).
    pub cached_token: Option<String>,
}

/// The user id of an authenticated request, kept in the request extensions for the access log.
#[derive(Clone, Copy, Debug)]
pub struct UserId(pub i64);

/// The bearer token of a request: `None` when no `Authorization: Bearer` header was sent.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Already authenticated at the edge (a POST with an Idempotency-Key).
        let known = req.extensions_mut().remove::<Caller>();
        let req = req.clone();
        Box::pin(async move {
            match known {
                Some(caller) => Ok(caller),
                None => Caller::authenticate(&req).await,
            }
        })
    }
}

impl Caller {
    /// Negotiates the media type (415/406), authenticates the bearer token (401) and applies the
    /// rate limit (429), keeping the user id and the rate-limit state in the request's extensions.
    /// A caller authenticated before the handler runs (the idempotency middleware) is put into the
    /// extensions, where the extractor takes it instead of authenticating again.
    pub async fn authenticate(req: &HttpRequest) -> Result<Caller, ApiError> {
        let state = req
            .app_data::<web::Data<AppState>>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("application state missing".into()))?;
        let dialect = if req.path() == "/api/v2/operations" {
            Dialect::Atomic
        } else {
            Dialect::Plain
        };
        media::negotiate(req.method(), req.headers(), dialect)?;

        let token =
            bearer_token(req.headers()).ok_or(ApiError::Unauthorized { token_sent: false })?;
        let hash = crate::auth::hash_token(token);
        let (principal, cached_token) = match authenticate_from_cache(&state, req, &hash) {
            Some(principal) => (
                principal,
                (state.backend == Backend::Postgres).then_some(hash),
            ),
            None => {
                let generation = state.credentials.generation();
                let lookup = hash.clone();
                let found = crate::db::read(&state.pool, move |conn| {
                    ApiToken::authenticate(conn, &lookup).map_err(ApiError::from)
                })
                .await?;
                let credential = found.ok_or(ApiError::Unauthorized { token_sent: true })?;
                let principal = credential.principal();
                let expires_at = credential.expires_at;
                state
                    .credentials
                    .insert(generation, hash, principal.clone(), expires_at);
                (principal, None)
            }
        };
        req.extensions_mut().insert(UserId(principal.user_id));

        let decision = match &state.rate_limiter {
            Some(limiter) => limiter.check(principal.user_id).await,
            None => None,
        };
        if let Some(decision) = decision {
            req.extensions_mut().insert(decision.info());
            if let Decision::Limited {
                info,
                retry_after_secs,
            } = decision
            {
                return Err(ApiError::RateLimited {
                    retry_after_secs,
                    info,
                });
            }
        }
        Ok(Caller {
            principal,
            cached_token,
        })
    }
}

/// A GET's (or HEAD's) credential from the cache, unless a token may have been revoked since the cache was
/// last checked ([`crate::auth::credentials::check_credentials`]): then the cache is emptied first. Other methods
/// always authenticate with a query: a write must never run on a credential that might have been
/// revoked.
fn authenticate_from_cache(state: &AppState, req: &HttpRequest, hash: &str) -> Option<Principal> {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return None;
    }
    match crate::auth::credentials::check_credentials(&state.pool, state.backend) {
        CredentialCheck::Current => state.credentials.get(hash),
        CredentialCheck::Stale => {
            state.credentials.clear();
            None
        }
        CredentialCheck::Unknown => None,
    }
}
