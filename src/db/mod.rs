//! The database: [`DbConnection`] over both backends, the pool, migrations, and the ways handlers
//! reach it ([`run`], and [`read`] for reads). It owns what compiles a query for each backend's own
//! connection ([`on_backend!`], [`per_backend!`]), transactions ([`write_transaction`], SQLite's
//! [`read_snapshot`]), and the per-backend statements that belong to no model ([`last_insert_id`],
//! and [`notified`] and [`written_since_last_look`] for the credential cache).
//!
//! The backend is chosen explicitly from the `DATABASE_URL` scheme (`sqlite://` or `postgres://`),
//! never by trial connection. SQLite connections are set up for a server: WAL (readers never wait
//! for the writer), `synchronous=NORMAL` (in WAL mode a commit survives a crash of the process,
//! which is the durability the contract asks for, without the fsync of every commit that `FULL`
//! adds), foreign keys on, and a busy timeout so that writers queue instead of failing.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection};
use diesel::pg::PgConnection;
use diesel::r2d2::R2D2Connection;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub mod schema;
mod timestamp;

pub use timestamp::StoredTime;

/// A connection to either backend. Model code is written once against it.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

/// The diesel backend of [`DbConnection`], for values read through either backend
/// ([`StoredTime`]). Queries are compiled for each backend's own instead ([`on_backend!`],
/// [`per_backend!`]).
pub type Db = <DbConnection as Connection>::Backend;

/// Runs a statically typed diesel query on the backend's own connection instead of through
/// [`DbConnection`]. The multi-connection renders a query's whole SQL text again in every pass
/// diesel makes over it (the prepared-statement cache's safety check, bind collection), twice per
/// execution even for a cached statement; the backend's own connection finds the cached statement
/// by the query's type and renders nothing (docs/performance.md, "Static queries on the backend's
/// own connection"). `$query` is written once and compiled for each backend; use it for the queries
/// every request runs (authentication, lookups by id, the rows an include adds). Boxed queries (the
/// filtered listings) are compiled per backend with [`per_backend!`] instead.
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $query:expr) => {
        match $conn {
            $crate::db::DbConnection::Sqlite($c) => $query,
            $crate::db::DbConnection::Pg($c) => $query,
        }
    };
}

/// Compiles `$item`s once per backend, into the modules `sqlite` and `pg` of the calling module:
/// private ones, or with the visibility given first (`per_backend! { pub(super) mod; ... }`, for
/// backend-specific code in a sibling module that builds on one backend's items). In each, `Db` is
/// that backend and `Conn` its connection, and everything of the calling module is in scope. This
/// is how boxed queries (the filtered listings, whose shape depends on the request) run on the
/// backend's own connection: a query boxed for the multi-backend can only run through
/// [`DbConnection`], which renders its SQL three times per execution (see [`on_backend!`]), while a
/// query boxed for one backend renders once. Call the items with [`by_backend!`].
#[macro_export]
macro_rules! per_backend {
    ($vis:vis mod; $($item:item)*) => {
        $vis mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            type Db = ::diesel::sqlite::Sqlite;
            type Conn = ::diesel::sqlite::SqliteConnection;
            $($item)*
        }
        $vis mod pg {
            #[allow(unused_imports)]
            use super::*;
            type Db = ::diesel::pg::Pg;
            type Conn = ::diesel::pg::PgConnection;
            $($item)*
        }
    };
    ($($item:item)*) => {
        $crate::per_backend! { mod; $($item)* }
    };
}

/// Calls `$function` of the calling module's [`per_backend!`] items for `$conn`'s backend, with
/// the backend's own connection as its first argument.
#[macro_export]
macro_rules! by_backend {
    ($conn:expr, $function:ident($($arg:expr),* $(,)?)) => {
        match $conn {
            $crate::db::DbConnection::Sqlite(conn) => sqlite::$function(conn, $($arg),*),
            $crate::db::DbConnection::Pg(conn) => pg::$function(conn, $($arg),*),
        }
    };
}

