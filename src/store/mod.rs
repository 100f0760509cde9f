//! Store: the only code that talks to the database (sea-orm). One
//! transaction per write request; SQLite gets one writer connection and a
//! pool of readers, PostgreSQL one pool for both. Authentication has a
//! small pool of its own on both, so it never waits behind query work.

pub mod account_detail;
pub mod accounts;
pub mod admin_groups;
pub mod admin_keys;
pub mod admin_sessions;
pub mod audit;
pub mod carry;
pub mod directories;
pub mod events;
pub mod exports;
pub mod filter_sql;
pub mod group_commit;
pub mod groups;
pub mod managers;
pub mod oauth;
pub mod org_schemas;
pub mod paging;
pub mod prepared;
pub mod retention;
pub mod row_sql;
pub mod site_users;
pub mod sync_log;
pub mod sync_status;
pub mod unnest;
pub mod users;
pub mod versioned;
pub mod webhooks;
pub mod writer_thread;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ActiveModelTrait, ConnectOptions, ConnectionTrait, Database, DatabaseBackend,
    DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, ExecResult, QueryResult, SqlErr,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};

use tracing::Instrument;

use crate::domain::error::{DomainError, DomainResult};
use events::{EventSink, Origin, Recorder};
use group_commit::GroupCommit;
use writer_thread::{WriterCpu, WriterPlacement, WriterThread};

#[derive(Clone)]
pub struct Store {
    read: Readers,
    write: DatabaseConnection,
    /// Credential lookups only (bearer tokens, admin keys, web sessions).
    auth: DatabaseConnection,
    /// PostgreSQL with a statement timeout: the connection migrations ran
    /// on, without the timeout, for the rest of start-up ([`Store::setup`]).
    setup: Option<DatabaseConnection>,
    backend: DatabaseBackend,
    statements: Arc<StatementCounts>,
    /// SQLite: concurrent write requests share commits
    /// ([`group_commit`]); `None` on PostgreSQL or when turned off.
    group: Option<Arc<GroupCommit>>,
    /// SQLite: the thread write requests take their turns on
    /// ([`writer_thread`]); the writer connection was opened from it.
    writer_thread: Option<Arc<WriterThread>>,
    /// SQLite: the connection that checkpoints the WAL
    /// ([`Store::checkpoint`]), and the checkpoints that moved pages.
    checkpointer: Option<DatabaseConnection>,
    checkpoints: Arc<AtomicU64>,
    /// Whether write transactions record change events
    /// (`SCIM_EVENTS_ENABLED`; only the benchmark turns it off).
    events: bool,
}

/// Statements run on each pool since start (`/metrics`:
/// `db_statements_total`). On SQLite each one is a round trip to the
/// connection's thread, which is what a request's database work costs.
#[derive(Default)]
struct StatementCounts {
    read: AtomicU64,
    write: AtomicU64,
    auth: AtomicU64,
}

