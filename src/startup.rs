//! Building the application: connect, migrate, bootstrap, bind, serve.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use tracing_actix_web::TracingLogger;

use crate::config::Settings;
use crate::domain::rate_limit::{Rate, RateLimiter};
use crate::http;
use crate::store::{self, Store};

/// What every handler can reach.
pub struct AppState {
    pub store: Store,
    pub settings: Settings,
    /// `None` when no rate limit is configured.
    pub rate_limiter: Option<RateLimiter>,
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
    let store = Store::connect(
        settings.database_url.expose(),
        settings.db_max_connections,
        std::time::Duration::from_millis(settings.db_busy_timeout_ms),
    )
    .await?;
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
        let rate_limiter =
            Rate::new(settings.rate_limit_per_sec, settings.rate_limit_burst).map(RateLimiter::new);
        let state = web::Data::new(AppState {
            store,
            settings,
            rate_limiter,
        });
        let server = HttpServer::new(move || {
            App::new()
                .wrap(TracingLogger::default())
                .app_data(state.clone())
                .app_data(web::QueryConfig::default().error_handler(http::error::query_error))
                .app_data(web::PathConfig::default().error_handler(http::error::path_error))
                .configure(http::routes)
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
        self.server.await
    }
}
