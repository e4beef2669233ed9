//! Request bodies (API.md section 9, "Bodies", "Text", "Ids in request documents"): documents that
//! are not documents, client ids, attribute errors at their pointers, read-only attributes, text
//! (NUL, invalid UTF-8, Unicode), and the body size limit.

use actix_web::http::Method;
use serde_json::json;

use phonebook::config::Config;

use crate::backend_tests;
use crate::helpers::{ids, pointer, pointers, prospect_doc, raw, TestApp, JSONAPI};

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

/// A body limit of 100 bytes.
fn body_limit_of_100(config: &mut Config) {
    config.max_body_bytes = 100;
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
