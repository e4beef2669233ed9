//! Batched creates (runs of adds in `/operations`, the importer's batches) keep the guarantees of
//! creating one by one: list order, the change feed, refusals and their pointers or reasons.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{pointer, TestApp};

backend_tests!(
    a_run_of_adds_writes_what_adds_one_by_one_write,
    a_refused_add_in_a_run_is_reported_at_its_pointer_and_writes_nothing,
    an_import_batch_with_duplicates_rejects_just_those_rows,
    an_import_batch_records_what_its_rows_one_by_one_record
);

/// Every change in the feed, oldest first.
async fn feed(app: &TestApp) -> Vec<Value> {
    let response = app.get("/api/v2/changes?page[size]=1000").await.expect(200);
    response.body["data"].as_array().unwrap().clone()
}

/// The numbers of a prospect by `order`: (order, number) each.
async fn list(app: &TestApp, prospect: &str) -> Vec<(i64, String)> {
    let path = format!("/api/v2/prospects/{prospect}/phoneNumbers?sort=order&page[size]=100");
    let response = app.get(&path).await.expect(200);
    (response.body["data"].as_array().unwrap().iter())
        .map(|number| {
            let attributes = &number["attributes"];
            let order = attributes["order"].as_i64().unwrap();
            (order, attributes["number"].as_str().unwrap().to_owned())
        })
        .collect()
}

/// A change as it compares across two runs of the same writes: records named by `name` (from
/// type and id), timestamps left out (two runs are made at different times), and `updatedAt`
/// out of `changedFields` (whether a number shifted within the millisecond it was created
/// shows a new one depends on the clock).
fn comparable(change: &Value, name: &dyn Fn(&str, &str) -> String) -> Value {
    const TIMES: [&str; 4] = [
        "createdAt",
        "updatedAt",
        "statusChangedAt",
        "smsOptOutChangedAt",
    ];
    let attributes = &change["attributes"];
    let kind = attributes["resourceType"].as_str().unwrap();
    let state = |state: &Value| {
        let mut state = state.clone();
        if let Some(attributes) = state["attributes"].as_object_mut() {
            attributes.retain(|name, _| !TIMES.contains(&name.as_str()));
        }
        if let Some(prospect) = state["relationships"]["prospect"].as_str() {
            state["relationships"]["prospect"] = name("prospect", prospect).into();
        }
        state
    };
    let changed: Vec<&Value> = (attributes["changedFields"].as_array().unwrap().iter())
        .filter(|field| *field != "updatedAt")
        .collect();
    json!({
        "action": attributes["action"],
        "record": name(kind, attributes["resourceId"].as_str().unwrap()),
        "changedFields": changed,
        "before": state(&attributes["before"]),
        "after": state(&attributes["after"]),
    })
}

/// Names records by first appearance in `changes` (`prospect 0`, `phoneNumber 1`, ...).
fn by_appearance(changes: &[Value]) -> impl Fn(&str, &str) -> String {
    let mut names = HashMap::new();
    for change in changes {
        let attributes = &change["attributes"];
        let kind = attributes["resourceType"].as_str().unwrap().to_owned();
        let id = attributes["resourceId"].as_str().unwrap().to_owned();
        let next = names.len();
        names
            .entry((kind.clone(), id))
            .or_insert_with(|| format!("{kind} {next}"));
    }
    move |kind: &str, id: &str| {
        (names.get(&(kind.to_owned(), id.to_owned()))).map_or_else(|| "before".into(), Clone::clone)
    }
}

fn add_number(prospect: &str, number: &str, order: Option<i64>) -> Value {
    let mut attributes = json!({"number": number});
    if let Some(order) = order {
        attributes["order"] = order.into();
    }
    json!({"op": "add", "data": {"type": "phoneNumber", "attributes": attributes,
        "relationships": {"prospect": {"data": {"type": "prospect", "id": prospect}}}}})
}

