//! Directories (IdP connections) and their credentials and settings, one
//! function each: create (with the organization if new, and a first
//! token, in one transaction), settings, the domains a directory is
//! authoritative for, bearer tokens, sites. The admin API and the
//! operator CLI call the same functions.

use chrono::{DateTime, Utc};
use tracing::instrument;
use uuid::Uuid;

use super::accounts::AdminAct;
use super::write;
use crate::admin_error::AdminResult;
use crate::domain::types::DomainName;
use crate::store::Store;
use crate::store::audit;
use crate::store::directories::{self, DirectoryView};
use crate::store::events::Origin;
use crate::store::sync_status;

/// What [`create`] made: the directory (and its organization) and its
/// first bearer token, shown this once.
#[derive(Debug, Clone)]
pub struct Created {
    pub org_id: Uuid,
    pub directory_id: Uuid,
    pub token: String,
}

/// Creates a directory of the organization `org` (created if missing)
/// with a first bearer token: all in one transaction.
#[instrument(skip_all, fields(org = org, name = name), err(level = "debug"))]
pub async fn create(store: &Store, origin: &Origin, org: &str, name: &str) -> AdminResult<Created> {
    write(store, origin, async |tx| {
        let org = directories::ensure_org(tx, org).await?;
        let dir = directories::create_directory(tx, org.id, name).await?;
        let (_, token) = directories::create_token(tx, dir.id, None).await?;
        Ok(Created {
            org_id: org.id,
            directory_id: dir.id,
            token,
        })
    })
    .await
}

/// The organization `name`, created if missing.
#[instrument(skip_all, fields(org = name), err(level = "debug"))]
pub async fn ensure_org(store: &Store, origin: &Origin, name: &str) -> AdminResult<Uuid> {
    write(store, origin, async |tx| {
        Ok(directories::ensure_org(tx, name).await?.id)
    })
    .await
}

/// What [`create_site`] made.
#[derive(Debug, Clone)]
pub struct NewSite {
    pub org_id: Uuid,
    pub site_id: Uuid,
    pub name: String,
}

/// Creates a site of the organization `org` (created if missing).
#[instrument(skip_all, fields(org = org, site = name), err(level = "debug"))]
pub async fn create_site(
    store: &Store,
    origin: &Origin,
    org: &str,
    name: &str,
) -> AdminResult<NewSite> {
    write(store, origin, async |tx| {
        let org = directories::ensure_org(tx, org).await?;
        let s = directories::create_site(tx, org.id, name).await?;
        Ok(NewSite {
            org_id: org.id,
            site_id: s.id,
            name: s.name,
        })
    })
    .await
}

/// Whether the directory refuses users on domains the org has not
/// verified (`POST /Users`: 400) instead of syncing them as external.
#[instrument(skip_all, fields(org = %who.org_id, directory = %directory_id), err(level = "debug"))]
pub async fn set_reject_unverified_domains(
    store: &Store,
    who: &AdminAct,
    directory_id: Uuid,
    on: bool,
) -> AdminResult<DirectoryView> {
    write(store, &who.origin, async |tx| {
        let d = sync_status::directory_of(tx, who.org_id, directory_id).await?;
        let d = directories::set_reject_unverified_domains(tx, d, on).await?;
        audit::record(
            tx,
            who.entry("directory.update", "directory", d.id)
                .detail(format!(
                    "reject_unverified_domains = {}",
                    d.reject_unverified_domains
                )),
        )
        .await?;
        Ok(DirectoryView::from(d))
    })
    .await
}

/// Makes the directory authoritative for exactly `names` (verified domains
/// of the org). Returns the domains it is authoritative for after.
#[instrument(skip_all, fields(org = %who.org_id, directory = %directory_id), err(level = "debug"))]
pub async fn bind_domains(
    store: &Store,
    who: &AdminAct,
    directory_id: Uuid,
    names: &[DomainName],
) -> AdminResult<Vec<String>> {
    write(store, &who.origin, async |tx| {
        let d = sync_status::directory_view(tx, who.org_id, directory_id).await?;
        directories::bind_domains(tx, who.org_id, d.id, names).await?;
        let bound = directories::domains_of_directory(tx, &d).await?;
        audit::record(
            tx,
            who.entry("directory.bind_domains", "directory", d.id)
                .detail(bound.join(", ")),
        )
        .await?;
        Ok(bound)
    })
    .await
}

/// Makes the directory authoritative for one more verified domain of the
/// org (the operator's `directory bind-domain`). Returns the domains it is
/// authoritative for after.
#[instrument(skip_all, fields(org = %who.org_id, directory = %directory_id, domain = name.as_str()), err(level = "debug"))]
pub async fn bind_domain(
    store: &Store,
    who: &AdminAct,
    directory_id: Uuid,
    name: &DomainName,
) -> AdminResult<Vec<String>> {
    write(store, &who.origin, async |tx| {
        let d = sync_status::directory_view(tx, who.org_id, directory_id).await?;
        directories::bind_domain(tx, who.org_id, d.id, name).await?;
        audit::record(
            tx,
            who.entry("directory.bind_domain", "directory", d.id)
                .detail(name.as_str().to_owned()),
        )
        .await?;
        Ok(directories::domains_of_directory(tx, &d).await?)
    })
    .await
}

/// What [`create_token`] made: its id, expiry and the clear value (shown
/// this once).
#[derive(Debug, Clone)]
pub struct NewToken {
    pub id: Uuid,
    pub token: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A new bearer token of a directory of the org.
#[instrument(skip_all, fields(org = %who.org_id, directory = %directory_id), err(level = "debug"))]
pub async fn create_token(
    store: &Store,
    who: &AdminAct,
    directory_id: Uuid,
    expires_at: Option<DateTime<Utc>>,
) -> AdminResult<NewToken> {
    write(store, &who.origin, async |tx| {
        let d = sync_status::directory_of(tx, who.org_id, directory_id).await?;
        let (t, token) = directories::create_token_expiring(tx, d.id, None, expires_at).await?;
        Ok(NewToken {
            id: t.id,
            token,
            expires_at: t.expires_at,
        })
    })
    .await
}

/// Revokes a bearer token of a directory of the org (effective on the
/// next request).
#[instrument(skip_all, fields(org = %who.org_id, directory = %directory_id, token = %token_id), err(level = "debug"))]
pub async fn revoke_token(
    store: &Store,
    who: &AdminAct,
    directory_id: Uuid,
    token_id: Uuid,
) -> AdminResult<()> {
    write(store, &who.origin, async |tx| {
        let d = sync_status::directory_of(tx, who.org_id, directory_id).await?;
        directories::revoke_token(tx, d.id, token_id).await?;
        Ok(())
    })
    .await
}
