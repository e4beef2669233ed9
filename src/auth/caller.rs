//! [`Caller`]: the extractor every `/api/v2` handler takes first. In the order API.md section 9
//! prescribes (routing has already happened), it negotiates the media type (415/406),
//! authenticates the bearer token (401) and applies the rate limit (429).

use std::cell::RefCell;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;

use crate::app::AppState;
use crate::errors::ApiError;
use crate::jsonapi::document::LinkBase;
use crate::jsonapi::media::{self, Dialect};
use crate::models::ApiToken;
use crate::permissions::{Principal, Scopes};
use crate::rate_limit::{Decision, RateInfo};

/// The authenticated caller of a request, with what handlers need from the request itself.
pub struct Caller {
    pub state: web::Data<AppState>,
    pub principal: Principal,
    /// The absolute URL of `/api/v2`, for links.
    pub base: LinkBase,
    /// The raw query string, parsed strictly per endpoint by the handler.
    pub query: String,
    /// Request path below the API root, e.g. `/phoneNumbers/7` (for `links.self`).
    pub path: String,
    pub headers: HeaderMap,
}

/// The user id of an authenticated request, kept in the request extensions for the access log.
#[derive(Clone, Copy, Debug)]
pub struct UserId(pub i64);

/// Holds back the extractors after [`Caller`] in a handler's arguments (the request body) until
/// the caller is authenticated and within its rate limit. actix polls a handler's extractors
/// together, so without it a body over the size limit would be answered with 413 before the
/// 401 or 429 that API.md section 9 puts first, and bodies of unauthenticated requests would
/// be read. [`Caller`] puts one in the request extensions; [`AuthGate::passed`] waits on it.
#[derive(Clone, Default)]
pub struct AuthGate(Rc<RefCell<Gate>>);

#[derive(Default)]
struct Gate {
    open: bool,
    waiting: Vec<Waker>,
}

impl AuthGate {
    /// Resolves once the [`Caller`] extractor of the request has finished (when it fails, the
    /// handler's extraction fails with its error first, so whatever waits here never runs).
    pub async fn passed(self) {
        poll_fn(|cx| {
            let mut gate = self.0.borrow_mut();
            if gate.open {
                Poll::Ready(())
            } else {
                gate.waiting.push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
    }
}

/// Opens the gate when the [`Caller`] future completes or is dropped.
struct OpenOnDrop(AuthGate);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        let mut gate = self.0 .0.borrow_mut();
        gate.open = true;
        gate.waiting.drain(..).for_each(Waker::wake);
    }
}

/// The bearer token of a request: `None` when no `Authorization: Bearer` header was sent.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The absolute URL of the API root as the client addressed it (or as configured).
pub fn api_root(req: &HttpRequest, public_url: Option<&str>) -> String {
    match public_url {
        Some(origin) => format!("{origin}/api/v2"),
        None => {
            let info = req.connection_info();
            format!("{}://{}/api/v2", info.scheme(), info.host())
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        let gate = AuthGate::default();
        req.extensions_mut().insert(gate.clone());
        Box::pin(async move {
            let _open = OpenOnDrop(gate);
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
            let found = crate::db::run(&state.pool, move |conn| {
                Ok(ApiToken::authenticate(conn, &hash)?)
            })
            .await?;
            let (token, user) = found.ok_or(ApiError::Unauthorized { token_sent: true })?;
            req.extensions_mut().insert(UserId(user.id));

            if let Some(limiter) = &state.rate_limiter {
                let decision = limiter.check(user.id);
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
            // Stored scopes were validated when the token was made; an unreadable string grants nothing.
            let scopes = Scopes::parse(&token.scopes).unwrap_or_else(|_| Scopes::empty());
            let principal = Principal {
                user_id: user.id,
                role: user.role(),
                scopes,
            };
            let base = LinkBase::new(api_root(&req, state.config.public_url.as_deref()));
            let path = req
                .path()
                .strip_prefix("/api/v2")
                .unwrap_or_default()
                .to_owned();
            Ok(Caller {
                base,
                query: req.query_string().to_owned(),
                path,
                headers: req.headers().clone(),
                principal,
                state,
            })
        })
    }
}

/// Rate-limit headers for a response, from what [`Caller`] recorded.
pub fn rate_limit_headers(info: &RateInfo) -> [(&'static str, String); 3] {
    [
        ("x-ratelimit-limit", info.limit.to_string()),
        ("x-ratelimit-remaining", info.remaining.to_string()),
        ("x-ratelimit-reset", info.reset_unix.to_string()),
    ]
}
