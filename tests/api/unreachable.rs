//! Database unreachable (API.md section 9): an in-process app on its own PostgreSQL database,
//! which the test then closes to connections and terminates the sessions of.

use std::time::{Duration, Instant};

use actix_web::test::{call_service, init_service, read_body, TestRequest};
use actix_web::web;
use diesel::connection::SimpleConnection;
use diesel::Connection;
use serde_json::Value;

use phonebook::db::{self, DatabaseUrl, PoolOptions};
use phonebook::router;
use phonebook::state::AppState;

use crate::helpers::test_config;

fn admin_url() -> String {
    std::env::var("PHONEBOOK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn required() -> bool {
    ["CI", "PHONEBOOK_REQUIRE_POSTGRES"].iter().any(|name| {
        std::env::var(name).is_ok_and(|value| !value.is_empty() && value != "false" && value != "0")
    })
}

/// A database of its own, dropped at the end (even when the test fails).
struct Scratch {
    admin: diesel::PgConnection,
    name: String,
}

impl Scratch {
    fn set_reachable(&mut self, reachable: bool) {
        self.admin
            .batch_execute(&format!(
                "ALTER DATABASE {} ALLOW_CONNECTIONS {reachable}",
                self.name
            ))
            .expect("alter database");
        if !reachable {
            self.admin
                .batch_execute(&format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
                    self.name
                ))
                .expect("terminate sessions");
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = self.admin.batch_execute(&format!(
            "ALTER DATABASE {} ALLOW_CONNECTIONS true",
            self.name
        ));
        let _ = self.admin.batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

#[actix_web::test]
async fn postgres_down_is_503_and_the_service_recovers() {
    let admin_url = admin_url();
    let mut admin = match diesel::PgConnection::establish(&admin_url) {
        Ok(conn) => conn,
        Err(error) => {
            assert!(
                !required(),
                "PostgreSQL is required but unreachable: {error}"
            );
            eprintln!("skipping: PostgreSQL unreachable ({error})");
            return;
        }
    };
    let name = format!("pb_unreachable_{}", hex::encode(rand::random::<[u8; 6]>()));
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create database");
    let mut scratch = Scratch { admin, name };
    let (server, _) = admin_url.rsplit_once('/').expect("database in URL");
    let url = format!("{server}/{}", scratch.name);
    let config = test_config(&url);
    let pool = db::pool(
        &DatabaseUrl::parse(&url).expect("url"),
        PoolOptions {
            size: 2,
            timeout: Duration::from_millis(config.pool_timeout_ms),
            statement_counter: None,
            on_connect: Some(phonebook::auth::credentials::listen_for_revocations),
            min_idle: 1,
        },
    )
    .expect("pool");
    const TOKEN: &str = "unreachable-test-token-0123456789abcdef";
    let token = TOKEN;
    {
        let mut conn = pool.get().expect("connection");
        db::migrate(&mut conn).expect("migrate");
        phonebook::cli::bootstrap(&mut conn, Some(token)).expect("bootstrap");
    }
    let service = init_service(router::build(web::Data::new(
        AppState::new(pool, config).expect("state"),
    )))
    .await;
    let call = |path: &'static str| {
        TestRequest::get()
            .uri(path)
            .insert_header(("Authorization", format!("Bearer {TOKEN}")))
            .to_request()
    };

    assert_eq!(call_service(&service, call("/health")).await.status(), 200);
    assert_eq!(
        call_service(&service, call("/api/v2/prospects"))
            .await
            .status(),
        200
    );

    scratch.set_reachable(false);
    for path in ["/api/v2/prospects", "/api/v2", "/api/v2/phoneNumbers/1"] {
        let response = call_service(&service, call(path)).await;
        assert_eq!(response.status(), 503, "{path}");
        let content_type = response
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(content_type, crate::helpers::JSONAPI);
        let body: Value = serde_json::from_slice(&read_body(response).await).expect("JSON");
        crate::helpers::assert_valid_document(&body);
        assert_eq!(body["errors"][0]["code"], "serviceUnavailable");
        assert!(
            !body.to_string().contains(&scratch.name),
            "no internals in a 5xx: {body}"
        );
    }
    let started = Instant::now();
    assert_eq!(call_service(&service, call("/health")).await.status(), 503);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    // Under load, every request still answers 503 within about a second (its wait for a connection
    // counts from its arrival, not from when a blocking thread takes it), and so does /health.
    let service = std::rc::Rc::new(service);
    let started = Instant::now();
    let load: Vec<_> = (0..24)
        .map(|at| {
            let service = service.clone();
            let path = if at % 4 == 0 {
                "/health"
            } else {
                "/api/v2/prospects"
            };
            actix_web::rt::spawn(async move {
                let response = call_service(&*service, call(path)).await;
                (response.status().as_u16(), started.elapsed())
            })
        })
        .collect();
    for request in load {
        let (status, took) = request.await.expect("request");
        assert_eq!(status, 503);
        assert!(
            took < Duration::from_millis(1500),
            "answered after {took:?}"
        );
    }

    scratch.set_reachable(true);
    let back = Instant::now();
    let mut status = 0;
    while back.elapsed() < Duration::from_secs(5) {
        status = call_service(&*service, call("/health"))
            .await
            .status()
            .as_u16();
        if status == 200 {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, 200, "/health sees the database back");
    assert!(
        back.elapsed() < Duration::from_secs(1),
        "/health answered 200 only {:?} after the database was back",
        back.elapsed()
    );
    let mut status = 0;
    for _ in 0..50 {
        status = call_service(&*service, call("/api/v2/prospects"))
            .await
            .status()
            .as_u16();
        if status == 200 {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        status, 200,
        "the same process serves again once the database is back"
    );
}
