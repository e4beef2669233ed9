//! Webhook deliveries across crashes, shutdowns and instances (API.md section 10: "at least once,
//! never lost"; section 12): real `phonebook serve` processes, killed, stopped and restarted on
//! the same database, and real HTTP receivers on loopback that count what they were sent.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use serde_json::{json, Value};

use phonebook::db::schema::{webhook_deliveries, webhooks};

use crate::helpers::{assert_valid_document, EmptyPostgres, ProcessDatabase, JSONAPI};
use crate::process_tests;
use crate::servers::Server;
use crate::webhooks::{verify, Receiver};

process_tests!(
    a_killed_server_loses_no_delivery_and_repeats_none,
    sigterm_finishes_or_hands_back_the_attempts_in_flight,
);

const TOKEN: &str = "bootstrap-token-for-the-delivery-tests-0123456789";

/// `phonebook serve` on `database`, healthy, retrying failed deliveries after `schedule`.
fn serve(database: &str, schedule: &str) -> Server {
    let mut server = Server::spawn(&[
        ("DATABASE_URL", database),
        ("PHONEBOOK_BOOTSTRAP_TOKEN", TOKEN),
        ("PHONEBOOK_RATE_LIMIT", "0"),
        ("PHONEBOOK_WEBHOOK_RETRY_SCHEDULE", schedule),
    ]);
    server.wait_healthy();
    server
}

/// One request as the admin; the status, and the body (checked to be a JSON:API document).
fn call(server: &Server, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let text = body.map(|body| body.to_string());
    let response = server
        .request(
            method,
            path,
            Some(TOKEN),
            &[("Content-Type", JSONAPI), ("Accept", JSONAPI)],
            text.as_deref(),
        )
        .expect("request");
    if !response.text.is_empty() {
        assert_valid_document(&response.body);
    }
    (response.status, response.body)
}

/// Creates a webhook to `url`; its id and secret.
fn webhook_to(server: &Server, url: &str, types: &[&str]) -> (String, String) {
    let document =
        json!({"data": {"type": "webhook", "attributes": {"url": url, "resourceTypes": types}}});
    let (status, created) = call(server, "POST", "/api/v2/webhooks", Some(document));
    assert_eq!(status, 201, "{created}");
    let data = &created["data"];
    (
        data["id"].as_str().unwrap().to_owned(),
        data["attributes"]["secret"].as_str().unwrap().to_owned(),
    )
}

fn webhook_state(server: &Server, id: &str) -> Value {
    let (status, shown) = call(server, "GET", &format!("/api/v2/webhooks/{id}"), None);
    assert_eq!(status, 200, "{shown}");
    shown["data"]["attributes"].clone()
}

/// A prospect with one number: three changes (prospect created, number created, prospect
/// updated).
fn prospect_with_number(server: &Server, name: &str, number: &str) {
    let prospect = json!({"data": {"type": "prospect", "attributes": {"firstName": name}}});
    let (status, created) = call(server, "POST", "/api/v2/prospects", Some(prospect));
    assert_eq!(status, 201, "{created}");
    let id = created["data"]["id"].clone();
    let number = json!({"data": {"type": "phoneNumber", "attributes": {"number": number},
        "relationships": {"prospect": {"data": {"type": "prospect", "id": id}}}}});
    let (status, body) = call(server, "POST", "/api/v2/phoneNumbers", Some(number));
    assert_eq!(status, 201, "{body}");
}

