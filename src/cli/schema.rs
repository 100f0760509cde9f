//! `schema`: an organization's custom schema extensions (the admin API's
//! use cases).

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{Value, json};

use super::{CliError, DirectoryArg, for_directory, for_org};
use crate::domain::custom_schema::CustomSchema;
use crate::service;
use crate::store::{Store, org_schemas};

#[derive(Debug, Subcommand)]
pub enum SchemaCmd {
    /// Register an RFC 7643 §7 Schema document (JSON file) for the
    /// organization; every directory of the org serves it.
    ///
    /// Example: scim-server schema add --org acme acme-user.json
    Add {
        #[arg(long)]
        org: String,
        /// User or Group; by default from the URN's last segment.
        #[arg(long)]
        resource_type: Option<String>,
        file: PathBuf,
    },
    /// List the organization's schemas (URN, resource type).
    ///
    /// Example: scim-server schema list --org acme
    List {
        #[arg(long)]
        org: String,
    },
    /// Remove a schema by URN, and the values users have of it.
    ///
    /// Example: scim-server schema remove --org acme urn:ietf:params:scim:schemas:extension:acme:2.0:User
    Remove {
        #[arg(long)]
        org: String,
        urn: String,
    },
    /// What a directory does with attributes no registered schema knows:
    /// `accept` (the default: dropped, with a sync-log warning) or
    /// `reject` (400 invalidSyntax).
    ///
    /// Example: scim-server schema unknown-attributes --directory 0190... reject
    UnknownAttributes {
        #[command(flatten)]
        dir: DirectoryArg,
        #[arg(value_parser = ["accept", "reject"])]
        policy: String,
    },
}

pub(super) async fn run(store: &Store, cmd: SchemaCmd) -> Result<Value, CliError> {
    Ok(match cmd {
        SchemaCmd::Add {
            org,
            resource_type,
            file,
        } => {
            let who = for_org(store, &org).await?;
            let text = std::fs::read_to_string(&file)
                .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
            let doc: Value = serde_json::from_str(&text)
                .map_err(|e| CliError::Usage(format!("{} is not JSON: {e}", file.display())))?;
            let schema = CustomSchema::parse(&doc, resource_type.as_deref())?;
            let m = service::schemas::add(store, &who, &schema).await?;
            json!({"urn": m.urn, "resource_type": m.resource_type, "organization_id": who.org_id})
        }
        SchemaCmd::List { org } => {
            let who = for_org(store, &org).await?;
            let list: Vec<Value> = org_schemas::list(store.reader(), who.org_id)
                .await?
                .into_iter()
                .map(|m| json!({"urn": m.urn, "resource_type": m.resource_type, "created_at": m.created_at}))
                .collect();
            json!(list)
        }
        SchemaCmd::UnknownAttributes { dir, policy } => {
            let who = for_directory(store, dir.directory).await?;
            let reject = policy == "reject";
            service::schemas::set_unknown_attributes(store, &who, dir.directory, reject).await?;
            json!({"directory_id": dir.directory, "reject_unknown_attributes": reject})
        }
        SchemaCmd::Remove { org, urn } => {
            let who = for_org(store, &org).await?;
            service::schemas::remove(store, &who, &urn).await?;
            json!({"urn": urn, "removed": true})
        }
    })
}
