//! `/users` (read-only): users are managed with the command line.

use actix_web::{web, HttpResponse};

use super::context::Context;
use super::respond::{self};
use crate::errors::ApiResult;
use crate::jsonapi::query::Endpoint;
use crate::models::includes::Graph;
use crate::models::User;
use crate::permissions::Access;
use crate::schema::UserField;

pub async fn list_users(cx: Context) -> ApiResult<HttpResponse> {
    let query = cx.query::<UserField>(Endpoint::Collection, Access::Read)?;
    respond::list(&cx, query, None, |conn, listing, _| {
        Ok((User::list(conn, listing)?, Graph::default()))
    })
    .await
}

pub async fn get_user(cx: Context, id: web::Path<String>) -> ApiResult<HttpResponse> {
    respond::get::<User>(&cx, &id).await
}
