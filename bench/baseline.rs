//! `phonebook-bench-baseline`: the ceiling of this stack for W1–W3. A bare actix-web + diesel
//! server with the service's own pool (same connection set-up, same pool size), its queries run on
//! the backend's own connection (`on_backend!`: no multi-connection layer), answering with the
//! statements the service runs and minimal JSON: no authentication, no JSON:API layer, no
//! middleware.
//!
//! - `GET /baseline/phoneNumbers?prospect=X` (W1): one prospect's numbers by id, one page of 50
//!   plus the look-ahead row.
//! - `GET /baseline/phoneNumbers?size=100` (W3 without a prospect): the first page of all numbers
//!   by id.
//! - `&include=prospect` on either also reads the page's prospects the way the service does on
//!   each backend (PostgreSQL: joined into the page's statement; SQLite: a second statement by id),
//!   so that W1 + include and W3 can be set against the same steps on the bare stack.
//! - `GET /baseline/phoneNumbers/{id}` (W2): one number by id.
//! - `POST /baseline/phoneNumbers` (W5): a bare insert. A minimal JSON body (`number`, the E.164
//!   number W5 sends, `phoneType` and `prospect`, an id) becomes one autocommit `INSERT ...
//!   RETURNING id` on a pooled connection, answered 201 with the id: no validation or parsing (the
//!   E.164 text is stored as the raw and the formatted number too), no authentication, no order
//!   maintenance (`position` 0), no change feed, no transaction. On SQLite concurrent inserts meet
//!   the pool's busy timeout, as any writer on that pool does.
//!
//! Environment: `DATABASE_URL`, `PHONEBOOK_BIND`, `PHONEBOOK_DB_POOL_SIZE`, `PHONEBOOK_WORKERS`
//! (read through the service's `Config`, so defaults match).

use std::collections::HashSet;
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use phonebook::config::Config;
use phonebook::db::schema::phone_numbers::dsl as col;
use phonebook::db::schema::{phone_numbers, prospects};
use phonebook::db::{self, DatabaseUrl, DbConnection, Pool, PoolOptions};
use phonebook::errors::ApiError;
use phonebook::models::prospect::RawProspect;
use phonebook::models::{in_order, unique, PhoneNumberRow};

type Failure = Box<dyn std::error::Error + Send + Sync>;

#[derive(Deserialize)]
struct Params {
    prospect: Option<i64>,
    size: Option<i64>,
    include: Option<String>,
}

/// The service's default page size.
const DEFAULT_SIZE: i64 = 50;

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
struct Doc<D> {
    data: D,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    included: Vec<IncludedProspect>,
}

const TIME: &str = "%Y-%m-%dT%H:%M:%S%.3fZ";

impl From<PhoneNumberRow> for Number {
    fn from(row: PhoneNumberRow) -> Self {
        Number {
            id: row.id.to_string(),
            number: row.number,
            raw_number: row.raw_number,
            country_code: row.country_code,
            phone_type: row.phone_type,
            order: row.position,
            status: row.status,
            formatted_number: row.formatted_number,
            updated_at: row.updated_at.format(TIME).to_string(),
        }
    }
}

impl From<RawProspect> for IncludedProspect {
    fn from(row: RawProspect) -> Self {
        IncludedProspect {
            id: row.id.to_string(),
            first_name: row.first_name,
            last_name: row.last_name,
            title: row.title,
            company: row.company,
            phones: row.phones,
            updated_at: row.updated_at.format(TIME).to_string(),
        }
    }
}

/// One page of numbers (of one prospect, or of all), and the prospects of the page's rows when asked
/// for, once each in first-seen order: each statement on the backend's own connection, as a
/// hand-written server over one backend would run it.
fn page(
    conn: &mut DbConnection,
    prospect: Option<i64>,
    size: i64,
    include: bool,
) -> QueryResult<(Vec<PhoneNumberRow>, Vec<RawProspect>)> {
    // Both shapes stay statically typed (no boxed query, whose SQL diesel renders per request).
    macro_rules! with_numbers {
        (|$numbers:ident| $body:expr) => {
            match prospect {
                Some(prospect) => {
                    let $numbers = col::phone_numbers
                        .filter(col::prospect_id.eq(prospect))
                        .order(col::id)
                        .limit(size + 1);
                    $body
                }
                None => {
                    let $numbers = col::phone_numbers.order(col::id).limit(size + 1);
                    $body
                }
            }
        };
    }
    match conn {
        DbConnection::Pg(conn) if include => {
            let rows: Vec<(PhoneNumberRow, RawProspect)> = with_numbers!(|numbers| numbers
                .inner_join(prospects::table)
                .select((PhoneNumberRow::as_select(), RawProspect::as_select()))
                .load(conn)?);
            let mut seen = HashSet::new();
            let mut prospects = Vec::new();
            let numbers = rows
                .into_iter()
                .take(size as usize)
                .map(|(number, row)| {
                    if seen.insert(row.id) {
                        prospects.push(row);
                    }
                    number
                })
                .collect();
            Ok((numbers, prospects))
        }
        conn => {
            let rows: Vec<PhoneNumberRow> =
                phonebook::on_backend!(conn, |conn| with_numbers!(|numbers| numbers
                    .select(PhoneNumberRow::as_select())
                    .load(conn)))?;
            if !include || rows.is_empty() {
                return Ok((rows, Vec::new()));
            }
            let ids = unique(rows.iter().take(size as usize).map(|row| row.prospect_id));
            let found: Vec<RawProspect> = phonebook::on_backend!(conn, |conn| match ids[..] {
                [id] => prospects::table
                    .find(id)
                    .select(RawProspect::as_select())
                    .load(conn),
                _ => prospects::table
                    .filter(prospects::id.eq_any(&ids))
                    .select(RawProspect::as_select())
                    .load(conn),
            })?;
            Ok((rows, in_order(&ids, found, |row| row.id)))
        }
    }
}

