//! `/prospects` and the routes below a prospect: thin handlers over the write rules
//! (`writes::prospect`, `writes::phone_number` for moves) and the generic responses (`respond`).

use actix_web::{web, HttpResponse};

use super::context::Context;
use super::respond::{self, path_id};
use super::writes::as_actor;
use super::writes::{phone_number, prospect as write};
use crate::errors::{ApiError, ApiResult};
use crate::jsonapi::body::{self, Body};
use crate::jsonapi::document::ResourceType;
use crate::jsonapi::query::Endpoint;
use crate::models::includes::Graph;
use crate::models::{Prospect, User};
use crate::permissions::Access;
use crate::schema::{PhoneNumberField, ProspectField, Relationship};

const KIND: ResourceType = ResourceType::Prospect;

pub async fn list_prospects(cx: Context) -> ApiResult<HttpResponse> {
    let query = cx.query::<ProspectField>(Endpoint::Collection, Access::Read)?;
    respond::list(&cx, query, None, |conn, listing, needs| {
        let page = Prospect::list(conn, listing)?;
        let graph = Graph::for_prospects(conn, &page.rows, needs)?;
        Ok((page, graph))
    })
    .await
}

pub async fn get_prospect(cx: Context, id: web::Path<String>) -> ApiResult<HttpResponse> {
    respond::get::<Prospect>(&cx, &id).await
}

pub async fn create_prospect(cx: Context, body: Body) -> ApiResult<HttpResponse> {
    respond::create(&cx, body, |_| write::create).await
}

pub async fn update_prospect(
    cx: Context,
    id: web::Path<String>,
    body: Body,
) -> ApiResult<HttpResponse> {
    respond::update(&cx, &id, body, write::update).await
}

pub async fn delete_prospect(cx: Context, id: web::Path<String>) -> ApiResult<HttpResponse> {
    respond::delete::<Prospect>(&cx, &id).await
}

/// `GET /prospects/{id}/owner`. Like every related endpoint, it needs the read scope of what it
/// returns (API.md section 9: every resource in a response needs the read scope of its type).
pub async fn get_prospect_owner(cx: Context, id: web::Path<String>) -> ApiResult<HttpResponse> {
    respond::related::<Prospect, User>(&cx, &id, Relationship::ProspectOwner).await
}

/// `GET /prospects/{id}/relationships/phoneNumbers`: full linkage in `order`, not paginated.
pub async fn get_prospect_phone_numbers_relationship(
    cx: Context,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    respond::relationship::<Prospect>(&cx, &id, Relationship::ProspectPhoneNumbers).await
}

/// `POST /prospects/{id}/relationships/phoneNumbers`: moves the listed numbers to this prospect
/// (those already on it stay where they are), all or nothing.
pub async fn add_prospect_phone_numbers(
    cx: Context,
    id: web::Path<String>,
    body: Body,
) -> ApiResult<HttpResponse> {
    // A move needs `phoneNumbers.write` only (API.md section 9); the record rule then asks
    // whether the caller may write both prospects.
    cx.query::<PhoneNumberField>(Endpoint::Bare, Access::Write)?;
    let id = path_id(&id, KIND)?;
    let linkage = body::linkage_document(&body.read().await?)?;
    let items = linkage.as_array().ok_or_else(|| {
        let detail = "`phoneNumbers` is to-many: `data` must be an array.";
        ApiError::bad_request("/data", detail)
    })?;
    let number = ResourceType::PhoneNumber;
    let targets = (items.iter().enumerate())
        .map(|(index, item)| body::identifier(item, &format!("/data/{index}"), number))
        .collect::<Result<Vec<_>, _>>()?;
    let principal = cx.principal().clone();
    let work = as_actor(&principal.clone(), move |conn, journal| {
        phone_number::move_all_to(conn, journal, &principal, id, &targets)
    });
    cx.database(work).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /prospects/{id}/relationships/owner`.
pub async fn get_prospect_owner_relationship(
    cx: Context,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    respond::relationship::<Prospect>(&cx, &id, Relationship::ProspectOwner).await
}

/// `PATCH /prospects/{id}/relationships/owner` (admins only).
pub async fn update_prospect_owner_relationship(
    cx: Context,
    id: web::Path<String>,
    body: Body,
) -> ApiResult<HttpResponse> {
    let rel = Relationship::ProspectOwner;
    respond::write_to_one(&cx, &id, rel, body, write::change_owner).await
}
