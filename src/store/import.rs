//! One batch of `import users`: one transaction, a savepoint per row, so a
//! bad row costs only itself and a batch of rows costs one commit (the
//! same pattern as `/Bulk`).

use sea_orm::TransactionTrait;

use super::directories::DirectoryPrincipal;
use super::sync_log::{self, SyncEntry};
use super::users::{self, AccountOutcome};
use super::{Store, db_error};
use crate::domain::user::UserInput;
use crate::error::{ScimError, ScimResult};

/// A decoded row: the line it came from and its input, or why it has none.
pub struct BatchRow {
    pub line: u64,
    pub input: ScimResult<UserInput>,
}

/// What became of one row.
#[derive(Debug)]
pub enum RowResult {
    Created,
    Linked,
    Failed(ScimError),
}

/// The database failed (not a row): the batch was rolled back.
#[derive(Debug)]
pub struct BatchFailed {
    pub line: u64,
    pub error: ScimError,
}

/// Provisions each row as `POST /Users` does, logging every row (success
/// or failure) in the sync log with `log`'s operation and request id.
pub async fn write_batch(
    store: &Store,
    dir: &DirectoryPrincipal,
    rows: Vec<BatchRow>,
    log: &SyncEntry,
) -> Result<Vec<(u64, RowResult)>, BatchFailed> {
    let first = rows.first().map_or(0, |r| r.line);
    let fatal = |line: u64| move |error: ScimError| BatchFailed { line, error };
    let tx = store.begin().await.map_err(fatal(first))?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let line = row.line;
        let outcome = match row.input {
            Err(e) => Err(e),
            Ok(input) => {
                let sp = tx.begin().await.map_err(db_error).map_err(fatal(line))?;
                match users::create_logged(&sp, dir, input, log.clone()).await {
                    Ok(done) => {
                        sp.commit().await.map_err(db_error).map_err(fatal(line))?;
                        Ok(done.account)
                    }
                    Err(e) => {
                        sp.rollback().await.map_err(db_error).map_err(fatal(line))?;
                        Err(e)
                    }
                }
            }
        };
        let result = match outcome {
            Ok(AccountOutcome::Created) => RowResult::Created,
            Ok(AccountOutcome::Linked) => RowResult::Linked,
            Err(e @ (ScimError::Internal { .. } | ScimError::Unavailable { .. })) => {
                return Err(fatal(line)(e));
            }
            Err(e) => {
                let entry = SyncEntry {
                    resource_id: None,
                    status: e.status(),
                    detail: Some(e.detail()),
                    ..log.clone()
                };
                sync_log::record(&tx, entry).await.map_err(fatal(line))?;
                RowResult::Failed(e)
            }
        };
        out.push((line, result));
    }
    tx.commit().await.map_err(db_error).map_err(fatal(first))?;
    Ok(out)
}