/// `db` with its statements counted in `pool` of `counts`.
fn counted(
    mut db: DatabaseConnection,
    counts: &Arc<StatementCounts>,
    pool: fn(&StatementCounts) -> &AtomicU64,
) -> DatabaseConnection {
    let counts = counts.clone();
    db.set_metric_callback(move |_| {
        pool(&counts).fetch_add(1, Ordering::Relaxed);
    });
    db
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
        Self::open_with(url, max_connections, lock_wait, None, WriterCpu::Off).await
    }

    /// [`Store::open`] with a statement timeout: a statement running longer
    /// fails with an error `db_error` turns into 503. PostgreSQL:
    /// `statement_timeout` on every pooled connection (migrations run on a
    /// connection of their own, without it). SQLite: the read pool's
    /// connections are interrupted (a progress handler armed with a
    /// deadline each time a connection is handed out); writes, serialised
    /// on the one writer, are bounded by the busy timeout of those waiting.
    /// SQLite: the writer thread ([`writer_thread`]) is placed as
    /// `writer` says (its CPU, its scheduling policy).
    pub async fn open_with(
        url: &str,
        max_connections: u32,
        lock_wait: Duration,
        statement_timeout: Option<Duration>,
        writer: impl Into<WriterPlacement>,
    ) -> Result<Self, DbErr> {
        let counts = Arc::new(StatementCounts::default());
        let read_count: fn(&StatementCounts) -> &AtomicU64 = |c| &c.read;
        if url.starts_with("sqlite:") {
            let writer_thread = WriterThread::start(writer)
                .map_err(|e| DbErr::Custom(format!("the writer thread: {e}")))?;
            // Opened from the writer thread: the connection's own thread
            // inherits the CPU it is kept on.
            let options =
                sqlite_writer_options(url, lock_wait, writer_thread.connection_thread().to_owned());
            let write = writer_thread
                .run(move || Database::connect(options))
                .await
                .map_err(|e| DbErr::Custom(e.to_string()))??;
            Migrator::up(&write, None).await?;
            optimize_sqlite(&write).await?;
            // Readers connect only now: a SQLite connection loads the
            // planner statistics when it opens, and one opened before the
            // `PRAGMA optimize` above would keep planning without them (at
            // 1M users, one `externalId eq` lookup in twenty took 150 ms on
            // such a connection).
            let max = max_connections.max(1);
            let read = match statement_timeout {
                Some(limit) => Readers::with_deadline(url, max, lock_wait, limit, &counts).await?,
                None => Readers::one(counted(
                    Database::connect(sqlite_options(url, max, lock_wait)).await?,
                    &counts,
                    read_count,
                )),
            };
            // Read-only connections: authentication writes nothing, and
            // the one writer is not taken from it. No statement deadline:
            // its lookups are a few index probes.
            let auth =
                Database::connect(sqlite_read_only_options(url, AUTH_CONNECTIONS, lock_wait))
                    .await?;
            // Opened here, not on the writer thread: its copying and
            // `fsync` run off the writer's CPU.
            let checkpointer = Database::connect(sqlite_options(url, 1, lock_wait)).await?;
            Ok(Self {
                read,
                write: counted(write, &counts, |c| &c.write),
                auth: counted(auth, &counts, |c| &c.auth),
                setup: None,
                backend: DatabaseBackend::Sqlite,
                statements: counts,
                group: Some(Arc::default()),
                writer_thread: Some(Arc::new(writer_thread)),
                checkpointer: Some(checkpointer),
                checkpoints: Arc::default(),
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
            // One pool for reads and writes: its statements count as reads.
            let db = counted(db, &counts, read_count);
            Ok(Self {
                read: Readers::one(db.clone()),
                write: db,
                auth: counted(auth, &counts, |c| &c.auth),
                setup,
                backend,
                statements: counts,
                group: None,
                writer_thread: None,
                checkpointer: None,
                checkpoints: Arc::default(),
                events: true,
            })
        }
    }

    pub fn backend(&self) -> DatabaseBackend {
        self.backend
    }

    /// The group commit write transactions go through (SQLite, unless
    /// turned off); `None`: each write request commits on its own.
    pub fn group_commit(&self) -> Option<&Arc<GroupCommit>> {
        self.group.as_ref()
    }

    /// Runs a write request's turn (the future `make` makes: a
    /// [`crate::service::write`]) on the writer thread ([`writer_thread`]),
    /// or in place where there is none (PostgreSQL). Dropping the returned
    /// future drops the turn where it is, as in place.
    pub async fn on_writer<T, E, F, Fut>(&self, make: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + 'static,
        T: Send + 'static,
        E: From<DomainError> + Send + 'static,
    {
        // A write's future is big (~17 KB on SQLite), and a future moves
        // by copy: boxed where it is made, it moves as a pointer (into the
        // writer thread's task, and with the request's future on actix's
        // side, which then does not hold it).
        match &self.writer_thread {
            Some(writer) => {
                let span = tracing::Span::current();
                writer
                    .run(move || Box::pin(make()).instrument(span))
                    .await?
            }
            None => Box::pin(make()).await,
        }
    }

    /// SQLite: checkpoints the WAL (`PASSIVE`: as far as readers allow,
    /// without waiting for the writer) on a connection of its own; the
    /// WAL frames now in the database file. Run every
    /// [`CHECKPOINT_EVERY`] by the server, so that the writer's commits
    /// do not copy pages into the database file and `fsync` it in a
    /// batch's turn: the writer checkpoints by itself only past
    /// [`WRITER_AUTOCHECKPOINT_PAGES`] (and then finds little left to
    /// copy). `None` on PostgreSQL.
    pub async fn checkpoint(&self) -> Result<Option<i64>, DbErr> {
        let Some(c) = &self.checkpointer else {
            return Ok(None);
        };
        let row = c
            .query_one_raw(Statement::from_string(
                DatabaseBackend::Sqlite,
                "PRAGMA wal_checkpoint(PASSIVE)",
            ))
            .await?;
        // (busy, frames in the WAL, frames checkpointed)
        let done = row.map(|r| r.try_get_by_index::<i64>(2)).transpose()?;
        if done.is_some_and(|n| n > 0) {
            self.checkpoints.fetch_add(1, Ordering::Relaxed);
        }
        Ok(done)
    }

    /// Checkpoints that moved WAL frames since start (`/metrics`).
    pub fn checkpoints(&self) -> u64 {
        self.checkpoints.load(Ordering::Relaxed)
    }

    /// The CPU the writer thread is kept on (SQLite, `SCIM_WRITER_CPU`).
    pub fn writer_cpu(&self) -> Option<usize> {
        self.writer_thread.as_ref().and_then(|w| w.cpu())
    }

    /// Whether the writer thread and the writer connection's are
    /// `SCHED_BATCH` ([`WriterThread`]).
    pub fn writer_batch(&self) -> bool {
        self.writer_thread.as_ref().is_some_and(|w| w.batch())
    }

    /// This store with each write request committing on its own
    /// (`SCIM_GROUP_COMMIT=0`: to measure what group commit gains).
    pub fn without_group_commit(mut self) -> Self {
        self.group = None;
        self
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
        self.read.pick()
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
    pub async fn begin(&self) -> Result<DatabaseTransaction, DomainError> {
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
    pub async fn begin_write(&self, origin: &Origin) -> Result<WriteTx, DomainError> {
        Ok(self.write_tx(self.begin().await?, origin))
    }

    /// `tx` (a transaction or savepoint of the writer) as a write whose
    /// events are stamped with `origin`.
    pub fn write_tx(&self, tx: DatabaseTransaction, origin: &Origin) -> WriteTx {
        WriteTx::new(tx, self.sink(origin))
    }

    /// Where the events of a write stamped with `origin` go.
    pub fn sink(&self, origin: &Origin) -> EventSink {
        EventSink::new(origin.clone(), self.events)
    }

    /// A read transaction: every read in it sees one state of the
    /// database (PostgreSQL: `REPEATABLE READ`, read only; SQLite in WAL
    /// mode: the snapshot its first read takes). A resource whose body is
    /// read in several queries (a group's members, page by page) is read
    /// in one, so its body and its ETag agree.
    pub async fn snapshot(&self) -> Result<DatabaseTransaction, DomainError> {
        let (isolation, access) = match self.backend {
            DatabaseBackend::Postgres => (
                Some(sea_orm::IsolationLevel::RepeatableRead),
                Some(sea_orm::AccessMode::ReadOnly),
            ),
            _ => (None, None),
        };
        self.read
            .pick()
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
        let read = self.read.all().filter_map(|r| stats(&r.db));
        if let Some((size, idle)) = read.reduce(|(s, i), (s2, i2)| (s + s2, i + i2)) {
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

    /// (pool, statements run since start) of each pool. On PostgreSQL
    /// reads and writes share the `read` pool.
    pub fn statement_counts(&self) -> Vec<(&'static str, u64)> {
        let c = &self.statements;
        let mut out = vec![("read", c.read.load(Ordering::Relaxed))];
        if self.backend == DatabaseBackend::Sqlite {
            out.push(("write", c.write.load(Ordering::Relaxed)));
        }
        out.push(("auth", c.auth.load(Ordering::Relaxed)));
        out
    }

    pub async fn ping(&self) -> Result<(), DbErr> {
        self.read.pick().ping().await
    }

    pub async fn close(self) {
        for r in self.read.all() {
            let _ = r.db.clone().close().await;
        }
        let _ = self.write.close().await;
        let _ = self.auth.close().await;
        if let Some(c) = self.checkpointer {
            let _ = c.close().await;
        }
    }
}

/// A write transaction with where its change events go ([`EventSink`]:
/// who caused them, whether they are recorded). Every statement runs in
/// the transaction; it commits with [`WriteTx::commit`], and rolls back
/// when dropped uncommitted (its last holder: a group commit's requests
/// share their batch's transaction, [`WriteTx::join`]).
pub struct WriteTx {
    tx: Arc<DatabaseTransaction>,
    sink: EventSink,
    /// SQLite: statements that go with the next one ([`carry`]), shared by
    /// the requests of a group commit's batch.
    held: Arc<std::sync::Mutex<carry::Held>>,
}

/// A write transaction without a request's events' sink: what a group
/// commit's batch keeps between its requests ([`WriteTx::into_shared`]).
pub struct SharedTx {
    tx: Arc<DatabaseTransaction>,
    held: Arc<std::sync::Mutex<carry::Held>>,
}

impl SharedTx {
    pub fn held(&self) -> std::sync::MutexGuard<'_, carry::Held> {
        lock_held(&self.held)
    }

    /// Sends what is held on its own (nothing held: nothing).
    pub async fn flush(&self) -> Result<(), DbErr> {
        send_held(&self.tx, &self.held).await
    }

    /// Runs `sql` now, after what is held.
    pub async fn execute_now(&self, sql: &str) -> Result<(), DbErr> {
        self.flush().await?;
        self.tx.execute_unprepared(sql).await.map(drop)
    }

    /// Commits what is held and what was written. Every request's
    /// [`WriteTx`] on it must be gone.
    pub async fn commit(self) -> Result<(), DbErr> {
        self.flush().await?;
        sole(self.tx)?.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        sole(self.tx)?.rollback().await
    }

    /// Commits what is held and what was written in one round trip, the
    /// transaction kept (a group commit's chained batch): sea-orm and
    /// sqlx still count it open, so [`SharedTx::begin_in_place`] must
    /// follow, or [`SharedTx::end`].
    pub async fn commit_in_place(&self) -> Result<(), DbErr> {
        self.held()
            .push(Statement::from_string(DatabaseBackend::Sqlite, "COMMIT"));
        self.flush().await
    }

    /// After [`SharedTx::commit_in_place`]: `begin` (a `BEGIN`) on the
    /// same connection.
    pub async fn begin_in_place(&self, begin: &str) -> Result<(), DbErr> {
        self.tx.execute_unprepared(begin).await.map(drop)
    }

    /// Ends it whatever the connection's state after a failed
    /// [`SharedTx::commit_in_place`] or [`SharedTx::begin_in_place`]: a
    /// `BEGIN` opens a transaction if none is open, and fails if one is;
    /// either way one is, which sea-orm then rolls back, its count of
    /// open transactions right again.
    pub async fn end(self) {
        self.held().clear();
        let _ = self.tx.execute_unprepared("BEGIN").await;
        if let Err(e) = self.rollback().await {
            tracing::warn!(error = %e, "could not end a chained batch's transaction");
        }
    }
}

/// The transaction of its last holder.
fn sole(tx: Arc<DatabaseTransaction>) -> Result<DatabaseTransaction, DbErr> {
    Arc::try_unwrap(tx).map_err(|_| DbErr::Custom("a write transaction is still shared".into()))
}

fn lock_held(held: &std::sync::Mutex<carry::Held>) -> std::sync::MutexGuard<'_, carry::Held> {
    held.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Sends the held statements on their own.
async fn send_held(
    tx: &DatabaseTransaction,
    held: &std::sync::Mutex<carry::Held>,
) -> Result<(), DbErr> {
    let taken = lock_held(held).take();
    match taken {
        Some(stmt) => {
            let done = tx.execute_raw(stmt).await.map(drop);
            lock_held(held).landed();
            done
        }
        None => Ok(()),
    }
}

impl WriteTx {
    fn new(tx: DatabaseTransaction, sink: EventSink) -> Self {
        Self {
            tx: Arc::new(tx),
            sink,
            held: Default::default(),
        }
    }

    /// The transaction itself, without its events' sink (a group commit
    /// keeps its batch's transaction once the first write in it is done).
    /// What it still holds (the write's last statements) goes with the
    /// next request's first statement, or the commit.
    pub fn into_shared(self) -> SharedTx {
        SharedTx {
            tx: self.tx,
            held: self.held,
        }
    }

    /// A request's write in `shared` (a group commit's batch), its events
    /// stamped with `origin`: its statements go after what `shared` holds.
    pub fn join(shared: &SharedTx, sink: EventSink) -> Self {
        Self {
            tx: Arc::clone(&shared.tx),
            sink,
            held: Arc::clone(&shared.held),
        }
    }

    pub async fn commit(self) -> Result<(), DbErr> {
        self.flush_held().await?;
        sole(self.tx)?.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        sole(self.tx)?.rollback().await
    }

    /// A savepoint of this transaction, its events stamped alike.
    pub async fn savepoint(&self) -> Result<WriteTx, DbErr> {
        self.flush_held().await?;
        Ok(WriteTx::new(self.tx.begin().await?, self.sink.clone()))
    }

    fn held(&self) -> std::sync::MutexGuard<'_, carry::Held> {
        lock_held(&self.held)
    }

    /// Sends the held statements on their own (nothing held: nothing).
    async fn flush_held(&self) -> Result<(), DbErr> {
        send_held(&self.tx, &self.held).await
    }

    /// `stmt` with the held statements before it, as one query (`true`:
    /// some were held; the caller tells [`carry::Held::landed`] once it
    /// is back). Only for a statement whose result is rows or nothing:
    /// the count of rows a query changed would add up the held ones'.
    fn with_held(&self, stmt: Statement) -> (Statement, bool) {
        let mut held = self.held();
        if held.is_empty() {
            return (stmt, false);
        }
        held.push(stmt);
        let carried = held.take().unwrap_or_else(|| unreachable!("just pushed"));
        (carried, true)
    }

    fn landed(&self, carried: bool) {
        if carried {
            self.held().landed();
        }
    }
}

#[async_trait::async_trait]
impl Recorder for WriteTx {
    fn sink(&self) -> &EventSink {
        &self.sink
    }

    fn hold(&self, stmt: Statement) {
        self.held().push(stmt);
    }

    async fn send_held(&self) -> Result<(), DbErr> {
        self.flush_held().await
    }
}

/// SQLite: held ([`carry::write_later`]), to go to the database with the
/// next statement, or the commit: a write's sync-log entry, its last
/// statement, costs no round trip of its own. In a group commit's batch
/// it goes with the next request's first statement.
#[async_trait::async_trait]
impl carry::WriteLater for WriteTx {
    async fn write_later(&self, stmt: Statement) -> Result<(), DbErr> {
        carry::write_later(self, stmt).await
    }
}

/// Every statement sends what is held before it, so statements run in the
/// order they were made: a query in the same round trip, a statement
/// whose count of changed rows is read in one of its own before it.
#[async_trait::async_trait]
impl ConnectionTrait for WriteTx {
    fn get_database_backend(&self) -> DatabaseBackend {
        self.tx.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.flush_held().await?;
        self.tx.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.flush_held().await?;
        self.tx.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let (stmt, carried) = self.with_held(stmt);
        let row = self.tx.query_one_raw(stmt).await;
        self.landed(carried);
        row
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let (stmt, carried) = self.with_held(stmt);
        let rows = self.tx.query_all_raw(stmt).await;
        self.landed(carried);
        rows
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

/// The read connections. On SQLite with a statement deadline, one pool of
/// one connection per reader, each with the cell its deadline is kept in;
/// otherwise one pool.
///
/// Why one pool per connection: SQLite's statement deadline is a progress
/// handler (every 10,000 virtual-machine steps) that interrupts the running
/// statement once the deadline of the connection's current hand-out has
/// passed. Setting that deadline through sqlx (`lock_handle`) is a round
/// trip to the connection's thread on every hand-out, as costly as the
/// statement itself, and a pool hook cannot tell its connections apart to
/// find a cell of theirs. With one connection per pool, the pool's hook
/// knows its connection's cell: the handler is installed once when the
/// connection opens, and each hand-out only stores a new deadline.
#[derive(Clone)]
struct Readers {
    first: Reader,
    rest: Arc<[Reader]>,
}

#[derive(Clone)]
struct Reader {
    db: DatabaseConnection,
    /// The hand-out's deadline, in nanoseconds after `Deadline::epoch`
    /// (`None`: no statement deadline).
    deadline: Option<Arc<Deadline>>,
}

impl Reader {
    fn db_ref(&self) -> &DatabaseConnection {
        &self.db
    }
}

struct Deadline {
    epoch: Instant,
    at_nanos: AtomicU64,
}

impl Deadline {
    fn nanos(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Starts a hand-out: statements may run until `limit` from now.
    fn arm(&self, limit: Duration) {
        let limit = u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX);
        self.at_nanos
            .store(self.nanos().saturating_add(limit), Ordering::Relaxed);
    }

    fn passed(&self) -> bool {
        self.nanos() >= self.at_nanos.load(Ordering::Relaxed)
    }
}

impl Readers {
    fn one(db: DatabaseConnection) -> Self {
        Self {
            first: Reader { db, deadline: None },
            rest: Arc::from([]),
        }
    }

    /// `max` SQLite readers, each interrupting a statement still running
    /// `limit` after its connection was handed out.
    async fn with_deadline(
        url: &str,
        max: u32,
        lock_wait: Duration,
        limit: Duration,
        counts: &Arc<StatementCounts>,
    ) -> Result<Self, DbErr> {
        let epoch = Instant::now();
        let mut pools = Vec::with_capacity(max as usize);
        let max = max.max(1);
        for i in 0..max {
            let deadline = Arc::new(Deadline {
                epoch,
                at_nanos: AtomicU64::new(0),
            });
            let mut opts = sqlite_options(url, 1, lock_wait);
            // The first reader opens at start; the others when first needed.
            opts.min_connections(u32::from(i == 0));
            let on_acquire = deadline.clone();
            let on_connect = deadline.clone();
            opts.map_sqlx_sqlite_before_acquire(move |_, _| {
                // No round trip: the connection's handler reads the cell.
                on_acquire.arm(limit);
                Box::pin(async { Ok(true) })
            })
            .map_sqlx_sqlite_pool_opts(move |p| {
                let cell = on_connect.clone();
                p.after_connect(move |conn, _| {
                    let cell = cell.clone();
                    Box::pin(async move {
                        cell.arm(limit);
                        let handler = cell.clone();
                        conn.lock_handle()
                            .await?
                            .set_progress_handler(10_000, move || !handler.passed());
                        Ok(())
                    })
                })
            });
            pools.push(Reader {
                db: counted(Database::connect(opts).await?, counts, |c| &c.read),
                deadline: Some(deadline),
            });
        }
        let mut pools = pools.into_iter();
        let first = pools
            .next()
            .ok_or_else(|| DbErr::Custom("no read connection".into()))?;
        Ok(Self {
            first,
            rest: pools.collect(),
        })
    }

    fn all(&self) -> impl Iterator<Item = &Reader> {
        std::iter::once(&self.first).chain(self.rest.iter())
    }

    /// The reader to use: one with an idle connection, else one not open
    /// yet, else the one whose hand-out's deadline comes first (it is free
    /// by then at the latest).
    fn pick(&self) -> &DatabaseConnection {
        if self.rest.is_empty() {
            return &self.first.db;
        }
        fn pool(r: &Reader) -> &sea_orm::sqlx::SqlitePool {
            r.db.get_sqlite_connection_pool()
        }
        let deadline = |r: &Reader| {
            r.deadline
                .as_ref()
                .map_or(0, |d| d.at_nanos.load(Ordering::Relaxed))
        };
        self.all()
            .find(|r| pool(r).num_idle() > 0)
            .or_else(|| self.all().find(|r| pool(r).size() == 0))
            .unwrap_or_else(|| {
                self.rest.iter().fold(
                    &self.first,
                    |a, b| {
                        if deadline(b) < deadline(a) { b } else { a }
                    },
                )
            })
            .db_ref()
    }
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
        .test_before_acquire(false)
        .map_sqlx_sqlite_opts(move |o| {
            o.read_only(true)
                .create_if_missing(false)
                .busy_timeout(lock_wait)
                .foreign_keys(true)
                .pragma("case_sensitive_like", "ON")
        });
    opts
}

/// The one writer connection: [`sqlite_options`], with its statement and
/// savepoint journals in memory (`temp_store=MEMORY`). On a file they
/// spilled to disk past 64 KiB: a `POST /Users` wrote ~50 pages a request
/// there, four times what it wrote to the WAL, each a system call on the
/// writer's thread while it holds the write lock. They hold the pages a
/// transaction's open savepoint and statement change, freed when those
/// end.
///
/// And a page cache of [`WRITER_CACHE_KIB`] (SQLite's default is 2 MiB):
/// the writer is the only connection that writes, so its cache stays
/// valid from one transaction to the next, and a page it finds there is a
/// `pread` fewer on its thread while it holds the write lock (a PATCH of
/// 10,000 seeded users read ~6 pages a request from the file).
///
/// Its thread is named [`WriterThread::connection_thread`] (`top -H`
/// shows it).
///
/// It is never replaced (no idle timeout, no maximum lifetime): a new one
/// would be opened by whoever next asks the pool for it, perhaps from a
/// thread on another CPU than the writer thread's.
fn sqlite_writer_options(url: &str, lock_wait: Duration, thread: String) -> ConnectOptions {
    let mut opts = sqlite_options(url, 1, lock_wait);
    opts.idle_timeout(None).max_lifetime(None);
    opts.map_sqlx_sqlite_opts(move |o| {
        let thread = thread.clone();
        sqlite_connection(o, lock_wait)
            .pragma("temp_store", "memory")
            .pragma("cache_size", format!("-{WRITER_CACHE_KIB}"))
            .pragma(
                "wal_autocheckpoint",
                WRITER_AUTOCHECKPOINT_PAGES.to_string(),
            )
            .thread_name(move |_| thread.clone())
    });
    opts
}

/// The writer connection's page cache, in KiB ([`sqlite_writer_options`]).
const WRITER_CACHE_KIB: i64 = 32 * 1024;

/// The WAL's size in pages past which the writer checkpoints by itself
/// (SQLite's default is 1,000): [`Store::checkpoint`] does it off the
/// writer meanwhile. 32 MiB of 4 KiB pages.
pub const WRITER_AUTOCHECKPOINT_PAGES: u32 = 8_192;

/// How often the server checkpoints the WAL off the writer
/// ([`Store::checkpoint`]).
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Every SQLite pool: no ping when a connection is handed out (sqlx's
/// default). On SQLite a ping only asks the connection's thread whether it
/// is alive, and that round trip cost as much as a statement, on every
/// statement; a connection is replaced after sqlx's `max_lifetime` anyway.
fn sqlite_options(url: &str, max: u32, lock_wait: Duration) -> ConnectOptions {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(max)
        .min_connections(1)
        .acquire_timeout(pool_wait(lock_wait))
        .sqlx_logging(false)
        .test_before_acquire(false)
        .map_sqlx_sqlite_opts(move |o| sqlite_connection(o, lock_wait));
    opts
}

/// The settings of a read-write SQLite connection.
fn sqlite_connection(
    o: sea_orm::sqlx::sqlite::SqliteConnectOptions,
    lock_wait: Duration,
) -> sea_orm::sqlx::sqlite::SqliteConnectOptions {
    o.create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // Every acknowledged commit is on disk.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(lock_wait)
        .foreign_keys(true)
        // LIKE compares bytewise, as on PostgreSQL; case-insensitive
        // attributes are compared lower-cased on both sides.
        .pragma("case_sensitive_like", "ON")
}

/// Maps a database error, once for every query: busy/timeouts become
/// `Unavailable` (503 with Retry-After: IdPs retry those), the rest
/// `Internal` (500), the `DbErr` kept as the source for the log. Unique violations are mapped by the
/// caller, which knows which constraint means what.
pub fn db_error(e: DbErr) -> DomainError {
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
        DomainError::unavailable(e)
    } else {
        DomainError::internal_from("database error", e)
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
/// PostgreSQL one `INSERT … SELECT … FROM UNNEST($1::uuid[], $2::text[], …)`
/// per [`ROWS_PER_UNNEST`] ([`unnest::insert`]: a statement of 16,000
/// parameters costs PostgreSQL more to parse, plan and bind than its rows
/// cost to write).
pub async fn insert_chunks<C, A>(db: &C, rows: impl IntoIterator<Item = A>) -> DomainResult<()>
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
        if postgres && let Some(stmt) = unnest::insert(&chunk) {
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
