//! Settings: defaults → optional TOML file (`--config`) → environment
//! (`SCIM_*`, plus the conventional `DATABASE_URL`).
//!
//! Each setting is declared once: a field of [`Settings`] (its type, and
//! the parser every source goes through when the type alone doesn't say
//! it) and its value in `Default`. The file's key is the field's name, the
//! variable `SCIM_` and the name in upper case. `figment` merges the layers;
//! both give their values to the same field parsers, so a value means the
//! same whichever source gives it.

use std::fmt;
use std::path::Path;

use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::Deserialize;

pub use crate::store::writer_thread::WriterCpu;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl<'de> Deserialize<'de> for LogFormat {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d)?.to_ascii_lowercase().as_str() {
            "json" => Ok(Self::Json),
            "text" => Ok(Self::Text),
            _ => Err(serde::de::Error::custom("expected text or json")),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    pub bind: String,
    /// `sqlite://…` or `postgres://…`. May hold a password: masked.
    pub database_url: Secret,
    /// Public base URL (scheme://host[:port]) used in `meta.location` and in
    /// what the bootstrap prints. Unset: taken from each request's Host.
    #[serde(deserialize_with = "parse::base_url")]
    pub public_url: Option<String>,
    /// `documentationUri` of the ServiceProviderConfig. Unset: left out.
    #[serde(deserialize_with = "parse::optional_text")]
    pub documentation_url: Option<String>,
    /// Token for the `default` directory created on first start.
    pub bootstrap_token: Option<Secret>,
    pub log_format: LogFormat,
    /// Largest request body accepted (bytes); larger → 413.
    #[serde(deserialize_with = "parse::number")]
    pub max_body_bytes: usize,
    /// Largest page a list request returns (`count` is clamped to it).
    #[serde(deserialize_with = "parse::number")]
    pub max_results: u64,
    /// Bytes of resources after which a `/Users` page stops early.
    #[serde(deserialize_with = "parse::number")]
    pub max_page_bytes: usize,
    /// Longest filter accepted (characters).
    #[serde(deserialize_with = "parse::number")]
    pub filter_max_len: usize,
    /// Deepest filter nesting accepted.
    #[serde(deserialize_with = "parse::number")]
    pub filter_max_depth: usize,
    /// Connections in the database pool (readers, for SQLite).
    #[serde(deserialize_with = "parse::number")]
    pub db_max_connections: u32,
    /// Days a deleted managed account stays pending deletion (cancellable)
    /// before it is purged.
    #[serde(deserialize_with = "parse::number")]
    pub deletion_grace_days: u32,
    /// Seconds between runs of the purge job in the server (0: never; the
    /// `purge-due` command still works).
    #[serde(deserialize_with = "parse::number")]
    pub purge_interval_secs: u64,
    /// Days sync-log rows are kept (0: forever); older ones are deleted by
    /// the periodic job.
    #[serde(deserialize_with = "parse::number")]
    pub sync_log_retention_days: u32,
    /// Days audit-log rows are kept (0: forever).
    #[serde(deserialize_with = "parse::number")]
    pub audit_log_retention_days: u32,
    /// Days change events are kept (the purge job deletes older ones; 0:
    /// kept for ever).
    #[serde(deserialize_with = "parse::number")]
    pub event_retention_days: u32,
    /// Webhook targets may be http to a loopback host and private,
    /// loopback or link-local addresses (tests and local development).
    #[serde(deserialize_with = "parse::flag_blank_off")]
    pub webhook_allow_insecure: bool,
    /// Milliseconds the webhook worker sleeps when idle (0: no worker).
    #[serde(deserialize_with = "parse::number")]
    pub webhook_poll_ms: u64,
    /// Seconds a worker holds an endpoint it claimed (at least 2): a
    /// worker killed mid-delivery leaves the endpoint to another (or the
    /// restarted) instance after this long. A delivery's total timeout is
    /// at most half of it.
    #[serde(deserialize_with = "parse::lease_secs")]
    pub webhook_lease_secs: u64,
    /// Record change events (default). Off only to measure what they cost
    /// (`cargo bench --bench events`): the store hands it to every write
    /// transaction; nothing is recorded and webhooks receive nothing.
    #[serde(deserialize_with = "parse::flag")]
    pub events_enabled: bool,
    /// SQLite: write requests arriving while a commit is in flight share
    /// the next transaction and its one commit (default). Off: each
    /// commits on its own (to measure what it gains). No effect on
    /// PostgreSQL.
    #[serde(deserialize_with = "parse::flag")]
    pub group_commit: bool,
    /// SQLite: the CPU the thread of write requests' turns and the writer
    /// connection's thread are kept on (`auto`: the last the process may
    /// run on, when it may run on more than one; `off`; a CPU number).
    /// No effect on PostgreSQL.
    #[serde(deserialize_with = "parse::writer_cpu")]
    pub writer_cpu: WriterCpu,
    /// SQLite, Linux: the writer thread and the writer connection's, kept
    /// on a CPU, are `SCHED_BATCH` (neither preempts a thread when it wakes
    /// it: fewer context switches, but a wait behind any busy thread on
    /// that CPU, so password hashing is kept off it). Unset: on.
    #[serde(deserialize_with = "parse::some_flag")]
    pub writer_batch: Option<bool>,
    /// Most operations one `/Bulk` request may carry.
    #[serde(deserialize_with = "parse::number")]
    pub bulk_max_operations: usize,
    /// Largest `/Bulk` body accepted (bytes).
    #[serde(deserialize_with = "parse::number")]
    pub bulk_max_payload_bytes: usize,
    /// Most passwords one `/Bulk` request may set (each is an argon2 hash).
    #[serde(deserialize_with = "parse::number")]
    pub bulk_max_passwords: usize,
    /// Seconds between SIGTERM (readyz turns 503) and closing the listener.
    #[serde(deserialize_with = "parse::number")]
    pub shutdown_delay_secs: u64,
    /// How long a statement waits for a database lock (SQLite busy timeout,
    /// PostgreSQL `lock_timeout`) before the request answers 503.
    #[serde(deserialize_with = "parse::number")]
    pub db_busy_timeout_ms: u64,
    /// Longest a statement may run (PostgreSQL `statement_timeout`; SQLite
    /// reads are interrupted) before the request answers 503; 0: no limit.
    #[serde(deserialize_with = "parse::number")]
    pub db_statement_timeout_ms: u64,
    /// `iss` of the OAuth access tokens. Unset: `public_url`, else
    /// "scim-server". Every instance sharing a database must agree on it.
    pub oauth_issuer: Option<String>,
    /// Lifetime of an OAuth access token (seconds).
    #[serde(deserialize_with = "parse::number")]
    pub oauth_token_ttl_secs: u64,
    /// Sustained SCIM requests per second allowed per directory, per server
    /// instance; 0 turns the limit off.
    #[serde(deserialize_with = "parse::number")]
    pub rate_limit_per_sec: f64,
    /// Requests a directory may make at once above the sustained rate.
    /// Unset: the rate rounded up (at least 1).
    #[serde(deserialize_with = "parse::some_number")]
    pub rate_limit_burst: Option<u32>,
    /// DNS servers (`ip:port`) that domain verification asks for the
    /// proof TXT record; empty: the system's (`/etc/resolv.conf`).
    #[serde(deserialize_with = "parse::resolvers")]
    pub dns_resolvers: Vec<std::net::SocketAddr>,
    /// Bearer token `/metrics` requires. Unset: `/metrics` is public.
    #[serde(deserialize_with = "parse::optional_secret")]
    pub metrics_token: Option<Secret>,
    /// Time a client has to send a request's head (ms); then 408, closed.
    #[serde(deserialize_with = "parse::number")]
    pub client_header_timeout_ms: u64,
    /// Time a client has to send a request's body after its head (ms); 0:
    /// no limit.
    #[serde(deserialize_with = "parse::number")]
    pub client_body_timeout_ms: u64,
    /// Idle seconds a keep-alive connection is kept open.
    #[serde(deserialize_with = "parse::number")]
    pub keep_alive_secs: u64,
    /// Peers whose `Forwarded` / `X-Forwarded-*` headers are believed.
    #[serde(deserialize_with = "parse::proxies")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// A web-page session ends after this many seconds without a request.
    #[serde(deserialize_with = "parse::number")]
    pub admin_session_idle_secs: u64,
    /// A web-page session ends this many seconds after sign-in.
    #[serde(deserialize_with = "parse::number")]
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
            group_commit: true,
            writer_cpu: WriterCpu::Auto,
            writer_batch: None,
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

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: String, message: String },
    /// A value that doesn't parse or makes no sense; `key` as its source
    /// spells it (`SCIM_MAX_RESULTS`, or `max_results` in the file).
    #[error("invalid value for {key}: {message}")]
    Value { key: String, message: String },
}

