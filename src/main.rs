// The server's future nests deep (actix, group commit, the write use
// cases): its layout needs more than the default query depth.
#![recursion_limit = "256"]

use std::io::Write;

use clap::Parser;
use scim_server::cli::{self, Cli, Command};
use scim_server::config::Settings;
use scim_server::startup::Application;
use scim_server::telemetry;

/// mimalloc, not glibc's malloc: a SCIM write allocates and frees many
/// small blocks. Under glibc, `malloc`, `free` and `realloc` were 15 % of
/// a POST's instructions (callgrind); see the README's Performance
/// section.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Cli::parse();
    let settings = match Settings::load(args.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format);
    scim_server::config::warn_unknown_env_vars();
    let result = match args.command {
        None | Some(Command::Serve) => serve(settings).await,
        Some(cmd) => cli::run(&settings, cmd).await.map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> Result<(), String> {
    let public = cli::scim_base_url(&settings, uuid::Uuid::nil());
    let app = Application::build(settings.clone())
        .await
        .map_err(|e| e.to_string())?;
    if let Some(b) = app.bootstrap() {
        let url = public.replace(&uuid::Uuid::nil().to_string(), &b.directory_id.to_string());
        // Printed once, on the first start: the token is not kept in clear.
        // A stdout nobody reads (a closed pipe) fails the write: the server
        // says how to get a token and serves all the same.
        let printed = writeln!(
            std::io::stdout().lock(),
            "Created organization \"default\" with directory \"default\".\n\
             SCIM base URL: {url}\n\
             Bearer token:  {}\n\
             Paste both into your identity provider; the token is not shown again.",
            b.token
        )
        .and_then(|()| std::io::stdout().flush());
        if let Err(e) = printed {
            tracing::warn!(
                error = %e,
                directory = %b.directory_id,
                "could not print the new directory's token: create one with \
                 `scim-server token create --directory {}`",
                b.directory_id
            );
        }
    }
    tracing::info!(port = app.port(), "listening");
    app.run_until_stopped().await.map_err(|e| e.to_string())
}
