//! Store: the only code that talks to the database (sea-orm). One
//! transaction per write request; SQLite gets one writer connection and a
//! pool of readers, PostgreSQL one pool for both. Authentication has a
//! small pool of its own on both, so it never waits behind query work.

pub mod accounts;
pub mod admin_groups;
pub mod admin_keys;
pub mod admin_sessions;
pub mod audit;
pub mod directories;
pub mod events;
pub mod exports;
pub mod filter_sql;
pub mod groups;
pub mod managers;
pub mod oauth;
pub mod org_schemas;
pub mod paging;
pub mod retention;
pub mod site_users;
pub mod sync_log;
pub mod sync_status;
pub mod users;
pub mod webhooks;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ActiveModelTrait, ConnectOptions, ConnectionTrait, Database, DatabaseBackend,
    DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, ExecResult, QueryResult, SqlErr,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};

use crate::error::{ScimError, ScimResult};
use events::{EventSink, Origin, Recorder};

#[derive(Clone)]
pub struct Store {
    read: DatabaseConnection,
    write: DatabaseConnection,
    /// Credential lookups only (bearer tokens, admin keys, web sessions).
    auth: DatabaseConnection,
    /// PostgreSQL with a statement timeout: the connection migrations ran
    /// on, without the timeout, for the rest of start-up ([`Store::setup`]).
    setup: Option<DatabaseConnection>,
    backend: DatabaseBackend,
    /// Whether write transactions record change events
    /// (`SCIM_EVENTS_ENABLED`; only the benchmark turns it off).
    events: bool,
}

/// Connections of the authentication pool: its statements are single
/// indexed reads, so two serve many requests a second.
pub const AUTH_CONNECTIONS: u32 = 2;

impl Store {
    /// Connects to `url` (`sqlite://…` or `postgres://…`) and brings the
    /// schema up to date. A statement waits at most `lock_wait` for a lock
    /// held by another connection (SQLite busy timeout, PostgreSQL
    /// `lock_timeout`), then fails with an error `db_error` turns into 503.
    pub async fn open(url: &str, max_connections: u32, lock_wait: Duration) -> Result<Self, DbErr> {
        Self::open_with(url, max_connections, lock_wait, None).await
    }

