//! Settings: defaults → optional TOML file (`--config`) → environment
//! (`SCIM_*`, plus the conventional `DATABASE_URL`).

use std::fmt;
use std::path::Path;

use serde::Deserialize;

/// A secret that never shows in `Debug` output or logs.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to listen on.
    pub bind: String,
    /// `sqlite://…` or `postgres://…`. May hold a password: masked.
    pub database_url: Secret,
    /// Public base URL (scheme://host[:port]) used in `meta.location` and in
    /// what the bootstrap prints. Unset: taken from each request's Host.
    pub public_url: Option<String>,
    /// `documentationUri` of the ServiceProviderConfig. Unset: left out.
    pub documentation_url: Option<String>,
    /// Token for the `default` directory created on first start.
    pub bootstrap_token: Option<Secret>,
    pub log_format: LogFormat,
    /// Largest request body accepted (bytes); larger → 413.
    pub max_body_bytes: usize,
    /// Largest page a list request returns (`count` is clamped to it).
    pub max_results: u64,
    /// Bytes of resources after which a `/Users` page stops early.
    pub max_page_bytes: usize,
    /// Longest filter accepted (characters).
    pub filter_max_len: usize,
    /// Deepest filter nesting accepted.
    pub filter_max_depth: usize,
    /// Connections in the database pool (readers, for SQLite).
    pub db_max_connections: u32,
    /// Days a deleted managed account stays pending deletion (cancellable)
    /// before it is purged.
    pub deletion_grace_days: u32,
    /// Seconds between runs of the purge job in the server (0: never; the
    /// `purge-due` command still works).
    pub purge_interval_secs: u64,
    /// Days sync-log rows are kept (0: forever); older ones are deleted by
    /// the periodic job.
    pub sync_log_retention_days: u32,
    /// Days audit-log rows are kept (0: forever).
    pub audit_log_retention_days: u32,
    /// Days change events are kept (the purge job deletes older ones; 0:
    /// kept for ever).
    pub event_retention_days: u32,
    /// Webhook targets may be http to a loopback host and private,
    /// loopback or link-local addresses (tests and local development).
    pub webhook_allow_insecure: bool,
    /// Milliseconds the webhook worker sleeps when idle (0: no worker).
    pub webhook_poll_ms: u64,
    /// Seconds a worker holds an endpoint it claimed (at least 2): a
    /// worker killed mid-delivery leaves the endpoint to another (or the
    /// restarted) instance after this long. A delivery's total timeout is
    /// at most half of it.
    pub webhook_lease_secs: u64,
    /// Record change events (default). Off only to measure what they cost
    /// (`cargo bench --bench events`): the store hands it to every write
    /// transaction; nothing is recorded and webhooks receive nothing.
    pub events_enabled: bool,
    /// Most operations one `/Bulk` request may carry.
    pub bulk_max_operations: usize,
    /// Largest `/Bulk` body accepted (bytes).
    pub bulk_max_payload_bytes: usize,
    /// Most passwords one `/Bulk` request may set (each is an argon2 hash).
    pub bulk_max_passwords: usize,
    /// Seconds between SIGTERM (readyz turns 503) and closing the listener.
    pub shutdown_delay_secs: u64,
    /// How long a statement waits for a database lock (SQLite busy timeout,
    /// PostgreSQL `lock_timeout`) before the request answers 503.
    pub db_busy_timeout_ms: u64,
    /// Longest a statement may run (PostgreSQL `statement_timeout`; SQLite
    /// reads are interrupted) before the request answers 503; 0: no limit.
    pub db_statement_timeout_ms: u64,
    /// `iss` of the OAuth access tokens. Unset: `public_url`, else
    /// "scim-server". Every instance sharing a database must agree on it.
    pub oauth_issuer: Option<String>,
    /// Lifetime of an OAuth access token (seconds).
    pub oauth_token_ttl_secs: u64,
    /// Sustained SCIM requests per second allowed per directory, per server
    /// instance; 0 turns the limit off.
    pub rate_limit_per_sec: f64,
    /// Requests a directory may make at once above the sustained rate.
    /// Unset: the rate rounded up (at least 1).
    pub rate_limit_burst: Option<u32>,
    /// DNS servers (`ip:port`) that domain verification asks for the
    /// proof TXT record; empty: the system's (`/etc/resolv.conf`).
    pub dns_resolvers: Vec<std::net::SocketAddr>,
    /// Bearer token `/metrics` requires. Unset: `/metrics` is public.
    pub metrics_token: Option<Secret>,
    /// Time a client has to send a request's head (ms); then 408, closed.
    pub client_header_timeout_ms: u64,
    /// Time a client has to send a request's body after its head (ms); 0:
    /// no limit.
    pub client_body_timeout_ms: u64,
    /// Idle seconds a keep-alive connection is kept open.
    pub keep_alive_secs: u64,
    /// Peers whose `Forwarded` / `X-Forwarded-*` headers are believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// A web-page session ends after this many seconds without a request.
    pub admin_session_idle_secs: u64,
    /// A web-page session ends this many seconds after sign-in.
    pub admin_session_max_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".to_owned(),
            database_url: Secret::new("sqlite://scim.db?mode=rwc"),
            public_url: None,
            documentation_url: None,
            bootstrap_token: None,
            log_format: LogFormat::Text,
            max_body_bytes: 1024 * 1024,
            max_results: 1000,
            max_page_bytes: 8 * 1024 * 1024,
            filter_max_len: 4096,
            filter_max_depth: 32,
            db_max_connections: 10,
            deletion_grace_days: 14,
            purge_interval_secs: 3600,
            sync_log_retention_days: 90,
            audit_log_retention_days: 365,
            event_retention_days: 30,
            webhook_allow_insecure: false,
            webhook_poll_ms: 1000,
            webhook_lease_secs: 60,
            events_enabled: true,
            bulk_max_operations: 1000,
            bulk_max_payload_bytes: 4 * 1024 * 1024,
            bulk_max_passwords: 100,
            shutdown_delay_secs: 1,
            db_busy_timeout_ms: 10_000,
            db_statement_timeout_ms: 5_000,
            oauth_issuer: None,
            oauth_token_ttl_secs: 3600,
            rate_limit_per_sec: 0.0,
            rate_limit_burst: None,
            dns_resolvers: Vec::new(),
            metrics_token: None,
            client_header_timeout_ms: 5_000,
            client_body_timeout_ms: 30_000,
            keep_alive_secs: 5,
            trusted_proxies: Vec::new(),
            admin_session_idle_secs: 30 * 60,
            admin_session_max_secs: 12 * 3600,
        }
    }
}

