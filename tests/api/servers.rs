//! Real `phonebook serve` processes for the tests of several instances: started on free loopback
//! ports with the environment a test gives, talked to over plain HTTP/1.1, killed when dropped.
//! Every wait is bounded.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::helpers::Response;

/// A free loopback port (free when asked; the server binds it right after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("address")
        .port()
}

/// A running `phonebook serve`, killed when dropped (even when the test fails).
pub struct Server {
    pub port: u16,
    child: Child,
    /// Its stdout and stderr, for failure messages and for what it printed.
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts `phonebook serve` on a free port with `env` (and nothing else of the test's
    /// environment); does not wait for it.
    pub fn spawn(env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("serve.log");
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_phonebook"))
            .arg("serve")
            .env_clear()
            .env("PHONEBOOK_BIND", format!("127.0.0.1:{port}"))
            .env("PHONEBOOK_WORKERS", "1")
            .env("PHONEBOOK_DB_POOL_SIZE", "4")
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("start phonebook serve");
        Server {
            port,
            child,
            log,
            _dir: dir,
        }
    }

    /// Waits (at most 60 s) until `/health` answers 200.
    pub fn wait_healthy(&mut self) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if let Some(exit) = self.child.try_wait().expect("wait") {
                panic!("phonebook serve exited with {exit}: {}", self.output());
            }
            if self.get("/health", None).is_ok_and(|r| r.status == 200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("phonebook serve did not become healthy: {}", self.output());
    }

    /// Kills it with SIGKILL, as a crash or an OOM kill would, and reaps it.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("wait");
    }

    /// Sends SIGTERM and waits (at most `within`) for it to exit; panics if it does not.
    pub fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        let started = Instant::now();
        while started.elapsed() < within {
            if let Some(exit) = self.child.try_wait().expect("wait") {
                return exit;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "phonebook serve still runs {within:?} after SIGTERM: {}",
            self.output()
        );
    }

    /// What it printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> std::io::Result<Response> {
        self.request("GET", path, token, &[], None)
    }

    /// One request over a new connection (`Connection: close`), with a 30 s read timeout.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> std::io::Result<Response> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n",
            self.port
        );
        if let Some(token) = token {
            head += &format!("Authorization: Bearer {token}\r\n");
        }
        for (name, value) in headers {
            head += &format!("{name}: {value}\r\n");
        }
        if let Some(body) = body {
            head += &format!("Content-Length: {}\r\n", body.len());
        }
        head += "\r\n";
        stream.write_all(head.as_bytes())?;
        stream.write_all(body.unwrap_or_default().as_bytes())?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        parse(&raw)
    }
}

/// An HTTP/1.1 response read to the end of the connection (bodies are not chunked: the service
/// sends a `Content-Length`).
fn parse(raw: &[u8]) -> std::io::Result<Response> {
    let bad = || std::io::Error::other("not an HTTP response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(bad)?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| bad())?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(bad)?;
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').ok_or_else(bad)?;
        headers.append(
            HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad())?,
            HeaderValue::from_str(value.trim()).map_err(|_| bad())?,
        );
    }
    let text = String::from_utf8_lossy(&raw[split + 4..]).into_owned();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    let declared_length = headers
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok()?.parse().ok());
    Ok(Response {
        status,
        headers,
        body,
        text,
        declared_length,
    })
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
