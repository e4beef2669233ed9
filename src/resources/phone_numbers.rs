//! `/phoneNumbers` and the number routes below a prospect: thin handlers over the write rules
//! (`writes::phone_number`) and the generic responses (`respond`).

use super::served::existing;
use actix_web::{web, HttpResponse};

use super::context::Context;
use super::respond::{self, path_id};
use super::writes::{phone_number as write, Lids};
use crate::errors::ApiResult;
use crate::jsonapi::body::Body;
use crate::jsonapi::document::ResourceType;
use crate::jsonapi::query::Endpoint;
use crate::models::includes::Graph;
use crate::models::{PhoneNumberRow, Prospect};
use crate::permissions::Access;
use crate::schema::{PhoneNumberField, Relationship};

const KIND: ResourceType = ResourceType::PhoneNumber;

pub async fn list_phone_numbers(cx: Context) -> ApiResult<HttpResponse> {
    list(cx, None).await
}

/// `GET /prospects/{id}/phoneNumbers`: the prospect's numbers, with the full query language.
pub async fn list_prospect_phone_numbers(
    cx: Context,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let prospect = path_id(&id, ResourceType::Prospect);
    list(cx, Some(prospect)).await
}

/// A page of numbers, optionally of one prospect (`prospect`: the path id, resolved only after
/// the query and scope checks, which come first).
async fn list(cx: Context, prospect: Option<ApiResult<i64>>) -> ApiResult<HttpResponse> {
    let query = cx.query::<PhoneNumberField>(Endpoint::Collection, Access::Read)?;
    let prospect_id = prospect.transpose()?;
    let parent = prospect_id.map(|id| (ResourceType::Prospect.name(), id));
    respond::list(&cx, query, parent, move |conn, listing, needs| {
        if let Some(prospect_id) = prospect_id {
            existing::<Prospect>(conn, prospect_id)?;
        }
        if !needs.prospects_of_numbers() {
            let page = PhoneNumberRow::list(conn, listing, prospect_id)?;
            return Ok((page, Graph::default()));
        }
        let (page, prospects) = PhoneNumberRow::list_with_prospects(conn, listing, prospect_id)?;
        Ok((page, Graph::with_prospects(conn, prospects, needs)?))
    })
    .await
}

pub async fn get_phone_number(cx: Context, id: web::Path<String>) -> ApiResult<HttpResponse> {
    respond::get::<PhoneNumberRow>(&cx, &id).await
}

pub async fn create_phone_number(cx: Context, body: Body) -> ApiResult<HttpResponse> {
    let region = cx.default_region();
    respond::create(&cx, body, move |conn, journal, principal, input| {
        write::create(conn, journal, principal, input, &region, &Lids::new())
    })
    .await
}

pub async fn update_phone_number(
    cx: Context,
    id: web::Path<String>,
    body: Body,
) -> ApiResult<HttpResponse> {
    let region = cx.default_region();
    respond::update(
        &cx,
        &id,
        body,
        move |conn, journal, principal, id, input, precondition| {
            let (target, lids) = ((id, input), Lids::new());
            write::update(
                conn,
                journal,
                principal,
                target,
                (&region, &lids),
                precondition,
            )
        },
    )
    .await
}

pub async fn delete_phone_number(cx: Context, id: web::Path<String>) -> ApiResult<HttpResponse> {
    respond::delete::<PhoneNumberRow>(&cx, &id).await
}

/// `GET /phoneNumbers/{id}/prospect`.
pub async fn get_phone_number_prospect(
    cx: Context,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    respond::related(&cx, &id, KIND, |conn, id| {
        let number = existing::<PhoneNumberRow>(conn, id)?;
        existing::<Prospect>(conn, number.prospect_id)
    })
    .await
}

/// `GET /phoneNumbers/{id}/relationships/prospect`.
pub async fn get_phone_number_prospect_relationship(
    cx: Context,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    respond::relationship::<PhoneNumberRow>(&cx, &id, Relationship::PhoneNumberProspect).await
}

/// `PATCH /phoneNumbers/{id}/relationships/prospect`: moves the number (appended to the new list).
pub async fn update_phone_number_prospect_relationship(
    cx: Context,
    id: web::Path<String>,
    body: Body,
) -> ApiResult<HttpResponse> {
    let rel = Relationship::PhoneNumberProspect;
    respond::write_to_one(&cx, &id, rel, body, write::move_by_linkage).await
}