    /// [`Store::open`] with a statement timeout: a statement running longer
    /// fails with an error `db_error` turns into 503. PostgreSQL:
    /// `statement_timeout` on every pooled connection (migrations run on a
    /// connection of their own, without it). SQLite: the read pool's
    /// connections are interrupted (a progress handler armed with a
    /// deadline each time a connection is handed out); writes, serialised
    /// on the one writer, are bounded by the busy timeout of those waiting.
    pub async fn open_with(
        url: &str,
        max_connections: u32,
        lock_wait: Duration,
        statement_timeout: Option<Duration>,
    ) -> Result<Self, DbErr> {
        if url.starts_with("sqlite:") {
            let write = Database::connect(sqlite_options(url, 1, lock_wait)).await?;
            Migrator::up(&write, None).await?;
            optimize_sqlite(&write).await?;
            // Readers connect only now: a SQLite connection loads the
            // planner statistics when it opens, and one opened before the
            // `PRAGMA optimize` above would keep planning without them (at
            // 1M users, one `externalId eq` lookup in twenty took 150 ms on
            // such a connection).
            let mut read_opts = sqlite_options(url, max_connections.max(1), lock_wait);
            if let Some(limit) = statement_timeout {
                read_opts
                    .map_sqlx_sqlite_before_acquire(move |conn, _| {
                        Box::pin(async move { arm_deadline(conn, limit).await.map(|()| true) })
                    })
                    .map_sqlx_sqlite_pool_opts(move |p| {
                        p.after_connect(move |conn, _| Box::pin(arm_deadline(conn, limit)))
                    });
            }
            let read = Database::connect(read_opts).await?;
            // Read-only connections: authentication writes nothing, and
            // the one writer is not taken from it. No statement deadline:
            // its lookups are a few index probes.
            let auth =
                Database::connect(sqlite_read_only_options(url, AUTH_CONNECTIONS, lock_wait))
                    .await?;
            Ok(Self {
                read,
                write,
                auth,
                setup: None,
                backend: DatabaseBackend::Sqlite,
                events: true,
            })
        } else {
            let pg_options = |max: u32, timeout: Option<Duration>, read_only: bool| {
                let mut opts = ConnectOptions::new(url.to_owned());
                opts.max_connections(max)
                    .min_connections(1)
                    .connect_timeout(Duration::from_secs(10))
                    .acquire_timeout(pool_wait(lock_wait))
                    .sqlx_logging(false)
                    .map_sqlx_postgres_opts(move |o| {
                        // 0 would mean "wait forever" to PostgreSQL.
                        let o = o.options([(
                            "lock_timeout",
                            format!("{}ms", lock_wait.as_millis().max(1)),
                        )]);
                        let o = if read_only {
                            o.options([("default_transaction_read_only", "on")])
                        } else {
                            o
                        };
                        match timeout {
                            Some(t) => o.options([(
                                "statement_timeout",
                                format!("{}ms", t.as_millis().max(1)),
                            )]),
                            None => o,
                        }
                    });
                opts
            };
            // Migrations (an index over a large table) and the rest of
            // start-up may take longer than any request statement should.
            let setup = match statement_timeout {
                Some(_) => {
                    let migrator = Database::connect(pg_options(1, None, false)).await?;
                    Migrator::up(&migrator, None).await?;
                    Some(migrator)
                }
                None => None,
            };
            let db =
                Database::connect(pg_options(max_connections.max(2), statement_timeout, false))
                    .await?;
            if statement_timeout.is_none() {
                Migrator::up(&db, None).await?;
            }
            // Its statements are index probes; a statement timeout tuned
            // tight to cut query work short must not refuse sign-ins.
            let auth_timeout = statement_timeout.map(|t| t.max(Duration::from_secs(1)));
            // Read only, as on SQLite: authentication writes nothing.
            let auth = Database::connect(pg_options(AUTH_CONNECTIONS, auth_timeout, true)).await?;
            let backend = db.get_database_backend();
            Ok(Self {
                read: db.clone(),
                write: db,
                auth,
                setup,
                backend,
                events: true,
            })
        }
    }

    pub fn backend(&self) -> DatabaseBackend {
        self.backend
    }

    /// Turns the recording of change events on or off for the write
    /// transactions of this store (on by default; `SCIM_EVENTS_ENABLED=0`
    /// exists to measure what events cost, tests never turn it off).
    pub fn with_events(mut self, on: bool) -> Self {
        self.events = on;
        self
    }

    /// Connection for reads.
    pub fn reader(&self) -> &DatabaseConnection {
        &self.read
    }

    /// Connection for authentication (credential lookups): a pool of its
    /// own, so a request is authenticated (or refused) at once however
    /// busy the read pool is, and revocation, read from the database on
    /// every request, stays immediate on every instance.
    pub fn auth(&self) -> &DatabaseConnection {
        &self.auth
    }

    /// Connection for start-up work (bootstrap): not bound by the request
    /// statement timeout. Closed by [`Store::end_setup`].
    pub fn setup(&self) -> &DatabaseConnection {
        self.setup.as_ref().unwrap_or(&self.write)
    }

    /// Start-up is over: closes the connection [`Store::setup`] used.
    pub async fn end_setup(&mut self) {
        if let Some(c) = self.setup.take() {
            let _ = c.close().await;
        }
    }

    /// Connection for single writes outside a request transaction.
    pub fn writer(&self) -> &DatabaseConnection {
        &self.write
    }

