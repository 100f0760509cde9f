//! Which CPU long CPU-bound work keeps off: that of SQLite's writer
//! thread when it is `SCHED_BATCH` ([`crate::store::writer_thread`]). A
//! `SCHED_BATCH` thread woken while such work runs on its CPU waits for it
//! to block or for the scheduler's tick, and a write's turn hands over
//! between the writer thread and sqlx's several times. Password hashing
//! ([`crate::domain::secrets::hash_password_bounded`]) moves off it first.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The CPU of the process's latest `SCHED_BATCH` writer thread, plus one
/// (0: none).
static WRITER_CPU: AtomicUsize = AtomicUsize::new(0);

/// The writer thread, `SCHED_BATCH`, is kept on `cpu`.
pub fn reserve_for_writer(cpu: usize) {
    WRITER_CPU.store(cpu + 1, Ordering::Relaxed);
}

/// Keeps the calling thread off the reserved writer CPU, when there is one
/// and the thread may run on another CPU (Linux; the thread stays so: set
/// once per thread).
pub fn keep_off_writer_cpu() {
    #[cfg(target_os = "linux")]
    {
        use std::cell::Cell;

        use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
        use nix::unistd::Pid;

        thread_local!(static KEPT_OFF: Cell<usize> = const { Cell::new(0) });
        let reserved = WRITER_CPU.load(Ordering::Relaxed);
        if reserved == 0 || KEPT_OFF.get() == reserved {
            return;
        }
        KEPT_OFF.set(reserved);
        let this = Pid::from_raw(0);
        let Ok(mut cpus) = sched_getaffinity(this) else {
            return;
        };
        if cpus.unset(reserved - 1).is_err() {
            return;
        }
        let elsewhere = (0..CpuSet::count()).any(|c| cpus.is_set(c).unwrap_or(false));
        if elsewhere && let Err(e) = sched_setaffinity(this, &cpus) {
            tracing::debug!("a hashing thread stays where it may run: {e}");
        }
    }
}
