//! `GET /api/v2` (the entry point), `GET /api/v2/openapi.json` and `GET /health`.

use super::served::existing;
use std::sync::OnceLock;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::json;

use super::context::Context;
use crate::db;
use crate::domain::ResourceType;
use crate::errors::ApiResult;
use crate::jsonapi::media;
use crate::models::User;
use crate::state::AppState;

/// The OpenAPI description kept in `openapi/openapi.yaml`, embedded at build time.
pub const OPENAPI_YAML: &str = include_str!("../../openapi/openapi.yaml");

/// The OpenAPI document as JSON, converted once, with a `head` operation beside every `get`.
pub fn openapi_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(
        || match serde_yaml::from_str::<serde_json::Value>(OPENAPI_YAML) {
            Ok(mut document) => {
                with_head_operations(&mut document);
                document.to_string()
            }
            Err(error) => {
                json!({ "error": format!("openapi/openapi.yaml does not parse: {error}") })
                    .to_string()
            }
        },
    )
}

/// Every route with `GET` answers `HEAD` (the router adds it), so the document describes a `head`
/// operation for each `get`: the same parameters and statuses, under its own `operationId`; a HEAD
/// response has the GET's headers and no body.
fn with_head_operations(document: &mut serde_json::Value) {
    let Some(paths) = document["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        let Some(mut head) = item.get("get").cloned() else {
            continue;
        };
        let get_id = head["operationId"].as_str().unwrap_or("get").to_owned();
        head["operationId"] = format!("{get_id}_head").into();
        let summary = head["summary"].as_str().unwrap_or_default().to_owned();
        head["summary"] = format!("{summary} (headers only)").into();
        head["description"] = format!(
            "`HEAD`: the status and headers `GET` would answer (`Content-Length` included), no body. \
             {}",
            head["description"].as_str().unwrap_or_default()
        )
        .into();
        item["head"] = head;
    }
}

pub async fn get_entry_point(cx: Context) -> ApiResult<HttpResponse> {
    cx.no_query_parameters()?;
    let user_id = cx.principal().user_id;
    let user = cx
        .database(move |conn| existing::<User>(conn, user_id))
        .await?;
    let collections: serde_json::Map<String, serde_json::Value> = ResourceType::ALL
        .into_iter()
        .map(|kind| {
            let url = cx.base.url(format_args!("/{}", kind.collection()));
            (kind.collection().to_owned(), url.into())
        })
        .collect();
    let document = json!({
        "jsonapi": media::jsonapi_object(false, false),
        "links": {
            "self": cx.base.as_str(),
            "describedby": cx.base.url("/openapi.json"),
        },
        "meta": {
            "user": { "id": user.id.to_string(), "name": user.name, "email": user.email, "role": user.role },
            "scopes": cx.principal().scopes.names().collect::<Vec<_>>(),
            "collections": collections,
        },
    });
    Ok(HttpResponse::Ok()
        .content_type(media::JSONAPI)
        .body(document.to_string()))
}

pub async fn get_openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(openapi_json())
}

/// 200 when the database answers, 503 when not (within [`db::HEALTH_BUDGET`]). Not JSON:API:
/// load balancers read the status.
pub async fn get_health(state: web::Data<AppState>) -> HttpResponse {
    let healthy = db::is_healthy(&state.pool, db::HEALTH_BUDGET).await;
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    HttpResponse::build(status)
        .content_type("application/json")
        .body(json!({ "status": if healthy { "ok" } else { "unavailable" } }).to_string())
}
