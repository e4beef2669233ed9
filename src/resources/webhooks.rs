//! `/webhooks` (admins only, `webhooks.*` scopes): thin handlers over the write rules
//! (`writes::webhook`) and the generic responses (`respond`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use super::context::Context;
use super::respond::{self, path_id};
use super::served::{existing, WebhookState};
use super::writes::webhook as write;
use crate::errors::ApiResult;
use crate::jsonapi::body::{self, Body, Intent};
use crate::jsonapi::document::ResourceType;
use crate::jsonapi::query::Endpoint;
use crate::models::includes::Graph;
use crate::models::Webhook;
use crate::permissions::Access;
use crate::schema::WebhookField;

const KIND: ResourceType = ResourceType::Webhook;

pub async fn list_webhooks(cx: Context) -> ApiResult<HttpResponse> {
    let query = cx.query::<WebhookField>(Endpoint::Collection, Access::Read)?;
    write::authorize_admin(cx.principal(), Access::Read)?;
    respond::list(&cx, query, None, |conn, listing, _| {
        let page = Webhook::list(conn, listing)?;
        let states = WebhookState::load(conn, page.rows)?;
        let page = crate::models::listing::Page {
            rows: states,
            more: page.more,
            direction: page.direction,
            total: page.total,
        };
        Ok((page, Graph::default()))
    })
    .await
}

pub async fn get_webhook(cx: Context, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let query = cx.query::<WebhookField>(Endpoint::Single, Access::Read)?;
    write::authorize_admin(cx.principal(), Access::Read)?;
    let id = path_id(&id, KIND)?;
    respond::one(&cx, &query, StatusCode::OK, move |conn| {
        existing::<WebhookState>(conn, id)
    })
    .await
}

pub async fn create_webhook(cx: Context, body: Body) -> ApiResult<HttpResponse> {
    let query = cx.query::<WebhookField>(Endpoint::Single, Access::Write)?;
    write::authorize_admin(cx.principal(), Access::Write)?;
    let input = body::resource_document(&body.read().await?, KIND, Intent::Create)?;
    let principal = cx.principal().clone();
    respond::one(&cx, &query, StatusCode::CREATED, move |conn| {
        write::create(conn, &principal, &input)
    })
    .await
}

pub async fn update_webhook(
    cx: Context,
    id: web::Path<String>,
    body: Body,
) -> ApiResult<HttpResponse> {
    let query = cx.query::<WebhookField>(Endpoint::Single, Access::Write)?;
    write::authorize_admin(cx.principal(), Access::Write)?;
    let id = path_id(&id, KIND)?;
    let input = body::resource_document(&body.read().await?, KIND, Intent::Update { id })?;
    let principal = cx.principal().clone();
    respond::one(&cx, &query, StatusCode::OK, move |conn| {
        write::update(conn, &principal, id, &input)
    })
    .await
}

pub async fn delete_webhook(cx: Context, id: web::Path<String>) -> ApiResult<HttpResponse> {
    write::authorize_admin(cx.principal(), Access::Delete)?;
    respond::delete::<WebhookState>(&cx, &id).await
}