    /// Starts the transaction of a write request. On SQLite it takes the
    /// write lock at once (`BEGIN IMMEDIATE`), so a writer in another
    /// process makes it wait (busy timeout) instead of failing on upgrade.
    pub async fn begin(&self) -> Result<DatabaseTransaction, ScimError> {
        let options = TransactionOptions {
            isolation_level: None,
            access_mode: None,
            sqlite_transaction_mode: (self.backend == DatabaseBackend::Sqlite)
                .then_some(SqliteTransactionMode::Immediate),
        };
        self.write
            .begin_with_options(options)
            .await
            .map_err(db_error)
    }

    /// [`Store::begin`] for a write that records change events: they are
    /// stamped with `origin` (who caused them, in which request).
    pub async fn begin_write(&self, origin: &Origin) -> Result<WriteTx, ScimError> {
        Ok(self.write_tx(self.begin().await?, origin))
    }

    /// `tx` (a transaction or savepoint of the writer) as a write whose
    /// events are stamped with `origin`.
    pub fn write_tx(&self, tx: DatabaseTransaction, origin: &Origin) -> WriteTx {
        WriteTx {
            tx,
            sink: EventSink::new(origin.clone(), self.events),
        }
    }

    /// A read transaction: every read in it sees one state of the
    /// database (PostgreSQL: `REPEATABLE READ`, read only; SQLite in WAL
    /// mode: the snapshot its first read takes). A resource whose body is
    /// read in several queries (a group's members, page by page) is read
    /// in one, so its body and its ETag agree.
    pub async fn snapshot(&self) -> Result<DatabaseTransaction, ScimError> {
        let (isolation, access) = match self.backend {
            DatabaseBackend::Postgres => (
                Some(sea_orm::IsolationLevel::RepeatableRead),
                Some(sea_orm::AccessMode::ReadOnly),
            ),
            _ => (None, None),
        };
        self.read
            .begin_with_config(isolation, access)
            .await
            .map_err(db_error)
    }

    /// (pool, size, idle) of each connection pool.
    pub fn pool_stats(&self) -> Vec<(&'static str, u32, u32)> {
        let stats = |db: &DatabaseConnection| -> Option<(u32, u32)> {
            match self.backend {
                DatabaseBackend::Sqlite => {
                    let p = db.get_sqlite_connection_pool();
                    Some((p.size(), p.num_idle() as u32))
                }
                DatabaseBackend::Postgres => {
                    let p = db.get_postgres_connection_pool();
                    Some((p.size(), p.num_idle() as u32))
                }
                _ => None,
            }
        };
        let mut out = vec![];
        if let Some((size, idle)) = stats(&self.read) {
            out.push(("read", size, idle));
        }
        if self.backend == DatabaseBackend::Sqlite
            && let Some((size, idle)) = stats(&self.write)
        {
            out.push(("write", size, idle));
        }
        if let Some((size, idle)) = stats(&self.auth) {
            out.push(("auth", size, idle));
        }
        out
    }

    pub async fn ping(&self) -> Result<(), DbErr> {
        self.read.ping().await
    }

    pub async fn close(self) {
        let _ = self.read.close().await;
        let _ = self.write.close().await;
        let _ = self.auth.close().await;
    }
}

/// A write transaction with where its change events go ([`EventSink`]:
/// who caused them, whether they are recorded). Every statement runs in
/// the transaction; it commits with [`WriteTx::commit`], and rolls back
/// when dropped uncommitted.
pub struct WriteTx {
    tx: DatabaseTransaction,
    sink: EventSink,
}

impl WriteTx {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.tx.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.tx.rollback().await
    }

    /// A savepoint of this transaction, its events stamped alike.
    pub async fn savepoint(&self) -> Result<WriteTx, DbErr> {
        Ok(WriteTx {
            tx: self.tx.begin().await?,
            sink: self.sink.clone(),
        })
    }
}

