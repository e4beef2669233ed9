//! `phonebook-bench-seed`: writes the benchmark dataset straight into a database through the
//! crate's own pool, migrations, schema and phone-number parser (not over HTTP), in one transaction
//! of multi-row inserts.
//!
//! Environment:
//! - `DATABASE_URL` (required): a new or empty database; the schema is migrated first.
//! - `BENCH_PROSPECTS` (default 100000) prospects, each with `BENCH_NUMBERS_PER` (default 5) valid
//!   US numbers; `BENCH_FRESH` (default 100000) more valid numbers, stored nowhere, are written to
//!   `BENCH_OUT/fresh-numbers.txt` for the POST workload, and the last 7 digits of up to 100,000
//!   stored numbers, spread over the dataset, to `BENCH_OUT/suffixes.txt` for the caller-ID lookup.
//! - `BENCH_TOKEN`: the admin's API token to store (by its hash, as `token create` does).
//! - `BENCH_OUT` (default `.`): where `dataset.env` (id ranges, counts) and the numbers file go.
//!
//! `phonebook-bench-seed create-db URL NAME` and `drop-db URL NAME` (PostgreSQL only) create and drop
//! the scratch database `NAME`, connected through `URL` (any database the user may connect to), so
//! the harness needs no `psql`.
//!
//! The data is deterministic: the same counts give the same rows (numbers, types, statuses,
//! timestamps) and the same ids on a fresh database.

mod settings;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::time::Instant;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use phonebook::auth::hash_token;
use phonebook::db::schema::{phone_numbers, prospects};
use phonebook::db::{self, DatabaseUrl, DbConnection, PoolOptions};
use phonebook::domain::phone_number::{ExtensionInput, PhoneNumber};
use phonebook::domain::{PhoneType, Status};
use phonebook::models::prospect::PhoneList;
use phonebook::models::{ApiToken, ProspectPhone, User};
use phonebook::permissions::Role;

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// Rows per `INSERT`: 16 columns × 1000 = 16,000 bind parameters, under SQLite's 32,766 and
/// PostgreSQL's 65,535.
const BATCH: usize = 1000;
/// How many stored numbers' suffixes `suffixes.txt` lists, at most.
const SUFFIXES: usize = 100_000;

/// Every scope, as the bootstrap admin token has.
const EVERY_SCOPE: &str = "prospects.all phoneNumbers.all users.all";

const FIRST_NAMES: &[&str] = &[
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Margaret",
    "Ken",
    "Radia",
    "Linus",
    "Frances",
    "John",
    "Katherine",
    "Dennis",
    "Hedy",
    "Tim",
];
const LAST_NAMES: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Hamilton",
    "Thompson",
    "Perlman",
    "Torvalds",
    "Allen",
    "McCarthy",
    "Johnson",
    "Ritchie",
    "Lamarr",
    "Berners-Lee",
];
const TITLES: &[&str] = &["CTO", "VP Sales", "Engineer", "Buyer", "Founder", "Analyst"];
const COMPANIES: &[&str] = &[
    "Initech", "Globex", "Umbrella", "Hooli", "Acme", "Vandelay", "Soylent", "Stark",
];

/// SplitMix64: small, fast and the same on every platform and crate version.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// One stored prospect: the columns the API's writes keep, its list of numbers among them.
#[derive(Insertable)]
#[diesel(table_name = prospects)]
struct ProspectRow {
    owner_id: i64,
    first_name: Option<String>,
    last_name: Option<String>,
    title: Option<String>,
    company: Option<String>,
    phones: String,
    version: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// One stored number: exactly the columns the API's create path writes.
#[derive(Insertable)]
#[diesel(table_name = phone_numbers, treat_none_as_default_value = false)]
struct NumberRow {
    prospect_id: i64,
    number: String,
    raw_number: String,
    country_code: Option<String>,
    extension: String,
    phone_type: &'static str,
    position: i32,
    status: &'static str,
    status_changed_at: NaiveDateTime,
    source: Option<&'static str>,
    formatted_number: String,
    line_type: &'static str,
    version: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// A parsed number, as the API would store it.
struct Parsed {
    raw: String,
    number: PhoneNumber,
}

/// Valid US numbers, each new to this run: random exchanges (200–999) and lines in the US area codes
/// of the numbering plan, every candidate parsed by the same parser the API uses, and only those it
/// calls valid (and places in the US) kept.
struct Numbers {
    rng: Rng,
    /// Area codes 201–989 where the parser accepts a sample US number (most of the others are
    /// unassigned or Canadian/Caribbean): trying only these keeps rejected candidates rare.
    areas: Vec<u64>,
    seen: HashSet<u64>,
    rejected: u64,
}

fn us_number(text: &str) -> Option<PhoneNumber> {
    PhoneNumber::parse(text, None, "US", ExtensionInput::Absent)
        .ok()
        .filter(|number| number.region() == Some("US"))
}

impl Numbers {
    fn new(seed: u64, capacity: usize) -> Self {
        let areas = (201..=989)
            .filter(|area| {
                [234, 456, 678, 789]
                    .iter()
                    .any(|exchange| us_number(&format!("({area}) {exchange}-1234")).is_some())
            })
            .collect();
        Numbers {
            rng: Rng(seed),
            areas,
            seen: HashSet::with_capacity(capacity),
            rejected: 0,
        }
    }

