//! The resource endpoints of API.md section 3: CRUD of prospects and phone numbers with partial
//! PATCH and the delete cascade, read-only users, and absolute links in every document.

use actix_web::http::Method;
use serde_json::{json, Value};

use phonebook::permissions::Role;

use crate::backend_tests;
use crate::helpers::{assert_links_absolute, ids, prospect_doc, Response, TestApp, JSONAPI};

backend_tests!(
    prospect_and_number_round_trip,
    prospect_crud_with_partial_patch,
    number_crud_and_delete_cascade,
    users_are_read_only,
    every_link_is_absolute
);

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
    assert_eq!(response.header("allow"), Some("GET, HEAD"));
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
