//! The ONE route table ([`ROUTES`]) and [`build`], which `serve` and the tests use to assemble the
//! same `App`: every route with its handlers, 405 with `Allow` for the methods a path lacks, 404
//! for paths that are no route, and `Idempotency-Key` inside every route that needs a token.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::{from_fn, Condition};
use actix_web::{web, App, HttpResponse};

use crate::errors::ApiError;
use crate::jsonapi::body::BodyLimit;
use crate::resources::{
    changes, entry, operations, phone_numbers as numbers, prospects, respond, users, webhooks,
};
use crate::state::AppState;

/// Declares the route table once: it registers the routes (each path answering 405 with `Allow`
/// for the methods it lacks) and lists them in [`ROUTES`] for the OpenAPI check. Every `GET` also
/// answers `HEAD` through the same handler (RFC 9110 section 9.3.2; actix-web does not add it), and
/// [`crate::middleware::observe`] sends a HEAD the GET's status and headers without its body.
macro_rules! route_table {
    ($($path:literal => { $($method:ident => $handler:path),+ $(,)? })*) => {
        /// Every (path, methods) the service answers, `HEAD` wherever `GET` is.
        pub const ROUTES: &[(&str, &[&str])] = &[$(($path, methods!([] $($method)+))),*];

        fn routes(config: &mut web::ServiceConfig) {
            $(
                config.service(
                    with_routes!(web::resource($path); $($method => $handler),+)
                        .default_service(web::to(|| async {
                            let allow: &[&str] = methods!([] $($method)+);
                            Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow: allow.join(", ") })
                        }))
                        // Inside the route: 404 and 405 come before anything it checks.
                        .wrap(Condition::new(
                            !PUBLIC.contains(&$path),
                            from_fn(|req, next| {
                                let methods: &'static [&'static str] = methods!([] $($method)+);
                                crate::idempotency::keep_answers(req, next, methods)
                            }),
                        )),
                );
            )*
        }
    };
}

/// The method names of a route, `HEAD` after `GET`: `methods!([] GET POST)` is
/// `&["GET", "HEAD", "POST"]`.
macro_rules! methods {
    ([$($out:expr),*]) => { &[$($out),*] };
    ([$($out:expr),*] GET $($rest:ident)*) => { methods!([$($out,)* "GET", "HEAD"] $($rest)*) };
    ([$($out:expr),*] $method:ident $($rest:ident)*) => {
        methods!([$($out,)* stringify!($method)] $($rest)*)
    };
}

/// A resource with its routes, the GET handler also serving `HEAD`.
macro_rules! with_routes {
    ($resource:expr;) => { $resource };
    ($resource:expr; GET => $handler:path $(, $method:ident => $rest:path)*) => {
        with_routes!(
            $resource.route(web::get().to($handler)).route(web::head().to($handler));
            $($method => $rest),*
        )
    };
    ($resource:expr; $method:ident => $handler:path $(, $more:ident => $rest:path)*) => {
        with_routes!($resource.route(web::method(Method::$method).to($handler)); $($more => $rest),*)
    };
}

/// The routes that need no token (and so know no caller to keep an Idempotency-Key for).
const PUBLIC: &[&str] = &["/health", "/api/v2/openapi.json"];

route_table! {
    "/health" => { GET => entry::get_health }
    "/api/v2" => { GET => entry::get_entry_point }
    "/api/v2/openapi.json" => { GET => entry::get_openapi }
    "/api/v2/phoneNumbers" => { GET => numbers::list_phone_numbers, POST => numbers::create_phone_number }
    "/api/v2/phoneNumbers/{id}" => { GET => numbers::get_phone_number, PATCH => numbers::update_phone_number, DELETE => numbers::delete_phone_number }
    "/api/v2/phoneNumbers/{id}/prospect" => { GET => numbers::get_phone_number_prospect }
    "/api/v2/phoneNumbers/{id}/relationships/prospect" => { GET => numbers::get_phone_number_prospect_relationship, PATCH => numbers::update_phone_number_prospect_relationship }
    "/api/v2/phoneNumbers/{id}/sharedWith" => { GET => numbers::list_phone_number_shared_with }
    "/api/v2/phoneNumbers/{id}/relationships/sharedWith" => { GET => numbers::get_phone_number_shared_with_relationship, POST => numbers::write_shared_with, PATCH => numbers::write_shared_with, DELETE => numbers::write_shared_with }
    "/api/v2/prospects" => { GET => prospects::list_prospects, POST => prospects::create_prospect }
    "/api/v2/prospects/{id}" => { GET => prospects::get_prospect, PATCH => prospects::update_prospect, DELETE => prospects::delete_prospect }
    "/api/v2/prospects/{id}/phoneNumbers" => { GET => numbers::list_prospect_phone_numbers }
    "/api/v2/prospects/{id}/owner" => { GET => prospects::get_prospect_owner }
    "/api/v2/prospects/{id}/relationships/phoneNumbers" => { GET => prospects::get_prospect_phone_numbers_relationship, POST => prospects::add_prospect_phone_numbers, PATCH => respond::cannot_detach, DELETE => respond::cannot_detach }
    "/api/v2/prospects/{id}/relationships/owner" => { GET => prospects::get_prospect_owner_relationship, PATCH => prospects::update_prospect_owner_relationship }
    "/api/v2/users" => { GET => users::list_users }
    "/api/v2/users/{id}" => { GET => users::get_user }
    "/api/v2/changes" => { GET => changes::list_changes }
    "/api/v2/changes/{id}" => { GET => changes::get_change }
    "/api/v2/changes/{id}/actor" => { GET => changes::get_change_actor }
    "/api/v2/changes/{id}/relationships/actor" => { GET => changes::get_change_actor_relationship }
    "/api/v2/webhooks" => { GET => webhooks::list_webhooks, POST => webhooks::create_webhook }
    "/api/v2/webhooks/{id}" => { GET => webhooks::get_webhook, PATCH => webhooks::update_webhook, DELETE => webhooks::delete_webhook }
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
    let body_limit = BodyLimit(state.config.max_body_bytes);
    App::new()
        .app_data(state)
        .app_data(body_limit)
        .configure(routes)
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(ApiError::NotFound("There is no such route.".into()))
        }))
        .wrap(from_fn(crate::auth::caller::confirm_cached_credential))
        .wrap(from_fn(crate::middleware::observe))
}
