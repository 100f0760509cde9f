//! Building the application: connect, migrate, bootstrap, bind, serve.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};

use crate::config::Settings;
use crate::domain::rate_limit::{Rate, RateLimiter};
use crate::http::{self, AppState};
use crate::store::{self, Store};

/// What the first start on an empty database created.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub directory_id: uuid::Uuid,
    pub token: String,
}

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    bootstrap: Option<Bootstrap>,
    purge: Option<tokio::task::JoinHandle<()>>,
    webhooks: Option<tokio::task::JoinHandle<()>>,
    checkpoints: tokio::task::JoinHandle<()>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("{0}")]
    Scim(#[from] crate::error::ScimError),
    #[error("{}", .0.chain())]
    Domain(#[from] crate::domain::error::DomainError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// Connects to the configured database and applies migrations.
pub async fn open_store(settings: &Settings) -> Result<Store, StartupError> {
    let store = Store::open_with(
        settings.database_url.expose(),
        settings.db_max_connections,
        std::time::Duration::from_millis(settings.db_busy_timeout_ms),
        (settings.db_statement_timeout_ms > 0)
            .then(|| std::time::Duration::from_millis(settings.db_statement_timeout_ms)),
        crate::store::writer_thread::WriterPlacement {
            cpu: settings.writer_cpu,
            batch: settings.writer_batch.unwrap_or(true),
        },
    )
    .await?;
    let store = store.with_events(settings.events_enabled);
    Ok(if settings.group_commit {
        store
    } else {
        store.without_group_commit()
    })
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let mut store = open_store(&settings).await?;
        if let Some(cpu) = store.writer_cpu() {
            tracing::info!(
                cpu,
                batch = store.writer_batch(),
                "SQLite writes take their turns on a thread kept on CPU {cpu}"
            );
        } else if settings.writer_batch == Some(true) {
            tracing::warn!(
                "SCIM_WRITER_BATCH=1 has no effect: it applies to SQLite's writer thread kept on a CPU, \
                 and there is none (SCIM_WRITER_CPU=off, a single CPU, or PostgreSQL)"
            );
        }
        let bootstrap = store::directories::bootstrap(
            store.setup(),
            settings
                .bootstrap_token
                .as_ref()
                .map(|t| t.expose().to_owned()),
        )
        .await?
        .map(|(dir, token)| Bootstrap {
            directory_id: dir.id,
            token,
        });
        store.end_setup().await;
        let listener = TcpListener::bind(&settings.bind).map_err(|source| StartupError::Bind {
            addr: settings.bind.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind {
                addr: settings.bind.clone(),
                source,
            })?
            .port();
        let bulk_limit = settings.bulk_max_payload_bytes;
        let max_body_bytes = settings.max_body_bytes;
        let purge = (settings.purge_interval_secs > 0)
            .then(|| tokio::spawn(purge_job(store.clone(), settings.clone())));
        let checkpoints = tokio::spawn(checkpoint_job(store.clone()));
        let webhooks = if settings.webhook_poll_ms > 0 {
            // One client for every delivery of this instance.
            let deliverer = crate::webhooks::Deliverer::with_lease(
                settings.webhook_allow_insecure,
                settings.webhook_lease_secs,
            )?;
            Some(tokio::spawn(crate::webhooks::worker(
                store.clone(),
                deliverer,
                std::time::Duration::from_millis(settings.webhook_poll_ms),
            )))
        } else {
            None
        };
        let rate_limiter =
            Rate::new(settings.rate_limit_per_sec, settings.rate_limit_burst).map(RateLimiter::new);
        let dns = crate::dns::DnsProof::new(&settings.dns_resolvers);
        let state = web::Data::new(AppState {
            store,
            settings,
            metrics: http::observe::Metrics::new(),
            draining: AtomicBool::new(false),
            rate_limiter,
            dns,
        });
        let shutdown_state = state.clone();
        let header_timeout = Duration::from_millis(state.settings.client_header_timeout_ms);
        let keep_alive = Duration::from_secs(state.settings.keep_alive_secs);
        let server = HttpServer::new(move || {
            App::new()
                .wrap(tracing_actix_web::TracingLogger::<http::observe::RequestSpan>::new())
                .wrap(actix_web::middleware::from_fn(
                    http::timeouts::body_deadline,
                ))
                .wrap(actix_web::middleware::from_fn(http::observe::middleware))
                .wrap(actix_web::middleware::from_fn(
                    http::trim_scim_trailing_slash,
                ))
                .app_data(state.clone())
                .app_data(web::QueryConfig::default().error_handler(http::error::query_error))
                .app_data(web::PathConfig::default().error_handler(http::error::path_error))
                .configure(|cfg| http::routes(cfg, bulk_limit))
                .service(http::admin::scope(max_body_bytes))
                .service(http::web::scope())
                // Paths outside every scope (e.g. `../` that climbed out of
                // one) still get an error body, not a bare 404.
                .default_service(web::to(http::error::not_found))
        })
        .client_request_timeout(header_timeout)
        .keep_alive(keep_alive)
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            addr: "listener".into(),
            source,
        })?
        .shutdown_timeout(30)
        .disable_signals()
        .run();
        Ok(Self {
            port,
            server,
            state: shutdown_state,
            bootstrap,
            purge,
            webhooks,
            checkpoints,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Set when this start created the `default` organization.
    pub fn bootstrap(&self) -> Option<&Bootstrap> {
        self.bootstrap.as_ref()
    }

    /// Serves until stopped. On SIGTERM or SIGINT: `/readyz` turns 503,
    /// after `SCIM_SHUTDOWN_DELAY_SECS` new connections stop, in-flight
    /// requests finish (30 s at most), then the database is closed cleanly.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let state = self.state.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown requested: draining");
            state.draining.store(true, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_secs(
                state.settings.shutdown_delay_secs,
            ))
            .await;
            handle.stop(true).await;
        });
        let result = self.server.await;
        if let Some(p) = self.purge {
            p.abort();
        }
        if let Some(w) = self.webhooks {
            w.abort();
        }
        self.checkpoints.abort();
        self.state.store.clone().close().await;
        tracing::info!("stopped");
        result
    }
}

