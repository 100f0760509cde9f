//! Retention: sync-log and audit-log rows older than their configured age
//! are deleted by the periodic job, a batch at a time.
//!
//! Rows are appended with increasing ids and times, so the oldest rows are
//! the first ids: each batch reads the first ids (a primary-key range, no
//! scan of the table), keeps the leading run older than the cutoff and
//! deletes that id range. Each batch is its own short statement, so other
//! writers (SQLite's one write lock) interleave between batches.

use chrono::{DateTime, Utc};
use entity::{audit_log, sync_log};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::db_error;
use crate::domain::error::DomainResult;

/// Rows deleted per statement.
pub const BATCH: u64 = 1000;

/// What a retention run deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    pub sync_log: u64,
    pub audit_log: u64,
}

macro_rules! delete_batch {
    ($name:ident, $entity:ident) => {
        /// Deletes up to `batch` of the oldest rows older than `cutoff`;
        /// returns how many.
        async fn $name<C: ConnectionTrait>(
            db: &C,
            cutoff: DateTime<Utc>,
            batch: u64,
        ) -> DomainResult<u64> {
            let head: Vec<(i64, DateTime<Utc>)> = $entity::Entity::find()
                .select_only()
                .column($entity::Column::Id)
                .column($entity::Column::At)
                .order_by_asc($entity::Column::Id)
                .limit(batch)
                .into_tuple()
                .all(db)
                .await
                .map_err(db_error)?;
            let Some(last) = head
                .iter()
                .take_while(|(_, at)| *at < cutoff)
                .last()
                .map(|(id, _)| *id)
            else {
                return Ok(0);
            };
            let res = $entity::Entity::delete_many()
                .filter($entity::Column::Id.lte(last))
                .exec(db)
                .await
                .map_err(db_error)?;
            Ok(res.rows_affected)
        }
    };
}

delete_batch!(sync_log_batch, sync_log);
delete_batch!(audit_log_batch, audit_log);

/// Deletes sync-log rows older than `sync_days` and audit-log rows older
/// than `audit_days` (0: keep forever), `batch` rows per statement.
pub async fn apply<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    sync_days: u32,
    audit_days: u32,
    batch: u64,
) -> DomainResult<Removed> {
    let mut removed = Removed::default();
    if sync_days > 0 {
        let cutoff = now - chrono::Duration::days(i64::from(sync_days));
        loop {
            let n = sync_log_batch(db, cutoff, batch).await?;
            removed.sync_log += n;
            if n < batch {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
    if audit_days > 0 {
        let cutoff = now - chrono::Duration::days(i64::from(audit_days));
        loop {
            let n = audit_log_batch(db, cutoff, batch).await?;
            removed.audit_log += n;
            if n < batch {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
    Ok(removed)
}
