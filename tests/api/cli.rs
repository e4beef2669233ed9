//! The command line (API.md section 8), run as the built binary.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use actix_web::test::{call_service, init_service, read_body, TestRequest};
use actix_web::web;
use serde_json::Value;

use phonebook::db::{self, DatabaseUrl, PoolOptions};
use phonebook::router;
use phonebook::state::AppState;

use crate::helpers::{phonebook, test_config, JSONAPI};

/// Stdout of a successful command, which must be one line.
fn one_line(output: Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout is the value alone: {stdout:?}");
    lines[0].to_owned()
}

#[actix_web::test]
async fn tokens_made_on_the_command_line_authenticate_until_revoked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("cli.db").display());
    assert!(phonebook(&url, &["migrate"]).status.success());
    let id: i64 = one_line(phonebook(
        &url,
        &[
            "user",
            "create",
            "--name",
            "Grace Hopper",
            "--email",
            "grace@example.com",
            "--role",
            "member",
        ],
    ))
    .parse()
    .expect("the user id alone");
    let token = one_line(phonebook(
        &url,
        &["token", "create", "--email", "grace@example.com"],
    ));
    assert!(token.len() >= 43, "at least 256 bits: {token}");
    let reader = one_line(phonebook(
        &url,
        &[
            "token",
            "create",
            "--email",
            "grace@example.com",
            "--scopes",
            "prospects.read",
            "--expires-in",
            "1h",
        ],
    ));
    assert_ne!(token, reader);
    // Failures exit non-zero and print nothing on stdout.
    for args in [
        &[
            "user",
            "create",
            "--name",
            "Again",
            "--email",
            "grace@example.com",
            "--role",
            "member",
        ][..],
        &[
            "user",
            "create",
            "--name",
            "X",
            "--email",
            "x@example.com",
            "--role",
            "god",
        ][..],
        &["token", "create", "--email", "nobody@example.com"][..],
        &[
            "token",
            "create",
            "--email",
            "grace@example.com",
            "--scopes",
            "everything",
        ][..],
        &[
            "token",
            "create",
            "--email",
            "grace@example.com",
            "--expires-in",
            "soon",
        ][..],
    ] {
        let output = phonebook(&url, args);
        assert!(!output.status.success(), "{args:?} should fail");
        assert!(output.stdout.is_empty(), "{args:?}");
    }

    let pool = db::pool(
        &DatabaseUrl::parse(&url).expect("url"),
        PoolOptions {
            size: 2,
            timeout: Duration::from_secs(5),
            statement_counter: None,
            on_connect: Some(phonebook::auth::credentials::listen_for_revocations),
            min_idle: 1,
        },
    )
    .expect("pool");
    let service = init_service(router::build(web::Data::new(
        AppState::new(pool, test_config(&url)).expect("state"),
    )))
    .await;
    let get = |path: &str, token: &str| {
        TestRequest::get()
            .uri(path)
            .insert_header(("Authorization", format!("Bearer {token}")))
            .to_request()
    };
    let response = call_service(&service, get("/api/v2", &token)).await;
    assert_eq!(response.status(), 200);
    let entry: Value = serde_json::from_slice(&read_body(response).await).expect("JSON");
    assert_eq!(entry["meta"]["user"]["id"], id.to_string());
    assert_eq!(entry["meta"]["user"]["email"], "grace@example.com");
    assert_eq!(entry["meta"]["user"]["role"], "member");
    let mut scopes: Vec<&str> = entry["meta"]["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    scopes.sort_unstable();
    assert_eq!(
        scopes,
        vec!["phoneNumbers.all", "prospects.all", "users.read"]
    );
    assert_eq!(
        call_service(&service, get("/api/v2/prospects", &reader))
            .await
            .status(),
        200
    );
    assert_eq!(
        call_service(&service, get("/api/v2/phoneNumbers", &reader))
            .await
            .status(),
        403
    );
    let create = TestRequest::post()
        .uri("/api/v2/prospects")
        .insert_header(("Authorization", format!("Bearer {token}")))
        .insert_header(("Content-Type", JSONAPI))
        .set_payload(r#"{"data": {"type": "prospect", "attributes": {"firstName": "Ada"}}}"#)
        .to_request();
    assert_eq!(call_service(&service, create).await.status(), 201);

    let output = phonebook(&url, &["token", "revoke", "--email", "grace@example.com"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for revoked in [&token, &reader] {
        let response = call_service(&service, get("/api/v2/prospects", revoked)).await;
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.headers().get("www-authenticate").unwrap(),
            r#"Bearer realm="phonebook", error="invalid_token""#
        );
    }
    assert!(
        !phonebook(&url, &["token", "revoke", "--email", "nobody@example.com"])
            .status
            .success()
    );
}

/// Kills the server it holds when dropped (even when the test fails).
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP/1.1 request over a plain TCP connection; returns the status and the body.
fn http_get(port: u16, path: &str, token: Option<&str>) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let auth = token
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Connection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

#[test]
fn serve_honours_the_bootstrap_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("serve.db").display());
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .unwrap()
        .port();
    let bootstrap = "bootstrap-token-for-the-serve-test-0123456789";
    let mut server = Server(
        Command::new(env!("CARGO_BIN_EXE_phonebook"))
            .arg("serve")
            .env_clear()
            .env("DATABASE_URL", &url)
            .env("PHONEBOOK_BIND", format!("127.0.0.1:{port}"))
            .env("PHONEBOOK_BOOTSTRAP_TOKEN", bootstrap)
            .env("PHONEBOOK_WORKERS", "1")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start phonebook serve"),
    );
    let mut health = None;
    for _ in 0..300 {
        if let Ok(answer) = http_get(port, "/health", None) {
            health = Some(answer);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(health.expect("the server starts").0, 200);
    let (status, body) = http_get(port, "/api/v2", Some(bootstrap)).expect("request");
    assert_eq!(status, 200, "{body}");
    let entry: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(entry["meta"]["user"]["email"], "admin@localhost");
    assert_eq!(entry["meta"]["user"]["role"], "admin");
    assert_eq!(
        entry["links"]["self"],
        format!("http://127.0.0.1:{port}/api/v2")
    );
    assert_eq!(
        http_get(port, "/api/v2", Some("some-other-token"))
            .expect("request")
            .0,
        401
    );
    assert_eq!(http_get(port, "/api/v2", None).expect("request").0, 401);

    // SIGTERM: the server drains and exits cleanly.
    let pid = server.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success());
    let mut exit = None;
    for _ in 0..600 {
        exit = server.0.try_wait().expect("wait");
        if exit.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(exit.expect("the server exits after SIGTERM").success());
}
