//! `/users` (read-only): users are managed with the command line.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use super::path_id;
use super::{included_if_asked, CursorBinding};
use crate::auth::Caller;
use crate::errors::{ApiError, ApiResult};
use crate::jsonapi::document::ResourceType;
use crate::jsonapi::document::{Data, Document};
use crate::jsonapi::query::Endpoint;
use crate::models::User;
use crate::permissions::Access;
use crate::schema::UserField;

pub async fn list_users(caller: Caller) -> ApiResult<HttpResponse> {
    let query = caller.query::<UserField>(Endpoint::Collection, Access::Read)?;
    let binding = CursorBinding::new(&query, None);
    let listing = caller.listing(&query, &binding)?;
    let db_listing = listing.clone();
    let page = caller
        .database(move |conn| Ok(User::list(conn, &db_listing)?))
        .await?;
    let view = caller.view(&query);
    let data = page.rows.iter().map(|row| view.user(row)).collect();
    let included = included_if_asked(&query, Vec::new());
    let document = caller.collection(&page, &listing, &binding, data, included);
    Ok(document.respond(StatusCode::OK))
}

pub async fn get_user(caller: Caller, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let query = caller.query::<UserField>(Endpoint::Single, Access::Read)?;
    let id = path_id(&id, ResourceType::User)?;
    let user = caller
        .database(move |conn| User::find(conn, id)?.ok_or_else(|| ApiError::not_found("user", id)))
        .await?;
    let view = caller.view(&query);
    let mut document = Document::new(
        Data::One(Some(view.user(&user))),
        caller.base.url(format_args!("/users/{id}")),
    );
    document.included = included_if_asked(&query, Vec::new());
    Ok(document.respond(StatusCode::OK))
}
