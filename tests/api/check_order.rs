//! The order of checks (API.md section 9), one test per observable adjacent pair: route, negotiation,
//! authentication, rate limit, query, scope, body shape, existence, record permission, validation,
//! precondition.

use actix_web::http::Method;
use serde_json::{json, Value};

use phonebook::config::Config;
use phonebook::permissions::Role;

use crate::backend_tests;
use crate::helpers::{as_user, get_accepting, pointer, prospect_doc, raw, TestApp, JSONAPI};

fn number_doc(prospect: &str, attributes: Value) -> Value {
    json!({"data": {"type": "phoneNumber", "attributes": attributes,
        "relationships": {"prospect": {"data": {"type": "prospect", "id": prospect}}}}})
}

backend_tests!(
    unknown_route_and_method_come_before_negotiation,
    negotiation_comes_before_authentication,
    authentication_comes_before_query_scope_and_body,
    query_parameters_come_before_scope,
    scope_comes_before_body_shape,
    body_shape_comes_before_existence,
    existence_comes_before_record_permission,
    record_permission_comes_before_validation,
    existence_comes_before_validation,
    validation_comes_before_precondition
);

async fn unknown_route_and_method_come_before_negotiation(app: TestApp) {
    let body = b"{}";
    let response = raw(
        &app,
        Method::POST,
        "/api/v2/nothing",
        None,
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/vnd.api+json; charset=utf-8"),
        ],
        Some(body),
    )
    .await
    .expect(404);
    assert_eq!(response.error_code(), "resourceNotFound");
    let response = raw(
        &app,
        Method::PUT,
        "/api/v2/prospects",
        None,
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/vnd.api+json; charset=utf-8"),
        ],
        Some(body),
    )
    .await
    .expect(405);
    assert_eq!(response.error_code(), "methodNotAllowed");
    assert_eq!(response.header("allow"), Some("GET, HEAD, POST"));
    let response = raw(&app, Method::DELETE, "/api/v2/users/1", None, &[], None)
        .await
        .expect(405);
    assert_eq!(response.header("allow"), Some("GET, HEAD"));
    let response = raw(&app, Method::GET, "/api/v2/operations", None, &[], None)
        .await
        .expect(405);
    assert_eq!(response.header("allow"), Some("POST"));
}

async fn negotiation_comes_before_authentication(app: TestApp) {
    let body = prospect_doc(json!({})).to_string();
    let response = raw(
        &app,
        Method::POST,
        "/api/v2/prospects",
        None,
        &[("Content-Type", "application/json")],
        Some(body.as_bytes()),
    )
    .await
    .expect(415);
    assert_eq!(response.error_code(), "unsupportedMediaType");
    let response = raw(
        &app,
        Method::GET,
        "/api/v2/prospects",
        Some("not-a-token"),
        &[("Accept", "application/vnd.api+json; charset=utf-8")],
        None,
    )
    .await
    .expect(406);
    assert_eq!(response.error_code(), "notAcceptable");
}

async fn authentication_comes_before_query_scope_and_body(app: TestApp) {
    let response = raw(
        &app,
        Method::GET,
        "/api/v2/prospects?foo=1",
        None,
        &[],
        None,
    )
    .await
    .expect(401);
    assert_eq!(response.error_code(), "unauthorized");
    let response = raw(
        &app,
        Method::POST,
        "/api/v2/prospects",
        Some("wrong"),
        &[("Content-Type", JSONAPI)],
        Some(b"not json"),
    )
    .await
    .expect(401);
    assert_eq!(response.error_code(), "unauthorized");
}

async fn query_parameters_come_before_scope(app: TestApp) {
    let (_, token) = app.user("numbers@example.com", Role::Admin, "phoneNumbers.read");
    let response = as_user(&app, Method::GET, "/api/v2/prospects?foo=1", &token, None)
        .await
        .expect(400);
    assert_eq!(response.error_code(), "invalidQueryParameter");
    assert_eq!(response.body["errors"][0]["source"]["parameter"], "foo");
    let response = as_user(&app, Method::GET, "/api/v2/prospects", &token, None)
        .await
        .expect(403);
    assert_eq!(response.error_code(), "unauthorizedOauthScope");
    // Related endpoints too: the query is read before any scope is checked.
    let (_, none) = app.user("none@example.com", Role::Admin, "phoneNumbers.write");
    let prospect = app.prospect("Ada").await;
    let number = app
        .number(&prospect, json!({"number": "+18889387356"}))
        .await
        .expect(201)
        .id();
    for path in [
        format!("/api/v2/phoneNumbers/{number}/prospect?foo=1"),
        format!("/api/v2/prospects/{prospect}/owner?foo=1"),
        format!("/api/v2/prospects/{prospect}/phoneNumbers?foo=1"),
        format!("/api/v2/phoneNumbers/{number}/relationships/prospect?foo=1"),
        format!("/api/v2/prospects/{prospect}/relationships/owner?foo=1"),
        format!("/api/v2/prospects/{prospect}/relationships/phoneNumbers?foo=1"),
    ] {
        as_user(&app, Method::GET, &path, &none, None)
            .await
            .expect(400);
        as_user(
            &app,
            Method::GET,
            path.trim_end_matches("?foo=1"),
            &none,
            None,
        )
        .await
        .expect(403);
    }
}

