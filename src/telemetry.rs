//! Logging: `tracing` to stderr, text or JSON, filtered by `RUST_LOG`
//! (default `info`, with sqlx quiet).

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // A line stderr does not take (its reader is gone) is lost. By
        // default the subscriber reports it with `eprintln!`, which
        // panics then, in whatever task logged: at start-up, or in the
        // shutdown's, which then never drained.
        .log_internal_errors(false);
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
