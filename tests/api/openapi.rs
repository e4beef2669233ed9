//! The OpenAPI document: it lists exactly the routes of the route table, and it is served as plain
//! JSON (as `/health` is) at the entry point's `describedby` link.

use actix_web::http::Method;

use crate::backend_tests;
use crate::helpers::{raw, TestApp, JSONAPI};

backend_tests!(health_and_openapi_are_plain_json);

#[test]
fn openapi_lists_exactly_the_routes_of_the_route_table() {
    let document: serde_json::Value =
        serde_json::from_str(phonebook::resources::entry::openapi_json())
            .expect("openapi.yaml parses");
    let mut documented: Vec<(String, String)> = document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flat_map(|item| item.keys())
                .filter(|key| {
                    ["get", "head", "post", "patch", "delete", "put"].contains(&key.as_str())
                })
                .map(move |method| (path.clone(), method.to_uppercase()))
        })
        .collect();
    let mut served: Vec<(String, String)> = phonebook::router::ROUTES
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
