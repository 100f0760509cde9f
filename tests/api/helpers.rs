//! `spawn_app()`: the real server on port 0 with a fresh database —
//! SQLite in a temporary file by default, a new PostgreSQL database when
//! `TEST_DATABASE_URL=postgres://…` is set.

use reqwest::{Method, RequestBuilder, Response};
use scim_server::config::{Secret, Settings};
use scim_server::startup::Application;
use serde_json::{Value, json};
use uuid::Uuid;

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

pub struct TestApp {
    /// (admin URL, schema) of a PostgreSQL test schema, dropped with the app.
    pg_cleanup: Option<(String, String)>,
    pub address: String,
    /// SCIM base URL of the bootstrapped `default` directory.
    pub base: String,
    pub token: String,
    #[allow(dead_code)]
    pub directory_id: Uuid,
    pub settings: Settings,
    pub client: reqwest::Client,
    /// The DNS server the app verifies domains against.
    pub dns: crate::dns::DnsZone,
}

/// The database the suite runs on, from `TEST_DATABASE_URL`.
#[derive(Debug, PartialEq)]
pub enum TestBackend {
    /// Unset or `sqlite:…`: a new SQLite file per test.
    Sqlite,
    /// `postgres://…` (or `postgresql://…`): a new schema per test in that
    /// database.
    Postgres(String),
}

/// Reads `TEST_DATABASE_URL`. Anything set that is not a PostgreSQL or
/// SQLite URL (a typo, an empty expansion of an unset CI variable) panics,
/// rather than the suite quietly running on SQLite.
pub fn test_backend() -> TestBackend {
    backend_from(std::env::var("TEST_DATABASE_URL").ok().as_deref())
}

pub fn backend_from(var: Option<&str>) -> TestBackend {
    match var {
        None => TestBackend::Sqlite,
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            TestBackend::Postgres(url.to_owned())
        }
        Some(url) if url.starts_with("sqlite:") => TestBackend::Sqlite,
        Some(url) => panic!(
            "TEST_DATABASE_URL={url:?} is neither a postgres://… nor a sqlite:… URL; \
             unset it to run on SQLite, or set e.g. postgres://postgres@127.0.0.1:5432/test"
        ),
    }
}

/// A fresh, empty database for one test: on PostgreSQL a new schema of the
/// `TEST_DATABASE_URL` database (cheap to create and drop, unlike a
/// database), selected through the connection's `search_path`; on SQLite a
/// new file.
pub async fn fresh_database_url() -> String {
    match test_backend() {
        TestBackend::Postgres(url) => {
            use sea_orm::{ConnectionTrait, Database};
            let admin = Database::connect(url.as_str())
                .await
                .expect("TEST_DATABASE_URL must be reachable");
            let name = format!("scim_test_{}", Uuid::new_v4().simple());
            admin
                .execute_unprepared(&format!("CREATE SCHEMA {name}"))
                .await
                .expect("create test schema");
            let _ = admin.close().await;
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}options[search_path]={name}")
        }
        TestBackend::Sqlite => {
            let path = std::env::temp_dir().join(format!("scim-test-{}.db", Uuid::new_v4()));
            format!("sqlite://{}?mode=rwc", path.display())
        }
    }
}

/// The suite's HTTP client. It drops idle connections after a second: the
/// server closes an idle keep-alive connection after
/// `SCIM_KEEP_ALIVE_SECS` (5 s), and a request sent on a connection the
/// server is closing fails with `IncompleteMessage` (seen under load).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(std::time::Duration::from_secs(1))
        .build()
        .expect("an HTTP client")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// The server's warnings and errors (the cause of a 500 or a 503) in the
