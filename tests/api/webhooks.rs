//! Webhooks (API.md section 10): the admin-only resource, and deliveries to real HTTP receivers on
//! loopback, whose signatures the tests check with their own Standard Webhooks verification.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::Method;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use phonebook::config::Config;
use phonebook::delivery::Worker;
use phonebook::permissions::Role;

use crate::backend_tests;
use crate::helpers::{as_user, pointers, TestApp};

backend_tests!(
    admins_manage_webhooks_and_see_the_secret_once,
    bad_webhook_writes_are_422_and_write_nothing,
    others_may_not_touch_webhooks,
    odd_webhook_requests_are_4xx,
    claiming_due_deliveries_reads_the_queue_in_order_without_sorting_it,
);
backend_tests!(with quick_retries;
    changes_are_delivered_signed_and_retried,
    a_receiver_that_never_succeeds_ends_failed,
    a_slow_receiver_delays_no_other_webhook,
    inactive_and_other_type_webhooks_queue_nothing,
    two_workers_on_one_database_deliver_each_change_once,
);

fn quick_retries(config: &mut Config) {
    config.webhook_retry_schedule = vec![Duration::from_millis(300); 2];
}

/// One request a receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    /// Which request this was, counted from 0 in the order they arrived.
    pub index: usize,
    pub headers: HashMap<String, String>,
    pub body: String,
    /// The status the receiver answered (or tried to: the sender may have gone meanwhile).
    pub status: u16,
}

impl Received {
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn webhook_id(&self) -> &str {
        &self.headers["webhook-id"]
    }
}

/// An HTTP receiver on a loopback port: `answer(n)` gives the status of the n-th request (from 0)
/// and how long to wait before answering.
pub struct Receiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    /// Requests read so far, answered or not.
    arrived: Arc<AtomicUsize>,
}

impl Receiver {
    pub fn start(answer: impl Fn(usize) -> (u16, Duration) + Send + Sync + 'static) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(AtomicUsize::new(0));
        let (log, count) = (received.clone(), arrived.clone());
        let answer = Arc::new(answer);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (log, count, answer) = (log.clone(), count.clone(), answer.clone());
                std::thread::spawn(move || serve_one(stream, &count, &log, &*answer));
            }
        });
        Receiver {
            url,
            received,
            arrived,
        }
    }

    /// The requests answered so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// How many requests it has read, including those it is still holding.
    pub fn arrived(&self) -> usize {
        self.arrived.load(Ordering::SeqCst)
    }
}

fn serve_one(
    mut stream: std::net::TcpStream,
    arrived: &AtomicUsize,
    log: &Mutex<Vec<Received>>,
    answer: &dyn Fn(usize) -> (u16, Duration),
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut headers = HashMap::new();
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        // A connection closed before it carried a request (its sender died): nothing was sent.
        return;
    }
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.trim_end().split_once(':') {
            headers.insert(name.to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap_or_default();
    let index = arrived.fetch_add(1, Ordering::SeqCst);
    let (status, delay) = answer(index);
    std::thread::sleep(delay);
    log.lock().unwrap().push(Received {
        index,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        status,
    });
    let response = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = stream.write_all(response.as_bytes());
}

/// The Standard Webhooks verification, written here from the specification.
pub fn verify(secret: &str, request: &Received) -> bool {
    let key = BASE64
        .decode(secret.trim_start_matches("whsec_"))
        .expect("base64 key");
    let (id, timestamp) = (
        &request.headers["webhook-id"],
        &request.headers["webhook-timestamp"],
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.{}", request.body).as_bytes());
    let expected = format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()));
    request.headers["webhook-signature"]
        .split(' ')
        .any(|signature| signature == expected)
}

async fn create_webhook(app: &TestApp, attributes: Value) -> Value {
    let created = app
        .post(
            "/api/v2/webhooks",
            json!({"data": {"type": "webhook", "attributes": attributes}}),
        )
        .await
        .expect(201);
    created.body["data"].clone()
}

/// Waits (at most `seconds`) until `done` holds.
async fn eventually(seconds: u64, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    done()
}

