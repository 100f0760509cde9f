//! Group commit on SQLite: write requests that arrive while a commit is in
//! flight share the next transaction and its one commit (one fsync).
//!
//! A request takes the batch's slot (a FIFO-fair lock). With no batch open
//! it begins one and runs in the transaction itself: it is alone in it, so
//! its failure rolls the transaction back and leaves nothing open. It then
//! puts the batch in the slot and spawns the batch's committer. Requests
//! that take the slot meanwhile run in the open batch, each in a savepoint
//! of its own: a failure rolls back its savepoint only. Each request,
//! its work done, registers for the outcome and releases the slot; it
//! answers once the committer has committed. The committer takes the slot
//! behind the requests already waiting for it (they join the batch: that
//! is the grouping, no timer), takes the batch out, commits, and tells
//! every request of the batch. A lone request is committed at once.
//!
//! Chained batches: when requests are waiting for the slot as the
//! committer takes it, their batch is begun on the spot: the committer
//! keeps the slot, commits (what is held and `COMMIT`, one round trip),
//! tells the batch's requests, begins the next transaction (`BEGIN
//! IMMEDIATE`) on the same connection and puts it in the slot for them.
//! The writer connection does not go back to the pool between the two,
//! which cost a round trip of its own (sqlx tests a connection it takes
//! back), another for the flush before sea-orm's `COMMIT`, another for the
//! next `BEGIN`, and the hand-over of the connection to the next leader's
//! task. A chain lasts at most [`CHAIN_FOR`] and [`MAX_CHAIN`] batches:
//! others who write on the writer connection outside a batch (the webhook
//! worker, the purge, admin sessions) wait for it in the pool, and get it
//! then.
//!
//! Cancellation (actix drops a request's future when its client goes): the
//! request's work is then dropped while it holds the slot. A dropped
//! savepoint (or transaction) queues its rollback on the connection's
//! worker, ahead of any statement of the next holder of the slot, so the
//! batch keeps only finished requests. The committer is a task of its own,
//! so no request's cancellation leaves a batch open.
//!
//! PostgreSQL does without (its WAL groups concurrent commits already):
//! there [`crate::store::Store::group_commit`] is `None`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{DbBackend, Statement};
use tokio::sync::{Mutex, MutexGuard, Notify, oneshot};

use super::carry::{Mark, Sent};
use super::events::Origin;
use super::{SharedTx, Store, WriteTx, db_error};
use crate::domain::error::DomainError;

/// Most requests one commit carries; more wait for the next.
pub const MAX_BATCH: usize = 64;

/// Longest a chain of batches keeps the writer connection from the pool…
pub const CHAIN_FOR: Duration = Duration::from_millis(50);
/// …and most batches it has.
pub const MAX_CHAIN: u32 = 16;

/// The shared state of a store's group commit (one per [`Store`], shared
/// by its clones).
pub struct GroupCommit {
    slot: Mutex<Slot>,
    /// Tells requests waiting for a full or broken batch that it left the
    /// slot.
    closed: Notify,
    /// Commits made, and the write requests they carried (`/metrics`).
    commits: AtomicU64,
    writes: AtomicU64,
    /// Requests waiting to get into a batch: the committer chains the
    /// next batch only for them.
    queued: AtomicUsize,
    /// Batches begun by their predecessor's committer.
    chained: AtomicU64,
    /// Longest a chain keeps the writer connection ([`CHAIN_FOR`]), most
    /// batches in it ([`MAX_CHAIN`]).
    chain_for: Duration,
    max_chain: u32,
    /// Tests: the next chained batch's `BEGIN` fails.
    #[cfg(test)]
    fail_next_begin: std::sync::atomic::AtomicBool,
}

impl Default for GroupCommit {
    fn default() -> Self {
        Self {
            slot: Mutex::default(),
            closed: Notify::new(),
            commits: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            queued: AtomicUsize::new(0),
            chained: AtomicU64::new(0),
            chain_for: CHAIN_FOR,
            max_chain: MAX_CHAIN,
            #[cfg(test)]
            fail_next_begin: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

/// Counts a request in [`GroupCommit::queued`] while it lives.
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Default)]
struct Slot {
    batch: Option<Batch>,
    /// When a request last failed to begin a transaction (the writer
    /// connection not free in time): requests that queued for the slot
    /// before that fail at once instead of waiting their own turn as long.
    begin_failed_at: Option<Instant>,
}

/// An open transaction shared by the requests that wrote in it.
struct Batch {
    tx: SharedTx,
    /// One per request whose work is in the batch.
    waiters: Vec<oneshot::Sender<Result<(), CommitError>>>,
    /// The last request's savepoint, left open when it succeeded with
    /// its savepoint still held (it sent nothing): the next request's
    /// first statement releases it, or the commit does.
    release: Option<Name>,
    /// The name of the last savepoint a request of the batch took: the
    /// next takes the other.
    last: Option<Name>,
    /// A savepoint could not be released or rolled back: what the
    /// transaction holds is unknown, it is rolled back whole.
    broken: Option<String>,
    /// When the chain of batches that this one continues began (this one
    /// began: it is the first), and the batches in it before this one.
    chained_since: Instant,
    chained_after: u32,
}

/// The name of a request's savepoint in a batch. Its SQL goes to the
/// database with the request's first statement, and its release with the
/// next request's (or the commit): no round trip of their own.
///
/// A request that succeeds releases its savepoint ahead of the writes it
/// still holds (its last ones, [`Joined::succeeded`]): they run outside
/// it, so SQLite does not copy each page they change into the savepoint's
/// journal (that copy served only to undo the request alone, and these
/// writes never are: one that fails fails the batch, below). A `POST
/// /Users` journaled ~26 pages so, ~10 since (those of its statements'
/// own journals, which SQLite keeps for a statement that may fail after
/// it wrote: a trigger's, a multi-row INSERT's).
///
/// One savepoint is open at a time, and consecutive requests' take the
/// two names in turn: the round trip that opens a request's savepoint
/// carries, ahead of it, the release of the one before and what the
/// request before still held (its last writes). When that round trip
/// fails, the request's `ROLLBACK TO` its own name either finds its
/// savepoint (the failure was its own: only its work is undone) or finds
/// none of that name, and fails: the failure may be the earlier
/// request's, whose savepoint (of the other name) a `ROLLBACK TO` of one
/// name for all would have undone, its work lost though answered as
/// written. The batch is then rolled back whole. Two names only, so the
/// statements that carry them repeat (sqlx's statement cache).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    A,
    B,
}