/// The connection pool shared by all workers (r2d2's, which it derefs to), and how many
/// connections it has opened: the credential cache does not trust a connection that began to
/// listen for revocations after the cache was last checked (it may have missed one).
#[derive(Clone, Debug)]
pub struct Pool {
    connections: r2d2::Pool<Manager>,
    opened: Arc<AtomicU64>,
    /// SQLite: keeps the [`checkpointer`] running while any clone of the pool lives.
    _checkpointer: Option<Arc<std::sync::mpsc::Sender<()>>>,
}

impl Pool {
    /// How many connections this pool has opened so far (its first ones included).
    pub fn connections_opened(&self) -> u64 {
        self.opened.load(Ordering::Acquire)
    }
}

impl std::ops::Deref for Pool {
    type Target = r2d2::Pool<Manager>;

    fn deref(&self) -> &Self::Target {
        &self.connections
    }
}

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Which database a URL points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database URL that names its backend.
#[derive(Clone, Debug)]
pub struct DatabaseUrl {
    pub backend: Backend,
    /// What the driver is given: a file path for SQLite, the URL itself for PostgreSQL.
    target: String,
}

impl DatabaseUrl {
    /// Parses `sqlite://PATH`, `sqlite:PATH`, `postgres://...` or `postgresql://...`.
    pub fn parse(url: &str) -> Result<Self, String> {
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() || path == ":memory:" {
                return Err(
                    "DATABASE_URL: SQLite needs a file path (sqlite://phonebook.db)".into(),
                );
            }
            Ok(Self {
                backend: Backend::Sqlite,
                target: path.to_owned(),
            })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self {
                backend: Backend::Postgres,
                target: url.to_owned(),
            })
        } else {
            Err(format!(
                "DATABASE_URL must start with sqlite:// or postgres://, got {:?}",
                url.split("://").next().unwrap_or_default()
            ))
        }
    }
}

/// Opens connections for the pool, each set up for its backend.
#[derive(Debug)]
pub struct Manager {
    url: DatabaseUrl,
    statements: Option<Arc<Statements>>,
    on_connect: Option<ConnectHook>,
    /// Counts the connections opened (see [`Pool::connections_opened`]).
    opened: Arc<AtomicU64>,
}

/// Run on every new connection after its session settings (the credential cache's `LISTEN`).
pub type ConnectHook = fn(&mut DbConnection) -> diesel::QueryResult<()>;

impl Manager {
    /// Opens one connection, with the session settings every connection needs.
    pub fn connect(&self) -> diesel::ConnectionResult<DbConnection> {
        let mut conn = match self.url.backend {
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(&self.url.target)?;
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                     PRAGMA wal_autocheckpoint = 10000;",
                )
                .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
                DbConnection::Sqlite(conn)
            }
            Backend::Postgres => DbConnection::Pg(PgConnection::establish(&self.url.target)?),
        };
        if let Some(setup) = self.on_connect {
            setup(&mut conn).map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
        }
        if let Some(statements) = &self.statements {
            conn.set_instrumentation(StatementCounter {
                statements: statements.clone(),
                kept: Default::default(),
                running: None,
            });
        }
        self.opened.fetch_add(1, Ordering::Release);
        Ok(conn)
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        Manager::connect(self).map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(diesel::r2d2::Error::QueryError)
    }

    /// A PostgreSQL connection whose server went away reports itself broken, so the pool replaces
    /// it and the service recovers by itself once the database is back.
    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        match conn {
            DbConnection::Sqlite(conn) => conn.is_broken(),
            DbConnection::Pg(conn) => conn.is_broken(),
        }
    }
}

/// Whether a notification reached this PostgreSQL connection since it last looked (SQLite: never).
/// Reads only what has already arrived: never waits, never sends. A connection that cannot tell
/// (it broke) answers yes.
pub fn notified(conn: &mut DbConnection) -> bool {
    let DbConnection::Pg(conn) = conn else {
        return false;
    };
    let mut arrived = false;
    for notification in conn.notifications_iter() {
        match notification {
            Ok(_) => arrived = true,
            Err(_) => return true,
        }
    }
    arrived
}

