//! `events tail`: an organization's change events as JSON lines.

use clap::Subcommand;
use uuid::Uuid;

use super::CliError;
use crate::store::events::{self, EventType};
use crate::store::{Store, directories};

#[derive(Debug, Subcommand)]
pub enum EventsCmd {
    /// Print the organization's change events as JSON lines, oldest first
    /// (the same objects as GET /admin/v1/orgs/{org}/events).
    ///
    /// Example: scim-server events tail --org acme --after 120 --follow
    Tail {
        #[arg(long)]
        org: String,
        /// Start after this sequence number (default: from the oldest kept).
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// Only these types (comma-separated, e.g. account.deactivated).
        #[arg(long = "type")]
        types: Option<String>,
        /// Keep waiting for new events until stopped (Ctrl-C or SIGTERM
        /// end it with status 0).
        #[arg(long)]
        follow: bool,
        /// With --follow: how often to look for new events, in
        /// milliseconds (one indexed query each time).
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
        poll_ms: u64,
    },
}

pub(super) async fn run(store: &Store, cmd: EventsCmd) -> Result<(), CliError> {
    let EventsCmd::Tail {
        org,
        after,
        types,
        follow,
        poll_ms,
    } = cmd;
    let org = directories::org_by_name(store.reader(), &org).await?;
    let types = match types.as_deref() {
        None => vec![],
        Some(t) => t
            .split(',')
            .map(|t| {
                EventType::parse(t.trim())
                    .ok_or_else(|| CliError::Usage(format!("unknown event type {t:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let follow = follow.then(|| std::time::Duration::from_millis(poll_ms));
    tail(store, org.id, after, &types, follow).await
}

/// `events tail`: the events after `after` as JSON lines, in pages of 500
/// (keyset on `seq`). With `follow` (the poll interval) it then looks for
/// new events from the last one seen until Ctrl-C or SIGTERM. The cursor
/// moves to the feed's end as it was before each read, also past events
/// the type filter skipped: numbers are commit order, so every event up to
/// that end was already visible, and a selective filter never rescans them.
async fn tail(
    store: &Store,
    org_id: Uuid,
    mut after: i64,
    types: &[EventType],
    follow: Option<std::time::Duration>,
) -> Result<(), CliError> {
    use std::io::Write;
    let stop = stop_signal();
    tokio::pin!(stop);
    loop {
        let end = crate::store::events::last_seq(store.reader(), org_id).await?;
        loop {
            let rows = events::page(store.reader(), org_id, Some(after), types, 500).await?;
            let mut out = std::io::stdout().lock();
            let written = rows
                .iter()
                .try_for_each(|e| writeln!(out, "{}", e.to_json()))
                .and_then(|()| out.flush());
            match written {
                Ok(()) => {}
                // The reader went away (`| head`): done.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                Err(e) => return Err(CliError::Usage(format!("cannot write to stdout: {e}"))),
            }
            if let Some(last) = rows.last().map(events::FeedEvent::seq) {
                after = last;
            }
            if rows.len() < 500 {
                break;
            }
        }
        after = after.max(end);
        let Some(poll) = follow else {
            return Ok(());
        };
        tokio::select! {
            () = &mut stop => return Ok(()),
            () = tokio::time::sleep(poll) => {}
        }
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
