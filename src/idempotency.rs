//! `Idempotency-Key` on every POST (API.md section 12), once, at the edge: [`keep_answers`] wraps
//! every route and handles the requests that carry the header; the others pass through untouched
//! (a plain GET costs nothing here but a header lookup). Another method of the route with a key
//! that names a POST is 422 (the same key with another method); otherwise the key means nothing
//! to it. A method the route lacks is 405 with `Allow`, key or not, and nothing is kept.
//!
//! A POST with a key is authenticated and rate-limited here (the handler's `Caller` extractor
//! takes the result instead of doing it again), then the key is checked (400 at `source.header`),
//! and then, per user and key ([`crate::models::idempotency`]):
//! - a new key is claimed and the request runs; its answer is kept (status, `Content-Type`,
//!   `Location`, `ETag`, body) unless it is 401, 429 or 5xx, which free the key again;
//! - the same method, path with query and body bytes as the first request get the kept answer,
//!   byte for byte, with `Idempotent-Replayed: true`, and run nothing;
//! - 409 `conflict` while the first request runs, 422 for the same key with another request.
//!
//! The request runs in a task of its own, so that a client that hangs up does not stop the
//! answer from being kept (nor the write from finishing). A body over `PHONEBOOK_MAX_BODY_BYTES`
//! is not read here: the handler answers 413 as it would without a key, and nothing is kept.

use std::sync::atomic::{AtomicI64, Ordering};

use actix_web::body::{self, BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, ETAG, LOCATION};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::auth::Caller;
use crate::errors::{ApiError, IDEMPOTENCY_KEY};
use crate::jsonapi::body::sizes as body_sizes;
use crate::models::idempotency::{self as keys, Claim, Kept};
use crate::state::AppState;

/// The response header of a replayed answer.
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Seconds between two sweeps of expired keys by one process.
const SWEEP_EVERY_SECS: i64 = 60;

/// The middleware: see the module documentation.
/// `methods` are the route's own: a method it lacks is answered 405 with `Allow` whatever the key.
pub async fn keep_answers<B: MessageBody + 'static>(
    mut req: ServiceRequest,
    next: Next<B>,
    methods: &'static [&'static str],
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    if !req.headers().contains_key(IDEMPOTENCY_KEY) || !methods.contains(&req.method().as_str()) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let step = if req.method() == Method::POST {
        prepare(&mut req).await
    } else {
        check_other_method(&mut req).await
    };
    match step {
        Ok(Step::Pass) => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body),
        Ok(Step::Replay(kept)) => Ok(req.into_response(replay(&kept)).map_into_right_body()),
        Ok(Step::Run(owner)) => actix_web::rt::spawn(owner.run(req, next))
            .await
            .map_err(|error| ApiError::Internal(format!("request task failed: {error}")))?,
        Err(error) => Ok(req.error_response(error).map_into_right_body()),
    }
}

/// What to do with a POST that carries a key.
enum Step {
    /// Run it as if it had none (its body is over the limit or could not be read).
    Pass,
    /// Answer what its first request answered.
    Replay(Kept),
    /// Run it and keep its answer.
    Run(Owner),
}

/// Authenticates and rate-limits the request (in the order of API.md section 9, with the key
/// right after the rate limit), checks its key and claims it.
async fn prepare(req: &mut ServiceRequest) -> Result<Step, ApiError> {
    let caller = Caller::authenticate(req.request()).await?;
    let user = caller.principal.user_id;
    req.extensions_mut().insert(caller);
    let key = parse_key(req.headers())?.to_owned();
    let Some(body) = read_body(req).await else {
        return Ok(Step::Pass);
    };
    let fingerprint = fingerprint(req, &body);
    req.set_payload(Payload::from(body));
    let state = app_state(req)?;
    let claimed = {
        let key = key.clone();
        crate::db::run(&state.pool, move |conn| {
            keys::claim(conn, user, &key, &fingerprint).map_err(ApiError::from)
        })
        .await?
    };
    match claimed {
        Claim::Mine(claim) => {
            sweep_now_and_then(&state);
            Ok(Step::Run(Owner {
                state,
                user,
                key,
                claim,
            }))
        }
        Claim::Answered(kept) => Ok(Step::Replay(kept)),
        Claim::Running => Err(ApiError::IdempotencyKeyInUse),
        Claim::OtherRequest => Err(ApiError::IdempotencyKeyReused),
    }
}