    fn next(&mut self) -> Parsed {
        loop {
            let area = self.areas[self.rng.below(self.areas.len() as u64) as usize];
            let exchange = 200 + self.rng.below(800);
            let line = self.rng.below(10_000);
            let digits = area * 10_000_000 + exchange * 10_000 + line;
            if exchange % 100 == 11 || !self.seen.insert(digits) {
                continue;
            }
            let raw = format!("({area}) {exchange}-{line:04}");
            match us_number(&raw) {
                Some(number) => return Parsed { raw, number },
                None => self.rejected += 1,
            }
        }
    }
}

/// A multi-row `INSERT`. The multi-connection does not compile batch inserts, so this one statement
/// is spelled once per backend.
macro_rules! insert_batch {
    ($conn:expr, $table:expr, $rows:expr) => {
        match $conn {
            DbConnection::Sqlite(conn) => {
                diesel::insert_into($table).values($rows).execute(conn)?
            }
            DbConnection::Pg(conn) => diesel::insert_into($table).values($rows).execute(conn)?,
        }
    };
}

#[derive(QueryableByName)]
struct Bound {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

fn max_id(conn: &mut DbConnection, table: &str) -> QueryResult<i64> {
    diesel::sql_query(format!("SELECT COALESCE(MAX(id), 0) AS id FROM {table}"))
        .get_result::<Bound>(conn)
        .map(|row| row.id)
}

/// `create-db` / `drop-db`: a scratch PostgreSQL database for one benchmark run.
fn scratch_database(command: &str, url: &str, name: &str) -> Result<(), Failure> {
    use diesel::connection::SimpleConnection;
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(format!("{name:?}: scratch database names are [a-z0-9_]").into());
    }
    let mut conn = diesel::PgConnection::establish(url)?;
    conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
    if command == "create-db" {
        conn.batch_execute(&format!("CREATE DATABASE {name}"))?;
    }
    Ok(())
}

/// How this connection reaches PostgreSQL, for the run's log: the service connects through the
/// same URL. libpq's default (`sslmode=prefer`) encrypts even a loopback connection when the server
/// offers TLS (Debian's does), and that costs every statement (bench/README.md, "Tuning, measured").
fn pg_transport(conn: &mut diesel::PgConnection) -> Result<String, Failure> {
    use diesel::sql_types::{Bool, Nullable, Text};
    #[derive(QueryableByName)]
    struct Transport {
        #[diesel(sql_type = Nullable<Text>)]
        tls: Option<String>,
        #[diesel(sql_type = Bool)]
        unix_socket: bool,
    }
    let transport: Transport = diesel::sql_query(
        "SELECT (SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl) AS tls, \
         inet_client_addr() IS NULL AS unix_socket",
    )
    .get_result(conn)?;
    Ok(match (transport.unix_socket, transport.tls) {
        (true, _) => "over a Unix socket".into(),
        (false, Some(tls)) => format!("over TCP with {tls}"),
        (false, None) => "over TCP without TLS".into(),
    })
}

fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [command, url, name] = args.as_slice() {
        if command == "create-db" || command == "drop-db" {
            return scratch_database(command, url, name);
        }
    }
    if !args.is_empty() {
        return Err(
            "usage: phonebook-bench-seed [create-db|drop-db URL NAME] (see bench/README.md)".into(),
        );
    }
    let started = Instant::now();
    let url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is required")?;
    let prospect_count = settings::env_count("BENCH_PROSPECTS", 100_000)?;
    let per_prospect = settings::env_count("BENCH_NUMBERS_PER", 5)?;
    let fresh_count = settings::env_count("BENCH_FRESH", 100_000)?;
    let token = std::env::var("BENCH_TOKEN").map_err(|_| "BENCH_TOKEN is required")?;
    let out = std::path::PathBuf::from(std::env::var("BENCH_OUT").unwrap_or_else(|_| ".".into()));
    std::fs::create_dir_all(&out)?;

    let url = DatabaseUrl::parse(&url)?;
    let pool = db::pool(&url, PoolOptions::single())?;
    let mut pooled = pool.get()?;
    let conn: &mut DbConnection = &mut pooled;
    db::migrate(conn)?;

    let admin = match User::find_by_email(conn, "admin@localhost")? {
        Some(user) => user,
        None => User::create(conn, "Administrator", "admin@localhost", Role::Admin)?,
    };
    ApiToken::create(conn, admin.id, &hash_token(&token), EVERY_SCOPE, None)?;