async fn scope_comes_before_body_shape(app: TestApp) {
    let (_, token) = app.user(
        "reader@example.com",
        Role::Admin,
        "prospects.read phoneNumbers.read",
    );
    let response = raw(
        &app,
        Method::POST,
        "/api/v2/prospects",
        Some(&token),
        &[("Content-Type", JSONAPI)],
        Some(b"{not json"),
    )
    .await
    .expect(403);
    assert_eq!(response.error_code(), "unauthorizedOauthScope");
    let response = as_user(
        &app,
        Method::POST,
        "/api/v2/phoneNumbers",
        &token,
        Some(&json!({})),
    )
    .await
    .expect(403);
    assert_eq!(response.error_code(), "unauthorizedOauthScope");
}

async fn body_shape_comes_before_existence(app: TestApp) {
    let response = app
        .patch(
            "/api/v2/prospects/999999",
            json!({"data": {"id": "999999"}}),
        )
        .await
        .expect(400);
    assert_eq!(response.error_code(), "badRequest");
    let response = app
        .patch("/api/v2/phoneNumbers/999999", json!({}))
        .await
        .expect(400);
    assert_eq!(pointer(&response), "");
    let response = app
        .patch(
            "/api/v2/phoneNumbers/999999/relationships/prospect",
            json!({"meta": {}}),
        )
        .await
        .expect(400);
    assert_eq!(pointer(&response), "");
    let response = app
        .post(
            "/api/v2/prospects/999999/relationships/phoneNumbers",
            json!({"data": {"type": "phoneNumber"}}),
        )
        .await
        .expect(400);
    assert_eq!(response.error_code(), "badRequest");
}

async fn existence_comes_before_record_permission(app: TestApp) {
    let (_, viewer) = app.user(
        "viewer@example.com",
        Role::Viewer,
        "prospects.all phoneNumbers.all",
    );
    let patch =
        json!({"data": {"type": "prospect", "id": "999999", "attributes": {"firstName": "X"}}});
    let response = as_user(
        &app,
        Method::PATCH,
        "/api/v2/prospects/999999",
        &viewer,
        Some(&patch),
    )
    .await
    .expect(404);
    assert_eq!(response.error_code(), "resourceNotFound");
    as_user(
        &app,
        Method::DELETE,
        "/api/v2/prospects/999999",
        &viewer,
        None,
    )
    .await
    .expect(404);
    as_user(
        &app,
        Method::DELETE,
        "/api/v2/phoneNumbers/999999",
        &viewer,
        None,
    )
    .await
    .expect(404);
    let prospect = app.prospect("Ada").await;
    let patch =
        json!({"data": {"type": "prospect", "id": prospect, "attributes": {"firstName": "X"}}});
    let response = as_user(
        &app,
        Method::PATCH,
        &format!("/api/v2/prospects/{prospect}"),
        &viewer,
        Some(&patch),
    )
    .await
    .expect(403);
    assert_eq!(response.error_code(), "unauthorizedRequest");
    // A number created on a prospect that does not exist: 404, not 403.
    let response = as_user(
        &app,
        Method::POST,
        "/api/v2/phoneNumbers",
        &viewer,
        Some(&number_doc("999999", json!({"number": "+18889387356"}))),
    )
    .await
    .expect(404);
    assert_eq!(response.error_code(), "resourceNotFound");
}

