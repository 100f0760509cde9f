//! What a request costs, against a floor: `cargo bench --bench http`.
//!
//! Starts the real release server and, in the same run, a floor server
//! built from this bench (the same binary, re-executed): actix-web 4 with
//! sea-orm doing the least each request needs, one point read per GET, one
//! `BEGIN; INSERT; COMMIT` per POST and one `BEGIN; UPDATE … RETURNING;
//! COMMIT` per PATCH or PUT on a single writer connection, and the server's
//! SQLite settings (WAL, `synchronous=FULL`, a read pool of 10). No
//! authentication, no sync log, no events: what any actix + sea-orm server
//! pays. Each seeds 10,000 users; wrk (Debian's `wrk`, required: the bench
//! fails without it) drives each server in turn with keep-alive
//! connections, and the bench prints req/s, p50, p99 and the server's CPU
//! per request (utime + stime of its process, `/proc/<pid>/stat`) for
//!
//! - `get`: `GET /Users/{id}` of a random seeded user,
//! - `filter`: `GET /Users?filter=userName eq "…"` of a random seeded user,
//! - `post`: `POST /Users` of a new user (Okta's body),
//! - `patch`: `PATCH /Users/{id}` `replace active` (false and true in turn),
//! - `put`: `PUT /Users/{id}` of a random seeded user, its userName, email
//!   and externalId kept, its name and displayName new each time,
//!
//! at 1 and 16 connections, with the ratio to the floor on each row.
//!
//! Knobs: `HTTP_BENCH_SECS` (each measured run, default 10),
//! `HTTP_BENCH_WARMUP_SECS` (before each, default 1), `HTTP_BENCH_ROUNDS`
//! (repeats of the whole table, default 1: figures on a shared machine are
//! noisy), `HTTP_BENCH_OPS` (`get,filter,post,patch,put`), `HTTP_BENCH_CONNS`
//! (`1,16`), `BENCH_DATABASE_URL=postgres://…` (both servers on it; the
//! floor then uses one pool for reads and writes, as the server does).
//! `BENCH_SERVER_BIN=path` runs another build of the server (of the main
//! branch, say) against the same floor. `BENCH_SERVER_CPUS` and
//! `BENCH_CLIENT_CPUS` (CPU lists, as `taskset -c` takes them) keep both
//! servers on some CPUs and wrk on others. Any non-2xx answer fails the
//! run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{
    CLIENT_CPUS, SERVER_CPUS, Server, TOKEN, analyze, clock_ticks, cpu_secs, database_url,
    is_postgres, pinned, prepare, seed_users,
};

const SEEDED: usize = 10_000;
/// The floor server mode of this binary: its bind address.
const FLOOR_BIND: &str = "HTTP_BENCH_FLOOR_BIND";
const FLOOR_DB: &str = "HTTP_BENCH_FLOOR_DB";
/// The server's default `SCIM_DB_MAX_CONNECTIONS`.
const READ_POOL: u32 = 10;