/// A request of another method with a key: only POSTs keep answers, so it runs as if it had
/// none, unless its key names a POST (422: another method). A key that is not one is ignored.
async fn check_other_method(req: &mut ServiceRequest) -> Result<Step, ApiError> {
    let Ok(key) = parse_key(req.headers()).map(str::to_owned) else {
        return Ok(Step::Pass);
    };
    let caller = Caller::authenticate(req.request()).await?;
    let user = caller.principal.user_id;
    req.extensions_mut().insert(caller);
    let state = app_state(req)?;
    let used = crate::db::run(&state.pool, move |conn| {
        keys::is_used(conn, user, &key).map_err(ApiError::from)
    })
    .await?;
    if used {
        Err(ApiError::IdempotencyKeyReused)
    } else {
        Ok(Step::Pass)
    }
}

fn app_state(req: &ServiceRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal("application state missing".into()))
}

/// The claim of one running request, which keeps or frees the key when it answers.
struct Owner {
    state: web::Data<AppState>,
    user: i64,
    key: String,
    claim: String,
}

impl Owner {
    async fn run<B: MessageBody + 'static>(
        self,
        req: ServiceRequest,
        next: Next<B>,
    ) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
        let response = match next.call(req).await {
            Ok(response) => response,
            Err(error) => {
                self.settle(None).await;
                return Err(error);
            }
        };
        let (request, response) = response.into_parts();
        let (head, body) = response.into_parts();
        let bytes = match body::to_bytes(body).await {
            Ok(bytes) => bytes,
            Err(error) => {
                self.settle(None).await;
                let error = ApiError::Internal(format!("response body: {}", error.into()));
                return Ok(
                    ServiceResponse::new(request, HttpResponse::from_error(error))
                        .map_into_right_body(),
                );
            }
        };
        let status = head.status();
        let kept = !(status.is_server_error()
            || status == StatusCode::UNAUTHORIZED
            || status == StatusCode::TOO_MANY_REQUESTS);
        self.settle(kept.then(|| Kept {
            status: status.as_u16(),
            content_type: header(head.headers(), &CONTENT_TYPE),
            location: header(head.headers(), &LOCATION),
            etag: header(head.headers(), &ETAG),
            body: bytes.to_vec(),
        }))
        .await;
        let response = head.set_body(BoxBody::new(bytes));
        Ok(ServiceResponse::new(request, response).map_into_right_body())
    }

    /// Keeps `answer` for the key, or frees the key when there is none to keep. A failure leaves
    /// the claim in place: replays answer 409 until it counts as abandoned.
    async fn settle(self, answer: Option<Kept>) {
        let Owner {
            state,
            user,
            key,
            claim,
        } = self;
        let settled = crate::db::run(&state.pool, move |conn| {
            match &answer {
                Some(answer) => keys::keep(conn, user, &key, &claim, answer),
                None => keys::release(conn, user, &key, &claim),
            }
            .map_err(ApiError::from)
        })
        .await;
        if let Err(error) = settled {
            log::warn!("the answer of an Idempotency-Key request could not be kept: {error}");
        }
    }
}