    let mut rng = Rng(0x5EED_0001);
    let mut numbers = Numbers::new(0x5EED_0002, prospect_count * per_prospect + fresh_count);
    // Fixed timestamps: prospect i was created at base + i s, number j at base + j ms (distinct, so
    // `sort=updatedAt` pages are deterministic too).
    let base = NaiveDate::from_ymd_opt(2026, 1, 1)
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .ok_or("bad base date")?;

    let mut suffixes = String::new();
    let (first_prospect, first_number) = conn.transaction(|conn| -> Result<_, Failure> {
        let first_prospect = max_id(conn, "prospects")? + 1;
        let first_number = max_id(conn, "phone_numbers")? + 1;
        // Prospect by prospect: its numbers first (ids follow `first_number` in insertion order),
        // so that the prospect row is inserted with its stored list, as the API's writes keep it.
        let mut prospect_rows: Vec<ProspectRow> = Vec::with_capacity(BATCH);
        let mut number_rows: Vec<NumberRow> = Vec::with_capacity(BATCH * per_prospect);
        let stride = (prospect_count * per_prospect / SUFFIXES).max(1);
        for i in 0..prospect_count {
            let mut phones = Vec::with_capacity(per_prospect);
            for position in 0..per_prospect {
                let j = i * per_prospect + position;
                let Parsed { raw, number } = numbers.next();
                let at = base + chrono::Duration::milliseconds(j as i64);
                let row = NumberRow {
                    prospect_id: first_prospect + i as i64,
                    number: number.e164().to_owned(),
                    raw_number: raw,
                    country_code: number.region().map(str::to_owned),
                    extension: number.extension().unwrap_or_default().to_owned(),
                    phone_type: rng.pick(PhoneType::NAMES),
                    position: position as i32,
                    status: rng.pick(Status::NAMES),
                    status_changed_at: at,
                    source: (rng.below(2) == 0).then_some("import"),
                    formatted_number: number.formatted().to_owned(),
                    line_type: number.line_type().as_str(),
                    version: 1,
                    created_at: at,
                    updated_at: at,
                };
                phones.push(ProspectPhone {
                    id: first_number + j as i64,
                    number: row.number.clone(),
                    extension: row.extension.clone(),
                    phone_type: row.phone_type.parse().expect("one of PhoneType::NAMES"),
                });
                if j % stride == 0 {
                    let _ = writeln!(suffixes, "{}", &row.number[row.number.len() - 7..]);
                }
                number_rows.push(row);
            }
            let at = base + chrono::Duration::seconds(i as i64);
            prospect_rows.push(ProspectRow {
                owner_id: admin.id,
                first_name: Some(rng.pick(FIRST_NAMES).to_owned()),
                last_name: Some(rng.pick(LAST_NAMES).to_owned()),
                title: Some(rng.pick(TITLES).to_owned()),
                company: Some(rng.pick(COMPANIES).to_owned()),
                phones: PhoneList::to_json(&phones),
                version: 1,
                created_at: at,
                updated_at: at,
            });
            if prospect_rows.len() == BATCH || i + 1 == prospect_count {
                insert_batch!(conn, prospects::table, &prospect_rows);
                for rows in number_rows.chunks(BATCH) {
                    insert_batch!(conn, phone_numbers::table, rows);
                }
                prospect_rows.clear();
                number_rows.clear();
            }
        }
        Ok((first_prospect, first_number))
    })?;
    let transport = if let DbConnection::Pg(conn) = conn {
        // What autovacuum would have done by the time a database this size serves traffic.
        diesel::sql_query("ANALYZE").execute(conn)?;
        format!("; PostgreSQL {}", pg_transport(conn)?)
    } else {
        String::new()
    };

    let mut fresh = String::with_capacity(fresh_count * 13);
    for _ in 0..fresh_count {
        let _ = writeln!(fresh, "{}", numbers.next().number.e164());
    }
    std::fs::write(out.join("fresh-numbers.txt"), fresh)?;
    std::fs::write(out.join("suffixes.txt"), suffixes)?;

    let last_prospect = max_id(conn, "prospects")?;
    let last_number = max_id(conn, "phone_numbers")?;
    let summary = format!(
        "PROSPECTS={prospect_count}\nNUMBERS={}\nFIRST_PROSPECT={first_prospect}\n\
         LAST_PROSPECT={last_prospect}\nFIRST_NUMBER={first_number}\nLAST_NUMBER={last_number}\n",
        prospect_count * per_prospect
    );
    std::fs::write(out.join("dataset.env"), &summary)?;
    eprintln!(
        "seeded {prospect_count} prospects, {} numbers (+{fresh_count} fresh; {} invalid candidates \
         rejected by the parser) in {:.1}s{transport}",
        prospect_count * per_prospect,
        numbers.rejected,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
