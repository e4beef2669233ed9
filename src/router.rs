//! The ONE route table ([`ROUTES`]) and [`build`], which `serve` and the tests use to assemble the
//! same `App`: every route with its handlers, 405 with `Allow` for the methods a path lacks, 404
//! for paths that are no route.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpResponse};

use crate::errors::ApiError;
use crate::jsonapi::body::BodyLimit;
use crate::resources::{
    changes, entry, operations, phone_numbers as numbers, prospects, users, webhooks,
};
use crate::state::AppState;

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
    "/api/v2/prospects/{id}/phoneNumbers" => { GET => numbers::list_prospect_phone_numbers }
    "/api/v2/prospects/{id}/owner" => { GET => prospects::get_prospect_owner }
    "/api/v2/prospects/{id}/relationships/phoneNumbers" => {
        GET => prospects::get_prospect_phone_numbers_relationship,
        POST => prospects::add_prospect_phone_numbers,
        PATCH => crate::resources::respond::cannot_detach,
        DELETE => crate::resources::respond::cannot_detach,
    }
    "/api/v2/prospects/{id}/relationships/owner" => {
        GET => prospects::get_prospect_owner_relationship, PATCH => prospects::update_prospect_owner_relationship
    }
    "/api/v2/users" => { GET => users::list_users }
    "/api/v2/users/{id}" => { GET => users::get_user }
    "/api/v2/changes" => { GET => changes::list_changes }
    "/api/v2/changes/{id}" => { GET => changes::get_change }
    "/api/v2/changes/{id}/actor" => { GET => changes::get_change_actor }
    "/api/v2/changes/{id}/relationships/actor" => { GET => changes::get_change_actor_relationship }
    "/api/v2/webhooks" => { GET => webhooks::list_webhooks, POST => webhooks::create_webhook }
    "/api/v2/webhooks/{id}" => {
        GET => webhooks::get_webhook, PATCH => webhooks::update_webhook, DELETE => webhooks::delete_webhook
    }
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
        .wrap(from_fn(crate::middleware::observe))
}