/// test's captured output: libtest prints it when the test fails. Worker
/// threads inherit the capture of the test that started them.
/// `RUST_LOG` overrides the level.
fn capture_server_logs() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,sqlx=error,sea_orm=error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .with_ansi(false)
        .try_init();
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    capture_server_logs();
    let token = format!("test-token-{}", Uuid::new_v4());
    let dns = crate::dns::DnsZone::start().await;
    let mut settings = Settings {
        bind: "127.0.0.1:0".into(),
        database_url: Secret::new(fresh_database_url().await),
        bootstrap_token: Some(Secret::new(token.clone())),
        db_max_connections: 4,
        dns_resolvers: dns.addr.into_iter().collect(),
        // The webhook tests drive deliveries themselves; a worker polling
        // in every other test would only hold transactions open.
        webhook_poll_ms: 0,
        ..Settings::default()
    };
    configure(&mut settings);
    let app = Application::build(settings.clone())
        .await
        .expect("the application starts");
    let port = app.port();
    let boot = app
        .bootstrap()
        .cloned()
        .expect("a fresh database is bootstrapped");
    tokio::spawn(app.run_until_stopped());
    let address = format!("http://127.0.0.1:{port}");
    let pg_cleanup = match test_backend() {
        TestBackend::Postgres(admin) => Some(admin),
        TestBackend::Sqlite => None,
    }
    .and_then(|admin| {
        let url = settings.database_url.expose();
        let name = url.rsplit("search_path]=").next()?.to_owned();
        name.starts_with("scim_test_").then_some((admin, name))
    });
    TestApp {
        pg_cleanup,
        base: format!("{address}/scim/v2/directories/{}", boot.directory_id),
        address,
        token: boot.token,
        directory_id: boot.directory_id,
        settings,
        client: crate::helpers::http_client(),
        dns,
    }
}

impl TestApp {
    /// The server's `/metrics` text.
    pub async fn metrics_text(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.address))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// A request to `path` under the SCIM base, with the token and SCIM JSON.
    pub fn scim(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("Content-Type", "application/scim+json")
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.scim(method, path);
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        read(req.send().await.expect("request sent")).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(Method::POST, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(Method::PUT, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, ops: Value) -> (u16, Value) {
        self.send(
            Method::PATCH,
            path,
            Some(json!({"schemas": [PATCH_OP], "Operations": ops})),
        )
        .await
    }
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(Method::GET, path, None).await
    }
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(Method::DELETE, path, None).await
    }

    /// Creates a user and returns its id.
    pub async fn create_user(&self, body: Value) -> String {
        let (status, user) = self.post("/Users", body).await;
        assert_eq!(status, 201, "{user}");
        user["id"].as_str().expect("an id").to_owned()
    }

    /// Runs an operator CLI command against the same database.
    /// Adds `name` to organization `default` and verifies it (operator
    /// override), as `domain add` and `domain verify --force` do.
    pub async fn verify_domain(&self, name: &str) {
        self.verify_domain_of("default", name).await;
    }

    /// [`Self::verify_domain`] for organization `org`.
    pub async fn verify_domain_of(&self, org: &str, name: &str) {
        self.cli(&["domain", "add", "--org", org, name]).await;
        self.cli(&["domain", "verify", "--org", org, name, "--force"])
            .await;
    }

    pub async fn cli(&self, args: &[&str]) {
        use clap::Parser;
        let mut argv = vec!["scim-server"];
        argv.extend_from_slice(args);
        let cli = scim_server::cli::Cli::try_parse_from(argv).expect("valid CLI arguments");
        scim_server::cli::run(&self.settings, cli.command.expect("a command"))
            .await
            .expect("the CLI command succeeds");
    }

    /// Runs an `oauth-client` or `signing-key` command; returns its JSON.
    pub async fn cli_oauth(&self, args: &[&str]) -> Value {
        use clap::Parser;
        let mut argv = vec!["scim-server"];
        argv.extend_from_slice(args);
        let cli = scim_server::cli::Cli::try_parse_from(argv).expect("valid CLI arguments");
        scim_server::cli::run_oauth(&self.settings, cli.command.expect("a command"))
            .await
            .expect("the CLI command succeeds")
    }

    /// A new directory (of organization `org`, created if missing) with a
    /// token, as `directory create` makes it: the same server, that
    /// directory's base URL and token.
    pub async fn other_directory(&self, org: &str, name: &str) -> TestApp {
        use scim_server::store::directories;
        let db = self.db().await;
        let o = directories::find_or_create_org(&db, org).await.unwrap();
        let d = directories::create_directory(&db, o.id, name)
            .await
            .unwrap();
        let (_, token) = directories::create_token(&db, d.id, None).await.unwrap();
        let _ = db.close().await;
        TestApp {
            pg_cleanup: None,
            address: self.address.clone(),
            base: format!("{}/scim/v2/directories/{}", self.address, d.id),
            token,
            directory_id: d.id,
            settings: self.settings.clone(),
            client: self.client.clone(),
            dns: self.dns.clone(),
        }
    }

    /// Direct database access for assertions a client can't make.
    pub async fn db(&self) -> sea_orm::DatabaseConnection {
        sea_orm::Database::connect(self.settings.database_url.expose())
            .await
            .expect("database reachable")
    }
}