/// The id the last `INSERT` on this connection generated: SQL that differs per backend, because
/// `RETURNING` does not compile through the multi-connection.
pub fn last_insert_id(conn: &mut DbConnection) -> diesel::QueryResult<i64> {
    #[derive(diesel::QueryableByName)]
    struct LastId {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    let sql = match conn {
        DbConnection::Sqlite(_) => "SELECT last_insert_rowid() AS id",
        DbConnection::Pg(_) => "SELECT lastval() AS id",
    };
    diesel::sql_query(sql)
        .get_result::<LastId>(conn)
        .map(|row| row.id)
}

pub use writes::since_last_look as written_since_last_look;

/// Statements without binds, cached by their type like any static diesel query; one with a
/// `-> SqlType` returns rows of that type.
#[macro_export]
macro_rules! fixed_statements {
    ($($name:ident => $sql:literal $(-> $sql_type:ty)?),* $(,)?) => {$(
        #[derive(Debug, Clone, Copy, ::diesel::query_builder::QueryId)]
        struct $name;

        impl ::diesel::query_builder::QueryFragment<::diesel::sqlite::Sqlite> for $name {
            fn walk_ast<'b>(
                &'b self,
                mut out: ::diesel::query_builder::AstPass<'_, 'b, ::diesel::sqlite::Sqlite>,
            ) -> ::diesel::QueryResult<()> {
                out.push_sql($sql);
                Ok(())
            }
        }

        impl ::diesel::RunQueryDsl<::diesel::sqlite::SqliteConnection> for $name {}

        $(impl ::diesel::query_builder::Query for $name {
            type SqlType = $sql_type;
        })?
    )*};
}

mod writes {
    use diesel::sql_types::BigInt;
    use diesel::RunQueryDsl;
    use r2d2::PooledConnection;

    use super::{DbConnection, Manager};

    // Two statements, each prepared once: the one-statement form (`pragma_data_version()`, a
    // virtual table) compiles the pragma again on every execution.
    crate::fixed_statements! {
        // Changes when another connection, of any process, commits.
        DataVersion => "PRAGMA data_version" -> BigInt,
        // This connection's own inserted, updated and deleted rows.
        TotalChanges => "SELECT total_changes()" -> BigInt,
    }

    /// A connection's write marks (`data_version`, `total_changes()`) when it last looked.
    struct LastLook((i64, i64));

    /// Whether anything was written to the database, by any connection or process, since this
    /// SQLite connection last looked; a connection that never looked, or cannot tell, answers yes.
    /// Every commit after a look changes one of the marks the next look reads (another
    /// connection's commit `data_version`, this one's `total_changes()`), so whichever connection
    /// looks first after a revocation answers yes.
    pub fn since_last_look(conn: &mut PooledConnection<Manager>) -> bool {
        let DbConnection::Sqlite(sqlite) = &mut **conn else {
            unreachable!("write marks are read on SQLite only")
        };
        let marks = DataVersion
            .get_result::<i64>(sqlite)
            .and_then(|version| Ok((version, TotalChanges.get_result::<i64>(sqlite)?)));
        let Ok(marks) = marks else {
            return true;
        };
        let extensions = PooledConnection::extensions_mut(conn);
        match extensions.get_mut::<LastLook>() {
            Some(LastLook(last)) => std::mem::replace(last, marks) != marks,
            None => {
                extensions.insert(LastLook(marks));
                true
            }
        }
    }
}

/// What a pool's connections report of the statements they run (tests and benchmarks). Tests use
/// it to show that a request's statement count does not grow with the page size, and that a write
/// runs only statements diesel keeps prepared.
#[derive(Debug, Default)]
pub struct Statements {
    /// Every statement run.
    pub run: AtomicU64,
    /// The SQL of each statement run that diesel did not keep prepared, in order: SQL run as it is
    /// (`BEGIN`, `COMMIT`), and what diesel prepares again on every run (`sql_query`, `UPDATE`, a
    /// multi-row `INSERT`).
    pub not_kept: std::sync::Mutex<Vec<String>>,
}