/// The optional file layer: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    bind: Option<String>,
    database_url: Option<Secret>,
    public_url: Option<String>,
    documentation_url: Option<String>,
    bootstrap_token: Option<Secret>,
    log_format: Option<LogFormat>,
    max_body_bytes: Option<usize>,
    max_results: Option<u64>,
    max_page_bytes: Option<usize>,
    filter_max_len: Option<usize>,
    filter_max_depth: Option<usize>,
    db_max_connections: Option<u32>,
    deletion_grace_days: Option<u32>,
    purge_interval_secs: Option<u64>,
    sync_log_retention_days: Option<u32>,
    audit_log_retention_days: Option<u32>,
    event_retention_days: Option<u32>,
    webhook_allow_insecure: Option<bool>,
    webhook_poll_ms: Option<u64>,
    webhook_lease_secs: Option<u64>,
    events_enabled: Option<bool>,
    bulk_max_operations: Option<usize>,
    bulk_max_payload_bytes: Option<usize>,
    bulk_max_passwords: Option<usize>,
    shutdown_delay_secs: Option<u64>,
    db_busy_timeout_ms: Option<u64>,
    db_statement_timeout_ms: Option<u64>,
    oauth_issuer: Option<String>,
    oauth_token_ttl_secs: Option<u64>,
    rate_limit_per_sec: Option<f64>,
    rate_limit_burst: Option<u32>,
    dns_resolvers: Option<String>,
    metrics_token: Option<Secret>,
    client_header_timeout_ms: Option<u64>,
    client_body_timeout_ms: Option<u64>,
    keep_alive_secs: Option<u64>,
    trusted_proxies: Option<Vec<String>>,
    admin_session_idle_secs: Option<u64>,
    admin_session_max_secs: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("invalid value for {key}: {message}")]
    Env { key: String, message: String },
}

