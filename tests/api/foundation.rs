//! The service's foundation: entry point, CRUD of prospects and numbers, relationships,
//! negotiation, authentication, errors, the OpenAPI document.

use actix_web::http::Method;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(
    entry_point_describes_caller_and_collections,
    prospect_and_number_round_trip,
    requests_without_a_valid_token_are_401,
    unknown_routes_and_methods
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

async fn prospect_and_number_round_trip(app: TestApp) {
    let prospect = app.prospect("Ada").await;
    let created = app
        .number(
            &prospect,
            json!({"number": "(888) 938-7356", "phoneType": "work"}),
        )
        .await
        .expect(201);
    let id = created.id();
    assert!(created
        .header("location")
        .unwrap()
        .ends_with(&format!("/api/v2/phoneNumbers/{id}")));
    assert!(created.header("etag").is_some());
    assert_eq!(created.attr("number"), "+18889387356");
    assert_eq!(created.attr("rawNumber"), "(888) 938-7356");
    let listed = app
        .get(&format!(
            "/api/v2/phoneNumbers?filter[prospect][id]={prospect}"
        ))
        .await
        .expect(200);
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["data"][0]["id"], id.as_str());
    let shown = app
        .get(&format!("/api/v2/prospects/{prospect}"))
        .await
        .expect(200);
    assert_eq!(shown.attr("workPhones"), &json!(["+18889387356"]));
    app.delete(&format!("/api/v2/prospects/{prospect}"))
        .await
        .expect(204);
    app.get(&format!("/api/v2/phoneNumbers/{id}"))
        .await
        .expect(404);
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
    assert_eq!(response.header("allow"), Some("GET, POST"));
}

#[test]
fn openapi_lists_exactly_the_routes_of_the_route_table() {
    let document: serde_json::Value =
        serde_yaml::from_str(phonebook::resources::entry::OPENAPI_YAML)
            .expect("openapi.yaml parses");
    let mut documented: Vec<(String, String)> = document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flat_map(|item| item.keys())
                .filter(|key| ["get", "post", "patch", "delete", "put"].contains(&key.as_str()))
                .map(move |method| (path.clone(), method.to_uppercase()))
        })
        .collect();
    let mut served: Vec<(String, String)> = phonebook::app::ROUTES
        .iter()
        .flat_map(|(path, methods)| {
            methods
                .iter()
                .map(move |method| (path.to_string(), method.to_string()))
        })
        .collect();
    documented.sort();
    served.sort();
    assert_eq!(documented, served);
}

// ---------------------------------------------------------------------------------------------
// Helpers local to this file.

use actix_web::test::TestRequest;
use phonebook::config::Config;
use phonebook::permissions::Role;
use serde_json::Value;

use crate::helpers::{Response, ATOMIC, JSONAPI};

/// A rate limit of 3 requests per hour.
fn rate_limit_of_3(config: &mut Config) {
    config.rate_limit_per_hour = 3;
}

/// A body limit of 100 bytes.
fn body_limit_of_100(config: &mut Config) {
    config.max_body_bytes = 100;
}

/// Sends a request with exactly the given headers and raw body.
async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Response {
    let mut request = TestRequest::default().method(method).uri(path);
    if let Some(token) = token {
        request = request.insert_header(("Authorization", format!("Bearer {token}")));
    }
    for (name, value) in headers {
        request = request.insert_header((*name, *value));
    }
    if let Some(body) = body {
        request = request.set_payload(body.to_vec());
    }
    app.send_request(request.to_request()).await
}

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

/// A GET with the given `Accept`.
async fn get_accepting(app: &TestApp, path: &str, accept: &str) -> Response {
    raw(
        app,
        Method::GET,
        path,
        Some(&app.admin_token),
        &[("Accept", accept)],
        None,
    )
    .await
}

