//! API.md section 11: texting opt-out and notes on numbers, prospects' `externalId`, the caller-ID
//! lookup (`filter[digits]`) and shared numbers (`sharedWith`).

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{pointer, prospect_doc, Response, TestApp};

fn number_patch(id: &str, attributes: Value) -> Value {
    json!({"data": {"type": "phoneNumber", "id": id, "attributes": attributes}})
}

/// The 422 a write gets for one bad attribute, at `at`.
#[track_caller]
fn assert_invalid_at(response: Response, at: &str) {
    let response = response.expect(422);
    assert_eq!(
        response.error_code(),
        "validationError",
        "{}",
        response.text
    );
    assert_eq!(pointer(&response), at, "{}", response.text);
}

/// The changes recorded for one phone number, oldest first.
async fn number_changes(app: &TestApp, id: &str) -> Vec<Value> {
    let path = format!(
        "/api/v2/changes?filter[resourceType]=phoneNumber&filter[resourceId]={id}&page[size]=100"
    );
    let response = app.get(&path).await.expect(200);
    response.body["data"].as_array().unwrap().clone()
}

backend_tests!(
    sms_opt_out_and_notes_are_written_shown_filtered_and_recorded,
    bad_sms_opt_out_and_notes_are_422_and_write_nothing,
    external_ids_are_unique_filterable_and_checked_everywhere
);

async fn sms_opt_out_and_notes_are_written_shown_filtered_and_recorded(app: TestApp) {
    let prospect = app.prospect("Ada").await;
    let plain = app
        .number(&prospect, json!({"number": "+18889387356"}))
        .await
        .expect(201);
    assert_eq!(plain.attr("smsOptOut"), &json!(false));
    assert_eq!(plain.attr("smsOptOutChangedAt"), &Value::Null);
    assert_eq!(plain.attr("notes"), &Value::Null);
    let opted = app
        .number(
            &prospect,
            json!({"number": "+14155552671", "smsOptOut": true, "notes": "asked by phone"}),
        )
        .await
        .expect(201);
    assert_eq!(opted.attr("smsOptOut"), &json!(true));
    assert!(
        opted.attr("smsOptOutChangedAt").is_string(),
        "{}",
        opted.text
    );
    assert_eq!(opted.attr("notes"), "asked by phone");
    let id = plain.id();
    let path = format!("/api/v2/phoneNumbers/{id}");

    let changed = app
        .patch(&path, number_patch(&id, json!({"smsOptOut": true})))
        .await
        .expect(200);
    let changed_at = changed.attr("smsOptOutChangedAt").clone();
    assert!(changed_at.is_string(), "{}", changed.text);
    assert_eq!(changed.attr("updatedAt"), &changed_at);
    // Notes alone, and the same opt-out again, leave the time of the opt-out alone.
    let noted = app
        .patch(
            &path,
            number_patch(&id, json!({"notes": "ünïcode ✓", "smsOptOut": true})),
        )
        .await
        .expect(200);
    assert_eq!(noted.attr("smsOptOutChangedAt"), &changed_at);
    assert_eq!(noted.attr("notes"), "ünïcode ✓");
    let shown = app.get(&path).await.expect(200);
    assert_eq!(shown.attr("notes"), "ünïcode ✓");
    assert_eq!(shown.attr("smsOptOut"), &json!(true));

    let cleared = app
        .patch(&path, number_patch(&id, json!({"notes": null})))
        .await
        .expect(200);
    assert_eq!(cleared.attr("notes"), &Value::Null);

    let changes = number_changes(&app, &id).await;
    let fields = |change: &Value| change["attributes"]["changedFields"].clone();
    assert_eq!(
        fields(&changes[1]),
        json!(["smsOptOut", "smsOptOutChangedAt", "updatedAt"])
    );
    assert_eq!(
        changes[1]["attributes"]["before"]["attributes"]["smsOptOut"],
        json!(false)
    );
    assert_eq!(
        changes[1]["attributes"]["after"]["attributes"]["smsOptOutChangedAt"],
        changed_at
    );
    assert_eq!(fields(&changes[2]), json!(["notes", "updatedAt"]));
    assert_eq!(
        changes[2]["attributes"]["after"]["attributes"]["notes"],
        "ünïcode ✓"
    );

    // Opting in again is a change too.
    let back = app
        .patch(&path, number_patch(&id, json!({"smsOptOut": false})))
        .await
        .expect(200);
    assert_ne!(back.attr("smsOptOutChangedAt"), &changed_at);
    let listed = |query: &'static str| {
        let app = &app;
        async move {
            let response = app
                .get(&format!("/api/v2/phoneNumbers?{query}"))
                .await
                .expect(200);
            crate::helpers::ids(&response)
        }
    };
    assert_eq!(listed("filter[smsOptOut]=true").await, vec![opted.id()]);
    assert_eq!(listed("filter[smsOptOut]=false").await, vec![id.clone()]);
    assert_eq!(listed("filter[smsOptOut]=true,false").await.len(), 2);
    let response = app.get("/api/v2/phoneNumbers?filter[smsOptOut]=yes").await;
    let response = response.expect(400);
    assert_eq!(
        response.body["errors"][0]["source"]["parameter"],
        "filter[smsOptOut]"
    );
    let response = app.get("/api/v2/phoneNumbers?filter[notes]=x").await;
    assert_eq!(
        response.expect(400).body["errors"][0]["source"]["parameter"],
        "filter[notes]"
    );
}

