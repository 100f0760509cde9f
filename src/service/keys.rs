//! An organization's admin keys: create (the CLI), revoke (the admin API
//! and the CLI). Revoking takes effect on the next request, for the API
//! and the web page alike.

use chrono::{DateTime, Utc};
use tracing::instrument;
use uuid::Uuid;

use super::accounts::AdminAct;
use super::write;
use crate::admin_error::{AdminError, AdminResult};
use crate::store::Store;
use crate::store::admin_keys::{self, AdminKeyView};
use crate::store::audit;

/// A new key of the org; the clear value is returned this once.
#[instrument(skip_all, fields(org = %who.org_id), err(level = "debug"))]
pub async fn create(
    store: &Store,
    who: &AdminAct,
    label: Option<String>,
    expires_at: Option<DateTime<Utc>>,
) -> AdminResult<(AdminKeyView, String)> {
    write(store, &who.origin, async |tx| {
        let (k, key) = admin_keys::create_expiring(tx, who.org_id, label, expires_at).await?;
        Ok((AdminKeyView::from(k), key))
    })
    .await
}

/// Revokes a key of the org (404 when it has no such active key).
#[instrument(skip_all, fields(org = %who.org_id, key = %key_id), err(level = "debug"))]
pub async fn revoke(store: &Store, who: &AdminAct, key_id: Uuid) -> AdminResult<()> {
    write(store, &who.origin, async |tx| {
        if !admin_keys::revoke(tx, who.org_id, key_id).await? {
            return Err(AdminError::not_found(format!(
                "no active admin key {key_id} in this organization"
            )));
        }
        audit::record(tx, who.entry("admin_key.revoke", "admin_key", key_id)).await?;
        Ok(())
    })
    .await
}