/// Reports a connection's statements to [`Statements`]. Diesel tells when it keeps a prepared
/// statement (`CacheQuery`, at its first run on the connection), not when it prepares one it does
/// not keep: a statement is not kept when its SQL was never cached on this connection.
struct StatementCounter {
    statements: Arc<Statements>,
    kept: std::collections::HashSet<String>,
    running: Option<String>,
}

impl Instrumentation for StatementCounter {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { query, .. } => {
                self.statements.run.fetch_add(1, Ordering::Relaxed);
                let text = query.to_string();
                let sql = text.split(" -- binds: ").next().unwrap_or_default();
                self.running = Some(sql.to_owned());
            }
            InstrumentationEvent::CacheQuery { sql, .. } => {
                self.kept.insert(sql.to_owned());
            }
            InstrumentationEvent::FinishQuery { .. } => {
                if let Some(sql) = self.running.take().filter(|sql| !self.kept.contains(sql)) {
                    (self.statements.not_kept.lock())
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(sql);
                }
            }
            _ => {}
        }
    }
}

/// Pool settings.
#[derive(Clone, Debug)]
pub struct PoolOptions {
    pub size: u32,
    /// How long a request waits for a connection before it is answered 503.
    pub timeout: Duration,
    /// When set, every pooled connection reports its statements to it.
    pub statement_counter: Option<Arc<Statements>>,
    /// Run on every new connection (see [`ConnectHook`]).
    pub on_connect: Option<ConnectHook>,
    /// Connections kept open while idle, all opened before the pool is returned. The service
    /// keeps one and opens more as requests need them; the tests open them all at once, so that
    /// no connection joins the pool halfway through a test.
    pub min_idle: u32,
}

impl PoolOptions {
    /// One connection, waited for up to 30 s, no hooks: what a one-shot tool needs.
    pub fn single() -> Self {
        PoolOptions {
            size: 1,
            timeout: Duration::from_secs(30),
            statement_counter: None,
            on_connect: None,
            min_idle: 1,
        }
    }
}

/// Builds the pool. Connections are not tested on checkout (that would cost a round trip per
/// request); broken ones are dropped through [`Manager::has_broken`] instead.
pub fn pool(url: &DatabaseUrl, options: PoolOptions) -> Result<Pool, r2d2::Error> {
    let opened = Arc::new(AtomicU64::new(0));
    let manager = Manager {
        url: url.clone(),
        statements: options.statement_counter,
        on_connect: options.on_connect,
        opened: opened.clone(),
    };
    let connections = r2d2::Pool::builder()
        .max_size(options.size)
        .min_idle(Some(options.min_idle.clamp(1, options.size)))
        .connection_timeout(options.timeout)
        .test_on_check_out(false)
        .build(manager)?;
    let checkpointer = match url.backend {
        Backend::Sqlite => checkpointer(url).map(Arc::new),
        Backend::Postgres => None,
    };
    Ok(Pool {
        connections,
        opened,
        _checkpointer: checkpointer,
    })
}

/// The in-process queue of SQLite writers ([`write_transaction`]), which the [`checkpointer`]
/// also joins to finish a checkpoint.
static SQLITE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// How often the [`checkpointer`] copies the WAL's new pages into the database file: often
/// enough that under a sustained single-write load the WAL stays well under the backstop (every
/// 100 ms it reached it, and W5's p99 rose by a tenth).
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(25);

/// What `PRAGMA wal_checkpoint` answers.
#[derive(diesel::QueryableByName)]
struct Checkpointed {
    /// Frames in the WAL.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    log: i32,
    /// Of those, frames now copied into the database file.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    checkpointed: i32,
}