/// The prefix of the environment variables.
const ENV_PREFIX: &str = "SCIM_";
/// The names figment's metadata gives the two layers.
const ENV_LAYER: &str = "environment";
const FILE_LAYER: &str = "config file";

impl Settings {
    /// Defaults, then `file` if given, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(file, &env)
    }

    pub fn load_from(file: Option<&Path>, env: &[(String, String)]) -> Result<Self, ConfigError> {
        let mut layers = Figment::new();
        let mut file_path = None;
        if let Some(path) = file {
            let shown = path.display().to_string();
            layers = layers.merge(Layer::file(path, &shown)?);
            file_path = Some(shown);
        }
        let s: Settings = layers
            .merge(Layer::env(env))
            .extract()
            .map_err(|e| value_error(e, file_path))?;
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
            Err(ConfigError::Value {
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

    /// The settings' names as the file spells them (the fields, in order).
    fn keys() -> &'static [&'static str] {
        let mut keys: &'static [&'static str] = &[];
        let _ = Settings::deserialize(FieldNames(&mut keys));
        keys
    }
}

/// A `SCIM_*` variable that names no setting: ignored, and logged, since
/// it is most likely a misspelt one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownVar {
    pub name: String,
    /// The known variable it most likely meant.
    pub closest: Option<String>,
}

