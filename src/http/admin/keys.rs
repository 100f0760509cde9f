//! `/admin-keys`: the organization's admin keys. Listed by id and hint
//! (never the value); revoking one is audited and takes effect on the next
//! request, for the API and the web page alike.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use uuid::Uuid;

use super::accounts::act;
use super::auth::AdminPrincipal;
use super::items;
use crate::admin_error::AdminResult;
use crate::http::AppState;
use crate::service;
use crate::store::admin_keys::{self, AdminKeyView};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct KeyPath {
    pub org_id: Uuid,
    pub key_id: Uuid,
}

/// An admin key as listings show it (this API and `admin-key list`).
#[utoipa::path(get, path = "/admin/v1/orgs/{org_id}/admin-keys", tag = "admin-keys",
    params(super::OrgPath),
    responses((status = 200, description = "The organization's admin keys, oldest first: {items, next_cursor: null}")))]
pub async fn list(state: web::Data<AppState>, admin: AdminPrincipal) -> AdminResult<HttpResponse> {
    let keys = admin_keys::list(state.store.reader(), admin.org_id()).await?;
    Ok(items(
        keys.iter().map(AdminKeyView::to_json).collect(),
        None,
    ))
}

#[utoipa::path(delete, path = "/admin/v1/orgs/{org_id}/admin-keys/{key_id}", tag = "admin-keys",
    params(KeyPath),
    responses((status = 204, description = "Revoked"), (status = 404, description = "not_found")))]
pub async fn revoke(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<KeyPath>,
) -> AdminResult<HttpResponse> {
    service::keys::revoke(&state.store, &act(&admin), path.key_id).await?;
    Ok(HttpResponse::NoContent().finish())
}
