#![allow(dead_code)] // Each test file uses its own part of the harness.

//! The test harness: each test gets an isolated application and database — a temporary SQLite
//! file, or a fresh schema in a PostgreSQL database — driven in-process through `app::build`.
//! Every JSON:API document a test receives is validated against the JSON:API 1.1 response schema.
//!
//! PostgreSQL: `PHONEBOOK_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).
//! When it is unreachable, PostgreSQL tests are skipped — unless `CI` or
//! `PHONEBOOK_REQUIRE_POSTGRES` is set, where they fail.

use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::http::Method;
use actix_web::test::TestRequest;
use actix_web::web;
use diesel::connection::SimpleConnection;
use diesel::Connection;
use futures_util::future::LocalBoxFuture;
use serde_json::{json, Value};

use phonebook::config::Config;
use phonebook::db::{self, DatabaseUrl, DbConnection, PoolOptions};
use phonebook::models::{ApiToken, User};
use phonebook::permissions::Role;
use phonebook::router;
use phonebook::state::AppState;

pub const JSONAPI: &str = "application/vnd.api+json";
pub const ATOMIC: &str = "application/vnd.api+json; ext=\"https://jsonapi.org/ext/atomic\"";

/// Runs top-level test functions once per backend. For each `name` listed,
/// `backend_tests!(name, ...)` generates `mod name { fn sqlite(); fn postgres(); }`, each test
/// calling `async fn name(app: TestApp)` of the invoking module with a fresh app; the PostgreSQL
/// test is skipped (or fails, see the module doc) when the server is unreachable.
///
/// `backend_tests!(with adjust; name, ...)` first passes each app's configuration to the
/// invoking module's `fn adjust(config: &mut Config)` (rate limit, body size, region...).
#[macro_export]
macro_rules! backend_tests {
    (with $adjust:ident; $($name:ident),+ $(,)?) => {$(
        mod $name {
            #[actix_web::test]
            async fn sqlite() {
                super::$name($crate::helpers::TestApp::sqlite_with(super::$adjust).await).await
            }

            #[actix_web::test]
            async fn postgres() {
                if let Some(app) = $crate::helpers::TestApp::postgres_with(super::$adjust).await {
                    super::$name(app).await
                }
            }
        }
    )+};
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[actix_web::test]
            async fn sqlite() {
                super::$name($crate::helpers::TestApp::sqlite().await).await
            }

            #[actix_web::test]
            async fn postgres() {
                if let Some(app) = $crate::helpers::TestApp::postgres().await {
                    super::$name(app).await
                }
            }
        }
    )+};
}

fn schema() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        // The shared copy beside the project is the reference; a vendored copy keeps the suite
        // runnable from a lone clone.
        let shared = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/jsonapi-schema/jsonapi-1.1-response.schema.json"
        );
        let vendored = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/api/jsonapi-1.1-response.schema.json"
        );
        let text = std::fs::read_to_string(shared)
            .or_else(|_| std::fs::read_to_string(vendored))
            .expect("JSON:API schema");
        let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
        jsonschema::validator_for(&schema).expect("schema compiles")
    })
}

/// The `(type, id)` of each resource in a document's `included`, in order.
pub fn included_keys(document: &Value) -> Vec<(String, String)> {
    let included = document["included"].as_array().expect("included");
    included
        .iter()
        .map(|r| {
            let text = |member: &str| r[member].as_str().expect(member).to_owned();
            (text("type"), text("id"))
        })
        .collect()
}

/// Panics unless `document` is a valid JSON:API 1.1 response document.
pub fn assert_valid_document(document: &Value) {
    let errors: Vec<String> = schema()
        .iter_errors(document)
        .map(|error| format!("{} at {}", error, error.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "response is not a valid JSON:API document: {errors:#?}\n{document:#}"
    );
}

/// A response as a client sees it.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    /// The length the body declares for `Content-Length` (for a `HEAD`, the GET body's).
    pub declared_length: Option<u64>,
    pub body: Value,
    pub text: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The `code` of the first error object.
    pub fn error_code(&self) -> &str {
        self.body["errors"][0]["code"].as_str().unwrap_or_default()
    }

    /// `data.id` of a single-resource document.
    pub fn id(&self) -> String {
        self.body["data"]["id"]
            .as_str()
            .expect("data.id")
            .to_owned()
    }

    pub fn attr(&self, name: &str) -> &Value {
        &self.body["data"]["attributes"][name]
    }

    /// Panics with the body when the status is not `expected`.
    #[track_caller]
    pub fn expect(self, expected: u16) -> Self {
        assert_eq!(
            self.status, expected,
            "unexpected status; body: {}",
            self.text
        );
        self
    }
}