/// The adds the first test sends: appends, inserts that shift what is there, an `order` past
/// the end.
fn adds(prospect: &str) -> Vec<Value> {
    [
        ("+12125550201", None),
        ("+12125550202", Some(0)),
        ("+12125550203", Some(2)),
        ("+12125550204", None),
        ("+12125550205", Some(100)),
    ]
    .into_iter()
    .map(|(number, order)| add_number(prospect, number, order))
    .collect()
}

async fn a_run_of_adds_writes_what_adds_one_by_one_write(app: TestApp) {
    let (batched, single) = (app.prospect("Same").await, app.prospect("Same").await);
    for prospect in [&batched, &single] {
        for number in ["+12125550100", "+12125550101"] {
            app.number(prospect, json!({"number": number}))
                .await
                .expect(201);
        }
    }
    let start = feed(&app).await.len();
    let response = app
        .post(
            "/api/v2/operations",
            json!({"atomic:operations": adds(&batched)}),
        )
        .await
        .expect(200);
    let results = response.body["atomic:results"].as_array().unwrap();
    let numbers: Vec<&str> = (results.iter())
        .map(|result| result["data"]["attributes"]["number"].as_str().unwrap())
        .collect();
    assert_eq!(
        numbers,
        [
            "+12125550201",
            "+12125550202",
            "+12125550203",
            "+12125550204",
            "+12125550205"
        ]
    );
    let middle = feed(&app).await.len();
    for add in adds(&single) {
        app.post("/api/v2/operations", json!({"atomic:operations": [add]}))
            .await
            .expect(200);
    }
    let expected = [
        "+12125550202",
        "+12125550100",
        "+12125550203",
        "+12125550101",
        "+12125550201",
        "+12125550204",
        "+12125550205",
    ];
    for prospect in [&batched, &single] {
        let shown = list(&app, prospect).await;
        let orders: Vec<i64> = shown.iter().map(|(order, _)| *order).collect();
        assert_eq!(orders, (0..7).collect::<Vec<_>>());
        let numbers: Vec<&str> = shown.iter().map(|(_, number)| number.as_str()).collect();
        assert_eq!(numbers, expected);
    }
    // The same changes, in the same order: created, the siblings it shifted, the prospect.
    let changes = feed(&app).await;
    let (batch, one_by_one) = (&changes[start..middle], &changes[middle..]);
    let (batch_names, single_names) = (by_appearance(batch), by_appearance(one_by_one));
    let batch: Vec<Value> = batch.iter().map(|c| comparable(c, &batch_names)).collect();
    let one_by_one: Vec<Value> = (one_by_one.iter())
        .map(|c| comparable(c, &single_names))
        .collect();
    // Each add's `created` and its prospect's `updated`, and the six shifts of the two inserts.
    assert_eq!(batch.len(), 5 * 2 + 3 + 2, "{batch:#?}");
    assert_eq!(batch, one_by_one);
    // The prospect's stored list and version moved as five creates move them.
    let (a, b) = (
        app.get(&format!("/api/v2/prospects/{batched}"))
            .await
            .expect(200),
        app.get(&format!("/api/v2/prospects/{single}"))
            .await
            .expect(200),
    );
    assert_eq!(a.attr("otherPhones"), b.attr("otherPhones"));
    assert_eq!(a.attr("otherPhones").as_array().unwrap().len(), 7);

    // A run's statements do not grow with its length: one batched write, not one per add.
    let mut statements = Vec::new();
    for (first, count) in [(400, 5), (500, 50)] {
        let prospect = app.prospect("Many").await;
        let run: Vec<Value> = (first..first + count)
            .map(|at| add_number(&prospect, &format!("+1212555{at:04}"), None))
            .collect();
        let before = app.statement_count();
        app.post("/api/v2/operations", json!({"atomic:operations": run}))
            .await
            .expect(200);
        statements.push(app.statement_count() - before);
    }
    assert_eq!(statements[0], statements[1], "{statements:?}");

    // A run of prospect adds, then a run of adds to them by lid.
    let response = app
        .post(
            "/api/v2/operations",
            json!({"atomic:operations": [
                {"op": "add", "data": {"type": "prospect", "lid": "a", "attributes": {"firstName": "A"}}},
                {"op": "add", "data": {"type": "prospect", "lid": "b", "attributes": {"firstName": "B", "externalId": "b-1"}}},
                {"op": "add", "data": {"type": "phoneNumber", "attributes": {"number": "+12125550301"},
                    "relationships": {"prospect": {"data": {"type": "prospect", "lid": "b"}}}}},
                {"op": "add", "data": {"type": "phoneNumber", "attributes": {"number": "+12125550302"},
                    "relationships": {"prospect": {"data": {"type": "prospect", "lid": "a"}}}}},
                {"op": "add", "data": {"type": "phoneNumber", "attributes": {"number": "+12125550303"},
                    "relationships": {"prospect": {"data": {"type": "prospect", "lid": "b"}}}}},
            ]}),
        )
        .await
        .expect(200);
    let results = response.body["atomic:results"].as_array().unwrap();
    let (a, b) = (
        results[0]["data"]["id"].as_str().unwrap(),
        results[1]["data"]["id"].as_str().unwrap(),
    );
    assert_eq!(results[1]["data"]["attributes"]["externalId"], "b-1");
    assert_eq!(
        results[1]["data"]["attributes"]["otherPhones"],
        json!(["+12125550301", "+12125550303"])
    );
    assert_eq!(
        list(&app, b).await,
        [(0, "+12125550301".into()), (1, "+12125550303".into())]
    );
    assert_eq!(list(&app, a).await, [(0, "+12125550302".into())]);
}

