//! The batched write path `/Bulk` and `import users` share: operations in
//! order, each run of user creates probed together ([`CreateProbe`]), the
//! plain creates among them written together with multi-row inserts (one
//! savepoint), every other operation one by one in its place (a savepoint
//! of its own), so the answers are those of one by one. Each caller says
//! what one operation is and how its result is reported ([`Operations`]).

use uuid::Uuid;

use super::Tx;
use super::savepoint;
use super::users::{Claim, CreateProbe};
use crate::domain::user::UserInput;
use crate::error::ScimResult;
use crate::store::directories::DirectoryPrincipal;
use crate::store::sync_log::SyncEntry;
use crate::store::users::{self, PlainCreate};

/// An operation of a batch and, when it creates a user (`POST /Users`,
/// a row of an import), that user as decoded (or why it did not decode):
/// such operations may take the batched path.
pub(crate) struct Item<Op> {
    pub op: Op,
    pub create: Option<ScimResult<UserInput>>,
}

/// What a caller of [`run`] does with its operations.
pub(crate) trait Operations {
    /// One operation.
    type Op;

    /// The sync log entry of `op` created with others (the batch sets its
    /// resource id and status).
    fn entry(&self, op: &Self::Op) -> SyncEntry;

    /// `op` one by one, in its place and in a savepoint of its own, its
    /// result reported; `create` as [`Item::create`] (its user handed back
    /// by the probe). An error fails the whole batch (the database failed).
    async fn one(&mut self, op: Self::Op, create: Option<ScimResult<UserInput>>) -> ScimResult<()>;

    /// `op` was created with others, as the link `id`.
    async fn created(&mut self, op: Self::Op, id: Uuid) -> ScimResult<()>;

    /// The remaining operations are not performed (`failOnErrors`).
    fn stopped(&self) -> bool {
        false
    }
}

/// Runs `items` in order in `tx`: each run of user creates is probed in
/// three queries ([`CreateProbe::read`]); its plain creates are written
/// together ([`users::create_plain`]) and every other operation goes one by
/// one in its place ([`Operations::one`]), so the outcome is that of doing
/// them all one by one. Stops early once [`Operations::stopped`].
pub(crate) async fn run<O: Operations>(
    tx: &Tx,
    dir: &DirectoryPrincipal,
    ops: &mut O,
    items: Vec<Item<O::Op>>,
) -> ScimResult<()> {
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() && !ops.stopped() {
        let mut creates = Vec::new();
        while let Some(item) = items.next_if(|i| i.create.is_some()) {
            creates.push(item);
        }
        if creates.is_empty() {
            if let Some(item) = items.next() {
                ops.one(item.op, item.create).await?;
            }
            continue;
        }
        run_creates(tx, dir, ops, creates).await?;
    }
    Ok(())
}

/// A run of user creates: the plain ones ([`CreateProbe::claim`])
/// together, the others one by one in their place.
async fn run_creates<O: Operations>(
    tx: &Tx,
    dir: &DirectoryPrincipal,
    ops: &mut O,
    items: Vec<Item<O::Op>>,
) -> ScimResult<()> {
    let attrs: Vec<_> = items
        .iter()
        .filter_map(|i| i.create.as_ref()?.as_ref().ok())
        .map(|i| &i.attrs)
        .collect();
    let mut probe = CreateProbe::read(tx, dir, &attrs).await?;
    let mut batch = Vec::new();
    for Item { op, create } in items {
        let create = match create.map(|c| c.map(|i| probe.claim(dir, i))) {
            Some(Ok(Claim::Plain(plain))) => {
                batch.push((op, plain));
                continue;
            }
            Some(Ok(Claim::OneByOne(input))) => Some(Ok(input)),
            Some(Err(e)) => Some(Err(e)),
            None => None,
        };
        write_plain(tx, dir, ops, std::mem::take(&mut batch)).await?;
        if ops.stopped() {
            return Ok(());
        }
        ops.one(op, create).await?;
        if ops.stopped() {
            return Ok(());
        }
    }
    write_plain(tx, dir, ops, batch).await
}

/// Plain creates together, in a savepoint; one by one if that fails.
async fn write_plain<O: Operations>(
    tx: &Tx,
    dir: &DirectoryPrincipal,
    ops: &mut O,
    batch: Vec<(O::Op, PlainCreate)>,
) -> ScimResult<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let (batch_ops, rows): (Vec<O::Op>, Vec<_>) = batch
        .into_iter()
        .map(|(op, plain)| {
            let entry = ops.entry(&op);
            (op, (plain, entry))
        })
        .unzip();
    match savepoint(
        tx,
        async |sp| Ok(users::create_plain(sp, dir, &rows).await?),
    )
    .await
    {
        Ok(ids) => {
            for (op, id) in batch_ops.into_iter().zip(ids) {
                ops.created(op, id).await?;
            }
        }
        Err(e) => {
            // Say a writer on another instance took a userName since the
            // probe: one by one, each operation gets its own answer.
            tracing::warn!(error = %e, cause = ?e, operations = batch_ops.len(),
                "batched creates failed; provisioning them one by one");
            for (op, (plain, _)) in batch_ops.into_iter().zip(rows) {
                if ops.stopped() {
                    break;
                }
                ops.one(op, Some(Ok(plain.into_input()))).await?;
            }
        }
    }
    Ok(())
}
