//! SQLite: the thread write requests take their turns on, and the CPU it
//! and the writer connection's thread share.
//!
//! A write's turn on the writer ([`super::group_commit`]) hands over three
//! times: the batch's slot to the next request's task, the request's
//! statements to sqlx's thread of the writer connection, and the rows
//! back. On actix's workers those hops cross CPUs: the thread woken sits
//! on a CPU that is idle (the turns are serial, so the other threads
//! wait), and waking a thread on an idle CPU is costly on a VM (measured
//! on the build machine, 2 vCPUs: a futex round trip between two threads
//! took 66 µs across the two CPUs and 1.6 µs on one).
//!
//! So the turns run on one thread of their own ([`WriterThread::run`]: a
//! current-thread runtime), where the slot goes from one request to the
//! next without a wake-up, and the writer connection is opened from that
//! thread, so sqlx's thread for it inherits the CPU the writer thread is
//! kept on ([`WriterCpu`]): a round trip to it stays on one CPU. What a
//! request does outside its turn (decoding, hashing, the response) stays
//! on actix's workers.
//!
//! The server makes the two threads `SCHED_BATCH` on Linux when they are
//! kept on a CPU ([`WriterPlacement::batch`], `SCIM_WRITER_BATCH`, on
//! unless `0`; [`batch_policy`]): a thread of that policy does not preempt
//! the one running when it is woken, it waits for it to block (or for the
//! scheduler's tick). Under `SCHED_OTHER` each message sqlx's thread sends
//! back (a statement's rows, its end) wakes the writer thread, which takes
//! the CPU at once, finds the turn not done yet and sleeps again: a `POST
//! /Users` at 16 connections cost ~12 context switches on the writer's CPU
//! (`/proc`: 5.4 voluntary of `scim-writer`, 4.7 involuntary of sqlx's
//! thread), ~4 with the policy, and writes ran 13–17 % faster on average
//! (`wrk`, the two policies in turn; README's Performance). But each
//! hand-over then also waits behind any other busy thread on that CPU until
//! the tick: with POSTs carrying passwords (argon2, tens of ms on a blocking
//! thread) beside PATCHes, the PATCHes ran at ~500 req/s instead of
//! ~1,300. So a thread about to hash a password leaves that CPU first
//! ([`crate::cpus::keep_off_writer_cpu`]); the PATCHes then ran faster than under
//! `SCHED_OTHER`.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::LocalSet;

use crate::domain::error::DomainError;

/// Which CPU the writer thread (and the writer connection's thread) is
/// kept on: `SCIM_WRITER_CPU`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriterCpu {
    /// The last CPU the process may run on, when it may run on more than
    /// one.
    #[default]
    Auto,
    /// Any: the kernel places both threads.
    Off,
    /// This one (an id as `taskset -c` takes it).
    Id(usize),
}

impl std::str::FromStr for WriterCpu {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "auto" => Ok(Self::Auto),
            "off" => Ok(Self::Off),
            n => n
                .parse()
                .map(Self::Id)
                .map_err(|_| format!("{s:?}: `auto`, `off` or a CPU number")),
        }
    }
}

impl WriterCpu {
    /// The CPU to keep the writer on, of those the process may run on.
    fn pick(self) -> Result<Option<core_affinity::CoreId>, String> {
        let allowed = core_affinity::get_core_ids().unwrap_or_default();
        match self {
            Self::Off => Ok(None),
            Self::Auto => Ok(allowed.last().copied().filter(|_| allowed.len() > 1)),
            Self::Id(id) => allowed
                .iter()
                .find(|c| c.id == id)
                .copied()
                .map(Some)
                .ok_or_else(|| {
                    let ids: Vec<usize> = allowed.iter().map(|c| c.id).collect();
                    format!("SCIM_WRITER_CPU={id}: the process may run on CPUs {ids:?} only")
                }),
        }
    }
}

/// Where the writer thread runs: its CPU ([`WriterCpu`]) and whether,
/// kept on one, it and the writer connection's thread are `SCHED_BATCH`
/// (`SCIM_WRITER_BATCH`: the server's default; a placement made from a CPU
/// alone leaves them `SCHED_OTHER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriterPlacement {
    pub cpu: WriterCpu,
    pub batch: bool,
}

