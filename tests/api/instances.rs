//! More than one instance (API.md section 12): what one process hands out works on another one on
//! the same database, and on the same one after a restart.

use diesel::RunQueryDsl;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{ids, prospect_doc, EmptyPostgres, TestApp};
use crate::servers::Server;

backend_tests!(a_cursor_works_on_another_instance_and_after_a_restart);

/// The path and query of an absolute link.
pub fn path_of(link: &serde_json::Value) -> String {
    let link = link.as_str().expect("a link");
    link[link.find("/api/v2").expect("an API link")..].to_owned()
}

async fn a_cursor_works_on_another_instance_and_after_a_restart(app: TestApp) {
    for name in ["Ada", "Grace", "Edsger"] {
        app.post(
            "/api/v2/prospects",
            prospect_doc(json!({"firstName": name})),
        )
        .await
        .expect(201);
    }
    let first = app.get("/api/v2/prospects?page[size]=2").await.expect(200);
    let next = path_of(&first.body["links"]["next"]);
    let expected = ids(&app.get(&next).await.expect(200));

    let other = app.another().await;
    assert_eq!(ids(&other.get(&next).await.expect(200)), expected);
    drop(app);
    let restarted = other.another().await;
    drop(other);
    let page = restarted.get(&next).await.expect(200);
    assert_eq!(ids(&page), expected);
    // ... and what the new process hands out, the first one would take: one key for all.
    let back = path_of(&page.body["links"]["prev"]);
    restarted.get(&back).await.expect(200);
}

/// Instances started at the same moment on an empty PostgreSQL database: they migrate one after
/// the other, exactly one makes the bootstrap admin, and all of them serve.
#[test]
fn instances_started_together_on_an_empty_database_make_one_admin() {
    let Some(database) = EmptyPostgres::new() else {
        return;
    };
    let token = "bootstrap-token-for-the-instances-test-0123456789";
    let env = [
        ("DATABASE_URL", database.url.as_str()),
        ("PHONEBOOK_BOOTSTRAP_TOKEN", token),
    ];
    let mut servers: Vec<Server> = (0..4).map(|_| Server::spawn(&env)).collect();
    for server in &mut servers {
        server.wait_healthy();
    }
    let created = servers
        .iter()
        .filter(|server| server.output().contains("Created user admin@localhost"))
        .count();
    assert_eq!(created, 1, "exactly one instance bootstraps");
    for server in &servers {
        let entry = server.get("/api/v2", Some(token)).expect("request");
        assert_eq!(entry.status, 200, "{}", entry.text);
        assert_eq!(entry.body["meta"]["user"]["email"], "admin@localhost");
    }
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let count = |sql: &str| {
        diesel::sql_query(sql)
            .get_result::<Count>(&mut database.conn())
            .expect("count")
            .n
    };
    assert_eq!(count("SELECT COUNT(*) AS n FROM users"), 1);
    assert_eq!(count("SELECT COUNT(*) AS n FROM api_tokens"), 1);
    assert_eq!(count("SELECT COUNT(*) AS n FROM server_keys"), 1);
}

/// The path of `links.next` of a response.
fn next_of(response: &crate::helpers::Response) -> String {
    path_of(&response.body["links"]["next"])
}

/// Runs the command line on `database`.
fn command_line(database: &str, args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_phonebook"))
        .args(args)
        .env_clear()
        .env("DATABASE_URL", database)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run phonebook");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("UTF-8")
        .trim()
        .to_owned()
}

