//! How handlers answer: single-resource responses with their ETag (and 304 for a read whose
//! `If-None-Match` already has it), `If-Match` preconditions, relationship documents, and the
//! generic paths every resource type shares — one resource, a page, a relationship's linkage, a
//! delete.

use actix_web::http::header::{self, EntityTag};
use actix_web::http::{Method, StatusCode};
use actix_web::HttpResponse;

use super::conditional::{not_modified, Precondition};
use super::context::Context;
use super::pagination::CursorBinding;
use super::served::{existing, Served};
use super::writes::{self, as_actor, Deletable};
use crate::db::DbConnection;
use crate::errors::{ApiError, ApiResult};
use crate::jsonapi::body::{self, Body, Intent, ResourceInput, Target};
use crate::jsonapi::document::{Data, Document, Identifier, Linkage, Resource, ResourceType};
use crate::jsonapi::query::{Endpoint, Query};
use crate::jsonapi::schema::{Field, Relationship as _};
use crate::models::includes::{Graph, Needs};
use crate::models::listing::{Keyed, Listing, Page};
use crate::models::Journal;
use crate::permissions::{Access, Principal};
use crate::schema::Relationship;

/// The write rules of a change to existing record `id` with `input` (its attributes, or a new
/// linkage) under the request's precondition: what [`update`] and [`write_to_one`] run in the
/// write transaction.
pub trait RecordWrite<In, T>:
    Fn(&mut DbConnection, &mut Journal, &Principal, i64, In, &Precondition) -> ApiResult<T>
    + Send
    + 'static
{
}

impl<W, In, T> RecordWrite<In, T> for W where
    W: Fn(&mut DbConnection, &mut Journal, &Principal, i64, In, &Precondition) -> ApiResult<T>
        + Send
        + 'static
{
}

/// A single-resource response with its ETag (304 when a read's `If-None-Match` already has it;
/// writes are answered in full).
pub fn single(
    cx: &Context,
    status: StatusCode,
    document: Document,
    tag: Option<EntityTag>,
) -> HttpResponse {
    let mut builder = HttpResponse::build(status);
    if let Some(tag) = tag {
        let read = matches!(*cx.method(), Method::GET | Method::HEAD);
        if read && status == StatusCode::OK && not_modified(cx.request(), &tag) {
            return HttpResponse::NotModified()
                .insert_header(header::ETag(tag))
                .finish();
        }
        builder.insert_header(header::ETag(tag));
    }
    document.respond_with(builder)
}

/// A path id: anything but a positive integer names no record (404).
pub fn path_id(raw: &str, kind: ResourceType) -> ApiResult<i64> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0 && !raw.starts_with('+'))
        .ok_or_else(|| ApiError::not_found(kind, raw))
}

/// `included` is present whenever `include` was given, even when empty.
pub fn included_if_asked<'r, F: Field>(
    query: &Query<F>,
    included: Vec<Resource<'r>>,
) -> Option<Vec<Resource<'r>>> {
    query.include.as_ref().map(|_| included)
}

/// A relationship document (`/{type}/{id}/relationships/{name}`): the linkage with its `self` and
/// `related` links.
pub fn relationship_document(
    cx: &Context,
    relationship: Relationship,
    id: i64,
    linkage: Linkage,
) -> Document<'static> {
    let spec = relationship.spec();
    let own = cx
        .base
        .url(format_args!("/{}/{id}", spec.owner.collection()));
    let self_link = format!("{own}/relationships/{}", spec.name);
    let mut document = Document::new(Data::Linkage(linkage), self_link);
    let related = format!("{own}/{}", spec.name);
    document.links.push(("related", Some(related)));
    document
}

