//! The middleware every response passes: its request id, `Vary: Accept`, the rate-limit headers,
//! one access-log line per request, and no body for a `HEAD`.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use actix_web::body::{BodySize, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, VARY};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::HttpMessage;

use crate::auth::caller::UserId;
use crate::rate_limit::RateInfo;

/// A client's `X-Request-Id` is echoed when it is 1–64 characters of `A-Z a-z 0-9 . _ -`.
fn sane_request_id(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request id, `Vary: Accept`, rate-limit headers, and one access-log line per request (the path
/// without the query string: nothing secret ends up in logs). A `HEAD` runs its route's GET
/// handler and gets everything of that response but the body ([`Headless`]).
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|value| sane_request_id(value))
        .map_or_else(|| hex::encode(rand::random::<[u8; 8]>()), str::to_owned);
    let (method, path) = (req.method().clone(), req.path().to_owned());
    let head = method == Method::HEAD;
    let mut response = next.call(req).await?.map_body(|_, body| {
        if head {
            EitherBody::right(Headless(body.size()))
        } else {
            EitherBody::left(body)
        }
    });
    let status = response.status();
    let user = response
        .request()
        .extensions()
        .get::<UserId>()
        .map_or_else(|| "-".to_owned(), |user| user.0.to_string());
    let rate = response.request().extensions().get::<RateInfo>().copied();
    if status.is_server_error() {
        if let Some(error) = response.response().error() {
            log::error!("request {request_id}: {error}");
        }
    }
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert(REQUEST_ID, value);
    }
    headers.insert(VARY, HeaderValue::from_static("Accept"));
    if let Some(info) = rate {
        for (name, value) in info.headers() {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
    }
    log::info!(
        "{method} {path} {} {:.1}ms user={user} request_id={request_id}",
        status.as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    Ok(response)
}

/// The body of a `HEAD` response: none, but the size of the GET body it stands for, so that the
/// `Content-Length` the server writes is the one the GET would have (RFC 9110 section 9.3.2).
pub struct Headless(BodySize);

impl MessageBody for Headless {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        self.0
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Poll::Ready(None)
    }
}
