//! [`Caller`]: who is calling, extracted before every `/api/v2` handler runs. In the order API.md
//! section 9 prescribes (routing has already happened), the extractor negotiates the media type
//! (415/406), authenticates the bearer token (401) and applies the rate limit (429).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, ResponseError};
use futures_util::future::LocalBoxFuture;

use crate::auth::credentials::CredentialCheck;
use crate::db::{Backend, DbConnection, Pool};
use crate::errors::ApiError;
use crate::jsonapi::media::{self, Dialect};
use crate::permissions::Principal;
use crate::rate_limit::{Decision, RateInfo};
use crate::state::AppState;

/// The authenticated caller of a request.
#[derive(Debug)]
pub struct Caller {
    pub principal: Principal,
    /// Set when the principal came from the credential cache on PostgreSQL, where it still has
    /// to be confirmed (see [`crate::auth::credentials`]; on SQLite the look before the handler
    /// is exact).
    pub cached: Option<CachedCredential>,
}

/// A credential taken from the cache on PostgreSQL, until a statement run for this request has
/// shown that no revocation arrived since. The handler's database work confirms it; a request
/// that ends without any is confirmed by [`confirm_cached_credential`]. The request's extensions
/// hold a clone.
#[derive(Clone, Debug)]
pub struct CachedCredential {
    pub hash: String,
    /// [`crate::db::Pool::connections_opened`] before the cache was checked: a connection opened
    /// after that was not asked, and may have missed a revocation.
    pub connections_opened: u64,
    confirmed: Arc<AtomicBool>,
}

impl CachedCredential {
    /// Whether `conn`, having run this request's statements, shows that a token may have been
    /// revoked since the cache was checked.
    pub fn revocations_arrived(&self, conn: &mut DbConnection, pool: &Pool) -> bool {
        crate::auth::credentials::revocations_arrived(conn)
            | (pool.connections_opened() != self.connections_opened)
    }

    /// A statement of this request ran and the notifications were looked at after it.
    pub fn confirm(&self) {
        self.confirmed.store(true, Ordering::Relaxed);
    }

    fn confirmed(&self) -> bool {
        self.confirmed.load(Ordering::Relaxed)
    }
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
        let connections_opened = state.pool.connections_opened();
        let (principal, cached) = match authenticate_from_cache(&state, req, &hash) {
            Some(principal) => {
                let cached = (state.backend == Backend::Postgres).then(|| CachedCredential {
                    hash,
                    connections_opened,
                    confirmed: Arc::default(),
                });
                (principal, cached)
            }
            None => {
                let principal = look_up(&state, hash).await?;
                (
                    principal.ok_or(ApiError::Unauthorized { token_sent: true })?,
                    None,
                )
            }
        };
        req.extensions_mut().insert(UserId(principal.user_id));
        if let Some(cached) = &cached {
            req.extensions_mut().insert(cached.clone());
        }

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
        Ok(Caller { principal, cached })
    }
}

/// Who a token authenticates, looked up with a query (and kept in the cache).
async fn look_up(state: &web::Data<AppState>, hash: String) -> Result<Option<Principal>, ApiError> {
    let cache = state.clone();
    crate::db::read(&state.pool, move |conn| {
        cache
            .credentials
            .look_up(conn, &hash)
            .map_err(ApiError::from)
    })
    .await
}

/// Around every route: a request served from the credential cache on PostgreSQL whose handler ran
/// no statement (the entry point, a 400 before the database) has its token looked up as it ends,
/// and a token revoked meanwhile gets the 401 instead of the answer. Requests that read the
/// database were confirmed by their own statements and pass untouched.
pub async fn confirm_cached_credential(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let response = next.call(req).await?;
    let unconfirmed = (response.request().extensions().get::<CachedCredential>())
        .filter(|cached| !cached.confirmed())
        .map(|cached| cached.hash.clone());
    let state = response
        .request()
        .app_data::<web::Data<AppState>>()
        .cloned();
    let (Some(hash), Some(state)) = (unconfirmed, state) else {
        return Ok(response.map_into_left_body());
    };
    let refusal = match look_up(&state, hash).await {
        Ok(Some(_)) => return Ok(response.map_into_left_body()),
        Ok(None) => {
            // A revocation that has not reached the idle connections yet: others' cached
            // tokens may be among it.
            state.credentials.clear();
            ApiError::Unauthorized { token_sent: true }
        }
        Err(error) => error,
    };
    // Authentication comes before the rate limit: a refused request shows none of it.
    response.request().extensions_mut().remove::<RateInfo>();
    response.request().extensions_mut().remove::<UserId>();
    let (request, _) = response.into_parts();
    Ok(ServiceResponse::new(request, refusal.error_response()).map_into_right_body())
}

/// A GET's (or HEAD's) credential from the cache, unless a token may have been revoked since the cache was
/// last checked ([`crate::auth::credentials::check_credentials`]): then the cache is emptied first. Other methods
/// always authenticate with a query: a write must never run on a credential that might have been
/// revoked.
fn authenticate_from_cache(state: &AppState, req: &HttpRequest, hash: &str) -> Option<Principal> {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return None;
    }
    match crate::auth::credentials::check_credentials(
        &state.pool,
        state.backend,
        &state.credentials,
    ) {
        CredentialCheck::Current => state.credentials.get(hash),
        CredentialCheck::Stale => {
            state.credentials.clear();
            None
        }
        CredentialCheck::Unknown => None,
    }
}