type Call = Rc<dyn Fn(actix_http::Request) -> LocalBoxFuture<'static, ServiceResponse>>;

/// Keeps a test's database alive and removes it afterwards.
enum Database {
    Sqlite(tempfile::TempDir),
    Postgres { admin_url: String, schema: String },
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Database::Postgres { admin_url, schema } = self {
            if let Ok(mut conn) = diesel::PgConnection::establish(&test_database_url(admin_url)) {
                let _ = conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        }
    }
}

/// An isolated application with its own database and an admin token.
pub struct TestApp {
    call: Call,
    pub state: web::Data<AppState>,
    pub admin_token: String,
    pub database_url: String,
    /// SQL statements run by the pool since the app started.
    pub statements: Arc<db::Statements>,
    /// The configuration adjustment the app was started with (for [`TestApp::another`]).
    adjust: Rc<dyn Fn(&mut Config)>,
    _database: Rc<Database>,
}

fn admin_postgres_url() -> String {
    std::env::var("PHONEBOOK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The database the PostgreSQL tests use (one schema per test inside it).
fn test_database_url(admin_url: &str) -> String {
    let (server, _) = admin_url
        .rsplit_once('/')
        .expect("postgres URL with a database");
    format!("{server}/phonebook_test")
}

fn postgres_required() -> bool {
    ["CI", "PHONEBOOK_REQUIRE_POSTGRES"].iter().any(|name| {
        std::env::var(name).is_ok_and(|value| !value.is_empty() && value != "false" && value != "0")
    })
}

fn required(names: &[&str]) -> bool {
    names.iter().any(|name| {
        std::env::var(name).is_ok_and(|value| !value.is_empty() && value != "false" && value != "0")
    })
}

/// The Redis the tests use (`PHONEBOOK_TEST_REDIS_URL`, default `redis://127.0.0.1:6379/0`), or
/// `None` (the test is skipped, with a note) when it does not answer — unless `CI` or
/// `PHONEBOOK_REQUIRE_REDIS` is set, where the test fails. Tests keep apart by key prefix
/// ([`redis_prefix`]).
pub fn test_redis_url() -> Option<String> {
    let url = std::env::var("PHONEBOOK_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into());
    let answered = redis::Client::open(url.as_str())
        .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(2)))
        .and_then(|mut conn| redis::cmd("PING").query::<String>(&mut conn));
    match answered {
        Ok(_) => Some(url),
        Err(error) => {
            assert!(
                !required(&["CI", "PHONEBOOK_REQUIRE_REDIS"]),
                "Redis is required (CI) but unreachable at {url}: {error}"
            );
            eprintln!("skipping Redis test: {url} unreachable ({error})");
            None
        }
    }
}

/// A key prefix of a test's own in the shared Redis.
pub fn redis_prefix() -> String {
    format!("phonebook-test:{}:", hex::encode(rand::random::<[u8; 8]>()))
}

/// Creates the shared test database once per process (racing processes may both try).
fn postgres_ready() -> Result<(), String> {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    READY
        .get_or_init(|| {
            let admin_url = admin_postgres_url();
            let mut admin =
                diesel::PgConnection::establish(&admin_url).map_err(|error| error.to_string())?;
            let _ = admin.batch_execute("CREATE DATABASE phonebook_test");
            diesel::PgConnection::establish(&test_database_url(&admin_url))
                .map(drop)
                .map_err(|error| error.to_string())
        })
        .clone()
}

/// A fresh, empty schema in the PostgreSQL test database and the URL that works in it, or `None`
/// (the test is skipped) when the server is unreachable outside CI.
fn empty_postgres() -> Option<(String, Database)> {
    if let Err(error) = postgres_ready() {
        assert!(
            !postgres_required(),
            "PostgreSQL is required (CI) but unreachable: {error}"
        );
        eprintln!("skipping PostgreSQL test: server unreachable ({error})");
        return None;
    }
    let admin_url = admin_postgres_url();
    let schema = format!("t_{}", hex::encode(rand::random::<[u8; 8]>()));
    let mut conn =
        diesel::PgConnection::establish(&test_database_url(&admin_url)).expect("test database");
    conn.batch_execute(&format!("CREATE SCHEMA {schema}"))
        .expect("create schema");
    let url = format!(
        "{}?options=-c%20search_path%3D{schema}",
        test_database_url(&admin_url)
    );
    Some((url, Database::Postgres { admin_url, schema }))
}

/// An empty PostgreSQL database for processes a test starts itself, removed when dropped.
pub struct EmptyPostgres {
    pub url: String,
    _database: Database,
}

impl EmptyPostgres {
    /// `None` (test skipped, with a note) when PostgreSQL is unreachable outside CI.
    pub fn new() -> Option<EmptyPostgres> {
        let (url, database) = empty_postgres()?;
        Some(EmptyPostgres {
            url,
            _database: database,
        })
    }

    /// A direct connection to it.
    pub fn conn(&self) -> DbConnection {
        DbConnection::Pg(diesel::PgConnection::establish(&self.url).expect("connection"))
    }
}

/// An empty database on either backend for processes a test starts itself (`phonebook serve`
/// and the command line), removed when dropped.
pub struct ProcessDatabase {
    pub url: String,
    _database: Database,
}

impl ProcessDatabase {
    /// A fresh SQLite file in a temporary directory.
    pub fn sqlite() -> ProcessDatabase {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("phonebook.db").display());
        ProcessDatabase {
            url,
            _database: Database::Sqlite(dir),
        }
    }

    /// A fresh PostgreSQL schema; `None` (test skipped, with a note) when PostgreSQL is
    /// unreachable outside CI.
    pub fn postgres() -> Option<ProcessDatabase> {
        let (url, database) = empty_postgres()?;
        Some(ProcessDatabase {
            url,
            _database: database,
        })
    }

    /// A direct connection to it (once the processes have migrated it).
    pub fn conn(&self) -> r2d2::PooledConnection<db::Manager> {
        test_pool(&self.url, None).get().expect("connection")
    }
}

