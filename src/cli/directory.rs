//! `directory`: create a directory (IdP connection), its settings, the
//! domains it is authoritative for.

use clap::Subcommand;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{CliError, NewNames, for_directory, origin, scim_base_url};
use crate::config::Settings;
use crate::domain::types::DomainName;
use crate::service;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum DirectoryCmd {
    /// Change a directory's settings. `--reject-unverified-domains true`:
    /// `POST /Users` of an email on a domain the organization has not
    /// verified is refused (400 invalidValue) instead of synced as an
    /// external account.
    ///
    /// Example: scim-server directory set --directory 0190... --reject-unverified-domains true
    Set {
        #[arg(long)]
        directory: Uuid,
        #[arg(long, action = clap::ArgAction::Set)]
        reject_unverified_domains: bool,
    },
    /// Create a directory (and the organization if needed); prints its SCIM
    /// base URL and a token as JSON.
    ///
    /// Example: scim-server directory create --org acme --name okta
    Create {
        #[arg(long)]
        org: String,
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// Make the directory authoritative for a verified domain of its
    /// organization (only it then writes the profile, email, password and
    /// status of the accounts on that domain).
    ///
    /// Example: scim-server directory bind-domain --directory 0190... acme.example
    #[command(name = "bind-domain")]
    BindDomain {
        #[arg(long)]
        directory: Uuid,
        domain: String,
    },
}

pub(super) async fn run(
    settings: &Settings,
    store: &Store,
    cmd: DirectoryCmd,
) -> Result<Value, CliError> {
    Ok(match cmd {
        DirectoryCmd::Set {
            directory,
            reject_unverified_domains,
        } => {
            let who = for_directory(store, directory).await?;
            let d = service::directories::set_reject_unverified_domains(
                store,
                &who,
                directory,
                reject_unverified_domains,
            )
            .await?;
            json!({
                "directory_id": d.id,
                "reject_unverified_domains": d.reject_unverified_domains,
            })
        }
        DirectoryCmd::Create { org, name } => {
            NewNames {
                org: Some(&org),
                name: Some(&name),
                ..NewNames::default()
            }
            .check()?;
            let c = service::directories::create(store, &origin(), &org, &name).await?;
            json!({
                "organization_id": c.org_id,
                "directory_id": c.directory_id,
                "scim_base_url": scim_base_url(settings, c.directory_id),
                "token": c.token,
            })
        }
        DirectoryCmd::BindDomain { directory, domain } => {
            let name = DomainName::parse(&domain).map_err(CliError::Usage)?;
            let who = for_directory(store, directory).await?;
            let domains = service::directories::bind_domain(store, &who, directory, &name).await?;
            json!({"directory_id": directory, "domains": domains})
        }
    })
}