async fn a_refused_add_in_a_run_is_reported_at_its_pointer_and_writes_nothing(app: TestApp) {
    let prospect = app.prospect("Ada").await;
    app.number(&prospect, json!({"number": "+12125550100"}))
        .await
        .expect(201);
    let duplicate = app
        .number(&prospect, json!({"number": "+12125550100"}))
        .await
        .expect(422);
    let duplicate = duplicate.body["errors"][0]["detail"].clone();
    app.post(
        "/api/v2/prospects",
        json!({"data": {"type": "prospect", "attributes": {"externalId": "taken"}}}),
    )
    .await
    .expect(201);
    let before = (
        app.get(&format!("/api/v2/prospects/{prospect}"))
            .await
            .expect(200),
        feed(&app).await.len(),
        app.count("phone_numbers"),
        app.count("prospects"),
    );
    let prospect_add = |external_id: &str| json!({"op": "add", "data": {"type": "prospect", "attributes": {"externalId": external_id}}});
    let cases = [
        // A duplicate of an earlier add of the run.
        (
            vec![
                add_number(&prospect, "+12125550201", None),
                add_number(&prospect, "+12125550202", Some(0)),
                add_number(&prospect, "+12125550203", None),
                add_number(&prospect, "(212) 555-0202", None),
                add_number(&prospect, "+12125550204", None),
            ],
            "/atomic:operations/3/data/attributes/number",
        ),
        // A duplicate of a stored number, before an add that is invalid: the first is reported.
        (
            vec![
                add_number(&prospect, "+12125550201", None),
                add_number(&prospect, "+12125550202", None),
                add_number(&prospect, "+1 212 555 0100", None),
                add_number(&prospect, "not a number", None),
            ],
            "/atomic:operations/2/data/attributes/number",
        ),
        // An invalid add after a run that would be written.
        (
            vec![
                add_number(&prospect, "+12125550201", None),
                add_number(&prospect, "not a number", None),
                add_number(&prospect, "+12125550202", None),
            ],
            "/atomic:operations/1/data/attributes/number",
        ),
        // Prospects: an externalId taken, and one given twice in the run.
        (
            vec![
                prospect_add("new-1"),
                prospect_add("taken"),
                prospect_add("new-2"),
            ],
            "/atomic:operations/1/data/attributes/externalId",
        ),
        (
            vec![
                prospect_add("new-1"),
                prospect_add("new-2"),
                prospect_add("new-1"),
            ],
            "/atomic:operations/2/data/attributes/externalId",
        ),
    ];
    for (operations, at) in cases {
        let response = app
            .post(
                "/api/v2/operations",
                json!({"atomic:operations": operations}),
            )
            .await
            .expect(422);
        assert_eq!(response.error_code(), "validationError");
        assert_eq!(pointer(&response), at);
        let detail = response.body["errors"][0]["detail"].as_str().unwrap();
        match at {
            "/atomic:operations/2/data/attributes/number" => assert_eq!(detail, duplicate),
            "/atomic:operations/3/data/attributes/number" => {
                assert!(
                    detail.starts_with("+12125550202 is a duplicate"),
                    "{detail}"
                )
            }
            _ => {}
        }
        let after = (
            app.get(&format!("/api/v2/prospects/{prospect}"))
                .await
                .expect(200),
            feed(&app).await.len(),
            app.count("phone_numbers"),
            app.count("prospects"),
        );
        assert_eq!(after.0.body, before.0.body, "{at}");
        assert_eq!((after.1, after.2, after.3), (before.1, before.2, before.3));
    }
    // Adds are read and their numbers parsed before the transaction, yet the first refusal is
    // still the one running them in order meets: a missing prospect (a check of the database)
    // before a number that does not parse.
    let response = app
        .post(
            "/api/v2/operations",
            json!({"atomic:operations": [
                add_number(&prospect, "+12125550301", None),
                add_number("999999", "+12125550302", None),
                add_number(&prospect, "not a number", None),
            ]}),
        )
        .await
        .expect(404);
    assert_eq!(response.error_code(), "resourceNotFound");
    assert_eq!(pointer(&response), "/atomic:operations/1");
    assert_eq!(app.count("phone_numbers"), before.2);
}

