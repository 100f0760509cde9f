//! Store: the only code that talks to the database (sea-orm). One
//! transaction per write request; SQLite gets one writer connection and a
//! pool of readers, PostgreSQL one pool for both.

pub mod accounts;
pub mod admin_groups;
pub mod admin_keys;
pub mod audit;
pub mod directories;
pub mod exports;
pub mod filter_sql;
pub mod groups;
pub mod paging;
pub mod site_users;
pub mod sync_log;
pub mod sync_status;
pub mod users;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr,
    SqlErr, TransactionTrait,
};

use crate::error::ScimError;

#[derive(Clone)]
pub struct Store {
    read: DatabaseConnection,
    write: DatabaseConnection,
    backend: DatabaseBackend,
}

impl Store {
    /// Connects to `url` (`sqlite://…` or `postgres://…`).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, DbErr> {
        if url.starts_with("sqlite:") {
            let read = Database::connect(sqlite_options(url, max_connections.max(1))).await?;
            let write = Database::connect(sqlite_options(url, 1)).await?;
            Ok(Self {
                read,
                write,
                backend: DatabaseBackend::Sqlite,
            })
        } else {
            let mut opts = ConnectOptions::new(url.to_owned());
            opts.max_connections(max_connections.max(2))
                .min_connections(1)
                .connect_timeout(Duration::from_secs(10))
                .acquire_timeout(Duration::from_secs(10))
                .sqlx_logging(false);
            let db = Database::connect(opts).await?;
            let backend = db.get_database_backend();
            Ok(Self {
                read: db.clone(),
                write: db,
                backend,
            })
        }
    }

    pub async fn migrate(&self) -> Result<(), DbErr> {
        Migrator::up(&self.write, None).await
    }

    pub fn backend(&self) -> DatabaseBackend {
        self.backend
    }

    /// Connection for reads.
    pub fn reader(&self) -> &DatabaseConnection {
        &self.read
    }

    /// Connection for single writes outside a request transaction.
    pub fn writer(&self) -> &DatabaseConnection {
        &self.write
    }

    /// Starts the transaction of a write request.
    pub async fn begin(&self) -> Result<DatabaseTransaction, ScimError> {
        self.write.begin().await.map_err(db_error)
    }

    pub async fn ping(&self) -> Result<(), DbErr> {
        self.read.ping().await
    }

    pub async fn close(self) {
        let _ = self.read.close().await;
        let _ = self.write.close().await;
    }
}

fn sqlite_options(url: &str, max: u32) -> ConnectOptions {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(max)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // Every acknowledged commit is on disk.
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10))
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