/// One checkpoint of the connection's database that waits for no one (`PASSIVE`): whether it
/// copied every frame of the WAL.
fn checkpoint(conn: &mut SqliteConnection) -> diesel::QueryResult<bool> {
    let done: Checkpointed =
        diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result(conn)?;
    Ok(done.checkpointed >= done.log)
}

/// Starts the thread that checkpoints a SQLite database's WAL, on a connection of its own, until
/// the returned sender is dropped. A commit that finds the WAL over `wal_autocheckpoint` pages
/// runs the checkpoint itself, with its write lock held, and waits for its fsyncs: every writer
/// queues behind it. Here the pages are copied beside the writers; only the frames they added
/// meanwhile are copied in the writers' queue, so that the WAL is copied whole and the next write
/// starts it over (a WAL that is never copied whole only grows). The connections'
/// `wal_autocheckpoint` of 10,000 pages stays as the backstop should this thread fall behind.
fn checkpointer(url: &DatabaseUrl) -> Option<std::sync::mpsc::Sender<()>> {
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let path = url.target.clone();
    let started = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            let mut conn = match SqliteConnection::establish(&path) {
                Ok(conn) => conn,
                Err(error) => return log::warn!("no WAL checkpoints beside the writers: {error}"),
            };
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(CHECKPOINT_INTERVAL)
            {
                let finished = checkpoint(&mut conn).and_then(|whole| match whole {
                    true => Ok(true),
                    false => {
                        let _writer = SQLITE_WRITER
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        checkpoint(&mut conn)
                    }
                });
                // A reader still on old frames keeps them; they are copied at a later tick.
                if let Err(error) = finished {
                    log::debug!("WAL checkpoint: {error}");
                }
            }
        });
    match started {
        Ok(_) => Some(stop),
        Err(error) => {
            log::warn!("no WAL checkpoints beside the writers: {error}");
            None
        }
    }
}

/// The PostgreSQL advisory lock that start-up work takes ([`exclusively`]): "phonebk" in ASCII.
const SETUP_LOCK: i64 = 0x0070_686f_6e65_626b;

/// Runs `work` (migrations, the bootstrap admin) while no other process of the service runs its
/// own: on PostgreSQL under a session-level advisory lock held by `conn`, so that instances started
/// together on an empty database migrate one after the other (the later ones find nothing to do)
/// and exactly one creates the bootstrap admin. The lock is released when `work` ends, or by the
/// server when the connection is lost. SQLite serves one instance; `work` runs as it is there.
pub fn exclusively<T, E>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    let DbConnection::Pg(_) = conn else {
        return work(conn);
    };
    conn.batch_execute(&format!("SELECT pg_advisory_lock({SETUP_LOCK})"))?;
    let result = work(conn);
    let unlocked = conn.batch_execute(&format!("SELECT pg_advisory_unlock({SETUP_LOCK})"));
    let value = result?;
    unlocked?;
    Ok(value)
}

/// Applies the embedded migrations of the connection's backend that have not run yet.
pub fn migrate(conn: &mut DbConnection) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    match conn {
        DbConnection::Sqlite(conn) => conn.run_pending_migrations(SQLITE_MIGRATIONS).map(drop),
        DbConnection::Pg(conn) => conn.run_pending_migrations(POSTGRES_MIGRATIONS).map(drop),
    }
}

/// Why [`run`] or [`read`] could not run their work.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection within the pool's timeout: the database is down or overloaded.
    #[error("database unavailable: {0}")]
    Unavailable(#[from] r2d2::Error),
    /// The blocking task was cancelled or panicked.
    #[error("database task failed: {0}")]
    Interrupted(String),
}

/// Whether a failed statement lost to another writer, so that running its transaction again can
/// succeed: PostgreSQL picked it as a deadlock victim or could not serialize it; SQLite's busy
/// timeout ran out.
pub fn is_contention(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => true,
        Error::DatabaseError(_, info) => {
            info.message().contains("deadlock detected")
                || info.message().contains("database is locked")
        }
        _ => false,
    }
}

