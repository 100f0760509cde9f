//! An account's security section: state the integrating products read
//! (this server has no login of its own): two-step verification and its
//! exclusion, API tokens, devices/sessions, password reset. Managed
//! accounts only; allowed on IdP-synced accounts too.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;
use validator::Validate;

use super::accounts::{AccountPath, act, detail_response};
use super::auth::AdminPrincipal;
use super::items;
use crate::admin_error::AdminResult;
use crate::http::AppState;
use crate::service;
use crate::store::accounts;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TokenPath {
    pub org_id: Uuid,
    pub account_id: Uuid,
    pub token_id: Uuid,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SessionPath {
    pub org_id: Uuid,
    pub account_id: Uuid,
    pub session_id: Uuid,
}

#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
pub struct TwoStepExclusion {
    /// Until when the account may log in without a second step (RFC 3339).
    #[validate(custom(function = "crate::input::in_the_future"))]
    pub until: DateTime<Utc>,
}

#[utoipa::path(get, path = "/admin/v1/orgs/{org_id}/accounts/{account_id}/api-tokens", tag = "security",
    params(AccountPath), responses((status = 200, description = "The API tokens the user created")))]
pub async fn list_tokens(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<AccountPath>,
) -> AdminResult<HttpResponse> {
    let id =
        service::accounts::security_readable(&state.store, admin.org_id(), path.account_id).await?;
    let list = accounts::api_tokens(state.store.reader(), id).await?;
    Ok(items(
        list.iter()
            .map(|t| {
                json!({
                    "id": t.id, "label": t.label, "created_at": t.created_at,
                    "last_used_at": t.last_used_at, "expires_at": t.expires_at,
                    "revoked_at": t.revoked_at,
                })
            })
            .collect(),
        None,
    ))
}

#[utoipa::path(delete, path = "/admin/v1/orgs/{org_id}/accounts/{account_id}/api-tokens/{token_id}", tag = "security",
    params(TokenPath), responses((status = 200, description = "Revoked"), (status = 404, description = "not_found")))]
pub async fn revoke_token(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<TokenPath>,
) -> AdminResult<HttpResponse> {
    let id = path.account_id;
    service::accounts::revoke_api_token(&state.store, &act(&admin), id, path.token_id).await?;
    detail_response(&state, &admin, id).await
}

#[utoipa::path(get, path = "/admin/v1/orgs/{org_id}/accounts/{account_id}/sessions", tag = "security",
    params(AccountPath), responses((status = 200, description = "Recent devices and sessions")))]
pub async fn list_sessions(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<AccountPath>,
) -> AdminResult<HttpResponse> {
    let id =
        service::accounts::security_readable(&state.store, admin.org_id(), path.account_id).await?;
    let list = accounts::sessions(state.store.reader(), id).await?;
    Ok(items(
        list.iter()
            .map(|s| {
                json!({
                    "id": s.id, "device": s.device, "ip_address": s.ip_address,
                    "created_at": s.created_at, "last_seen_at": s.last_seen_at,
                    "revoked_at": s.revoked_at, "active": s.revoked_at.is_none(),
                })
            })
            .collect(),
        None,
    ))
}

#[utoipa::path(delete, path = "/admin/v1/orgs/{org_id}/accounts/{account_id}/sessions", tag = "security",
    params(AccountPath), responses((status = 200, description = "Every device logged out")))]
pub async fn logout_all(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<AccountPath>,
) -> AdminResult<HttpResponse> {
    let id = path.account_id;
    service::accounts::logout(&state.store, &act(&admin), id, None).await?;
    detail_response(&state, &admin, id).await
}

#[utoipa::path(delete, path = "/admin/v1/orgs/{org_id}/accounts/{account_id}/sessions/{session_id}", tag = "security",
    params(SessionPath), responses((status = 200, description = "That device logged out"), (status = 404, description = "not_found")))]
pub async fn logout_one(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<SessionPath>,
) -> AdminResult<HttpResponse> {
    let id = path.account_id;
    service::accounts::logout(&state.store, &act(&admin), id, Some(path.session_id)).await?;
    detail_response(&state, &admin, id).await
}

#[utoipa::path(put, path = "/admin/v1/orgs/{org_id}/accounts/{account_id}/two-step-exclusion", tag = "security",
    params(AccountPath), request_body = TwoStepExclusion,
    responses((status = 200, description = "Excluded from two-step verification until the date")))]
pub async fn exclude_two_step(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<AccountPath>,
    body: web::Json<TwoStepExclusion>,
) -> AdminResult<HttpResponse> {
    body.validate()?;
    let until = body.until;
    let id = path.account_id;
    service::accounts::two_step_exclusion(&state.store, &act(&admin), id, Some(until)).await?;
    detail_response(&state, &admin, id).await
}

#[utoipa::path(delete, path = "/admin/v1/orgs/{org_id}/accounts/{account_id}/two-step-exclusion", tag = "security",
    params(AccountPath), responses((status = 200, description = "Two-step verification required again")))]
pub async fn end_two_step_exclusion(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<AccountPath>,
) -> AdminResult<HttpResponse> {
    let id = path.account_id;
    service::accounts::two_step_exclusion(&state.store, &act(&admin), id, None).await?;
    detail_response(&state, &admin, id).await
}

#[utoipa::path(post, path = "/admin/v1/orgs/{org_id}/accounts/{account_id}/require-password-reset", tag = "security",
    params(AccountPath), responses((status = 200, description = "The user must reset the password at next login")))]
pub async fn require_password_reset(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<AccountPath>,
) -> AdminResult<HttpResponse> {
    let id = path.account_id;
    service::accounts::require_password_reset(&state.store, &act(&admin), id).await?;
    detail_response(&state, &admin, id).await
}