/// The webhook's attributes once `done` holds of them (at most 10 s).
async fn settled(app: &TestApp, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        let state = webhook(app, id).await;
        if done(&state) {
            return state;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    webhook(app, id).await
}

async fn webhook(app: &TestApp, id: &str) -> Value {
    let path = format!("/api/v2/webhooks/{id}");
    app.get(&path).await.expect(200).body["data"]["attributes"].clone()
}

async fn admins_manage_webhooks_and_see_the_secret_once(app: TestApp) {
    let created = create_webhook(&app, json!({"url": "https://example.com/hooks"})).await;
    let attributes = &created["attributes"];
    let secret = attributes["secret"].as_str().unwrap();
    let key = BASE64
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .unwrap();
    assert_eq!(key.len(), 32);
    assert_eq!(
        attributes["resourceTypes"],
        json!(["phoneNumber", "prospect"])
    );
    assert_eq!(attributes["active"], true);
    assert_eq!(attributes["pendingDeliveries"], 0);
    assert_eq!(attributes["failedDeliveries"], 0);
    assert!(attributes["lastDeliveryAt"].is_null() && attributes["lastDeliveryStatus"].is_null());
    let id = created["id"].as_str().unwrap();
    let shown = webhook(&app, id).await;
    assert!(
        shown.get("secret").is_none(),
        "the secret is shown once: {shown}"
    );
    let list = app.get("/api/v2/webhooks").await.expect(200);
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
    assert!(list.body["data"][0]["attributes"].get("secret").is_none());
    let path = format!("/api/v2/webhooks/{id}");
    let patch = json!({"data": {"type": "webhook", "id": id,
        "attributes": {"active": false, "resourceTypes": ["prospect"], "secret": "ignored"}}});
    let patched = app.patch(&path, patch).await.expect(200);
    assert_eq!(patched.attr("active"), false);
    assert_eq!(patched.attr("resourceTypes"), &json!(["prospect"]));
    assert!(patched.body["data"]["attributes"].get("secret").is_none());
    app.delete(&path).await.expect(204);
    app.get(&path).await.expect(404);
    app.delete(&path).await.expect(404);
    let entry = app.get("/api/v2").await.expect(200);
    assert!(entry.body["meta"]["collections"]["webhooks"].is_string());
}

async fn bad_webhook_writes_are_422_and_write_nothing(app: TestApp) {
    let long = format!("https://example.com/{}", "a".repeat(2048));
    for (attributes, pointer) in [
        (json!({}), "/data/attributes/url"),
        (
            json!({"url": "ftp://example.com/x"}),
            "/data/attributes/url",
        ),
        (json!({"url": "/relative/path"}), "/data/attributes/url"),
        (json!({"url": "example.com"}), "/data/attributes/url"),
        // Taken by lenient URL parsers, but no URI or read otherwise by one of them.
        (json!({"url": "HTTP://example.com"}), "/data/attributes/url"),
        (json!({"url": "http:example.com"}), "/data/attributes/url"),
        (json!({"url": "http://a.1/"}), "/data/attributes/url"),
        (
            json!({"url": "http://user@example.com/"}),
            "/data/attributes/url",
        ),
        (
            json!({"url": "https://example.com/#top"}),
            "/data/attributes/url",
        ),
        (
            json!({"url": "https://example.com/caf\u{e9}"}),
            "/data/attributes/url",
        ),
        (
            json!({"url": "https://example.com/a b"}),
            "/data/attributes/url",
        ),
        (
            json!({"url": "https://example.com:65536/"}),
            "/data/attributes/url",
        ),
        (json!({"url": long}), "/data/attributes/url"),
        (json!({"url": 7}), "/data/attributes/url"),
        (
            json!({"url": "https://example.com", "resourceTypes": []}),
            "/data/attributes/resourceTypes",
        ),
        (
            json!({"url": "https://example.com", "resourceTypes": ["user"]}),
            "/data/attributes/resourceTypes",
        ),
        (
            json!({"url": "https://example.com", "resourceTypes": "prospect"}),
            "/data/attributes/resourceTypes",
        ),
        (
            json!({"url": "https://example.com", "active": "yes"}),
            "/data/attributes/active",
        ),
        (
            json!({"url": "https://example.com", "colour": "red"}),
            "/data/attributes/colour",
        ),
    ] {
        let document = json!({"data": {"type": "webhook", "attributes": attributes}});
        let refused = app.post("/api/v2/webhooks", document).await.expect(422);
        assert_eq!(pointers(&refused), vec![pointer.to_owned()], "{attributes}");
    }
    let created = create_webhook(&app, json!({"url": "http://127.0.0.1:9/x"})).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/api/v2/webhooks/{id}");
    let bad = json!({"data": {"type": "webhook", "id": id, "attributes": {"url": "mailto:a@b.c"}}});
    app.patch(&path, bad).await.expect(422);
    assert_eq!(webhook(&app, id).await["url"], "http://127.0.0.1:9/x");
    let list = app.get("/api/v2/webhooks").await.expect(200);
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
}

async fn others_may_not_touch_webhooks(app: TestApp) {
    let id = create_webhook(&app, json!({"url": "https://example.com/a"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, member) = app.user("m@example.com", Role::Member, "webhooks.all prospects.all");
    let (_, default_admin) = app.user(
        "a@example.com",
        Role::Admin,
        "prospects.all phoneNumbers.all users.read",
    );
    let document =
        json!({"data": {"type": "webhook", "attributes": {"url": "https://example.com/b"}}});
    let path = format!("/api/v2/webhooks/{id}");
    for (token, code) in [
        (&member, "unauthorizedRequest"),
        (&default_admin, "unauthorizedOauthScope"),
    ] {
        let attempts = [
            as_user(&app, Method::GET, "/api/v2/webhooks", token, None).await,
            as_user(&app, Method::GET, &path, token, None).await,
            as_user(
                &app,
                Method::POST,
                "/api/v2/webhooks",
                token,
                Some(&document),
            )
            .await,
            as_user(&app, Method::DELETE, &path, token, None).await,
        ];
        for refused in attempts {
            assert_eq!(
                (refused.status, refused.error_code()),
                (403, code),
                "{}",
                refused.text
            );
        }
    }
    let list = app.get("/api/v2/webhooks").await.expect(200);
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
}

async fn changes_are_delivered_signed_and_retried(app: TestApp) {
    // The first two attempts fail (500), the third succeeds.
    let receiver = Receiver::start(|n| (if n < 2 { 500 } else { 204 }, Duration::ZERO));
    let created = create_webhook(
        &app,
        json!({"url": receiver.url, "resourceTypes": ["prospect"]}),
    )
    .await;
    let (id, secret) = (
        created["id"].as_str().unwrap(),
        created["attributes"]["secret"].as_str().unwrap(),
    );
    let worker = Worker::start(app.state.clone()).expect("worker");
    let prospect = app.prospect("Ada").await;
    assert!(
        eventually(20, || receiver.received().len() >= 3).await,
        "{:?}",
        receiver.received()
    );
    let state = settled(&app, id, |state| state["pendingDeliveries"] == 0).await;
    worker.stop().await;
    let received = receiver.received();
    let change = app.get("/api/v2/changes").await.expect(200).body["data"][0].clone();
    for request in &received {
        assert!(verify(secret, request), "signature of {request:?}");
        assert_eq!(request.headers["content-type"], "application/vnd.api+json");
        assert_eq!(
            request.headers["webhook-id"],
            change["id"].as_str().unwrap()
        );
        let body: Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(body["jsonapi"], json!({"version": "1.1"}));
        crate::helpers::assert_valid_document(&body);
        let data = &body["data"];
        assert_eq!(
            (&data["type"], &data["id"]),
            (&change["type"], &change["id"])
        );
        assert_eq!(data["attributes"], change["attributes"]);
        assert_eq!(data["meta"], change["meta"]);
        assert_eq!(data["attributes"]["resourceId"], prospect.as_str());
    }
    let timestamp: i64 = received[0].headers["webhook-timestamp"].parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
    assert_eq!(state["lastDeliveryStatus"], 204);
    assert_eq!(state["pendingDeliveries"], 0);
    assert_eq!(state["failedDeliveries"], 0);
    assert!(state["lastDeliveryAt"].is_string());
}

async fn a_receiver_that_never_succeeds_ends_failed(app: TestApp) {
    let receiver = Receiver::start(|_| (503, Duration::ZERO));
    let created = create_webhook(&app, json!({"url": receiver.url})).await;
    let id = created["id"].as_str().unwrap().to_owned();
    app.prospect("Ada").await;
    let queued = webhook(&app, &id).await;
    assert_eq!(queued["pendingDeliveries"], 1, "queued with the change");
    let worker = Worker::start(app.state.clone()).expect("worker");
    assert!(eventually(20, || receiver.received().len() >= 3).await);
    let state = settled(&app, &id, |state| state["failedDeliveries"] == 1).await;
    // One attempt and the two retries of the schedule, then no more.
    actix_web::rt::time::sleep(Duration::from_millis(800)).await;
    worker.stop().await;
    assert_eq!(receiver.received().len(), 3);
    assert_eq!(state["failedDeliveries"], 1);
    assert_eq!(state["pendingDeliveries"], 0);
    assert_eq!(state["lastDeliveryStatus"], 503);
}

async fn a_slow_receiver_delays_no_other_webhook(app: TestApp) {
    let slow = Receiver::start(|_| (200, Duration::from_secs(4)));
    let fast = Receiver::start(|_| (200, Duration::ZERO));
    create_webhook(&app, json!({"url": slow.url})).await;
    create_webhook(&app, json!({"url": fast.url})).await;
    let worker = Worker::start(app.state.clone()).expect("worker");
    let ada = app.prospect("Ada").await;
    app.number(&ada, json!({"number": "+14155550100"}))
        .await
        .expect(201);
    // Three changes (prospect created, number created, prospect updated) reach the fast receiver
    // while the slow one still holds its first.
    let started = Instant::now();
    assert!(eventually(10, || fast.received().len() >= 3).await);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(slow.received().is_empty());
    assert!(eventually(20, || slow.received().len() >= 3).await);
    worker.stop().await;
}

async fn inactive_and_other_type_webhooks_queue_nothing(app: TestApp) {
    let off = create_webhook(
        &app,
        json!({"url": "http://127.0.0.1:9/off", "active": false}),
    )
    .await;
    let numbers = create_webhook(
        &app,
        json!({"url": "http://127.0.0.1:9/n", "resourceTypes": ["phoneNumber"]}),
    )
    .await;
    app.prospect("Ada").await;
    for created in [off, numbers] {
        let state = webhook(&app, created["id"].as_str().unwrap()).await;
        assert_eq!(state["pendingDeliveries"], 0, "{state}");
    }
    // What a webhook queued waits while it is inactive.
    let paused = create_webhook(&app, json!({"url": "http://127.0.0.1:9/paused"})).await;
    let paused_id = paused["id"].as_str().unwrap().to_owned();
    app.prospect("Cy").await;
    let off =
        json!({"data": {"type": "webhook", "id": paused_id, "attributes": {"active": false}}});
    app.patch(&format!("/api/v2/webhooks/{paused_id}"), off)
        .await
        .expect(200);
    let worker = Worker::start(app.state.clone()).expect("worker");
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    worker.stop().await;
    let state = webhook(&app, &paused_id).await;
    assert_eq!(
        (&state["pendingDeliveries"], &state["lastDeliveryAt"]),
        (&json!(1), &Value::Null)
    );
    app.delete(&format!("/api/v2/webhooks/{paused_id}"))
        .await
        .expect(204);
    // Deleting a webhook drops what it had queued.
    let all = create_webhook(&app, json!({"url": "http://127.0.0.1:9/all"})).await;
    let id = all["id"].as_str().unwrap();
    app.prospect("Bob").await;
    assert_eq!(webhook(&app, id).await["pendingDeliveries"], 1);
    app.delete(&format!("/api/v2/webhooks/{id}"))
        .await
        .expect(204);
    let mut conn = app.conn();
    use diesel::prelude::*;
    let left: i64 = phonebook::db::schema::webhook_deliveries::table
        .count()
        .get_result(&mut *conn)
        .unwrap();
    assert_eq!(left, 0);
}

async fn two_workers_on_one_database_deliver_each_change_once(app: TestApp) {
    let receiver = Receiver::start(|_| (200, Duration::from_millis(20)));
    let created = create_webhook(&app, json!({"url": receiver.url})).await;
    let id = created["id"].as_str().unwrap().to_owned();
    // Queued before any worker runs: what a restarted instance finds.
    for n in 0..10 {
        app.prospect(&format!("P{n}")).await;
    }
    let (first, second) = (
        Worker::start(app.state.clone()),
        Worker::start(app.state.clone()),
    );
    let (first, second) = (first.expect("worker"), second.expect("worker"));
    assert!(eventually(20, || receiver.received().len() >= 10).await);
    settled(&app, &id, |state| state["pendingDeliveries"] == 0).await;
    first.stop().await;
    second.stop().await;
    let mut ids: Vec<String> = (receiver.received().iter())
        .map(|request| request.headers["webhook-id"].clone())
        .collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!((before, ids.len()), (10, 10), "each change once: {ids:?}");
}

async fn odd_webhook_requests_are_4xx(app: TestApp) {
    let id = create_webhook(&app, json!({"url": "https://example.com/a"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v2/webhooks/{id}");
    for query in [
        "sort=url",
        "filter[url]=x",
        "include=deliveries",
        "page[size]=0",
        "fields[webhook]=colour",
    ] {
        app.get(&format!("/api/v2/webhooks?{query}"))
            .await
            .expect(400);
    }
    let with_id = json!({"data": {"type": "webhook", "id": "9", "attributes": {"url": "https://example.com/b"}}});
    app.post("/api/v2/webhooks", with_id).await.expect(403);
    let wrong_type =
        json!({"data": {"type": "prospect", "attributes": {"url": "https://example.com/b"}}});
    app.post("/api/v2/webhooks", wrong_type).await.expect(409);
    let other_id =
        json!({"data": {"type": "webhook", "id": "999", "attributes": {"active": false}}});
    app.patch(&path, other_id).await.expect(409);
    app.patch(
        "/api/v2/webhooks/999",
        json!({"data": {"type": "webhook", "id": "999", "attributes": {}}}),
    )
    .await
    .expect(404);
    app.get("/api/v2/webhooks/abc").await.expect(404);
    let response = app
        .send(
            Method::PUT,
            &path,
            Some(&app.admin_token.clone()),
            None,
            &[],
        )
        .await;
    assert_eq!(response.status, 405);
    // An unchanged PATCH keeps updatedAt.
    let before = webhook(&app, &id).await;
    let same = json!({"data": {"type": "webhook", "id": id, "attributes": {"active": true}}});
    let after = app.patch(&path, same).await.expect(200);
    assert_eq!(after.attr("updatedAt"), &before["updatedAt"]);
    // The feed's odd queries too.
    for query in [
        "filter[resourceId]=abc",
        "filter[actor][id]=x",
        "filter[changedFields]=a",
        "fields[change]=colour",
    ] {
        app.get(&format!("/api/v2/changes?{query}"))
            .await
            .expect(400);
    }
    app.get("/api/v2/changes?filter[actor][id]=__null__")
        .await
        .expect(200);
}

/// The delivery worker's claim reads the queue from `webhook_deliveries_due` and stops at its
/// limit: a queue of a million deliveries costs a claim what a queue of ten does.
async fn claiming_due_deliveries_reads_the_queue_in_order_without_sorting_it(app: TestApp) {
    use phonebook::db::Backend;
    use phonebook::models::webhook::Attempt;

    let backend = if app.database_url.starts_with("sqlite") {
        Backend::Sqlite
    } else {
        Backend::Postgres
    };
    let (lease_end, now) = ("'2026-01-01 00:01:00'", "'2026-01-01 00:00:00'");
    let sql = Attempt::claim_statement(backend, [lease_end, now, now, "100"]);
    let plan = app.plan(
        &sql,
        &["enable_sort", "enable_seqscan", "enable_bitmapscan"],
    );
    assert!(
        !plan.contains("TEMP B-TREE") && !plan.contains("Sort"),
        "{sql}\nsorts:\n{plan}"
    );
    assert!(
        plan.split_whitespace()
            .any(|word| word == "webhook_deliveries_due"),
        "{sql}\nshould read webhook_deliveries_due:\n{plan}"
    );
}