/// Like [`backend_tests!`], for synchronous tests that start their own processes:
/// `process_tests!(name, ...)` generates `mod name { fn sqlite(); fn postgres(); }`, each calling
/// `fn name(database: ProcessDatabase)` of the invoking module with an empty database.
#[macro_export]
macro_rules! process_tests {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                super::$name($crate::helpers::ProcessDatabase::sqlite())
            }

            #[test]
            fn postgres() {
                if let Some(database) = $crate::helpers::ProcessDatabase::postgres() {
                    super::$name(database)
                }
            }
        }
    )+};
}

fn test_pool(url: &str, statements: Option<Arc<db::Statements>>) -> db::Pool {
    const SIZE: u32 = 4;
    db::pool(
        &DatabaseUrl::parse(url).expect("url"),
        PoolOptions {
            size: SIZE,
            timeout: Duration::from_secs(10),
            statement_counter: statements,
            on_connect: Some(phonebook::auth::credentials::listen_for_revocations),
            // Every connection from the start: statement counts never include a lookup that a
            // connection joining the pool midway costs.
            min_idle: SIZE,
        },
    )
    .expect("pool")
}

pub fn test_config(database_url: &str) -> Config {
    let database_url = database_url.to_owned();
    Config::from_lookup(move |name| match name {
        "DATABASE_URL" => Some(database_url.clone()),
        "PHONEBOOK_RATE_LIMIT" => Some("0".into()),
        _ => None,
    })
    .expect("test configuration")
}

impl TestApp {
    pub async fn sqlite() -> TestApp {
        Self::sqlite_with(|_| {}).await
    }