async fn list(pool: web::Data<Pool>, params: web::Query<Params>) -> Result<HttpResponse, ApiError> {
    let Params {
        prospect,
        size,
        ref include,
    } = *params;
    let size = size.unwrap_or(DEFAULT_SIZE).clamp(1, 100);
    let include = include.as_deref() == Some("prospect");
    let (rows, prospects) = db::run(&pool, move |conn| {
        Ok::<_, ApiError>(page(conn, prospect, size, include)?)
    })
    .await?;
    let data: Vec<Number> = rows
        .into_iter()
        .take(size as usize)
        .map(Number::from)
        .collect();
    let included = prospects.into_iter().map(IncludedProspect::from).collect();
    Ok(HttpResponse::Ok().json(Doc { data, included }))
}

async fn one(pool: web::Data<Pool>, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let row = db::run(&pool, move |conn| {
        Ok::<_, ApiError>(phonebook::on_backend!(conn, |conn| col::phone_numbers
            .find(id)
            .select(PhoneNumberRow::as_select())
            .first(conn)
            .optional())?)
    })
    .await?;
    Ok(match row {
        Some(row) => HttpResponse::Ok().json(Doc {
            data: Number::from(row),
            included: Vec::new(),
        }),
        None => HttpResponse::NotFound().finish(),
    })
}

/// W5's body, minimal.
#[derive(Deserialize)]
struct NewNumber {
    number: String,
    #[serde(rename = "phoneType")]
    phone_type: String,
    prospect: i64,
}

/// The columns without a default: what any insert of a number must write. NULLs bound as such,
/// as the service's rows do: an `Option` that may be `DEFAULT` makes diesel prepare the statement
/// again on every run on PostgreSQL, which would slow the reference, not the stack.
#[derive(Insertable)]
#[diesel(table_name = phone_numbers, treat_none_as_default_value = false)]
struct NumberRow<'a> {
    prospect_id: i64,
    number: &'a str,
    raw_number: &'a str,
    country_code: Option<&'a str>,
    phone_type: &'a str,
    position: i32,
    status: &'a str,
    status_changed_at: chrono::NaiveDateTime,
    formatted_number: &'a str,
    line_type: &'a str,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
}

#[derive(Serialize)]
struct Created {
    id: String,
}

async fn create(
    pool: web::Data<Pool>,
    body: web::Json<NewNumber>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let id = db::run(&pool, move |conn| {
        let now = chrono::Utc::now().naive_utc();
        let row = NumberRow {
            prospect_id: body.prospect,
            number: &body.number,
            raw_number: &body.number,
            country_code: Some("US"),
            phone_type: &body.phone_type,
            position: 0,
            status: "unverified",
            status_changed_at: now,
            formatted_number: &body.number,
            line_type: "unknown",
            created_at: now,
            updated_at: now,
        };
        Ok::<i64, ApiError>(phonebook::on_backend!(conn, |conn| diesel::insert_into(
            phone_numbers::table
        )
        .values(&row)
        .returning(col::id)
        .get_result(conn))?)
    })
    .await?;
    Ok(HttpResponse::Created().json(Doc {
        data: Created { id: id.to_string() },
        included: Vec::new(),
    }))
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
            on_connect: None,
            min_idle: 1,
        },
    )?;
    let pool = web::Data::new(pool);
    let bind = config.bind.clone();
    actix_web::rt::System::new().block_on(async move {
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(pool.clone())
                .route("/baseline/phoneNumbers", web::get().to(list))
                .route("/baseline/phoneNumbers", web::post().to(create))
                .route("/baseline/phoneNumbers/{id}", web::get().to(one))
        })
        .bind(&bind)?;
        if let Some(workers) = config.workers {
            server = server.workers(workers);
        }
        server.run().await
    })?;
    Ok(())
}
