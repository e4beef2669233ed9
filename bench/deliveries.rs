//! `phonebook-bench-deliveries`: the two halves of the webhook delivery benchmark (`bench/deliveries`,
//! bench/README.md).
//!
//! - `phonebook-bench-deliveries queue COUNT RECEIVER_URL` (with `DATABASE_URL`): migrates the
//!   database, creates one active webhook to `RECEIVER_URL` and queues `COUNT` deliveries to it, of
//!   `COUNT` stored changes (a prospect's `created`, as a write records it), in a few bulk
//!   statements. Run it while no `serve` runs on the database: the worker would start sending
//!   while the queue is still being filled.
//! - `phonebook-bench-deliveries receive PORT`: an HTTP receiver on `127.0.0.1:PORT` that answers
//!   every `POST` with 204 at once and counts them; `GET /count` answers `<requests> <distinct
//!   webhook-id values>`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use phonebook::db::{self, DatabaseUrl, DbConnection, PoolOptions};
use phonebook::models::webhook::{NewWebhook, Webhook};

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// A prospect's `created` snapshot, as the feed stores one (about the size of a real one).
const AFTER: &str = r#"{"attributes":{"firstName":"Ada","lastName":"Lovelace","title":"Analyst","company":"Analytical Engines Ltd","createdAt":"2026-01-01T00:00:00.000Z","updatedAt":"2026-01-01T00:00:00.000Z"},"relationships":{"owner":"1"}}"#;
const CHANGED: &str =
    r#"["firstName","lastName","title","company","createdAt","updatedAt","owner"]"#;

#[derive(QueryableByName)]
struct Bound {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

fn max_change(conn: &mut DbConnection) -> QueryResult<i64> {
    diesel::sql_query("SELECT COALESCE(MAX(id), 0) AS id FROM changes")
        .get_result::<Bound>(conn)
        .map(|row| row.id)
}

/// `queue COUNT RECEIVER_URL`.
fn queue(count: i64, receiver: &str) -> Result<(), Failure> {
    let started = Instant::now();
    let url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is required")?;
    let pool = db::pool(&DatabaseUrl::parse(&url)?, PoolOptions::single())?;
    let mut pooled = pool.get()?;
    let conn: &mut DbConnection = &mut pooled;
    db::migrate(conn)?;
    let webhook = Webhook::create(
        conn,
        &NewWebhook {
            url: receiver.to_owned(),
            resource_types: vec!["phoneNumber", "prospect"],
            active: true,
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned(),
        },
    )?;
    let first = max_change(conn)? + 1;
    // Numbers 1..=COUNT from a recursive CTE (SQLite) or generate_series (PostgreSQL).
    let series = match conn {
        DbConnection::Sqlite(_) => format!(
            "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {count}) \
             SELECT n FROM s"
        ),
        DbConnection::Pg(_) => format!("SELECT generate_series(1, {count}) AS n"),
    };
    conn.transaction(|conn| -> QueryResult<()> {
        diesel::sql_query(format!(
            "INSERT INTO changes (action, resource_type, resource_id, changed_fields, \
             before_state, after_state, actor_id, occurred_at) \
             SELECT 'created', 'prospect', n, '{CHANGED}', NULL, '{AFTER}', NULL, \
             '2026-01-01 00:00:00' FROM ({series}) AS numbers ORDER BY n"
        ))
        .execute(conn)?;
        diesel::sql_query(format!(
            "INSERT INTO webhook_deliveries (webhook_id, change_id, attempts, next_attempt_at) \
             SELECT {}, id, 0, occurred_at FROM changes WHERE id >= {first} ORDER BY id",
            webhook.id
        ))
        .execute(conn)?;
        Ok(())
    })?;
    if let DbConnection::Pg(conn) = conn {
        diesel::sql_query("ANALYZE").execute(conn)?;
    }
    eprintln!(
        "queued {count} deliveries to webhook {} in {:.1}s",
        webhook.id,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// What the receiver has seen.
struct Seen {
    requests: AtomicU64,
    ids: Mutex<HashSet<u64>>,
}

async fn delivery(request: HttpRequest, seen: web::Data<Seen>) -> HttpResponse {
    let id =
        (request.headers().get("webhook-id")).and_then(|value| value.to_str().ok()?.parse().ok());
    if let Some(id) = id {
        seen.ids.lock().unwrap().insert(id);
    }
    seen.requests.fetch_add(1, Ordering::Relaxed);
    HttpResponse::NoContent().finish()
}

async fn count(seen: web::Data<Seen>) -> HttpResponse {
    let distinct = seen.ids.lock().unwrap().len();
    HttpResponse::Ok().body(format!(
        "{} {distinct}\n",
        seen.requests.load(Ordering::Relaxed)
    ))
}

/// `receive PORT`.
fn receive(port: u16) -> Result<(), Failure> {
    let seen = web::Data::new(Seen {
        requests: AtomicU64::new(0),
        ids: Mutex::new(HashSet::new()),
    });
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(move || {
            App::new()
                .app_data(seen.clone())
                .route("/count", web::get().to(count))
                .default_service(web::post().to(delivery))
        })
        .workers(1)
        .bind(("127.0.0.1", port))?
        .run()
        .await
    })?;
    Ok(())
}

fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [command, count, receiver] if command == "queue" => queue(count.parse()?, receiver),
        [command, port] if command == "receive" => receive(port.parse()?),
        _ => {
            Err("usage: phonebook-bench-deliveries queue COUNT RECEIVER_URL | receive PORT".into())
        }
    }
}
