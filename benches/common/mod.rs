//! Shared pieces of the scale benchmarks: a database seeded directly (fast
//! multi-row inserts), the real release binary as a separate process (so
//! its RSS is its own), and latency statistics.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use entity::{account, group_member, scim_user, scim_user_value};
use scim_server::store::Store;
use sea_orm::{EntityTrait, NotSet, Set, TransactionTrait};
use uuid::Uuid;

pub const TOKEN: &str = "bench-token";

/// The database the benchmark uses: `BENCH_DATABASE_URL` (PostgreSQL) or a
/// fresh SQLite file under target/.
pub fn database_url(name: &str) -> String {
    match std::env::var("BENCH_DATABASE_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(format!("{name}.db"));
            for ext in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
            }
            format!("sqlite://{}?mode=rwc", path.display())
        }
    }
}

pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres")
}

/// Empties a PostgreSQL bench database (SQLite files start fresh).
pub async fn reset(url: &str) {
    if is_postgres(url) {
        use sea_orm::{ConnectionTrait, Database};
        let db = Database::connect(url).await.unwrap();
        db.execute_unprepared("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
            .await
            .unwrap();
        let _ = db.close().await;
    }
}

/// Migrated store with the bootstrap directory; returns (store, directory id).
pub async fn prepare(url: &str) -> (Store, Uuid) {
    reset(url).await;
    let store = Store::open(url, 4, std::time::Duration::from_secs(10))
        .await
        .unwrap();
    let (dir, _) = scim_server::store::directories::bootstrap(store.writer(), Some(TOKEN.into()))
        .await
        .unwrap()
        .unwrap();
    (store, dir.id)
}

pub struct Seeded {
    pub user_ids: Vec<Uuid>,
}

/// Users `from..to` of the directory (account, link, one work email), and
/// membership in `group` when given. Returns the seeded SCIM ids.
/// After a bulk load PostgreSQL plans well only once autovacuum has
/// analyzed the tables (within a minute in production; autovacuum is off on
/// some machines, this project's build machine included): the benchmarks do
/// it at once. SQLite's statistics are refreshed by the server at start.
pub async fn analyze(store: &Store) {
    if store.backend() == sea_orm::DatabaseBackend::Postgres {
        use sea_orm::ConnectionTrait;
        store.writer().execute_unprepared("ANALYZE").await.unwrap();
    }
}

pub async fn seed_users(
    store: &Store,
    directory_id: Uuid,
    from: usize,
    to: usize,
    group: Option<Uuid>,
) -> Vec<Uuid> {
    let db = store.writer();
    let now = Utc::now();
    let mut ids = Vec::with_capacity(to - from);
    let batch = 20_000;
    let mut start = from;
    while start < to {
        let end = (start + batch).min(to);
        let tx = db.begin().await.unwrap();
        let rows: Vec<(usize, Uuid, Uuid)> = (start..end)
            .map(|i| (i, Uuid::now_v7(), Uuid::now_v7()))
            .collect();
        for chunk in rows.chunks(400) {
            account::Entity::insert_many(chunk.iter().map(|(i, acc, _)| {
                let email = format!("user{i}@bench.example");
                account::ActiveModel {
                    id: Set(*acc),
                    email: Set(Some(email.clone())),
                    email_lower: Set(Some(email)),
                    email_domain: Set(Some("bench.example".into())),
                    display_name: Set(Some(format!("First{} Last{i}", i % 1000))),
                    status: Set(entity::account::AccountStatus::Active),
                    two_step_enabled: Set(false),
                    saml_sso: Set(false),
                    password_reset_required: Set(false),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                }
            }))
            .exec(&tx)
            .await
            .unwrap();
            scim_user::Entity::insert_many(chunk.iter().map(|(i, acc, id)| {
                let user_name = format!("user{i}@bench.example");
                let display = format!("First{} Last{i}", i % 1000);
                scim_user::ActiveModel {
                    id: Set(*id),
                    directory_id: Set(directory_id),
                    account_id: Set(*acc),
                    user_name_lower: Set(user_name.clone()),
                    user_name: Set(user_name),
                    external_id: Set(Some(format!("ext-{i}"))),
                    display_name_lower: Set(Some(display.to_lowercase())),
                    display_name: Set(Some(display)),
                    name_family_name: Set(Some(format!("Last{i}"))),
                    name_given_name: Set(Some(format!("First{}", i % 1000))),
                    active: Set(true),
                    version: Set(1),
                    created_at: Set(now),
                    last_modified: Set(now),
                    ..Default::default()
                }
            }))
            .exec(&tx)
            .await
            .unwrap();
            scim_user_value::Entity::insert_many(chunk.iter().map(|(i, _, id)| {
                let email = format!("user{i}@bench.example");
                scim_user_value::ActiveModel {
                    id: NotSet,
                    user_id: Set(*id),
                    directory_id: Set(directory_id),
                    attr: Set("emails".into()),
                    position: Set(0),
                    value_lower: Set(Some(email.clone())),
                    value: Set(Some(email)),
                    r#type: Set(Some("work".into())),
                    primary: Set(Some(true)),
                    ..Default::default()
                }
            }))
            .exec(&tx)
            .await
            .unwrap();
            if let Some(g) = group {
                group_member::Entity::insert_many(chunk.iter().map(|(_, acc, _)| {
                    group_member::ActiveModel {
                        group_id: Set(g),
                        account_id: Set(*acc),
                        created_at: Set(now),
                    }
                }))
                .exec(&tx)
                .await
                .unwrap();
            }
        }
        tx.commit().await.unwrap();
        ids.extend(rows.iter().map(|(_, _, id)| *id));
        start = end;
    }
    ids
}

/// `BENCH_SERVER_CPUS` (a CPU list as `taskset -c` takes it, say `0`):
/// the servers the benches start run on those CPUs only, from their
/// first instruction (so actix starts one worker a CPU of the list).
pub const SERVER_CPUS: &str = "BENCH_SERVER_CPUS";
/// `BENCH_CLIENT_CPUS`: the load generator's CPUs (say `1`).
pub const CLIENT_CPUS: &str = "BENCH_CLIENT_CPUS";

/// `program` under `taskset -c <list>` when the variable `cpus` names a
/// list; as it is otherwise.
pub fn pinned(cpus: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
    match std::env::var(cpus).ok().filter(|l| !l.trim().is_empty()) {
        Some(list) => {
            let mut c = Command::new("taskset");
            c.args(["-c", list.trim()]).arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// The release server as a child process.
pub struct Server {
    child: Child,
    pub base: String,
    pub address: String,
}

impl Server {
    pub async fn start(url: &str, directory_id: Uuid) -> Self {
        Self::start_with(url, directory_id, &[]).await
    }

    /// [`Server::start`] with extra environment variables.
    pub async fn start_with(url: &str, directory_id: Uuid, env: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // `BENCH_SERVER_BIN`: another build of the server (say, of the
        // main branch, for before/after figures in one run of the bench).
        let bin = std::env::var("BENCH_SERVER_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_scim-server").to_owned());
        let child = pinned(SERVER_CPUS, bin)
            .env("DATABASE_URL", url)
            .env("SCIM_BIND", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the release binary starts");
        let address = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client
                .get(format!("{address}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            child,
            base: format!("{address}/scim/v2/directories/{directory_id}"),
            address,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// (current RSS, peak RSS) in MiB.
    pub fn rss_mib(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .map_or(0.0, |kb| kb / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// (utime + stime) of a process, in seconds.
pub fn cpu_secs(pid: u32, ticks_per_sec: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name may hold spaces: fields count from after its ')'.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    let utime: f64 = fields[11].parse().unwrap();
    let stime: f64 = fields[12].parse().unwrap();
    (utime + stime) / ticks_per_sec
}

/// The kernel's clock ticks per second (`utime`/`stime` units).
pub fn clock_ticks() -> f64 {
    let out = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("getconf runs");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap()
}

/// Latency samples of one operation.
#[derive(Default)]
pub struct Samples {
    pub name: String,
    pub durations: Vec<Duration>,
}

impl Samples {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            durations: vec![],
        }
    }

    pub async fn time<F, Fut, T>(&mut self, f: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        let t = Instant::now();
        let out = f().await;
        self.durations.push(t.elapsed());
        out
    }

    pub fn pct(&self, p: f64) -> f64 {
        let mut d: Vec<f64> = self
            .durations
            .iter()
            .map(|d| d.as_secs_f64() * 1000.0)
            .collect();
        d.sort_by(|a, b| a.total_cmp(b));
        if d.is_empty() {
            return 0.0;
        }
        let idx = ((d.len() as f64 - 1.0) * p).round() as usize;
        d[idx.min(d.len() - 1)]
    }

    pub fn report(&self) -> String {
        let total: f64 = self.durations.iter().map(Duration::as_secs_f64).sum();
        let rps = if total > 0.0 {
            self.durations.len() as f64 / total
        } else {
            0.0
        };
        format!(
            "| {} | {} | {:.2} | {:.2} | {:.0} |",
            self.name,
            self.durations.len(),
            self.pct(0.5),
            self.pct(0.99),
            rps
        )
    }
}

pub fn table_header() -> &'static str {
    "| operation | samples | p50 ms | p99 ms | req/s (1 conn) |\n|---|---|---|---|---|"
}

pub async fn expect_status(res: reqwest::Response, want: u16) -> String {
    let status = res.status().as_u16();
    let body = res.text().await.unwrap_or_default();
    assert_eq!(status, want, "{body}");
    body
}

/// CPU time spent on PostgreSQL's side of a benchmark: the backends
/// serving one database (the server's pool) and every `postgres` process
/// on the machine (those plus the WAL writer, checkpointer, …; other
/// databases' work too, if anything else uses this PostgreSQL meanwhile).
/// Read from `/proc/<pid>/stat`, so it holds whatever the load.
pub struct PgCpu {
    db: sea_orm::DatabaseConnection,
    ticks: f64,
}

/// CPU seconds a process, by pid, at one moment.
pub type CpuSnapshot = std::collections::HashMap<u32, f64>;

impl PgCpu {
    /// `None` unless `url` is PostgreSQL.
    pub async fn connect(url: &str) -> Option<Self> {
        if !is_postgres(url) {
            return None;
        }
        let db = sea_orm::Database::connect(url).await.unwrap();
        Some(Self {
            db,
            ticks: clock_ticks(),
        })
    }

    /// Whether the other connections to the database (the server's
    /// pool) use TLS, as `pg_stat_ssl` tells.
    pub async fn tls(&self) -> bool {
        use sea_orm::{ConnectionTrait, Statement};
        self.db
            .query_one_raw(Statement::from_string(
                self.db.get_database_backend(),
                "SELECT COALESCE(bool_or(s.ssl), false) FROM pg_stat_ssl s \
                 JOIN pg_stat_activity a USING (pid) \
                 WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()",
            ))
            .await
            .unwrap()
            .and_then(|r| r.try_get_by_index::<bool>(0).ok())
            .unwrap_or(false)
    }

    /// (the database's backends, every postgres process), pid → CPU s.
    pub async fn snapshot(&self) -> (CpuSnapshot, CpuSnapshot) {
        use sea_orm::{ConnectionTrait, Statement};
        let rows = self
            .db
            .query_all_raw(Statement::from_string(
                self.db.get_database_backend(),
                "SELECT pid FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            ))
            .await
            .unwrap();
        let backends = rows
            .iter()
            .filter_map(|r| r.try_get_by_index::<i32>(0).ok())
            .filter_map(|pid| {
                let pid = u32::try_from(pid).ok()?;
                Some((pid, try_cpu_secs(pid, self.ticks)?))
            })
            .collect();
        let mut all = CpuSnapshot::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "postgres"
                && let Some(cpu) = try_cpu_secs(pid, self.ticks)
            {
                all.insert(pid, cpu);
            }
        }
        (backends, all)
    }
}

/// CPU seconds spent between two snapshots by the processes of the second
/// (a process started in between counts from zero; one that ended is lost).
pub fn cpu_spent(before: &CpuSnapshot, after: &CpuSnapshot) -> f64 {
    after
        .iter()
        .map(|(pid, cpu)| cpu - before.get(pid).copied().unwrap_or(0.0))
        .sum()
}

/// [`cpu_secs`], `None` when the process is gone.
pub fn try_cpu_secs(pid: u32, ticks_per_sec: f64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks_per_sec)
}

/// The 1-minute load average, as `uptime` prints it.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}
