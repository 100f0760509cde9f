//! `/admin-keys`: the organization's admin keys. Listed by id and hint
//! (never the value); revoking one is audited and takes effect on the next
//! request, for the API and the web page alike.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::AdminPrincipal;
use super::{commit, items};
use crate::admin_error::{AdminError, AdminResult};
use crate::startup::AppState;
use crate::store::admin_keys;
use crate::store::audit::{self, AuditEntry};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct KeyPath {
    pub org_id: Uuid,
    pub key_id: Uuid,
}

/// An admin key as listings show it (this API and `admin-key list`).
pub fn key_json(k: &entity::admin_key::Model) -> Value {
    json!({
        "id": k.id,
        "hint": k.hint,
        "label": k.label,
        "created_at": k.created_at,
        "last_used_at": k.last_used_at,
        "expires_at": k.expires_at,
        "expired": k.expires_at.is_some_and(|e| e <= chrono::Utc::now()),
        "revoked_at": k.revoked_at,
    })
}

#[utoipa::path(get, path = "/admin/v1/orgs/{org_id}/admin-keys", tag = "admin-keys",
    params(super::OrgPath),
    responses((status = 200, description = "The organization's admin keys, oldest first: {items, next_cursor: null}")))]
pub async fn list(state: web::Data<AppState>, admin: AdminPrincipal) -> AdminResult<HttpResponse> {
    let keys = admin_keys::list(state.store.reader(), admin.org_id()).await?;
    Ok(items(keys.iter().map(key_json).collect(), None))
}

#[utoipa::path(delete, path = "/admin/v1/orgs/{org_id}/admin-keys/{key_id}", tag = "admin-keys",
    params(KeyPath),
    responses((status = 204, description = "Revoked"), (status = 404, description = "not_found")))]
pub async fn revoke(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<KeyPath>,
) -> AdminResult<HttpResponse> {
    let org_id = admin.org_id();
    let tx = state.store.begin_write(&admin.origin()).await?;
    if !admin_keys::revoke(&tx, org_id, path.key_id).await? {
        return Err(AdminError::not_found(format!(
            "no active admin key {} in this organization",
            path.key_id
        )));
    }
    audit::record(
        &tx,
        AuditEntry::new(
            org_id,
            admin.actor(),
            "admin_key.revoke",
            "admin_key",
            path.key_id,
        ),
    )
    .await?;
    commit(tx).await?;
    Ok(HttpResponse::NoContent().finish())
}