fn header(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// The kept answer, as it was first sent, marked as a replay.
fn replay(kept: &Kept) -> HttpResponse {
    let status = StatusCode::from_u16(kept.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    for (name, value) in [
        (CONTENT_TYPE, &kept.content_type),
        (LOCATION, &kept.location),
        (ETAG, &kept.etag),
    ] {
        if let Some(value) = value.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            response.insert_header((name, value));
        }
    }
    response.insert_header((REPLAYED, HeaderValue::from_static("true")));
    response.body(kept.body.clone())
}

/// The key of a request: 1–255 characters from `!` to `~`, bare or in the draft's quoted form
/// (quotes removed); anything else, or the header twice, is 400 at `source.header`.
pub fn parse_key(headers: &HeaderMap) -> Result<&str, ApiError> {
    let bad = |detail: &str| ApiError::BadHeader {
        header: IDEMPOTENCY_KEY,
        detail: detail.to_owned(),
    };
    let mut values = headers.get_all(IDEMPOTENCY_KEY);
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(bad("Send one Idempotency-Key header."));
    };
    let value = std::str::from_utf8(value.as_bytes()).map_err(|_| bad(KEY_RULE))?;
    let key = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(quoted) if value.len() >= 2 => quoted,
        _ => value,
    };
    let valid = (1..=255).contains(&key.len()) && key.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if valid {
        Ok(key)
    } else {
        Err(bad(KEY_RULE))
    }
}

const KEY_RULE: &str = "An Idempotency-Key is 1 to 255 characters from ! to ~ (printable ASCII \
                        without spaces), sent bare or in double quotes.";

/// The request a key stands for: its method, its path with the query, and its body bytes.
fn fingerprint(req: &ServiceRequest, body: &[u8]) -> String {
    let target = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.path(), |target| target.as_str());
    let mut hash = Sha256::new();
    hash.update(req.method().as_str());
    hash.update([0]);
    hash.update(target);
    hash.update([0]);
    hash.update(body);
    hex::encode(hash.finalize())
}

/// The whole body, read up to the body limit. `None` when it is larger or cannot be read: what
/// was read goes back into the request, so that the handler answers as it would without a key.
async fn read_body(req: &mut ServiceRequest) -> Option<web::Bytes> {
    let (limit, declared) = body_sizes(req.request());
    if declared.is_some_and(|length| length > limit) {
        return None;
    }
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        match chunk {
            Ok(chunk) if body.len() + chunk.len() <= limit => body.extend_from_slice(&chunk),
            unread => {
                let read = futures_util::stream::iter([Ok(body.freeze()), unread]);
                let rest = read.chain(payload);
                req.set_payload(Payload::Stream {
                    payload: Box::pin(rest),
                });
                return None;
            }
        }
    }
    Some(body.freeze())
}

/// Removes expired keys of every user, at most once a minute per process, off the request's path.
fn sweep_now_and_then(state: &web::Data<AppState>) {
    static LAST_SWEEP: AtomicI64 = AtomicI64::new(0);
    let now = crate::clock::now().and_utc().timestamp();
    let last = LAST_SWEEP.load(Ordering::Relaxed);
    if now - last < SWEEP_EVERY_SECS
        || LAST_SWEEP
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    let state = state.clone();
    actix_web::rt::spawn(async move {
        let swept = crate::db::run(&state.pool, |conn| {
            keys::sweep(conn).map_err(ApiError::from)
        })
        .await;
        if let Err(error) = swept {
            log::warn!("expired Idempotency-Keys could not be removed: {error}");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn key(values: &[&[u8]]) -> Result<String, String> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                HeaderName::from_static("idempotency-key"),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        parse_key(&headers)
            .map(str::to_owned)
            .map_err(|error| error.to_string())
    }

    #[test]
    fn keys_are_printable_ascii_bare_or_quoted() {
        assert_eq!(key(&[b"abc-123"]), Ok("abc-123".into()));
        assert_eq!(key(&[b"\"abc-123\""]), Ok("abc-123".into()));
        assert_eq!(key(&[b"!~"]), Ok("!~".into()));
        assert_eq!(key(&[b"\""]), Ok("\"".into()));
        let longest = "k".repeat(255);
        assert_eq!(key(&[longest.as_bytes()]), Ok(longest.clone()));
        let quoted = format!("\"{longest}\"");
        assert_eq!(key(&[quoted.as_bytes()]), Ok(longest));
        for bad in [
            &b""[..],
            b"\"\"",
            b"a b",
            b"caf\xc3\xa9",
            b"tab\there",
            "k".repeat(256).as_bytes(),
        ] {
            assert!(key(&[bad]).is_err(), "{bad:?}");
        }
        assert!(key(&[b"one", b"two"]).is_err());
    }
}