impl Name {
    fn other(self) -> Self {
        match self {
            Self::A => Self::B,
            Self::B => Self::A,
        }
    }

    fn savepoint(self) -> &'static str {
        match self {
            Self::A => "SAVEPOINT group_commit_a",
            Self::B => "SAVEPOINT group_commit_b",
        }
    }

    fn release(self) -> &'static str {
        match self {
            Self::A => "RELEASE group_commit_a",
            Self::B => "RELEASE group_commit_b",
        }
    }

    fn rollback(self) -> &'static str {
        match self {
            Self::A => "ROLLBACK TO group_commit_a; RELEASE group_commit_a",
            Self::B => "ROLLBACK TO group_commit_b; RELEASE group_commit_b",
        }
    }
}

/// A request at work in a batch, in its savepoint: its end (success,
/// failure, or the request dropped, [`Drop`]) decides what becomes of the
/// savepoint.
struct Joined<'a> {
    batch: &'a mut Batch,
    /// What was held before the savepoint.
    mark: Mark,
    /// Its savepoint's name.
    name: Name,
    /// The previous request's savepoint, which it released.
    released: Option<Name>,
    /// The batch's last savepoint name before this one's.
    previous: Option<Name>,
    ended: bool,
    /// Its rollback is on its way: dropped now, whether it ran is unknown.
    undoing: bool,
}

impl<'a> Joined<'a> {
    fn new(batch: &'a mut Batch) -> Self {
        let released = batch.release.take();
        let previous = batch.last;
        let name = previous.map_or(Name::A, Name::other);
        batch.last = Some(name);
        let mark = {
            let mut held = batch.tx.held();
            let mark = held.mark();
            if let Some(previous) = released {
                held.push(Statement::from_string(
                    DbBackend::Sqlite,
                    previous.release(),
                ));
            }
            held.push(Statement::from_string(DbBackend::Sqlite, name.savepoint()));
            mark
        };
        Self {
            batch,
            mark,
            name,
            released,
            previous,
            ended: false,
            undoing: false,
        }
    }

    /// Its work is done. Its savepoint went to the database and it still
    /// holds writes (all made after its last round trip): the savepoint is
    /// released ahead of them (see [`Name`]). Otherwise the next request's
    /// first statement releases it (or the commit does).
    fn succeeded(mut self, done: oneshot::Sender<Result<(), CommitError>>) {
        self.ended = true;
        let mut held = self.batch.tx.held();
        if held.since(&self.mark) == Sent::Yes && !held.is_empty() {
            held.prepend(self.name.release());
        } else {
            drop(held);
            self.batch.release = Some(self.name);
        }
        self.batch.waiters.push(done);
    }

    /// Its work failed: undone (nothing sent: nothing to undo).
    async fn failed(mut self) {
        if let Some(undo) = self.undo() {
            // Not held: the next request's first statement must not be
            // the one that learns this failed.
            self.undoing = true;
            if let Err(e) = self.batch.tx.execute_now(undo).await {
                self.batch.broken = Some(format!("could not roll back a savepoint: {e}"));
            }
        }
        self.ended = true;
    }

    /// Takes back what it held; the statement that undoes what it sent
    /// (`None`: nothing was). Sent but not back: the batch is broken.
    fn undo(&mut self) -> Option<&'static str> {
        let mut held = self.batch.tx.held();
        match held.since(&self.mark) {
            Sent::No => {
                held.truncate(&self.mark);
                self.batch.release = self.released;
                self.batch.last = self.previous;
                None
            }
            Sent::InFlight => {
                drop(held);
                self.batch.broken =
                    Some("a request was dropped with its savepoint in flight".into());
                None
            }
            Sent::Yes => {
                // What is held was made after the savepoint: its own.
                held.clear();
                Some(self.name.rollback())
            }
        }
    }
}

impl Drop for Joined<'_> {
    /// The request was dropped (its client went away) mid-work: its
    /// savepoint's rollback is held, to go to the database before the
    /// batch's next statement.
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        if self.undoing {
            self.batch.broken =
                Some("a request was dropped while its savepoint rolled back".into());
        } else if let Some(undo) = self.undo() {
            self.batch
                .tx
                .held()
                .push(Statement::from_string(DbBackend::Sqlite, undo));
        }
    }
}

impl Batch {
    fn joinable(&self) -> bool {
        self.broken.is_none() && self.waiters.len() < MAX_BATCH
    }

    /// The next batch may follow on its connection.
    fn may_chain(&self, gc: &GroupCommit) -> bool {
        self.broken.is_none()
            && self.chained_after + 1 < gc.max_chain
            && self.chained_since.elapsed() < gc.chain_for
    }

    fn tell(
        waiters: Vec<oneshot::Sender<Result<(), CommitError>>>,
        outcome: Result<(), CommitError>,
    ) {
        for waiter in waiters {
            // A request whose client left has dropped its receiver.
            let _ = waiter.send(outcome.clone());
        }
    }