async fn bad_sms_opt_out_and_notes_are_422_and_write_nothing(app: TestApp) {
    let prospect = app.prospect("Ada").await;
    for (attributes, at) in [
        (json!({"smsOptOut": "true"}), "smsOptOut"),
        (json!({"smsOptOut": 1}), "smsOptOut"),
        (json!({"smsOptOut": null}), "smsOptOut"),
        (json!({"notes": "x".repeat(2001)}), "notes"),
        (json!({"notes": 12}), "notes"),
        (json!({"notes": "a\u{0}b"}), "notes"),
    ] {
        let mut create = attributes.clone();
        create["number"] = json!("+18889387356");
        let response = app.number(&prospect, create).await;
        assert_invalid_at(response, &format!("/data/attributes/{at}"));
    }
    assert_eq!(app.count("phone_numbers"), 0);

    let number = app
        .number(
            &prospect,
            json!({"number": "+18889387356", "notes": "keep"}),
        )
        .await
        .expect(201);
    let id = number.id();
    let path = format!("/api/v2/phoneNumbers/{id}");
    let changes = number_changes(&app, &id).await.len();
    let response = app
        .patch(
            &path,
            number_patch(
                &id,
                json!({"smsOptOut": "yes", "notes": "y".repeat(2001), "status": "valid"}),
            ),
        )
        .await;
    let response = response.expect(422);
    let mut at = crate::helpers::pointers(&response);
    at.sort();
    assert_eq!(
        at,
        ["/data/attributes/notes", "/data/attributes/smsOptOut"],
        "{}",
        response.text
    );
    let shown = app.get(&path).await.expect(200);
    assert_eq!(shown.body["data"], number.body["data"], "nothing changed");
    assert_eq!(number_changes(&app, &id).await.len(), changes);
    // 2000 characters is the bound, counted in characters, not bytes.
    let longest = "é".repeat(2000);
    let response = app
        .patch(&path, number_patch(&id, json!({"notes": longest})))
        .await
        .expect(200);
    assert_eq!(response.attr("notes"), &json!(longest));
}

async fn external_ids_are_unique_filterable_and_checked_everywhere(app: TestApp) {
    let first = app
        .post(
            "/api/v2/prospects",
            prospect_doc(json!({"firstName": "Ada", "externalId": "crm-1"})),
        )
        .await
        .expect(201);
    assert_eq!(first.attr("externalId"), "crm-1");
    let second = app.prospect("Grace").await;
    assert_eq!(
        app.get(&format!("/api/v2/prospects/{second}"))
            .await
            .expect(200)
            .attr("externalId"),
        &Value::Null
    );
    // Any number of prospects may have none.
    app.prospect("Edsger").await;

    let duplicate = app
        .post(
            "/api/v2/prospects",
            prospect_doc(json!({"firstName": "Alan", "externalId": "crm-1"})),
        )
        .await;
    assert_invalid_at(duplicate, "/data/attributes/externalId");
    assert_eq!(app.count("prospects"), 3);
    let too_long = app
        .post(
            "/api/v2/prospects",
            prospect_doc(json!({"externalId": "x".repeat(256)})),
        )
        .await;
    assert_invalid_at(too_long, "/data/attributes/externalId");

    let path = format!("/api/v2/prospects/{second}");
    let patch = |external_id: Value| json!({"data": {"type": "prospect", "id": second, "attributes": {"externalId": external_id, "title": "Dr"}}});
    let before = app.get(&path).await.expect(200);
    assert_invalid_at(
        app.patch(&path, patch(json!("crm-1"))).await,
        "/data/attributes/externalId",
    );
    assert_eq!(app.get(&path).await.expect(200).body, before.body);
    let renamed = app.patch(&path, patch(json!("crm-2"))).await.expect(200);
    assert_eq!(renamed.attr("externalId"), "crm-2");

    // In /operations the error points into the failing operation, and nothing before it stays.
    let response = app.post("/api/v2/operations", json!({"atomic:operations": [
        {"op": "add", "data": {"type": "prospect", "attributes": {"firstName": "Barbara", "externalId": "crm-3"}}},
        {"op": "add", "data": {"type": "prospect", "attributes": {"externalId": "crm-2"}}},
    ]})).await;
    assert_invalid_at(response, "/atomic:operations/1/data/attributes/externalId");
    assert_eq!(app.count("prospects"), 3);

    let found = |query: String| {
        let app = &app;
        async move {
            let response = app
                .get(&format!("/api/v2/prospects?{query}"))
                .await
                .expect(200);
            crate::helpers::ids(&response)
        }
    };
    assert_eq!(
        found("filter[externalId]=crm-1".into()).await,
        vec![first.id()]
    );
    assert_eq!(
        found("filter[externalId]=crm-1,crm-2".into()).await,
        vec![first.id(), second.clone()]
    );
    assert_eq!(found("filter[externalId]=__null__".into()).await.len(), 1);
    assert_eq!(found("filter[externalId]=crm-9".into()).await.len(), 0);
    let changes = app
        .get(&format!(
            "/api/v2/changes?filter[resourceType]=prospect&filter[resourceId]={second}"
        ))
        .await
        .expect(200);
    let last = changes.body["data"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        last["attributes"]["changedFields"],
        json!(["title", "externalId", "updatedAt"])
    );
}
