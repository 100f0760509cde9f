//! `admin-key`: an organization's admin API keys.

use clap::Subcommand;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{CliError, NewNames, for_org, public_base};
use crate::config::Settings;
use crate::domain::lifetime::Lifetime;
use crate::service;
use crate::store::{Store, admin_keys};

#[derive(Debug, Subcommand)]
pub enum AdminKeyCmd {
    /// Create an admin API key for the organization; it is shown once.
    ///
    /// Example: scim-server admin-key create --org acme --expires-in 90d
    Create {
        #[arg(long)]
        org: String,
        /// A note to tell keys apart.
        #[arg(long)]
        label: Option<String>,
        /// Lifetime (e.g. 90d, 12h); refused after it. Default: no expiry.
        #[arg(long, value_parser = Lifetime::parse)]
        expires_in: Option<Lifetime>,
    },
    /// List the organization's keys (ids, hints, labels, expiry; never values).
    ///
    /// Example: scim-server admin-key list --org acme
    List {
        #[arg(long)]
        org: String,
    },
    /// Revoke a key: refused from the next request on (API and web page).
    ///
    /// Example: scim-server admin-key revoke --org acme --id 0191...
    Revoke {
        #[arg(long)]
        org: String,
        /// Key id (from `admin-key list`).
        #[arg(long)]
        id: Uuid,
    },
}

pub(super) async fn run(
    settings: &Settings,
    store: &Store,
    cmd: AdminKeyCmd,
) -> Result<Value, CliError> {
    Ok(match cmd {
        AdminKeyCmd::Create {
            org,
            label,
            expires_in,
        } => {
            NewNames {
                label: label.as_deref(),
                ..NewNames::default()
            }
            .check()?;
            let who = for_org(store, &org).await?;
            let expires_at = expires_in.map(|l| l.expires_at(chrono::Utc::now()));
            let (k, key) = service::keys::create(store, &who, label, expires_at).await?;
            json!({
                "id": k.id,
                "organization_id": who.org_id,
                "admin_api_base_url": format!("{}/admin/v1/orgs/{}", public_base(settings), who.org_id),
                "key": key,
                "expires_at": k.expires_at,
            })
        }
        AdminKeyCmd::List { org } => {
            let who = for_org(store, &org).await?;
            let list: Vec<_> = admin_keys::list(store.reader(), who.org_id)
                .await?
                .iter()
                .map(admin_keys::AdminKeyView::to_json)
                .collect();
            json!(list)
        }
        AdminKeyCmd::Revoke { org, id } => {
            let who = for_org(store, &org).await?;
            service::keys::revoke(store, &who, id).await?;
            json!({"id": id, "revoked": true})
        }
    })
}