/// The `SCIM_*` variables of `env` that name no setting.
pub fn unknown_env_vars(env: &[(String, String)]) -> Vec<UnknownVar> {
    let known: Vec<String> = Settings::keys().iter().map(|k| env_name(k)).collect();
    env.iter()
        .map(|(name, _)| name)
        .filter(|name| name.starts_with(ENV_PREFIX) && setting_of(name).is_none())
        .map(|name| UnknownVar {
            name: name.clone(),
            closest: known
                .iter()
                .map(|k| (strsim::levenshtein(&name.to_ascii_uppercase(), k), k))
                .filter(|(distance, _)| *distance <= 3)
                .min()
                .map(|(_, k)| k.clone()),
        })
        .collect()
}

/// Logs a warning for each `SCIM_*` variable of the process that names
/// no setting. Called once logging is set up (after `Settings::load`).
pub fn warn_unknown_env_vars() {
    let env: Vec<(String, String)> = std::env::vars().collect();
    for v in unknown_env_vars(&env) {
        match &v.closest {
            Some(closest) => tracing::warn!(
                variable = %v.name,
                "unknown environment variable {} ignored: did you mean {closest}?",
                v.name
            ),
            None => tracing::warn!(
                variable = %v.name,
                "unknown environment variable {} ignored",
                v.name
            ),
        }
    }
}

fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.to_ascii_uppercase())
}

/// The setting a `SCIM_*` variable names, if any.
fn setting_of(var: &str) -> Option<&'static str> {
    let rest = var.strip_prefix(ENV_PREFIX)?;
    Settings::keys()
        .iter()
        .copied()
        .find(|k| k.to_ascii_uppercase() == rest)
}

/// One layer of settings for figment: the file's table or the
/// environment's values, named so an error can say where a value came
/// from.
struct Layer {
    name: &'static str,
    values: Dict,
}