impl From<WriterCpu> for WriterPlacement {
    fn from(cpu: WriterCpu) -> Self {
        Self { cpu, batch: false }
    }
}

/// The thread of a store's write turns; stops when dropped (the store
/// holds it, so no write is on it then).
pub struct WriterThread {
    jobs: mpsc::UnboundedSender<Job>,
    cpu: Option<usize>,
    /// `SCHED_BATCH` ([`batch_policy`]).
    batch: bool,
    /// The name of the writer connection's thread (sqlx's).
    connection_thread: String,
}

/// What the thread is handed: it spawns a write's future there.
type Job = Box<dyn FnOnce() + Send>;

/// Numbers the writer threads of a process (tests open many stores).
static STARTED: AtomicU64 = AtomicU64::new(0);

impl WriterThread {
    pub fn start(placement: impl Into<WriterPlacement>) -> std::io::Result<Self> {
        let WriterPlacement { cpu, batch } = placement.into();
        let core = cpu.pick().map_err(std::io::Error::other)?;
        let (started, is_started) = std::sync::mpsc::channel();
        let (jobs, mut queue) = mpsc::unbounded_channel::<Job>();
        std::thread::Builder::new()
            .name("scim-writer".into())
            .spawn(move || {
                let pinned = core.is_some_and(core_affinity::set_for_current);
                // Before the writer connection is opened from here: its
                // thread inherits the policy.
                let batch = batch
                    && pinned
                    && batch_policy()
                        .inspect_err(|e| {
                            tracing::warn!(
                                "the writer thread stays SCHED_OTHER: {e}; writes pay more context switches"
                            );
                        })
                        .is_ok();
                // Timers only: nothing on it waits on a socket. Without an
                // I/O driver the thread sleeps on a futex, and sqlx's thread
                // wakes it with one system call instead of an eventfd's
                // write, then its read after `epoll_wait`.
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = started.send(Err(e));
                        return;
                    }
                };
                let _ = started.send(Ok((pinned, batch)));
                // Until the store is dropped. A write's future need not be
                // `Send`: it is made here and stays ([`WriterThread::run`]).
                LocalSet::new().block_on(&rt, async move {
                    while let Some(job) = queue.recv().await {
                        job();
                    }
                });
            })?;
        let (pinned, batch) = is_started.recv().map_err(std::io::Error::other)??;
        if let Some(core) = core.filter(|_| pinned && batch) {
            crate::cpus::reserve_for_writer(core.id);
        }
        let n = STARTED.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(Self {
            jobs,
            cpu: core.filter(|_| pinned).map(|c| c.id),
            batch,
            // Within Linux's 15 bytes of a thread's name up to n = 999,999.
            connection_thread: format!("sqlite-wr-{n}"),
        })
    }

    /// The CPU the thread is kept on, if any.
    pub fn cpu(&self) -> Option<usize> {
        self.cpu
    }

    /// Whether the thread (and the writer connection's) is `SCHED_BATCH`.
    pub fn batch(&self) -> bool {
        self.batch
    }

    /// The name the writer connection's thread gets.
    pub fn connection_thread(&self) -> &str {
        &self.connection_thread
    }

    /// Runs the future `make` makes on the writer thread (made there, it
    /// need not be `Send`). Dropping the returned future (the client went
    /// away) drops that one where it is, as if it ran in place. The future
    /// is moved (copied) into the thread's task: a big one should come
    /// boxed, as [`crate::store::Store::on_writer`]'s does.
    pub async fn run<F, Fut>(&self, make: F) -> Result<Fut::Output, DomainError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        let (done, outcome) = oneshot::channel();
        // Dropped with this future: the write is dropped on the thread.
        let (_cancel, cancelled) = oneshot::channel::<()>();
        let job: Job = Box::new(move || {
            tokio::task::spawn_local(async move {
                // A panic in the write is its request's 500, not the
                // thread's end.
                let work = AssertUnwindSafe(make()).catch_unwind();
                tokio::select! {
                    biased;
                    _ = cancelled => {}
                    out = work => {
                        let _ = done.send(out.map_err(|panic| panic_text(&*panic)));
                    }
                }
            });
        });
        if self.jobs.send(job).is_err() {
            return Err(DomainError::busy("the writer thread stopped"));
        }
        match outcome.await {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(panic)) => Err(DomainError::internal(format!(
                "the write panicked on the writer thread: {panic}"
            ))),
            // Dropped unfinished: the thread stopped.
            Err(_) => Err(DomainError::busy("the writer thread stopped")),
        }
    }
}

