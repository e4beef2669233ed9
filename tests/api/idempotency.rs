//! `Idempotency-Key` (API.md section 12): a POST retried with its key runs once; the retry gets
//! the first answer back byte for byte.

use actix_web::http::Method;
use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{prospect_doc, TestApp, ATOMIC};

backend_tests!(
    a_retried_post_runs_once_and_gets_the_first_answer,
    concurrent_retries_make_one_record,
    a_key_for_another_request_is_refused,
    malformed_keys_are_400_after_authentication,
    a_running_first_request_makes_a_retry_409,
    expired_keys_run_again_and_are_swept,
    client_errors_are_kept_and_keys_are_per_user,
    operations_retried_with_a_key_apply_once,
    methods_a_route_lacks_are_405_whatever_the_key,
);

fn doc(name: &str) -> Value {
    prospect_doc(json!({"firstName": name}))
}

async fn post(app: &TestApp, path: &str, body: &Value, key: &str) -> crate::helpers::Response {
    app.send(
        Method::POST,
        path,
        Some(&app.admin_token),
        Some(body),
        &[("Idempotency-Key", key)],
    )
    .await
}

async fn a_retried_post_runs_once_and_gets_the_first_answer(app: TestApp) {
    let first = post(&app, "/api/v2/prospects", &doc("Ada"), "key-1")
        .await
        .expect(201);
    assert_eq!(first.header("idempotent-replayed"), None);
    for quoted in ["key-1", "\"key-1\""] {
        let again = post(&app, "/api/v2/prospects", &doc("Ada"), quoted)
            .await
            .expect(201);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(again.text, first.text, "byte for byte");
        for header in ["location", "etag", "content-type"] {
            assert_eq!(again.header(header), first.header(header), "{header}");
        }
        assert!(again.header("x-request-id").is_some());
    }
    assert_eq!(app.count("prospects"), 1);
    // Without a key, the same request runs again.
    app.post("/api/v2/prospects", doc("Ada")).await.expect(201);
    assert_eq!(app.count("prospects"), 2);
    // A number created with a key, retried: one number, one entry in the prospect's list.
    let id = first.id();
    let number = json!({"data": {"type": "phoneNumber", "attributes": {"number": "+18889387356"},
        "relationships": {"prospect": {"data": {"type": "prospect", "id": id}}}}});
    let made = post(&app, "/api/v2/phoneNumbers", &number, "key-2")
        .await
        .expect(201);
    let again = post(&app, "/api/v2/phoneNumbers", &number, "key-2")
        .await
        .expect(201);
    assert_eq!(again.text, made.text);
    assert_eq!(app.count("phone_numbers"), 1);
    let prospect = app
        .get(&format!("/api/v2/prospects/{id}"))
        .await
        .expect(200);
    assert_eq!(prospect.attr("otherPhones"), &json!(["+18889387356"]));
}

async fn concurrent_retries_make_one_record(app: TestApp) {
    let body = doc("Grace");
    let answers =
        join_all((0..8).map(|_| post(&app, "/api/v2/prospects", &body, "together"))).await;
    let created: Vec<_> = answers.iter().filter(|a| a.status == 201).collect();
    assert!(!created.is_empty());
    for answer in &answers {
        assert!(
            matches!(answer.status, 201 | 409),
            "{} {}",
            answer.status,
            answer.text
        );
        if answer.status == 409 {
            assert_eq!(answer.error_code(), "conflict");
            assert_eq!(
                answer.body["errors"][0]["source"]["header"],
                "Idempotency-Key"
            );
        }
    }
    assert!(created.iter().all(|a| a.text == created[0].text));
    assert_eq!(app.count("prospects"), 1);
    let after = post(&app, "/api/v2/prospects", &body, "together")
        .await
        .expect(201);
    assert_eq!(after.text, created[0].text);
    assert_eq!(app.count("prospects"), 1);
}

async fn a_key_for_another_request_is_refused(app: TestApp) {
    post(&app, "/api/v2/prospects", &doc("Ada"), "mine")
        .await
        .expect(201);
    let reused = [
        post(&app, "/api/v2/prospects", &doc("Grace"), "mine").await,
        post(&app, "/api/v2/prospects?include=owner", &doc("Ada"), "mine").await,
        app.send(
            Method::GET,
            "/api/v2/prospects",
            Some(&app.admin_token),
            None,
            &[("Idempotency-Key", "mine")],
        )
        .await,
    ];
    for answer in reused {
        let answer = answer.expect(422);
        assert_eq!(answer.error_code(), "validationError");
        assert_eq!(
            answer.body["errors"][0]["source"]["header"],
            "Idempotency-Key"
        );
        assert_eq!(answer.header("idempotent-replayed"), None);
    }
    // The same bytes differently spaced are another body.
    let spaced = crate::helpers::raw(
        &app,
        Method::POST,
        "/api/v2/prospects",
        Some(&app.admin_token),
        &[
            ("Content-Type", crate::helpers::JSONAPI),
            ("Idempotency-Key", "mine"),
        ],
        Some(format!("{} ", doc("Ada")).as_bytes()),
    )
    .await;
    spaced.expect(422);
    assert_eq!(app.count("prospects"), 1);
    // Other methods with an unused key run as they would without it.
    app.send(
        Method::GET,
        "/api/v2/prospects",
        Some(&app.admin_token),
        None,
        &[("Idempotency-Key", "never-used")],
    )
    .await
    .expect(200);
}

