//! The service's foundation: entry point, CRUD of prospects and numbers, relationships,
//! negotiation, authentication, errors, the OpenAPI document.

use actix_web::http::Method;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests! {
    async fn entry_point_describes_caller_and_collections(app: TestApp) {
        let response = app.get("/api/v2").await.expect(200);
        assert_eq!(response.body["jsonapi"]["version"], "1.1");
        assert_eq!(response.body["meta"]["user"]["role"], "admin");
        assert!(response.body["meta"]["user"]["id"].is_string());
        assert!(response.body["links"]["describedby"].as_str().unwrap().ends_with("/api/v2/openapi.json"));
        assert!(response.body["meta"]["collections"]["phoneNumbers"].as_str().unwrap().ends_with("/api/v2/phoneNumbers"));
        assert_eq!(response.header("vary"), Some("Accept"));
        assert!(response.header("x-request-id").is_some());
    }

    async fn prospect_and_number_round_trip(app: TestApp) {
        let prospect = app.prospect("Ada").await;
        let created = app.number(&prospect, json!({"number": "(888) 938-7356", "phoneType": "work"})).await.expect(201);
        let id = created.id();
        assert!(created.header("location").unwrap().ends_with(&format!("/api/v2/phoneNumbers/{id}")));
        assert!(created.header("etag").is_some());
        assert_eq!(created.attr("number"), "+18889387356");
        assert_eq!(created.attr("rawNumber"), "(888) 938-7356");
        let listed = app.get(&format!("/api/v2/phoneNumbers?filter[prospect][id]={prospect}")).await.expect(200);
        assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
        assert_eq!(listed.body["data"][0]["id"], id.as_str());
        let shown = app.get(&format!("/api/v2/prospects/{prospect}")).await.expect(200);
        assert_eq!(shown.attr("workPhones"), &json!(["+18889387356"]));
        app.delete(&format!("/api/v2/prospects/{prospect}")).await.expect(204);
        app.get(&format!("/api/v2/phoneNumbers/{id}")).await.expect(404);
    }

    async fn requests_without_a_valid_token_are_401(app: TestApp) {
        let missing = app.send(Method::GET, "/api/v2/prospects", None, None, &[]).await.expect(401);
        assert_eq!(missing.error_code(), "unauthorized");
        assert_eq!(missing.header("www-authenticate"), Some(r#"Bearer realm="phonebook""#));
        let unknown = app.send(Method::GET, "/api/v2/prospects", Some("nope"), None, &[]).await.expect(401);
        assert_eq!(unknown.header("www-authenticate"), Some(r#"Bearer realm="phonebook", error="invalid_token""#));
    }

    async fn unknown_routes_and_methods(app: TestApp) {
        assert_eq!(app.get("/api/v2/nothing").await.expect(404).error_code(), "resourceNotFound");
        let response = app.send(Method::PUT, "/api/v2/phoneNumbers", Some(&app.admin_token), None, &[]).await.expect(405);
        assert_eq!(response.header("allow"), Some("GET, POST"));
    }
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
