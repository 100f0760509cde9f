//! The directory's sync log: one entry per SCIM write, success or failure.

use chrono::{DateTime, Utc};
use entity::sync_log::{self, SyncOutcome};
use sea_orm::{ConnectionTrait, NotSet, Set};
use uuid::Uuid;

use super::carry::WriteLater;
use super::row_sql::{self, RowWrite};
use super::{db_error, insert_chunks};
use crate::domain::error::DomainResult;

#[derive(Debug, Clone)]
pub struct SyncEntry {
    pub directory_id: Uuid,
    /// e.g. `POST /Users`, `PATCH /Groups`.
    pub operation: String,
    pub resource_type: &'static str,
    pub resource_id: Option<String>,
    pub status: u16,
    /// The error detail the client got, for failures.
    pub detail: Option<String>,
    pub request_id: Option<String>,
}

pub(crate) fn row(entry: SyncEntry, at: DateTime<Utc>) -> sync_log::ActiveModel {
    let outcome = if entry.status < 400 {
        SyncOutcome::Success
    } else {
        SyncOutcome::Failure
    };
    sync_log::ActiveModel {
        id: NotSet,
        directory_id: Set(entry.directory_id),
        at: Set(at),
        operation: Set(entry.operation),
        resource_type: Set(entry.resource_type.to_owned()),
        resource_id: Set(entry.resource_id),
        outcome: Set(outcome),
        status: Set(i32::from(entry.status)),
        detail: Set(entry.detail),
        request_id: Set(entry.request_id),
    }
}

/// One entry. In a write transaction on SQLite it is held, and goes to
/// the database with the next statement or the commit
/// ([`super::carry`]).
pub async fn record<C: WriteLater>(db: &C, entry: SyncEntry) -> DomainResult<()> {
    let backend = db.get_database_backend();
    let insert =
        row_sql::statement(backend, RowWrite::Insert, row(entry, Utc::now())).map_err(db_error)?;
    db.write_later(insert).await.map_err(db_error)
}

/// Warnings about a successful write: an entry with outcome `warning` for
/// each attribute path no registered schema knows (it was not stored).
pub async fn record_ignored<C: ConnectionTrait>(
    db: &C,
    entry: &SyncEntry,
    ignored: &[String],
) -> DomainResult<()> {
    if ignored.is_empty() {
        return Ok(());
    }
    let at = Utc::now();
    let rows = ignored.iter().map(|path| {
        let mut r = row(entry.clone(), at);
        r.outcome = Set(SyncOutcome::Warning);
        r.detail = Set(Some(ignored_detail(path)));
        r
    });
    insert_chunks(db, rows).await
}

/// The sync-log detail of an attribute that was dropped.
pub fn ignored_detail(path: &str) -> String {
    format!("ignored attribute {path}: no registered schema")
}

/// Entries in order (ids ascend with them), in multi-row INSERTs.
pub async fn record_many<C: ConnectionTrait>(db: &C, entries: Vec<SyncEntry>) -> DomainResult<()> {
    let at = Utc::now();
    insert_chunks(db, entries.into_iter().map(|e| row(e, at))).await
}
