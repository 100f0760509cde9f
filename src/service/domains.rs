//! An organization's domains, one function each: add, verify (by the DNS
//! TXT record carrying the token issued at add, or forced by the
//! operator), remove. Verifying claims the accounts on the domain;
//! removing releases them. The admin API and the operator CLI call the
//! same functions.

use tracing::instrument;

use super::accounts::AdminAct;
use super::write;
use crate::admin_error::{AdminError, AdminResult};
use crate::dns::{self, DnsProof};
use crate::domain::admin_rules;
use crate::domain::types::DomainName;
use crate::store::Store;
use crate::store::audit;
use crate::store::directories::{self, DomainView};

/// How a verification proves ownership.
#[derive(Debug, Clone, Copy)]
pub enum Proof<'a> {
    /// The TXT record, looked up through this resolver.
    Dns(&'a DnsProof),
    /// The operator's override (`domain verify --force`): no DNS proof,
    /// said so in the audit log.
    Forced,
}

/// What [`verify`] did.
#[derive(Debug, Clone)]
pub struct Verified {
    pub name: String,
    pub claimed: u64,
}

/// What [`remove`] did.
#[derive(Debug, Clone)]
pub struct Removed {
    pub name: String,
    pub released: u64,
}

/// Adds an unverified domain; the view carries its verification token.
#[instrument(skip_all, fields(org = %who.org_id, domain = name.as_str()), err(level = "debug"))]
pub async fn add(store: &Store, who: &AdminAct, name: &DomainName) -> AdminResult<DomainView> {
    write(store, &who.origin, async |tx| {
        let d = directories::add_domain(tx, who.org_id, name).await?;
        audit::record(tx, who.entry("domain.add", "domain", &d.name)).await?;
        Ok(DomainView::from(d))
    })
    .await
}

/// Verifies a domain of the org and claims the accounts on it. The DNS
/// lookup goes out before the transaction opens: no lock is held while
/// DNS answers.
#[instrument(skip_all, fields(org = %who.org_id, domain = name.as_str()), err(level = "debug"))]
pub async fn verify(
    store: &Store,
    who: &AdminAct,
    name: &DomainName,
    proof: Proof<'_>,
) -> AdminResult<Verified> {
    let d = directories::domain_by_name(store.reader(), who.org_id, name).await?;
    if let Proof::Dns(resolver) = proof {
        let record = dns::record_name(name);
        let expected = dns::record_value(&d.verification_token);
        let finding = resolver.txt(&record).await;
        dns::judge(&record, &expected, &finding)
            .map_err(|m| AdminError::bad_request("verification_failed", m))?;
    }
    write(store, &who.origin, async |tx| {
        let claimed = directories::verify_domain(tx, who.org_id, name).await?;
        let detail = match proof {
            Proof::Dns(_) => format!("claimed {claimed} accounts"),
            Proof::Forced => {
                format!("forced by the operator, without DNS proof; claimed {claimed} accounts")
            }
        };
        audit::record(
            tx,
            who.entry("domain.verify", "domain", &d.name).detail(detail),
        )
        .await?;
        Ok(Verified {
            name: d.name.clone(),
            claimed,
        })
    })
    .await
}

/// Removes a domain (refused while deactivated or pending-deletion
/// accounts on it would be stranded); its accounts are released.
#[instrument(skip_all, fields(org = %who.org_id, domain = name.as_str()), err(level = "debug"))]
pub async fn remove(store: &Store, who: &AdminAct, name: &DomainName) -> AdminResult<Removed> {
    write(store, &who.origin, async |tx| {
        let stranded = directories::stranded_by_removal(tx, who.org_id, name).await?;
        admin_rules::check_domain_removal(name.as_str(), stranded)?;
        let released = directories::remove_domain(tx, who.org_id, name).await?;
        audit::record(
            tx,
            who.entry("domain.remove", "domain", name.as_str())
                .detail(format!("released {released} accounts")),
        )
        .await?;
        Ok(Removed {
            name: name.as_str().to_owned(),
            released,
        })
    })
    .await
}
