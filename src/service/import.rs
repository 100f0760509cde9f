//! One batch of `import users`: one transaction; rows that are plain
//! creates are written together with multi-row inserts, every other row in
//! a savepoint of its own, so a bad row costs only itself and a batch of
//! rows costs one commit (the driver `/Bulk` runs too: `service::batch`).

use std::collections::HashMap;

use tracing::instrument;
use uuid::Uuid;

use super::batch::{self, Item, Operations};
use super::users::{AccountOutcome, create_logged};
use super::{Tx, savepoint, write};
use crate::domain::user::{Prehashed, UserInput};
use crate::error::{ScimError, ScimResult};
use crate::store::Store;
use crate::store::audit::Actor;
use crate::store::directories::DirectoryPrincipal;
use crate::store::events;
use crate::store::sync_log::{self, SyncEntry};

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
/// that are plain creates ([`super::users::CreateProbe`]) are written together
/// with multi-row inserts, the others one by one in their place.
#[instrument(skip_all, fields(directory = %dir.directory_id, rows = rows.len()), err(level = "debug", Debug))]
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
    let origin = events::Origin::new(Actor::Directory(dir.directory_id), None);
    // The line a database failure stops the import at: the row being
    // written, or the batch's first for its commit.
    let mut at = first;
    let written: ScimResult<_> = write(store, &origin, async |tx| {
        let mut batch = Batch {
            tx,
            dir,
            log,
            out: Vec::with_capacity(rows.len()),
            ignored: HashMap::new(),
            at: &mut at,
        };
        let items = rows
            .into_iter()
            .map(|mut row| {
                if !row.ignored.is_empty() {
                    batch
                        .ignored
                        .insert(row.line, std::mem::take(&mut row.ignored));
                }
                Item {
                    op: row.line,
                    create: Some(row.input),
                }
            })
            .collect();
        batch::run(tx, dir, &mut batch, items).await?;
        *batch.at = first;
        Ok(batch.out)
    })
    .await;
    written.map_err(fatal(at))
}

fn fatal(line: u64) -> impl Fn(ScimError) -> BatchFailed {
    move |error| BatchFailed { line, error }
}

/// One batch being written, its rows' results (the [`Operations`] of
/// [`batch::run`], an operation being a row's line).
struct Batch<'a> {
    tx: &'a Tx,
    dir: &'a DirectoryPrincipal,
    log: &'a SyncEntry,
    out: Vec<(u64, RowResult)>,
    /// Dropped attributes by line.
    ignored: HashMap<u64, Vec<String>>,
    /// The line a database failure stops the import at.
    at: &'a mut u64,
}

impl Batch<'_> {
    /// The warnings of the attributes row `line` dropped, now that it is
    /// written as `resource_id`.
    async fn record_ignored(&self, line: u64, resource_id: Uuid) -> ScimResult<()> {
        let Some(ignored) = self.ignored.get(&line) else {
            return Ok(());
        };
        let entry = SyncEntry {
            resource_id: Some(resource_id.to_string()),
            ..self.log.clone()
        };
        Ok(sync_log::record_ignored(self.tx, &entry, ignored).await?)
    }
}

impl Operations for Batch<'_> {
    type Op = u64;

    fn entry(&self, _line: &u64) -> SyncEntry {
        self.log.clone()
    }

    /// One row in its own savepoint.
    async fn one(&mut self, line: u64, create: Option<ScimResult<UserInput>>) -> ScimResult<()> {
        *self.at = line;
        let input =
            create.unwrap_or_else(|| Err(ScimError::internal("an import row without a user")));
        let outcome = match input {
            Err(e) => Err(e),
            Ok(input) => {
                let (dir, log) = (self.dir, self.log);
                let done = savepoint(self.tx, async |sp| {
                    let done = create_logged(sp, dir, input, log.clone()).await?;
                    Ok((done.account, done.user.link.id))
                })
                .await;
                match done {
                    Ok((account, id)) => {
                        self.record_ignored(line, id).await?;
                        Ok(account)
                    }
                    Err(e) => Err(e),
                }
            }
        };
        let result = match outcome {
            Ok(AccountOutcome::Created) => RowResult::Created,
            Ok(AccountOutcome::Linked) => RowResult::Linked,
            Err(e @ (ScimError::Internal { .. } | ScimError::Unavailable { .. })) => {
                return Err(e);
            }
            Err(e) => {
                let entry = SyncEntry {
                    resource_id: None,
                    status: e.status(),
                    detail: Some(e.detail()),
                    ..self.log.clone()
                };
                sync_log::record(self.tx, entry).await?;
                RowResult::Failed(e)
            }
        };
        self.out.push((line, result));
        Ok(())
    }

    async fn created(&mut self, line: u64, id: Uuid) -> ScimResult<()> {
        *self.at = line;
        self.record_ignored(line, id).await?;
        self.out.push((line, RowResult::Created));
        Ok(())
    }
}
