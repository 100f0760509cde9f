//! `webhook`: an organization's webhook endpoints (the admin API's use
//! cases).

use clap::Subcommand;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{CliError, for_org};
use crate::config::Settings;
use crate::domain::webhook::WebhookUrl;
use crate::service;
use crate::store::Store;
use crate::store::events::EventType;
use crate::store::webhooks::{self, WebhookView};

#[derive(Debug, Subcommand)]
pub enum WebhookCmd {
    /// Add an endpoint (https); prints it with its secret, shown once.
    ///
    /// Example: scim-server webhook create --org acme --url https://hooks.example.com/scim --type account.deactivated
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        url: String,
        /// Only these event types (comma-separated); default: all.
        #[arg(long = "type")]
        types: Option<String>,
    },
    /// The organization's endpoints and their delivery state.
    List {
        #[arg(long)]
        org: String,
    },
    /// Remove an endpoint.
    Delete {
        #[arg(long)]
        org: String,
        #[arg(long)]
        id: Uuid,
    },
}

fn view(w: &WebhookView) -> Value {
    json!({"id": w.id, "url": w.url, "types": w.types, "enabled": w.enabled,
        "disabled_reason": w.disabled_reason, "cursor": w.cursor_seq.to_string(),
        "failing_since": w.failing_since, "next_attempt_at": w.next_attempt_at})
}

/// `--type a,b`: the stored list of event types (none: all).
fn types_of(types: Option<&str>) -> Result<Option<String>, CliError> {
    let Some(t) = types.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let names = t
        .split(',')
        .map(|t| {
            EventType::parse(t.trim())
                .map(EventType::as_str)
                .ok_or_else(|| CliError::Usage(format!("unknown event type {t:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(names.join(",")))
}

pub(super) async fn run(
    settings: &Settings,
    store: &Store,
    cmd: WebhookCmd,
) -> Result<Value, CliError> {
    Ok(match cmd {
        WebhookCmd::Create { org, url, types } => {
            let who = for_org(store, &org).await?;
            let url = WebhookUrl::parse(&url, settings.webhook_allow_insecure)
                .map_err(CliError::Usage)?;
            let types = types_of(types.as_deref())?;
            let (w, secret) = service::webhooks::create(store, &who, &url, types, None).await?;
            let mut out = view(&w);
            out["secret"] = json!(secret.expose());
            out
        }
        WebhookCmd::List { org } => {
            let who = for_org(store, &org).await?;
            let rows = webhooks::list(store.reader(), who.org_id).await?;
            json!(rows.iter().map(view).collect::<Vec<_>>())
        }
        WebhookCmd::Delete { org, id } => {
            let who = for_org(store, &org).await?;
            service::webhooks::delete(store, &who, id).await?;
            json!({"deleted": id})
        }
    })
}