impl Recorder for WriteTx {
    fn sink(&self) -> &EventSink {
        &self.sink
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTx {
    fn get_database_backend(&self) -> DatabaseBackend {
        self.tx.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.tx.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.tx.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.tx.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.tx.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.tx.support_returning()
    }
}

/// Keeps SQLite's planner statistics current (PostgreSQL's autovacuum does
/// this itself): without them it can't tell that `directory_id` matches
/// every row of a directory and an `id IN (…)` lookup is the selective one.
/// Bounded work (`analysis_limit`); run at start.
async fn optimize_sqlite(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("PRAGMA analysis_limit=1000; PRAGMA optimize=0x10002;")
        .await?;
    Ok(())
}

/// Arms a SQLite connection's statement deadline: its progress handler
/// (every 10,000 virtual-machine steps) interrupts the running statement
/// once `limit` has passed since the connection was handed out.
async fn arm_deadline(
    conn: &mut sea_orm::sqlx::sqlite::SqliteConnection,
    limit: Duration,
) -> Result<(), sea_orm::sqlx::Error> {
    let deadline = std::time::Instant::now() + limit;
    conn.lock_handle()
        .await?
        .set_progress_handler(10_000, move || std::time::Instant::now() < deadline);
    Ok(())
}

/// How long a request waits for a pooled connection: as long as for a lock.
/// A connection held by a long transaction is a lock like another (on
/// SQLite the one writer connection *is* the write lock); waiting longer
/// only turns another tenant's request into a slower 503.
fn pool_wait(lock_wait: Duration) -> Duration {
    lock_wait.max(Duration::from_millis(100))
}

/// Options of read-only connections to an existing database (the writer
/// created it and set WAL mode, which is kept in the file). Only one
/// `map_sqlx_sqlite_opts` applies, so these are whole options.
fn sqlite_read_only_options(url: &str, max: u32, lock_wait: Duration) -> ConnectOptions {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(max)
        .min_connections(1)
        .acquire_timeout(pool_wait(lock_wait))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |o| {
            o.read_only(true)
                .create_if_missing(false)
                .busy_timeout(lock_wait)
                .foreign_keys(true)
                .pragma("case_sensitive_like", "ON")
        });
    opts
}

fn sqlite_options(url: &str, max: u32, lock_wait: Duration) -> ConnectOptions {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(max)
        .min_connections(1)
        .acquire_timeout(pool_wait(lock_wait))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |o| {
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // Every acknowledged commit is on disk.
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(lock_wait)
                .foreign_keys(true)
                // LIKE compares bytewise, as on PostgreSQL; case-insensitive
                // attributes are compared lower-cased on both sides.
                .pragma("case_sensitive_like", "ON")
        });
    opts
}

/// Maps a database error: busy/timeouts become 503 with Retry-After
/// (IdPs retry those), the rest 500. Unique violations are mapped by the
/// caller, which knows which constraint means what.
pub fn db_error(e: DbErr) -> ScimError {
    let text = e.to_string();
    let busy = matches!(e, DbErr::ConnectionAcquire(_))
        || text.contains("database is locked")
        || text.contains("database is busy")
        || text.contains("could not serialize")
        || text.contains("deadlock detected")
        // PostgreSQL `lock_timeout` / `statement_timeout` expired.
        || text.contains("canceling statement due to lock timeout")
        || text.contains("canceling statement due to statement timeout")
        // SQLite: the statement deadline interrupted it.
        || text.contains("interrupted")
        || text.contains("PoolTimedOut")
        || text.contains("pool timed out");
    if busy {
        ScimError::Unavailable { cause: text }
    } else {
        ScimError::internal(text)
    }
}

pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
        || matches!(e, DbErr::RecordNotInserted)
}

/// Rows per multi-row INSERT: far below the bind-parameter limits of
/// SQLite (32,766) and PostgreSQL (65,535) for the widest table.
pub const ROWS_PER_INSERT: usize = 500;

/// Rows per `INSERT … SELECT FROM UNNEST(…)` on PostgreSQL: one
/// parameter a column whatever the number of rows.
pub const ROWS_PER_UNNEST: usize = 5_000;