/// Makes the calling thread `SCHED_BATCH` (Linux; threads it starts
/// inherit it). Its nice value must be 0, the default, which it keeps:
/// `thread-priority` sets the nice value with the policy.
#[cfg(target_os = "linux")]
fn batch_policy() -> Result<(), String> {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadPriorityOsValue, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    let nice = thread_stat_field(
        &std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default(),
        NICE,
    )
    .ok_or("its nice value could not be read")?;
    if nice != 0 {
        return Err(format!("its nice value is {nice}, not 0"));
    }
    set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Os(ThreadPriorityOsValue::default()),
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch),
    )
    .map_err(|e| format!("SCHED_BATCH was refused: {e:?}"))
}

#[cfg(not(target_os = "linux"))]
fn batch_policy() -> Result<(), String> {
    Err("scheduling policies are set on Linux only".into())
}

/// Fields of `/proc/<pid>/task/<tid>/stat` (`proc_pid_stat(5)`, counted
/// from 1): the nice value, the scheduling policy.
#[cfg(target_os = "linux")]
const NICE: usize = 19;
#[cfg(all(target_os = "linux", test))]
const POLICY: usize = 41;

/// Field `n` of a `stat` line: the ones after the command's name, which
/// is in parentheses and may hold spaces, start at 3.
#[cfg(target_os = "linux")]
fn thread_stat_field(stat: &str, n: usize) -> Option<i64> {
    let (_, rest) = stat.rsplit_once(") ")?;
    rest.split_whitespace().nth(n.checked_sub(3)?)?.parse().ok()
}