    /// Commits (or, broken, rolls back) and tells every request; whether
    /// it committed.
    async fn finish(self) -> bool {
        let outcome = match self.broken {
            Some(cause) => {
                if let Err(e) = self.tx.rollback().await {
                    tracing::warn!(error = %e, "could not roll back a broken batch");
                }
                Err(CommitError::from(DomainError::internal(cause)))
            }
            None => self
                .tx
                .commit()
                .await
                .map_err(|e| CommitError::from(db_error(e))),
        };
        let committed = outcome.is_ok();
        Self::tell(self.waiters, outcome);
        committed
    }
}

/// Why a batch's commit failed, for each request of it: busy (503, the
/// client retries) or not (500).
#[derive(Debug, Clone)]
struct CommitError {
    busy: bool,
    cause: String,
}

impl From<DomainError> for CommitError {
    fn from(e: DomainError) -> Self {
        Self {
            busy: matches!(e, DomainError::Unavailable(_)),
            cause: e.chain(),
        }
    }
}

impl From<CommitError> for DomainError {
    fn from(e: CommitError) -> Self {
        if e.busy {
            DomainError::busy(e.cause)
        } else {
            DomainError::internal(e.cause)
        }
    }
}

impl GroupCommit {
    /// (commits made, write requests they committed) since start.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.commits.load(Ordering::Relaxed),
            self.writes.load(Ordering::Relaxed),
        )
    }

    /// Runs `f` in the open batch (or a new one) and returns its output once
    /// the batch is committed. An error from `f` undoes `f`'s writes only.
    pub async fn run<T, E: From<DomainError>>(
        self: &Arc<Self>,
        store: &Store,
        origin: &Origin,
        f: impl AsyncFnOnce(&WriteTx) -> Result<T, E>,
    ) -> Result<T, E> {
        let queued_at = Instant::now();
        let queued = Queued::new(&self.queued);
        let mut slot = loop {
            // Made before the slot is let go, so the wake-up is not missed.
            let closed = self.closed.notified();
            let slot = self.slot.lock().await;
            match &slot.batch {
                Some(b) if !b.joinable() => {
                    drop(slot);
                    closed.await;
                }
                _ => break slot,
            }
        };
        drop(queued);
        let (done, outcome) = oneshot::channel();
        let out = match slot.batch.as_mut() {
            None => {
                if slot.begin_failed_at.is_some_and(|t| t > queued_at) {
                    return Err(
                        DomainError::busy("the writer connection was not free in time").into(),
                    );
                }
                let tx = match store.begin().await {
                    Ok(tx) => tx,
                    Err(e) => {
                        slot.begin_failed_at = Some(Instant::now());
                        return Err(e.into());
                    }
                };
                let tx = store.write_tx(tx, origin);
                match f(&tx).await {
                    Ok(out) => {
                        slot.batch = Some(Batch {
                            tx: tx.into_shared(),
                            waiters: vec![done],
                            release: None,
                            last: None,
                            broken: None,
                            chained_since: Instant::now(),
                            chained_after: 0,
                        });
                        self.spawn_committer();
                        out
                    }
                    Err(e) => {
                        // Alone in it: the whole transaction is the request's.
                        if let Err(re) = tx.rollback().await {
                            tracing::warn!(error = %re, "could not roll back a failed write");
                        }
                        return Err(e);
                    }
                }
            }
            Some(batch) => {
                let sink = store.sink(origin);
                let joined = Joined::new(batch);
                let result = {
                    let sp = WriteTx::join(&joined.batch.tx, sink);
                    f(&sp).await
                };
                match result {
                    Ok(out) => {
                        joined.succeeded(done);
                        out
                    }
                    Err(e) => {
                        // SQLite rolls a whole transaction back on some
                        // errors (disk full, I/O): then there is no
                        // savepoint to return to, and the batch is lost.
                        joined.failed().await;
                        return Err(e);
                    }
                }
            }
        };
        drop(slot);
        match outcome.await {
            Ok(Ok(())) => Ok(out),
            Ok(Err(e)) => Err(DomainError::from(e).into()),
            // The committer was dropped with its runtime: the transaction
            // went uncommitted.
            Err(_) => Err(DomainError::busy("the batch's commit was abandoned").into()),
        }
    }

    /// Spawns the committer of the batch just put in the slot: it takes the
    /// slot behind the requests already waiting for it, then commits.
    fn spawn_committer(self: &Arc<Self>) {
        let gc = Arc::clone(self);
        tokio::spawn(async move {
            let mut abandon = Abandon(Some(Arc::clone(&gc)));
            let mut slot = gc.slot.lock().await;
            let batch = slot.batch.take();
            abandon.0 = None;
            let Some(batch) = batch else {
                drop(slot);
                gc.closed.notify_waiters();
                return;
            };
            if batch.may_chain(&gc) && gc.queued.load(Ordering::Relaxed) > 0 {
                gc.chain(slot, batch).await;
                return;
            }
            drop(slot);
            gc.closed.notify_waiters();
            let writes = batch.waiters.len() as u64;
            if batch.finish().await {
                gc.counted(writes);
            }
        });
    }

    /// Batches begun by the committer of the one before (a chain).
    pub fn chained(&self) -> u64 {
        self.chained.load(Ordering::Relaxed)
    }

    fn counted(&self, writes: u64) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.writes.fetch_add(writes, Ordering::Relaxed);
    }

    /// Commits `batch` and, on its connection, begins the next batch for
    /// the requests waiting for the slot (held meanwhile: they wait for
    /// the writer either way).
    async fn chain(self: &Arc<Self>, mut slot: MutexGuard<'_, Slot>, batch: Batch) {
        let Batch {
            tx,
            waiters,
            chained_since,
            chained_after,
            ..
        } = batch;
        let writes = waiters.len() as u64;
        if let Err(e) = tx.commit_in_place().await {
            // Not committed (what was held failed, or the `COMMIT`).
            drop(slot);
            self.closed.notify_waiters();
            tx.end().await;
            Batch::tell(waiters, Err(CommitError::from(db_error(e))));
            return;
        }
        self.counted(writes);
        Batch::tell(waiters, Ok(()));
        match tx.begin_in_place(self.begin_sql()).await {
            Ok(()) => {
                self.chained.fetch_add(1, Ordering::Relaxed);
                slot.batch = Some(Batch {
                    tx,
                    waiters: Vec::new(),
                    release: None,
                    last: None,
                    broken: None,
                    chained_since,
                    chained_after: chained_after + 1,
                });
                // Behind the requests waiting: they join the batch.
                self.spawn_committer();
                drop(slot);
            }
            Err(e) => {
                // The requests waiting begin their own, from the pool.
                tracing::warn!(error = %e, "could not begin a chained batch");
                drop(slot);
                tx.end().await;
            }
        }
        self.closed.notify_waiters();
    }

    fn begin_sql(&self) -> &'static str {
        #[cfg(test)]
        if self.fail_next_begin.swap(false, Ordering::Relaxed) {
            return "BEGIN NOTHING";
        }
        "BEGIN IMMEDIATE"
    }
}

