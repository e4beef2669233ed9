//! The entry point and what every request meets first (API.md sections 1, 3 and 9): `/api/v2`
//! describing the caller and the collections, unknown routes and methods, the 401 of a missing or
//! unknown token, request ids, and query parameters refused by their decoded name.

use actix_web::http::Method;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{raw, TestApp};

backend_tests!(
    entry_point_describes_caller_and_collections,
    unknown_routes_and_methods,
    requests_without_a_valid_token_are_401,
    request_ids_are_echoed_when_sane,
    entry_point_and_operations_reject_query_parameters_by_decoded_name
);

async fn entry_point_describes_caller_and_collections(app: TestApp) {
    let response = app.get("/api/v2").await.expect(200);
    assert_eq!(response.body["jsonapi"]["version"], "1.1");
    assert_eq!(response.body["meta"]["user"]["role"], "admin");
    assert!(response.body["meta"]["user"]["id"].is_string());
    assert!(response.body["links"]["describedby"]
        .as_str()
        .unwrap()
        .ends_with("/api/v2/openapi.json"));
    assert!(response.body["meta"]["collections"]["phoneNumbers"]
        .as_str()
        .unwrap()
        .ends_with("/api/v2/phoneNumbers"));
    assert_eq!(response.header("vary"), Some("Accept"));
    assert!(response.header("x-request-id").is_some());
}

async fn unknown_routes_and_methods(app: TestApp) {
    assert_eq!(
        app.get("/api/v2/nothing").await.expect(404).error_code(),
        "resourceNotFound"
    );
    let response = app
        .send(
            Method::PUT,
            "/api/v2/phoneNumbers",
            Some(&app.admin_token),
            None,
            &[],
        )
        .await
        .expect(405);
    assert_eq!(response.header("allow"), Some("GET, HEAD, POST"));
}

async fn requests_without_a_valid_token_are_401(app: TestApp) {
    let missing = app
        .send(Method::GET, "/api/v2/prospects", None, None, &[])
        .await
        .expect(401);
    assert_eq!(missing.error_code(), "unauthorized");
    assert_eq!(
        missing.header("www-authenticate"),
        Some(r#"Bearer realm="phonebook""#)
    );
    let unknown = app
        .send(Method::GET, "/api/v2/prospects", Some("nope"), None, &[])
        .await
        .expect(401);
    assert_eq!(
        unknown.header("www-authenticate"),
        Some(r#"Bearer realm="phonebook", error="invalid_token""#)
    );
}

async fn request_ids_are_echoed_when_sane(app: TestApp) {
    let sane = "abc-DEF_123.x";
    let max = "a".repeat(64);
    for id in [sane, max.as_str()] {
        let response = raw(
            &app,
            Method::GET,
            "/api/v2/prospects",
            Some(&app.admin_token),
            &[("X-Request-Id", id)],
            None,
        )
        .await
        .expect(200);
        assert_eq!(response.header("x-request-id"), Some(id));
    }
    let long = "a".repeat(65);
    for insane in [
        "has space",
        "semi;colon",
        long.as_str(),
        "quote\"d",
        "slash/",
    ] {
        let response = raw(
            &app,
            Method::GET,
            "/api/v2/prospects",
            Some(&app.admin_token),
            &[("X-Request-Id", insane)],
            None,
        )
        .await
        .expect(200);
        let generated = response.header("x-request-id").expect("generated id");
        assert_ne!(generated, insane);
        assert!(!generated.is_empty() && generated.len() <= 64);
    }
    let a = raw(&app, Method::GET, "/api/v2/nothing", None, &[], None)
        .await
        .expect(404);
    let b = raw(&app, Method::GET, "/api/v2/prospects", None, &[], None)
        .await
        .expect(401);
    let (a, b) = (
        a.header("x-request-id").unwrap(),
        b.header("x-request-id").unwrap(),
    );
    assert_ne!(a, b, "each request gets its own id");
    let response = raw(
        &app,
        Method::GET,
        "/health",
        None,
        &[("X-Request-Id", sane)],
        None,
    )
    .await
    .expect(200);
    assert_eq!(response.header("x-request-id"), Some(sane));
}

async fn entry_point_and_operations_reject_query_parameters_by_decoded_name(app: TestApp) {
    let response = app.get("/api/v2?include%5Bx%5D=1").await.expect(400);
    assert_eq!(
        response.body["errors"][0]["source"]["parameter"],
        "include[x]"
    );
    let body = json!({"atomic:operations": [{"op": "add", "data": {"type": "prospect", "attributes": {}}}]});
    let response = app
        .post("/api/v2/operations?include=prospect", body)
        .await
        .expect(400);
    assert_eq!(response.body["errors"][0]["source"]["parameter"], "include");
    assert_eq!(
        app.get("/api/v2/prospects?count=true")
            .await
            .expect(200)
            .body["meta"]["count"],
        0
    );
}
