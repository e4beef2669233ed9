//! `phonebook-bench-baseline`: the ceiling of this stack for W1. A bare actix-web + diesel server
//! with the service's own pool (same connection set-up, same pool size), its query run on the
//! backend's own connection (`on_backend!`: no multi-connection layer), answering
//! `GET /baseline/phoneNumbers?prospect=X` with the same indexed query W1 runs (numbers of one
//! prospect by id, one page of 50 plus the look-ahead row) and minimal JSON: no authentication, no
//! JSON:API layer, no middleware. With `&include=prospect` it also reads the prospect the way the
//! service does on each backend (PostgreSQL: joined into the page's statement; SQLite: a second
//! statement by id), so that W1 + include can be set against the same step on the bare stack.
//!
//! Environment: `DATABASE_URL`, `PHONEBOOK_BIND`, `PHONEBOOK_DB_POOL_SIZE`, `PHONEBOOK_WORKERS`
//! (read through the service's `Config`, so defaults match).

use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use phonebook::config::Config;
use phonebook::db::{self, DatabaseUrl, DbConnection, Pool, PoolOptions};
use phonebook::errors::ApiError;
use phonebook::models::prospect::RawProspect;
use phonebook::models::PhoneNumberRow;
use phonebook::schema::phone_numbers::dsl as col;
use phonebook::schema::prospects;

type Failure = Box<dyn std::error::Error + Send + Sync>;

#[derive(Deserialize)]
struct Params {
    prospect: i64,
    include: Option<String>,
}

#[derive(Serialize)]
struct Number {
    id: String,
    number: String,
    #[serde(rename = "rawNumber")]
    raw_number: String,
    #[serde(rename = "countryCode")]
    country_code: Option<String>,
    #[serde(rename = "phoneType")]
    phone_type: String,
    order: i32,
    status: String,
    #[serde(rename = "formattedNumber")]
    formatted_number: String,
    #[serde(rename = "updatedAt")]
    updated_at: String,
}

#[derive(Serialize)]
struct IncludedProspect {
    id: String,
    #[serde(rename = "firstName")]
    first_name: Option<String>,
    #[serde(rename = "lastName")]
    last_name: Option<String>,
    title: Option<String>,
    company: Option<String>,
    /// The stored list as it is (the service parses it into its `*Phones` arrays).
    phones: String,
    #[serde(rename = "updatedAt")]
    updated_at: String,
}

#[derive(Serialize)]
struct Doc {
    data: Vec<Number>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    included: Vec<IncludedProspect>,
}

const TIME: &str = "%Y-%m-%dT%H:%M:%S%.3fZ";

/// One page of the prospect's numbers, and the prospect when asked for, each statement on the
/// backend's own connection, as a hand-written server over one backend would run it.
fn page(
    conn: &mut DbConnection,
    prospect: i64,
    include: bool,
) -> QueryResult<(Vec<PhoneNumberRow>, Option<RawProspect>)> {
    let numbers = col::phone_numbers
        .filter(col::prospect_id.eq(prospect))
        .order(col::id)
        .limit(51);
    match conn {
        DbConnection::Pg(conn) if include => {
            let rows: Vec<(PhoneNumberRow, RawProspect)> = numbers
                .inner_join(prospects::table)
                .select((PhoneNumberRow::as_select(), RawProspect::as_select()))
                .load(conn)?;
            let mut prospect = None;
            let numbers = rows
                .into_iter()
                .map(|(number, row)| {
                    prospect.get_or_insert(row);
                    number
                })
                .collect();
            Ok((numbers, prospect))
        }
        conn => {
            let rows = phonebook::on_backend!(conn, |conn| numbers
                .select(PhoneNumberRow::as_select())
                .load(conn))?;
            let prospect = match (include, rows.first()) {
                (true, Some(_)) => phonebook::on_backend!(conn, |conn| prospects::table
                    .find(prospect)
                    .select(RawProspect::as_select())
                    .first(conn)
                    .optional())?,
                _ => None,
            };
            Ok((rows, prospect))
        }
    }
}

async fn list(pool: web::Data<Pool>, params: web::Query<Params>) -> Result<HttpResponse, ApiError> {
    let prospect = params.prospect;
    let include = params.include.as_deref() == Some("prospect");
    let (rows, included) = db::run(&pool, move |conn| Ok(page(conn, prospect, include)?)).await?;
    let data: Vec<Number> = rows
        .into_iter()
        .take(50)
        .map(|row| Number {
            id: row.id.to_string(),
            number: row.number,
            raw_number: row.raw_number,
            country_code: row.country_code,
            phone_type: row.phone_type,
            order: row.position,
            status: row.status,
            formatted_number: row.formatted_number,
            updated_at: row.updated_at.format(TIME).to_string(),
        })
        .collect();
    let included = included
        .into_iter()
        .map(|row| IncludedProspect {
            id: row.id.to_string(),
            first_name: row.first_name,
            last_name: row.last_name,
            title: row.title,
            company: row.company,
            phones: row.phones,
            updated_at: row.updated_at.format(TIME).to_string(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(Doc { data, included }))
}

fn main() -> Result<(), Failure> {
    let config = Config::from_env()?;
    let url = DatabaseUrl::parse(&config.database_url)?;
    let pool = db::pool(
        &url,
        PoolOptions {
            size: config.pool_size,
            timeout: Duration::from_millis(config.pool_timeout_ms),
            statement_counter: None,
        },
    )?;
    let pool = web::Data::new(pool);
    let bind = config.bind.clone();
    actix_web::rt::System::new().block_on(async move {
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(pool.clone())
                .route("/baseline/phoneNumbers", web::get().to(list))
        })
        .bind(&bind)?;
        if let Some(workers) = config.workers {
            server = server.workers(workers);
        }
        server.run().await
    })?;
    Ok(())
}
