//! Content negotiation (API.md sections 1 and 9): the `Content-Type` of writes (the atomic
//! extension for operations), `Accept` with unsupported parameters, and reads that carry none.

use actix_web::http::Method;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{get_accepting, ids, prospect_doc, raw, Response, TestApp, ATOMIC, JSONAPI};

/// A JSON:API write with the given `Content-Type` (None: no header).
async fn write_as(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: &Value,
) -> Response {
    let headers: Vec<(&str, &str)> = content_type
        .map(|ct| ("Content-Type", ct))
        .into_iter()
        .collect();
    raw(
        app,
        method,
        path,
        Some(&app.admin_token),
        &headers,
        Some(body.to_string().as_bytes()),
    )
    .await
}

backend_tests!(
    request_content_types_other_than_plain_jsonapi_are_415,
    operations_need_the_atomic_extension_in_content_type,
    accept_with_only_unsupported_jsonapi_parameters_is_406,
    reads_ignore_a_content_type_they_carry_no_body_for
);

async fn request_content_types_other_than_plain_jsonapi_are_415(app: TestApp) {
    let document = prospect_doc(json!({"firstName": "Ada"}));
    for content_type in [
        Some("application/json"),
        Some("text/plain"),
        Some("application/vnd.api+json; charset=utf-8"),
        Some("application/vnd.api+json; ext=\"https://example.com/ext/unknown\""),
        Some(ATOMIC),
        Some("application/vnd.api+json; version=1.1"),
        None,
    ] {
        let response = write_as(
            &app,
            Method::POST,
            "/api/v2/prospects",
            content_type,
            &document,
        )
        .await
        .expect(415);
        assert_eq!(
            response.error_code(),
            "unsupportedMediaType",
            "{content_type:?}"
        );
        assert_eq!(
            response.body["errors"][0]["source"]["header"],
            "Content-Type"
        );
    }
    let prospect = app.prospect("Ada").await;
    let patch =
        json!({"data": {"type": "prospect", "id": prospect, "attributes": {"firstName": "B"}}});
    write_as(
        &app,
        Method::PATCH,
        &format!("/api/v2/prospects/{prospect}"),
        None,
        &patch,
    )
    .await
    .expect(415);
    write_as(
        &app,
        Method::PATCH,
        &format!("/api/v2/prospects/{prospect}"),
        Some("application/json"),
        &patch,
    )
    .await
    .expect(415);
    // Nothing was created or changed by the refused requests.
    let listed = app.get("/api/v2/prospects").await.expect(200);
    assert_eq!(ids(&listed), vec![prospect.clone()]);
    assert_eq!(listed.body["data"][0]["attributes"]["firstName"], "Ada");
    // `profile` is allowed, as is the bare type in any case.
    write_as(
        &app,
        Method::POST,
        "/api/v2/prospects",
        Some("application/vnd.api+json; profile=\"https://example.com/profile\""),
        &document,
    )
    .await
    .expect(201);
    write_as(
        &app,
        Method::POST,
        "/api/v2/prospects",
        Some("Application/Vnd.Api+JSON"),
        &document,
    )
    .await
    .expect(201);
}

async fn operations_need_the_atomic_extension_in_content_type(app: TestApp) {
    let document = json!({"atomic:operations": [{"op": "add", "data": {"type": "prospect", "attributes": {"firstName": "A"}}}]});
    for content_type in [
        Some(JSONAPI),
        Some("application/json"),
        None,
        Some("application/vnd.api+json; ext=\"https://example.com/other\""),
    ] {
        let response = write_as(
            &app,
            Method::POST,
            "/api/v2/operations",
            content_type,
            &document,
        )
        .await
        .expect(415);
        assert_eq!(response.error_code(), "unsupportedMediaType");
    }
    assert_eq!(
        ids(&app.get("/api/v2/prospects").await.expect(200)),
        Vec::<String>::new()
    );
    write_as(
        &app,
        Method::POST,
        "/api/v2/operations",
        Some(ATOMIC),
        &document,
    )
    .await
    .expect(200);
}

async fn accept_with_only_unsupported_jsonapi_parameters_is_406(app: TestApp) {
    for accept in [
        "application/vnd.api+json; charset=utf-8",
        "application/vnd.api+json; charset=utf-8, application/vnd.api+json; foo=bar",
        "application/vnd.api+json; ext=\"https://example.com/ext/unknown\"",
        "application/vnd.api+json; charset=utf-8; q=0.9",
        ATOMIC,
    ] {
        let response = get_accepting(&app, "/api/v2/prospects", accept)
            .await
            .expect(406);
        assert_eq!(response.error_code(), "notAcceptable", "{accept}");
        assert_eq!(response.header("content-type"), Some(JSONAPI));
    }
    for accept in [
        JSONAPI,
        "application/vnd.api+json; q=0.5",
        "application/vnd.api+json; charset=utf-8, application/vnd.api+json",
        "application/vnd.api+json; profile=\"https://example.com/p\"",
        "*/*",
        "application/*",
        "application/json, */*;q=0.1",
    ] {
        get_accepting(&app, "/api/v2/prospects", accept)
            .await
            .expect(200);
    }
    // The atomic extension is acceptable where it is spoken.
    let document = json!({"atomic:operations": [{"op": "add", "data": {"type": "prospect", "attributes": {}}}]});
    raw(
        &app,
        Method::POST,
        "/api/v2/operations",
        Some(&app.admin_token),
        &[("Content-Type", ATOMIC), ("Accept", ATOMIC)],
        Some(document.to_string().as_bytes()),
    )
    .await
    .expect(200);
}

async fn reads_ignore_a_content_type_they_carry_no_body_for(app: TestApp) {
    let token = app.admin_token.clone();
    let response = app
        .send(
            Method::GET,
            "/api/v2/prospects",
            Some(&token),
            None,
            &[("Content-Type", "application/json")],
        )
        .await;
    response.expect(200);
    let prospect = app.prospect("Ada").await;
    let path = format!("/api/v2/prospects/{prospect}");
    app.send(
        Method::DELETE,
        &path,
        Some(&token),
        None,
        &[("Content-Type", "application/json")],
    )
    .await
    .expect(204);
}