fn file(content: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("rows.csv");
    std::fs::write(&path, content).expect("write the file");
    (dir, path)
}

#[track_caller]
fn import(app: &TestApp, path: &Path) {
    let output = crate::helpers::phonebook(&app.database_url, &["import", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
}

/// The reject report: (line, reason) each.
fn rejected(path: &Path) -> Vec<(u64, String)> {
    let report = path.with_file_name("rows.rejected.csv");
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(report)
        .unwrap();
    (reader.records())
        .map(|record| {
            let record = record.unwrap();
            (record[0].parse().unwrap(), record[1].to_owned())
        })
        .collect()
}

async fn prospect_id(app: &TestApp, external_id: &str) -> String {
    let path = format!("/api/v2/prospects?filter[externalId]={external_id}");
    let response = app.get(&path).await.expect(200);
    response.body["data"][0]["id"].as_str().unwrap().to_owned()
}

async fn an_import_batch_with_duplicates_rejects_just_those_rows(app: TestApp) {
    let stored = app
        .post(
            "/api/v2/prospects",
            json!({"data": {"type": "prospect", "attributes": {"externalId": "d-3"}}}),
        )
        .await
        .expect(201)
        .id();
    app.number(&stored, json!({"number": "+12125550500"}))
        .await
        .expect(201);
    let (_dir, path) = file(
        "externalId,firstName,number\n\
         d-1,Ada,+1 212 555 0301\n\
         d-1,,+1 212 555 0302\n\
         d-1,,(212) 555-0301\n\
         d-2,Bob,+1 212 555 0301\n\
         d-3,,+1 212 555 0500\n\
         d-1,,+1 212 555 0303\n\
         d-3,,+1 212 555 0501\n",
    );
    import(&app, &path);
    let d1 = prospect_id(&app, "d-1").await;
    let reason = |response: crate::helpers::Response| {
        let detail = response.expect(422).body["errors"][0]["detail"].clone();
        format!("number: {}", detail.as_str().unwrap())
    };
    let again_d1 = reason(app.number(&d1, json!({"number": "+12125550301"})).await);
    let again_d3 = reason(app.number(&stored, json!({"number": "+12125550500"})).await);
    assert_eq!(rejected(&path), [(4, again_d1), (6, again_d3)]);
    let numbers = |list: Vec<(i64, String)>| list.into_iter().collect::<Vec<_>>();
    assert_eq!(
        numbers(list(&app, &d1).await),
        [
            (0, "+12125550301".into()),
            (1, "+12125550302".into()),
            (2, "+12125550303".into())
        ]
    );
    let d2 = prospect_id(&app, "d-2").await;
    assert_eq!(list(&app, &d2).await, [(0, "+12125550301".into())]);
    assert_eq!(
        list(&app, &stored).await,
        [(0, "+12125550500".into()), (1, "+12125550501".into())]
    );
}

/// Rows with good and bad values, none a duplicate: the batched path writes them all. `prefix`
/// makes their externalIds.
fn rows(prefix: &str) -> String {
    let mut content = String::from("externalId,firstName,number,phoneType\n");
    for (id, first_name, number, phone_type) in [
        ("1", "Ada", "+1 212 555 0101", "work"),
        ("1", "", "+1 212 555 0102", ""),
        ("2", "Bob", "not a number", ""),
        ("2", "Robert", "+1 212 555 0103", "home"),
        ("1", "", "+1 212 555 0104", "pager"),
        ("3", "Cy", "", ""),
        ("1", "", "+1 212 555 0105", "mobile"),
    ] {
        content.push_str(&format!(
            "{prefix}{id},{first_name},{number},{phone_type}\n"
        ));
    }
    content
}

async fn an_import_batch_records_what_its_rows_one_by_one_record(app: TestApp) {
    let (_dir, path) = file(&rows("a-"));
    import(&app, &path);
    let first = rejected(&path);
    assert_eq!(
        first.iter().map(|(line, _)| *line).collect::<Vec<_>>(),
        [4, 6]
    );
    // The row after a rejected one makes the prospect, with its own columns.
    let bob = prospect_id(&app, "a-2").await;
    let shown = app
        .get(&format!("/api/v2/prospects/{bob}"))
        .await
        .expect(200);
    assert_eq!(shown.attr("firstName"), "Robert");
    let ada = prospect_id(&app, "a-1").await;
    let orders: Vec<i64> = list(&app, &ada).await.iter().map(|(o, _)| *o).collect();
    assert_eq!(orders, [0, 1, 2]);
    let middle = feed(&app).await.len();
    // The same rows and one that duplicates a number: that batch is written row by row.
    let (_dir2, path2) = file(&format!("{}b-1,,+1 212 555 0101,\n", rows("b-")));
    import(&app, &path2);
    let second = rejected(&path2);
    assert_eq!(second[..2], first[..]);
    assert_eq!(second.len(), 3);
    let changes = feed(&app).await;
    // Each record's changes, named by externalId (prefix dropped) or by number.
    let mut names = HashMap::new();
    for change in &changes {
        let attributes = &change["attributes"];
        let state = match attributes["after"].is_null() {
            true => &attributes["before"],
            false => &attributes["after"],
        };
        let id = attributes["resourceId"].as_str().unwrap().to_owned();
        let kind = attributes["resourceType"].as_str().unwrap().to_owned();
        let name = match kind.as_str() {
            "prospect" => state["attributes"]["externalId"].as_str().unwrap()[2..].to_owned(),
            _ => state["attributes"]["number"].as_str().unwrap().to_owned(),
        };
        names.insert((kind, id), name);
    }
    let name = |kind: &str, id: &str| names[&(kind.to_owned(), id.to_owned())].clone();
    let histories = |changes: &[Value]| {
        let mut histories: HashMap<String, Vec<Value>> = HashMap::new();
        for change in changes {
            let mut change = comparable(change, &name);
            if let Some(state) = change["after"]["attributes"].as_object_mut() {
                state.remove("externalId");
            }
            if let Some(state) = change["before"]["attributes"].as_object_mut() {
                state.remove("externalId");
            }
            let record = change["record"].as_str().unwrap().to_owned();
            histories.entry(record).or_default().push(change);
        }
        histories
    };
    let batched = histories(&changes[..middle]);
    let one_by_one = histories(&changes[middle..]);
    assert_eq!(batched.len(), 3 + 4, "three prospects, four numbers");
    assert_eq!(batched, one_by_one);
}