    /// A SQLite app whose configuration `adjust` may change (rate limit, body size...).
    pub async fn sqlite_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("phonebook.db").display());
        Self::start(url, Database::Sqlite(dir), adjust).await
    }

    /// A PostgreSQL app, or `None` (test skipped) when the server is unreachable outside CI.
    pub async fn postgres() -> Option<TestApp> {
        Self::postgres_with(|_| {}).await
    }

    pub async fn postgres_with(adjust: impl FnOnce(&mut Config)) -> Option<TestApp> {
        let (url, database) = empty_postgres()?;
        Some(Self::start(url, database, adjust).await)
    }

    async fn start(url: String, database: Database, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = test_config(&url);
        adjust(&mut config);
        let kept = config.clone();
        let adjust: Rc<dyn Fn(&mut Config)> = Rc::new(move |config| *config = kept.clone());
        let pool = test_pool(&url, None);
        let admin_token = {
            let mut conn = pool.get().expect("connection");
            db::migrate(&mut conn).expect("migrations");
            match phonebook::cli::bootstrap(&mut conn, None).expect("bootstrap") {
                phonebook::cli::Bootstrap::Generated(token) => token,
                other => panic!("a fresh database gets a generated admin token, not {other:?}"),
            }
        };
        drop(pool);
        Self::serve(url, Rc::new(database), adjust, admin_token).await
    }

    /// Another process of the service on this app's database, with the same configuration: what
    /// a second instance, or this one after a restart, would be.
    pub async fn another(&self) -> TestApp {
        Self::serve(
            self.database_url.clone(),
            self._database.clone(),
            self.adjust.clone(),
            self.admin_token.clone(),
        )
        .await
    }

    async fn serve(
        url: String,
        database: Rc<Database>,
        adjust: Rc<dyn Fn(&mut Config)>,
        admin_token: String,
    ) -> TestApp {
        let mut config = test_config(&url);
        adjust(&mut config);
        let statements = Arc::new(db::Statements::default());
        let pool = test_pool(&url, Some(statements.clone()));
        let state = web::Data::new(AppState::new(pool, config).expect("state"));
        let service = Rc::new(actix_web::test::init_service(router::build(state.clone())).await);
        let call: Call = Rc::new(move |request| {
            let service = service.clone();
            Box::pin(async move {
                match service.call(request).await {
                    Ok(response) => response.map_into_boxed_body(),
                    Err(error) => panic!("service error: {error}"),
                }
            })
        });
        TestApp {
            call,
            state,
            admin_token,
            database_url: url,
            statements,
            adjust,
            _database: database,
        }
    }

    /// A direct database connection (for arranging data and inspecting results).
    pub fn conn(&self) -> r2d2::PooledConnection<db::Manager> {
        self.state.pool.get().expect("connection")
    }

    /// Creates a user with `role` and a token with `scopes`; returns (user id, token).
    pub fn user(&self, email: &str, role: Role, scopes: &str) -> (i64, String) {
        let mut conn = self.conn();
        let user = User::create(&mut conn, email, email, role).expect("user");
        let token = phonebook::auth::generate_token();
        ApiToken::create(
            &mut conn,
            user.id,
            &phonebook::auth::hash_token(&token),
            scopes,
            None,
        )
        .expect("token");
        (user.id, token)
    }

    /// Sends a request; `token` None sends no Authorization header.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut request = TestRequest::default().method(method.clone()).uri(path);
        if let Some(token) = token {
            request = request.insert_header(("Authorization", format!("Bearer {token}")));
        }
        if let Some(body) = body {
            let content_type = if path.starts_with("/api/v2/operations") {
                ATOMIC
            } else {
                JSONAPI
            };
            request = request
                .insert_header(("Content-Type", content_type))
                .set_payload(body.to_string());
        }
        for (name, value) in headers {
            request = request.insert_header((*name, *value));
        }
        self.send_request(request.to_request()).await
    }

    /// Sends a prepared request and reads the response. A `HEAD` response must have no body; its
    /// headers are those of a JSON:API response all the same.
    pub async fn send_request(&self, request: actix_http::Request) -> Response {
        let head = request.method() == Method::HEAD;
        let response = (self.call)(request).await;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let declared_length = match actix_web::body::MessageBody::size(response.response().body()) {
            actix_web::body::BodySize::Sized(length) => Some(length),
            _ => None,
        };
        let bytes = actix_web::body::to_bytes(response.into_body())
            .await
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        };
        let content_type = headers
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        if head {
            assert!(bytes.is_empty(), "a HEAD response with a body: {text}");
        } else if content_type.starts_with(JSONAPI) {
            assert_valid_document(&body);
            assert!(!text.is_empty(), "JSON:API response without a body");
        }
        if status != 304 && status != 204 && !path_is_plain(&headers) {
            assert!(
                content_type.starts_with(JSONAPI),
                "status {status} without the JSON:API media type: {content_type:?} {text}"
            );
        }
        Response {
            status,
            headers,
            declared_length,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(
            Method::GET,
            path,
            Some(&self.admin_token.clone()),
            None,
            &[],
        )
        .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.send(
            Method::POST,
            path,
            Some(&self.admin_token.clone()),
            Some(&body),
            &[],
        )
        .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Response {
        self.send(
            Method::PATCH,
            path,
            Some(&self.admin_token.clone()),
            Some(&body),
            &[],
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.send(
            Method::DELETE,
            path,
            Some(&self.admin_token.clone()),
            None,
            &[],
        )
        .await
    }

    /// Creates a prospect as the admin; returns its id.
    pub async fn prospect(&self, first_name: &str) -> String {
        self.post("/api/v2/prospects", serde_json::json!({"data": {"type": "prospect", "attributes": {"firstName": first_name}}}))
            .await
            .expect(201)
            .id()
    }

    /// Creates a number on a prospect as the admin; returns the response.
    pub async fn number(&self, prospect_id: &str, attributes: Value) -> Response {
        self.post(
            "/api/v2/phoneNumbers",
            serde_json::json!({"data": {"type": "phoneNumber", "attributes": attributes,
                "relationships": {"prospect": {"data": {"type": "prospect", "id": prospect_id}}}}}),
        )
        .await
    }

    /// The statements run so far.
    pub fn statement_count(&self) -> u64 {
        self.statements.run.load(Ordering::Relaxed)
    }

    /// The SQL of the statements run so far that diesel did not keep prepared, in order.
    pub fn statements_not_kept(&self) -> Vec<String> {
        self.statements.not_kept.lock().expect("statements").clone()
    }

    /// The rows of `table` (or any `FROM` clause).
    pub fn count(&self, from: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self.conn();
        let conn: &mut DbConnection = &mut conn;
        diesel::RunQueryDsl::get_result::<Count>(
            diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {from}")),
            conn,
        )
        .expect("count")
        .n
    }

    /// The plan of `sql` after `ANALYZE`, as text: SQLite's `EXPLAIN QUERY PLAN` details, or
    /// PostgreSQL's `EXPLAIN` with the planner settings `off` turned off for it (tiny test tables
    /// would otherwise make a full scan the cheapest plan).
    pub fn plan(&self, sql: &str, off: &[&str]) -> String {
        use diesel::sql_types::Text;
        #[derive(diesel::QueryableByName)]
        struct Sqlite {
            #[diesel(sql_type = Text)]
            detail: String,
        }
        #[derive(diesel::QueryableByName)]
        struct Pg {
            #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
            line: String,
        }
        let mut pooled = self.conn();
        let lines: Vec<String> = match &mut *pooled {
            DbConnection::Sqlite(conn) => {
                conn.batch_execute("ANALYZE").expect("analyze");
                let explain = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"));
                let rows = diesel::RunQueryDsl::load::<Sqlite>(explain, conn).expect("explain");
                rows.into_iter().map(|row| row.detail).collect()
            }
            DbConnection::Pg(conn) => {
                let settings: String = off
                    .iter()
                    .map(|name| format!("SET {name} = off; "))
                    .collect();
                conn.batch_execute(&format!("ANALYZE; {settings}"))
                    .expect("settings");
                let explain = diesel::sql_query(format!("EXPLAIN (COSTS OFF) {sql}"));
                let rows = diesel::RunQueryDsl::load::<Pg>(explain, conn).expect("explain");
                let resets: String = off.iter().map(|name| format!("RESET {name}; ")).collect();
                conn.batch_execute(&resets).expect("reset");
                rows.into_iter().map(|row| row.line).collect()
            }
        };
        lines.join("\n")
    }

    /// PostgreSQL's generic plan of `sql` (with parameters `$1`… of `types`): the plan a cached
    /// statement runs once PostgreSQL stops planning it for each run's values. `None` on SQLite,
    /// which plans every statement as it is prepared.
    pub fn generic_plan(&self, sql: &str, types: &str) -> Option<String> {
        #[derive(diesel::QueryableByName)]
        struct Pg {
            #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
            line: String,
        }
        let mut pooled = self.conn();
        let DbConnection::Pg(conn) = &mut *pooled else {
            return None;
        };
        let arity = types.split(',').count();
        let nulls = vec!["NULL"; arity].join(", ");
        conn.batch_execute(&format!(
            "ANALYZE; SET plan_cache_mode = force_generic_plan; PREPARE generic ({types}) AS {sql}"
        ))
        .expect("prepare");
        let explain = diesel::sql_query(format!("EXPLAIN (COSTS OFF) EXECUTE generic ({nulls})"));
        let rows = diesel::RunQueryDsl::load::<Pg>(explain, conn).expect("explain");
        conn.batch_execute("DEALLOCATE generic; RESET plan_cache_mode")
            .expect("reset");
        Some(
            rows.into_iter()
                .map(|row| row.line)
                .collect::<Vec<_>>()
                .join("\n"),
        )
    }

    /// Runs raw SQL (test setup).
    pub fn execute(&self, sql: &str) {
        let mut conn = self.conn();
        let conn: &mut DbConnection = &mut conn;
        conn.batch_execute(sql).expect("sql");
    }
}

/// `/health` and `/api/v2/openapi.json` answer plain JSON by design.
fn path_is_plain(headers: &HeaderMap) -> bool {
    headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"))
}

// ---------------------------------------------------------------------------------------------
// Requests and documents several test files use.

/// Sends a request with exactly the given headers and raw body.
pub async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Response {
    let mut request = TestRequest::default().method(method).uri(path);
    if let Some(token) = token {
        request = request.insert_header(("Authorization", format!("Bearer {token}")));
    }
    for (name, value) in headers {
        request = request.insert_header((*name, *value));
    }
    if let Some(body) = body {
        request = request.set_payload(body.to_vec());
    }
    app.send_request(request.to_request()).await
}

/// A GET with the given `Accept`.
pub async fn get_accepting(app: &TestApp, path: &str, accept: &str) -> Response {
    raw(
        app,
        Method::GET,
        path,
        Some(&app.admin_token),
        &[("Accept", accept)],
        None,
    )
    .await
}

/// A request as `token` with a JSON:API body.
pub async fn as_user(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> Response {
    app.send(method, path, Some(token), body, &[]).await
}

pub fn pointer(response: &Response) -> &str {
    response.body["errors"][0]["source"]["pointer"]
        .as_str()
        .unwrap_or("<none>")
}

pub fn pointers(response: &Response) -> Vec<String> {
    response.body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|error| error["source"]["pointer"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

pub fn prospect_doc(attributes: Value) -> Value {
    json!({"data": {"type": "prospect", "attributes": attributes}})
}

pub fn ids(response: &Response) -> Vec<String> {
    response.body["data"]
        .as_array()
        .expect("data array")
        .iter()
        .map(|item| item["id"].as_str().expect("id").to_owned())
        .collect()
}

pub fn etag_of(response: &Response) -> String {
    let tag = response.header("etag").expect("ETag").to_owned();
    assert!(!tag.starts_with("W/"), "ETags are strong: {tag}");
    tag
}

/// Asserts that every `links` member in `value`, at any depth, holds an absolute URL (or null).
pub fn assert_links_absolute(value: &Value) {
    match value {
        Value::Object(map) => {
            for (name, member) in map {
                if name == "links" {
                    for (link_name, link) in member.as_object().expect("links object") {
                        if link_name == "type" {
                            continue;
                        }
                        if let Some(href) = link.as_str() {
                            assert!(
                                href.starts_with("http://") || href.starts_with("https://"),
                                "relative link {link_name}: {href}"
                            );
                        } else {
                            assert!(
                                link.is_null(),
                                "link {link_name} is neither a string nor null: {link}"
                            );
                        }
                    }
                } else {
                    assert_links_absolute(member);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(assert_links_absolute),
        _ => {}
    }
}

/// A real HTTP server for `app` on a free loopback port, in a thread of its own, stopped when the
/// guard is dropped; for tests whose clients run in other threads (concurrent writers).
pub struct LoopbackServer {
    pub port: u16,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        // Sends the command at once; the returned future only waits for completion.
        drop(self.handle.stop(false));
    }
}

pub fn serve_on_loopback(app: &TestApp) -> LoopbackServer {
    let state = app.state.clone();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = actix_web::HttpServer::new(move || router::build(state.clone()))
                .workers(2)
                .bind(("127.0.0.1", 0))
                .expect("bind loopback");
            let port = server.addrs()[0].port();
            let server = server.run();
            sender
                .send((port, server.handle()))
                .expect("report the port");
            server.await
        })
    });
    let (port, handle) = receiver
        .recv_timeout(Duration::from_secs(30))
        .expect("the loopback server starts");
    LoopbackServer { port, handle }
}

/// Runs the built `phonebook` with `args` on `database_url`, with nothing else from the
/// environment but quiet logs.
pub fn phonebook(database_url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_phonebook"))
        .args(args)
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run phonebook")
}

/// Asserts a 422 `validationError` whose first error points at `pointer`; returns its detail.
#[track_caller]
pub fn assert_invalid(response: Response, pointer: &str) -> String {
    let response = response.expect(422);
    assert_eq!(
        response.error_code(),
        "validationError",
        "{}",
        response.text
    );
    let error = &response.body["errors"][0];
    assert_eq!(error["status"], "422");
    assert_eq!(
        error["source"]["pointer"], pointer,
        "wrong pointer: {}",
        response.text
    );
    error["detail"].as_str().unwrap_or_default().to_owned()
}