/// SQLite: checkpoints the WAL off the writer every
/// [`store::CHECKPOINT_EVERY`] ([`Store::checkpoint`]); ends at once on
/// PostgreSQL.
async fn checkpoint_job(store: Store) {
    let mut tick = tokio::time::interval(store::CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match store.checkpoint().await {
            Ok(None) => return,
            Ok(Some(_)) => {}
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint failed; the writer checkpoints past its limit");
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            }
        }
    }
}

/// Every `purge_interval_secs` seconds: purges accounts whose deletion
/// grace period ended, then deletes sync-log, audit-log rows, expired
/// admin web sessions and change events past their retention. Safe with
/// several instances: each account is claimed by a conditional update, so
/// only one instance purges it; log rows and events are deleted by id
/// range, and sessions by expiry, which two instances may both do
/// harmlessly.
async fn purge_job(store: Store, settings: Settings) {
    let secs = settings.purge_interval_secs;
    let event_retention_days = settings.event_retention_days;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(secs));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match store::accounts::purge_due(&store, chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "purged accounts after their grace period"),
            Err(e) => {
                tracing::warn!(error = %e.chain(), "purge job failed; retrying at the next interval")
            }
        }
        match retention(&store, &settings).await {
            Ok(r) if r == Default::default() => {}
            Ok(r) => tracing::info!(
                sync_log = r.sync_log,
                audit_log = r.audit_log,
                "deleted log rows past their retention"
            ),
            Err(e) => {
                tracing::warn!(error = %e.chain(), "retention job failed; retrying at the next interval");
            }
        }
        match store::admin_sessions::delete_expired(store.writer(), chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "deleted expired admin web sessions"),
            Err(e) => {
                tracing::warn!(error = %e.chain(), "session clean-up failed; retrying at the next interval")
            }
        }
        match store::events::apply_retention(&store, chrono::Utc::now(), event_retention_days).await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "deleted change events past their retention"),
            Err(e) => {
                tracing::warn!(error = %e.chain(), "event retention failed; retrying at the next interval")
            }
        }
    }
}

/// Deletes the sync-log and audit-log rows past their retention
/// (`SCIM_SYNC_LOG_RETENTION_DAYS`, `SCIM_AUDIT_LOG_RETENTION_DAYS`).
pub async fn retention(
    store: &Store,
    settings: &Settings,
) -> Result<store::retention::Removed, crate::domain::error::DomainError> {
    store::retention::apply(
        store.writer(),
        chrono::Utc::now(),
        settings.sync_log_retention_days,
        settings.audit_log_retention_days,
        store::retention::BATCH,
    )
    .await
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