/// Answers with one resource: `work` produces it (a lookup, or a write), and what the query
/// includes is loaded in the same database call. A related resource (`/phoneNumbers/7/prospect`)
/// keeps the URL asked for as its `self` link.
pub async fn one<T, W>(
    cx: &Context,
    query: &Query<T::Field>,
    status: StatusCode,
    work: W,
) -> ApiResult<HttpResponse>
where
    T: Served,
    W: FnOnce(&mut DbConnection) -> ApiResult<T> + Send + 'static,
{
    let needs = cx.needs(query);
    let (row, graph) = cx
        .database(move |conn| {
            let row = work(conn)?;
            let graph = T::graph(conn, std::slice::from_ref(&row), needs)?;
            Ok((row, graph))
        })
        .await?;
    let view = cx.view(query);
    let own_path = format!("/{}/{}", T::Field::TYPE.collection(), row.id());
    let own = cx.base.url(&own_path);
    let self_link = if cx.path == own_path || status != StatusCode::OK {
        own.clone()
    } else {
        cx.self_link()
    };
    let mut document = Document::new(Data::One(Some(row.render(&view, &graph))), self_link);
    let rows = std::slice::from_ref(&row);
    document.included = included_if_asked(query, T::included(&view, &graph, needs.includes, rows));
    let mut response = single(cx, status, document, row.etag());
    if status == StatusCode::CREATED {
        let location = header::HeaderValue::from_str(&own)
            .map_err(|error| ApiError::Internal(error.to_string()))?;
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `GET /{type}/{id}`: the resource and what the query includes, after the read scope.
pub async fn get<T: Served>(cx: &Context, id: &str) -> ApiResult<HttpResponse> {
    let query = cx.query::<T::Field>(Endpoint::Single, Access::Read)?;
    let id = path_id(id, T::Field::TYPE)?;
    one(cx, &query, StatusCode::OK, move |conn| {
        existing::<T>(conn, id)
    })
    .await
}

/// `POST /{type}`: after the write scope and the body's shape, `write_for` makes the write from
/// the resource object (doing there whatever needs no database, outside the transaction), and the
/// write applies the write rules as the caller, in a transaction that records the change; 201
/// with the new resource.
pub async fn create<T, M, W>(cx: &Context, body: Body, write_for: M) -> ApiResult<HttpResponse>
where
    T: Served,
    M: FnOnce(&ResourceInput) -> W,
    W: Fn(&mut DbConnection, &mut Journal, &Principal, &ResourceInput) -> ApiResult<T>
        + Send
        + 'static,
{
    let query = cx.query::<T::Field>(Endpoint::Single, Access::Write)?;
    let input = body::resource_document(&body.read().await?, T::Field::TYPE, Intent::Create)?;
    let write = write_for(&input);
    let principal = cx.principal().clone();
    let work = as_actor(&principal.clone(), move |conn, journal| {
        write(conn, journal, &principal, &input)
    });
    one(cx, &query, StatusCode::CREATED, work).await
}

/// `PATCH /{type}/{id}`: [`create`]'s steps for record `id`, with the request's `If-Match`
/// precondition; 200 with the updated resource.
pub async fn update<T, W>(cx: &Context, id: &str, body: Body, write: W) -> ApiResult<HttpResponse>
where
    T: Served,
    W: for<'i> RecordWrite<&'i ResourceInput, T>,
{
    let query = cx.query::<T::Field>(Endpoint::Single, Access::Write)?;
    let id = path_id(id, T::Field::TYPE)?;
    let intent = Intent::Update { id };
    let input = body::resource_document(&body.read().await?, T::Field::TYPE, intent)?;
    let (principal, precondition) = (cx.principal().clone(), cx.precondition());
    let work = as_actor(&principal.clone(), move |conn, journal| {
        write(conn, journal, &principal, id, &input, &precondition)
    });
    one(cx, &query, StatusCode::OK, work).await
}

/// Answers with one page of a collection (below `parent` for a related endpoint, for the cursor
/// binding) and what the query includes: `load` reads the page and its graph.
pub async fn list<T, L>(
    cx: &Context,
    query: Query<T::Field>,
    parent: Option<(&'static str, i64)>,
    load: L,
) -> ApiResult<HttpResponse>
where
    T: Served + Keyed<T::Field>,
    L: FnOnce(&mut DbConnection, &Listing<T::Field>, Needs) -> ApiResult<(Page<T>, Graph)>
        + Send
        + 'static,
{
    let binding = CursorBinding::new(&query, parent);
    let listing = cx.listing(&query, &binding)?;
    let (needs, db_listing) = (cx.needs(&query), listing.clone());
    let (page, graph) = cx
        .database(move |conn| load(conn, &db_listing, needs))
        .await?;
    let view = cx.view(&query);
    let data = page
        .rows
        .iter()
        .map(|row| row.render(&view, &graph))
        .collect();
    let included = T::included(&view, &graph, needs.includes, &page.rows);
    let included = included_if_asked(&query, included);
    let document = cx.collection(&page, &listing, &binding, Data::Many(data), included);
    Ok(document.respond(StatusCode::OK))
}

/// `GET /{type}/{id}/{name}` of a to-one relationship that always has a target (`rel`, of type
/// `Owner`): the related resource, after the read scope of its type `T` (API.md section 9: every
/// resource in a response needs it) and then the path id; 404 when record `id` does not exist.
pub async fn related<Owner: Served, T: Served>(
    cx: &Context,
    id: &str,
    rel: Relationship,
) -> ApiResult<HttpResponse> {
    let query = cx.query::<T::Field>(Endpoint::Single, Access::Read)?;
    let id = path_id(id, Owner::Field::TYPE)?;
    one(cx, &query, StatusCode::OK, move |conn| {
        let owner = existing::<Owner>(conn, id)?;
        // The record's own linkage names the related one, as its resource object shows it.
        let Linkage::ToOne(Some(target)) = owner.linkage(rel) else {
            unreachable!("{rel:?} is not a to-one relationship that always has a target")
        };
        existing::<T>(conn, target.id)
    })
    .await
}

/// `GET /{type}/{id}/relationships/{name}`: the relationship's linkage (a to-many one in full,
/// not paginated), after the read scope of the type that has it.
pub async fn relationship<T: Served>(
    cx: &Context,
    id: &str,
    rel: Relationship,
) -> ApiResult<HttpResponse> {
    cx.query::<T::Field>(Endpoint::Bare, Access::Read)?;
    let id = path_id(id, T::Field::TYPE)?;
    let row = cx.database(move |conn| existing::<T>(conn, id)).await?;
    let document = relationship_document(cx, rel, id, row.linkage(rel));
    Ok(document.respond(StatusCode::OK))
}

/// `GET /{type}/{id}/relationships/{name}` of a paginated to-many relationship: one page of its
/// linkage, after the read scope of the type that has it and the path id; `load` reads the page
/// of record `id`'s related rows (404 when there is no such record). Its cursors are bound like
/// those of the related endpoint, which lists the same rows in the same order.
pub async fn linkage_page<T, L>(
    cx: &Context,
    id: &str,
    rel: Relationship,
    load: L,
) -> ApiResult<HttpResponse>
where
    T: Served,
    L: FnOnce(&mut DbConnection, i64, &Listing<T::Field>) -> ApiResult<Page<T>> + Send + 'static,
{
    let spec = rel.spec();
    let query = cx.linkage_query::<T::Field>(spec.owner)?;
    let id = path_id(id, spec.owner)?;
    let binding = CursorBinding::new(&query, Some((spec.owner.name(), id)));
    let listing = cx.listing(&query, &binding)?;
    let db_listing = listing.clone();
    let page = cx.database(move |conn| load(conn, id, &db_listing)).await?;
    let identifiers = (page.rows.iter())
        .map(|row| Identifier {
            kind: spec.target,
            id: row.id(),
        })
        .collect();
    let data = Data::Linkage(Linkage::ToMany(identifiers));
    let mut document = cx.collection(&page, &listing, &binding, data, None);
    let related = cx.base.url(format_args!(
        "/{}/{id}/{}",
        spec.owner.collection(),
        spec.name
    ));
    document.links.push(("related", Some(related)));
    Ok(document.respond(StatusCode::OK))
}

/// `PATCH /{type}/{id}/relationships/{name}` of a to-one relationship: after the write scope of
/// the type that has it, the path id and the linkage sent, `write` applies the write rules; the
/// answer is the record's new linkage, with its new ETag.
pub async fn write_to_one<T, W>(
    cx: &Context,
    id: &str,
    rel: Relationship,
    body: Body,
    write: W,
) -> ApiResult<HttpResponse>
where
    T: Served,
    W: RecordWrite<Option<Target>, T>,
{
    cx.query::<T::Field>(Endpoint::Bare, Access::Write)?;
    let spec = rel.spec();
    let id = path_id(id, spec.owner)?;
    let target = body::to_one_linkage(&body.read().await?, spec.name, spec.target)?;
    let (principal, precondition) = (cx.principal().clone(), cx.precondition());
    let work = as_actor(&principal.clone(), move |conn, journal| {
        write(conn, journal, &principal, id, target.clone(), &precondition)
    });
    let row = cx.database(work).await?;
    let document = relationship_document(cx, rel, row.id(), row.linkage(rel));
    Ok(single(cx, StatusCode::OK, document, row.etag()))
}

/// `DELETE /{type}/{id}`: the write rules of a delete (existence, record permission, the
/// `If-Match` precondition); 204.
pub async fn delete<R: Deletable>(cx: &Context, id: &str) -> ApiResult<HttpResponse> {
    cx.query::<R::Field>(Endpoint::Bare, Access::Delete)?;
    let id = path_id(id, R::Field::TYPE)?;
    let (principal, precondition) = (cx.principal().clone(), cx.precondition());
    let work = as_actor(&principal.clone(), move |conn, journal| {
        writes::delete::<R>(conn, journal, &principal, id, &precondition)
    });
    cx.database(work).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Why a write to read-only relationship `rel` is refused.
pub fn read_only_detail(rel: Relationship) -> String {
    format!(
        "`{}` is read-only: it lists the other prospects that have a number with the same \
         `number`, and changes when their numbers do.",
        rel.name()
    )
}

/// 403 for the detach routes: a number always belongs to a prospect.
pub async fn cannot_detach(cx: Context) -> ApiResult<HttpResponse> {
    cx.require(ResourceType::Prospect, Access::Write)?;
    Err(ApiError::Forbidden(
        "Phone numbers cannot be detached from their prospect: delete them, move them with \
         POST /prospects/{id}/relationships/phoneNumbers, or replace a list with /operations."
            .into(),
    ))
}