async fn methods_a_route_lacks_are_405_whatever_the_key(app: TestApp) {
    post(&app, "/api/v2/prospects", &doc("Ada"), "used")
        .await
        .expect(201);
    let trace = Method::from_bytes(b"TRACE").expect("a method");
    for (method, path, key) in [
        (trace.clone(), "/api/v2/prospects", "used"),
        (Method::PUT, "/api/v2/prospects", "used"),
        (trace, "/api/v2/prospects", "not a key"),
        (Method::POST, "/api/v2/prospects/1", "used"),
        (Method::POST, "/api/v2/prospects/1", "fresh"),
    ] {
        let answer = app
            .send(
                method.clone(),
                path,
                Some(&app.admin_token),
                Some(&doc("Ada")),
                &[("Idempotency-Key", key)],
            )
            .await
            .expect(405);
        assert!(answer.header("allow").is_some(), "{method} {path}");
        assert_eq!(answer.header("idempotent-replayed"), None);
    }
    // The 405 kept nothing: the key is free for a POST of the route.
    post(&app, "/api/v2/prospects", &doc("Grace"), "fresh")
        .await
        .expect(201);
    assert_eq!(app.count("prospects"), 2);
}

async fn malformed_keys_are_400_after_authentication(app: TestApp) {
    let long = "k".repeat(256);
    for bad in ["", "two words", "caf\u{e9}", long.as_str(), "\"\""] {
        let answer = post(&app, "/api/v2/prospects", &doc("Ada"), bad)
            .await
            .expect(400);
        assert_eq!(answer.error_code(), "badRequest");
        assert_eq!(
            answer.body["errors"][0]["source"]["header"], "Idempotency-Key",
            "{bad:?}"
        );
    }
    let twice = actix_web::test::TestRequest::post()
        .uri("/api/v2/prospects")
        .insert_header(("Authorization", format!("Bearer {}", app.admin_token)))
        .insert_header(("Content-Type", crate::helpers::JSONAPI))
        .append_header(("Idempotency-Key", "a"))
        .append_header(("Idempotency-Key", "b"))
        .set_payload(doc("Ada").to_string())
        .to_request();
    let twice = app.send_request(twice).await;
    twice.expect(400);
    let anonymous = app
        .send(
            Method::POST,
            "/api/v2/prospects",
            None,
            Some(&doc("Ada")),
            &[("Idempotency-Key", "")],
        )
        .await;
    anonymous.expect(401);
    assert_eq!(app.count("prospects"), 0);
    // The longest key is fine.
    post(&app, "/api/v2/prospects", &doc("Ada"), &"k".repeat(255))
        .await
        .expect(201);
}

/// A first request still running, as another instance would have left it, makes a retry 409.
async fn a_running_first_request_makes_a_retry_409(app: TestApp) {
    let first = post(&app, "/api/v2/prospects", &doc("Ada"), "slow")
        .await
        .expect(201);
    app.execute(
        "UPDATE idempotency_keys SET status = NULL, body = NULL, content_type = NULL, \
         location = NULL, etag = NULL",
    );
    let retry = post(&app, "/api/v2/prospects", &doc("Ada"), "slow")
        .await
        .expect(409);
    assert_eq!(retry.error_code(), "conflict");
    // A claim whose request never answered is free again once it counts as abandoned.
    let past = if app.database_url.starts_with("sqlite") {
        "datetime('now', '-2 minutes')"
    } else {
        "now() at time zone 'utc' - interval '2 minutes'"
    };
    app.execute(&format!("UPDATE idempotency_keys SET created_at = {past}"));
    let rerun = post(&app, "/api/v2/prospects", &doc("Ada"), "slow")
        .await
        .expect(201);
    assert_ne!(rerun.id(), first.id());
    assert_eq!(app.count("prospects"), 2);
}

