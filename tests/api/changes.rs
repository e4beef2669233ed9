//! The change feed (API.md section 10): what each write records, in which order, for whom, and
//! how a consumer pages through it, also while writers commit concurrently.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use actix_web::http::Method;
use serde_json::{json, Value};

use phonebook::permissions::Role;

use crate::backend_tests;
use crate::helpers::{as_user, TestApp};

backend_tests!(
    a_create_records_its_snapshot,
    number_writes_record_the_number_and_its_prospect,
    order_shifts_moves_and_cascades_record_each_record,
    unchanged_writes_and_rolled_back_writes_record_nothing,
    the_feed_shows_only_readable_types,
    filters_select_changes,
    single_changes_their_actor_and_bad_parameters,
    cursors_resume_whatever_the_filter_and_survive_pruning,
    pruning_keeps_recent_changes_and_those_webhooks_still_owe,
    concurrent_writers_and_a_poller_see_every_change_once,
);

/// Every change after `cursor` (all of them without one), following `links.next`.
pub async fn changes_after(app: &TestApp, cursor: Option<&str>) -> Vec<Value> {
    let mut path = match cursor {
        Some(cursor) => format!("/api/v2/changes?page[size]=100&page[after]={cursor}"),
        None => "/api/v2/changes?page[size]=100".to_owned(),
    };
    let mut changes = Vec::new();
    for _ in 0..1000 {
        let page = app.get(&path).await.expect(200);
        changes.extend(page.body["data"].as_array().unwrap().iter().cloned());
        match page.body["links"]["next"].as_str() {
            Some(next) => path = next[next.find("/api/v2").unwrap()..].to_owned(),
            None => return changes,
        }
    }
    panic!("the feed does not end");
}

