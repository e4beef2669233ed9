//! API.md section 11: texting opt-out and notes on numbers, prospects' `externalId`, the caller-ID
//! lookup (`filter[digits]`).

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{assert_invalid, prospect_doc, TestApp};

fn number_patch(id: &str, attributes: Value) -> Value {
    json!({"data": {"type": "phoneNumber", "id": id, "attributes": attributes}})
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
    digits_find_numbers_by_the_end_of_their_digits,
    digits_combine_with_filters_sorts_cursors_and_includes,
    fewer_than_four_digits_are_400,
    digits_lookups_read_an_index_of_the_numbers_end,
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
        assert_invalid(response, &format!("/data/attributes/{at}"));
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
    assert_invalid(duplicate, "/data/attributes/externalId");
    assert_eq!(app.count("prospects"), 3);
    let too_long = app
        .post(
            "/api/v2/prospects",
            prospect_doc(json!({"externalId": "x".repeat(256)})),
        )
        .await;
    assert_invalid(too_long, "/data/attributes/externalId");

    let path = format!("/api/v2/prospects/{second}");
    let patch = |external_id: Value| json!({"data": {"type": "prospect", "id": second, "attributes": {"externalId": external_id, "title": "Dr"}}});
    let before = app.get(&path).await.expect(200);
    assert_invalid(
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
    assert_invalid(response, "/atomic:operations/1/data/attributes/externalId");
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

/// The ids `path` lists (one page).
async fn listed(app: &TestApp, path: &str) -> Vec<String> {
    crate::helpers::ids(&app.get(path).await.expect(200))
}

fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

async fn digits_find_numbers_by_the_end_of_their_digits(app: TestApp) {
    let ada = app.prospect("Ada").await;
    let berlin = app
        .number(&ada, json!({"number": "+49 30 1234567"}))
        .await
        .expect(201);
    assert_eq!(berlin.attr("number"), "+49301234567");
    let berlin = berlin.id();
    let toll_free = app
        .number(&ada, json!({"number": "+18889387356", "extension": "4567"}))
        .await
        .expect(201)
        .id();
    let san_francisco = app
        .number(&ada, json!({"number": "+14155551234"}))
        .await
        .expect(201)
        .id();
    for (value, expected) in [
        ("0049 30 1234567", vec![berlin.clone()]),
        ("030 1234567", vec![berlin.clone()]),
        ("1234567", vec![berlin.clone()]),
        ("+49301234567", vec![berlin.clone()]),
        ("49301234567", vec![berlin.clone()]),
        ("(888) 938-7356", vec![toll_free.clone()]),
        ("7356", vec![toll_free.clone()]),
        // The extension is not part of the number's digits.
        ("3567", vec![]),
        ("1234", vec![san_francisco.clone()]),
        ("4567", vec![berlin.clone()]),
        (
            "5551234,9387356",
            vec![toll_free.clone(), san_francisco.clone()],
        ),
        // More digits than the number has: no number ends with them.
        ("1149301234567", vec![]),
        // Its last seven digits, after others it does not have.
        ("59301234567", vec![]),
        ("1234568", vec![]),
    ] {
        let path = format!("/api/v2/phoneNumbers?filter[digits]={}", encode(value));
        assert_eq!(listed(&app, &path).await, expected, "{value}");
    }
    let response = app
        .get("/api/v2/phoneNumbers?newFilterSyntax=true&filter[digits][]=7356&filter[digits][]=1%2C234")
        .await
        .expect(200);
    assert_eq!(
        crate::helpers::ids(&response),
        vec![toll_free.clone(), san_francisco]
    );
    // Numbers moved or renumbered are found by their new digits.
    let path = format!("/api/v2/phoneNumbers/{toll_free}");
    app.patch(
        &path,
        number_patch(&toll_free, json!({"number": "+18005550199"})),
    )
    .await
    .expect(200);
    assert!(listed(&app, "/api/v2/phoneNumbers?filter[digits]=7356")
        .await
        .is_empty());
    assert_eq!(
        listed(&app, "/api/v2/phoneNumbers?filter[digits]=5550199").await,
        vec![toll_free]
    );
    // Not an attribute: never shown, and not writable.
    let shown = app
        .get(&format!("/api/v2/phoneNumbers/{berlin}"))
        .await
        .expect(200);
    assert!(shown.body["data"]["attributes"].get("digits").is_none());
    let response = app
        .number(&ada, json!({"number": "+14155550100", "digits": "0100"}))
        .await;
    assert_invalid(response, "/data/attributes/digits");
    let response = app
        .get("/api/v2/phoneNumbers?fields[phoneNumber]=digits")
        .await;
    assert_eq!(
        response.expect(400).body["errors"][0]["source"]["parameter"],
        "fields[phoneNumber]"
    );
}

async fn digits_combine_with_filters_sorts_cursors_and_includes(app: TestApp) {
    let ada = app.prospect("Ada").await;
    let bob = app.prospect("Bob").await;
    let mut matching = Vec::new();
    for (index, prospect) in [&ada, &bob, &ada, &bob, &ada].into_iter().enumerate() {
        let phone_type = if index % 2 == 0 { "work" } else { "mobile" };
        let number = format!("+141555{index}5246");
        let response = app
            .number(prospect, json!({"number": number, "phoneType": phone_type}))
            .await
            .expect(201);
        matching.push(response.id());
        app.number(prospect, json!({"number": format!("+141555{index}5247")}))
            .await
            .expect(201);
    }
    // Walk every page of a sorted, filtered lookup with its cursors.
    let mut path =
        "/api/v2/phoneNumbers?filter[digits]=5246&sort=-phoneType,-id&page[size]=2&include=prospect"
            .to_owned();
    let mut seen = Vec::new();
    loop {
        let page = app.get(&path).await.expect(200);
        seen.extend(crate::helpers::ids(&page));
        let included = page.body["included"].as_array().unwrap();
        assert!(included
            .iter()
            .all(|resource| resource["type"] == "prospect"));
        assert!(!included.is_empty(), "{path}: {}", page.text);
        match page.body["links"]["next"].as_str() {
            Some(next) => path = next.trim_start_matches("http://localhost:8080").to_owned(),
            None => break,
        }
    }
    let (work, mobile) = (
        [&matching[4], &matching[2], &matching[0]],
        [&matching[3], &matching[1]],
    );
    let expected: Vec<String> = work.into_iter().chain(mobile).cloned().collect();
    assert_eq!(seen, expected);
    // With another filter, and under one prospect.
    assert_eq!(
        listed(
            &app,
            "/api/v2/phoneNumbers?filter[digits]=5246&filter[phoneType]=mobile"
        )
        .await,
        vec![matching[1].clone(), matching[3].clone()]
    );
    let path = format!("/api/v2/prospects/{ada}/phoneNumbers?filter[digits]=5246&count=true");
    let under_ada = app.get(&path).await.expect(200);
    assert_eq!(
        crate::helpers::ids(&under_ada),
        vec![
            matching[0].clone(),
            matching[2].clone(),
            matching[4].clone()
        ]
    );
    assert_eq!(under_ada.body["meta"]["count"], 3);
    let path =
        format!("/api/v2/phoneNumbers?filter[digits]=5246&filter[prospect][id]={bob}&sort=-id");
    assert_eq!(
        listed(&app, &path).await,
        vec![matching[3].clone(), matching[1].clone()]
    );
}

async fn fewer_than_four_digits_are_400(app: TestApp) {
    let ada = app.prospect("Ada").await;
    app.number(&ada, json!({"number": "+18889387356"}))
        .await
        .expect(201);
    for value in ["356", "0356", "00007", "(88)", "abc", "7356,35", "+1-2-3"] {
        let path = format!("/api/v2/phoneNumbers?filter[digits]={}", encode(value));
        let response = app.get(&path).await.expect(400);
        assert_eq!(response.error_code(), "invalidQueryParameter", "{value}");
        assert_eq!(
            response.body["errors"][0]["source"]["parameter"], "filter[digits]",
            "{value}: {}",
            response.text
        );
    }
    let path = format!("/api/v2/prospects/{ada}/phoneNumbers?filter[digits]=12");
    let response = app.get(&path).await.expect(400);
    assert_eq!(
        response.body["errors"][0]["source"]["parameter"],
        "filter[digits]"
    );
    for (bad, parameter) in [
        ("filter[digits]=7356..9999", "filter[digits]"),
        (
            "newFilterSyntax=true&filter[digits][gt]=7356",
            "filter[digits][gt]",
        ),
    ] {
        let response = app.get(&format!("/api/v2/phoneNumbers?{bad}")).await;
        assert_eq!(
            response.expect(400).body["errors"][0]["source"]["parameter"],
            parameter
        );
    }
    // Prospects have no such filter.
    let response = app.get("/api/v2/prospects?filter[digits]=7356").await;
    assert_eq!(
        response.expect(400).body["errors"][0]["source"]["parameter"],
        "filter[digits]"
    );
}

async fn digits_lookups_read_an_index_of_the_numbers_end(app: TestApp) {
    let ada = app.prospect("Ada").await;
    // Rows written outside the API get their reversed number too (it is generated).
    let rows: Vec<String> = (0..3000u64)
        .map(|index| {
            let number = format!("+1201{:07}", index * 7919 % 10_000_000);
            format!(
                "({ada}, '{number}', '{number}', 'US', '', 'mobile', {index}, 'unverified', \
                 '2026-01-01 00:00:00', '{number}', 'fixed_line_or_mobile', 1, \
                 '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        })
        .collect();
    app.execute(&format!(
        "INSERT INTO phone_numbers (prospect_id, number, raw_number, country_code, extension, \
         phone_type, position, status, status_changed_at, formatted_number, line_type, version, \
         created_at, updated_at) VALUES {}",
        rows.join(", ")
    ));
    phonebook::models::Prospect::rebuild_phones(&mut app.conn(), ada.parse().unwrap()).unwrap();
    let last = format!("{:07}", 2999 * 7919 % 10_000_000);
    let found = listed(&app, &format!("/api/v2/phoneNumbers?filter[digits]={last}")).await;
    assert_eq!(found.len(), 1);
    let shown = app
        .get(&format!("/api/v2/phoneNumbers/{}", found[0]))
        .await
        .expect(200);
    assert!(shown.attr("number").as_str().unwrap().ends_with(&last));

    // The statements a lookup issues, as diesel spells them: first and keyset pages, sorted, with
    // other filters and under one prospect. Fewer than seven digits read the reversed numbers'
    // range; seven or more, the last seven's equality.
    let short =
        "phone_numbers.number_reversed >= '4321' AND phone_numbers.number_reversed < '4321:'";
    let long = format!(
        "phone_numbers.number_last_seven = '{last}' AND phone_numbers.number_reversed >= '{reversed}' \
         AND phone_numbers.number_reversed < '{reversed}:'",
        reversed = last.chars().rev().collect::<String>()
    );
    let columns = "phone_numbers.id, phone_numbers.number";
    for (lookup, index) in [
        (short, "phone_numbers_number_reversed"),
        (&long, "phone_numbers_number_last_seven"),
    ] {
        for sql in [
            format!("SELECT {columns} FROM phone_numbers WHERE {lookup} ORDER BY phone_numbers.id ASC LIMIT 51"),
            format!("SELECT {columns} FROM phone_numbers WHERE {lookup} AND phone_numbers.id > 20 ORDER BY phone_numbers.id ASC LIMIT 51"),
            format!("SELECT {columns} FROM phone_numbers WHERE phone_numbers.prospect_id = {ada} AND {lookup} ORDER BY phone_numbers.id ASC LIMIT 51"),
            format!("SELECT {columns} FROM phone_numbers WHERE {lookup} AND phone_numbers.status = 'unverified' ORDER BY phone_numbers.updated_at DESC, phone_numbers.id ASC LIMIT 51"),
            format!("SELECT {columns} FROM phone_numbers LEFT JOIN prospects ON prospects.id = phone_numbers.prospect_id WHERE {lookup} ORDER BY phone_numbers.id ASC LIMIT 51"),
        ] {
            // Sorts stay allowed: a lookup sorts the few rows it finds by their sort keys.
            let plan = app.plan(&sql, &["enable_seqscan"]);
            assert!(
                plan.split_whitespace().any(|word| word == index),
                "{sql}\nshould read {index}:\n{plan}"
            );
        }
    }

    // PostgreSQL plans a cached statement afresh on each run while its plan for unknown values
    // (the generic plan) looks costlier than those for the values given. The seven digits'
    // equality is estimated without its value, so that plan reads the index too and is kept.
    let lookup = "SELECT phone_numbers.id FROM phone_numbers LEFT JOIN prospects \
                  ON prospects.id = phone_numbers.prospect_id WHERE phone_numbers.number_last_seven = $1 \
                  AND phone_numbers.number_reversed >= $2 AND phone_numbers.number_reversed < $3 \
                  ORDER BY phone_numbers.id ASC LIMIT $4";
    if let Some(plan) = app.generic_plan(lookup, "text, text, text, bigint") {
        assert!(
            plan.contains("phone_numbers_number_last_seven"),
            "the generic plan should read phone_numbers_number_last_seven:\n{plan}"
        );
    }
}