/// A committer dropped before it took its batch (its runtime shut down):
/// the batch is dropped (rolled back, the writer connection freed; its
/// requests answer 503) rather than left open for ever.
struct Abandon(Option<Arc<GroupCommit>>);

impl Drop for Abandon {
    fn drop(&mut self) {
        if let Some(gc) = self.0.take()
            && let Ok(mut slot) = gc.slot.try_lock()
        {
            drop(slot.batch.take());
            gc.closed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use sea_orm::{ConnectionTrait, Statement};

    use super::*;
    use crate::error::ScimError;

    async fn store() -> Store {
        let path = std::env::temp_dir().join(format!("scim-gc-{}.db", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let store = Store::open(&url, 2, Duration::from_secs(5)).await.unwrap();
        store
            .writer()
            .execute_unprepared("CREATE TABLE gc_probe (v TEXT NOT NULL UNIQUE)")
            .await
            .unwrap();
        store
    }

    async fn insert<C: ConnectionTrait>(tx: &C, v: &str) -> Result<(), DomainError> {
        tx.execute_raw(Statement::from_sql_and_values(
            tx.get_database_backend(),
            "INSERT INTO gc_probe (v) VALUES (?)",
            [v.into()],
        ))
        .await
        .map(|_| ())
        .map_err(db_error)
    }

    /// The committed values, read on a reader connection.
    async fn committed(store: &Store) -> Vec<String> {
        let mut rows = in_order(store).await;
        rows.sort();
        rows
    }

    fn origin() -> Origin {
        Origin::new(crate::store::audit::Actor::System("test"), None)
    }

    fn group(store: &Store) -> Arc<GroupCommit> {
        Arc::clone(store.group_commit().expect("SQLite groups commits"))
    }

    /// Runs a leader that waits for `go` inside its transaction, so the
    /// requests spawned meanwhile queue for the slot and join its batch.
    async fn hold_a_batch(
        store: &Store,
    ) -> (
        oneshot::Sender<()>,
        tokio::task::JoinHandle<Result<(), DomainError>>,
    ) {
        let (go, wait) = oneshot::channel::<()>();
        let (started, is_started) = oneshot::channel::<()>();
        let (s, g) = (store.clone(), group(store));
        let leader = tokio::spawn(async move {
            g.run(&s, &origin(), async |tx: &WriteTx| {
                insert(tx, "leader").await?;
                let _ = started.send(());
                let _ = wait.await;
                Ok::<_, DomainError>(())
            })
            .await
        });
        is_started.await.unwrap();
        (go, leader)
    }

    /// Each request's outcome: `Ok` or its HTTP status.
    async fn statuses(
        requests: Vec<tokio::task::JoinHandle<Result<(), DomainError>>>,
    ) -> Vec<Result<(), u16>> {
        futures_util::future::join_all(requests)
            .await
            .into_iter()
            .map(|r| r.unwrap().map_err(|e| ScimError::from(e).status()))
            .collect()
    }

    /// Lets spawned tasks reach their wait for the slot.
    async fn settle() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_request_in_a_batch_undoes_only_its_own_writes() {
        let store = store().await;
        let (go, leader) = hold_a_batch(&store).await;
        let mut joiners = vec![];
        for v in ["a", "leader", "b"] {
            let (s, g) = (store.clone(), group(&store));
            joiners.push(tokio::spawn(async move {
                g.run(&s, &origin(), async |tx: &WriteTx| {
                    insert(tx, &format!("{v}-first")).await?;
                    // "leader" is taken: this request fails after a write.
                    insert(tx, v).await
                })
                .await
            }));
            settle().await;
        }
        go.send(()).unwrap();
        leader.await.unwrap().unwrap();
        let outcomes = statuses(joiners).await;
        assert_eq!(outcomes, vec![Ok(()), Err(500), Ok(())]);
        assert_eq!(
            committed(&store).await,
            ["a", "a-first", "b", "b-first", "leader"]
        );
        let (commits, writes) = group(&store).stats();
        assert_eq!((commits, writes), (1, 3), "one commit for the three");
    }

    /// A request whose future is dropped (its client went away) in the
    /// middle of its savepoint leaves nothing; the batch commits the
    /// others, and the writer connection is sane for the next.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_dropped_mid_savepoint_leaves_nothing() {
        let store = store().await;
        let (go, leader) = hold_a_batch(&store).await;
        let (is_inserted, dropped) = spawn_never_ending(&store);
        settle().await;
        let (s, g) = (store.clone(), group(&store));
        let after = tokio::spawn(async move {
            g.run(&s, &origin(), async |tx: &WriteTx| {
                insert(tx, "after").await
            })
            .await
        });
        settle().await;
        go.send(()).unwrap();
        is_inserted.await.unwrap();
        dropped.abort();
        assert!(dropped.await.unwrap_err().is_cancelled());
        leader.await.unwrap().unwrap();
        after.await.unwrap().unwrap();
        assert_eq!(committed(&store).await, ["after", "leader"]);
        // The connection is out of the transaction: a plain write works.
        insert_alone(&store, "next").await;
        assert_eq!(committed(&store).await, ["after", "leader", "next"]);
    }

    /// A failed lone request leaves no transaction open: a write on the
    /// writer connection right after goes through at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_lone_request_leaves_the_writer_free() {
        let store = store().await;
        let g = group(&store);
        let failed = g
            .run(&store, &origin(), async |tx: &WriteTx| {
                insert(tx, "x").await?;
                Err::<(), _>(DomainError::state("no"))
            })
            .await;
        assert_eq!(ScimError::from(failed.unwrap_err()).status(), 409);
        tokio::time::timeout(Duration::from_secs(1), insert_alone(&store, "y"))
            .await
            .expect("the writer is free");
        assert_eq!(committed(&store).await, ["y"]);
        g.run(&store, &origin(), async |tx: &WriteTx| {
            insert(tx, "z").await
        })
        .await
        .unwrap();
        assert_eq!(committed(&store).await, ["y", "z"]);
    }

    /// An INSERT whose result is a row: a query, which carries what the
    /// transaction holds (a savepoint) in its round trip.
    async fn insert_returning(tx: &WriteTx, v: &str) -> Result<(), DomainError> {
        tx.query_one_raw(Statement::from_sql_and_values(
            tx.get_database_backend(),
            "INSERT INTO gc_probe (v) VALUES (?) RETURNING v",
            [v.into()],
        ))
        .await
        .map(drop)
        .map_err(db_error)
    }

    fn writes(store: &Store) -> u64 {
        store
            .statement_counts()
            .into_iter()
            .find(|(pool, _)| *pool == "write")
            .map(|(_, n)| n)
            .unwrap()
    }

    /// Spawns a request of the held batch inserting `values` in turn with
    /// [`insert_returning`] (`None`: refuses before any statement), and
    /// lets it reach its turn.
    async fn join_with(
        store: &Store,
        values: &'static [Option<&'static str>],
    ) -> tokio::task::JoinHandle<Result<(), DomainError>> {
        let (s, g) = (store.clone(), group(store));
        let joiner = tokio::spawn(async move {
            g.run(&s, &origin(), async |tx: &WriteTx| {
                for v in values {
                    match v {
                        Some(v) => insert_returning(tx, v).await?,
                        None => return Err(DomainError::state("no")),
                    }
                }
                Ok(())
            })
            .await
        });
        settle().await;
        joiner
    }

    /// The writer keeps its savepoint and statement journals in memory;
    /// on a file they cost a system call per page (a reader keeps SQLite's
    /// default: its sorts may spill). Its page cache is 32 MiB.
    #[tokio::test]
    async fn the_writer_journals_in_memory() {
        let store = store().await;
        let temp_store = async |db: &sea_orm::DatabaseConnection| {
            db.query_one_raw(Statement::from_string(store.backend(), "PRAGMA temp_store"))
                .await
                .unwrap()
                .unwrap()
                .try_get_by_index::<i64>(0)
                .unwrap()
        };
        assert_eq!(temp_store(store.writer()).await, 2, "MEMORY");
        assert_eq!(temp_store(store.reader()).await, 0, "DEFAULT");
        let cache_size = store
            .writer()
            .query_one_raw(Statement::from_string(store.backend(), "PRAGMA cache_size"))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap();
        assert_eq!(cache_size, -32 * 1024, "32 MiB");
    }

    /// SQLite's compile-time options, as the writer connection reports them.
    async fn compile_options(store: &Store) -> Vec<String> {
        store
            .writer()
            .query_all_raw(Statement::from_string(
                store.backend(),
                "PRAGMA compile_options",
            ))
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get_by_index::<String>(0).unwrap())
            .collect()
    }

