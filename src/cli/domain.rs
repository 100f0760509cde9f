//! `domain`: add an organization's domain, verify it (by DNS, or forced by
//! the operator): the admin API's use cases.

use clap::Subcommand;
use serde_json::{Value, json};

use super::{CliError, for_org, origin};
use crate::config::Settings;
use crate::dns::DnsProof;
use crate::domain::types::DomainName;
use crate::service::accounts::AdminAct;
use crate::service::directories;
use crate::service::domains::{self, Proof};
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum DomainCmd {
    /// Add an unverified domain; prints its verification token.
    ///
    /// Example: scim-server domain add --org acme acme.example
    Add {
        #[arg(long)]
        org: String,
        domain: String,
    },
    /// Verify a domain by its DNS TXT record and claim its accounts.
    /// `--force` skips the DNS check (operator override: printed warning,
    /// audit entry).
    ///
    /// Example: scim-server domain verify --org acme acme.example
    Verify {
        #[arg(long)]
        org: String,
        domain: String,
        /// Verify without the DNS proof.
        #[arg(long)]
        force: bool,
    },
}

pub(super) async fn run(
    settings: &Settings,
    store: &Store,
    cmd: DomainCmd,
) -> Result<Value, CliError> {
    Ok(match cmd {
        DomainCmd::Add { org, domain } => {
            let name = DomainName::parse(&domain).map_err(CliError::Usage)?;
            let org_id = directories::ensure_org(store, &origin(), &org).await?;
            let d = domains::add(store, &AdminAct::operator(org_id), &name).await?;
            json!({"domain": d.name, "verified": d.verified, "verification_token": d.verification_token})
        }
        DomainCmd::Verify { org, domain, force } => {
            let who = for_org(store, &org).await?;
            let name = DomainName::parse(&domain).map_err(CliError::Usage)?;
            let resolver;
            let proof = if force {
                eprintln!(
                    "warning: verifying {} without its DNS proof (--force); recorded in the audit log",
                    name.as_str()
                );
                Proof::Forced
            } else {
                resolver = DnsProof::new(&settings.dns_resolvers);
                Proof::Dns(&resolver)
            };
            let v = domains::verify(store, &who, &name, proof).await?;
            json!({"domain": v.name, "verified": true, "claimed_accounts": v.claimed})
        }
    })
}