fn main() {
    if let (Ok(bind), Ok(url)) = (std::env::var(FLOOR_BIND), std::env::var(FLOOR_DB)) {
        actix_web::rt::System::new()
            .block_on(floor::serve(bind, url))
            .unwrap();
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run());
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn data_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A server under test: where it listens, the path prefix of its SCIM
/// routes, the file of its seeded user ids, and its process.
struct Target {
    name: &'static str,
    address: String,
    base_path: String,
    ids_file: PathBuf,
    pid: u32,
}

/// One measured wrk run.
#[derive(Clone, Copy, Default)]
struct Run {
    requests: u64,
    secs: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
    socket_errors: u64,
    cpu_ms_per_req: f64,
    rss_mib: f64,
}

impl Run {
    fn rps(&self) -> f64 {
        if self.secs > 0.0 {
            self.requests as f64 / self.secs
        } else {
            0.0
        }
    }
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The wrk script: builds each request of `op` and prints the summary in
/// one parseable line.
const SCRIPT: &str = r#"
local op, base, idsfile, token, tag
local ids = {}
local counter = 0
local n = 0
function setup(thread)
  n = n + 1
  thread:set("tid", n)
end
function init(args)
  op, base, idsfile, token, tag = args[1], args[2], args[3], args[4], args[5]
  for line in io.lines(idsfile) do ids[#ids + 1] = line end
  math.randomseed(os.time() * 100 + tid)
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/scim+json"
end
function request()
  counter = counter + 1
  if op == "get" then
    return wrk.format("GET", base .. "/Users/" .. ids[math.random(#ids)])
  elseif op == "filter" then
    local i = math.random(0, #ids - 1)
    return wrk.format("GET", base .. "/Users?filter=userName%20eq%20%22user" .. i .. "%40bench.example%22")
  elseif op == "post" then
    local name = "http-" .. tag .. "-" .. tid .. "-" .. counter .. "@bench.example"
    local body = '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"' .. name
      .. '","externalId":"x' .. tag .. "-" .. tid .. "-" .. counter
      .. '","name":{"givenName":"Http","familyName":"User' .. counter
      .. '"},"displayName":"Http User' .. counter
      .. '","emails":[{"value":"' .. name .. '","type":"work","primary":true}],"active":true}'
    return wrk.format("POST", base .. "/Users", nil, body)
  elseif op == "put" then
    local k = math.random(#ids)
    local name = "user" .. (k - 1) .. "@bench.example"
    local body = '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"' .. name
      .. '","externalId":"ext-' .. (k - 1)
      .. '","name":{"givenName":"Put","familyName":"User' .. counter
      .. '"},"displayName":"Put User' .. counter
      .. '","emails":[{"value":"' .. name .. '","type":"work","primary":true}],"active":true}'
    return wrk.format("PUT", base .. "/Users/" .. ids[k], nil, body)
  else
    local active = (counter % 2 == 0) and "true" or "false"
    local body = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],'
      .. '"Operations":[{"op":"replace","value":{"active":' .. active .. '}}]}'
    return wrk.format("PATCH", base .. "/Users/" .. ids[math.random(#ids)], nil, body)
  end
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
end
"#;

fn wrk(target: &Target, op: &str, conns: usize, secs: u64, tag: &str, script: &Path) -> Run {
    let threads = conns.min(2);
    let out = pinned(CLIENT_CPUS, "wrk")
        .args([
            &format!("-t{threads}"),
            &format!("-c{conns}"),
            &format!("-d{secs}s"),
            "--timeout",
            "10s",
            "-s",
        ])
        .arg(script)
        .arg(&target.address)
        .args(["--", op, &target.base_path])
        .arg(&target.ids_file)
        .args([TOKEN, tag])
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| {
            panic!("wrk could not run ({e}): this benchmark needs it (`apt-get install wrk`)")
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "wrk failed: {stdout}");
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("wrk printed no result: {stdout}"));
    let f: Vec<f64> = line
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    Run {
        requests: f[0] as u64,
        secs: f[1] / 1e6,
        p50_ms: f[2] / 1000.0,
        p99_ms: f[3] / 1000.0,
        non_2xx: f[4] as u64,
        socket_errors: f[5] as u64,
        ..Run::default()
    }
}

/// How each run goes.
struct Plan {
    secs: u64,
    warmup: u64,
    script: PathBuf,
    ticks: f64,
}

fn measure(plan: &Plan, target: &Target, op: &str, conns: usize, tag: &str) -> Run {
    let (secs, script, ticks) = (plan.secs, plan.script.as_path(), plan.ticks);
    if plan.warmup > 0 {
        let w = wrk(target, op, conns, plan.warmup, &format!("{tag}w"), script);
        assert_eq!(
            (w.non_2xx, w.socket_errors),
            (0, 0),
            "{} answered errors to {op} (warm-up)",
            target.name
        );
    }
    let before = cpu_secs(target.pid, ticks);
    let mut run = wrk(target, op, conns, secs, tag, script);
    let cpu = cpu_secs(target.pid, ticks) - before;
    run.cpu_ms_per_req = cpu * 1000.0 / run.requests.max(1) as f64;
    run.rss_mib = rss_mib(target.pid);
    run
}

fn write_ids(name: &str, ids: &[uuid::Uuid]) -> PathBuf {
    let path = data_dir().join(format!("http-ids-{name}.txt"));
    let text: String = ids.iter().map(|id| format!("{id}\n")).collect();
    std::fs::write(&path, text).unwrap();
    path
}

struct Floor(Child);

impl Drop for Floor {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_ready(url: &str) {
    let client = reqwest::Client::new();
    for _ in 0..400 {
        if client
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} did not answer");
}

async fn run() {
    let secs: u64 = env_or("HTTP_BENCH_SECS", 10);
    let warmup: u64 = env_or("HTTP_BENCH_WARMUP_SECS", 1);
    let rounds: usize = env_or("HTTP_BENCH_ROUNDS", 1);
    let ops = env_list("HTTP_BENCH_OPS", "get,filter,post,patch,put");
    for op in &ops {
        assert!(
            ["get", "filter", "post", "patch", "put"].contains(&op.as_str()),
            "unknown operation {op:?} in HTTP_BENCH_OPS"
        );
    }
    let conns: Vec<usize> = env_list("HTTP_BENCH_CONNS", "1,16")
        .iter()
        .map(|c| c.parse().expect("HTTP_BENCH_CONNS: numbers"))
        .collect();
    // Fail at once, not after seeding, when the load generator is missing.
    let probe = Command::new("wrk").arg("--version").output();
    assert!(
        probe.is_ok(),
        "wrk is not installed: this benchmark needs it (`apt-get install wrk`)"
    );
    let ticks = clock_ticks();

    let url = database_url("http");
    let (store, dir) = prepare(&url).await;
    let server_ids = seed_users(&store, dir, 0, SEEDED, None).await;
    analyze(&store).await;
    store.close().await;
    let server = Server::start(&url, dir).await;

    let floor_url = if is_postgres(&url) {
        url.clone()
    } else {
        database_url("http-floor")
    };
    let floor_ids = floor::seed(&floor_url, SEEDED).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let floor = Floor(
        pinned(SERVER_CPUS, std::env::current_exe().unwrap())
            .env(FLOOR_BIND, format!("127.0.0.1:{port}"))
            .env(FLOOR_DB, &floor_url)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let floor_address = format!("http://127.0.0.1:{port}");
    wait_ready(&format!("{floor_address}/healthz")).await;

    let targets = [
        Target {
            name: "server",
            address: server.address.clone(),
            base_path: server.base.trim_start_matches(&server.address).to_owned(),
            ids_file: write_ids("server", &server_ids),
            pid: server.pid(),
        },
        Target {
            name: "floor",
            address: floor_address,
            base_path: String::new(),
            ids_file: write_ids("floor", &floor_ids),
            pid: floor.0.id(),
        },
    ];
    let script = data_dir().join("http.lua");
    std::fs::write(&script, SCRIPT).unwrap();
    let plan = Plan {
        secs,
        warmup,
        script,
        ticks,
    };

    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "http benchmark on {} ({cpus} cores, loopback, wrk): {SEEDED} users seeded in each server, {secs} s a run after {warmup} s of warm-up, {rounds} round(s)",
        if is_postgres(&url) {
            "PostgreSQL"
        } else {
            "SQLite (WAL, synchronous=FULL)"
        }
    );
    println!(
        "| op | conns | server req/s | p50 ms | p99 ms | CPU ms/req | floor req/s | p50 ms | p99 ms | CPU ms/req | req/s ÷ floor | p50 × floor |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut failures = vec![];
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut rss = (0.0f64, 0.0f64);
    for round in 0..rounds {
        for op in &ops {
            for &c in &conns {
                let mut runs = [Run::default(); 2];
                for (t, target) in targets.iter().enumerate() {
                    let tag = format!("{stamp}r{round}c{c}{}", &target.name[..1]);
                    runs[t] = measure(&plan, target, op, c, &tag);
                    if runs[t].non_2xx + runs[t].socket_errors > 0 {
                        failures.push(format!(
                            "{} {op} at {c}: {} non-2xx, {} socket errors",
                            target.name, runs[t].non_2xx, runs[t].socket_errors
                        ));
                    }
                }
                let [s, f] = runs;
                rss = (rss.0.max(s.rss_mib), rss.1.max(f.rss_mib));
                println!(
                    "| {op} | {c} | {:.0} | {:.2} | {:.2} | {:.3} | {:.0} | {:.2} | {:.2} | {:.3} | {:.2} | {:.1} |",
                    s.rps(),
                    s.p50_ms,
                    s.p99_ms,
                    s.cpu_ms_per_req,
                    f.rps(),
                    f.p50_ms,
                    f.p99_ms,
                    f.cpu_ms_per_req,
                    s.rps() / f.rps().max(1e-9),
                    s.p50_ms / f.p50_ms.max(1e-9),
                );
            }
        }
    }
    println!(
        "RSS after the runs: server {:.0} MiB, floor {:.0} MiB",
        rss.0, rss.1
    );
    drop(floor);
    drop(server);
    assert!(failures.is_empty(), "errors: {failures:?}");
}

/// The floor server.
mod floor {
    use std::time::Duration;

    use actix_web::{App, HttpResponse, HttpServer, web};
    use chrono::Utc;
    use sea_orm::sea_query::{Expr, ExprTrait};
    use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
    use sea_orm::{
        ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, EntityTrait,
        QueryFilter, Schema, Set, SqliteTransactionMode, TransactionOptions, TransactionTrait,
    };
    use serde::{Deserialize, Serialize};
    use uuid::Uuid;

    use super::READ_POOL;

    pub mod user {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
        #[sea_orm(table_name = "floor_users")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: Uuid,
            pub user_name: String,
            #[sea_orm(unique)]
            pub user_name_lower: String,
            pub external_id: Option<String>,
            pub display_name: Option<String>,
            pub given_name: Option<String>,
            pub family_name: Option<String>,
            pub email: Option<String>,
            pub active: bool,
            pub version: i64,
            pub created_at: DateTimeUtc,
            pub last_modified: DateTimeUtc,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    fn options(url: &str, max: u32) -> ConnectOptions {
        let mut o = ConnectOptions::new(url.to_owned());
        o.max_connections(max)
            .min_connections(1)
            .sqlx_logging(false);
        if url.starts_with("sqlite") {
            o.map_sqlx_sqlite_opts(|s| {
                s.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
            });
        }
        o
    }

    /// Creates the floor's table with `n` users; their ids.
    pub async fn seed(url: &str, n: usize) -> Vec<Uuid> {
        let db = Database::connect(options(url, 1)).await.unwrap();
        db.execute_unprepared("DROP TABLE IF EXISTS floor_users")
            .await
            .unwrap();
        let schema = Schema::new(db.get_database_backend());
        db.execute(&schema.create_table_from_entity(user::Entity))
            .await
            .unwrap();
        let now = Utc::now();
        let ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
        let tx = db.begin().await.unwrap();
        for (c, chunk) in ids.chunks(500).enumerate() {
            user::Entity::insert_many(chunk.iter().enumerate().map(|(j, id)| {
                let i = c * 500 + j;
                let name = format!("user{i}@bench.example");
                user::ActiveModel {
                    id: Set(*id),
                    user_name_lower: Set(name.clone()),
                    email: Set(Some(name.clone())),
                    user_name: Set(name),
                    external_id: Set(Some(format!("ext-{i}"))),
                    display_name: Set(Some(format!("First{} Last{i}", i % 1000))),
                    given_name: Set(Some(format!("First{}", i % 1000))),
                    family_name: Set(Some(format!("Last{i}"))),
                    active: Set(true),
                    version: Set(1),
                    created_at: Set(now),
                    last_modified: Set(now),
                }
            }))
            .exec_without_returning(&tx)
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            db.execute_unprepared("ANALYZE floor_users").await.unwrap();
        }
        let _ = db.close().await;
        ids
    }

    struct Pools {
        read: DatabaseConnection,
        write: DatabaseConnection,
        sqlite: bool,
    }

    impl Pools {
        async fn begin(&self) -> sea_orm::DatabaseTransaction {
            self.write
                .begin_with_options(TransactionOptions {
                    isolation_level: None,
                    access_mode: None,
                    sqlite_transaction_mode: self
                        .sqlite
                        .then_some(SqliteTransactionMode::Immediate),
                })
                .await
                .unwrap()
        }
    }

    #[derive(Serialize)]
    struct Name<'a> {
        #[serde(rename = "givenName", skip_serializing_if = "Option::is_none")]
        given_name: Option<&'a str>,
        #[serde(rename = "familyName", skip_serializing_if = "Option::is_none")]
        family_name: Option<&'a str>,
    }

    #[derive(Serialize)]
    struct EmailOut<'a> {
        value: &'a str,
        r#type: &'static str,
        primary: bool,
    }

    #[derive(Serialize)]
    struct Meta {
        #[serde(rename = "resourceType")]
        resource_type: &'static str,
        created: String,
        #[serde(rename = "lastModified")]
        last_modified: String,
        version: String,
        location: String,
    }

    #[derive(Serialize)]
    struct Resource<'a> {
        schemas: [&'static str; 1],
        id: String,
        #[serde(rename = "externalId", skip_serializing_if = "Option::is_none")]
        external_id: Option<&'a str>,
        #[serde(rename = "userName")]
        user_name: &'a str,
        name: Name<'a>,
        #[serde(rename = "displayName", skip_serializing_if = "Option::is_none")]
        display_name: Option<&'a str>,
        emails: Vec<EmailOut<'a>>,
        active: bool,
        meta: Meta,
    }

    fn resource(u: &user::Model) -> Resource<'_> {
        Resource {
            schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"],
            id: u.id.to_string(),
            external_id: u.external_id.as_deref(),
            user_name: &u.user_name,
            name: Name {
                given_name: u.given_name.as_deref(),
                family_name: u.family_name.as_deref(),
            },
            display_name: u.display_name.as_deref(),
            emails: u
                .email
                .as_deref()
                .map(|value| EmailOut {
                    value,
                    r#type: "work",
                    primary: true,
                })
                .into_iter()
                .collect(),
            active: u.active,
            meta: Meta {
                resource_type: "User",
                created: u.created_at.to_rfc3339(),
                last_modified: u.last_modified.to_rfc3339(),
                version: format!("W/\"{}\"", u.version),
                location: format!("/Users/{}", u.id),
            },
        }
    }

    fn scim(status: actix_web::http::StatusCode, body: &impl Serialize) -> HttpResponse {
        HttpResponse::build(status)
            .content_type("application/scim+json")
            .body(serde_json::to_vec(body).unwrap())
    }

    fn not_found() -> HttpResponse {
        HttpResponse::NotFound().finish()
    }

    async fn get(pools: web::Data<Pools>, id: web::Path<String>) -> HttpResponse {
        let Ok(id) = Uuid::parse_str(&id) else {
            return not_found();
        };
        match user::Entity::find_by_id(id).one(&pools.read).await.unwrap() {
            Some(u) => scim(actix_web::http::StatusCode::OK, &resource(&u)),
            None => not_found(),
        }
    }

    #[derive(Deserialize)]
    struct ListParams {
        filter: Option<String>,
    }

    #[derive(Serialize)]
    struct ListResponse<'a> {
        schemas: [&'static str; 1],
        #[serde(rename = "totalResults")]
        total_results: usize,
        #[serde(rename = "startIndex")]
        start_index: usize,
        #[serde(rename = "itemsPerPage")]
        items_per_page: usize,
        #[serde(rename = "Resources")]
        resources: Vec<Resource<'a>>,
    }

    /// `filter=userName eq "…"` only.
    async fn list(pools: web::Data<Pools>, q: web::Query<ListParams>) -> HttpResponse {
        let Some(name) = q
            .filter
            .as_deref()
            .and_then(|f| f.strip_prefix("userName eq \""))
            .and_then(|f| f.strip_suffix('"'))
        else {
            return HttpResponse::BadRequest().finish();
        };
        let found = user::Entity::find()
            .filter(user::Column::UserNameLower.eq(name.to_lowercase()))
            .one(&pools.read)
            .await
            .unwrap();
        let resources: Vec<Resource<'_>> = found.iter().map(resource).collect();
        scim(
            actix_web::http::StatusCode::OK,
            &ListResponse {
                schemas: ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                total_results: resources.len(),
                start_index: 1,
                items_per_page: resources.len(),
                resources,
            },
        )
    }

    #[derive(Deserialize)]
    struct NameIn {
        #[serde(rename = "givenName")]
        given_name: Option<String>,
        #[serde(rename = "familyName")]
        family_name: Option<String>,
    }

    #[derive(Deserialize)]
    struct EmailIn {
        value: String,
    }

    #[derive(Deserialize)]
    struct UserIn {
        #[serde(rename = "userName")]
        user_name: String,
        #[serde(rename = "externalId")]
        external_id: Option<String>,
        name: Option<NameIn>,
        #[serde(rename = "displayName")]
        display_name: Option<String>,
        #[serde(default)]
        emails: Vec<EmailIn>,
        active: Option<bool>,
    }

    async fn create(pools: web::Data<Pools>, body: web::Bytes) -> HttpResponse {
        let Ok(input) = serde_json::from_slice::<UserIn>(&body) else {
            return HttpResponse::BadRequest().finish();
        };
        let now = Utc::now();
        let (given_name, family_name) = input
            .name
            .map_or((None, None), |n| (n.given_name, n.family_name));
        let model = user::Model {
            id: Uuid::now_v7(),
            user_name_lower: input.user_name.to_lowercase(),
            user_name: input.user_name,
            external_id: input.external_id,
            display_name: input.display_name,
            given_name,
            family_name,
            email: input.emails.into_iter().next().map(|e| e.value),
            active: input.active.unwrap_or(true),
            version: 1,
            created_at: now,
            last_modified: now,
        };
        let am: user::ActiveModel = model.clone().into();
        let tx = pools.begin().await;
        user::Entity::insert(am)
            .exec_without_returning(&tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        scim(actix_web::http::StatusCode::CREATED, &resource(&model))
    }

    #[derive(Deserialize)]
    struct PatchValue {
        active: bool,
    }

    #[derive(Deserialize)]
    struct PatchOp {
        value: PatchValue,
    }

    #[derive(Deserialize)]
    struct PatchIn {
        #[serde(rename = "Operations")]
        operations: Vec<PatchOp>,
    }

    /// `replace` of `active` only.
    async fn patch(
        pools: web::Data<Pools>,
        id: web::Path<String>,
        body: web::Bytes,
    ) -> HttpResponse {
        let Ok(id) = Uuid::parse_str(&id) else {
            return not_found();
        };
        let Some(active) = serde_json::from_slice::<PatchIn>(&body)
            .ok()
            .and_then(|p| p.operations.last().map(|o| o.value.active))
        else {
            return HttpResponse::BadRequest().finish();
        };
        let update =
            user::Entity::update_many().col_expr(user::Column::Active, Expr::value(active));
        update_one(&pools, id, update).await
    }

    /// `update` of user `id` in its own transaction, its version bumped,
    /// answered with the row it returns.
    async fn update_one(
        pools: &Pools,
        id: Uuid,
        update: sea_orm::UpdateMany<user::Entity>,
    ) -> HttpResponse {
        let tx = pools.begin().await;
        let rows = update
            .col_expr(
                user::Column::Version,
                Expr::col(user::Column::Version).add(1),
            )
            .col_expr(user::Column::LastModified, Expr::value(Utc::now()))
            .filter(user::Column::Id.eq(id))
            .exec_with_returning(&tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        match rows.first() {
            Some(u) => scim(actix_web::http::StatusCode::OK, &resource(u)),
            None => not_found(),
        }
    }

    /// Every attribute the floor keeps, from the body.
    async fn put(pools: web::Data<Pools>, id: web::Path<String>, body: web::Bytes) -> HttpResponse {
        let Ok(id) = Uuid::parse_str(&id) else {
            return not_found();
        };
        let Ok(input) = serde_json::from_slice::<UserIn>(&body) else {
            return HttpResponse::BadRequest().finish();
        };
        let (given_name, family_name) = input
            .name
            .map_or((None, None), |n| (n.given_name, n.family_name));
        let update = user::Entity::update_many()
            .col_expr(
                user::Column::UserNameLower,
                Expr::value(input.user_name.to_lowercase()),
            )
            .col_expr(user::Column::UserName, Expr::value(input.user_name))
            .col_expr(user::Column::ExternalId, Expr::value(input.external_id))
            .col_expr(user::Column::DisplayName, Expr::value(input.display_name))
            .col_expr(user::Column::GivenName, Expr::value(given_name))
            .col_expr(user::Column::FamilyName, Expr::value(family_name))
            .col_expr(
                user::Column::Email,
                Expr::value(input.emails.into_iter().next().map(|e| e.value)),
            )
            .col_expr(
                user::Column::Active,
                Expr::value(input.active.unwrap_or(true)),
            );
        update_one(&pools, id, update).await
    }

    pub async fn serve(bind: String, url: String) -> std::io::Result<()> {
        let sqlite = url.starts_with("sqlite");
        let (read, write) = if sqlite {
            (
                Database::connect(options(&url, READ_POOL)).await.unwrap(),
                Database::connect(options(&url, 1)).await.unwrap(),
            )
        } else {
            let db = Database::connect(options(&url, READ_POOL)).await.unwrap();
            (db.clone(), db)
        };
        let pools = web::Data::new(Pools {
            read,
            write,
            sqlite,
        });
        HttpServer::new(move || {
            App::new()
                .app_data(pools.clone())
                .route(
                    "/healthz",
                    web::get().to(|| async { HttpResponse::Ok().finish() }),
                )
                .route("/Users", web::get().to(list))
                .route("/Users", web::post().to(create))
                .route("/Users/{id}", web::get().to(get))
                .route("/Users/{id}", web::patch().to(patch))
                .route("/Users/{id}", web::put().to(put))
        })
        .bind(bind)?
        .run()
        .await
    }
}