impl Layer {
    /// The TOML file, parsed (its values typed as TOML types them).
    fn file(path: &Path, shown: &str) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.to_owned(),
            source,
        })?;
        let parse_error = |message: String| ConfigError::Parse {
            path: shown.to_owned(),
            message,
        };
        let table: toml::Table =
            toml::from_str(&text).map_err(|e| parse_error(e.message().to_owned()))?;
        let values = Value::serialize(&table)
            .map_err(|e| parse_error(e.to_string()))?
            .into_dict()
            .unwrap_or_default();
        Ok(Self {
            name: FILE_LAYER,
            values,
        })
    }

    /// The variables that name a setting, as strings (figment's own `Env`
    /// would read `0123` as the number 123 and unquote `"…"`: a token must
    /// stay as given). `SCIM_DATABASE_URL` wins over `DATABASE_URL`.
    fn env(env: &[(String, String)]) -> Self {
        let mut values = Dict::new();
        let named = env
            .iter()
            .filter(|(k, _)| k == "DATABASE_URL")
            .map(|(_, v)| ("database_url", v))
            .chain(env.iter().filter_map(|(k, v)| Some((setting_of(k)?, v))));
        for (key, v) in named {
            values.insert(key.to_owned(), Value::from(v.clone()));
        }
        Self {
            name: ENV_LAYER,
            values,
        }
    }
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.values.clone()))
    }
}

/// A figment error as the operator reads it: which setting, as the layer
/// that gave the value spells it, and what is wrong with it.
fn value_error(e: figment::Error, file: Option<String>) -> ConfigError {
    use figment::error::Kind;
    let from_env = e.metadata.as_ref().is_some_and(|m| m.name == ENV_LAYER);
    let key = e.path.first().cloned().unwrap_or_default();
    let message = match &e.kind {
        Kind::Message(m) => m.clone(),
        kind => kind.to_string(),
    };
    match (&e.kind, file) {
        // Only the file can hold a key that is no setting (the environment
        // layer takes known names only).
        (Kind::UnknownField(..), Some(path)) => ConfigError::Parse { path, message },
        _ if from_env => ConfigError::Value {
            key: env_name(&key),
            message,
        },
        _ => ConfigError::Value { key, message },
    }
}

/// Reads the field names of a struct from its `Deserialize` impl (serde
/// hands them to `deserialize_struct`), so the environment's names come
/// from the one declaration of the settings.
struct FieldNames<'a>(&'a mut &'static [&'static str]);

