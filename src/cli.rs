//! The command line (API.md section 8): `serve`, `migrate`, `user create`, `token create`,
//! `token revoke`, `changes prune`. Commands that print a value print it alone on stdout, so
//! scripts can capture it.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpServer};
use clap::{Parser, Subcommand};

use crate::auth::{generate_token, hash_token};
use crate::clock::now;
use crate::config::Config;
use crate::db::{self, DatabaseUrl, PoolOptions};
use crate::export::Format;
use crate::import;
use crate::models::{ApiToken, Change, User};
use crate::permissions::{Role, Scopes};
use crate::router;
use crate::state::AppState;

#[derive(Debug, Parser)]
#[command(
    name = "phonebook",
    version,
    about = "Prospects and their phone numbers, served as JSON:API 1.1"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP service (migrates first; creates an admin and a token on an empty database).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Import prospects and phone numbers from a CSV file (one row per number; API.md section
    /// 14); rejected rows go to FILE.rejected.csv beside it.
    Import {
        file: PathBuf,
        /// Check every row and write the report, but nothing to the database.
        #[arg(long)]
        dry_run: bool,
        /// The region of numbers written without `+` in rows without `countryCode` (default:
        /// PHONEBOOK_DEFAULT_REGION).
        #[arg(long)]
        region: Option<String>,
        /// The email of the user imported prospects belong to (default: the oldest admin).
        #[arg(long)]
        owner: Option<String>,
    },
    /// Write every prospect and phone number to stdout, in the import's columns.
    Export {
        #[arg(long, value_enum, default_value_t = Format::Csv)]
        format: Format,
    },
    /// Manage the change feed.
    Changes {
        #[command(subcommand)]
        command: ChangesCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ChangesCommand {
    /// Remove the changes older than a duration (those with webhook deliveries still queued
    /// stay); prints how many were removed.
    Prune {
        /// Age, e.g. 30d, 12h or 1h 30m.
        #[arg(long, value_parser = parse_lifetime)]
        older_than: Duration,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user; prints its id.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(Role::NAMES))]
        role: String,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token for a user; prints the token (shown only this once).
    Create {
        #[arg(long)]
        email: String,
        /// Space-separated scopes, e.g. "phoneNumbers.all prospects.read".
        #[arg(long, default_value = Scopes::DEFAULT_FOR_NEW_TOKEN)]
        scopes: String,
        /// Lifetime, e.g. 30d, 12h or 1h 30m; without it the token does not expire.
        #[arg(long, value_parser = parse_lifetime)]
        expires_in: Option<Duration>,
    },
    /// Revoke every token of a user.
    Revoke {
        #[arg(long)]
        email: String,
    },
}

/// Parses a token lifetime with `humantime` (`30d`, `12h`, `1h 30m`, `2weeks`); zero is refused,
/// since a token that expires as it is made is a mistake, not a choice.
pub fn parse_lifetime(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(lifetime) if lifetime.is_zero() => Err(format!("{text:?} is not a usable lifetime")),
        Ok(lifetime) => Ok(lifetime),
        Err(error) => Err(format!(
            "not a duration such as 30d, 12h or 1h 30m: {error}"
        )),
    }
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

fn open_pool(config: &Config, size: u32) -> Result<db::Pool, Failure> {
    let url = DatabaseUrl::parse(&config.database_url)?;
    let pool = db::pool(
        &url,
        PoolOptions {
            size,
            timeout: Duration::from_secs(10),
            statement_counter: None,
            on_connect: Some(crate::auth::credentials::listen_for_revocations),
            min_idle: 1,
        },
    )?;
    db::exclusively(&mut *pool.get()?, db::migrate)?;
    Ok(pool)
}

/// Runs the command line.
pub fn run(config: Config) -> Result<(), Failure> {
    match Cli::parse().command {
        Command::Serve => serve(config),
        Command::Migrate => open_pool(&config, 1).map(drop),
        Command::User {
            command: UserCommand::Create { name, email, role },
        } => {
            let pool = open_pool(&config, 1)?;
            let role: Role = role.parse()?;
            let mut conn = pool.get()?;
            if User::find_by_email(&mut conn, &email)?.is_some() {
                return Err(format!("a user with email {email} already exists").into());
            }
            let user = User::create(&mut conn, &name, &email, role)?;
            println!("{}", user.id);
            Ok(())
        }
        Command::Token {
            command:
                TokenCommand::Create {
                    email,
                    scopes,
                    expires_in,
                },
        } => {
            let scopes = Scopes::parse(&scopes)?;
            if scopes.is_empty() {
                return Err("a token needs at least one scope".into());
            }
            let expires_at = expires_in
                .map(|lifetime| {
                    chrono::Duration::from_std(lifetime)
                        .ok()
                        .and_then(|lifetime| now().checked_add_signed(lifetime))
                        .ok_or("--expires-in reaches past the last representable date")
                })
                .transpose()?;
            let pool = open_pool(&config, 1)?;
            let mut conn = pool.get()?;
            let user = User::find_by_email(&mut conn, &email)?
                .ok_or_else(|| format!("no user has email {email}"))?;
            let token = generate_token();
            ApiToken::create(
                &mut conn,
                user.id,
                &hash_token(&token),
                scopes.as_str(),
                expires_at,
            )?;
            println!("{token}");
            Ok(())
        }
        Command::Changes {
            command: ChangesCommand::Prune { older_than },
        } => prune_changes(&config, older_than),
        Command::Import {
            file,
            dry_run,
            region,
            owner,
        } => import_file(&config, file, dry_run, region, owner),
        Command::Export { format } => {
            let pool = open_pool(&config, 1)?;
            let stdout = std::io::BufWriter::new(std::io::stdout().lock());
            crate::export::run(&mut *pool.get()?, format, stdout)?;
            Ok(())
        }
        Command::Token {
            command: TokenCommand::Revoke { email },
        } => {
            let pool = open_pool(&config, 1)?;
            let mut conn = pool.get()?;
            let user = User::find_by_email(&mut conn, &email)?
                .ok_or_else(|| format!("no user has email {email}"))?;
            let revoked = ApiToken::revoke_all(&mut conn, user.id)?;
            eprintln!("revoked {revoked} token(s) of {email}");
            Ok(())
        }
    }
}

/// `phonebook import`: the options checked, Ctrl-C caught, progress on stderr, the summary last.
fn import_file(
    config: &Config,
    path: PathBuf,
    dry_run: bool,
    region: Option<String>,
    owner: Option<String>,
) -> Result<(), Failure> {
    let region = region.map_or_else(|| config.default_region.clone(), |r| r.to_ascii_uppercase());
    if !crate::domain::phone_number::is_valid_region(&region) {
        return Err(format!("--region {region} is not a region with a numbering plan").into());
    }
    let pool = open_pool(config, 1)?;
    let mut conn = pool.get()?;
    let owner = match &owner {
        Some(email) => User::find_by_email(&mut conn, email)?
            .ok_or_else(|| format!("--owner: no user has email {email}"))?,
        None => User::oldest_admin(&mut conn)?
            .ok_or("no admin to own the imported prospects: give --owner EMAIL")?,
    };
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, stop.clone())?;
    let options = import::Options {
        path: path.clone(),
        dry_run,
        region,
        owner_id: owner.id,
    };
    let (bar, started) = import::progress_bar(&path)?;
    let progress = |summary: &import::Summary, bytes: u64| {
        let rows = summary.imported + summary.rejected;
        let rate = rows as f64 / started.elapsed().as_secs_f64().max(1e-3);
        bar.set_position(bytes);
        bar.set_message(format!("{rows} rows, {rate:.0} rows/s"));
    };
    let summary = import::run(&mut conn, &options, &stop, &progress)?;
    bar.finish_and_clear();
    let report = import::report_path(&path);
    let verb = if dry_run { "would import" } else { "imported" };
    eprintln!(
        "{}rows: {verb} {}, rejected {} (see {}); {} prospects and {} numbers created{}",
        if dry_run {
            "dry run, nothing written: "
        } else {
            ""
        },
        summary.imported,
        summary.rejected,
        report.display(),
        summary.prospects_created,
        summary.numbers_created,
        if summary.interrupted {
            "; stopped by Ctrl-C, the rows after were not read"
        } else {
            ""
        },
    );
    Ok(())
}