/// (action, resourceType, resourceId, changedFields) of each change.
fn summary(changes: &[Value]) -> Vec<(String, String, String, Vec<String>)> {
    changes
        .iter()
        .map(|change| {
            let attributes = &change["attributes"];
            let fields = attributes["changedFields"].as_array().unwrap();
            (
                attributes["action"].as_str().unwrap().to_owned(),
                attributes["resourceType"].as_str().unwrap().to_owned(),
                attributes["resourceId"].as_str().unwrap().to_owned(),
                fields
                    .iter()
                    .map(|f| f.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|name| (*name).to_owned()).collect()
}

fn row(
    action: &str,
    kind: &str,
    id: &str,
    fields: &[&str],
) -> (String, String, String, Vec<String>) {
    (action.into(), kind.into(), id.into(), names(fields))
}

const NUMBER_FIELDS: &[&str] = &[
    "number",
    "rawNumber",
    "countryCode",
    "extension",
    "phoneType",
    "order",
    "status",
    "statusChangedAt",
    "source",
    "formattedNumber",
    "lineType",
    "smsOptOut",
    "smsOptOutChangedAt",
    "notes",
    "createdAt",
    "updatedAt",
    "prospect",
];
const PROSPECT_FIELDS: &[&str] = &[
    "firstName",
    "lastName",
    "title",
    "company",
    "externalId",
    "createdAt",
    "updatedAt",
    "owner",
];

fn last_cursor(changes: &[Value]) -> String {
    changes.last().expect("a change")["meta"]["page"]["cursor"]
        .as_str()
        .expect("meta.page.cursor")
        .to_owned()
}

async fn a_create_records_its_snapshot(app: TestApp) {
    let ada = app.prospect("Ada").await;
    let created = changes_after(&app, None).await;
    assert_eq!(
        summary(&created),
        vec![row("created", "prospect", &ada, PROSPECT_FIELDS)]
    );
    let change = &created[0];
    assert!(change["attributes"]["before"].is_null());
    let after = &change["attributes"]["after"];
    assert_eq!(after["attributes"]["firstName"], "Ada");
    assert!(
        after["attributes"].get("homePhones").is_none(),
        "no *Phones: {after}"
    );
    let prospect = app
        .get(&format!("/api/v2/prospects/{ada}"))
        .await
        .expect(200);
    assert_eq!(
        after["attributes"]["createdAt"],
        prospect.attr("createdAt").clone()
    );
    let admin_id = prospect.body["data"]["relationships"]["owner"]["data"]["id"].clone();
    assert_eq!(after["relationships"], json!({"owner": admin_id}));
    assert_eq!(change["relationships"]["actor"]["data"]["id"], admin_id);
    assert!(change["attributes"]["occurredAt"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
}

async fn number_writes_record_the_number_and_its_prospect(app: TestApp) {
    let ada = app.prospect("Ada").await;
    let cursor = last_cursor(&changes_after(&app, None).await);
    let number = app
        .number(&ada, json!({"number": "+14155550100"}))
        .await
        .expect(201);
    let number_id = number.id();
    let path = format!("/api/v2/phoneNumbers/{number_id}");
    app.patch(&path, json!({"data": {"type": "phoneNumber", "id": number_id, "attributes": {"status": "valid"}}}))
        .await
        .expect(200);
    app.delete(&path).await.expect(204);
    let later = changes_after(&app, Some(&cursor)).await;
    assert_eq!(
        summary(&later),
        vec![
            row("created", "phoneNumber", &number_id, NUMBER_FIELDS),
            row("updated", "prospect", &ada, &["updatedAt"]),
            row(
                "updated",
                "phoneNumber",
                &number_id,
                &["status", "statusChangedAt", "updatedAt"]
            ),
            row("updated", "prospect", &ada, &["updatedAt"]),
            row("deleted", "phoneNumber", &number_id, NUMBER_FIELDS),
            row("updated", "prospect", &ada, &["updatedAt"]),
        ]
    );
    let snapshot = &later[0]["attributes"]["after"];
    for name in ["number", "order", "status", "formattedNumber", "updatedAt"] {
        assert_eq!(
            snapshot["attributes"][name],
            number.attr(name).clone(),
            "{name}"
        );
    }
    assert_eq!(snapshot["relationships"], json!({"prospect": ada}));
    assert_eq!(
        later[2]["attributes"]["before"]["attributes"]["status"],
        "unverified"
    );
    assert_eq!(
        later[2]["attributes"]["after"]["attributes"]["status"],
        "valid"
    );
    assert!(later[4]["attributes"]["after"].is_null());
    assert_eq!(
        later[4]["attributes"]["before"]["attributes"]["status"],
        "valid"
    );
    // The prospect's updatedAt moved with each write of its numbers, as its change says.
    let prospect = app
        .get(&format!("/api/v2/prospects/{ada}"))
        .await
        .expect(200);
    let last = &later[5]["attributes"]["after"]["attributes"]["updatedAt"];
    assert_eq!(prospect.attr("updatedAt"), last);
    // The per-record history, also after the delete.
    let history = app
        .get(&format!(
            "/api/v2/changes?filter[resourceType]=phoneNumber&filter[resourceId]={number_id}"
        ))
        .await
        .expect(200);
    let actions: Vec<&str> = (history.body["data"].as_array().unwrap().iter())
        .map(|change| change["attributes"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["created", "updated", "deleted"]);
}

async fn order_shifts_moves_and_cascades_record_each_record(app: TestApp) {
    let ada = app.prospect("Ada").await;
    let bob = app.prospect("Bob").await;
    let first = app
        .number(&ada, json!({"number": "+14155550100"}))
        .await
        .expect(201)
        .id();
    let second = app
        .number(&ada, json!({"number": "+14155550101"}))
        .await
        .expect(201)
        .id();
    let cursor = last_cursor(&changes_after(&app, None).await);
    // A new primary number shifts both others.
    let third = app
        .number(&ada, json!({"number": "+14155550102", "order": 0}))
        .await
        .expect(201)
        .id();
    let shifted = changes_after(&app, Some(&cursor)).await;
    let mut rows = summary(&shifted);
    rows.sort();
    let mut expected = vec![
        row("created", "phoneNumber", &third, NUMBER_FIELDS),
        row("updated", "phoneNumber", &first, &["order", "updatedAt"]),
        row("updated", "phoneNumber", &second, &["order", "updatedAt"]),
        row("updated", "prospect", &ada, &["updatedAt"]),
    ];
    expected.sort();
    assert_eq!(rows, expected);
    // A move re-packs two lists and touches both prospects.
    let cursor = last_cursor(&shifted);
    let linkage = json!({"data": {"type": "prospect", "id": bob}});
    app.patch(
        &format!("/api/v2/phoneNumbers/{third}/relationships/prospect"),
        linkage,
    )
    .await
    .expect(200);
    let moved = changes_after(&app, Some(&cursor)).await;
    let mut rows = summary(&moved);
    rows.sort();
    let mut expected = vec![
        row("updated", "phoneNumber", &third, &["updatedAt", "prospect"]),
        row("updated", "phoneNumber", &first, &["order", "updatedAt"]),
        row("updated", "phoneNumber", &second, &["order", "updatedAt"]),
        row("updated", "prospect", &ada, &["updatedAt"]),
        row("updated", "prospect", &bob, &["updatedAt"]),
    ];
    expected.sort();
    assert_eq!(rows, expected);
    // Deleting a prospect records each of its numbers' deletes.
    let cursor = last_cursor(&moved);
    app.delete(&format!("/api/v2/prospects/{ada}"))
        .await
        .expect(204);
    let deleted = summary(&changes_after(&app, Some(&cursor)).await);
    assert_eq!(
        deleted,
        vec![
            row("deleted", "phoneNumber", &first, NUMBER_FIELDS),
            row("deleted", "phoneNumber", &second, NUMBER_FIELDS),
            row("deleted", "prospect", &ada, PROSPECT_FIELDS),
        ]
    );
}

async fn unchanged_writes_and_rolled_back_writes_record_nothing(app: TestApp) {
    let ada = app.prospect("Ada").await;
    let number = app
        .number(&ada, json!({"number": "+14155550100"}))
        .await
        .expect(201);
    let id = number.id();
    let before = changes_after(&app, None).await.len();
    let path = format!("/api/v2/phoneNumbers/{id}");
    let same = json!({"data": {"type": "phoneNumber", "id": id,
        "attributes": {"status": "unverified", "phoneType": "other", "order": 0}}});
    let patched = app.patch(&path, same).await.expect(200);
    assert_eq!(patched.header("etag"), number.header("etag"));
    assert_eq!(patched.attr("updatedAt"), number.attr("updatedAt"));
    let prospect_path = format!("/api/v2/prospects/{ada}");
    let prospect = app.get(&prospect_path).await.expect(200);
    let same = json!({"data": {"type": "prospect", "id": ada, "attributes": {"firstName": "Ada"}}});
    let patched = app.patch(&prospect_path, same).await.expect(200);
    assert_eq!(patched.header("etag"), prospect.header("etag"));
    assert_eq!(patched.attr("updatedAt"), prospect.attr("updatedAt"));
    // Moving numbers that are already on the prospect changes nothing either.
    let linkage = json!({"data": [{"type": "phoneNumber", "id": id}]});
    app.post(
        &format!("{prospect_path}/relationships/phoneNumbers"),
        linkage,
    )
    .await
    .expect(204);
    assert_eq!(changes_after(&app, None).await.len(), before);
    // An Atomic Operations request whose last operation fails leaves nothing behind.
    let operations = json!({"atomic:operations": [
        {"op": "add", "data": {"type": "prospect", "lid": "p", "attributes": {"firstName": "Bob"}}},
        {"op": "add", "data": {"type": "phoneNumber", "attributes": {"number": "+14155550199"},
            "relationships": {"prospect": {"data": {"type": "prospect", "lid": "p"}}}}},
        {"op": "remove", "ref": {"type": "phoneNumber", "id": "999999"}}
    ]});
    app.post("/api/v2/operations", operations).await.expect(404);
    // So does a write refused by validation.
    let bad = json!({"data": {"type": "phoneNumber", "id": id, "attributes": {"number": "not a number"}}});
    app.patch(&path, bad).await.expect(422);
    assert_eq!(changes_after(&app, None).await.len(), before);
}

async fn the_feed_shows_only_readable_types(app: TestApp) {
    let ada = app.prospect("Ada").await;
    app.number(&ada, json!({"number": "+14155550100"}))
        .await
        .expect(201);
    let all = changes_after(&app, None).await;
    let prospect_change = all[0]["id"].as_str().unwrap().to_owned();
    let (_, numbers_only) = app.user("n@example.com", Role::Viewer, "phoneNumbers.read");
    let feed = as_user(&app, Method::GET, "/api/v2/changes", &numbers_only, None)
        .await
        .expect(200);
    let types: BTreeSet<&str> = (feed.body["data"].as_array().unwrap().iter())
        .map(|change| change["attributes"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(types, BTreeSet::from(["phoneNumber"]));
    for path in [
        "/api/v2/changes?filter[resourceType]=prospect".to_owned(),
        "/api/v2/changes?filter[resourceType]=phoneNumber,prospect".to_owned(),
        format!("/api/v2/changes/{prospect_change}"),
        format!("/api/v2/changes/{prospect_change}/relationships/actor"),
    ] {
        let denied = as_user(&app, Method::GET, &path, &numbers_only, None)
            .await
            .expect(403);
        assert_eq!(denied.error_code(), "unauthorizedOauthScope", "{path}");
    }
    let (_, users_only) = app.user("u@example.com", Role::Viewer, "users.read");
    let denied = as_user(&app, Method::GET, "/api/v2/changes", &users_only, None)
        .await
        .expect(403);
    assert_eq!(denied.error_code(), "unauthorizedOauthScope");
    // Changes are read-only.
    let refused = app
        .post("/api/v2/changes", json!({"data": {"type": "change"}}))
        .await;
    assert_eq!(refused.status, 405);
}

async fn filters_select_changes(app: TestApp) {
    let ada = app.prospect("Ada").await;
    let number = app
        .number(&ada, json!({"number": "+14155550100"}))
        .await
        .expect(201)
        .id();
    app.delete(&format!("/api/v2/phoneNumbers/{number}"))
        .await
        .expect(204);
    let all = changes_after(&app, None).await;
    let count = |path: String| {
        let app = &app;
        async move {
            let page = app.get(&path).await.expect(200);
            page.body["data"].as_array().unwrap().len()
        }
    };
    assert_eq!(
        count("/api/v2/changes?filter[action]=deleted".into()).await,
        1
    );
    assert_eq!(
        count("/api/v2/changes?filter[action]=created,deleted".into()).await,
        3
    );
    assert_eq!(
        count("/api/v2/changes?filter[resourceType]=prospect".into()).await,
        3
    );
    let history =
        format!("/api/v2/changes?filter[resourceType]=phoneNumber&filter[resourceId]={number}");
    assert_eq!(count(history).await, 2);
    let admin = all[0]["relationships"]["actor"]["data"]["id"]
        .as_str()
        .unwrap();
    assert_eq!(
        count(format!("/api/v2/changes?filter[actor][id]={admin}")).await,
        all.len()
    );
    let second = all[1]["id"].as_str().unwrap();
    assert_eq!(
        count(format!("/api/v2/changes?filter[id]={second}")).await,
        1
    );
    let at = all[0]["attributes"]["occurredAt"].as_str().unwrap();
    assert_eq!(
        count(format!("/api/v2/changes?filter[occurredAt]={at}..inf")).await,
        all.len()
    );
    assert_eq!(
        count("/api/v2/changes?filter[occurredAt]=neginf..2000-01-01T00:00:00Z".into()).await,
        0
    );
}

async fn single_changes_their_actor_and_bad_parameters(app: TestApp) {
    app.prospect("Ada").await;
    let all = changes_after(&app, None).await;
    let admin = all[0]["relationships"]["actor"]["data"]["id"]
        .as_str()
        .unwrap();
    let second = all[0]["id"].as_str().unwrap();
    for bad in [
        "filter[action]=moved",
        "filter[resourceType]=user",
        "filter[before]=x",
        "sort=occurredAt",
        "sort=-id",
        "include=actor",
        "page[after]=tampered",
    ] {
        let refused = app.get(&format!("/api/v2/changes?{bad}")).await.expect(400);
        assert!(
            refused.body["errors"][0]["source"]["parameter"].is_string(),
            "{bad}"
        );
    }
    let one = app
        .get(&format!("/api/v2/changes/{second}"))
        .await
        .expect(200);
    assert_eq!(one.body["data"], all[0]);
    assert!(one.header("etag").is_none());
    app.get("/api/v2/changes/999999").await.expect(404);
    app.get("/api/v2/changes/abc").await.expect(404);
    let actor = app
        .get(&format!("/api/v2/changes/{second}/actor"))
        .await
        .expect(200);
    assert_eq!(actor.body["data"]["type"], "user");
    let linkage = app
        .get(&format!("/api/v2/changes/{second}/relationships/actor"))
        .await
        .expect(200);
    assert_eq!(linkage.body["data"]["id"], admin);
    // The entry point lists the feed.
    let entry = app.get("/api/v2").await.expect(200);
    assert!(entry.body["meta"]["collections"]["changes"]
        .as_str()
        .unwrap()
        .ends_with("/changes"));
}

async fn cursors_resume_whatever_the_filter_and_survive_pruning(app: TestApp) {
    let ada = app.prospect("Ada").await;
    for n in 0..3 {
        app.number(&ada, json!({"number": format!("+1415555010{n}")}))
            .await
            .expect(201);
    }
    let all = changes_after(&app, None).await;
    assert_eq!(all.len(), 7);
    let cursor = all[2]["meta"]["page"]["cursor"].as_str().unwrap();
    let rest = changes_after(&app, Some(cursor)).await;
    assert_eq!(rest, all[3..].to_vec());
    // The same cursor works with a filter (change cursors are bound to the feed alone).
    let numbers = app
        .get(&format!(
            "/api/v2/changes?filter[resourceType]=phoneNumber&page[after]={cursor}"
        ))
        .await
        .expect(200);
    assert_eq!(numbers.body["data"].as_array().unwrap().len(), 2);
    // The cursor of the last change reaches the end, and resumes there once more arrive.
    let end = last_cursor(&all);
    assert!(changes_after(&app, Some(&end)).await.is_empty());
    app.number(&ada, json!({"number": "+14155550109"}))
        .await
        .expect(201);
    assert_eq!(changes_after(&app, Some(&end)).await.len(), 2);
    // Pruning the oldest changes: a cursor from before them continues with the oldest kept one.
    let keep_from: i64 = all[4]["id"].as_str().unwrap().parse().unwrap();
    app.execute(&format!(
        "UPDATE changes SET occurred_at = '2000-01-01 00:00:00' WHERE id < {keep_from}"
    ));
    assert_eq!(pruned(&app, "30d"), 4);
    let first = all[0]["meta"]["page"]["cursor"].as_str().unwrap();
    let kept = changes_after(&app, Some(first)).await;
    assert_eq!(kept[0]["id"], all[4]["id"]);
    assert_eq!(kept.len(), 5);
}

/// `phonebook changes prune` with `args` on the app's database.
fn prune(app: &TestApp, args: &[&str]) -> std::process::Output {
    let args: Vec<&str> = ["changes", "prune"].iter().chain(args).copied().collect();
    crate::helpers::phonebook(&app.database_url, &args)
}

/// How many changes `changes prune --older-than AGE` removed, as it prints.
fn pruned(app: &TestApp, age: &str) -> usize {
    let output = prune(app, &["--older-than", age]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8(output.stdout).expect("UTF-8");
    printed.trim().parse().expect("the count alone")
}

fn feed_ids(changes: &[Value]) -> Vec<&str> {
    changes.iter().map(|c| c["id"].as_str().unwrap()).collect()
}

async fn pruning_keeps_recent_changes_and_those_webhooks_still_owe(app: TestApp) {
    // A webhook of numbers only, which nothing delivers here: the number's change stays queued.
    let hook = json!({"data": {"type": "webhook",
        "attributes": {"url": "http://127.0.0.1:9/n", "resourceTypes": ["phoneNumber"]}}});
    let webhook = app.post("/api/v2/webhooks", hook).await.expect(201).id();
    let ada = app.prospect("Ada").await;
    app.number(&ada, json!({"number": "+14155550100"}))
        .await
        .expect(201);
    let old = changes_after(&app, None).await;
    assert_eq!(old.len(), 3);
    app.execute("UPDATE changes SET occurred_at = '2000-01-01 00:00:00'");
    app.prospect("Grace").await;
    let everything = changes_after(&app, None).await;
    // An age that is not one is refused, and removes nothing.
    for bad in [
        &["--older-than", "0s"][..],
        &["--older-than", "soon"],
        &["--older-than", "-1d"],
        &[],
    ] {
        let output = prune(&app, bad);
        assert!(!output.status.success(), "{bad:?}");
        assert!(output.stdout.is_empty(), "{bad:?}");
        assert!(!output.stderr.is_empty(), "{bad:?}");
    }
    assert_eq!(changes_after(&app, None).await, everything);
    // The old prospect changes go; the queued number change and Grace's recent one stay.
    assert_eq!(pruned(&app, "30d"), 2);
    let kept = changes_after(&app, None).await;
    assert_eq!(
        feed_ids(&kept),
        vec![feed_ids(&old)[1], feed_ids(&everything)[3]]
    );
    assert_eq!(kept[0]["attributes"]["resourceType"], "phoneNumber");
    assert_eq!(pruned(&app, "30d"), 0);
    // Once nothing is owed (the webhook and its queue are gone), the number's change goes too.
    app.delete(&format!("/api/v2/webhooks/{webhook}"))
        .await
        .expect(204);
    assert_eq!(pruned(&app, "1h 30m"), 1);
    assert_eq!(
        feed_ids(&changes_after(&app, None).await),
        vec![feed_ids(&everything)[3]]
    );
}

/// One HTTP/1.1 request to the server on `port`; the status and the body.
fn http(port: u16, method: &str, path: &str, token: &str, body: Option<&Value>) -> (u16, Value) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/vnd.api+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response[9..12].parse().expect("status");
    let (_, body) = response.split_once("\r\n\r\n").expect("a body");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

async fn concurrent_writers_and_a_poller_see_every_change_once(app: TestApp) {
    let server = crate::helpers::serve_on_loopback(&app);
    let port = server.port;
    let token = app.admin_token.clone();
    const WRITERS: usize = 8;
    const WRITES: usize = 6;
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let token = token.clone();
            std::thread::spawn(move || {
                for write in 0..WRITES {
                    let prospect = json!({"data": {"type": "prospect",
                        "attributes": {"firstName": format!("W{writer}-{write}")}}});
                    let (status, created) =
                        http(port, "POST", "/api/v2/prospects", &token, Some(&prospect));
                    assert_eq!(status, 201, "{created}");
                    let id = created["data"]["id"].as_str().unwrap().to_owned();
                    let number = json!({"data": {"type": "phoneNumber",
                        "attributes": {"number": format!("+1415555{writer}{write:03}")},
                        "relationships": {"prospect": {"data": {"type": "prospect", "id": id}}}}});
                    let (status, body) =
                        http(port, "POST", "/api/v2/phoneNumbers", &token, Some(&number));
                    assert_eq!(status, 201, "{body}");
                }
            })
        })
        .collect();
    // The poller pages with the cursor of the last change it saw while the writers commit.
    let poller = std::thread::spawn(move || {
        let (mut seen, mut cursor): (Vec<i64>, Option<String>) = (Vec::new(), None);
        let expected = WRITERS * WRITES * 3;
        let deadline = Instant::now() + Duration::from_secs(120);
        while seen.len() < expected && Instant::now() < deadline {
            let path = match &cursor {
                Some(cursor) => format!("/api/v2/changes?page[size]=7&page[after]={cursor}"),
                None => "/api/v2/changes?page[size]=7".to_owned(),
            };
            let (status, page) = http(port, "GET", &path, &token, None);
            assert_eq!(status, 200, "{page}");
            for change in page["data"].as_array().unwrap() {
                seen.push(change["id"].as_str().unwrap().parse().unwrap());
                cursor = Some(
                    change["meta"]["page"]["cursor"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                );
            }
        }
        seen
    });
    for writer in writers {
        writer.join().expect("writer");
    }
    let seen = poller.join().expect("poller");
    let all: Vec<i64> = (changes_after(&app, None).await.iter())
        .map(|change| change["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(all.len(), WRITERS * WRITES * 3);
    assert_eq!(seen, all, "the poller saw every change once, in order");
}

/// On PostgreSQL a transaction may draw a change id and commit after a later writer has. A read of
/// the feed in between waits for it: it never shows the later change without the earlier one.
/// PostgreSQL only: SQLite writers commit one at a time, in id order.
#[actix_web::test]
async fn a_change_id_drawn_but_not_committed_holds_the_feed_back() {
    use diesel::connection::SimpleConnection;
    let Some(app) = TestApp::postgres().await else {
        return;
    };
    let mut held = app.conn();
    let phonebook::db::DbConnection::Pg(slow) = &mut *held else {
        panic!("a PostgreSQL app's connection");
    };
    // A writer at its last statement: the feed lock in shared mode, a change id drawn.
    slow.batch_execute(&format!(
        "BEGIN; SELECT pg_advisory_xact_lock_shared({}); \
         INSERT INTO changes (action, resource_type, resource_id, changed_fields, after_state, \
         occurred_at) VALUES ('created', 'prospect', 0, '[]', '{{}}', '2026-01-01 00:00:00')",
        phonebook::models::change::FEED_LOCK
    ))
    .expect("the slow writer draws its id");
    // A later writer commits first; its change id is the higher.
    let later = app.prospect("Later").await;
    let server = crate::helpers::serve_on_loopback(&app);
    let (port, token) = (server.port, app.admin_token.clone());
    let reader = std::thread::spawn(move || {
        http(port, "GET", "/api/v2/changes?page[size]=100", &token, None)
    });
    std::thread::sleep(Duration::from_millis(300));
    slow.batch_execute("COMMIT")
        .expect("the slow writer commits");
    let (status, page) = reader.join().expect("reader");
    assert_eq!(status, 200, "{page}");
    let shown: Vec<(String, String)> = (page["data"].as_array().unwrap().iter())
        .map(|change| {
            let attributes = &change["attributes"];
            let id = attributes["resourceId"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            (attributes["resourceType"].as_str().unwrap().to_owned(), id)
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("prospect".to_owned(), "0".to_owned()),
            ("prospect".to_owned(), later)
        ],
        "the read waited for the change drawn first, and shows both in id order"
    );
}