impl<'de> serde::Deserializer<'de> for FieldNames<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(serde::de::Error::custom("field names read"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// The parsers of the settings' values, the same for every source: the
/// environment gives strings, the file TOML values (a number, a boolean,
/// a string, an array), and each parser takes what either may give.
mod parse {
    use std::fmt;
    use std::str::FromStr;

    use serde::Deserialize;
    use serde::de::{Deserializer, Error, SeqAccess, Visitor};

    use super::Secret;

    /// A scalar as a source gives it.
    enum Scalar {
        Bool(bool),
        Int(i64),
        UInt(u64),
        Float(f64),
        Text(String),
    }

    impl Scalar {
        fn text(&self) -> String {
            match self {
                Self::Bool(b) => b.to_string(),
                Self::Int(n) => n.to_string(),
                Self::UInt(n) => n.to_string(),
                Self::Float(n) => n.to_string(),
                Self::Text(s) => s.clone(),
            }
        }

        /// As an error message shows it (strings quoted).
        fn shown(&self) -> String {
            match self {
                Self::Text(s) => format!("{s:?}"),
                other => other.text(),
            }
        }
    }

    impl<'de> Deserialize<'de> for Scalar {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl Visitor<'_> for V {
                type Value = Scalar;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a number, a boolean or a string")
                }
                fn visit_bool<E: Error>(self, v: bool) -> Result<Scalar, E> {
                    Ok(Scalar::Bool(v))
                }
                fn visit_i64<E: Error>(self, v: i64) -> Result<Scalar, E> {
                    Ok(Scalar::Int(v))
                }
                fn visit_u64<E: Error>(self, v: u64) -> Result<Scalar, E> {
                    Ok(Scalar::UInt(v))
                }
                fn visit_f64<E: Error>(self, v: f64) -> Result<Scalar, E> {
                    Ok(Scalar::Float(v))
                }
                fn visit_str<E: Error>(self, v: &str) -> Result<Scalar, E> {
                    Ok(Scalar::Text(v.to_owned()))
                }
            }
            d.deserialize_any(V)
        }
    }

    pub fn number<'de, D: Deserializer<'de>, T: FromStr>(d: D) -> Result<T, D::Error> {
        let v = Scalar::deserialize(d)?;
        v.text()
            .trim()
            .parse()
            .map_err(|_| D::Error::custom(format!("expected a number, got {}", v.shown())))
    }

    pub fn some_number<'de, D: Deserializer<'de>, T: FromStr>(d: D) -> Result<Option<T>, D::Error> {
        number(d).map(Some)
    }

    pub fn writer_cpu<'de, D: Deserializer<'de>>(d: D) -> Result<super::WriterCpu, D::Error> {
        let v = Scalar::deserialize(d)?;
        v.text().parse().map_err(D::Error::custom)
    }

    /// A lease shorter than 2 s is taken as 2 s.
    pub fn lease_secs<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        number::<D, u64>(d).map(|secs| secs.max(2))
    }

    /// As [`flag`], telling a value given from none (`None`).
    pub fn some_flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        flag(d).map(Some)
    }

    /// `1`/`true` or `0`/`false`.
    pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        flag_or(d, None)
    }

    /// As [`flag`], and an empty value is off.
    pub fn flag_blank_off<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        flag_or(d, Some(false))
    }

    fn flag_or<'de, D: Deserializer<'de>>(d: D, blank: Option<bool>) -> Result<bool, D::Error> {
        let v = Scalar::deserialize(d)?;
        match (v.text().trim(), blank) {
            ("1" | "true", _) => Ok(true),
            ("0" | "false", _) => Ok(false),
            ("", Some(b)) => Ok(b),
            _ => Err(D::Error::custom(format!(
                "expected 1 or 0, got {}",
                v.shown()
            ))),
        }
    }

    /// A base URL, without trailing slashes.
    pub fn base_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(Some(
            String::deserialize(d)?.trim_end_matches('/').to_owned(),
        ))
    }

    /// Trimmed; empty is unset.
    pub fn optional_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(Some(String::deserialize(d)?.trim().to_owned()).filter(|s| !s.is_empty()))
    }

    /// Empty is unset.
    pub fn optional_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
        Ok(Some(String::deserialize(d)?)
            .filter(|s| !s.is_empty())
            .map(Secret::new))
    }

    /// A comma-separated string or an array of strings (each may hold
    /// commas too), as one comma-separated string.
    fn list<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = String;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a comma-separated string or an array of strings")
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<String, E> {
                Ok(v.to_owned())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<String, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    items.push(item);
                }
                Ok(items.join(","))
            }
        }
        d.deserialize_any(V)
    }

    pub fn resolvers<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<std::net::SocketAddr>, D::Error> {
        super::parse_resolvers(&list(d)?).map_err(D::Error::custom)
    }

    pub fn proxies<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
        super::parse_proxies(&list(d)?).map_err(D::Error::custom)
    }
}

/// `ip:port,ip:port` (a bare IP means port 53).
fn parse_resolvers(v: &str) -> Result<Vec<std::net::SocketAddr>, String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<std::net::SocketAddr>()
                .or_else(|_| {
                    s.parse::<std::net::IpAddr>()
                        .map(|ip| std::net::SocketAddr::new(ip, 53))
                })
                .map_err(|_| format!("expected ip:port[,ip:port…], got {s:?}"))
        })
        .collect()
}