/// Removes the changes that occurred more than `age` ago.
fn prune_changes(config: &Config, age: Duration) -> Result<(), Failure> {
    let before = chrono::Duration::from_std(age)
        .ok()
        .and_then(|age| now().checked_sub_signed(age))
        .ok_or("--older-than reaches before the first representable date")?;
    let pool = open_pool(config, 1)?;
    let removed = Change::prune(&mut *pool.get()?, before)?;
    println!("{removed}");
    Ok(())
}

/// Creates the first admin and its token (every scope) on an empty database.
pub fn bootstrap(
    conn: &mut db::DbConnection,
    configured: Option<&str>,
) -> Result<Bootstrap, Failure> {
    if User::any_exist(conn)? {
        return Ok(Bootstrap::NotNeeded);
    }
    let admin = User::create(conn, "Administrator", "admin@localhost", Role::Admin)?;
    let token = configured.map_or_else(generate_token, str::to_owned);
    ApiToken::create(conn, admin.id, &hash_token(&token), Scopes::EVERY, None)?;
    Ok(match configured {
        Some(_) => Bootstrap::Configured,
        None => Bootstrap::Generated(token),
    })
}

/// What [`bootstrap`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Bootstrap {
    /// The database already had users.
    NotNeeded,
    /// An admin was created with this new token (to be shown once).
    Generated(String),
    /// An admin was created with the token from `PHONEBOOK_BOOTSTRAP_TOKEN`.
    Configured,
}