/// Inserts `rows` with one multi-row INSERT per [`ROWS_PER_INSERT`]; on
/// PostgreSQL one `INSERT … SELECT FROM UNNEST($1::uuid[], $2::text[], …)`
/// per [`ROWS_PER_UNNEST`] (a statement of 16,000 parameters costs
/// PostgreSQL more to parse, plan and bind than its rows cost to write).
pub async fn insert_chunks<C, A>(db: &C, rows: impl IntoIterator<Item = A>) -> ScimResult<()>
where
    C: ConnectionTrait,
    A: ActiveModelTrait,
{
    let postgres = db.get_database_backend() == DatabaseBackend::Postgres;
    let per = if postgres {
        ROWS_PER_UNNEST
    } else {
        ROWS_PER_INSERT
    };
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(per).collect();
        if postgres && let Some(stmt) = unnest_insert(&chunk) {
            db.execute_raw(stmt).await.map_err(db_error)?;
            continue;
        }
        let mut chunk = chunk.into_iter().peekable();
        while chunk.peek().is_some() {
            let part: Vec<A> = chunk.by_ref().take(ROWS_PER_INSERT).collect();
            A::Entity::insert_many(part)
                .exec_without_returning(db)
                .await
                .map_err(db_error)?;
        }
    }
    Ok(())
}

/// `INSERT INTO t (c…) SELECT * FROM UNNEST($1::type[], …)` of `rows`, each
/// column's values bound as one PostgreSQL array literal. `None` when a
/// column has a type or a value this does not spell, or when the rows do
/// not all set the same columns: the caller then inserts them as usual.
fn unnest_insert<A: ActiveModelTrait>(rows: &[A]) -> Option<sea_orm::Statement> {
    use sea_orm::sea_query::{ColumnType, Value};
    use sea_orm::{ColumnTrait, EntityName, IdenStatic, Iterable};
    let first = rows.first()?;
    let mut names = Vec::new();
    let mut params = Vec::new();
    let mut values = Vec::new();
    for col in <A::Entity as EntityTrait>::Column::iter() {
        if first.get(col).into_value().is_none() {
            // Left to the database (a serial id): no row may set it.
            if rows.iter().any(|r| r.get(col).into_value().is_some()) {
                return None;
            }
            continue;
        }
        let ty = match col.def().get_column_type() {
            ColumnType::Uuid => "uuid",
            ColumnType::Text | ColumnType::String(_) => "text",
            ColumnType::Boolean => "bool",
            ColumnType::SmallInteger => "int2",
            ColumnType::Integer => "int4",
            ColumnType::BigInteger => "int8",
            ColumnType::TimestampWithTimeZone => "timestamptz",
            _ => return None,
        };
        let mut literal = String::from("{");
        for (i, row) in rows.iter().enumerate() {
            if i > 0 {
                literal.push(',');
            }
            let text = match row.get(col).into_value()? {
                Value::Bool(v) => v.map(|b| if b { "t" } else { "f" }.to_owned()),
                Value::SmallInt(v) => v.map(|n| n.to_string()),
                Value::Int(v) => v.map(|n| n.to_string()),
                Value::BigInt(v) => v.map(|n| n.to_string()),
                Value::String(v) => v,
                Value::Uuid(v) => v.map(|u| u.to_string()),
                Value::ChronoDateTimeUtc(v) => {
                    v.map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
                }
                _ => return None,
            };
            match text {
                None => literal.push_str("NULL"),
                Some(t) => {
                    literal.push('"');
                    for c in t.chars() {
                        if c == '"' || c == '\\' {
                            literal.push('\\');
                        }
                        literal.push(c);
                    }
                    literal.push('"');
                }
            }
        }
        literal.push('}');
        names.push(format!("\"{}\"", col.as_str()));
        params.push(format!("${}::{ty}[]", values.len() + 1));
        values.push(Value::String(Some(literal)));
    }
    let sql = format!(
        "INSERT INTO \"{}\" ({}) SELECT * FROM UNNEST({})",
        A::Entity::default().table_name(),
        names.join(", "),
        params.join(", ")
    );
    Some(sea_orm::Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        sql,
        values,
    ))
}