impl Settings {
    /// Defaults, then `file` if given, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(file, &env)
    }

    pub fn load_from(file: Option<&Path>, env: &[(String, String)]) -> Result<Self, ConfigError> {
        let mut s = Settings::default();
        if let Some(path) = file {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: shown.clone(),
                source,
            })?;
            let f: FileSettings = toml::from_str(&text).map_err(|e| ConfigError::Parse {
                path: shown,
                message: e.message().to_owned(),
            })?;
            s.apply_file(f)?;
        }
        s.apply_env(env)?;
        s.check()?;
        Ok(s)
    }

    /// The `iss` of access tokens: configured, else the public URL, else
    /// "scim-server".
    pub fn oauth_issuer(&self) -> String {
        self.oauth_issuer
            .clone()
            .or_else(|| self.public_url.clone())
            .unwrap_or_else(|| "scim-server".to_owned())
    }

    /// Values that parse but make no sense.
    fn check(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: &str| {
            Err(ConfigError::Env {
                key: key.to_owned(),
                message: message.to_owned(),
            })
        };
        if !(1..=86_400).contains(&self.oauth_token_ttl_secs) {
            return bad("SCIM_OAUTH_TOKEN_TTL_SECS", "expected 1 to 86400 seconds");
        }
        if !self.rate_limit_per_sec.is_finite() || self.rate_limit_per_sec < 0.0 {
            return bad("SCIM_RATE_LIMIT_PER_SEC", "expected a number >= 0");
        }
        if self.rate_limit_burst == Some(0) {
            return bad("SCIM_RATE_LIMIT_BURST", "expected at least 1");
        }
        if self.admin_session_idle_secs == 0 {
            return bad("SCIM_ADMIN_SESSION_IDLE_SECS", "expected at least 1 second");
        }
        if self.admin_session_max_secs == 0 {
            return bad("SCIM_ADMIN_SESSION_MAX_SECS", "expected at least 1 second");
        }
        if self.metrics_token.as_ref().is_some_and(|t| t.0.len() < 16) {
            return bad("SCIM_METRICS_TOKEN", "expected at least 16 characters");
        }
        Ok(())
    }

    fn apply_file(&mut self, f: FileSettings) -> Result<(), ConfigError> {
        if let Some(v) = &f.dns_resolvers {
            self.dns_resolvers = parse_resolvers("dns_resolvers", v)?;
        }
        if let Some(v) = f.bind {
            self.bind = v;
        }
        if let Some(v) = f.database_url {
            self.database_url = v;
        }
        if f.public_url.is_some() {
            self.public_url = f.public_url;
        }
        if f.documentation_url.is_some() {
            self.documentation_url = f.documentation_url;
        }
        if f.bootstrap_token.is_some() {
            self.bootstrap_token = f.bootstrap_token;
        }
        if let Some(v) = f.log_format {
            self.log_format = v;
        }
        if let Some(v) = f.max_body_bytes {
            self.max_body_bytes = v;
        }
        if let Some(v) = f.max_results {
            self.max_results = v;
        }
        if let Some(v) = f.max_page_bytes {
            self.max_page_bytes = v;
        }
        if let Some(v) = f.filter_max_len {
            self.filter_max_len = v;
        }
        if let Some(v) = f.filter_max_depth {
            self.filter_max_depth = v;
        }
        if let Some(v) = f.db_max_connections {
            self.db_max_connections = v;
        }
        if let Some(v) = f.deletion_grace_days {
            self.deletion_grace_days = v;
        }
        if let Some(v) = f.purge_interval_secs {
            self.purge_interval_secs = v;
        }
        if let Some(v) = f.sync_log_retention_days {
            self.sync_log_retention_days = v;
        }
        if let Some(v) = f.audit_log_retention_days {
            self.audit_log_retention_days = v;
        }
        if let Some(v) = f.event_retention_days {
            self.event_retention_days = v;
        }
        if let Some(v) = f.webhook_allow_insecure {
            self.webhook_allow_insecure = v;
        }
        if let Some(v) = f.webhook_poll_ms {
            self.webhook_poll_ms = v;
        }
        if let Some(v) = f.webhook_lease_secs {
            self.webhook_lease_secs = v.max(2);
        }
        if let Some(v) = f.events_enabled {
            self.events_enabled = v;
        }
        if let Some(v) = f.bulk_max_operations {
            self.bulk_max_operations = v;
        }
        if let Some(v) = f.bulk_max_payload_bytes {
            self.bulk_max_payload_bytes = v;
        }
        if let Some(v) = f.bulk_max_passwords {
            self.bulk_max_passwords = v;
        }
        if let Some(v) = f.shutdown_delay_secs {
            self.shutdown_delay_secs = v;
        }
        if let Some(v) = f.db_busy_timeout_ms {
            self.db_busy_timeout_ms = v;
        }
        if let Some(v) = f.db_statement_timeout_ms {
            self.db_statement_timeout_ms = v;
        }
        if f.oauth_issuer.is_some() {
            self.oauth_issuer = f.oauth_issuer;
        }
        if let Some(v) = f.oauth_token_ttl_secs {
            self.oauth_token_ttl_secs = v;
        }
        if let Some(v) = f.rate_limit_per_sec {
            self.rate_limit_per_sec = v;
        }
        if f.rate_limit_burst.is_some() {
            self.rate_limit_burst = f.rate_limit_burst;
        }
        if f.metrics_token.is_some() {
            self.metrics_token = f.metrics_token;
        }
        if let Some(v) = f.client_header_timeout_ms {
            self.client_header_timeout_ms = v;
        }
        if let Some(v) = f.client_body_timeout_ms {
            self.client_body_timeout_ms = v;
        }
        if let Some(v) = f.keep_alive_secs {
            self.keep_alive_secs = v;
        }
        if let Some(v) = f.admin_session_idle_secs {
            self.admin_session_idle_secs = v;
        }
        if let Some(v) = f.admin_session_max_secs {
            self.admin_session_max_secs = v;
        }
        if let Some(v) = f.trusted_proxies {
            self.trusted_proxies = parse_proxies("trusted_proxies", &v.join(","))?;
        }
        Ok(())
    }

    fn apply_env(&mut self, env: &[(String, String)]) -> Result<(), ConfigError> {
        fn num<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, ConfigError> {
            v.trim().parse().map_err(|_| ConfigError::Env {
                key: key.to_owned(),
                message: format!("expected a number, got {v:?}"),
            })
        }
        for (key, v) in env {
            match key.as_str() {
                "SCIM_BIND" => self.bind = v.clone(),
                "DATABASE_URL" | "SCIM_DATABASE_URL" => self.database_url = Secret::new(v.clone()),
                "SCIM_PUBLIC_URL" => {
                    self.public_url = Some(v.trim_end_matches('/').to_owned());
                }
                "SCIM_DOCUMENTATION_URL" => {
                    self.documentation_url = Some(v.trim().to_owned()).filter(|u| !u.is_empty());
                }
                "SCIM_BOOTSTRAP_TOKEN" => self.bootstrap_token = Some(Secret::new(v.clone())),
                "SCIM_LOG_FORMAT" => {
                    self.log_format = match v.to_ascii_lowercase().as_str() {
                        "json" => LogFormat::Json,
                        "text" => LogFormat::Text,
                        _ => {
                            return Err(ConfigError::Env {
                                key: key.clone(),
                                message: "expected text or json".into(),
                            });
                        }
                    }
                }
                "SCIM_MAX_BODY_BYTES" => self.max_body_bytes = num(key, v)?,
                "SCIM_MAX_RESULTS" => self.max_results = num(key, v)?,
                "SCIM_MAX_PAGE_BYTES" => self.max_page_bytes = num(key, v)?,
                "SCIM_FILTER_MAX_LEN" => self.filter_max_len = num(key, v)?,
                "SCIM_FILTER_MAX_DEPTH" => self.filter_max_depth = num(key, v)?,
                "SCIM_DB_MAX_CONNECTIONS" => self.db_max_connections = num(key, v)?,
                "SCIM_DELETION_GRACE_DAYS" => self.deletion_grace_days = num(key, v)?,
                "SCIM_PURGE_INTERVAL_SECS" => self.purge_interval_secs = num(key, v)?,
                "SCIM_SYNC_LOG_RETENTION_DAYS" => self.sync_log_retention_days = num(key, v)?,
                "SCIM_AUDIT_LOG_RETENTION_DAYS" => self.audit_log_retention_days = num(key, v)?,
                "SCIM_EVENT_RETENTION_DAYS" => self.event_retention_days = num(key, v)?,
                "SCIM_WEBHOOK_ALLOW_INSECURE" => {
                    self.webhook_allow_insecure = match v.trim() {
                        "1" | "true" => true,
                        "0" | "false" | "" => false,
                        _ => {
                            return Err(ConfigError::Env {
                                key: key.to_owned(),
                                message: format!("expected 1 or 0, got {v:?}"),
                            });
                        }
                    }
                }
                "SCIM_WEBHOOK_POLL_MS" => self.webhook_poll_ms = num(key, v)?,
                "SCIM_WEBHOOK_LEASE_SECS" => {
                    self.webhook_lease_secs = num::<u64>(key, v)?.max(2);
                }
                "SCIM_EVENTS_ENABLED" => {
                    self.events_enabled = match v.trim() {
                        "1" | "true" => true,
                        "0" | "false" => false,
                        _ => {
                            return Err(ConfigError::Env {
                                key: key.to_owned(),
                                message: format!("expected 1 or 0, got {v:?}"),
                            });
                        }
                    }
                }
                "SCIM_BULK_MAX_OPERATIONS" => self.bulk_max_operations = num(key, v)?,
                "SCIM_BULK_MAX_PAYLOAD_BYTES" => self.bulk_max_payload_bytes = num(key, v)?,
                "SCIM_BULK_MAX_PASSWORDS" => self.bulk_max_passwords = num(key, v)?,
                "SCIM_SHUTDOWN_DELAY_SECS" => self.shutdown_delay_secs = num(key, v)?,
                "SCIM_DB_BUSY_TIMEOUT_MS" => self.db_busy_timeout_ms = num(key, v)?,
                "SCIM_DB_STATEMENT_TIMEOUT_MS" => self.db_statement_timeout_ms = num(key, v)?,
                "SCIM_OAUTH_ISSUER" => self.oauth_issuer = Some(v.clone()),
                "SCIM_OAUTH_TOKEN_TTL_SECS" => self.oauth_token_ttl_secs = num(key, v)?,
                "SCIM_RATE_LIMIT_PER_SEC" => self.rate_limit_per_sec = num(key, v)?,
                "SCIM_RATE_LIMIT_BURST" => self.rate_limit_burst = Some(num(key, v)?),
                "SCIM_DNS_RESOLVERS" => self.dns_resolvers = parse_resolvers(key, v)?,
                "SCIM_CLIENT_HEADER_TIMEOUT_MS" => self.client_header_timeout_ms = num(key, v)?,
                "SCIM_CLIENT_BODY_TIMEOUT_MS" => self.client_body_timeout_ms = num(key, v)?,
                "SCIM_KEEP_ALIVE_SECS" => self.keep_alive_secs = num(key, v)?,
                "SCIM_TRUSTED_PROXIES" => self.trusted_proxies = parse_proxies(key, v)?,
                "SCIM_ADMIN_SESSION_IDLE_SECS" => self.admin_session_idle_secs = num(key, v)?,
                "SCIM_ADMIN_SESSION_MAX_SECS" => self.admin_session_max_secs = num(key, v)?,
                "SCIM_METRICS_TOKEN" => {
                    self.metrics_token = Some(Secret::new(v.clone())).filter(|t| !t.0.is_empty());
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// `ip:port,ip:port` (a bare IP means port 53).
fn parse_resolvers(key: &str, v: &str) -> Result<Vec<std::net::SocketAddr>, ConfigError> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<std::net::SocketAddr>()
                .or_else(|_| {
                    s.parse::<std::net::IpAddr>()
                        .map(|ip| std::net::SocketAddr::new(ip, 53))
                })
                .map_err(|_| ConfigError::Env {
                    key: key.to_owned(),
                    message: format!("expected ip:port[,ip:port…], got {s:?}"),
                })
        })
        .collect()
}

/// `SCIM_TRUSTED_PROXIES`: CIDRs or single addresses, comma-separated.
fn parse_proxies(key: &str, v: &str) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| ConfigError::Env {
                    key: key.to_owned(),
                    message: format!("{s:?} is not a CIDR (e.g. 10.0.0.0/8) or an IP address"),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file_overrides_defaults() {
        let dir = std::env::temp_dir().join(format!("scim-config-{}", uuid::Uuid::new_v4()));
        std::fs::write(&dir, "bind = \"0.0.0.0:9000\"\nmax_results = 50\n").unwrap();
        let env = vec![("SCIM_MAX_RESULTS".to_owned(), "70".to_owned())];
        let s = Settings::load_from(Some(&dir), &env);
        let _ = std::fs::remove_file(&dir);
        let s = s.unwrap();
        assert_eq!(s.bind, "0.0.0.0:9000");
        assert_eq!(s.max_results, 70);
        assert_eq!(s.filter_max_depth, 32);
        assert_eq!(s.deletion_grace_days, 14);
        let env = vec![("SCIM_DELETION_GRACE_DAYS".to_owned(), "30".to_owned())];
        assert_eq!(
            Settings::load_from(None, &env).unwrap().deletion_grace_days,
            30
        );
    }

    #[test]
    fn webhook_lease_and_the_events_switch_come_from_the_environment() {
        let s = Settings::load_from(None, &[]).unwrap();
        assert_eq!((s.webhook_lease_secs, s.events_enabled), (60, true));
        let env = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        let s = Settings::load_from(None, &env("SCIM_WEBHOOK_LEASE_SECS", "1")).unwrap();
        assert_eq!(s.webhook_lease_secs, 2, "at least 2 s");
        let s = Settings::load_from(None, &env("SCIM_EVENTS_ENABLED", "0")).unwrap();
        assert!(!s.events_enabled);
        assert!(Settings::load_from(None, &env("SCIM_EVENTS_ENABLED", "off")).is_err());
    }

    #[test]
    fn secrets_are_masked_in_debug() {
        let s = Settings {
            bootstrap_token: Some(Secret::new("very-secret-token")),
            ..Settings::default()
        };
        assert!(!format!("{s:?}").contains("very-secret-token"));
    }

    #[test]
    fn oauth_issuer_falls_back_to_the_public_url_then_a_name() {
        let mut s = Settings::default();
        assert_eq!(s.oauth_issuer(), "scim-server");
        s.public_url = Some("https://scim.example.com".into());
        assert_eq!(s.oauth_issuer(), "https://scim.example.com");
        let env = vec![
            (
                "SCIM_OAUTH_ISSUER".to_owned(),
                "https://issuer.example".to_owned(),
            ),
            ("SCIM_OAUTH_TOKEN_TTL_SECS".to_owned(), "600".to_owned()),
            ("SCIM_RATE_LIMIT_PER_SEC".to_owned(), "2.5".to_owned()),
        ];
        let s = Settings::load_from(None, &env).unwrap();
        assert_eq!(s.oauth_issuer(), "https://issuer.example");
        assert_eq!(s.oauth_token_ttl_secs, 600);
        assert_eq!(s.rate_limit_per_sec, 2.5);
    }

    #[test]
    fn nonsense_limits_are_refused() {
        for (k, v) in [
            ("SCIM_OAUTH_TOKEN_TTL_SECS", "0"),
            ("SCIM_RATE_LIMIT_PER_SEC", "-1"),
            ("SCIM_RATE_LIMIT_BURST", "0"),
        ] {
            let env = vec![(k.to_owned(), v.to_owned())];
            assert!(Settings::load_from(None, &env).is_err(), "{k}={v}");
        }
    }

    #[test]
    fn dns_resolvers_are_a_list_of_addresses() {
        let env = vec![(
            "SCIM_DNS_RESOLVERS".to_owned(),
            "127.0.0.1:5353, 10.0.0.2".to_owned(),
        )];
        let s = Settings::load_from(None, &env).unwrap();
        assert_eq!(
            s.dns_resolvers,
            vec![
                "127.0.0.1:5353".parse().unwrap(),
                "10.0.0.2:53".parse().unwrap()
            ]
        );
        let env = vec![("SCIM_DNS_RESOLVERS".to_owned(), "resolver.local".to_owned())];
        assert!(Settings::load_from(None, &env).is_err());
    }

    #[test]
    fn trusted_proxies_are_cidrs_or_addresses() {
        let env = vec![(
            "SCIM_TRUSTED_PROXIES".to_owned(),
            "10.0.0.0/8, 127.0.0.1,::1".to_owned(),
        )];
        let s = Settings::load_from(None, &env).unwrap();
        assert_eq!(s.trusted_proxies.len(), 3);
        assert!(s.trusted_proxies[0].contains(&"10.1.2.3".parse::<std::net::IpAddr>().unwrap()));
        assert!(s.trusted_proxies[1].contains(&"127.0.0.1".parse::<std::net::IpAddr>().unwrap()));
        let env = vec![("SCIM_TRUSTED_PROXIES".to_owned(), "10.0.0.0/33".to_owned())];
        assert!(Settings::load_from(None, &env).is_err());
        assert!(Settings::default().trusted_proxies.is_empty());
    }

    #[test]
    fn bad_numbers_in_env_are_reported() {
        let env = vec![("SCIM_MAX_RESULTS".to_owned(), "many".to_owned())];
        assert!(Settings::load_from(None, &env).is_err());
    }
}
