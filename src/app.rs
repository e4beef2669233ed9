//! The application: [`AppState`], the ONE route table, and [`build`], which main and the tests use
//! to assemble the same `App`. Also the middleware that gives every response its request id,
//! `Vary: Accept` and rate-limit headers, and writes the access log.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, VARY};
use actix_web::http::Method;
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, App, HttpMessage, HttpResponse};

use crate::auth::caller::{rate_limit_headers, UserId};
use crate::auth::credentials::CredentialCache;
use crate::config::Config;
use crate::db::{Backend, DatabaseUrl, Pool};
use crate::errors::ApiError;
use crate::jsonapi::cursor::CursorCodec;
use crate::rate_limit::{RateInfo, RateLimiter};
use crate::resources::{entry, operations, phone_numbers as numbers, prospects, users};

/// What every handler shares.
pub struct AppState {
    pub pool: Pool,
    pub config: Config,
    pub rate_limiter: Option<RateLimiter>,
    pub cursors: CursorCodec,
    /// Credentials of recent tokens (see [`CredentialCache`]).
    pub credentials: CredentialCache,
    /// The database's backend, as `DATABASE_URL` names it.
    pub backend: Backend,
}

impl AppState {
    pub fn new(pool: Pool, config: Config) -> Self {
        // The pool was built from this URL. Were it unreadable, SQLite's answers are the cautious
        // ones (`db::check_credentials`).
        let backend =
            DatabaseUrl::parse(&config.database_url).map_or(Backend::Sqlite, |url| url.backend);
        Self {
            rate_limiter: RateLimiter::new(config.rate_limit_per_hour),
            cursors: CursorCodec::new(config.cursor_secret),
            credentials: CredentialCache::default(),
            backend,
            pool,
            config,
        }
    }
}

/// Declares the route table once: it registers the routes (each path answering 405 with `Allow`
/// for the methods it lacks) and lists them in [`ROUTES`] for the OpenAPI check.
macro_rules! route_table {
    ($($path:literal => { $($method:ident => $handler:path),+ $(,)? })*) => {
        /// Every (path, methods) the service answers.
        pub const ROUTES: &[(&str, &[&str])] = &[$(($path, &[$(stringify!($method)),+])),*];

        fn routes(config: &mut web::ServiceConfig) {
            $(
                config.service(
                    web::resource($path)
                        $(.route(web::method(Method::$method).to($handler)))+
                        .default_service(web::to(|| async {
                            Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow: [$(stringify!($method)),+].join(", ") })
                        })),
                );
            )*
        }
    };
}

route_table! {
    "/health" => { GET => entry::get_health }
    "/api/v2" => { GET => entry::get_entry_point }
    "/api/v2/openapi.json" => { GET => entry::get_openapi }
    "/api/v2/phoneNumbers" => { GET => numbers::list_phone_numbers, POST => numbers::create_phone_number }
    "/api/v2/phoneNumbers/{id}" => {
        GET => numbers::get_phone_number, PATCH => numbers::update_phone_number, DELETE => numbers::delete_phone_number
    }
    "/api/v2/phoneNumbers/{id}/prospect" => { GET => numbers::get_phone_number_prospect }
    "/api/v2/phoneNumbers/{id}/relationships/prospect" => {
        GET => numbers::get_phone_number_prospect_relationship, PATCH => numbers::update_phone_number_prospect_relationship
    }
    "/api/v2/prospects" => { GET => prospects::list_prospects, POST => prospects::create_prospect }
    "/api/v2/prospects/{id}" => {
        GET => prospects::get_prospect, PATCH => prospects::update_prospect, DELETE => prospects::delete_prospect
    }
    "/api/v2/prospects/{id}/phoneNumbers" => { GET => prospects::list_prospect_phone_numbers }
    "/api/v2/prospects/{id}/owner" => { GET => prospects::get_prospect_owner }
    "/api/v2/prospects/{id}/relationships/phoneNumbers" => {
        GET => prospects::get_prospect_phone_numbers_relationship,
        POST => prospects::add_prospect_phone_numbers,
        PATCH => crate::resources::cannot_detach,
        DELETE => crate::resources::cannot_detach,
    }
    "/api/v2/prospects/{id}/relationships/owner" => {
        GET => prospects::get_prospect_owner_relationship, PATCH => prospects::update_prospect_owner_relationship
    }
    "/api/v2/users" => { GET => users::list_users }
    "/api/v2/users/{id}" => { GET => users::get_user }
    "/api/v2/operations" => { POST => operations::post_operations }
}

/// The application, as `serve` runs it and as the tests drive it.
pub fn build(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state)
        .configure(routes)
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(ApiError::NotFound("There is no such route.".into()))
        }))
        .wrap(from_fn(observe))
}

/// A client's `X-Request-Id` is echoed when it is 1–64 characters of `A-Z a-z 0-9 . _ -`.
fn sane_request_id(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request id, `Vary: Accept`, rate-limit headers, and one access-log line per request (the path
/// without the query string: nothing secret ends up in logs).
async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|value| sane_request_id(value))
        .map_or_else(|| hex::encode(rand::random::<[u8; 8]>()), str::to_owned);
    let (method, path) = (req.method().clone(), req.path().to_owned());
    let mut response = next.call(req).await?;
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
        for (name, value) in rate_limit_headers(&info) {
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
