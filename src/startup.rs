//! Building the application: connect, migrate, bootstrap, bind, serve.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use tracing_actix_web::TracingLogger;

use crate::config::Settings;
use crate::http;
use crate::store::{self, Store};

/// What every handler can reach.
pub struct AppState {
    pub store: Store,
    pub settings: Settings,
}

/// What the first start on an empty database created.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub directory_id: uuid::Uuid,
    pub token: String,
}

pub struct Application {
    port: u16,
    server: Server,
    bootstrap: Option<Bootstrap>,
    purge: Option<tokio::task::JoinHandle<()>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("{0}")]
    Scim(#[from] crate::error::ScimError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// Connects to the configured database and applies migrations.
pub async fn open_store(settings: &Settings) -> Result<Store, StartupError> {
    let store = Store::connect(settings.database_url.expose(), settings.db_max_connections).await?;
    store.migrate().await?;
    Ok(store)
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let store = open_store(&settings).await?;
        let bootstrap = store::directories::bootstrap(
            store.writer(),
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
        let max_body_bytes = settings.max_body_bytes;
        let purge = (settings.purge_interval_secs > 0)
            .then(|| tokio::spawn(purge_job(store.clone(), settings.purge_interval_secs)));
        let state = web::Data::new(AppState { store, settings });
        let server = HttpServer::new(move || {
            App::new()
                .wrap(TracingLogger::default())
                .app_data(state.clone())
                .app_data(web::QueryConfig::default().error_handler(http::error::query_error))
                .app_data(web::PathConfig::default().error_handler(http::error::path_error))
                .configure(http::routes)
                .service(http::admin::scope(max_body_bytes))
        })
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            addr: "listener".into(),
            source,
        })?
        .shutdown_timeout(30)
        .run();
        Ok(Self {
            port,
            server,
            bootstrap,
            purge,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Set when this start created the `default` organization.
    pub fn bootstrap(&self) -> Option<&Bootstrap> {
        self.bootstrap.as_ref()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let res = self.server.await;
        if let Some(p) = self.purge {
            p.abort();
        }
        res
    }
}

/// Purges accounts whose deletion grace period ended, every `secs`
/// seconds. Safe with several instances: each account is claimed by a
/// conditional update, so only one instance purges it.
async fn purge_job(store: Store, secs: u64) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(secs));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match store::accounts::purge_due(&store, chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "purged accounts after their grace period"),
            Err(e) => tracing::warn!(error = %e, "purge job failed; retrying at the next interval"),
        }
    }
}