async fn record_permission_comes_before_validation(app: TestApp) {
    let (_, viewer) = app.user(
        "viewer@example.com",
        Role::Viewer,
        "prospects.all phoneNumbers.all",
    );
    let prospect = app.prospect("Ada").await;
    let number = app
        .number(&prospect, json!({"number": "+18889387356"}))
        .await
        .expect(201)
        .id();
    let patch = json!({"data": {"type": "prospect", "id": prospect, "attributes": {"firstName": 5, "nickname": "x"},
        "relationships": {"friends": {"data": []}}}});
    let response = as_user(
        &app,
        Method::PATCH,
        &format!("/api/v2/prospects/{prospect}"),
        &viewer,
        Some(&patch),
    )
    .await
    .expect(403);
    assert_eq!(response.error_code(), "unauthorizedRequest");
    let patch = json!({"data": {"type": "phoneNumber", "id": number, "attributes": {"order": "x"},
        "relationships": {"prospect": {"data": null}}}});
    let response = as_user(
        &app,
        Method::PATCH,
        &format!("/api/v2/phoneNumbers/{number}"),
        &viewer,
        Some(&patch),
    )
    .await
    .expect(403);
    assert_eq!(response.error_code(), "unauthorizedRequest");
    let response = as_user(
        &app,
        Method::POST,
        "/api/v2/phoneNumbers",
        &viewer,
        Some(&number_doc(&prospect, json!({"number": "not a number"}))),
    )
    .await
    .expect(403);
    assert_eq!(response.error_code(), "unauthorizedRequest");
    let response = as_user(
        &app,
        Method::POST,
        "/api/v2/prospects",
        &viewer,
        Some(&prospect_doc(json!({"firstName": 1}))),
    )
    .await
    .expect(403);
    assert_eq!(response.error_code(), "unauthorizedRequest");
}

async fn existence_comes_before_validation(app: TestApp) {
    let patch = json!({"data": {"type": "prospect", "id": "999999", "attributes": {"firstName": 5},
        "relationships": {"friends": {"data": []}}}});
    app.patch("/api/v2/prospects/999999", patch)
        .await
        .expect(404);
    let patch = json!({"data": {"type": "phoneNumber", "id": "999999", "attributes": {"order": "x"},
        "relationships": {"prospect": {"data": null}}}});
    app.patch("/api/v2/phoneNumbers/999999", patch)
        .await
        .expect(404);
    let response = app
        .patch(
            "/api/v2/phoneNumbers/999999/relationships/prospect",
            json!({"data": null}),
        )
        .await
        .expect(404);
    assert_eq!(response.error_code(), "resourceNotFound");
    app.patch(
        "/api/v2/prospects/999999/relationships/owner",
        json!({"data": null}),
    )
    .await
    .expect(404);
}

async fn validation_comes_before_precondition(app: TestApp) {
    let prospect = app.prospect("Ada").await;
    let path = format!("/api/v2/prospects/{prospect}");
    let bad = json!({"data": {"type": "prospect", "id": prospect, "attributes": {"firstName": 5}}});
    let stale = [("If-Match", "\"stale\"")];
    let response = app
        .send(
            Method::PATCH,
            &path,
            Some(&app.admin_token),
            Some(&bad),
            &stale,
        )
        .await
        .expect(422);
    assert_eq!(response.error_code(), "validationError");
    let good =
        json!({"data": {"type": "prospect", "id": prospect, "attributes": {"firstName": "B"}}});
    let response = app
        .send(
            Method::PATCH,
            &path,
            Some(&app.admin_token),
            Some(&good),
            &stale,
        )
        .await
        .expect(412);
    assert_eq!(response.error_code(), "preconditionFailed");
    let number = app
        .number(&prospect, json!({"number": "+18889387356"}))
        .await
        .expect(201)
        .id();
    let path = format!("/api/v2/phoneNumbers/{number}");
    let bad = json!({"data": {"type": "phoneNumber", "id": number, "attributes": {"order": -1}}});
    app.send(
        Method::PATCH,
        &path,
        Some(&app.admin_token),
        Some(&bad),
        &stale,
    )
    .await
    .expect(422);
}

/// A rate limit of 3 requests per hour.
fn rate_limit_of_3(config: &mut Config) {
    config.rate_limit_per_hour = 3;
}

backend_tests!(with rate_limit_of_3; authentication_then_rate_limit_then_query);

async fn authentication_then_rate_limit_then_query(app: TestApp) {
    for _ in 0..3 {
        let response = app.get("/api/v2/prospects").await.expect(200);
        assert!(response.header("x-ratelimit-remaining").is_some());
    }
    // 401s come first and are not counted.
    let response = raw(
        &app,
        Method::GET,
        "/api/v2/prospects?foo=1",
        Some("unknown"),
        &[],
        None,
    )
    .await
    .expect(401);
    assert!(response.header("x-ratelimit-limit").is_none());
    let response = app.get("/api/v2/prospects?foo=1").await.expect(429);
    assert_eq!(response.error_code(), "rateLimitExceeded");
    assert!(
        response
            .header("retry-after")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    // Negotiation still comes before the limit.
    get_accepting(
        &app,
        "/api/v2/prospects",
        "application/vnd.api+json; charset=utf-8",
    )
    .await
    .expect(406);
}