/// Two real instances on one PostgreSQL database and one Redis behave as one service: one rate
/// limit, cursors and Idempotency-Keys that cross over (also after both restart), and a revoked
/// token refused by both.
#[test]
fn two_instances_on_postgres_and_redis_are_one_service() {
    let Some(redis) = crate::helpers::test_redis_url() else {
        return;
    };
    let Some(database) = EmptyPostgres::new() else {
        return;
    };
    let token = "bootstrap-token-for-the-two-instance-test-0123456789";
    let prefix = crate::helpers::redis_prefix();
    let env = [
        ("DATABASE_URL", database.url.as_str()),
        ("PHONEBOOK_BOOTSTRAP_TOKEN", token),
        ("PHONEBOOK_REDIS_URL", redis.as_str()),
        ("PHONEBOOK_REDIS_KEY_PREFIX", prefix.as_str()),
        ("PHONEBOOK_RATE_LIMIT", "1000"),
    ];
    let start_both = || {
        let mut pair = [Server::spawn(&env), Server::spawn(&env)];
        pair.iter_mut().for_each(Server::wait_healthy);
        pair
    };
    let pair = start_both();
    let post = |server: &Server, key: &str, name: &str| {
        let body = json!({"data": {"type": "prospect", "attributes": {"firstName": name}}});
        server
            .request(
                "POST",
                "/api/v2/prospects",
                Some(token),
                &[
                    ("Content-Type", crate::helpers::JSONAPI),
                    ("Idempotency-Key", key),
                ],
                Some(&body.to_string()),
            )
            .expect("request")
    };
    // One rate-limit budget: Remaining drops by one per request, whichever instance answers.
    let mut last = None;
    for at in 0..6 {
        let answer = pair[at % 2].get("/api/v2", Some(token)).expect("request");
        assert_eq!(answer.status, 200, "{}", answer.text);
        let remaining: u32 = answer
            .header("x-ratelimit-remaining")
            .expect("headers")
            .parse()
            .unwrap();
        if let Some(last) = last {
            assert_eq!(remaining, last - 1, "request {at}");
        }
        last = Some(remaining);
    }
    // An Idempotency-Key used on one instance is replayed by the other.
    let first = post(&pair[0], "k-1", "Ada");
    assert_eq!(first.status, 201, "{}", first.text);
    let replayed = post(&pair[1], "k-1", "Ada");
    assert_eq!(replayed.status, 201);
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
    assert_eq!(replayed.text, first.text);
    for (at, name) in ["Grace", "Edsger"].into_iter().enumerate() {
        assert_eq!(post(&pair[at % 2], &format!("k-{name}"), name).status, 201);
    }
    // Cursors cross over: page 1 from one, page 2 from the other, page 3 from the first.
    let page = |server: &Server, path: &str| {
        let answer = server.get(path, Some(token)).expect("request");
        assert_eq!(answer.status, 200, "{path}: {}", answer.text);
        answer
    };
    let one = page(&pair[0], "/api/v2/prospects?page[size]=1");
    let two = page(&pair[1], &next_of(&one));
    let three = page(&pair[0], &next_of(&two));
    let names = |answer: &crate::helpers::Response| {
        answer.body["data"][0]["attributes"]["firstName"].clone()
    };
    assert_eq!(
        [names(&one), names(&two), names(&three)],
        [json!("Ada"), json!("Grace"), json!("Edsger")]
    );
    let saved = next_of(&one);
    // A token revoked on the command line is refused by both, on their next request.
    command_line(
        &database.url,
        &[
            "user",
            "create",
            "--name",
            "G",
            "--email",
            "g@example.com",
            "--role",
            "member",
        ],
    );
    let member = command_line(
        &database.url,
        &["token", "create", "--email", "g@example.com"],
    );
    for server in &pair {
        assert_eq!(
            server
                .get("/api/v2/prospects", Some(&member))
                .unwrap()
                .status,
            200
        );
    }
    command_line(
        &database.url,
        &["token", "revoke", "--email", "g@example.com"],
    );
    for server in &pair {
        assert_eq!(
            server
                .get("/api/v2/prospects", Some(&member))
                .unwrap()
                .status,
            401
        );
    }
    // Both restart: the cursor and the key still work, and the budget goes on where it was.
    drop(pair);
    let pair = start_both();
    assert_eq!(names(&page(&pair[1], &saved)), json!("Grace"));
    let again = post(&pair[0], "k-1", "Ada");
    assert_eq!(again.text, first.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let remaining: u32 = pair[0]
        .get("/api/v2", Some(token))
        .unwrap()
        .header("x-ratelimit-remaining")
        .expect("headers")
        .parse()
        .unwrap();
    assert!(remaining < last.unwrap() - 5, "{remaining}");
    let mut conn = database.conn();
    let prospects: Vec<i64> = diesel::sql_query("SELECT id AS n FROM prospects")
        .load::<IdRow>(&mut conn)
        .expect("prospects")
        .into_iter()
        .map(|row| row.n)
        .collect();
    assert_eq!(prospects.len(), 3);
}

#[derive(diesel::QueryableByName)]
struct IdRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Two instances pointed at a closed Redis port serve every request, without `X-RateLimit-*`
/// headers, and each warns once about the outage.
#[test]
fn instances_with_a_closed_redis_port_serve_and_warn_once() {
    let Some(database) = EmptyPostgres::new() else {
        return;
    };
    let redis = format!("redis://127.0.0.1:{}/0", crate::servers::free_port());
    let token = "bootstrap-token-for-the-closed-redis-test-0123456789";
    let env = [
        ("DATABASE_URL", database.url.as_str()),
        ("PHONEBOOK_BOOTSTRAP_TOKEN", token),
        ("PHONEBOOK_REDIS_URL", redis.as_str()),
    ];
    let mut pair = [Server::spawn(&env), Server::spawn(&env)];
    pair.iter_mut().for_each(Server::wait_healthy);
    for at in 0..10 {
        let answer = pair[at % 2]
            .get("/api/v2/prospects", Some(token))
            .expect("request");
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert!(answer.header("x-ratelimit-limit").is_none());
    }
    for server in &pair {
        assert_eq!(
            server.output().matches("Redis is unreachable").count(),
            1,
            "{}",
            server.output()
        );
    }
}
