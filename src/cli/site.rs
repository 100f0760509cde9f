//! `site`: an organization's sites.

use clap::Subcommand;
use serde_json::{Value, json};

use super::{CliError, NewNames, origin};
use crate::service;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum SiteCmd {
    /// Create a site of the organization.
    ///
    /// Example: scim-server site create --org acme acme.example.net
    Create {
        #[arg(long)]
        org: String,
        site: String,
    },
}

pub(super) async fn run(store: &Store, cmd: SiteCmd) -> Result<Value, CliError> {
    let SiteCmd::Create { org, site } = cmd;
    NewNames {
        org: Some(&org),
        name: Some(&site),
        ..NewNames::default()
    }
    .check()?;
    let s = service::directories::create_site(store, &origin(), &org, &site).await?;
    Ok(json!({"site_id": s.site_id, "name": s.name, "organization_id": s.org_id}))
}