/// A request as `token` with a JSON:API body.
async fn as_user(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> Response {
    app.send(method, path, Some(token), body, &[]).await
}

fn pointer(response: &Response) -> &str {
    response.body["errors"][0]["source"]["pointer"]
        .as_str()
        .unwrap_or("<none>")
}

fn pointers(response: &Response) -> Vec<String> {
    response.body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|error| error["source"]["pointer"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn prospect_doc(attributes: Value) -> Value {
    json!({"data": {"type": "prospect", "attributes": attributes}})
}

fn number_doc(prospect: &str, attributes: Value) -> Value {
    json!({"data": {"type": "phoneNumber", "attributes": attributes,
        "relationships": {"prospect": {"data": {"type": "prospect", "id": prospect}}}}})
}

fn ids(response: &Response) -> Vec<String> {
    response.body["data"]
        .as_array()
        .expect("data array")
        .iter()
        .map(|item| item["id"].as_str().expect("id").to_owned())
        .collect()
}

fn etag_of(response: &Response) -> String {
    let tag = response.header("etag").expect("ETag").to_owned();
    assert!(!tag.starts_with("W/"), "ETags are strong: {tag}");
    tag
}

/// Asserts that every `links` member in `value`, at any depth, holds an absolute URL (or null).
fn assert_links_absolute(value: &Value) {
    match value {
        Value::Object(map) => {
            for (name, member) in map {
                if name == "links" {
                    for (link_name, link) in member.as_object().expect("links object") {
                        if link_name == "type" {
                            continue;
                        }
                        if let Some(href) = link.as_str() {
                            assert!(
                                href.starts_with("http://") || href.starts_with("https://"),
                                "relative link {link_name}: {href}"
                            );
                        } else {
                            assert!(
                                link.is_null(),
                                "link {link_name} is neither a string nor null: {link}"
                            );
                        }
                    }
                } else {
                    assert_links_absolute(member);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(assert_links_absolute),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Content negotiation (API.md sections 1 and 9).

backend_tests!(
    request_content_types_other_than_plain_jsonapi_are_415,
    operations_need_the_atomic_extension_in_content_type,
    accept_with_only_unsupported_jsonapi_parameters_is_406
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

// ---------------------------------------------------------------------------------------------
// The order of checks (API.md section 9), one test per observable adjacent pair.

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
    assert_eq!(response.header("allow"), Some("GET, POST"));
    let response = raw(&app, Method::DELETE, "/api/v2/users/1", None, &[], None)
        .await
        .expect(405);
    assert_eq!(response.header("allow"), Some("GET"));
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

// ---------------------------------------------------------------------------------------------
// Request bodies (API.md section 9, "Bodies", "Text", "Ids in request documents").

backend_tests!(
    bodies_that_are_not_documents_are_400,
    client_ids_type_and_id_mismatches,
    integer_ids_are_accepted,
    attribute_errors_are_422_at_their_pointers,
    pointers_escape_member_names,
    read_only_attributes_are_ignored,
    prospect_relationship_of_a_new_number,
    nul_and_invalid_utf8_are_422_at_their_pointer,
    unicode_round_trips_exactly
);

async fn bodies_that_are_not_documents_are_400(app: TestApp) {
    let response = raw(
        &app,
        Method::POST,
        "/api/v2/prospects",
        Some(&app.admin_token),
        &[("Content-Type", JSONAPI)],
        Some(b"{\"data\": "),
    )
    .await
    .expect(400);
    assert_eq!(response.error_code(), "badRequest");
    raw(
        &app,
        Method::POST,
        "/api/v2/prospects",
        Some(&app.admin_token),
        &[("Content-Type", JSONAPI)],
        Some(b""),
    )
    .await
    .expect(400);
    let response = app
        .post("/api/v2/prospects", json!({"meta": {}}))
        .await
        .expect(400);
    assert_eq!(pointer(&response), "");
    let response = app
        .post("/api/v2/prospects", json!([1, 2]))
        .await
        .expect(400);
    assert_eq!(pointer(&response), "");
    let response = app
        .post(
            "/api/v2/prospects",
            json!({"data": {"attributes": {"firstName": "A"}}}),
        )
        .await
        .expect(400);
    assert_eq!(response.error_code(), "badRequest");
    assert_eq!(pointer(&response), "/data");
    let response = app
        .post("/api/v2/prospects", json!({"data": [{"type": "prospect"}]}))
        .await
        .expect(400);
    assert_eq!(pointer(&response), "/data");
    let response = app
        .post("/api/v2/prospects", json!({"data": null}))
        .await
        .expect(400);
    assert_eq!(pointer(&response), "/data");
    let prospect = app.prospect("Ada").await;
    let response = app.post("/api/v2/phoneNumbers", json!({"data": {"type": "phoneNumber",
        "attributes": {"number": "+18889387356"}, "relationships": {"prospect": {"links": {"related": "x"}}}}})).await.expect(400);
    assert_eq!(pointer(&response), "/data/relationships/prospect");
    let response = app
        .patch(
            &format!("/api/v2/prospects/{prospect}"),
            json!({"data": {"type": "prospect", "attributes": {"firstName": "B"}}}),
        )
        .await
        .expect(400);
    assert_eq!(response.error_code(), "badRequest");
    assert_eq!(pointer(&response), "/data");
    assert_eq!(
        app.get(&format!("/api/v2/prospects/{prospect}"))
            .await
            .expect(200)
            .attr("firstName"),
        "Ada"
    );
}

async fn client_ids_type_and_id_mismatches(app: TestApp) {
    let response = app
        .post(
            "/api/v2/prospects",
            json!({"data": {"type": "prospect", "id": "77", "attributes": {}}}),
        )
        .await
        .expect(403);
    assert_eq!(response.error_code(), "forbidden");
    let prospect = app.prospect("Ada").await;
    let response = app
        .post(
            "/api/v2/phoneNumbers",
            json!({"data": {"type": "phoneNumber", "id": 5,
        "attributes": {"number": "+18889387356"},
        "relationships": {"prospect": {"data": {"type": "prospect", "id": prospect}}}}}),
        )
        .await
        .expect(403);
    assert_eq!(response.error_code(), "forbidden");
    let response = app
        .post(
            "/api/v2/prospects",
            json!({"data": {"type": "phoneNumber", "attributes": {}}}),
        )
        .await
        .expect(409);
    assert_eq!(response.error_code(), "conflict");
    assert_eq!(pointer(&response), "/data/type");
    let response = app
        .patch(
            &format!("/api/v2/prospects/{prospect}"),
            json!({"data": {"type": "prospects", "id": prospect, "attributes": {}}}),
        )
        .await
        .expect(409);
    assert_eq!(response.error_code(), "conflict");
    let other = app.prospect("Bob").await;
    let response = app
        .patch(
            &format!("/api/v2/prospects/{prospect}"),
            json!({"data": {"type": "prospect", "id": other, "attributes": {"firstName": "X"}}}),
        )
        .await
        .expect(409);
    assert_eq!(response.error_code(), "conflict");
    assert_eq!(pointer(&response), "/data/id");
    let response = app
        .post(
            "/api/v2/phoneNumbers",
            json!({"data": {"type": "phoneNumber",
        "attributes": {"number": "+18889387356"},
        "relationships": {"prospect": {"data": {"type": "user", "id": prospect}}}}}),
        )
        .await
        .expect(409);
    assert_eq!(response.error_code(), "conflict");
    for id in [&prospect, &other] {
        assert_ne!(
            app.get(&format!("/api/v2/prospects/{id}"))
                .await
                .expect(200)
                .attr("firstName"),
            "X"
        );
    }
}

async fn integer_ids_are_accepted(app: TestApp) {
    let prospect = app.prospect("Ada").await;
    let numeric: i64 = prospect.parse().unwrap();
    let updated = app.patch(&format!("/api/v2/prospects/{prospect}"),
        json!({"data": {"type": "prospect", "id": numeric, "attributes": {"lastName": "Lovelace"}}})).await.expect(200);
    assert_eq!(updated.body["data"]["id"], prospect.as_str());
    let created = app
        .post(
            "/api/v2/phoneNumbers",
            json!({"data": {"type": "phoneNumber",
        "attributes": {"number": "+18889387356"},
        "relationships": {"prospect": {"data": {"type": "prospect", "id": numeric}}}}}),
        )
        .await
        .expect(201);
    assert_eq!(
        created.body["data"]["relationships"]["prospect"]["data"]["id"],
        prospect.as_str()
    );
}

async fn attribute_errors_are_422_at_their_pointers(app: TestApp) {
    let prospect = app.prospect("Ada").await;
    let response = app
        .number(&prospect, json!({"number": "+18889387356", "order": "x"}))
        .await
        .expect(422);
    assert_eq!(response.error_code(), "validationError");
    assert_eq!(pointers(&response), vec!["/data/attributes/order"]);
    let response = app
        .post(
            "/api/v2/prospects",
            prospect_doc(json!({"firstName": ["A"], "nickname": "Al", "company": 3})),
        )
        .await
        .expect(422);
    let mut found = pointers(&response);
    found.sort();
    assert_eq!(
        found,
        vec![
            "/data/attributes/company",
            "/data/attributes/firstName",
            "/data/attributes/nickname"
        ]
    );
    let response = app
        .post(
            "/api/v2/prospects",
            json!({"data": {"type": "prospect", "attributes": {},
        "relationships": {"friends": {"data": []}}}}),
        )
        .await
        .expect(422);
    assert_eq!(pointers(&response), vec!["/data/relationships/friends"]);
    let response = app.post("/api/v2/phoneNumbers", json!({"data": {"type": "phoneNumber",
        "attributes": {"number": "+18889387356"},
        "relationships": {"prospect": {"data": {"type": "prospect", "id": prospect}}, "owner": {"data": null}}}})).await.expect(422);
    assert_eq!(pointers(&response), vec!["/data/relationships/owner"]);
    let response = app
        .post(
            "/api/v2/prospects",
            prospect_doc(json!({"firstName": "x".repeat(256)})),
        )
        .await
        .expect(422);
    assert_eq!(pointers(&response), vec!["/data/attributes/firstName"]);
    let response = app
        .number(
            &prospect,
            json!({"number": "+18889387356", "phoneType": "pager", "status": "VALID"}),
        )
        .await
        .expect(422);
    let mut found = pointers(&response);
    found.sort();
    assert_eq!(
        found,
        vec!["/data/attributes/phoneType", "/data/attributes/status"]
    );
    // Nothing was written.
    assert_eq!(
        ids(&app.get("/api/v2/prospects").await.expect(200)),
        vec![prospect.clone()]
    );
    assert_eq!(
        ids(&app.get("/api/v2/phoneNumbers").await.expect(200)),
        Vec::<String>::new()
    );
}

async fn pointers_escape_member_names(app: TestApp) {
    let response = app
        .post("/api/v2/prospects", prospect_doc(json!({"a/b~c": 1})))
        .await
        .expect(422);
    assert_eq!(pointers(&response), vec!["/data/attributes/a~1b~0c"]);
    let response = app
        .post(
            "/api/v2/prospects",
            json!({"data": {"type": "prospect",
        "relationships": {"x/y": {"data": null}}}}),
        )
        .await
        .expect(422);
    assert_eq!(pointers(&response), vec!["/data/relationships/x~1y"]);
    let prospect = app.prospect("Ada").await;
    let response = app.post("/api/v2/phoneNumbers", json!({"data": {"type": "phoneNumber",
        "attributes": {"number": "+18889387356"},
        "relationships": {"prospect": {"data": {"type": "prospect", "id": prospect}}, "~": {"data": null}}}})).await.expect(422);
    assert_eq!(pointers(&response), vec!["/data/relationships/~0"]);
    let response = app
        .post(
            "/api/v2/prospects",
            json!({"data": {"type": "prospect",
        "relationships": {"a/b": {"meta": {}}}}}),
        )
        .await
        .expect(400);
    assert_eq!(pointer(&response), "/data/relationships/a~1b");
}

async fn read_only_attributes_are_ignored(app: TestApp) {
    let created = app
        .post(
            "/api/v2/prospects",
            prospect_doc(json!({"firstName": "Ada",
        "createdAt": "1999-01-01T00:00:00.000Z", "updatedAt": "1999-01-01T00:00:00.000Z",
        "workPhones": ["+15555555555"]})),
        )
        .await
        .expect(201);
    assert_ne!(created.attr("createdAt"), "1999-01-01T00:00:00.000Z");
    assert_eq!(created.attr("workPhones"), &json!([]));
    let prospect = created.id();
    // A whole record sent back, as Ember Data does, with its to-many relationship.
    let mut record = created.body["data"].clone();
    record["attributes"]["firstName"] = json!("Augusta");
    record["relationships"]["phoneNumbers"] = json!({"data": []});
    record.as_object_mut().unwrap().remove("links");
    let updated = app
        .patch(
            &format!("/api/v2/prospects/{prospect}"),
            json!({"data": record}),
        )
        .await
        .expect(200);
    assert_eq!(updated.attr("firstName"), "Augusta");
    let number = app
        .number(
            &prospect,
            json!({"number": "+18889387356", "lineType": "pager",
        "formattedNumber": "nonsense", "statusChangedAt": "1999-01-01T00:00:00.000Z"}),
        )
        .await
        .expect(201);
    assert_ne!(number.attr("formattedNumber"), "nonsense");
    assert_ne!(number.attr("statusChangedAt"), "1999-01-01T00:00:00.000Z");
}

async fn prospect_relationship_of_a_new_number(app: TestApp) {
    let response = app
        .post(
            "/api/v2/phoneNumbers",
            json!({"data": {"type": "phoneNumber",
        "attributes": {"number": "+18889387356"}}}),
        )
        .await
        .expect(422);
    assert_eq!(pointers(&response), vec!["/data/relationships/prospect"]);
    let response = app
        .post(
            "/api/v2/phoneNumbers",
            json!({"data": {"type": "phoneNumber",
        "attributes": {"number": "+18889387356"}, "relationships": {"prospect": {"data": null}}}}),
        )
        .await
        .expect(422);
    assert_eq!(pointers(&response), vec!["/data/relationships/prospect"]);
    for missing in ["999999", "abc", "0", "-1"] {
        let response = app
            .number(missing, json!({"number": "+18889387356"}))
            .await
            .expect(404);
        assert_eq!(response.error_code(), "resourceNotFound");
    }
}

async fn nul_and_invalid_utf8_are_422_at_their_pointer(app: TestApp) {
    let response = app
        .post(
            "/api/v2/prospects",
            prospect_doc(json!({"firstName": "A\u{0}B"})),
        )
        .await
        .expect(422);
    assert_eq!(pointers(&response), vec!["/data/attributes/firstName"]);
    let prospect = app.prospect("Ada").await;
    let response = app
        .number(
            &prospect,
            json!({"number": "+18889387356", "source": "web\u{0}"}),
        )
        .await
        .expect(422);
    assert_eq!(pointers(&response), vec!["/data/attributes/source"]);
    let mut body =
        br#"{"data": {"type": "prospect", "attributes": {"firstName": "Ada", "company": "Ac"#
            .to_vec();
    body.extend_from_slice(&[0xff, 0xfe, b'm', 0xc3]);
    body.extend_from_slice(br#"e"}}}"#);
    let response = raw(
        &app,
        Method::POST,
        "/api/v2/prospects",
        Some(&app.admin_token),
        &[("Content-Type", JSONAPI)],
        Some(&body),
    )
    .await
    .expect(422);
    assert_eq!(response.error_code(), "validationError");
    assert_eq!(pointers(&response), vec!["/data/attributes/company"]);
    assert_eq!(
        ids(&app.get("/api/v2/prospects").await.expect(200)),
        vec![prospect]
    );
}

async fn unicode_round_trips_exactly(app: TestApp) {
    // Including U+FFFD and the noncharacters U+FFFE/U+FFFF, which are valid text.
    let texts = [
        "Zoë Ωμέγα 中文 עברית",
        "👩🏽‍💻 e\u{301} \u{200b}",
        "\u{fffd}\u{ffff}\u{fffe}",
        "  spaces  ",
        "\"quoted\" \\ /",
    ];
    for text in texts {
        let created = app
            .post(
                "/api/v2/prospects",
                prospect_doc(json!({"firstName": text, "company": text})),
            )
            .await
            .expect(201);
        assert_eq!(created.attr("firstName"), text);
        let shown = app
            .get(&format!("/api/v2/prospects/{}", created.id()))
            .await
            .expect(200);
        assert_eq!(shown.attr("firstName"), text);
        assert_eq!(shown.attr("company"), text);
    }
    let prospect = app.prospect("Ada").await;
    let number = app
        .number(
            &prospect,
            json!({"number": "+18889387356", "source": "Formulaire « web » 🌐"}),
        )
        .await
        .expect(201);
    let shown = app
        .get(&format!("/api/v2/phoneNumbers/{}", number.id()))
        .await
        .expect(200);
    assert_eq!(shown.attr("source"), "Formulaire « web » 🌐");
    // 255 characters (not bytes) are allowed.
    let long = "é".repeat(255);
    let created = app
        .post("/api/v2/prospects", prospect_doc(json!({"lastName": long})))
        .await
        .expect(201);
    assert_eq!(created.attr("lastName"), long.as_str());
}

backend_tests!(with body_limit_of_100; bodies_over_the_limit_are_413);

async fn bodies_over_the_limit_are_413(app: TestApp) {
    let big = prospect_doc(json!({"firstName": "x".repeat(200)}));
    let response = app.post("/api/v2/prospects", big.clone()).await.expect(413);
    assert_eq!(response.error_code(), "payloadTooLarge");
    let prospect = app.prospect("Ada").await;
    app.patch(
        &format!("/api/v2/prospects/{prospect}"),
        json!({"data": {"type": "prospect", "id": prospect,
        "attributes": {"firstName": "x".repeat(200)}}}),
    )
    .await
    .expect(413);
    app.post(
        "/api/v2/operations",
        json!({"atomic:operations": [{"op": "add", "data": big["data"]}]}),
    )
    .await
    .expect(413);
    // Authentication still comes first, also when it needs the database.
    for token in [None, Some("unknown-token")] {
        let response = raw(
            &app,
            Method::POST,
            "/api/v2/prospects",
            token,
            &[("Content-Type", JSONAPI)],
            Some(big.to_string().as_bytes()),
        )
        .await
        .expect(401);
        assert_eq!(response.error_code(), "unauthorized");
    }
    assert_eq!(
        ids(&app.get("/api/v2/prospects").await.expect(200)),
        vec![prospect]
    );
    // Small bodies pass.
    app.post(
        "/api/v2/prospects",
        prospect_doc(json!({"firstName": "Bo"})),
    )
    .await
    .expect(201);
}

// ---------------------------------------------------------------------------------------------
// Every endpoint of API.md section 3.

backend_tests!(
    prospect_crud_with_partial_patch,
    number_crud_and_delete_cascade,
    related_endpoints,
    phone_number_prospect_relationship,
    prospect_phone_numbers_relationship,
    prospect_owner_relationship,
    users_are_read_only,
    every_link_is_absolute
);

async fn prospect_crud_with_partial_patch(app: TestApp) {
    let created = app
        .post(
            "/api/v2/prospects",
            prospect_doc(json!({"firstName": "Ada", "lastName": "Byron",
        "title": "Countess", "company": "Analytical"})),
        )
        .await
        .expect(201);
    let id = created.id();
    let own = format!("/api/v2/prospects/{id}");
    assert!(created.header("location").unwrap().ends_with(&own));
    assert!(created.header("location").unwrap().starts_with("http"));
    assert_eq!(created.header("content-type"), Some(JSONAPI));
    assert_eq!(
        created.body["data"]["relationships"]["owner"]["data"]["type"],
        "user"
    );
    assert_eq!(
        created.body["data"]["relationships"]["phoneNumbers"]["data"],
        json!([])
    );
    for name in [
        "homePhones",
        "mobilePhones",
        "workPhones",
        "voipPhones",
        "otherPhones",
    ] {
        assert_eq!(created.attr(name), &json!([]), "{name}");
    }
    let created_at = created.attr("createdAt").as_str().unwrap().to_owned();
    assert_eq!(created_at.len(), "2026-11-23T10:15:30.123Z".len());
    assert!(created_at.ends_with('Z'));

    let shown = app.get(&own).await.expect(200);
    assert_eq!(shown.body["data"], created.body["data"]);

    let updated = app.patch(&own, json!({"data": {"type": "prospect", "id": id, "attributes": {"lastName": "Lovelace", "title": null}}})).await.expect(200);
    assert_eq!(updated.attr("firstName"), "Ada");
    assert_eq!(updated.attr("lastName"), "Lovelace");
    assert_eq!(updated.attr("title"), &Value::Null);
    assert_eq!(updated.attr("company"), "Analytical");
    assert_eq!(updated.attr("createdAt"), created_at.as_str());
    // A PATCH with nothing in it changes nothing.
    let same = app
        .patch(&own, json!({"data": {"type": "prospect", "id": id}}))
        .await
        .expect(200);
    let without_updated_at = |response: &Response| {
        let mut attributes = response.body["data"]["attributes"].clone();
        attributes.as_object_mut().unwrap().remove("updatedAt");
        attributes
    };
    assert_eq!(without_updated_at(&same), without_updated_at(&updated));
    assert_eq!(app.get(&own).await.expect(200).attr("lastName"), "Lovelace");

    let listed = app.get("/api/v2/prospects").await.expect(200);
    assert_eq!(ids(&listed), vec![id.clone()]);
    assert!(listed.header("content-type").unwrap().contains("profile="));

    let deleted = app.delete(&own).await.expect(204);
    assert!(deleted.text.is_empty());
    app.get(&own).await.expect(404);
    app.delete(&own).await.expect(404);
    app.patch(
        &own,
        json!({"data": {"type": "prospect", "id": id, "attributes": {}}}),
    )
    .await
    .expect(404);
    for missing in [
        "/api/v2/prospects/abc",
        "/api/v2/prospects/0",
        "/api/v2/prospects/-3",
        "/api/v2/phoneNumbers/1.5",
        "/api/v2/users/999999",
        "/api/v2/phoneNumbers/99999999999999999999",
    ] {
        assert_eq!(
            app.get(missing).await.expect(404).error_code(),
            "resourceNotFound",
            "{missing}"
        );
    }
}

async fn number_crud_and_delete_cascade(app: TestApp) {
    let prospect = app.prospect("Ada").await;
    let first = app
        .number(
            &prospect,
            json!({"number": "+18889387356", "phoneType": "mobile", "source": "import"}),
        )
        .await
        .expect(201);
    let second = app
        .number(&prospect, json!({"number": "+14155552671"}))
        .await
        .expect(201);
    assert_eq!(first.attr("order"), 0);
    assert_eq!(second.attr("order"), 1);
    let path = format!("/api/v2/phoneNumbers/{}", first.id());
    let updated = app.patch(&path, json!({"data": {"type": "phoneNumber", "id": first.id(), "attributes": {"status": "valid"}}})).await.expect(200);
    assert_eq!(updated.attr("status"), "valid");
    assert_eq!(updated.attr("phoneType"), "mobile");
    assert_eq!(updated.attr("source"), "import");
    assert_eq!(updated.attr("number"), "+18889387356");
    app.delete(&path).await.expect(204);
    app.get(&path).await.expect(404);
    let remaining = app
        .get(&format!("/api/v2/phoneNumbers/{}", second.id()))
        .await
        .expect(200);
    assert_eq!(remaining.attr("order"), 0);
    let third = app
        .number(&prospect, json!({"number": "+12025550123"}))
        .await
        .expect(201);
    app.delete(&format!("/api/v2/prospects/{prospect}"))
        .await
        .expect(204);
    for number in [second.id(), third.id()] {
        app.get(&format!("/api/v2/phoneNumbers/{number}"))
            .await
            .expect(404);
    }
    assert_eq!(
        ids(&app.get("/api/v2/phoneNumbers").await.expect(200)),
        Vec::<String>::new()
    );
}

async fn related_endpoints(app: TestApp) {
    let prospect = app.prospect("Ada").await;
    let other = app.prospect("Bob").await;
    let a = app
        .number(&prospect, json!({"number": "+18889387356"}))
        .await
        .expect(201)
        .id();
    let b = app
        .number(&prospect, json!({"number": "+14155552671"}))
        .await
        .expect(201)
        .id();
    app.number(&other, json!({"number": "+12025550123"}))
        .await
        .expect(201);

    let related = app
        .get(&format!("/api/v2/phoneNumbers/{a}/prospect"))
        .await
        .expect(200);
    assert_eq!(related.body["data"]["type"], "prospect");
    assert_eq!(related.id(), prospect);
    assert!(related.body["links"]["self"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/phoneNumbers/{a}/prospect")));
    assert!(related.body["data"]["links"]["self"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/prospects/{prospect}")));

    let owner = app
        .get(&format!("/api/v2/prospects/{prospect}/owner"))
        .await
        .expect(200);
    assert_eq!(owner.body["data"]["type"], "user");
    assert_eq!(owner.attr("role"), "admin");
    let entry = app.get("/api/v2").await.expect(200);
    assert_eq!(owner.body["data"]["id"], entry.body["meta"]["user"]["id"]);

    let numbers = app
        .get(&format!("/api/v2/prospects/{prospect}/phoneNumbers"))
        .await
        .expect(200);
    assert_eq!(ids(&numbers), vec![a.clone(), b.clone()]);
    assert!(numbers.body["links"]["self"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/prospects/{prospect}/phoneNumbers")));
    assert!(numbers.header("content-type").unwrap().contains("profile="));
    let sorted = app
        .get(&format!(
            "/api/v2/prospects/{prospect}/phoneNumbers?sort=-order&page[size]=1"
        ))
        .await
        .expect(200);
    assert_eq!(ids(&sorted), vec![b.clone()]);
    assert!(sorted.body["links"]["next"].is_string());

    app.get("/api/v2/phoneNumbers/999999/prospect")
        .await
        .expect(404);
    app.get("/api/v2/prospects/999999/owner").await.expect(404);
    app.get("/api/v2/prospects/999999/phoneNumbers")
        .await
        .expect(404);
    app.get("/api/v2/prospects/abc/phoneNumbers")
        .await
        .expect(404);
}

async fn phone_number_prospect_relationship(app: TestApp) {
    let prospect = app.prospect("Ada").await;
    let other = app.prospect("Bob").await;
    app.number(&other, json!({"number": "+12025550123"}))
        .await
        .expect(201);
    let number = app
        .number(&prospect, json!({"number": "+18889387356"}))
        .await
        .expect(201)
        .id();
    let path = format!("/api/v2/phoneNumbers/{number}/relationships/prospect");
    let shown = app.get(&path).await.expect(200);
    assert_eq!(
        shown.body["data"],
        json!({"type": "prospect", "id": prospect})
    );
    assert!(shown.body["links"]["self"]
        .as_str()
        .unwrap()
        .ends_with(&path));
    assert!(shown.body["links"]["related"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/phoneNumbers/{number}/prospect")));
    assert_eq!(shown.header("content-type"), Some(JSONAPI));

    let moved = app
        .patch(&path, json!({"data": {"type": "prospect", "id": other}}))
        .await
        .expect(200);
    assert_eq!(moved.body["data"], json!({"type": "prospect", "id": other}));
    let number_now = app
        .get(&format!("/api/v2/phoneNumbers/{number}"))
        .await
        .expect(200);
    assert_eq!(
        number_now.body["data"]["relationships"]["prospect"]["data"]["id"],
        other.as_str()
    );
    assert_eq!(number_now.attr("order"), 1, "appended to the new list");

    let response = app.patch(&path, json!({"data": null})).await.expect(422);
    assert_eq!(response.error_code(), "validationError");
    assert_eq!(pointers(&response), vec!["/data"]);
    let response = app
        .patch(&path, json!({"data": {"type": "prospect", "id": "999999"}}))
        .await
        .expect(404);
    assert_eq!(response.error_code(), "resourceNotFound");
    app.patch(&path, json!({"data": {"type": "user", "id": prospect}}))
        .await
        .expect(409);
    app.patch(
        &path,
        json!({"data": [{"type": "prospect", "id": prospect}]}),
    )
    .await
    .expect(400);
    app.patch(&path, json!({"data": {"type": "prospect"}}))
        .await
        .expect(400);
    assert_eq!(
        app.get(&path).await.expect(200).body["data"]["id"],
        other.as_str()
    );
    app.get("/api/v2/phoneNumbers/999999/relationships/prospect")
        .await
        .expect(404);
}

async fn prospect_phone_numbers_relationship(app: TestApp) {
    let prospect = app.prospect("Ada").await;
    let other = app.prospect("Bob").await;
    let a = app
        .number(&prospect, json!({"number": "+18889387356"}))
        .await
        .expect(201)
        .id();
    let b = app
        .number(&prospect, json!({"number": "+14155552671"}))
        .await
        .expect(201)
        .id();
    let c = app
        .number(&prospect, json!({"number": "+12025550123", "order": 0}))
        .await
        .expect(201)
        .id();
    let path = format!("/api/v2/prospects/{prospect}/relationships/phoneNumbers");
    let shown = app.get(&path).await.expect(200);
    assert_eq!(
        shown.body["data"],
        json!([
        {"type": "phoneNumber", "id": c}, {"type": "phoneNumber", "id": a}, {"type": "phoneNumber", "id": b}])
    );
    assert_eq!(shown.header("content-type"), Some(JSONAPI), "not paginated");
    assert!(shown.body["links"]["related"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/prospects/{prospect}/phoneNumbers")));
    let resource = app
        .get(&format!("/api/v2/prospects/{prospect}"))
        .await
        .expect(200);
    assert_eq!(
        resource.body["data"]["relationships"]["phoneNumbers"]["data"],
        shown.body["data"]
    );

    // POST moves the listed numbers here (appended); the ones already here stay.
    let x = app
        .number(&other, json!({"number": "+16175550123"}))
        .await
        .expect(201)
        .id();
    let other_path = format!("/api/v2/prospects/{other}/relationships/phoneNumbers");
    let response = app
        .post(
            &other_path,
            json!({"data": [{"type": "phoneNumber", "id": a}, {"type": "phoneNumber", "id": x}]}),
        )
        .await
        .expect(204);
    assert!(response.text.is_empty());
    assert_eq!(
        app.get(&other_path).await.expect(200).body["data"],
        json!([
        {"type": "phoneNumber", "id": x}, {"type": "phoneNumber", "id": a}])
    );
    assert_eq!(
        app.get(&path).await.expect(200).body["data"],
        json!([
        {"type": "phoneNumber", "id": c}, {"type": "phoneNumber", "id": b}])
    );
    // All or nothing: one missing number moves none.
    app.post(&other_path, json!({"data": [{"type": "phoneNumber", "id": b}, {"type": "phoneNumber", "id": "999999"}]})).await.expect(404);
    assert_eq!(
        app.get(&path).await.expect(200).body["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    app.post(
        &other_path,
        json!({"data": {"type": "phoneNumber", "id": b}}),
    )
    .await
    .expect(400);
    app.post(
        "/api/v2/prospects/999999/relationships/phoneNumbers",
        json!({"data": []}),
    )
    .await
    .expect(404);

    for method in [Method::PATCH, Method::DELETE] {
        let response = app
            .send(
                method,
                &path,
                Some(&app.admin_token),
                Some(&json!({"data": []})),
                &[],
            )
            .await
            .expect(403);
        assert_eq!(response.error_code(), "forbidden");
    }
    assert_eq!(
        app.get(&path).await.expect(200).body["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    app.get("/api/v2/prospects/999999/relationships/phoneNumbers")
        .await
        .expect(404);
}

async fn prospect_owner_relationship(app: TestApp) {
    let (member_id, member) = app.user(
        "member@example.com",
        Role::Member,
        "prospects.all phoneNumbers.all users.read",
    );
    let prospect = app.prospect("Ada").await;
    let path = format!("/api/v2/prospects/{prospect}/relationships/owner");
    let shown = app.get(&path).await.expect(200);
    assert_eq!(shown.body["data"]["type"], "user");
    assert!(shown.body["links"]["related"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/prospects/{prospect}/owner")));
    let changed = app
        .patch(
            &path,
            json!({"data": {"type": "user", "id": member_id.to_string()}}),
        )
        .await
        .expect(200);
    assert_eq!(
        changed.body["data"],
        json!({"type": "user", "id": member_id.to_string()})
    );
    let resource = app
        .get(&format!("/api/v2/prospects/{prospect}"))
        .await
        .expect(200);
    assert_eq!(
        resource.body["data"]["relationships"]["owner"]["data"]["id"],
        member_id.to_string()
    );
    // Only admins change owners, even the owner itself.
    let response = as_user(
        &app,
        Method::PATCH,
        &path,
        &member,
        Some(&json!({"data": {"type": "user", "id": member_id}})),
    )
    .await
    .expect(403);
    assert_eq!(response.error_code(), "unauthorizedRequest");
    app.patch(&path, json!({"data": null})).await.expect(422);
    app.patch(&path, json!({"data": {"type": "user", "id": "999999"}}))
        .await
        .expect(404);
    app.patch(&path, json!({"data": {"type": "prospect", "id": prospect}}))
        .await
        .expect(409);
    // Owner through the resource itself.
    let admin_id = app.get("/api/v2").await.expect(200).body["meta"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let back = app
        .patch(
            &format!("/api/v2/prospects/{prospect}"),
            json!({"data": {"type": "prospect", "id": prospect,
        "relationships": {"owner": {"data": {"type": "user", "id": admin_id}}}}}),
        )
        .await
        .expect(200);
    assert_eq!(
        back.body["data"]["relationships"]["owner"]["data"]["id"],
        admin_id.as_str()
    );
}

async fn users_are_read_only(app: TestApp) {
    let (member_id, _) = app.user("member@example.com", Role::Member, "users.read");
    let listed = app.get("/api/v2/users").await.expect(200);
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 2);
    assert!(listed.header("content-type").unwrap().contains("profile="));
    let shown = app
        .get(&format!("/api/v2/users/{member_id}"))
        .await
        .expect(200);
    assert_eq!(shown.attr("email"), "member@example.com");
    assert_eq!(shown.attr("role"), "member");
    assert!(shown.body["data"]["attributes"].get("password").is_none());
    app.get("/api/v2/users/999999").await.expect(404);
    let response = app
        .post(
            "/api/v2/users",
            json!({"data": {"type": "user", "attributes": {}}}),
        )
        .await
        .expect(405);
    assert_eq!(response.header("allow"), Some("GET"));
    app.send(
        Method::PATCH,
        &format!("/api/v2/users/{member_id}"),
        Some(&app.admin_token),
        Some(&json!({})),
        &[],
    )
    .await
    .expect(405);
}

async fn every_link_is_absolute(app: TestApp) {
    let prospect = app.prospect("Ada").await;
    let number = app
        .number(&prospect, json!({"number": "+18889387356"}))
        .await
        .expect(201)
        .id();
    for path in [
        "/api/v2".to_owned(),
        "/api/v2/prospects?include=phoneNumbers,owner".to_owned(),
        "/api/v2/phoneNumbers?include=prospect.owner&page[size]=1".to_owned(),
        "/api/v2/users".to_owned(),
        format!("/api/v2/prospects/{prospect}"),
        format!("/api/v2/phoneNumbers/{number}"),
        format!("/api/v2/phoneNumbers/{number}/prospect"),
        format!("/api/v2/prospects/{prospect}/owner"),
        format!("/api/v2/prospects/{prospect}/phoneNumbers"),
        format!("/api/v2/phoneNumbers/{number}/relationships/prospect"),
        format!("/api/v2/prospects/{prospect}/relationships/phoneNumbers"),
        format!("/api/v2/prospects/{prospect}/relationships/owner"),
    ] {
        let response = app.get(&path).await.expect(200);
        assert_links_absolute(&response.body);
        assert!(response.body["links"]["self"].is_string(), "{path}");
    }
    let collection = app.get("/api/v2/phoneNumbers").await.expect(200);
    for name in ["self", "first", "prev", "next"] {
        assert!(collection.body["links"].get(name).is_some(), "{name}");
    }
    let resource = app
        .get(&format!("/api/v2/phoneNumbers/{number}"))
        .await
        .expect(200);
    let relationship = &resource.body["data"]["relationships"]["prospect"];
    assert!(relationship["links"]["self"]
        .as_str()
        .unwrap()
        .starts_with("http"));
    assert!(relationship["links"]["related"]
        .as_str()
        .unwrap()
        .starts_with("http"));
}

// ---------------------------------------------------------------------------------------------
// ETags and preconditions (API.md sections 6 and 9).

backend_tests!(
    etags_name_one_version_of_a_record,
    if_match_guards_writes,
    if_match_guards_numbers_and_their_moves,
    if_none_match_answers_304_on_reads_only
);

async fn etags_name_one_version_of_a_record(app: TestApp) {
    let created = app
        .post(
            "/api/v2/prospects",
            prospect_doc(json!({"firstName": "Ada"})),
        )
        .await
        .expect(201);
    let prospect = created.id();
    let path = format!("/api/v2/prospects/{prospect}");
    let v1 = etag_of(&created);
    assert_eq!(etag_of(&app.get(&path).await.expect(200)), v1);
    assert_eq!(
        etag_of(
            &app.get(&format!("{path}?fields[prospect]=firstName"))
                .await
                .expect(200)
        ),
        v1
    );
    assert_eq!(
        etag_of(
            &app.get(&format!("{path}?include=phoneNumbers"))
                .await
                .expect(200)
        ),
        v1
    );
    let updated = app
        .patch(
            &path,
            json!({"data": {"type": "prospect", "id": prospect, "attributes": {"lastName": "L"}}}),
        )
        .await
        .expect(200);
    let v2 = etag_of(&updated);
    assert_ne!(v2, v1);
    assert_eq!(etag_of(&app.get(&path).await.expect(200)), v2);

    // The prospect's version changes with its numbers (its *Phones arrays do).
    let number = app
        .number(&prospect, json!({"number": "+18889387356"}))
        .await
        .expect(201);
    let number_path = format!("/api/v2/phoneNumbers/{}", number.id());
    let n1 = etag_of(&number);
    assert_eq!(etag_of(&app.get(&number_path).await.expect(200)), n1);
    let v3 = etag_of(&app.get(&path).await.expect(200));
    assert_ne!(v3, v2);
    assert_eq!(
        etag_of(
            &app.get(&format!("/api/v2/phoneNumbers/{}/prospect", number.id()))
                .await
                .expect(200)
        ),
        v3
    );
    let changed = app.patch(&number_path, json!({"data": {"type": "phoneNumber", "id": number.id(), "attributes": {"phoneType": "work"}}})).await.expect(200);
    let n2 = etag_of(&changed);
    assert_ne!(n2, n1);
    let v4 = etag_of(&app.get(&path).await.expect(200));
    assert_ne!(v4, v3);
    app.delete(&number_path).await.expect(204);
    assert_ne!(etag_of(&app.get(&path).await.expect(200)), v4);
}

async fn if_match_guards_writes(app: TestApp) {
    let created = app
        .post(
            "/api/v2/prospects",
            prospect_doc(json!({"firstName": "Ada"})),
        )
        .await
        .expect(201);
    let prospect = created.id();
    let path = format!("/api/v2/prospects/{prospect}");
    let tag = etag_of(&created);
    let patch = |name: &str| json!({"data": {"type": "prospect", "id": prospect, "attributes": {"firstName": name}}});
    let token = app.admin_token.clone();
    let weak = format!("W/{tag}");
    for stale in ["\"1-999\"", weak.as_str(), "\"nope\", \"other\"", "garbage"] {
        let response = app
            .send(
                Method::PATCH,
                &path,
                Some(&token),
                Some(&patch("Changed")),
                &[("If-Match", stale)],
            )
            .await
            .expect(412);
        assert_eq!(response.error_code(), "preconditionFailed", "{stale}");
        app.send(
            Method::DELETE,
            &path,
            Some(&token),
            None,
            &[("If-Match", stale)],
        )
        .await
        .expect(412);
    }
    let shown = app.get(&path).await.expect(200);
    assert_eq!(shown.attr("firstName"), "Ada");
    assert_eq!(etag_of(&shown), tag);

    let list = format!("\"nope\", {tag}");
    let updated = app
        .send(
            Method::PATCH,
            &path,
            Some(&token),
            Some(&patch("B")),
            &[("If-Match", list.as_str())],
        )
        .await
        .expect(200);
    let tag2 = etag_of(&updated);
    app.send(
        Method::PATCH,
        &path,
        Some(&token),
        Some(&patch("C")),
        &[("If-Match", tag.as_str())],
    )
    .await
    .expect(412);
    app.send(
        Method::PATCH,
        &path,
        Some(&token),
        Some(&patch("C")),
        &[("If-Match", "*")],
    )
    .await
    .expect(200);
    assert_eq!(app.get(&path).await.expect(200).attr("firstName"), "C");
    app.send(
        Method::DELETE,
        &path,
        Some(&token),
        None,
        &[("If-Match", tag2.as_str())],
    )
    .await
    .expect(412);
    let current = etag_of(&app.get(&path).await.expect(200));
    app.send(
        Method::DELETE,
        &path,
        Some(&token),
        None,
        &[("If-Match", current.as_str())],
    )
    .await
    .expect(204);
    // On a missing resource If-Match is 404, whatever it says.
    app.send(
        Method::DELETE,
        &path,
        Some(&token),
        None,
        &[("If-Match", "*")],
    )
    .await
    .expect(404);
    app.send(
        Method::PATCH,
        &path,
        Some(&token),
        Some(&patch("D")),
        &[("If-Match", current.as_str())],
    )
    .await
    .expect(404);
}

async fn if_match_guards_numbers_and_their_moves(app: TestApp) {
    let prospect = app.prospect("Ada").await;
    let other = app.prospect("Bob").await;
    let created = app
        .number(&prospect, json!({"number": "+18889387356"}))
        .await
        .expect(201);
    let number = created.id();
    let tag = etag_of(&created);
    let token = app.admin_token.clone();
    let path = format!("/api/v2/phoneNumbers/{number}");
    let relationship = format!("{path}/relationships/prospect");
    let move_to = json!({"data": {"type": "prospect", "id": other}});
    let response = app
        .send(
            Method::PATCH,
            &relationship,
            Some(&token),
            Some(&move_to),
            &[("If-Match", "\"0-0\"")],
        )
        .await
        .expect(412);
    assert_eq!(response.error_code(), "preconditionFailed");
    assert_eq!(
        app.get(&relationship).await.expect(200).body["data"]["id"],
        prospect.as_str()
    );
    let patch =
        json!({"data": {"type": "phoneNumber", "id": number, "attributes": {"status": "valid"}}});
    app.send(
        Method::PATCH,
        &path,
        Some(&token),
        Some(&patch),
        &[("If-Match", "\"0-0\"")],
    )
    .await
    .expect(412);
    app.send(
        Method::DELETE,
        &path,
        Some(&token),
        None,
        &[("If-Match", "\"0-0\"")],
    )
    .await
    .expect(412);
    assert_eq!(
        app.get(&path).await.expect(200).attr("status"),
        "unverified"
    );
    let moved = app
        .send(
            Method::PATCH,
            &relationship,
            Some(&token),
            Some(&move_to),
            &[("If-Match", tag.as_str())],
        )
        .await
        .expect(200);
    assert_eq!(moved.body["data"]["id"], other.as_str());
    let after = etag_of(&app.get(&path).await.expect(200));
    assert_ne!(after, tag);
    app.send(
        Method::PATCH,
        &path,
        Some(&token),
        Some(&patch),
        &[("If-Match", tag.as_str())],
    )
    .await
    .expect(412);
    app.send(
        Method::PATCH,
        &path,
        Some(&token),
        Some(&patch),
        &[("If-Match", after.as_str())],
    )
    .await
    .expect(200);
}

async fn if_none_match_answers_304_on_reads_only(app: TestApp) {
    let created = app
        .post(
            "/api/v2/prospects",
            prospect_doc(json!({"firstName": "Ada"})),
        )
        .await
        .expect(201);
    let prospect = created.id();
    let path = format!("/api/v2/prospects/{prospect}");
    let tag = etag_of(&created);
    let token = app.admin_token.clone();
    let response = app
        .send(
            Method::GET,
            &path,
            Some(&token),
            None,
            &[("If-None-Match", tag.as_str())],
        )
        .await
        .expect(304);
    assert!(response.text.is_empty());
    assert_eq!(response.header("etag"), Some(tag.as_str()));
    let weak = format!("W/{tag}");
    app.send(
        Method::GET,
        &path,
        Some(&token),
        None,
        &[("If-None-Match", weak.as_str())],
    )
    .await
    .expect(304);
    app.send(
        Method::GET,
        &path,
        Some(&token),
        None,
        &[("If-None-Match", "\"other\"")],
    )
    .await
    .expect(200);
    // A write with If-None-Match is applied and answered in full, never 304.
    let patch =
        json!({"data": {"type": "prospect", "id": prospect, "attributes": {"firstName": "B"}}});
    let response = app
        .send(
            Method::PATCH,
            &path,
            Some(&token),
            Some(&patch),
            &[("If-None-Match", "*")],
        )
        .await;
    assert_ne!(response.status, 304, "{}", response.text);
    let now = app.get(&path).await.expect(200);
    if response.status == 200 {
        assert_eq!(now.attr("firstName"), "B");
    } else {
        assert_eq!(
            now.attr("firstName"),
            "Ada",
            "a refused write changes nothing"
        );
    }
    let current = etag_of(&now);
    app.send(
        Method::GET,
        &path,
        Some(&token),
        None,
        &[("If-None-Match", tag.as_str())],
    )
    .await
    .expect(if current == tag { 304 } else { 200 });
    let number = app
        .number(&prospect, json!({"number": "+18889387356"}))
        .await
        .expect(201);
    let tag = etag_of(&number);
    app.send(
        Method::GET,
        &format!("/api/v2/phoneNumbers/{}", number.id()),
        Some(&token),
        None,
        &[("If-None-Match", tag.as_str())],
    )
    .await
    .expect(304);
}

// ---------------------------------------------------------------------------------------------
// Atomic Operations (API.md sections 6 and 9).

async fn count(app: &TestApp, collection: &str) -> usize {
    app.get(&format!("/api/v2/{collection}?page[size]=1000"))
        .await
        .expect(200)
        .body["data"]
        .as_array()
        .unwrap()
        .len()
}

backend_tests!(
    operations_create_a_prospect_and_its_numbers_with_lids,
    operations_update_remove_and_move,
    operations_replace_a_list_in_one_request,
    a_failing_operation_rolls_everything_back,
    malformed_operations_are_400
);

async fn operations_create_a_prospect_and_its_numbers_with_lids(app: TestApp) {
    let response = app.post("/api/v2/operations", json!({"atomic:operations": [
        {"op": "add", "data": {"type": "prospect", "lid": "p", "attributes": {"firstName": "Ada"}}},
        {"op": "add", "href": "/api/v2/phoneNumbers", "data": {"type": "phoneNumber", "attributes": {"number": "+18889387356"},
            "relationships": {"prospect": {"data": {"type": "prospect", "lid": "p"}}}}},
        {"op": "add", "data": {"type": "phoneNumber", "lid": "n", "attributes": {"number": "+14155552671", "phoneType": "work"},
            "relationships": {"prospect": {"data": {"type": "prospect", "lid": "p"}}}}},
        {"op": "update", "ref": {"type": "phoneNumber", "lid": "n"}, "data": {"type": "phoneNumber", "lid": "n", "attributes": {"status": "valid"}}},
    ]})).await.expect(200);
    assert_eq!(response.header("content-type"), Some(ATOMIC));
    assert_eq!(
        response.body["jsonapi"]["ext"],
        json!(["https://jsonapi.org/ext/atomic"])
    );
    let results = response.body["atomic:results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    let prospect = results[0]["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(results[0]["data"]["type"], "prospect");
    assert_eq!(
        results[0]["data"]["attributes"]["workPhones"],
        json!(["+14155552671"])
    );
    assert_links_absolute(&response.body);
    for result in &results[1..] {
        assert_eq!(
            result["data"]["relationships"]["prospect"]["data"]["id"],
            prospect.as_str()
        );
    }
    assert_eq!(results[3]["data"]["attributes"]["status"], "valid");
    let listed = app
        .get(&format!("/api/v2/prospects/{prospect}/phoneNumbers"))
        .await
        .expect(200);
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 2);
}

async fn operations_update_remove_and_move(app: TestApp) {
    let prospect = app.prospect("Ada").await;
    let other = app.prospect("Bob").await;
    let a = app
        .number(&prospect, json!({"number": "+18889387356"}))
        .await
        .expect(201)
        .id();
    let b = app
        .number(&prospect, json!({"number": "+14155552671"}))
        .await
        .expect(201)
        .id();
    let response = app.post("/api/v2/operations", json!({"atomic:operations": [
        {"op": "update", "ref": {"type": "prospect", "id": prospect}, "data": {"type": "prospect", "id": prospect, "attributes": {"lastName": "Lovelace"}}},
        {"op": "update", "data": {"type": "prospect", "id": other, "attributes": {"lastName": "Babbage"}}},
        {"op": "update", "ref": {"type": "phoneNumber", "id": b, "relationship": "prospect"}, "data": {"type": "prospect", "id": other}},
        {"op": "remove", "ref": {"type": "phoneNumber", "id": a}},
    ]})).await.expect(200);
    let results = response.body["atomic:results"].as_array().unwrap();
    assert_eq!(results[0]["data"]["attributes"]["lastName"], "Lovelace");
    assert_eq!(results[0]["data"]["attributes"]["firstName"], "Ada");
    assert_eq!(results[1]["data"]["attributes"]["lastName"], "Babbage");
    assert_eq!(results[3], json!({}));
    app.get(&format!("/api/v2/phoneNumbers/{a}"))
        .await
        .expect(404);
    let moved = app
        .get(&format!("/api/v2/phoneNumbers/{b}"))
        .await
        .expect(200);
    assert_eq!(
        moved.body["data"]["relationships"]["prospect"]["data"]["id"],
        other.as_str()
    );
    assert_eq!(moved.attr("order"), 0);
    app.post(
        "/api/v2/operations",
        json!({"atomic:operations": [{"op": "remove", "ref": {"type": "prospect", "id": other}}]}),
    )
    .await
    .expect(200);
    app.get(&format!("/api/v2/phoneNumbers/{b}"))
        .await
        .expect(404);
}

async fn operations_replace_a_list_in_one_request(app: TestApp) {
    let prospect = app.prospect("Ada").await;
    let a = app
        .number(&prospect, json!({"number": "+18889387356"}))
        .await
        .expect(201)
        .id();
    let response = app.post("/api/v2/operations", json!({"atomic:operations": [
        {"op": "remove", "ref": {"type": "phoneNumber", "id": a}},
        {"op": "add", "data": {"type": "phoneNumber", "attributes": {"number": "+18889387356"},
            "relationships": {"prospect": {"data": {"type": "prospect", "id": prospect}}}}},
        {"op": "add", "data": {"type": "phoneNumber", "attributes": {"number": "+14155552671"},
            "relationships": {"prospect": {"data": {"type": "prospect", "id": prospect}}}}},
    ]})).await.expect(200);
    let results = response.body["atomic:results"].as_array().unwrap();
    assert_eq!(results[0], json!({}));
    let shown = app
        .get(&format!("/api/v2/prospects/{prospect}"))
        .await
        .expect(200);
    assert_eq!(
        shown.attr("otherPhones"),
        &json!(["+18889387356", "+14155552671"])
    );
}

async fn a_failing_operation_rolls_everything_back(app: TestApp) {
    let prospect = app.prospect("Ada").await;
    let a = app
        .number(&prospect, json!({"number": "+18889387356"}))
        .await
        .expect(201)
        .id();
    let before = app
        .get(&format!("/api/v2/prospects/{prospect}"))
        .await
        .expect(200);
    let response = app.post("/api/v2/operations", json!({"atomic:operations": [
        {"op": "add", "data": {"type": "prospect", "lid": "p", "attributes": {"firstName": "New"}}},
        {"op": "update", "ref": {"type": "prospect", "id": prospect}, "data": {"type": "prospect", "id": prospect, "attributes": {"firstName": "Changed"}}},
        {"op": "remove", "ref": {"type": "phoneNumber", "id": a}},
        {"op": "add", "data": {"type": "phoneNumber", "attributes": {"number": "+18889387356", "order": "x"},
            "relationships": {"prospect": {"data": {"type": "prospect", "lid": "p"}}}}},
    ]})).await.expect(422);
    assert_eq!(response.header("content-type"), Some(ATOMIC));
    assert_eq!(response.error_code(), "validationError");
    assert_eq!(
        pointer(&response),
        "/atomic:operations/3/data/attributes/order"
    );
    assert_eq!(count(&app, "prospects").await, 1);
    let after = app
        .get(&format!("/api/v2/prospects/{prospect}"))
        .await
        .expect(200);
    assert_eq!(after.body["data"], before.body["data"]);
    assert_eq!(etag_of(&after), etag_of(&before));
    app.get(&format!("/api/v2/phoneNumbers/{a}"))
        .await
        .expect(200);

    let response = app.post("/api/v2/operations", json!({"atomic:operations": [
        {"op": "add", "data": {"type": "prospect", "attributes": {"firstName": "New"}}},
        {"op": "update", "ref": {"type": "prospect", "id": "999999"}, "data": {"type": "prospect", "id": "999999", "attributes": {}}},
    ]})).await.expect(404);
    assert_eq!(response.error_code(), "resourceNotFound");
    assert!(
        pointer(&response).starts_with("/atomic:operations/1"),
        "{}",
        pointer(&response)
    );
    let response = app
        .post(
            "/api/v2/operations",
            json!({"atomic:operations": [
                {"op": "add", "data": {"type": "prospect", "attributes": {"firstName": "New"}}},
                {"op": "add", "data": {"type": "prospect", "id": "5", "attributes": {}}},
            ]}),
        )
        .await
        .expect(403);
    assert_eq!(response.error_code(), "forbidden");
    assert!(
        pointer(&response).starts_with("/atomic:operations/1"),
        "{}",
        pointer(&response)
    );
    let response = app.post("/api/v2/operations", json!({"atomic:operations": [
        {"op": "update", "ref": {"type": "prospect", "id": prospect}, "data": {"type": "prospect", "id": "1234", "attributes": {}}},
    ]})).await.expect(409);
    assert!(pointer(&response).starts_with("/atomic:operations/0"));
    let (_, viewer) = app.user(
        "viewer@example.com",
        Role::Viewer,
        "prospects.all phoneNumbers.all",
    );
    let response = as_user(&app, Method::POST, "/api/v2/operations", &viewer, Some(&json!({"atomic:operations": [
        {"op": "update", "ref": {"type": "prospect", "id": prospect}, "data": {"type": "prospect", "id": prospect, "attributes": {"firstName": "V"}}},
    ]}))).await.expect(403);
    assert_eq!(response.error_code(), "unauthorizedRequest");
    assert_eq!(count(&app, "prospects").await, 1);
    assert_eq!(
        app.get(&format!("/api/v2/prospects/{prospect}"))
            .await
            .expect(200)
            .attr("firstName"),
        "Ada"
    );
}

async fn malformed_operations_are_400(app: TestApp) {
    let response = app.post("/api/v2/operations", json!({"atomic:operations": [
        {"op": "add", "data": {"type": "prospect", "lid": "p", "attributes": {}}},
        {"op": "add", "data": {"type": "phoneNumber", "attributes": {"number": "+18889387356"},
            "relationships": {"prospect": {"data": {"type": "prospect", "lid": "nobody"}}}}},
    ]})).await.expect(400);
    assert_eq!(response.error_code(), "badRequest");
    assert_eq!(
        pointer(&response),
        "/atomic:operations/1/data/relationships/prospect/data"
    );
    let response = app
        .post(
            "/api/v2/operations",
            json!({"atomic:operations": [
                {"op": "remove", "ref": {"type": "phoneNumber", "lid": "nobody"}},
            ]}),
        )
        .await
        .expect(400);
    assert!(pointer(&response).starts_with("/atomic:operations/0/ref"));
    for document in [
        json!({}),
        json!({"atomic:operations": {}}),
        json!({"atomic:operations": [{"op": "frobnicate"}]}),
        json!({"atomic:operations": [{"op": "add"}]}),
        json!({"atomic:operations": [1]}),
    ] {
        let response = app
            .post("/api/v2/operations", document.clone())
            .await
            .expect(400);
        assert_eq!(response.error_code(), "badRequest", "{document}");
    }
    let add =
        json!({"op": "add", "data": {"type": "prospect", "attributes": {"firstName": "Many"}}});
    let response = app
        .post(
            "/api/v2/operations",
            json!({"atomic:operations": vec![add.clone(); 1001]}),
        )
        .await
        .expect(400);
    assert_eq!(response.error_code(), "badRequest");
    assert_eq!(count(&app, "prospects").await, 0);
    app.post(
        "/api/v2/operations",
        json!({"atomic:operations": vec![add; 1000]}),
    )
    .await
    .expect(200);
    assert_eq!(count(&app, "prospects").await, 1000);
}

// ---------------------------------------------------------------------------------------------
// Request ids, /health and the OpenAPI document.

backend_tests!(
    request_ids_are_echoed_when_sane,
    health_and_openapi_are_plain_json
);

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

async fn health_and_openapi_are_plain_json(app: TestApp) {
    let health = raw(
        &app,
        Method::GET,
        "/health",
        None,
        &[("Accept", JSONAPI)],
        None,
    )
    .await
    .expect(200);
    assert!(health
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    for accept in [
        None,
        Some(JSONAPI),
        Some("application/vnd.api+json; charset=utf-8"),
        Some("text/html"),
    ] {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("Accept", a)).into_iter().collect();
        let response = raw(
            &app,
            Method::GET,
            "/api/v2/openapi.json",
            None,
            &headers,
            None,
        )
        .await
        .expect(200);
        assert!(
            response
                .header("content-type")
                .unwrap()
                .starts_with("application/json"),
            "{accept:?}"
        );
        assert!(response.body["openapi"]
            .as_str()
            .unwrap()
            .starts_with("3.1"));
        assert!(
            response.body["paths"]["/phoneNumbers"].is_object()
                || response.body["paths"]["/api/v2/phoneNumbers"].is_object()
        );
    }
    let entry = app.get("/api/v2").await.expect(200);
    let describedby = entry.body["links"]["describedby"].as_str().unwrap();
    let path = describedby.split_once("://").unwrap().1;
    let path = &path[path.find('/').unwrap()..];
    raw(&app, Method::GET, path, None, &[], None)
        .await
        .expect(200);
    app.get("/api/v2?foo=1").await.expect(400);
}

// ---------------------------------------------------------------------------------------------
// Database unreachable (API.md section 9): an in-process app on its own PostgreSQL database,
// which the test then closes to connections and terminates the sessions of.

mod unreachable {
    use std::time::Duration;

    use actix_web::test::{call_service, init_service, read_body, TestRequest};
    use actix_web::web;
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    use serde_json::Value;

    use phonebook::app::{self, AppState};
    use phonebook::db::{self, DatabaseUrl, PoolOptions};

    use crate::helpers::test_config;

    fn admin_url() -> String {
        std::env::var("PHONEBOOK_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
    }

    fn required() -> bool {
        ["CI", "PHONEBOOK_REQUIRE_POSTGRES"].iter().any(|name| {
            std::env::var(name)
                .is_ok_and(|value| !value.is_empty() && value != "false" && value != "0")
        })
    }

    /// A database of its own, dropped at the end (even when the test fails).
    struct Scratch {
        admin: diesel::PgConnection,
        name: String,
    }

    impl Scratch {
        fn set_reachable(&mut self, reachable: bool) {
            self.admin
                .batch_execute(&format!(
                    "ALTER DATABASE {} ALLOW_CONNECTIONS {reachable}",
                    self.name
                ))
                .expect("alter database");
            if !reachable {
                self.admin
                    .batch_execute(&format!(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
                        self.name
                    ))
                    .expect("terminate sessions");
            }
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = self.admin.batch_execute(&format!(
                "ALTER DATABASE {} ALLOW_CONNECTIONS true",
                self.name
            ));
            let _ = self.admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }

    #[actix_web::test]
    async fn postgres_down_is_503_and_the_service_recovers() {
        let admin_url = admin_url();
        let mut admin = match diesel::PgConnection::establish(&admin_url) {
            Ok(conn) => conn,
            Err(error) => {
                assert!(
                    !required(),
                    "PostgreSQL is required but unreachable: {error}"
                );
                eprintln!("skipping: PostgreSQL unreachable ({error})");
                return;
            }
        };
        let name = format!("pb_unreachable_{}", hex::encode(rand::random::<[u8; 6]>()));
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        let mut scratch = Scratch { admin, name };
        let (server, _) = admin_url.rsplit_once('/').expect("database in URL");
        let url = format!("{server}/{}", scratch.name);
        let config = test_config(&url);
        let pool = db::pool(
            &DatabaseUrl::parse(&url).expect("url"),
            PoolOptions {
                size: 2,
                timeout: Duration::from_millis(config.pool_timeout_ms),
                statement_counter: None,
            },
        )
        .expect("pool");
        let token = "unreachable-test-token-0123456789abcdef";
        {
            let mut conn = pool.get().expect("connection");
            db::migrate(&mut conn).expect("migrate");
            phonebook::cli::bootstrap(&mut conn, Some(token)).expect("bootstrap");
        }
        let service = init_service(app::build(web::Data::new(AppState::new(pool, config)))).await;
        let call = |path: &'static str| {
            TestRequest::get()
                .uri(path)
                .insert_header(("Authorization", format!("Bearer {token}")))
                .to_request()
        };

        assert_eq!(call_service(&service, call("/health")).await.status(), 200);
        assert_eq!(
            call_service(&service, call("/api/v2/prospects"))
                .await
                .status(),
            200
        );

        scratch.set_reachable(false);
        for path in ["/api/v2/prospects", "/api/v2", "/api/v2/phoneNumbers/1"] {
            let response = call_service(&service, call(path)).await;
            assert_eq!(response.status(), 503, "{path}");
            let content_type = response
                .headers()
                .get("content-type")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            assert_eq!(content_type, crate::helpers::JSONAPI);
            let body: Value = serde_json::from_slice(&read_body(response).await).expect("JSON");
            crate::helpers::assert_valid_document(&body);
            assert_eq!(body["errors"][0]["code"], "serviceUnavailable");
            assert!(
                !body.to_string().contains(&scratch.name),
                "no internals in a 5xx: {body}"
            );
        }
        assert_eq!(call_service(&service, call("/health")).await.status(), 503);

        scratch.set_reachable(true);
        let mut status = 0;
        for _ in 0..50 {
            status = call_service(&service, call("/api/v2/prospects"))
                .await
                .status()
                .as_u16();
            if status == 200 {
                break;
            }
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            status, 200,
            "the same process serves again once the database is back"
        );
        assert_eq!(call_service(&service, call("/health")).await.status(), 200);
    }
}

// ---------------------------------------------------------------------------------------------
// The command line (API.md section 8), run as the built binary.

mod cli {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::process::{Command, Output, Stdio};
    use std::time::Duration;

    use actix_web::test::{call_service, init_service, read_body, TestRequest};
    use actix_web::web;
    use serde_json::Value;

    use phonebook::app::{self, AppState};
    use phonebook::db::{self, DatabaseUrl, PoolOptions};

    use crate::helpers::{test_config, JSONAPI};

    fn phonebook(database_url: &str, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_phonebook"))
            .args(args)
            .env_clear()
            .env("DATABASE_URL", database_url)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run phonebook")
    }

    /// Stdout of a successful command, which must be one line.
    fn one_line(output: Output) -> String {
        assert!(
            output.status.success(),
            "failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).expect("UTF-8");
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 1, "stdout is the value alone: {stdout:?}");
        lines[0].to_owned()
    }

    #[actix_web::test]
    async fn tokens_made_on_the_command_line_authenticate_until_revoked() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("cli.db").display());
        assert!(phonebook(&url, &["migrate"]).status.success());
        let id: i64 = one_line(phonebook(
            &url,
            &[
                "user",
                "create",
                "--name",
                "Grace Hopper",
                "--email",
                "grace@example.com",
                "--role",
                "member",
            ],
        ))
        .parse()
        .expect("the user id alone");
        let token = one_line(phonebook(
            &url,
            &["token", "create", "--email", "grace@example.com"],
        ));
        assert!(token.len() >= 43, "at least 256 bits: {token}");
        let reader = one_line(phonebook(
            &url,
            &[
                "token",
                "create",
                "--email",
                "grace@example.com",
                "--scopes",
                "prospects.read",
                "--expires-in",
                "1h",
            ],
        ));
        assert_ne!(token, reader);
        // Failures exit non-zero and print nothing on stdout.
        for args in [
            &[
                "user",
                "create",
                "--name",
                "Again",
                "--email",
                "grace@example.com",
                "--role",
                "member",
            ][..],
            &[
                "user",
                "create",
                "--name",
                "X",
                "--email",
                "x@example.com",
                "--role",
                "god",
            ][..],
            &["token", "create", "--email", "nobody@example.com"][..],
            &[
                "token",
                "create",
                "--email",
                "grace@example.com",
                "--scopes",
                "everything",
            ][..],
            &[
                "token",
                "create",
                "--email",
                "grace@example.com",
                "--expires-in",
                "soon",
            ][..],
        ] {
            let output = phonebook(&url, args);
            assert!(!output.status.success(), "{args:?} should fail");
            assert!(output.stdout.is_empty(), "{args:?}");
        }

        let pool = db::pool(
            &DatabaseUrl::parse(&url).expect("url"),
            PoolOptions {
                size: 2,
                timeout: Duration::from_secs(5),
                statement_counter: None,
            },
        )
        .expect("pool");
        let service = init_service(app::build(web::Data::new(AppState::new(
            pool,
            test_config(&url),
        ))))
        .await;
        let get = |path: &str, token: &str| {
            TestRequest::get()
                .uri(path)
                .insert_header(("Authorization", format!("Bearer {token}")))
                .to_request()
        };
        let response = call_service(&service, get("/api/v2", &token)).await;
        assert_eq!(response.status(), 200);
        let entry: Value = serde_json::from_slice(&read_body(response).await).expect("JSON");
        assert_eq!(entry["meta"]["user"]["id"], id.to_string());
        assert_eq!(entry["meta"]["user"]["email"], "grace@example.com");
        assert_eq!(entry["meta"]["user"]["role"], "member");
        let mut scopes: Vec<&str> = entry["meta"]["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        scopes.sort_unstable();
        assert_eq!(
            scopes,
            vec!["phoneNumbers.all", "prospects.all", "users.read"]
        );
        assert_eq!(
            call_service(&service, get("/api/v2/prospects", &reader))
                .await
                .status(),
            200
        );
        assert_eq!(
            call_service(&service, get("/api/v2/phoneNumbers", &reader))
                .await
                .status(),
            403
        );
        let create = TestRequest::post()
            .uri("/api/v2/prospects")
            .insert_header(("Authorization", format!("Bearer {token}")))
            .insert_header(("Content-Type", JSONAPI))
            .set_payload(r#"{"data": {"type": "prospect", "attributes": {"firstName": "Ada"}}}"#)
            .to_request();
        assert_eq!(call_service(&service, create).await.status(), 201);

        let output = phonebook(&url, &["token", "revoke", "--email", "grace@example.com"]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        for revoked in [&token, &reader] {
            let response = call_service(&service, get("/api/v2/prospects", revoked)).await;
            assert_eq!(response.status(), 401);
            assert_eq!(
                response.headers().get("www-authenticate").unwrap(),
                r#"Bearer realm="phonebook", error="invalid_token""#
            );
        }
        assert!(
            !phonebook(&url, &["token", "revoke", "--email", "nobody@example.com"])
                .status
                .success()
        );
    }

    /// Kills the server it holds when dropped (even when the test fails).
    struct Server(std::process::Child);

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// One HTTP/1.1 request over a plain TCP connection; returns the status and the body.
    fn http_get(port: u16, path: &str, token: Option<&str>) -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let auth = token
            .map(|token| format!("Authorization: Bearer {token}\r\n"))
            .unwrap_or_default();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Connection: close\r\n\r\n"
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default();
        Ok((status, body))
    }

    #[test]
    fn serve_honours_the_bootstrap_token() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("serve.db").display());
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .unwrap()
            .port();
        let bootstrap = "bootstrap-token-for-the-serve-test-0123456789";
        let mut server = Server(
            Command::new(env!("CARGO_BIN_EXE_phonebook"))
                .arg("serve")
                .env_clear()
                .env("DATABASE_URL", &url)
                .env("PHONEBOOK_BIND", format!("127.0.0.1:{port}"))
                .env("PHONEBOOK_BOOTSTRAP_TOKEN", bootstrap)
                .env("PHONEBOOK_WORKERS", "1")
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start phonebook serve"),
        );
        let mut health = None;
        for _ in 0..300 {
            if let Ok(answer) = http_get(port, "/health", None) {
                health = Some(answer);
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(health.expect("the server starts").0, 200);
        let (status, body) = http_get(port, "/api/v2", Some(bootstrap)).expect("request");
        assert_eq!(status, 200, "{body}");
        let entry: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(entry["meta"]["user"]["email"], "admin@localhost");
        assert_eq!(entry["meta"]["user"]["role"], "admin");
        assert_eq!(
            entry["links"]["self"],
            format!("http://127.0.0.1:{port}/api/v2")
        );
        assert_eq!(
            http_get(port, "/api/v2", Some("some-other-token"))
                .expect("request")
                .0,
            401
        );
        assert_eq!(http_get(port, "/api/v2", None).expect("request").0, 401);

        // SIGTERM: the server drains and exits cleanly.
        let pid = server.0.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success());
        let mut exit = None;
        for _ in 0..600 {
            exit = server.0.try_wait().expect("wait");
            if exit.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(exit.expect("the server exits after SIGTERM").success());
    }
}

backend_tests!(
    related_endpoints_need_the_read_scope_of_what_they_return,
    reads_ignore_a_content_type_they_carry_no_body_for,
    crossing_atomic_requests_never_fail_with_a_server_error,
    deletes_and_relationship_endpoints_take_no_query_parameters,
    a_patch_that_changes_nothing_keeps_the_version,
    entry_point_and_operations_reject_query_parameters_by_decoded_name
);

async fn related_endpoints_need_the_read_scope_of_what_they_return(app: TestApp) {
    let prospect = app.prospect("Ada").await;
    let number = app
        .number(&prospect, json!({"number": "+18889387356"}))
        .await
        .expect(201)
        .id();
    let (_, prospects_only) = app.user("p@example.com", Role::Viewer, "prospects.read");
    let (_, users_only) = app.user("u@example.com", Role::Viewer, "users.read");
    let shown = as_user(
        &app,
        Method::GET,
        &format!("/api/v2/phoneNumbers/{number}/prospect"),
        &prospects_only,
        None,
    )
    .await
    .expect(200);
    assert_eq!(shown.id(), prospect);
    let refused = as_user(
        &app,
        Method::GET,
        &format!("/api/v2/prospects/{prospect}/phoneNumbers"),
        &prospects_only,
        None,
    )
    .await
    .expect(403);
    assert!(refused.body["errors"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("phoneNumbers.read"));
    let owner = as_user(
        &app,
        Method::GET,
        &format!("/api/v2/prospects/{prospect}/owner"),
        &users_only,
        None,
    )
    .await
    .expect(200);
    assert_eq!(owner.body["data"]["type"], "user");
    as_user(
        &app,
        Method::GET,
        &format!("/api/v2/phoneNumbers/{number}/prospect"),
        &users_only,
        None,
    )
    .await
    .expect(403);
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

async fn crossing_atomic_requests_never_fail_with_a_server_error(app: TestApp) {
    // Two requests update the same two prospects in opposite orders: on PostgreSQL one of
    // them may be picked as a deadlock victim; it is retried, so both succeed.
    let (a, b) = (app.prospect("A").await, app.prospect("B").await);
    let update = |id: &str, name: String| {
        json!({"op": "update", "ref": {"type": "prospect", "id": id},
        "data": {"type": "prospect", "id": id, "attributes": {"title": name}}})
    };
    for round in 0..6 {
        let forward = json!({"atomic:operations": [update(&a, format!("f{round}")), update(&b, format!("f{round}"))]});
        let backward = json!({"atomic:operations": [update(&b, format!("b{round}")), update(&a, format!("b{round}"))]});
        let token = app.admin_token.clone();
        let (first, second) = futures_util::future::join(
            app.send(
                Method::POST,
                "/api/v2/operations",
                Some(&token),
                Some(&forward),
                &[],
            ),
            app.send(
                Method::POST,
                "/api/v2/operations",
                Some(&token),
                Some(&backward),
                &[],
            ),
        )
        .await;
        assert_eq!(
            (first.status, second.status),
            (200, 200),
            "{} / {}",
            first.text,
            second.text
        );
    }
}

async fn deletes_and_relationship_endpoints_take_no_query_parameters(app: TestApp) {
    let prospect = app.prospect("Ada").await;
    let number = app
        .number(&prospect, json!({"number": "+18889387356"}))
        .await
        .expect(201)
        .id();
    for path in [
        format!("/api/v2/phoneNumbers/{number}/relationships/prospect?include=prospect"),
        format!(
            "/api/v2/prospects/{prospect}/relationships/phoneNumbers?fields[phoneNumber]=number"
        ),
        format!("/api/v2/prospects/{prospect}/relationships/owner?provideAuthorizationMeta=true"),
    ] {
        let response = app.get(&path).await.expect(400);
        assert_eq!(response.error_code(), "invalidQueryParameter");
    }
    let refused = app
        .delete(&format!("/api/v2/phoneNumbers/{number}?include=prospect"))
        .await
        .expect(400);
    assert_eq!(refused.body["errors"][0]["source"]["parameter"], "include");
    app.get(&format!("/api/v2/phoneNumbers/{number}"))
        .await
        .expect(200);
}

async fn a_patch_that_changes_nothing_keeps_the_version(app: TestApp) {
    let prospect = app.prospect("Ada").await;
    let path = format!("/api/v2/prospects/{prospect}");
    let before = app.get(&path).await.expect(200);
    let body = json!({"data": {"type": "prospect", "id": prospect, "attributes": {}}});
    let after = app.patch(&path, body).await.expect(200);
    assert_eq!(after.header("etag"), before.header("etag"));
    assert_eq!(after.attr("updatedAt"), before.attr("updatedAt"));
    let body =
        json!({"data": {"type": "prospect", "id": prospect, "attributes": {"title": "Countess"}}});
    let changed = app.patch(&path, body).await.expect(200);
    assert_ne!(changed.header("etag"), before.header("etag"));
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
