//! One batch of `import users`: one transaction; rows that are plain
//! creates are written together with multi-row inserts, every other row in
//! a savepoint of its own, so a bad row costs only itself and a batch of
//! rows costs one commit (the same pattern as `/Bulk`).

use std::collections::HashMap;

use sea_orm::{DatabaseTransaction, TransactionTrait};
use uuid::Uuid;

use super::audit::Actor;
use super::directories::DirectoryPrincipal;
use super::events;
use super::sync_log::{self, SyncEntry};
use super::users::{self, AccountOutcome, Claim};
use super::{Store, db_error};
use crate::domain::user::{Prehashed, UserInput};
use crate::error::{ScimError, ScimResult};

/// A decoded row: the line it came from and its input, or why it has none.
pub struct BatchRow {
    pub line: u64,
    pub input: ScimResult<UserInput>,
    /// Attributes of the row no registered schema knows (dropped): sync-log
    /// warnings once the row is written.
    pub ignored: Vec<String>,
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
/// or failure) in the sync log with `log`'s operation and request id. Rows
/// that are plain creates ([`users::CreateProbe`]) are written together
/// with multi-row inserts, the others one by one in their place.
pub async fn write_batch(
    store: &Store,
    dir: &DirectoryPrincipal,
    rows: Vec<BatchRow>,
    log: &SyncEntry,
) -> Result<Vec<(u64, RowResult)>, BatchFailed> {
    let first = rows.first().map_or(0, |r| r.line);
    // Passwords are hashed before the transaction opens, on the bounded
    // hashing pool: a server sharing the database keeps writing meanwhile.
    let clear: Vec<Vec<String>> = rows
        .iter()
        .map(|r| match &r.input {
            Ok(i) => i.clear_password().map(str::to_owned).into_iter().collect(),
            Err(_) => vec![],
        })
        .collect();
    let hashed = Prehashed::hash_groups(clear)
        .await
        .map_err(|e| fatal(first)(ScimError::internal(e)))?;
    let rows: Vec<BatchRow> = rows
        .into_iter()
        .zip(hashed)
        .map(|(r, h)| BatchRow {
            line: r.line,
            input: r.input.map(|i| h.apply(i)),
            ignored: r.ignored,
        })
        .collect();
    let tx = store.begin().await.map_err(fatal(first))?;
    let attrs: Vec<_> = rows
        .iter()
        .filter_map(|r| r.input.as_ref().ok())
        .map(|i| &i.attrs)
        .collect();
    let mut probe = users::CreateProbe::read(&tx, dir, &attrs)
        .await
        .map_err(fatal(first))?;
    let mut batch = Batch {
        tx: &tx,
        dir,
        log,
        out: Vec::with_capacity(rows.len()),
        ignored: HashMap::new(),
    };
    let mut plain = Vec::new();
    for mut row in rows {
        if !row.ignored.is_empty() {
            batch
                .ignored
                .insert(row.line, std::mem::take(&mut row.ignored));
        }
        match row.input.map(|i| probe.claim(dir, i)) {
            Ok(Claim::Plain(p)) => plain.push((row.line, p)),
            Ok(Claim::OneByOne(input)) => {
                batch.write_plain(std::mem::take(&mut plain)).await?;
                batch.one(row.line, Ok(input)).await?;
            }
            Err(e) => {
                batch.write_plain(std::mem::take(&mut plain)).await?;
                batch.one(row.line, Err(e)).await?;
            }
        }
    }
    batch.write_plain(plain).await?;
    let out = batch.out;
    let origin = events::Origin::new(Actor::Directory(dir.directory_id), None);
    events::flush(&tx, &origin).await.map_err(fatal(first))?;
    tx.commit().await.map_err(db_error).map_err(fatal(first))?;
    Ok(out)
}

fn fatal(line: u64) -> impl Fn(ScimError) -> BatchFailed {
    move |error| BatchFailed { line, error }
}

struct Batch<'a> {
    tx: &'a DatabaseTransaction,
    dir: &'a DirectoryPrincipal,
    log: &'a SyncEntry,
    out: Vec<(u64, RowResult)>,
    /// Dropped attributes by line.
    ignored: HashMap<u64, Vec<String>>,
}

impl Batch<'_> {
    /// The warnings of the attributes row `line` dropped, now that it is
    /// written as `resource_id`.
    async fn record_ignored(&self, line: u64, resource_id: Uuid) -> Result<(), BatchFailed> {
        let Some(ignored) = self.ignored.get(&line) else {
            return Ok(());
        };
        let entry = SyncEntry {
            resource_id: Some(resource_id.to_string()),
            ..self.log.clone()
        };
        sync_log::record_ignored(self.tx, &entry, ignored)
            .await
            .map_err(fatal(line))
    }

    async fn savepoint(&self, line: u64) -> Result<DatabaseTransaction, BatchFailed> {
        self.tx.begin().await.map_err(db_error).map_err(fatal(line))
    }

    /// One row in its own savepoint.
    async fn one(&mut self, line: u64, input: ScimResult<UserInput>) -> Result<(), BatchFailed> {
        let outcome = match input {
            Err(e) => Err(e),
            Ok(input) => {
                let sp = self.savepoint(line).await?;
                match users::create_logged(&sp, self.dir, input, self.log.clone()).await {
                    Ok(done) => {
                        sp.commit().await.map_err(db_error).map_err(fatal(line))?;
                        self.record_ignored(line, done.user.link.id).await?;
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
                    ..self.log.clone()
                };
                sync_log::record(self.tx, entry)
                    .await
                    .map_err(fatal(line))?;
                RowResult::Failed(e)
            }
        };
        self.out.push((line, result));
        Ok(())
    }

    /// Plain creates together; one by one if that fails.
    async fn write_plain(
        &mut self,
        rows: Vec<(u64, users::PlainCreate)>,
    ) -> Result<(), BatchFailed> {
        let Some(&(line, _)) = rows.first() else {
            return Ok(());
        };
        let sp = self.savepoint(line).await?;
        let (lines, inputs): (Vec<u64>, Vec<_>) = rows
            .into_iter()
            .map(|(l, p)| (l, (p, self.log.clone())))
            .unzip();
        match users::create_plain(&sp, self.dir, &inputs).await {
            Ok(ids) => {
                sp.commit().await.map_err(db_error).map_err(fatal(line))?;
                for (l, id) in lines.iter().zip(ids) {
                    self.record_ignored(*l, id).await?;
                }
                self.out
                    .extend(lines.into_iter().map(|l| (l, RowResult::Created)));
            }
            Err(e) => {
                // Say a writer on another instance took a userName since
                // the probe: one by one, each row gets its own answer.
                tracing::info!(error = %e, cause = ?e, rows = lines.len(),
                    "batched creates failed; importing the rows one by one");
                sp.rollback().await.map_err(db_error).map_err(fatal(line))?;
                for (l, (p, _)) in lines.into_iter().zip(inputs) {
                    self.one(l, Ok(p.into_input())).await?;
                }
            }
        }
        Ok(())
    }
}