/// The ids of every change in the feed.
fn change_ids(server: &Server) -> Vec<String> {
    let (status, feed) = call(server, "GET", "/api/v2/changes?page[size]=1000", None);
    assert_eq!(status, 200, "{feed}");
    (feed["data"].as_array().unwrap().iter())
        .map(|change| change["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Waits (at most `seconds`) until `done` holds; whether it did.
fn wait_until(seconds: u64, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

/// How many times the receiver answered 2xx to each change id; every request it got carries a
/// valid signature of `secret` and the change whose id it names.
fn successes_by_change(receiver: &Receiver, secret: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for request in receiver.received() {
        assert!(verify(secret, &request), "signature of {request:?}");
        let body: Value = serde_json::from_str(&request.body).expect("JSON body");
        assert_valid_document(&body);
        assert_eq!(body["data"]["id"], request.webhook_id());
        if request.succeeded() {
            *counts.entry(request.webhook_id().to_owned()).or_insert(0) += 1;
        }
    }
    counts
}

/// A receiver that answers `failing` (status and delay) while `fails` is set, and 204 at once
/// afterwards.
fn switchable(fails: &Arc<AtomicBool>, failing: (u16, Duration)) -> Receiver {
    let fails = fails.clone();
    Receiver::start(move |_| match fails.load(Ordering::SeqCst) {
        true => failing,
        false => (204, Duration::ZERO),
    })
}

/// SIGKILL while deliveries are pending (their receivers failing, one of them slowly, so that
/// attempts are in flight), then a restart on the same database with the receivers answering:
/// every change reaches each webhook exactly once, none lost to the crash, none repeated (the
/// crashed instance's leases run out, and a delivered change is not sent again).
fn a_killed_server_loses_no_delivery_and_repeats_none(database: ProcessDatabase) {
    // Retries come quickly and never run out within the test.
    let schedule = vec!["200ms"; 40].join(",");
    let mut server = serve(&database.url, &schedule);
    let fails = Arc::new(AtomicBool::new(true));
    let quick = switchable(&fails, (500, Duration::ZERO));
    let slow = switchable(&fails, (503, Duration::from_millis(400)));
    let hooks = [&quick, &slow]
        .map(|receiver| webhook_to(&server, &receiver.url, &["phoneNumber", "prospect"]));
    for n in 0..4 {
        prospect_with_number(&server, &format!("P{n}"), &format!("+1415555012{n}"));
    }
    let expected = change_ids(&server);
    assert_eq!(expected.len(), 12);
    // Every change has been tried and refused, and the slow receiver holds an attempt right now.
    assert!(wait_until(30, || {
        let attempted = successes_by_change(&quick, &hooks[0].1).is_empty()
            && (quick.received().iter())
                .map(|request| request.webhook_id().to_owned())
                .collect::<std::collections::HashSet<_>>()
                .len()
                == expected.len();
        attempted && slow.arrived() > slow.received().len()
    }));
    server.kill();
    fails.store(false, Ordering::SeqCst);
    let restarted = serve(&database.url, &schedule);
    // The dead instance's leases run out after 30 s (delivery::LEASE); then the rest goes out.
    let drained = wait_until(90, || {
        (hooks.iter()).all(|(id, _)| webhook_state(&restarted, id)["pendingDeliveries"] == 0)
    });
    assert!(drained, "{}", restarted.output());
    std::thread::sleep(Duration::from_millis(500));
    for ((id, secret), receiver) in hooks.iter().zip([&quick, &slow]) {
        let delivered = successes_by_change(receiver, secret);
        let once: BTreeMap<String, usize> = expected.iter().map(|id| (id.clone(), 1)).collect();
        assert_eq!(delivered, once, "webhook {id}: each change delivered once");
        let state = webhook_state(&restarted, id);
        assert_eq!(
            (&state["failedDeliveries"], &state["lastDeliveryStatus"]),
            (&json!(0), &json!(204)),
            "{state}"
        );
    }
}

/// The queued deliveries of webhook `id`: (attempts, leased) of each.
fn queued(database: &ProcessDatabase, id: &str) -> Vec<(i32, bool)> {
    use webhook_deliveries::dsl as queue;
    let id: i64 = id.parse().unwrap();
    let rows: Vec<(i32, Option<chrono::NaiveDateTime>)> = queue::webhook_deliveries
        .filter(queue::webhook_id.eq(id))
        .select((queue::attempts, queue::leased_until))
        .load(&mut *database.conn())
        .expect("queue");
    (rows.into_iter())
        .map(|(attempts, lease)| (attempts, lease.is_some()))
        .collect()
}

fn failed_deliveries(database: &ProcessDatabase, id: &str) -> i64 {
    webhooks::table
        .find(id.parse::<i64>().unwrap())
        .select(webhooks::failed_deliveries)
        .first(&mut *database.conn())
        .expect("webhook")
}

/// SIGTERM while two attempts are in flight: the one whose receiver answers within the grace
/// period is finished (delivered, not sent again), the one whose receiver hangs longer is handed
/// back unleased and uncounted, and delivered after a restart. Neither is lost or marked failed
/// (with a retry schedule of one hour, an attempt counted as failed would not come back here).
fn sigterm_finishes_or_hands_back_the_attempts_in_flight(database: ProcessDatabase) {
    let mut server = serve(&database.url, "1h");
    let brief = Receiver::start(|n| (204, Duration::from_secs(if n == 0 { 1 } else { 0 })));
    let hanging = Receiver::start(|n| (204, Duration::from_secs(if n == 0 { 9 } else { 0 })));
    let finished = webhook_to(&server, &brief.url, &["prospect"]);
    let handed_back = webhook_to(&server, &hanging.url, &["prospect"]);
    let prospect = json!({"data": {"type": "prospect", "attributes": {"firstName": "Ada"}}});
    assert_eq!(
        call(&server, "POST", "/api/v2/prospects", Some(prospect)).0,
        201
    );
    let change = change_ids(&server);
    assert!(wait_until(20, || brief.arrived() == 1 && hanging.arrived() == 1));
    let exit = server.terminate(Duration::from_secs(40));
    assert!(exit.success(), "{exit}: {}", server.output());
    assert_eq!(queued(&database, &finished.0), vec![]);
    assert_eq!(queued(&database, &handed_back.0), vec![(0, false)]);
    for (id, _) in [&finished, &handed_back] {
        assert_eq!(failed_deliveries(&database, id), 0);
    }
    let restarted = serve(&database.url, "1h");
    let redelivered = || (hanging.received().iter()).any(|request| request.index > 0);
    assert!(wait_until(20, redelivered), "{}", restarted.output());
    assert_eq!(
        successes_by_change(&brief, &finished.1),
        BTreeMap::from([(change[0].clone(), 1)]),
        "finished before the exit, so not sent again"
    );
    let again = successes_by_change(&hanging, &handed_back.1);
    assert_eq!(again.keys().collect::<Vec<_>>(), vec![&change[0]]);
    let settled = || {
        [&finished, &handed_back].iter().all(|(id, _)| {
            let state = webhook_state(&restarted, id);
            state["pendingDeliveries"] == 0 && state["failedDeliveries"] == 0
        })
    };
    assert!(wait_until(20, settled), "{}", restarted.output());
}

/// Two instances on one PostgreSQL database, both delivering: each change reaches the receiver
/// exactly once (counted by `webhook-id`), also those queued while both were busy.
#[test]
fn two_instances_on_postgres_deliver_each_change_once() {
    let Some(database) = EmptyPostgres::new() else {
        return;
    };
    let env = [
        ("DATABASE_URL", database.url.as_str()),
        ("PHONEBOOK_BOOTSTRAP_TOKEN", TOKEN),
        ("PHONEBOOK_RATE_LIMIT", "0"),
        ("PHONEBOOK_WEBHOOK_RETRY_SCHEDULE", "200ms,200ms,200ms"),
    ];
    let mut pair = [Server::spawn(&env), Server::spawn(&env)];
    pair.iter_mut().for_each(Server::wait_healthy);
    // Slow enough that both instances hold attempts at once.
    let receiver = Receiver::start(|_| (204, Duration::from_millis(15)));
    let (id, secret) = webhook_to(&pair[0], &receiver.url, &["phoneNumber", "prospect"]);
    for n in 0..12 {
        prospect_with_number(
            &pair[n % 2],
            &format!("P{n}"),
            &format!("+14155550{:03}", 100 + n),
        );
    }
    let expected = change_ids(&pair[1]);
    assert_eq!(expected.len(), 36);
    let drained = wait_until(60, || {
        receiver.received().len() >= expected.len()
            && webhook_state(&pair[1], &id)["pendingDeliveries"] == 0
    });
    assert!(
        drained,
        "{} of {}",
        receiver.received().len(),
        expected.len()
    );
    std::thread::sleep(Duration::from_millis(500));
    let once: BTreeMap<String, usize> = expected.iter().map(|id| (id.clone(), 1)).collect();
    assert_eq!(successes_by_change(&receiver, &secret), once);
    assert_eq!(receiver.received().len(), expected.len(), "no retries");
}