fn panic_text(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_writer_cpu_is_auto_off_or_a_number() {
        assert_eq!("auto".parse(), Ok(WriterCpu::Auto));
        assert_eq!(" off ".parse(), Ok(WriterCpu::Off));
        assert_eq!("3".parse(), Ok(WriterCpu::Id(3)));
        assert!("on".parse::<WriterCpu>().is_err());
        assert!("-1".parse::<WriterCpu>().is_err());
    }

    #[tokio::test]
    async fn a_cpu_the_process_may_not_run_on_is_refused() {
        let e = WriterThread::start(WriterCpu::Id(100_000)).err().unwrap();
        assert!(e.to_string().contains("SCIM_WRITER_CPU=100000"), "{e}");
    }

    /// Linux: where the process's threads run is read from `/proc`.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_writer_thread_runs_on_its_cpu() {
        let allowed = core_affinity::get_core_ids().unwrap();
        let last = allowed.last().unwrap().id;
        let writer = WriterThread::start(WriterCpu::Auto).unwrap();
        let want = (allowed.len() > 1).then_some(last);
        assert_eq!(writer.cpu(), want);
        let (name, cpus) = writer
            .run(|| async {
                let name = std::thread::current().name().map(str::to_owned);
                let cpus = std::fs::read_to_string("/proc/thread-self/status")
                    .unwrap()
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("Cpus_allowed_list:")
                            .map(|v| v.trim().to_owned())
                    })
                    .unwrap();
                (name, cpus)
            })
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("scim-writer"));
        if let Some(cpu) = want {
            assert_eq!(cpus, cpu.to_string());
        }
        let off = WriterThread::start(WriterCpu::Off).unwrap();
        assert_eq!(off.cpu(), None);
    }

    /// `Cpus_allowed_list` of this process's thread named `name`.
    #[cfg(target_os = "linux")]
    fn cpus_of_thread(name: &str) -> Option<String> {
        let status = std::fs::read_to_string(thread_dir(name)?.join("status")).ok()?;
        status.lines().find_map(|l| {
            l.strip_prefix("Cpus_allowed_list:")
                .map(|v| v.trim().to_owned())
        })
    }

    /// The scheduling policy of this process's thread named `name`
    /// (`SCHED_OTHER` 0, `SCHED_BATCH` 3).
    #[cfg(target_os = "linux")]
    fn policy_of_thread(name: &str) -> Option<i64> {
        let stat = std::fs::read_to_string(thread_dir(name)?.join("stat")).ok()?;
        thread_stat_field(&stat, POLICY)
    }

    #[cfg(target_os = "linux")]
    fn thread_dir(name: &str) -> Option<std::path::PathBuf> {
        for task in std::fs::read_dir("/proc/self/task").ok()? {
            let dir = task.ok()?.path();
            let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            if comm.trim_end() == name {
                return Some(dir);
            }
        }
        None
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_stat_lines_fields_are_counted_past_the_commands_name() {
        // Field n holds 10 n; the name has ") " in it.
        let fields: Vec<String> = (3..=52).map(|n| (10 * n).to_string()).collect();
        let stat = format!("4242 (sqlite) wr) {}", fields.join(" "));
        assert_eq!(thread_stat_field(&stat, 3), Some(30));
        assert_eq!(thread_stat_field(&stat, NICE), Some(190));
        assert_eq!(thread_stat_field(&stat, POLICY), Some(410));
        assert_eq!(thread_stat_field(&stat, 60), None);
        assert_eq!(thread_stat_field("no name", NICE), None);
    }

    async fn open(cpu: impl Into<WriterPlacement>) -> crate::store::Store {
        open_at(cpu).await.0
    }

    async fn open_at(cpu: impl Into<WriterPlacement>) -> (crate::store::Store, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!("scim-wt-{}.db", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let store = crate::store::Store::open_with(&url, 2, Duration::from_secs(5), None, cpu)
            .await
            .unwrap();
        (store, path)
    }

    /// The writer leaves checkpoints to `Store::checkpoint` up to its
    /// limit: 3 MB written stay in the WAL until a checkpoint on another
    /// connection moves them into the database file.
    #[tokio::test]
    async fn the_wal_is_checkpointed_off_the_writer() {
        use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
        let (store, path) = open_at(WriterCpu::Off).await;
        let w = store.writer();
        let limit: i64 = w
            .query_one_raw(Statement::from_string(
                DatabaseBackend::Sqlite,
                "PRAGMA wal_autocheckpoint",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index(0)
            .unwrap();
        assert_eq!(limit, i64::from(crate::store::WRITER_AUTOCHECKPOINT_PAGES));
        w.execute_unprepared("CREATE TABLE ck (v TEXT)")
            .await
            .unwrap();
        w.execute_unprepared(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) \
             INSERT INTO ck SELECT printf('%.1000c', 'x') FROM n",
        )
        .await
        .unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        assert_eq!(store.checkpoints(), 0);
        let moved = store.checkpoint().await.unwrap().unwrap();
        assert!(moved > 700, "{moved} frames");
        let after = std::fs::metadata(&path).unwrap().len();
        assert!(after > before + 3_000_000, "{before} → {after} bytes");
        assert_eq!(store.checkpoints(), 1);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_writer_connections_thread_shares_the_writer_threads_cpu() {
        let allowed = core_affinity::get_core_ids().unwrap();
        let cpu = allowed.last().unwrap().id;
        let store = open(WriterCpu::Id(cpu)).await;
        assert_eq!(store.writer_cpu(), Some(cpu));
        let thread = store.writer_thread.as_ref().unwrap().connection_thread();
        assert_eq!(
            cpus_of_thread(thread),
            Some(cpu.to_string()),
            "the thread {thread} of the writer connection"
        );
        // SCHED_OTHER unless asked (the server asks by default:
        // `SCIM_WRITER_BATCH`).
        assert!(!store.writer_batch());
        assert_eq!(policy_of_thread(thread), Some(0), "the thread {thread}");
        assert_eq!(writer_policy(&store).await, Some(0), "the writer thread");
        // And it stays the one opened there: never replaced.
        let pool = store.writer().get_sqlite_connection_pool().options();
        assert_eq!(pool.get_max_lifetime(), None);
        assert_eq!(pool.get_idle_timeout(), None);
        // Kept on no CPU, it may run on any.
        let free = open(WriterCpu::Off).await;
        assert_eq!(free.writer_cpu(), None);
        let thread = free.writer_thread.as_ref().unwrap().connection_thread();
        let cpus = cpus_of_thread(thread).expect("the writer connection's thread");
        if allowed.len() > 1 {
            assert_ne!(cpus, cpu.to_string());
        }
        assert!(!free.writer_batch());
        assert_eq!(policy_of_thread(thread), Some(0), "the thread {thread}");
    }

    /// The policy of the writer thread of `store`.
    #[cfg(target_os = "linux")]
    async fn writer_policy(store: &crate::store::Store) -> Option<i64> {
        store
            .on_writer(|| async {
                let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
                Ok::<_, DomainError>(thread_stat_field(&stat, POLICY))
            })
            .await
            .unwrap()
    }

    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn asked_for_the_writer_and_its_connections_thread_are_sched_batch_on_their_cpu() {
        let cpu = core_affinity::get_core_ids().unwrap().last().unwrap().id;
        let store = open(WriterPlacement {
            cpu: WriterCpu::Id(cpu),
            batch: true,
        })
        .await;
        // Neither takes the CPU from the other when it wakes it.
        assert!(store.writer_batch());
        let thread = store.writer_thread.as_ref().unwrap().connection_thread();
        assert_eq!(policy_of_thread(thread), Some(3), "the thread {thread}");
        assert_eq!(writer_policy(&store).await, Some(3), "the writer thread");
        // A thread about to hash a password moves off their CPU, when it
        // may run elsewhere.
        let kept_off = std::thread::spawn(|| {
            crate::cpus::keep_off_writer_cpu();
            let cpus = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).unwrap();
            (0..nix::sched::CpuSet::count())
                .filter(|&c| cpus.is_set(c).unwrap())
                .collect::<Vec<usize>>()
        })
        .join()
        .unwrap();
        let allowed: Vec<usize> = core_affinity::get_core_ids()
            .unwrap()
            .iter()
            .map(|c| c.id)
            .collect();
        let others: Vec<usize> = allowed.iter().copied().filter(|&id| id != cpu).collect();
        let expected = if others.is_empty() { allowed } else { others };
        assert_eq!(kept_off, expected, "the CPUs of a hashing thread");
        // Kept on no CPU, the two need not share one: left as they are.
        let free = open(WriterPlacement {
            cpu: WriterCpu::Off,
            batch: true,
        })
        .await;
        assert!(!free.writer_batch());
        let thread = free.writer_thread.as_ref().unwrap().connection_thread();
        assert_eq!(policy_of_thread(thread), Some(0), "the thread {thread}");
        assert_eq!(writer_policy(&free).await, Some(0), "the writer thread");
    }

    #[tokio::test]
    async fn a_run_dropped_midway_is_cancelled_there() {
        let writer = WriterThread::start(WriterCpu::Off).unwrap();
        let finished = Arc::new(AtomicBool::new(false));
        let f = Arc::clone(&finished);
        let run = writer.run(move || async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            f.store(true, Ordering::SeqCst);
        });
        assert!(
            tokio::time::timeout(Duration::from_millis(20), run)
                .await
                .is_err()
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(!finished.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_stopped_writer_thread_answers_busy() {
        let (jobs, queue) = mpsc::unbounded_channel();
        drop(queue);
        let gone = WriterThread {
            jobs,
            cpu: None,
            batch: false,
            connection_thread: String::new(),
        };
        let e = gone.run(|| async { 1 }).await.err().unwrap();
        assert!(matches!(e, DomainError::Unavailable(_)), "{e:?}");
    }

    #[tokio::test]
    async fn a_write_that_panics_answers_without_taking_the_thread_down() {
        let writer = WriterThread::start(WriterCpu::Off).unwrap();
        let e = writer
            .run(|| async {
                if true {
                    panic!("a bug in a write");
                }
            })
            .await
            .err()
            .unwrap();
        assert!(matches!(e, DomainError::Internal { .. }), "{e:?}");
        assert!(e.chain().contains("a bug in a write"), "{e:?}");
        assert_eq!(writer.run(|| async { 2 }).await.unwrap(), 2);
    }
}
