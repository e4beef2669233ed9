//! The rate limit shared through Redis (API.md section 12): one budget for every instance, the
//! same headers and 429 as the in-process limiter, and requests served (without the headers)
//! while Redis is unreachable. Each test keeps its keys under a prefix of its own.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use actix_web::http::Method;

use crate::helpers::{redis_prefix, test_redis_url, Response, TestApp};
use crate::servers::free_port;

/// (remaining, reset) of a response that has the headers.
#[track_caller]
fn remaining(response: &Response) -> (u32, u64) {
    assert_eq!(
        response.header("x-ratelimit-limit"),
        Some("3"),
        "{:?}",
        response.headers
    );
    let number = |name| response.header(name).expect(name).parse().expect(name);
    (
        number("x-ratelimit-remaining") as u32,
        number("x-ratelimit-reset"),
    )
}

fn shared(
    url: String,
    prefix: String,
    per_hour: u32,
) -> impl FnOnce(&mut phonebook::config::Config) {
    move |config| {
        config.rate_limit_per_hour = per_hour;
        config.redis_url = Some(url);
        config.redis_key_prefix = prefix;
    }
}

async fn get(app: &TestApp, path: &str) -> Response {
    app.send(Method::GET, path, Some(&app.admin_token), None, &[])
        .await
}

#[actix_web::test]
async fn two_instances_spend_one_budget() {
    let Some(url) = test_redis_url() else { return };
    let one = TestApp::sqlite_with(shared(url, redis_prefix(), 3)).await;
    let other = one.another().await;
    let unix_now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let start = unix_now();
    for (used, app) in [(1, &one), (2, &other), (3, &one)] {
        let (left, reset) = remaining(&get(app, "/api/v2").await.expect(200));
        assert_eq!(left, 3 - used);
        // Full again once the `used` requests have come back, one per 1200 s.
        let back = start + used as u64 * 1200;
        assert!(
            reset + 2 >= back && reset <= unix_now() + used as u64 * 1200 + 1,
            "{reset}"
        );
    }
    for app in [&other, &one] {
        let limited = get(app, "/api/v2").await.expect(429);
        assert_eq!(limited.error_code(), "rateLimitExceeded");
        let retry: u64 = limited
            .header("retry-after")
            .expect("Retry-After")
            .parse()
            .unwrap();
        assert!((1195..=1200).contains(&retry), "{retry}");
        assert_eq!(remaining(&limited).0, 0);
    }
    // Another user has a budget of its own; 401s are not counted.
    let (_, token) = one.user(
        "grace@example.com",
        phonebook::permissions::Role::Member,
        "prospects.all",
    );
    let unknown = one
        .send(Method::GET, "/api/v2", Some("pb_unknown"), None, &[])
        .await
        .expect(401);
    assert!(unknown.header("x-ratelimit-limit").is_none());
    let grace = other
        .send(Method::GET, "/api/v2/prospects", Some(&token), None, &[])
        .await;
    assert_eq!(remaining(&grace.expect(200)).0, 2);
}

#[actix_web::test]
async fn the_database_number_of_the_url_is_honoured() {
    let Some(url) = test_redis_url() else { return };
    let (server, _) = url.rsplit_once('/').expect("a database in the URL");
    let prefix = redis_prefix();
    let app = TestApp::sqlite_with(shared(format!("{server}/7"), prefix.clone(), 3)).await;
    remaining(&get(&app, "/api/v2").await.expect(200));
    let key = format!("{prefix}ratelimit:1");
    let exists = |database: u8| -> bool {
        let client = redis::Client::open(format!("{server}/{database}")).unwrap();
        let mut conn = client.get_connection().unwrap();
        redis::cmd("EXISTS")
            .arg(&key)
            .query::<i64>(&mut conn)
            .unwrap()
            == 1
    };
    assert!(exists(7));
    assert!(!exists(0));
}

/// A Redis of the test's own, on a free port, killed when dropped.
struct OwnRedis {
    port: u16,
    child: Child,
}

impl OwnRedis {
    fn start(port: u16) -> OwnRedis {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (on the machine, as .ci/run needs it)");
        let redis = OwnRedis { port, child };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if redis::Client::open(redis.url())
                .and_then(|client| client.get_connection())
                .and_then(|mut conn| redis::cmd("PING").query::<String>(&mut conn))
                .is_ok()
            {
                return redis;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not start on port {port}");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[actix_web::test]
async fn requests_are_served_while_redis_is_away_and_limiting_resumes() {
    if test_redis_url().is_none() {
        return;
    }
    let port = free_port();
    let redis = OwnRedis::start(port);
    let app = TestApp::sqlite_with(shared(redis.url(), redis_prefix(), 3)).await;
    assert_eq!(remaining(&get(&app, "/api/v2").await.expect(200)).0, 2);
    drop(redis);
    for _ in 0..5 {
        let started = Instant::now();
        let served = get(&app, "/api/v2/prospects").await.expect(200);
        assert!(served.header("x-ratelimit-limit").is_none());
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
    let back = Instant::now();
    let _redis = OwnRedis::start(port);
    loop {
        let response = get(&app, "/api/v2").await.expect(200);
        if response.header("x-ratelimit-limit").is_some() {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(15),
            "limiting did not resume"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    // A fresh Redis knows no budget spent.
    assert_eq!(remaining(&get(&app, "/api/v2").await.expect(200)).0, 1);
}

#[actix_web::test]
async fn a_closed_redis_port_serves_without_headers() {
    let port = free_port();
    let app = TestApp::sqlite_with(shared(
        format!("redis://127.0.0.1:{port}/0"),
        redis_prefix(),
        3,
    ))
    .await;
    for _ in 0..5 {
        let served = get(&app, "/api/v2").await.expect(200);
        assert!(served.header("x-ratelimit-remaining").is_none());
    }
}

#[test]
fn a_redis_url_that_is_not_one_is_refused_at_start() {
    for bad in [
        "not a url",
        "http://127.0.0.1:6379",
        "redis://127.0.0.1:notaport",
    ] {
        let error = phonebook::config::Config::from_lookup(|name| {
            (name == "PHONEBOOK_REDIS_URL").then(|| bad.to_owned())
        })
        .expect_err(bad)
        .to_string();
        assert!(error.starts_with("PHONEBOOK_REDIS_URL: "), "{error}");
    }
    let output = Command::new(env!("CARGO_BIN_EXE_phonebook"))
        .arg("serve")
        .env_clear()
        .env("DATABASE_URL", "sqlite:///nonexistent-dir/never.db")
        .env("PHONEBOOK_REDIS_URL", "not a url")
        .output()
        .expect("run phonebook");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("PHONEBOOK_REDIS_URL") && stderr.contains("redis://"),
        "{stderr}"
    );
}
