//! `group`: what groups grant.

use clap::Subcommand;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{CliError, origin};
use crate::domain::admin_rules;
use crate::service;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum GroupCmd {
    /// Grant a group's members product access on a site (members get a site
    /// membership at once; so will members added later).
    ///
    /// Example: scim-server group grant --group 0190... --site acme.example.net --product jira --role user
    Grant {
        /// Group id (the SCIM id).
        #[arg(long)]
        group: Uuid,
        /// Site name.
        #[arg(long)]
        site: String,
        /// One of: jira, confluence, jira-service-management,
        /// jira-product-discovery, bitbucket, trello, opsgenie, statuspage.
        #[arg(long)]
        product: String,
        /// user or admin.
        #[arg(long, default_value = "user")]
        role: String,
    },
    /// Remove a group's grant (its `grant_id`): its members lose the
    /// product, and the site membership where it was their last path.
    ///
    /// Example: scim-server group ungrant --group 0190... --grant 0191...
    Ungrant {
        /// Group id (the SCIM id).
        #[arg(long)]
        group: Uuid,
        /// The grant's id (`grant_id` of `group grant`).
        #[arg(long)]
        grant: Uuid,
    },
}

pub(super) async fn run(store: &Store, cmd: GroupCmd) -> Result<Value, CliError> {
    Ok(match cmd {
        GroupCmd::Grant {
            group,
            site,
            product,
            role,
        } => {
            // The products list of the admin API (one list).
            let product = admin_rules::parse_product(&product.to_ascii_lowercase())
                .map_err(|e| CliError::Usage(e.to_string()))?;
            let role = admin_rules::ProductRole::from_name(&role)
                .ok_or_else(|| CliError::Usage("role must be user or admin".into()))?;
            let g = service::sites::operator_grant(store, &origin(), group, &site, product, role)
                .await?;
            json!({"grant_id": g.id, "group_id": g.group_id, "site_id": g.site_id, "product": g.product, "role": g.role})
        }
        GroupCmd::Ungrant { group, grant } => {
            let g = service::sites::operator_ungrant(store, &origin(), group, grant).await?;
            json!({"removed_grant_id": g.id, "group_id": g.group_id, "site_id": g.site_id, "product": g.product})
        }
    })
}