    /// SQLite is built as `.cargo/config.toml` says (`LIBSQLITE3_FLAGS`):
    /// without its memory statistics, whose global mutex every one of its
    /// allocations took. The same variable makes it sync with `fdatasync`
    /// (`HAVE_FDATASYNC`), which the compile options don't list: this test
    /// catches the file gone, not that one flag dropped from it.
    #[tokio::test]
    async fn sqlite_is_built_without_memory_statistics() {
        let options = compile_options(&store().await).await;
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "{options:?}"
        );
    }

    /// Each connection keeps a page cache of its own. Built with
    /// `SQLITE_ENABLE_MEMORY_MANAGEMENT` (libsqlite3-sys's default), SQLite
    /// puts every connection's pages in one cache with one LRU list: a
    /// reader at its own limit takes the least recently used page of any
    /// connection, and the reads of a few seconds of GETs took the writer's
    /// pages. The writes after them read ~54 pages a `POST /Users` from the
    /// file instead of ~2, and ran ~25 % slower, for as long as reads and
    /// writes went on side by side.
    #[tokio::test]
    async fn sqlite_keeps_a_page_cache_per_connection() {
        let options = compile_options(&store().await).await;
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "{options:?}"
        );
    }

    /// A request's savepoint goes to the database with its first
    /// statement, and its release with the next request's: a batch of
    /// four one-statement requests is four round trips (and its commit).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn savepoints_cost_no_round_trip_of_their_own() {
        let store = store().await;
        let before = writes(&store);
        let (go, leader) = hold_a_batch(&store).await;
        let mut joiners = vec![];
        for v in [&[Some("a")], &[Some("b")], &[Some("c")]] {
            joiners.push(join_with(&store, v).await);
        }
        go.send(()).unwrap();
        leader.await.unwrap().unwrap();
        for j in joiners {
            j.await.unwrap().unwrap();
        }
        assert_eq!(committed(&store).await, ["a", "b", "c", "leader"]);
        assert_eq!(group(&store).stats(), (1, 4), "one commit for the four");
        assert_eq!(writes(&store) - before, 4, "one round trip a request");
    }

    /// A request that fails in the round trip that opened its savepoint,
    /// or before it sent anything, undoes only its own work: the work of
    /// the request before it (its savepoint released by that round trip,
    /// or not yet) stays, and the next goes on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_failing_with_its_first_statement_or_before_any_undoes_only_itself() {
        let store = store().await;
        let (go, leader) = hold_a_batch(&store).await;
        let mut joiners = vec![];
        joiners.push(join_with(&store, &[Some("a")]).await);
        // Taken: fails in the round trip that releases "a"'s savepoint
        // and opens its own.
        joiners.push(join_with(&store, &[Some("leader")]).await);
        joiners.push(join_with(&store, &[Some("b")]).await);
        // Refused before any statement: "b"'s savepoint stays to release.
        joiners.push(join_with(&store, &[None]).await);
        // Fails after a statement of its own: "c" goes too.
        joiners.push(join_with(&store, &[Some("c"), Some("a")]).await);
        joiners.push(join_with(&store, &[Some("d")]).await);
        go.send(()).unwrap();
        leader.await.unwrap().unwrap();
        let outcomes = statuses(joiners).await;
        assert_eq!(
            outcomes,
            vec![Ok(()), Err(500), Ok(()), Err(409), Err(500), Ok(())]
        );
        assert_eq!(committed(&store).await, ["a", "b", "d", "leader"]);
        assert_eq!(group(&store).stats(), (1, 4));
    }

    /// A request's last writes, held (its sync-log entry, its events), are
    /// not sent when its work ends ([`crate::service::write`]): they go
    /// with the next request's first statement, or with the commit. Three
    /// requests of a query and a held write each are a round trip each,
    /// and one for the commit's (it was two a request).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_requests_last_writes_go_with_the_next_requests_first_statement() {
        let store = store().await;
        let (go, leader) = hold_a_batch(&store).await;
        let before = writes(&store);
        let mut joiners = vec![];
        for v in ["a", "b", "c"] {
            let s = store.clone();
            joiners.push(tokio::spawn(async move {
                crate::service::write(&s, &origin(), async |tx: &WriteTx| {
                    insert_returning(tx, v).await?;
                    let log = Statement::from_sql_and_values(
                        DbBackend::Sqlite,
                        "INSERT INTO gc_probe (v) VALUES (?)",
                        [format!("{v}-log").into()],
                    );
                    super::super::carry::write_later(tx, log)
                        .await
                        .map_err(db_error)
                })
                .await
            }));
            settle().await;
        }
        go.send(()).unwrap();
        leader.await.unwrap().unwrap();
        for j in joiners {
            j.await.unwrap().unwrap();
        }
        assert_eq!(
            committed(&store).await,
            ["a", "a-log", "b", "b-log", "c", "c-log", "leader"]
        );
        assert_eq!(group(&store).stats(), (1, 4));
        assert_eq!(
            writes(&store) - before,
            4,
            "a round trip a request, one for the commit"
        );
    }

    /// A request that succeeds releases its savepoint ahead of the writes
    /// it still holds: they go to the database with the next request's
    /// first statement, outside its savepoint, so SQLite copies none of
    /// the pages they change into that savepoint's journal.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_requests_last_writes_run_after_its_savepoint_is_released() {
        let store = store().await;
        let (go, leader) = hold_a_batch(&store).await;
        let (s, g) = (store.clone(), group(&store));
        let a = tokio::spawn(async move {
            g.run(&s, &origin(), async |tx: &WriteTx| {
                insert_returning(tx, "a").await?;
                let log = Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    "INSERT INTO gc_probe (v) VALUES (?)",
                    ["a-log".into()],
                );
                super::super::carry::write_later(tx, log)
                    .await
                    .map_err(db_error)
            })
            .await
        });
        settle().await;
        let (s, g) = (store.clone(), group(&store));
        let b = tokio::spawn(async move {
            g.run(&s, &origin(), async |tx: &WriteTx| {
                let next_round_trip = tx.held().sql().to_owned();
                insert_returning(tx, "b").await?;
                Ok::<_, DomainError>(next_round_trip)
            })
            .await
        });
        settle().await;
        go.send(()).unwrap();
        leader.await.unwrap().unwrap();
        a.await.unwrap().unwrap();
        assert_eq!(
            b.await.unwrap().unwrap(),
            "RELEASE group_commit_a;\nINSERT INTO gc_probe (v) VALUES (?);\nSAVEPOINT group_commit_b"
        );
        assert_eq!(committed(&store).await, ["a", "a-log", "b", "leader"]);
    }

    /// A request's writes still held when its turn ends go to the
    /// database with the next request's first statement. When that round
    /// trip fails, the failure may be the earlier request's: its savepoint
    /// is still open, and a `ROLLBACK TO` of the same name would undo the
    /// earlier request's work (which is answered as written). The batch is
    /// rolled back whole instead: every request of it fails, none is
    /// answered as written with its writes gone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failure_in_a_round_trip_carrying_an_earlier_requests_writes_loses_no_acknowledged_write()
     {
        let store = store().await;
        let (go, leader) = hold_a_batch(&store).await;
        let (s, g) = (store.clone(), group(&store));
        let earlier = tokio::spawn(async move {
            g.run(&s, &origin(), async |tx: &WriteTx| {
                insert(tx, "earlier").await?;
                // Fails in the next request's round trip.
                hold_a_failing_insert(tx);
                Ok::<_, DomainError>(())
            })
            .await
        });
        settle().await;
        let next = join_with(&store, &[Some("next")]).await;
        go.send(()).unwrap();
        let outcomes = statuses(vec![leader, earlier, next]).await;
        assert!(outcomes.iter().all(Result::is_err), "{outcomes:?}");
        assert!(committed(&store).await.is_empty());
        insert_alone(&store, "after").await;
        assert_eq!(committed(&store).await, ["after"]);
    }

    /// `store`, its chains of batches as long as a test's pauses need.
    fn chaining(mut store: Store) -> Store {
        store.group = Some(Arc::new(GroupCommit {
            chain_for: Duration::from_secs(60),
            ..GroupCommit::default()
        }));
        store
    }

    /// Spawns a request of the held batch (or the next) that inserts `v`,
    /// then waits for its `go` holding the slot.
    async fn join_and_wait(
        store: &Store,
        v: &'static str,
    ) -> (
        oneshot::Sender<()>,
        tokio::task::JoinHandle<Result<(), DomainError>>,
    ) {
        let (go, wait) = oneshot::channel::<()>();
        let (s, g) = (store.clone(), group(store));
        let joiner = tokio::spawn(async move {
            g.run(&s, &origin(), async |tx: &WriteTx| {
                insert(tx, v).await?;
                let _ = wait.await;
                Ok::<_, DomainError>(())
            })
            .await
        });
        settle().await;
        (go, joiner)
    }

    /// A batch (the leader, "a") whose committer has requests waiting
    /// behind it ("c", "d", queued while "a" held the slot).
    async fn a_batch_with_requests_waiting_behind_its_committer(
        store: &Store,
        next: &'static [&'static [Option<&'static str>]],
    ) -> (
        Vec<tokio::task::JoinHandle<Result<(), DomainError>>>,
        Vec<tokio::task::JoinHandle<Result<(), DomainError>>>,
    ) {
        let (go, leader) = hold_a_batch(store).await;
        let (go_a, a) = join_and_wait(store, "a").await;
        // The leader's work ends: its committer queues behind "a".
        go.send(()).unwrap();
        settle().await;
        let mut waiting = vec![];
        for values in next {
            waiting.push(join_with(store, values).await);
        }
        go_a.send(()).unwrap();
        (vec![leader, a], waiting)
    }

    /// The committer of a batch with requests waiting behind it commits
    /// and begins their batch on the writer connection in two round trips
    /// (the flush and `COMMIT` one, `BEGIN IMMEDIATE` the other): the
    /// connection does not go back to the pool in between.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_waiting_for_a_commit_get_the_next_batch_on_the_same_connection() {
        let store = chaining(store().await);
        let before = writes(&store);
        let (first, next) = a_batch_with_requests_waiting_behind_its_committer(
            &store,
            &[&[Some("c")], &[Some("d")]],
        )
        .await;
        let outcomes = statuses(first.into_iter().chain(next).collect()).await;
        assert_eq!(outcomes, vec![Ok(()); 4]);
        assert_eq!(committed(&store).await, ["a", "c", "d", "leader"]);
        assert_eq!(group(&store).stats(), (2, 4), "two commits");
        assert_eq!(group(&store).chained(), 1);
        // leader, a, the COMMIT, the BEGIN, c, d (sea-orm's `COMMIT` of
        // the last batch is not counted, nor what the pool runs).
        assert_eq!(writes(&store) - before, 6);
        insert_alone(&store, "after").await;
    }

    /// A request of a chained batch dropped mid-savepoint (its client
    /// went away) leaves nothing, as in a batch of its own: the next
    /// request's round trip carries its rollback, the chained batch
    /// commits the others, and the writer is sane after.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_dropped_in_a_chained_batch_leaves_nothing() {
        let store = chaining(store().await);
        let (go, leader) = hold_a_batch(&store).await;
        let (go_a, a) = join_and_wait(&store, "a").await;
        go.send(()).unwrap();
        settle().await;
        let (is_inserted, dropped) = spawn_never_ending(&store);
        settle().await;
        let after = join_with(&store, &[Some("after")]).await;
        go_a.send(()).unwrap();
        is_inserted.await.unwrap();
        dropped.abort();
        assert!(dropped.await.unwrap_err().is_cancelled());
        let outcomes = statuses(vec![leader, a, after]).await;
        assert_eq!(outcomes, vec![Ok(()); 3]);
        assert_eq!(group(&store).chained(), 1);
        assert_eq!(committed(&store).await, ["a", "after", "leader"]);
        insert_alone(&store, "next").await;
        assert_eq!(committed(&store).await, ["a", "after", "leader", "next"]);
    }

    /// A chained batch whose commit fails (the last request's held write
    /// does) answers each of its requests with the failure; the requests
    /// waiting begin a batch of their own, and the writer is sane.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_chained_commit_that_fails_fails_its_batch_only() {
        let store = chaining(store().await);
        let (go, leader) = hold_a_batch(&store).await;
        let (go_a, wait_a) = oneshot::channel::<()>();
        let (s, g) = (store.clone(), group(&store));
        let a = tokio::spawn(async move {
            g.run(&s, &origin(), async |tx: &WriteTx| {
                insert(tx, "a").await?;
                // Fails in the commit's round trip.
                hold_a_failing_insert(tx);
                let _ = wait_a.await;
                Ok::<_, DomainError>(())
            })
            .await
        });
        settle().await;
        go.send(()).unwrap();
        settle().await;
        let c = join_with(&store, &[Some("c")]).await;
        go_a.send(()).unwrap();
        let outcomes = statuses(vec![leader, a, c]).await;
        assert_eq!(outcomes, vec![Err(500), Err(500), Ok(())]);
        assert_eq!(committed(&store).await, ["c"]);
        insert_alone(&store, "after").await;
        assert_eq!(committed(&store).await, ["after", "c"]);
    }

    /// When the `BEGIN` of a chained batch fails, the batch before is
    /// committed all the same (its requests answer as written), and the
    /// requests waiting begin their own from the pool.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_chained_begin_that_fails_loses_nothing() {
        let store = chaining(store().await);
        group(&store).fail_next_begin.store(true, Ordering::Relaxed);
        let (first, next) = a_batch_with_requests_waiting_behind_its_committer(
            &store,
            &[&[Some("c")], &[Some("d")]],
        )
        .await;
        let outcomes = statuses(first.into_iter().chain(next).collect()).await;
        assert_eq!(outcomes, vec![Ok(()); 4]);
        assert_eq!(committed(&store).await, ["a", "c", "d", "leader"]);
        assert_eq!(group(&store).chained(), 0);
        insert_alone(&store, "after").await;
        assert_eq!(committed(&store).await, ["a", "after", "c", "d", "leader"]);
    }

    /// A chain gives the writer connection back to the pool after
    /// [`MAX_CHAIN`] batches (or [`CHAIN_FOR`]): a write outside the group
    /// commit (the webhook worker's, say) waiting for the connection gets
    /// it then, ahead of the requests that came after it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_chain_of_batches_lets_other_writers_in() {
        let mut store = store().await;
        store.group = Some(Arc::new(GroupCommit {
            chain_for: Duration::from_secs(60),
            max_chain: 2,
            ..GroupCommit::default()
        }));
        let (go, leader) = hold_a_batch(&store).await;
        let (go_a, a) = join_and_wait(&store, "a").await;
        go.send(()).unwrap();
        settle().await;
        // Queued behind the first batch's committer: chained.
        let (go_c, c) = join_and_wait(&store, "c").await;
        let s = store.clone();
        let outside = tokio::spawn(async move { insert_alone(&s, "outside").await });
        settle().await;
        go_a.send(()).unwrap();
        settle().await;
        // Queued behind the second batch's committer: the chain is at its
        // end, so this waits for the connection behind "outside".
        let d = join_with(&store, &[Some("d")]).await;
        go_c.send(()).unwrap();
        let outcomes = statuses(vec![leader, a, c, d]).await;
        assert_eq!(outcomes, vec![Ok(()); 4]);
        outside.await.unwrap();
        assert_eq!(group(&store).chained(), 1);
        assert_eq!(in_order(&store).await, ["leader", "a", "c", "outside", "d"]);
    }

    /// A chain no longer than [`CHAIN_FOR`]: the committer of a batch
    /// begun longer ago commits it and gives the connection back, and
    /// the requests waiting begin their own batch from the pool.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_older_than_chain_for_does_not_chain() {
        let store = store().await;
        let (first, next) =
            a_batch_with_requests_waiting_behind_its_committer(&store, &[&[Some("c")]]).await;
        let outcomes = statuses(first.into_iter().chain(next).collect()).await;
        assert_eq!(outcomes, vec![Ok(()); 3]);
        assert_eq!(group(&store).stats(), (2, 3));
        assert_eq!(group(&store).chained(), 0);
    }

    /// The committed values in the order they were written.
    async fn in_order(store: &Store) -> Vec<String> {
        store
            .reader()
            .query_all_raw(Statement::from_string(
                store.backend(),
                "SELECT v FROM gc_probe ORDER BY rowid",
            ))
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.try_get_by_index::<String>(0).unwrap())
            .collect()
    }

    /// Holds, past the request's turn, an INSERT of "leader" (which
    /// [`hold_a_batch`]'s leader has taken): it fails in whichever round
    /// trip carries it.
    fn hold_a_failing_insert(tx: &WriteTx) {
        use crate::store::events::Recorder;
        tx.hold(Statement::from_sql_and_values(
            tx.get_database_backend(),
            "INSERT INTO gc_probe (v) VALUES (?)",
            ["leader".into()],
        ));
    }

    /// Spawns a request that inserts "dropped", says so, then never ends
    /// (its client will go away: the test aborts it).
    fn spawn_never_ending(
        store: &Store,
    ) -> (
        oneshot::Receiver<()>,
        tokio::task::JoinHandle<Result<(), DomainError>>,
    ) {
        let (inserted, is_inserted) = oneshot::channel::<()>();
        let (s, g) = (store.clone(), group(store));
        let dropped = tokio::spawn(async move {
            g.run(&s, &origin(), async |tx: &WriteTx| {
                insert(tx, "dropped").await?;
                let _ = inserted.send(());
                std::future::pending::<()>().await;
                Ok::<_, DomainError>(())
            })
            .await
        });
        (is_inserted, dropped)
    }

    async fn insert_alone(store: &Store, v: &str) {
        store
            .writer()
            .execute_raw(Statement::from_sql_and_values(
                store.backend(),
                "INSERT INTO gc_probe (v) VALUES (?)",
                [v.into()],
            ))
            .await
            .unwrap();
    }
}
