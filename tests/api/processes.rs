//! The real binary as separate processes: graceful shutdown, crash safety
//! under SIGKILL, and two instances on one database.

use crate::helpers::*;
use rand::Rng;
use sea_orm::{ConnectionTrait, Database, EntityTrait};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub(crate) const TOKEN: &str = "process-test-token";

/// The real binary on a port of its own; SIGKILLed when dropped.
pub(crate) struct Proc {
    child: Child,
    pub(crate) address: String,
}

/// What becomes of the server's outputs. "Gone": a pipe whose reading
/// end is closed at once (what a supervisor or log shipper that exited
/// leaves).
#[derive(Clone, Copy)]
enum Outputs {
    /// Both to `/dev/null`.
    Discarded,
    /// Its logs (stderr, at `warn`) kept for [`Proc::stop_and_read_logs`].
    LogsKept,
    /// stderr gone, where it logs (at `info`).
    LogsGone,
    /// stdout gone, where the first start prints the bootstrap token; its
    /// logs are kept.
    StdoutGone,
}

impl Proc {
    pub(crate) async fn start(db_url: &str, extra: &[(&str, &str)]) -> Proc {
        Self::start_with(db_url, extra, Outputs::Discarded).await
    }

    /// [`Proc::start`] with its `outputs` so.
    async fn start_with(db_url: &str, extra: &[(&str, &str)], outputs: Outputs) -> Proc {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_scim-server"));
        cmd.env("DATABASE_URL", db_url)
            .env("SCIM_BIND", format!("127.0.0.1:{port}"))
            .env("SCIM_BOOTSTRAP_TOKEN", TOKEN)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match outputs {
            Outputs::Discarded => {}
            Outputs::LogsKept => {
                cmd.stderr(Stdio::piped());
            }
            Outputs::LogsGone => {
                cmd.env("RUST_LOG", "info").stderr(Stdio::piped());
            }
            Outputs::StdoutGone => {
                cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            }
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        drop(child.stdout.take());
        if matches!(outputs, Outputs::LogsGone) {
            drop(child.stderr.take());
        }
        let address = format!("http://127.0.0.1:{port}");
        let client = crate::helpers::http_client();
        let mut ready = false;
        for _ in 0..400 {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the server exited before it was ready: {status}");
            }
            if client
                .get(format!("{address}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let p = Proc { child, address };
        assert!(ready, "the server at {} did not become ready", p.address);
        p
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills it and returns what it logged (its logs kept: it writes a few
    /// lines, which the pipe holds).
    fn stop_and_read_logs(&mut self) -> String {
        use std::io::Read;
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut logs = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            stderr.read_to_string(&mut logs).unwrap();
        }
        logs
    }

    /// How it exited, if it does within `limit`.
    async fn exit_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) async fn directory_base(db_url: &str, address: &str) -> String {
    let db = Database::connect(db_url).await.unwrap();
    let d = entity::directory::Entity::find()
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    let _ = db.close().await;
    format!("{address}/scim/v2/directories/{}", d.id)
}

async fn post_user(client: &reqwest::Client, base: &str, name: &str) -> Option<u16> {
    client
        .post(format!("{base}/Users"))
        .bearer_auth(TOKEN)
        .header("Content-Type", "application/scim+json")
        .body(user(name).to_string())
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

#[tokio::test]
async fn sigterm_drains_reports_not_ready_and_closes_cleanly() {
    let url = fresh_database_url().await;
    let mut p = Proc::start(&url, &[("SCIM_SHUTDOWN_DELAY_SECS", "2")]).await;
    let client = crate::helpers::http_client();
    Command::new("kill")
        .args(["-TERM", &p.pid().to_string()])
        .status()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let res = client
        .get(format!("{}/readyz", p.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503, "not ready while draining");
    // Requests are still served while draining.
    assert_eq!(
        client
            .get(format!("{}/healthz", p.address))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let exited = p.exit_within(Duration::from_secs(10)).await;
    assert!(exited.expect("the server exits after draining").success());
}

/// A server whose log reader went away still serves and stops on
/// SIGTERM: a log line it cannot write is lost, and the task that logged
/// it goes on (the shutdown logs before it drains).
#[tokio::test]
async fn a_server_whose_log_pipe_is_gone_still_serves_and_stops_on_sigterm() {
    let url = fresh_database_url().await;
    let mut p = Proc::start_with(
        &url,
        &[("SCIM_SHUTDOWN_DELAY_SECS", "0")],
        Outputs::LogsGone,
    )
    .await;
    let base = directory_base(&url, &p.address).await;
    let client = crate::helpers::http_client();
    assert_eq!(
        post_user(&client, &base, "logless@example.com").await,
        Some(201)
    );
    Command::new("kill")
        .args(["-TERM", &p.pid().to_string()])
        .status()
        .unwrap();
    let status = p
        .exit_within(Duration::from_secs(10))
        .await
        .expect("the server exits on SIGTERM");
    assert!(status.success(), "{status}");
}

/// A first start prints the new directory's URL and token on stdout. When
/// nobody reads stdout any more, printing fails: the server says so on
/// stderr, naming the directory and how to make a token, and serves all
/// the same (the directory is created, its token works). It used to panic
/// there and never listen, with the directory already created.
#[tokio::test]
async fn a_first_start_whose_stdout_is_gone_still_serves() {
    let url = fresh_database_url().await;
    let mut p = Proc::start_with(&url, &[], Outputs::StdoutGone).await;
    let base = directory_base(&url, &p.address).await;
    let client = crate::helpers::http_client();
    assert_eq!(
        post_user(&client, &base, "printless@example.com").await,
        Some(201)
    );
    let directory = base.rsplit('/').next().unwrap().to_owned();
    let logs = p.stop_and_read_logs();
    assert!(
        logs.contains("could not print the new directory's token")
            && logs.contains(&format!("scim-server token create --directory {directory}")),
        "{logs}"
    );
}

/// `SCIM_WRITER_BATCH=1` acts only on a writer thread kept on a CPU: asked
/// for with none (`SCIM_WRITER_CPU=off` here; PostgreSQL has no writer
/// thread), start-up says it has no effect instead of ignoring it.
#[tokio::test]
async fn writer_batch_without_a_writer_cpu_is_warned_of_at_start() {
    let url = fresh_database_url().await;
    let mut p = Proc::start_with(
        &url,
        &[("SCIM_WRITER_CPU", "off"), ("SCIM_WRITER_BATCH", "1")],
        Outputs::LogsKept,
    )
    .await;
    let logs = p.stop_and_read_logs();
    assert!(logs.contains("SCIM_WRITER_BATCH=1 has no effect"), "{logs}");
}

/// A thread of a process as `/proc` shows it.
#[derive(Debug)]
struct Task {
    tid: u32,
    name: String,
    /// CPU time, user and system, in clock ticks.
    ticks: u64,
    /// `SCHED_OTHER` 0, `SCHED_BATCH` 3.
    policy: u32,
    /// The CPUs it may run on.
    cpus: Vec<usize>,
}

/// A CPU list as `/proc` writes it (`0-1,4`).
fn cpu_list(text: &str) -> Vec<usize> {
    text.trim()
        .split(',')
        .flat_map(|part| match part.split_once('-') {
            Some((a, b)) => (a.parse().unwrap()..=b.parse().unwrap()).collect::<Vec<usize>>(),
            None => vec![part.parse().unwrap()],
        })
        .collect()
}

fn tasks(pid: u32) -> Vec<Task> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let dir = entry.unwrap().path();
        let (Ok(stat), Ok(status), Ok(name)) = (
            std::fs::read_to_string(dir.join("stat")),
            std::fs::read_to_string(dir.join("status")),
            std::fs::read_to_string(dir.join("comm")),
        ) else {
            continue; // ended meanwhile
        };
        // The fields after the name's closing parenthesis, from the 3rd.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        let field = |n: usize| fields[n - 3].parse::<u64>().unwrap();
        let cpus = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .map(cpu_list)
            .unwrap();
        out.push(Task {
            tid: dir.file_name().unwrap().to_str().unwrap().parse().unwrap(),
            name: name.trim().to_owned(),
            ticks: field(14) + field(15),
            policy: u32::try_from(field(41)).unwrap(),
            cpus,
        });
    }
    out
}

/// By default, on SQLite with more than one CPU, the writer thread and
/// the writer connection's are `SCHED_BATCH` on the writer's CPU, and
/// passwords are hashed off that CPU: a `SCHED_BATCH` thread woken while a
/// hash runs on its CPU waits for the scheduler's tick, and PATCHes beside
/// POSTs carrying passwords fell from ~1,300 to ~500 req/s that way
/// (README's Performance). On PostgreSQL nothing is `SCHED_BATCH`.
#[tokio::test]
async fn by_default_the_writer_is_sched_batch_and_passwords_are_hashed_off_its_cpu() {
    let url = fresh_database_url().await;
    let p = Proc::start(&url, &[]).await;
    let base = directory_base(&url, &p.address).await;
    let client = crate::helpers::http_client();
    let before = tasks(p.pid());
    for i in 0..4 {
        let mut body = user(&format!("hashed{i}@example.com"));
        body["password"] = json!("Correct-Horse-9-Battery");
        let res = client
            .post(format!("{base}/Users"))
            .bearer_auth(TOKEN)
            .header("Content-Type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    let after = tasks(p.pid());
    let writers: Vec<&Task> = after
        .iter()
        .filter(|t| t.name == "scim-writer" || t.name.starts_with("sqlite-wr-"))
        .collect();
    let several_cpus = std::thread::available_parallelism().unwrap().get() > 1;
    if url.starts_with("postgres") || !several_cpus {
        assert!(after.iter().all(|t| t.policy == 0), "{after:?}");
        return;
    }
    assert_eq!(writers.len(), 2, "{after:?}");
    let cpu = writers[0].cpus.clone();
    for w in &writers {
        assert_eq!(w.policy, 3, "SCHED_BATCH: {w:?}");
        assert_eq!(
            (w.cpus.len(), &w.cpus),
            (1, &cpu),
            "one CPU, the same: {w:?}"
        );
    }
    // The hashes (tens of ms of CPU each) are what the POSTs cost most:
    // the thread whose CPU time grew the most, the writer's two aside.
    let hasher = after
        .iter()
        .filter(|t| !writers.iter().any(|w| w.tid == t.tid))
        .max_by_key(|t| {
            let earlier = before
                .iter()
                .find(|b| b.tid == t.tid)
                .map_or(0, |b| b.ticks);
            t.ticks - earlier
        })
        .unwrap();
    assert!(
        !hasher.cpus.contains(&cpu[0]),
        "a hash ran where it may use the writer's CPU {cpu:?}: {hasher:?} ({after:?})"
    );
}

/// One step of a writer's script for a user.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Step {
    Post,
    Put,
    Deactivate,
    Join,
    Leave,
    Delete,
}

/// A user's script: every user is created, replaced, deactivated and added
/// to the shared group; some leave it, some are deleted.
fn script(i: usize) -> Vec<Step> {
    let mut steps = vec![Step::Post, Step::Put, Step::Deactivate, Step::Join];
    if i.is_multiple_of(2) {
        steps.push(Step::Leave);
    }
    if i.is_multiple_of(3) {
        steps.push(Step::Delete);
    }
    steps
}

/// What a writer did to one user: how many steps of its script were
/// acknowledged, and whether the next was in flight when the server died
/// (it may or may not have committed).
#[derive(Debug)]
struct Track {
    name: String,
    steps: Vec<Step>,
    acked: usize,
    in_flight: bool,
}

/// A user as SCIM shows it.
#[derive(Debug, PartialEq)]
struct Seen {
    exists: bool,
    title: Option<String>,
    active: bool,
    member: bool,
}

const GONE: Seen = Seen {
    exists: false,
    title: None,
    active: true,
    member: false,
};

/// The user after the first `n` steps of its script.
fn after(steps: &[Step], n: usize) -> Seen {
    let done = &steps[..n];
    if n == 0 || done.contains(&Step::Delete) {
        return GONE;
    }
    Seen {
        exists: true,
        title: done.contains(&Step::Put).then(|| "put".to_owned()),
        active: !done.contains(&Step::Deactivate),
        member: done.contains(&Step::Join) && !done.contains(&Step::Leave),
    }
}

/// Runs scripts for new users until the server stops answering. Returns the
/// users and the request ids of the acknowledged writes.
async fn writer(
    client: reqwest::Client,
    base: String,
    gid: String,
    prefix: String,
    progress: Arc<AtomicUsize>,
) -> (Vec<Track>, Vec<String>) {
    let (mut tracks, mut acked) = (vec![], vec![]);
    for i in 0.. {
        let mut t = Track {
            name: format!("{prefix}u{i}@example.com"),
            steps: script(i),
            acked: 0,
            in_flight: false,
        };
        let mut id = String::new();
        for (n, step) in t.steps.clone().into_iter().enumerate() {
            let rid = format!("{prefix}u{i}s{n}");
            let patch = |ops: serde_json::Value| json!({"schemas": [PATCH_OP], "Operations": ops});
            let (method, url, body, want) = match step {
                Step::Post => (
                    reqwest::Method::POST,
                    format!("{base}/Users"),
                    Some(user(&t.name)),
                    201,
                ),
                Step::Put => {
                    let mut u = user(&t.name);
                    u["title"] = json!("put");
                    (
                        reqwest::Method::PUT,
                        format!("{base}/Users/{id}"),
                        Some(u),
                        200,
                    )
                }
                Step::Deactivate => (
                    reqwest::Method::PATCH,
                    format!("{base}/Users/{id}"),
                    Some(patch(
                        json!([{"op": "replace", "path": "active", "value": false}]),
                    )),
                    200,
                ),
                Step::Join => (
                    reqwest::Method::PATCH,
                    format!("{base}/Groups/{gid}"),
                    Some(patch(
                        json!([{"op": "add", "path": "members", "value": [{"value": id}]}]),
                    )),
                    204,
                ),
                Step::Leave => (
                    reqwest::Method::PATCH,
                    format!("{base}/Groups/{gid}"),
                    Some(patch(
                        json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]),
                    )),
                    204,
                ),
                Step::Delete => (
                    reqwest::Method::DELETE,
                    format!("{base}/Users/{id}"),
                    None,
                    204,
                ),
            };
            let mut req = client
                .request(method, url)
                .bearer_auth(TOKEN)
                .header("Content-Type", "application/scim+json")
                .header("X-Request-Id", &rid)
                .timeout(Duration::from_secs(10));
            if let Some(b) = body {
                req = req.body(b.to_string());
            }
            let Ok(res) = req.send().await else {
                // The server died with this request in flight.
                t.in_flight = true;
                tracks.push(t);
                return (tracks, acked);
            };
            let status = res.status().as_u16();
            let Ok(body) = res.text().await else {
                t.in_flight = true;
                tracks.push(t);
                return (tracks, acked);
            };
            // Overload answers write nothing; anything else is a bug.
            if status == 429 || status == 503 {
                break;
            }
            assert_eq!(status, want, "{step:?} {}: {body}", t.name);
            if step == Step::Post {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                id = v["id"].as_str().unwrap().to_owned();
            }
            t.acked = n + 1;
            acked.push(rid);
            progress.fetch_add(1, Ordering::Relaxed);
        }
        tracks.push(t);
    }
    unreachable!()
}

/// `SELECT COUNT(*) …` as a number.
async fn count(db: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        sql.to_owned(),
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get_by_index::<i64>(0)
    .unwrap()
}

#[tokio::test]
async fn acknowledged_writes_survive_sigkill() {
    let url = fresh_database_url().await;
    let client = crate::helpers::http_client();
    let mut tracks: Vec<Track> = vec![];
    let mut acknowledged: Vec<String> = vec![];
    let mut base = String::new();
    let mut gid = String::new();
    for round in 0..4 {
        // Proc::start asserts the server became ready.
        let p = Proc::start(&url, &[]).await;
        if base.is_empty() {
            base = directory_base(&url, &p.address).await;
        }
        let base_now = base.replace(base.split("/scim/").next().unwrap(), &p.address);
        if gid.is_empty() {
            let res = client
                .post(format!("{base_now}/Groups"))
                .bearer_auth(TOKEN)
                .header("Content-Type", "application/scim+json")
                .body(json!({"displayName": "Crash"}).to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201);
            gid = res.json::<serde_json::Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned();
        }
        let progress = Arc::new(AtomicUsize::new(0));
        let writers: Vec<_> = (0..6)
            .map(|w| {
                tokio::spawn(writer(
                    client.clone(),
                    base_now.clone(),
                    gid.clone(),
                    format!("k{round}w{w}"),
                    progress.clone(),
                ))
            })
            .collect();
        // Kill once the writers are well under way (48 acknowledged writes:
        // one writer at least got through a whole script), at a random
        // moment after that.
        let started = std::time::Instant::now();
        while progress.load(Ordering::Relaxed) < 48 {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "round {round}: the writers made no progress"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let wait = rand::rng().random_range(0..400);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        drop(p); // SIGKILL
        let mut progress = 0;
        for w in writers {
            let (t, a) = w.await.unwrap();
            progress += a.len();
            tracks.extend(t);
            acknowledged.extend(a);
        }
        assert!(progress > 0, "round {round} made no progress");
    }
    assert!(acknowledged.len() > 20, "the writers made progress");
    for step in [
        Step::Post,
        Step::Put,
        Step::Deactivate,
        Step::Join,
        Step::Leave,
        Step::Delete,
    ] {
        let n = tracks
            .iter()
            .filter(|t| t.steps[..t.acked].contains(&step))
            .count();
        assert!(n > 0, "no {step:?} was acknowledged: not a write mix");
    }

    let p = Proc::start(&url, &[]).await;
    let base_now = base.replace(base.split("/scim/").next().unwrap(), &p.address);
    let get = |path: String| {
        let client = client.clone();
        async move {
            let res = client.get(path).bearer_auth(TOKEN).send().await.unwrap();
            assert_eq!(res.status(), 200);
            res.json::<serde_json::Value>().await.unwrap()
        }
    };
    let group = get(format!("{base_now}/Groups/{gid}")).await;
    let members: std::collections::HashSet<String> = group["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| m["value"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    // Every acknowledged write is there (and an in-flight one either is or
    // is not, whole).
    for t in &tracks {
        let found = get(format!(
            "{base_now}/Users?filter={}",
            crate::users::urlencode(&format!("userName eq \"{}\"", t.name))
        ))
        .await;
        let seen = match found["totalResults"].as_u64().unwrap() {
            0 => GONE,
            1 => {
                let u = &found["Resources"][0];
                Seen {
                    exists: true,
                    title: u["title"].as_str().map(str::to_owned),
                    active: u["active"].as_bool().unwrap(),
                    member: members.contains(u["id"].as_str().unwrap()),
                }
            }
            n => panic!("{} is there {n} times", t.name),
        };
        let ok = seen == after(&t.steps, t.acked)
            || (t.in_flight && seen == after(&t.steps, t.acked + 1));
        assert!(ok, "{t:?}: SCIM shows {seen:?}");
    }
    drop(p);

    // The database is consistent.
    let db = Database::connect(url.as_str()).await.unwrap();
    let log = entity::sync_log::Entity::find().all(&db).await.unwrap();
    let mut per_request = std::collections::HashMap::<String, usize>::new();
    for e in &log {
        if let Some(r) = &e.request_id {
            *per_request.entry(r.clone()).or_default() += 1;
        }
    }
    for rid in &acknowledged {
        assert_eq!(
            per_request.get(rid),
            Some(&1),
            "one sync-log entry for acknowledged {rid}"
        );
    }
    assert!(per_request.values().all(|n| *n == 1), "{per_request:?}");
    let links = entity::scim_user::Entity::find().all(&db).await.unwrap();
    let accounts = entity::account::Entity::find().all(&db).await.unwrap();
    let account_ids: std::collections::HashSet<_> = accounts.iter().map(|a| a.id).collect();
    for l in &links {
        assert!(
            account_ids.contains(&l.account_id),
            "{} links to no account",
            l.user_name
        );
    }
    // An account without a link is one whose DELETE ran.
    let linked: std::collections::HashSet<_> = links.iter().map(|l| l.account_id).collect();
    for a in accounts.iter().filter(|a| !linked.contains(&a.id)) {
        let email = a.email.clone().unwrap_or_default();
        let t = tracks.iter().find(|t| t.name == email);
        let deleted = t.is_some_and(|t| {
            let n = t.acked + usize::from(t.in_flight);
            t.steps[..n.min(t.steps.len())].contains(&Step::Delete)
        });
        assert!(deleted, "account {email} lost its link without a DELETE");
    }
    // Group members are users of the group's directory.
    let orphans = count(
        &db,
        "SELECT COUNT(*) FROM group_members m JOIN groups g ON g.id = m.group_id \
         WHERE NOT EXISTS (SELECT 1 FROM scim_users u \
           WHERE u.account_id = m.account_id AND u.directory_id = g.directory_id)",
    )
    .await;
    assert_eq!(orphans, 0, "group members without a user");
    if url.starts_with("sqlite") {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DatabaseBackend::Sqlite,
                "PRAGMA integrity_check",
            ))
            .await
            .unwrap()
            .unwrap();
        let verdict: String = row.try_get_by_index(0).unwrap();
        assert_eq!(verdict, "ok");
    }
}

#[tokio::test]
async fn two_instances_on_one_database_lose_nothing() {
    let url = fresh_database_url().await;
    let a = Proc::start(&url, &[]).await;
    let b = Proc::start(&url, &[]).await;
    let base_a = directory_base(&url, &a.address).await;
    let base_b = base_a.replace(&a.address, &b.address);
    let client = crate::helpers::http_client();
    // Same group, members added through both instances at once.
    let res = client
        .post(format!("{base_a}/Groups"))
        .bearer_auth(TOKEN)
        .header("Content-Type", "application/scim+json")
        .body(json!({"displayName": "Shared"}).to_string())
        .send()
        .await
        .unwrap();
    let gid = res.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut ids = vec![];
    for i in 0..32 {
        let res = client
            .post(format!("{base_a}/Users"))
            .bearer_auth(TOKEN)
            .header("Content-Type", "application/scim+json")
            .body(user(&format!("multi{i}@example.com")).to_string())
            .send()
            .await
            .unwrap();
        ids.push(
            res.json::<serde_json::Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let mut tasks = vec![];
    for (i, id) in ids.iter().enumerate() {
        let base = if i.is_multiple_of(2) {
            base_a.clone()
        } else {
            base_b.clone()
        };
        let client = client.clone();
        let (gid, id) = (gid.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            client
                .patch(format!("{base}/Groups/{gid}"))
                .bearer_auth(TOKEN)
                .header("Content-Type", "application/scim+json")
                .body(json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]}).to_string())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 204);
    }
    let g: serde_json::Value = client
        .get(format!("{base_b}/Groups/{gid}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(g["members"].as_array().unwrap().len(), 32);

    // The same user patched through both with the same If-Match, round
    // after round: exactly one wins each round, and every win is one
    // version.
    let uid = &ids[0];
    let user_url = |base: &str| format!("{base}/Users/{uid}");
    let version = |client: reqwest::Client, url: String| async move {
        let u: serde_json::Value = client
            .get(url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        u["meta"]["version"].as_str().unwrap().to_owned()
    };
    assert_eq!(version(client.clone(), user_url(&base_a)).await, "W/\"1\"");
    let patch_title = |base: String, etag: String, title: String| {
        let client = client.clone();
        let url = user_url(&base);
        async move {
            client
                .patch(url)
                .bearer_auth(TOKEN)
                .header("Content-Type", "application/scim+json")
                .header("If-Match", etag)
                .body(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": title}]}).to_string())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let mut winners = 0;
    let mut last_title = String::new();
    for round in 0..50 {
        let etag = version(client.clone(), user_url(&base_b)).await;
        let (a, b) = tokio::join!(
            patch_title(base_a.clone(), etag.clone(), format!("a{round}")),
            patch_title(base_b.clone(), etag.clone(), format!("b{round}")),
        );
        let mut statuses = vec![a, b];
        statuses.sort();
        assert_eq!(statuses, vec![200, 412], "round {round}");
        winners += 1;
        last_title = if a == 200 {
            format!("a{round}")
        } else {
            format!("b{round}")
        };
    }
    assert_eq!(
        version(client.clone(), user_url(&base_a)).await,
        format!("W/\"{}\"", winners + 1)
    );
    let u: serde_json::Value = client
        .get(user_url(&base_b))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(u["title"], last_title.as_str());

    // The same userName created through both at once, round after round:
    // one user each time.
    for round in 0..50 {
        let name = format!("race{round}@example.com");
        let (a, b) = tokio::join!(
            post_user(&client, &base_a, &name),
            post_user(&client, &base_b, &name),
        );
        let mut statuses = vec![a.unwrap(), b.unwrap()];
        statuses.sort();
        assert_eq!(statuses, vec![201, 409], "round {round}");
    }
    let db = Database::connect(url.as_str()).await.unwrap();
    let accounts = count(
        &db,
        "SELECT COUNT(*) FROM accounts WHERE email_lower LIKE 'race%@example.com'",
    )
    .await;
    assert_eq!(accounts, 50);
    let links = count(
        &db,
        "SELECT COUNT(*) FROM scim_users WHERE user_name_lower LIKE 'race%@example.com'",
    )
    .await;
    assert_eq!(links, 50);
}

/// A misspelt `SCIM_*` variable is ignored with a warning in the log that
/// names it and the variable it most likely meant; a known one is not.
#[test]
fn an_unknown_scim_variable_is_logged_with_the_closest_known_name() {
    let dir = std::env::temp_dir().join(format!("scim-unknown-var-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_scim-server"))
        .arg("purge-due")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/scim.db?mode=rwc", dir.display()),
        )
        .env("SCIM_MAX_RESULT", "5")
        .env("SCIM_MAX_RESULTS", "5")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "unknown environment variable SCIM_MAX_RESULT ignored: did you mean SCIM_MAX_RESULTS?"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("SCIM_MAX_RESULTS ignored"), "{stderr}");
}