/// What a write transaction's work may fail with: diesel's error, or one that wraps it.
pub trait TransactionError: From<diesel::result::Error> {
    /// Whether running the transaction again can succeed (see [`is_contention`]).
    fn is_contention(&self) -> bool;
}

impl TransactionError for diesel::result::Error {
    fn is_contention(&self) -> bool {
        is_contention(self)
    }
}

/// Runs `work` on a pooled connection on the blocking thread pool, so that database calls never
/// stall an HTTP worker. The connection is taken inside the blocking task: waiting for it must not
/// block the async runtime either. The wait for it is bounded by the pool's timeout counted from
/// now, not from when the task gets a thread: while the database is unreachable, tasks queued
/// behind others that wait for a connection answer 503 within the timeout too, instead of one
/// timeout after another.
pub async fn run<T, E, F>(pool: &Pool, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    let pool = pool.clone();
    let deadline = Instant::now() + pool.connection_timeout();
    actix_web::web::block(move || {
        let wait = deadline.saturating_duration_since(Instant::now());
        let mut conn = pool.get_timeout(wait).map_err(DbError::from)?;
        work(&mut conn)
    })
    .await
    .map_err(|error| DbError::Interrupted(error.to_string()))?
}

/// Runs a read-only `work`. On SQLite it runs right here on the HTTP worker when a connection is
/// free: a SQLite read is a function call into this process, microseconds long, and in WAL mode it
/// never waits for a writer, so handing it to the blocking pool and back (two thread switches)
/// would cost more than the read itself (docs/performance.md, "SQLite reads on the HTTP worker").
/// Writes (which may wait on the busy timeout), PostgreSQL (a network round trip) and an exhausted
/// pool go through [`run`].
pub async fn read<T, E, F>(pool: &Pool, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    if let Some(mut conn) = pool.try_get() {
        if matches!(*conn, DbConnection::Sqlite(_)) {
            return work(&mut conn);
        }
    }
    run(pool, work).await
}

/// How long `/health` waits for an answer from the database before it says there is none: below
/// the second within which API.md section 12 wants an outage (and a recovery) to show.
pub const HEALTH_BUDGET: Duration = Duration::from_millis(800);

/// Whether the database answers a trivial query within `budget` (for `/health`). An idle pooled
/// connection is asked first; one that fails (its server went away) is dropped by the pool and the
/// next is tried. When none is idle or none answers, a connection of its own is opened to `url`,
/// so the answer does not wait for the pool: a database that refuses connections is reported at
/// once, and one that is back as soon as it accepts one, before the pool has reconnected.
///
/// The probe runs on a thread of its own, not on the blocking pool: while the database is away
/// that pool's threads are taken by requests waiting for a connection, and `/health` must not
/// queue behind them. At most [`HEALTH_PROBES`] probes run at once; past that, earlier ones are
/// still waiting for a database that does not answer, and so is this one.
pub async fn is_healthy(pool: &Pool, url: &str, budget: Duration) -> bool {
    static RUNNING: AtomicUsize = AtomicUsize::new(0);
    if RUNNING.fetch_add(1, Ordering::Relaxed) >= HEALTH_PROBES {
        RUNNING.fetch_sub(1, Ordering::Relaxed);
        return false;
    }
    let (pool, url) = (pool.clone(), url.to_owned());
    let (answer, answered) = tokio::sync::oneshot::channel();
    let probe = std::thread::Builder::new()
        .name("health".into())
        .spawn(move || {
            let _ = answer.send(probe(&pool, &url));
            RUNNING.fetch_sub(1, Ordering::Relaxed);
        });
    if probe.is_err() {
        RUNNING.fetch_sub(1, Ordering::Relaxed);
        return false;
    }
    // A connection attempt or a query that hangs (a server that stopped answering without closing
    // its sockets) does not hold the answer up.
    matches!(
        actix_web::rt::time::timeout(budget, answered).await,
        Ok(Ok(true))
    )
}

