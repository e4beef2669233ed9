//! `/phoneNumbers` and the number routes below a prospect: thin handlers over the write rules
//! (`writes::phone_number`) and the generic responses (`respond`).

use super::served::existing;
use actix_web::{web, HttpResponse};

use super::context::Context;
use super::respond::{self, path_id};
use super::writes::{phone_number as write, Lids};
use crate::errors::{ApiError, ApiResult};
use crate::jsonapi::body::Body;
use crate::jsonapi::document::ResourceType;
use crate::jsonapi::query::Endpoint;
use crate::models::includes::Graph;
use crate::models::{PhoneNumberRow, Prospect};
use crate::permissions::Access;
use crate::schema::{PhoneNumberField, ProspectField, Relationship};

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
        let (page, prospects) = if needs.prospects_of_numbers() {
            PhoneNumberRow::list_with_prospects(conn, listing, prospect_id)?
        } else {
            (
                PhoneNumberRow::list(conn, listing, prospect_id)?,
                Vec::new(),
            )
        };
        let graph = Graph::with_prospects(conn, &page.rows, prospects, needs)?;
        Ok((page, graph))
    })
    .await
}

pub async fn get_phone_number(cx: Context, id: web::Path<String>) -> ApiResult<HttpResponse> {
    respond::get::<PhoneNumberRow>(&cx, &id).await
}

pub async fn create_phone_number(cx: Context, body: Body) -> ApiResult<HttpResponse> {
    let region = cx.default_region();
    respond::create(&cx, body, |input| {
        let checked = write::Checked::ahead(input, &region);
        move |conn: &mut _, journal: &mut _, principal: &_, input: &_| {
            write::create(conn, journal, principal, input, &checked, &Lids::new())
        }
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
    let rel = Relationship::PhoneNumberProspect;
    respond::related::<PhoneNumberRow, Prospect>(&cx, &id, rel).await
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

/// `GET /phoneNumbers/{id}/sharedWith`: the other prospects with a number of the same `number`,
/// with the query language of `/prospects` (and, like every related endpoint, the read scope of
/// what it returns).
pub async fn list_phone_number_shared_with(
    cx: Context,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let query = cx.query::<ProspectField>(Endpoint::Collection, Access::Read)?;
    let id = path_id(&id, KIND)?;
    respond::list(
        &cx,
        query,
        Some((KIND.name(), id)),
        move |conn, listing, needs| {
            let number = existing::<PhoneNumberRow>(conn, id)?;
            let page = Prospect::list_sharing(conn, listing, &number)?;
            let graph = Graph::for_prospects(conn, &page.rows, needs)?;
            Ok((page, graph))
        },
    )
    .await
}

/// `GET /phoneNumbers/{id}/relationships/sharedWith`: its linkage, a page at a time.
pub async fn get_phone_number_shared_with_relationship(
    cx: Context,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let rel = Relationship::PhoneNumberSharedWith;
    respond::linkage_page(&cx, &id, rel, |conn, id, listing| {
        let number = existing::<PhoneNumberRow>(conn, id)?;
        Ok(Prospect::list_sharing(conn, listing, &number)?)
    })
    .await
}

/// `PATCH`, `POST` and `DELETE /phoneNumbers/{id}/relationships/sharedWith`: 403 after the write
/// scope, since the relationship follows the numbers themselves.
pub async fn write_shared_with(cx: Context) -> ApiResult<HttpResponse> {
    cx.require(KIND, Access::Write)?;
    let detail = respond::read_only_detail(Relationship::PhoneNumberSharedWith);
    Err(ApiError::Forbidden(detail))
}
