//! `/changes` (read-only): the change feed. A change is readable with the read scope of the type
//! it changed; the feed shows only those, and asking for another type by name is 403.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use super::context::Context;
use super::respond::{self, path_id};
use super::served::{existing, FeedEntry};
use crate::errors::ApiResult;
use crate::jsonapi::document::{Data, Document, ResourceType};
use crate::jsonapi::query::{Endpoint, FilterOp, FilterTarget, FilterValue, Query};
use crate::models::includes::Graph;
use crate::models::{Change, User};
use crate::permissions::{self, Access, Principal};
use crate::schema::{ChangeField, Relationship, UserField};

const KIND: ResourceType = ResourceType::Change;

/// 403 unless the token may read every type `filter[resourceType]` names.
fn check_type_filters(cx: &Context, query: &Query<ChangeField>) -> ApiResult<()> {
    for filter in &query.filters {
        if filter.target != FilterTarget::Field(ChangeField::ResourceKind) {
            continue;
        }
        let values = match &filter.op {
            FilterOp::AnyOf(values) => values.iter().collect(),
            FilterOp::Compare(_, value) => vec![value],
            _ => Vec::new(),
        };
        for value in values {
            if let FilterValue::Str(name) = value {
                if let Some(kind) = ResourceType::named(name) {
                    cx.require(kind, Access::Read)?;
                }
            }
        }
    }
    Ok(())
}

pub async fn list_changes(cx: Context) -> ApiResult<HttpResponse> {
    let query = cx.query::<ChangeField>(Endpoint::Collection, Access::Read)?;
    check_type_filters(&cx, &query)?;
    let readable = permissions::readable_changes(cx.principal());
    let restrict = (readable.len() < ResourceType::RECORDED.len())
        .then(|| readable.iter().map(|kind| kind.name()).collect::<Vec<_>>());
    let codec = cx.state.feed_cursors.clone();
    respond::list(&cx, query, None, move |conn, listing, _| {
        let page = Change::settled(conn, |conn| {
            Change::list(conn, listing, restrict.as_deref())
        })?;
        let page = page.map(|change| FeedEntry::new(change, &codec));
        Ok((page, Graph::default()))
    })
    .await
}

/// Change `id`, after the read scope of the type it changed.
fn readable(
    conn: &mut crate::db::DbConnection,
    principal: &Principal,
    id: i64,
) -> ApiResult<Change> {
    let entry = existing::<FeedEntry>(conn, id)?;
    if let Some(kind) = ResourceType::named(&entry.change.resource_type) {
        permissions::require_scope(principal, kind, Access::Read)?;
    }
    Ok(entry.change)
}

pub async fn get_change(cx: Context, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let query = cx.query::<ChangeField>(Endpoint::Single, Access::Read)?;
    let id = path_id(&id, KIND)?;
    let (principal, codec) = (cx.principal().clone(), cx.state.feed_cursors.clone());
    respond::one(&cx, &query, StatusCode::OK, move |conn| {
        Ok(FeedEntry::new(readable(conn, &principal, id)?, &codec))
    })
    .await
}

/// `GET /changes/{id}/actor`: the user who made the change (`data: null` for the command line).
pub async fn get_change_actor(cx: Context, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let query = cx.query::<UserField>(Endpoint::Single, Access::Read)?;
    cx.require(KIND, Access::Read)?;
    let id = path_id(&id, KIND)?;
    let principal = cx.principal().clone();
    let actor = cx
        .database(move |conn| {
            let change = readable(conn, &principal, id)?;
            let actor = change.actor_id.map(|actor| existing::<User>(conn, actor));
            actor.transpose()
        })
        .await?;
    let view = cx.view(&query);
    let data = Data::One(actor.as_ref().map(|user| view.user(user)));
    Ok(Document::new(data, cx.self_link()).respond(StatusCode::OK))
}

/// `GET /changes/{id}/relationships/actor`, after the read scope of the type the change changed.
pub async fn get_change_actor_relationship(
    cx: Context,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    cx.query::<ChangeField>(Endpoint::Bare, Access::Read)?;
    let id = path_id(&id, KIND)?;
    let principal = cx.principal().clone();
    let change = cx
        .database(move |conn| readable(conn, &principal, id))
        .await?;
    let rel = Relationship::ChangeActor;
    let linkage = super::view::change_linkage(&change, rel);
    let document = respond::relationship_document(&cx, rel, id, linkage);
    Ok(document.respond(StatusCode::OK))
}