/// Most `/health` probes running at once.
const HEALTH_PROBES: usize = 32;

fn probe(pool: &Pool, url: &str) -> bool {
    for _ in 0..pool.max_size() {
        let Some(mut conn) = pool.try_get() else {
            break;
        };
        if conn.batch_execute("SELECT 1").is_ok() {
            return true;
        }
    }
    let Ok(url) = DatabaseUrl::parse(url) else {
        return false;
    };
    let manager = Manager {
        url,
        statements: None,
        on_connect: None,
        opened: Arc::default(),
    };
    manager
        .connect()
        .is_ok_and(|mut conn| conn.batch_execute("SELECT 1").is_ok())
}

/// Runs the reads of `work` from one snapshot of the database, so that rows read by different
/// statements agree with each other (a page and the prospects it includes). On PostgreSQL `work`
/// runs as it is: callers there read in one statement. On SQLite it runs in a deferred read
/// transaction, which never waits for a writer in WAL mode.
pub fn read_snapshot<T, E: From<diesel::result::Error>>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E> {
    match conn {
        DbConnection::Pg(_) => work(conn),
        DbConnection::Sqlite(_) => conn.transaction(work),
    }
}

/// How often the outermost write transaction is tried when PostgreSQL aborts it for a deadlock or
/// a serialization failure.
const WRITE_ATTEMPTS: usize = 3;

