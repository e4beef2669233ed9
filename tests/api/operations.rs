//! Atomic Operations (API.md sections 6 and 9): lids, update, remove and move in one request, the
//! rollback of a failing request, malformed operations, crossing requests.

use actix_web::http::Method;
use serde_json::json;

use phonebook::permissions::Role;

use crate::backend_tests;
use crate::helpers::{as_user, assert_links_absolute, etag_of, pointer, TestApp, ATOMIC};

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
    malformed_operations_are_400,
    ref_and_href_are_what_the_extension_defines,
    crossing_atomic_requests_never_fail_with_a_server_error
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

async fn ref_and_href_are_what_the_extension_defines(app: TestApp) {
    let prospect = json!({"type": "prospect", "attributes": {"firstName": "Ada"}});
    // An add may name its data's type in `ref`, or its collection in `href`.
    app.post(
        "/api/v2/operations",
        json!({"atomic:operations": [
            {"op": "add", "ref": {"type": "prospect"}, "data": prospect},
            {"op": "add", "ref": {"type": "prospect", "meta": {}}, "data": prospect},
            {"op": "add", "href": "/api/v2/prospects", "data": prospect},
        ]}),
    )
    .await
    .expect(200);
    let id = app.prospect("Grace").await;
    let update = json!({"type": "prospect", "id": id, "attributes": {"title": "Dr"}});
    for (operation, at) in [
        (json!({"op": "add", "ref": null, "data": prospect}), "/ref"),
        (
            json!({"op": "add", "href": null, "data": prospect}),
            "/href",
        ),
        (
            json!({"op": "add", "ref": {"type": "phoneNumber"}, "data": prospect}),
            "/ref/type",
        ),
        (
            json!({"op": "add", "ref": {"type": "banana"}, "data": prospect}),
            "/ref/type",
        ),
        (
            json!({"op": "add", "ref": {"type": "prospect", "id": "1"}, "data": prospect}),
            "/ref/id",
        ),
        (
            json!({"op": "add", "ref": {"type": "prospect", "id": id, "relationship": "phoneNumbers"},
                "data": prospect}),
            "/ref/id",
        ),
        (
            json!({"op": "add", "ref": {"type": "prospect"}, "href": "/api/v2/prospects", "data": prospect}),
            "",
        ),
        (json!({"op": "update", "ref": null, "data": update}), "/ref"),
        (
            json!({"op": "update", "ref": {"type": "prospect", "id": id, "relationship": null}, "data": update}),
            "/ref/relationship",
        ),
        (
            json!({"op": "update", "href": format!("/api/v2/prospects/{id}"), "data": update}),
            "/href",
        ),
        (json!({"op": "remove", "ref": null}), "/ref"),
    ] {
        let response = app
            .post(
                "/api/v2/operations",
                json!({"atomic:operations": [operation]}),
            )
            .await
            .expect(400);
        assert_eq!(response.error_code(), "badRequest", "{operation}");
        assert_eq!(
            pointer(&response),
            format!("/atomic:operations/0{at}"),
            "{operation}"
        );
    }
    assert_eq!(count(&app, "prospects").await, 4);
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
