//! Related and relationship endpoints (API.md section 3): `prospect`, `owner` and `phoneNumbers`
//! read, replaced and added to, the read scope they need, and the query parameters they refuse.

use actix_web::http::Method;
use serde_json::json;

use phonebook::permissions::Role;

use crate::backend_tests;
use crate::helpers::{as_user, ids, pointers, TestApp, JSONAPI};

backend_tests!(
    related_endpoints,
    phone_number_prospect_relationship,
    prospect_phone_numbers_relationship,
    prospect_owner_relationship,
    related_endpoints_need_the_read_scope_of_what_they_return,
    deletes_and_relationship_endpoints_take_no_query_parameters
);

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