/// `SCIM_TRUSTED_PROXIES`: CIDRs or single addresses, comma-separated.
fn parse_proxies(v: &str) -> Result<Vec<ipnet::IpNet>, String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("{s:?} is not a CIDR (e.g. 10.0.0.0/8) or an IP address"))
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
        assert!(s.group_commit, "on by default");
        let s = Settings::load_from(None, &env("SCIM_GROUP_COMMIT", "0")).unwrap();
        assert!(!s.group_commit);
        assert!(Settings::load_from(None, &env("SCIM_GROUP_COMMIT", "no")).is_err());
        assert_eq!(s.writer_cpu, WriterCpu::Auto, "auto by default");
        assert_eq!(s.writer_batch, None, "unset by default (on)");
        let s = Settings::load_from(None, &env("SCIM_WRITER_BATCH", "1")).unwrap();
        assert_eq!(s.writer_batch, Some(true));
        let s = Settings::load_from(None, &env("SCIM_WRITER_BATCH", "0")).unwrap();
        assert_eq!(s.writer_batch, Some(false));
        assert!(Settings::load_from(None, &env("SCIM_WRITER_BATCH", "yes")).is_err());
        let s = Settings::load_from(None, &env("SCIM_WRITER_CPU", "off")).unwrap();
        assert_eq!(s.writer_cpu, WriterCpu::Off);
        let s = Settings::load_from(None, &env("SCIM_WRITER_CPU", "1")).unwrap();
        assert_eq!(s.writer_cpu, WriterCpu::Id(1));
        let e = Settings::load_from(None, &env("SCIM_WRITER_CPU", "first"))
            .err()
            .unwrap();
        assert!(e.to_string().contains("a CPU number"), "{e}");
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

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Loads `toml` as the config file (and `vars`).
    fn with_file(toml: &str, vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let path = std::env::temp_dir().join(format!("scim-config-{}", uuid::Uuid::new_v4()));
        std::fs::write(&path, toml).unwrap();
        let s = Settings::load_from(Some(&path), &env(vars));
        let _ = std::fs::remove_file(&path);
        s
    }

    fn error_of(r: Result<Settings, ConfigError>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn a_value_means_the_same_from_the_file_and_from_the_environment() {
        let file = with_file(
            "public_url = \"https://scim.example/\"\n\
             documentation_url = \"  \"\n\
             log_format = \"JSON\"\n\
             webhook_lease_secs = 1\n\
             webhook_allow_insecure = 1\n\
             max_results = \" 50 \"\n\
             rate_limit_burst = 3\n\
             dns_resolvers = \"127.0.0.1:5353, 10.0.0.2\"\n\
             trusted_proxies = [\"10.0.0.0/8\", \"127.0.0.1\"]\n\
             metrics_token = \"\"\n",
            &[],
        )
        .unwrap();
        let from_env = Settings::load_from(
            None,
            &env(&[
                ("SCIM_PUBLIC_URL", "https://scim.example/"),
                ("SCIM_DOCUMENTATION_URL", "  "),
                ("SCIM_LOG_FORMAT", "JSON"),
                ("SCIM_WEBHOOK_LEASE_SECS", "1"),
                ("SCIM_WEBHOOK_ALLOW_INSECURE", "1"),
                ("SCIM_MAX_RESULTS", " 50 "),
                ("SCIM_RATE_LIMIT_BURST", "3"),
                ("SCIM_DNS_RESOLVERS", "127.0.0.1:5353, 10.0.0.2"),
                ("SCIM_TRUSTED_PROXIES", "10.0.0.0/8,127.0.0.1"),
                ("SCIM_METRICS_TOKEN", ""),
            ]),
        )
        .unwrap();
        for s in [&file, &from_env] {
            assert_eq!(s.public_url.as_deref(), Some("https://scim.example"));
            assert_eq!(s.documentation_url, None);
            assert_eq!(s.log_format, LogFormat::Json);
            assert_eq!(s.webhook_lease_secs, 2);
            assert!(s.webhook_allow_insecure);
            assert_eq!(s.max_results, 50);
            assert_eq!(s.rate_limit_burst, Some(3));
            assert_eq!(s.dns_resolvers.len(), 2);
            assert_eq!(s.trusted_proxies.len(), 2);
            assert!(s.metrics_token.is_none());
        }
    }

    #[test]
    fn errors_name_the_setting_as_its_source_spells_it() {
        let bad_env = |k: &str, v: &str| error_of(Settings::load_from(None, &env(&[(k, v)])));
        assert_eq!(
            bad_env("SCIM_MAX_RESULTS", "many"),
            "invalid value for SCIM_MAX_RESULTS: expected a number, got \"many\""
        );
        assert_eq!(
            bad_env("SCIM_EVENTS_ENABLED", "off"),
            "invalid value for SCIM_EVENTS_ENABLED: expected 1 or 0, got \"off\""
        );
        assert_eq!(
            bad_env("SCIM_LOG_FORMAT", "xml"),
            "invalid value for SCIM_LOG_FORMAT: expected text or json"
        );
        assert_eq!(
            bad_env("SCIM_DNS_RESOLVERS", "resolver.local"),
            "invalid value for SCIM_DNS_RESOLVERS: expected ip:port[,ip:port…], got \"resolver.local\""
        );
        assert_eq!(
            bad_env("SCIM_METRICS_TOKEN", "short"),
            "invalid value for SCIM_METRICS_TOKEN: expected at least 16 characters"
        );
        assert_eq!(
            error_of(with_file("max_results = \"many\"\n", &[])),
            "invalid value for max_results: expected a number, got \"many\""
        );
        assert_eq!(
            error_of(with_file("trusted_proxies = [\"10.0.0.0/33\"]\n", &[])),
            "invalid value for trusted_proxies: \"10.0.0.0/33\" is not a CIDR (e.g. 10.0.0.0/8) or an IP address"
        );
        // The environment overrides a bad file value, as any file value.
        assert_eq!(
            with_file("max_results = \"many\"\n", &[("SCIM_MAX_RESULTS", "5")])
                .unwrap()
                .max_results,
            5
        );
        let unknown = error_of(with_file("max_result = 5\n", &[]));
        assert!(
            unknown.starts_with("invalid config file ") && unknown.contains("max_result"),
            "{unknown}"
        );
        let syntax = error_of(with_file("bind = \n", &[]));
        assert!(syntax.starts_with("invalid config file "), "{syntax}");
    }

    #[test]
    fn strings_from_the_environment_stay_as_given() {
        let s = Settings::load_from(
            None,
            &env(&[
                ("SCIM_BOOTSTRAP_TOKEN", "0123"),
                ("SCIM_OAUTH_ISSUER", "\"quoted\""),
                ("SCIM_BIND", "[::1]:8080"),
            ]),
        )
        .unwrap();
        assert_eq!(s.bootstrap_token.unwrap().expose(), "0123");
        assert_eq!(s.oauth_issuer.as_deref(), Some("\"quoted\""));
        assert_eq!(s.bind, "[::1]:8080");
    }

    #[test]
    fn scim_database_url_wins_over_database_url() {
        for vars in [
            [
                ("DATABASE_URL", "sqlite://a.db"),
                ("SCIM_DATABASE_URL", "sqlite://b.db"),
            ],
            [
                ("SCIM_DATABASE_URL", "sqlite://b.db"),
                ("DATABASE_URL", "sqlite://a.db"),
            ],
        ] {
            let s = Settings::load_from(None, &env(&vars)).unwrap();
            assert_eq!(s.database_url.expose(), "sqlite://b.db");
        }
        let s = Settings::load_from(None, &env(&[("DATABASE_URL", "sqlite://a.db")])).unwrap();
        assert_eq!(s.database_url.expose(), "sqlite://a.db");
    }

    #[test]
    fn unknown_scim_variables_are_found_with_the_closest_known_name() {
        let found = unknown_env_vars(&env(&[
            ("SCIM_MAX_RESULT", "5"),
            ("SCIM_MAX_RESULTS", "5"),
            ("SCIM_NOTHING_LIKE_IT", "x"),
            ("SCIM_bind", "127.0.0.1:1"),
            ("DATABASE_URL", "sqlite://a.db"),
            ("SCIM_DATABASE_URL", "sqlite://a.db"),
            ("HOME", "/root"),
        ]));
        assert_eq!(
            found,
            vec![
                UnknownVar {
                    name: "SCIM_MAX_RESULT".into(),
                    closest: Some("SCIM_MAX_RESULTS".into()),
                },
                UnknownVar {
                    name: "SCIM_NOTHING_LIKE_IT".into(),
                    closest: None,
                },
                UnknownVar {
                    name: "SCIM_bind".into(),
                    closest: Some("SCIM_BIND".into()),
                },
            ]
        );
        // Ignored, as before: the setting keeps its default.
        let s = Settings::load_from(None, &env(&[("SCIM_MAX_RESULT", "5")])).unwrap();
        assert_eq!(s.max_results, 1000);
    }

    #[test]
    fn every_setting_has_a_variable_in_the_readme() {
        let readme = include_str!("../README.md");
        let section = &readme[readme.find("## Configuration").unwrap()..];
        let section = &section[..section.find("\n## ").unwrap_or(section.len())];
        assert!(Settings::keys().contains(&"bind"));
        assert!(Settings::keys().contains(&"admin_session_max_secs"));
        for key in Settings::keys() {
            let var = env_name(key);
            assert!(
                section.contains(&format!("`{var}`")),
                "{var} is not in README"
            );
        }
    }
}