impl Drop for TestApp {
    /// Drops the test's PostgreSQL schema, so repeated runs don't pile
    /// schemas up.
    fn drop(&mut self) {
        let Some((admin, name)) = self.pg_cleanup.take() else {
            return;
        };
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                use sea_orm::ConnectionTrait;
                if let Ok(db) = sea_orm::Database::connect(admin.as_str()).await {
                    // Bounded: this thread blocks the test's runtime, so a
                    // task of that runtime still holding a transaction in
                    // the schema could never let go; the schema is then
                    // left for CI's clean-up instead of waiting for ever.
                    use sea_orm::TransactionTrait;
                    if let Ok(tx) = db.begin().await {
                        let dropped = async {
                            tx.execute_unprepared("SET LOCAL lock_timeout = '5s'")
                                .await?;
                            tx.execute_unprepared(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                                .await?;
                            tx.commit().await
                        };
                        let _ = dropped.await;
                    }
                    let _ = db.close().await;
                }
            });
        })
        .join();
    }
}

pub async fn read(res: Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

pub fn user(user_name: &str) -> Value {
    json!({
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"value": user_name, "type": "work", "primary": true}],
        "active": true,
    })
}

/// Asserts a SCIM error body.
pub fn assert_scim_error(status: u16, body: &Value, want_status: u16, scim_type: Option<&str>) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["schemas"], json!([ERROR_SCHEMA]), "{body}");
    assert_eq!(body["status"], want_status.to_string(), "{body}");
    assert_eq!(body["scimType"].as_str(), scim_type, "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
}

/// The account with `email`.
pub async fn account_of(app: &TestApp, email: &str) -> entity::account::Model {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    entity::account::Entity::find()
        .filter(entity::account::Column::EmailLower.eq(email.to_lowercase()))
        .one(&app.db().await)
        .await
        .unwrap()
        .expect("the account exists")
}

/// Every row of every table, as text, per table (sorted): what a refused
/// request must leave as it was. The record of the failure is left out (the
/// one write a refused request makes): the sync log's failure entries and
/// the `directory.sync_failed` event with its throttle and counter rows.
pub async fn db_rows(app: &TestApp) -> std::collections::BTreeMap<String, Vec<String>> {
    use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
    let db = app.db().await;
    let backend = db.get_database_backend();
    let texts = |sql: String| {
        let db = &db;
        async move {
            db.query_all_raw(Statement::from_string(backend, sql))
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.try_get_by_index::<String>(0).unwrap())
                .collect::<Vec<String>>()
        }
    };
    let tables = texts(match backend {
        DatabaseBackend::Postgres => "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
            .to_owned(),
        _ => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            .to_owned(),
    })
    .await;
    let mut out = std::collections::BTreeMap::new();
    for table in tables {
        let only = match table.as_str() {
            "sync_log" => " WHERE outcome <> 'failure'",
            "events" => " WHERE type <> 'directory.sync_failed'",
            "event_throttle" | "event_counters" => " WHERE 1 = 0",
            _ => "",
        };
        let row = match backend {
            DatabaseBackend::Postgres => "t::text".to_owned(),
            _ => {
                let columns = texts(format!("SELECT name FROM pragma_table_info('{table}')")).await;
                columns
                    .iter()
                    .map(|c| format!("quote(\"{c}\")"))
                    .collect::<Vec<_>>()
                    .join(" || '|' || ")
            }
        };
        let mut rows = texts(format!("SELECT {row} FROM \"{table}\" t{only}")).await;
        rows.sort();
        out.insert(table, rows);
    }
    let _ = db.close().await;
    out
}

/// Asserts that no table changed since `before` (see [`db_rows`]), naming
/// the tables that did and their rows that came or went.
pub async fn assert_db_unchanged(
    app: &TestApp,
    before: &std::collections::BTreeMap<String, Vec<String>>,
) {
    let after = db_rows(app).await;
    assert!(before.values().map(Vec::len).sum::<usize>() > 0);
    let mut changed = vec![];
    for (table, rows) in &after {
        let old = before.get(table).cloned().unwrap_or_default();
        if &old != rows {
            let gone: Vec<_> = old.iter().filter(|r| !rows.contains(r)).collect();
            let came: Vec<_> = rows.iter().filter(|r| !old.contains(r)).collect();
            changed.push(format!("{table}: gone {gone:?}, came {came:?}"));
        }
    }
    assert!(changed.is_empty(), "changed:\n{}", changed.join("\n"));
}