fn serve(config: Config) -> Result<(), Failure> {
    let url = DatabaseUrl::parse(&config.database_url)?;
    let pool = db::pool(
        &url,
        PoolOptions {
            size: config.pool_size,
            timeout: Duration::from_millis(config.pool_timeout_ms),
            statement_counter: None,
            on_connect: Some(crate::auth::credentials::listen_for_revocations),
            min_idle: 1,
        },
    )?;
    // Migrations and the bootstrap admin under one lock: instances started together on an empty
    // database make one admin between them.
    let bootstrapped = db::exclusively(&mut *pool.get()?, |conn| {
        db::migrate(conn)?;
        bootstrap(conn, config.bootstrap_token.as_deref())
    })?;
    match bootstrapped {
        Bootstrap::Generated(token) => println!(
            "Created user admin@localhost (admin). Its API token, shown only this once:\n{token}"
        ),
        // The operator chose this token; it is not echoed into logs.
        Bootstrap::Configured => println!(
            "Created user admin@localhost (admin) with the token from PHONEBOOK_BOOTSTRAP_TOKEN."
        ),
        Bootstrap::NotNeeded => {}
    }
    let bind = config.bind.clone();
    let workers = config
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    // Every blocking task holds a pooled connection, so threads beyond the pool size would only
    // wait for one; actix's default (512 per process) lets a burst start hundreds of threads, each
    // with its own stack and malloc arena.
    let blocking_threads = (config.pool_size as usize).div_ceil(workers).max(1);
    let state = web::Data::new(AppState::new(pool, config)?);
    log::info!(
        "phonebook listening on http://{bind} ({:?} backend)",
        url.backend
    );
    actix_web::rt::System::new().block_on(async move {
        let worker = crate::delivery::Worker::start(state.clone())?;
        let app_state = state.clone();
        let server = HttpServer::new(move || router::build(app_state.clone()))
            .shutdown_timeout(30)
            .workers(workers)
            .worker_max_blocking_threads(blocking_threads)
            .bind(&bind)?;
        let served = server.run().await;
        // SIGTERM: the requests have drained; the attempts in flight get a moment to finish, and
        // those still running go back to the queue.
        worker.stop().await;
        served.map_err(Failure::from)
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes() {
        let hours = |n: u64| Ok(Duration::from_secs(n * 3600));
        assert_eq!(parse_lifetime("30d"), hours(30 * 24));
        assert_eq!(parse_lifetime("2h"), hours(2));
        assert_eq!(parse_lifetime("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_lifetime("45s"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_lifetime("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_lifetime("2weeks"), hours(14 * 24));
        assert_eq!(parse_lifetime("1.5h"), Ok(Duration::from_secs(5400)));
        for bad in [
            "",
            "d",
            "30",
            "soon",
            "30x",
            "-1d",
            "0s",
            "99999999999999999999d",
        ] {
            assert!(parse_lifetime(bad).is_err(), "{bad}");
        }
        assert!(parse_lifetime("30").unwrap_err().contains("30d"));
    }
}