/// Runs `work` in a write transaction. On SQLite the outermost one is `BEGIN IMMEDIATE`: it takes
/// the write lock before reading anything, so concurrent writers wait (busy timeout) instead of
/// failing on a stale read snapshot. On PostgreSQL the outermost one is run again (up to
/// [`WRITE_ATTEMPTS`] times) when the server aborts it as a deadlock victim, which can happen when
/// two Atomic Operations requests touch the same prospects in different orders. Nested calls
/// become savepoints on both backends.
pub fn write_transaction<T, E: TransactionError>(
    conn: &mut DbConnection,
    mut work: impl FnMut(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let outermost = match conn {
        DbConnection::Sqlite(inner) => {
            AnsiTransactionManager::transaction_manager_status_mut(inner).transaction_depth()?
        }
        DbConnection::Pg(inner) => {
            AnsiTransactionManager::transaction_manager_status_mut(inner).transaction_depth()?
        }
    }
    .is_none();
    let DbConnection::Sqlite(inner) = conn else {
        let mut attempt = 1;
        loop {
            match conn.transaction(&mut work) {
                Err(error) if error.is_contention() && outermost && attempt < WRITE_ATTEMPTS => {
                    attempt += 1
                }
                result => return result,
            }
        }
    };
    if !outermost {
        return conn.transaction(work);
    }
    // This process's SQLite writers queue here, in order, instead of in SQLite's busy handler,
    // which sleeps with growing back-off: it trades a little peak throughput for a bounded write
    // tail (docs/performance.md, "SQLite writers queue on an in-process mutex"). Other processes
    // (the CLI) still meet the busy timeout. Writes run on the blocking pool, never on an HTTP
    // worker, so waiting here stalls no other request.
    let _writer = SQLITE_WRITER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?;
    let result = work(conn);
    let DbConnection::Sqlite(inner) = conn else {
        unreachable!("only SQLite takes the immediate path")
    };
    match result {
        Ok(value) => {
            if let Err(error) = AnsiTransactionManager::commit_transaction(inner) {
                let _ = AnsiTransactionManager::rollback_transaction(inner);
                return Err(error.into());
            }
            Ok(value)
        }
        Err(error) => {
            AnsiTransactionManager::rollback_transaction(inner)?;
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::result::Error;
    use diesel::sql_types::BigInt;
    use diesel::RunQueryDsl;

    use super::{read_snapshot, write_transaction, DatabaseUrl, DbConnection, Manager};
    #[derive(diesel::QueryableByName)]
    struct Value {
        #[diesel(sql_type = BigInt)]
        value: i64,
    }

    fn value(conn: &mut DbConnection) -> Result<i64, Error> {
        let rows: Vec<Value> = diesel::sql_query("SELECT value FROM counter").load(conn)?;
        Ok(rows[0].value)
    }

    /// Two connections to one fresh SQLite file holding `counter(value) = 1`.
    fn connections(dir: &tempfile::TempDir) -> (DbConnection, DbConnection) {
        let url = format!("sqlite://{}", dir.path().join("snapshot.db").display());
        let manager = Manager {
            url: DatabaseUrl::parse(&url).unwrap(),
            statements: None,
            on_connect: None,
            opened: Default::default(),
        };
        let mut reader = manager.connect().unwrap();
        reader
            .batch_execute(
                "CREATE TABLE counter (value BIGINT NOT NULL); INSERT INTO counter VALUES (1);",
            )
            .unwrap();
        (reader, manager.connect().unwrap())
    }

    fn bump(conn: &mut DbConnection) {
        write_transaction(conn, |conn| {
            conn.batch_execute("UPDATE counter SET value = value + 1")
        })
        .unwrap();
    }

    #[test]
    fn a_snapshot_does_not_see_a_write_committed_between_its_reads() {
        let dir = tempfile::tempdir().unwrap();
        let (mut reader, mut writer) = connections(&dir);
        let (before, after) = read_snapshot(&mut reader, |conn| {
            let before = value(conn)?;
            bump(&mut writer);
            Ok::<_, Error>((before, value(conn)?))
        })
        .unwrap();
        assert_eq!((before, after), (1, 1));
        assert_eq!(
            value(&mut reader).unwrap(),
            2,
            "the next read sees the write"
        );
    }

    #[test]
    fn a_snapshot_ends_when_its_work_fails_and_a_panic_in_it_retires_the_connection() {
        let dir = tempfile::tempdir().unwrap();
        let (mut reader, mut writer) = connections(&dir);
        let failed: Result<i64, Error> = read_snapshot(&mut reader, |conn| {
            value(conn)?;
            Err(Error::NotFound)
        });
        assert!(matches!(failed, Err(Error::NotFound)), "{failed:?}");
        // Outside any transaction again: the reader sees new writes and can write itself.
        bump(&mut writer);
        assert_eq!(value(&mut reader).unwrap(), 2);
        bump(&mut reader);
        assert_eq!(value(&mut writer).unwrap(), 3);
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            read_snapshot(&mut reader, |conn| -> Result<(), Error> {
                value(conn)?;
                panic!("a bug in the work");
            })
        }));
        assert!(panicked.is_err());
        // Left inside its transaction, it reports itself broken, so the pool drops it.
        let DbConnection::Sqlite(inner) = &mut reader else {
            unreachable!("the test's connections are SQLite")
        };
        assert!(diesel::r2d2::R2D2Connection::is_broken(inner));
    }

    /// The pool's checkpointer copies committed pages into the database file on its own: with a
    /// WAL well under `wal_autocheckpoint`, so that no commit copies them, the file grows within
    /// a few ticks.
    #[test]
    fn the_wal_is_copied_into_the_database_beside_the_writers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint.db");
        let url = DatabaseUrl::parse(&format!("sqlite://{}", path.display())).unwrap();
        let pool = super::pool(&url, super::PoolOptions::single()).unwrap();
        let mut conn = pool.get().unwrap();
        conn.batch_execute("CREATE TABLE filler (text TEXT NOT NULL)")
            .unwrap();
        let size = || std::fs::metadata(&path).unwrap().len();
        let before = size();
        write_transaction(&mut conn, |conn| {
            conn.batch_execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) \
                 INSERT INTO filler SELECT printf('%.500c', 'x') FROM n",
            )
        })
        .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while size() < before + 500 * 2000 {
            assert!(
                std::time::Instant::now() < deadline,
                "the database file stayed at {} bytes",
                size()
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}