async fn expired_keys_run_again_and_are_swept(app: TestApp) {
    post(&app, "/api/v2/prospects", &doc("Ada"), "old")
        .await
        .expect(201);
    post(&app, "/api/v2/prospects", &doc("Ada"), "fresh")
        .await
        .expect(201);
    let past = if app.database_url.starts_with("sqlite") {
        "datetime('now', '-25 hours')"
    } else {
        "now() at time zone 'utc' - interval '25 hours'"
    };
    app.execute(&format!(
        "UPDATE idempotency_keys SET created_at = {past} WHERE idempotency_key = 'old'"
    ));
    let again = post(&app, "/api/v2/prospects", &doc("Ada"), "old")
        .await
        .expect(201);
    assert_eq!(again.header("idempotent-replayed"), None);
    assert_eq!(app.count("prospects"), 3);
    app.execute(&format!("UPDATE idempotency_keys SET created_at = {past}"));
    let swept = phonebook::models::idempotency::sweep(&mut app.conn()).expect("sweep");
    assert_eq!(swept, 2);
    assert_eq!(app.count("idempotency_keys"), 0);
}

async fn client_errors_are_kept_and_keys_are_per_user(app: TestApp) {
    let invalid = prospect_doc(json!({"firstName": 7}));
    let first = post(&app, "/api/v2/prospects", &invalid, "bad-body")
        .await
        .expect(422);
    let again = post(&app, "/api/v2/prospects", &invalid, "bad-body")
        .await
        .expect(422);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.text, first.text);
    // Another user's key of the same name is its own.
    let (_, token) = app.user(
        "grace@example.com",
        phonebook::permissions::Role::Member,
        "prospects.all",
    );
    for _ in 0..2 {
        app.send(
            Method::POST,
            "/api/v2/prospects",
            Some(&token),
            Some(&doc("Grace")),
            &[("Idempotency-Key", "bad-body")],
        )
        .await
        .expect(201);
    }
    assert_eq!(app.count("prospects"), 1);
}

async fn operations_retried_with_a_key_apply_once(app: TestApp) {
    let operations = json!({"atomic:operations": [
        {"op": "add", "data": {"type": "prospect", "lid": "p", "attributes": {"firstName": "Ada"}}},
        {"op": "add", "data": {"type": "phoneNumber", "attributes": {"number": "+18889387356"},
            "relationships": {"prospect": {"data": {"type": "prospect", "lid": "p"}}}}},
    ]});
    let first = post(&app, "/api/v2/operations", &operations, "import-1")
        .await
        .expect(200);
    let again = post(&app, "/api/v2/operations", &operations, "import-1")
        .await
        .expect(200);
    assert_eq!(again.text, first.text);
    assert_eq!(again.header("content-type"), Some(ATOMIC));
    assert_eq!(app.count("prospects"), 1);
    assert_eq!(app.count("phone_numbers"), 1);
}

/// A first request that really is still running (PostgreSQL: its prospect row is locked by
/// another transaction) makes a retry 409; once it answers, the retry gets its answer.
#[actix_web::test]
async fn a_retry_while_the_first_request_runs_is_409() {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let Some(app) = TestApp::postgres().await else {
        return;
    };
    let prospect = app.prospect("Ada").await;
    let number = json!({"data": {"type": "phoneNumber", "attributes": {"number": "+18889387356"},
        "relationships": {"prospect": {"data": {"type": "prospect", "id": prospect}}}}});
    let mut lock = diesel::PgConnection::establish(&app.database_url).expect("connection");
    lock.batch_execute(&format!(
        "BEGIN; SELECT id FROM prospects WHERE id = {prospect} FOR UPDATE"
    ))
    .expect("lock the prospect");
    let first = post(&app, "/api/v2/phoneNumbers", &number, "slow");
    let retry = async {
        actix_web::rt::time::sleep(std::time::Duration::from_millis(500)).await;
        let retry = post(&app, "/api/v2/phoneNumbers", &number, "slow").await;
        lock.batch_execute("COMMIT").expect("unlock");
        retry
    };
    let (first, retry) = futures_util::future::join(first, retry).await;
    let first = first.expect(201);
    assert_eq!(retry.expect(409).error_code(), "conflict");
    let replayed = post(&app, "/api/v2/phoneNumbers", &number, "slow")
        .await
        .expect(201);
    assert_eq!(replayed.text, first.text);
    assert_eq!(app.count("phone_numbers"), 1);
}

fn rate_limit_of_1(config: &mut phonebook::config::Config) {
    config.rate_limit_per_hour = 1;
}

backend_tests!(with rate_limit_of_1; the_key_is_checked_after_the_rate_limit);

async fn the_key_is_checked_after_the_rate_limit(app: TestApp) {
    let first = post(&app, "/api/v2/prospects", &doc("Ada"), "in budget").await;
    assert_eq!(first.expect(400).header("x-ratelimit-remaining"), Some("0"));
    let limited = post(&app, "/api/v2/prospects", &doc("Ada"), "in budget").await;
    assert_eq!(limited.expect(429).error_code(), "rateLimitExceeded");
    assert_eq!(app.count("idempotency_keys"), 0);
}
