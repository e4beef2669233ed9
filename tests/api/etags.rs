//! ETags and preconditions (API.md sections 6 and 9): one strong tag per version of a record,
//! `If-Match` guarding writes and moves, `If-None-Match` answering 304 on reads only.

use actix_web::http::Method;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{etag_of, prospect_doc, TestApp};

backend_tests!(
    etags_name_one_version_of_a_record,
    if_match_guards_writes,
    if_match_guards_numbers_and_their_moves,
    if_none_match_answers_304_on_reads_only,
    a_patch_that_changes_nothing_keeps_the_version
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
