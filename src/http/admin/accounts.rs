//! `/accounts`: the managed-accounts page (list, summary, export lives in
//! `exports`), one account's detail, lifecycle, email and profile edits.
//! Every rule is in `domain::admin_rules`; handlers gather, ask, apply.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::AdminPrincipal;
use super::{items, page_limit, split_page, uuid_cursor};
use crate::admin_error::{AdminError, AdminResult};
use crate::domain::admin_rules::{self, ProfileField};
use crate::domain::types::Email;
use crate::http::AppState;
use crate::service::{self, accounts::AdminAct};
use crate::store::account_detail::{AccountDetail, AccountView};
use crate::store::accounts::{self, AccountFilter};
use crate::store::site_users::Access;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AccountPath {
    pub org_id: Uuid,
    pub account_id: Uuid,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// active, deactivated, pending_deletion or deleted (default: all but deleted).
    pub status: Option<String>,
    /// yes / no: provisioned by one of the org's directories.
    pub synced: Option<String>,
    /// Text in the name or email.
    pub q: Option<String>,
    /// Page size (default 50).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

pub(super) fn parse_yes_no(name: &str, s: Option<&str>) -> AdminResult<Option<bool>> {
    match s.map(str::trim) {
        None | Some("") => Ok(None),
        Some("yes" | "true") => Ok(Some(true)),
        Some("no" | "false") => Ok(Some(false)),
        Some(other) => Err(AdminError::invalid(format!(
            "{name} must be yes or no, got {other:?}"
        ))),
    }
}

pub(crate) fn filter_of(p: &ListParams) -> AdminResult<AccountFilter> {
    Ok(AccountFilter {
        status: p
            .status
            .as_deref()
            .map(admin_rules::parse_account_status)
            .transpose()?,
        synced: parse_yes_no("synced", p.synced.as_deref())?,
        q: p.q.clone(),
    })
}

pub(super) fn profile_json(a: &AccountView) -> Value {
    let mut o = serde_json::Map::new();
    for f in ProfileField::ALL {
        let v = match f {
            ProfileField::DisplayName => &a.display_name,
            ProfileField::Nickname => &a.nickname,
            ProfileField::JobTitle => &a.job_title,
            ProfileField::Department => &a.department,
            ProfileField::Organization => &a.organization,
            ProfileField::Location => &a.location,
            ProfileField::Timezone => &a.timezone,
            ProfileField::Locale => &a.locale,
            ProfileField::ProfilePhotoUrl => &a.profile_photo_url,
        };
        o.insert(f.key().into(), json!(v));
    }
    Value::Object(o)
}

fn summary_json(a: &AccountView, synced_by: Option<&String>) -> Value {
    json!({
        "id": a.id,
        "email": a.email,
        "display_name": a.display_name,
        "status": a.status,
        "last_active_at": a.last_active_at,
        "synced": synced_by.is_some(),
        "synced_by": synced_by,
        "secure_login": a.saml_sso || a.two_step_enabled,
        "purge_after": a.purge_after,
    })
}

pub(super) fn product_json(r: &Access) -> Value {
    let via = match &r.via_group {
        None => json!({"type": "direct"}),
        Some((id, name, dir)) => {
            json!({"type": "group", "group_id": id, "group": name, "synced_by": dir})
        }
    };
    json!({"product": r.product, "role": r.role, "via": via})
}

#[utoipa::path(get, path = "/admin/v1/orgs/{org_id}/accounts", tag = "managed accounts",
    params(super::OrgPath, ListParams),
    responses((status = 200, description = "A page of managed accounts: {items, next_cursor}")))]
pub async fn list(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    params: web::Query<ListParams>,
) -> AdminResult<HttpResponse> {
    let limit = page_limit(&state, params.limit.as_deref())?;
    let after = uuid_cursor(params.cursor.as_deref())?;
    let f = filter_of(&params)?;
    let db = state.store.reader();
    let rows = accounts::managed_page(db, admin.org_id(), &f, after, limit + 1).await?;
    let (rows, next) = split_page(rows, limit, |a| a.id);
    let ids: Vec<Uuid> = rows.iter().map(|a| a.id).collect();
    let synced = accounts::synced_by(db, admin.org_id(), &ids).await?;
    Ok(items(
        rows.iter()
            .map(|a| summary_json(a, synced.get(&a.id)))
            .collect(),
        next,
    ))
}

#[utoipa::path(get, path = "/admin/v1/orgs/{org_id}/accounts/summary", tag = "managed accounts",
    params(super::OrgPath),
    responses((status = 200, description = "total, deactivated, secure_login_percentage, pending_deletion")))]
pub async fn summary(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
) -> AdminResult<HttpResponse> {
    let s = accounts::summary(state.store.reader(), admin.org_id()).await?;
    Ok(HttpResponse::Ok().json(json!({
        "total": s.total,
        "deactivated": s.deactivated,
        "secure_login": s.secure_login,
        "secure_login_percentage": admin_rules::secure_login_percentage(s.secure_login, s.total),
        "pending_deletion": s.pending_deletion,
    })))
}

/// The account as the admin API shows it: in full when the org manages
/// it; otherwise its name and email and what this org holds of it (its
/// sites, groups, links), nothing of the account's own state.
fn detail_json(d: &AccountDetail) -> Value {
    let a = &d.account;
    let sites: Vec<Value> = d
        .sites
        .iter()
        .map(|m| {
            json!({
                "site_id": m.site_id,
                "site": m.site,
                "status": m.status,
                "last_active_at": m.last_active_at,
                "invited_directly": m.invited_directly,
                "product_access": m.access.iter().map(product_json).collect::<Vec<_>>(),
            })
        })
        .collect();
    let synced_by: Vec<Value> = d
        .links
        .iter()
        .map(|l| {
            json!({
                "directory_id": l.directory_id, "directory": l.directory, "scim_id": l.scim_id,
                "user_name": l.user_name, "last_synced_at": l.last_synced_at,
                "custom_attributes": l.custom.as_ref().map(|c| {
                    c.extensions()
                        .map(|(urn, attrs)| (urn.to_owned(), Value::Object(attrs.clone())))
                        .collect::<serde_json::Map<_, _>>()
                }).unwrap_or_default(),
            })
        })
        .collect();
    let groups: Vec<Value> = d
        .groups
        .iter()
        .map(|g| {
            json!({
                "id": g.group_id, "name": g.name, "synced_by": g.synced_by,
            })
        })
        .collect();
    let Some(security) = d.security.filter(|_| d.full) else {
        return json!({
            "id": a.id,
            "email": a.email,
            "display_name": a.display_name,
            "managed": false,
            "synced": !d.links.is_empty(),
            "synced_by": synced_by,
            "sites": sites,
            "groups": groups,
        });
    };
    json!({
        "id": a.id,
        "email": a.email,
        "profile": profile_json(a),
        "status": a.status,
        "managed": a.managing_org_id == Some(d.facts.org),
        "last_active_at": a.last_active_at,
        "deactivated_at": a.deactivated_at,
        "deletion_requested_at": a.deletion_requested_at,
        "purge_after": a.purge_after,
        "deleted_at": a.deleted_at,
        "synced": !d.links.is_empty(),
        "synced_by": synced_by,
        "sites": sites,
        "groups": groups,
        "security": {
            "two_step_enabled": a.two_step_enabled,
            "two_step_excluded_until": a.two_step_excluded_until,
            "saml_sso": a.saml_sso,
            "password_reset_required": a.password_reset_required,
            "active_api_tokens": security.api_tokens,
            "active_sessions": security.sessions,
        },
    })
}

#[utoipa::path(get, path = "/admin/v1/orgs/{org_id}/accounts/{account_id}", tag = "managed accounts",
    params(AccountPath),
    responses((status = 200, description = "Profile, status, synced-by, product access by site, groups, security"),
        (status = 404, description = "not_found")))]
pub async fn get(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<AccountPath>,
) -> AdminResult<HttpResponse> {
    detail_response(&state, &admin, path.account_id).await
}

pub use crate::service::accounts::Lifecycle;

/// The admin as the service layer names who acts.
pub(super) fn act(admin: &AdminPrincipal) -> AdminAct {
    AdminAct {
        org_id: admin.org_id(),
        actor: admin.actor(),
        origin: admin.origin(),
    }
}

/// Answers a write on an account with the account's detail.
pub(super) async fn detail_response(
    state: &AppState,
    admin: &AdminPrincipal,
    id: Uuid,
) -> AdminResult<HttpResponse> {
    let d = service::accounts::detail(&state.store, admin.org_id(), id).await?;
    Ok(HttpResponse::Ok().json(detail_json(&d)))
}

/// Applies a lifecycle action (rules, change, audit) in one transaction.
pub async fn lifecycle(
    state: &AppState,
    admin: &AdminPrincipal,
    id: Uuid,
    action: Lifecycle,
) -> AdminResult<()> {
    let grace = state.settings.deletion_grace_days;
    service::accounts::lifecycle(&state.store, &act(admin), id, action, grace).await
}

/// A lifecycle action, answered with the account's detail.
async fn lifecycle_json(
    state: &AppState,
    admin: &AdminPrincipal,
    id: Uuid,
    action: Lifecycle,
) -> AdminResult<HttpResponse> {
    lifecycle(state, admin, id, action).await?;
    detail_response(state, admin, id).await
}

#[utoipa::path(post, path = "/admin/v1/orgs/{org_id}/accounts/{account_id}/deactivate", tag = "lifecycle",
    params(AccountPath),
    responses((status = 200, description = "Deactivated: no login anywhere, sessions ended, memberships kept"),
        (status = 403, description = "account_not_managed"), (status = 409, description = "managed_by_identity_provider / invalid_state")))]
pub async fn deactivate(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<AccountPath>,
) -> AdminResult<HttpResponse> {
    lifecycle_json(&state, &admin, path.account_id, Lifecycle::Deactivate).await
}

#[utoipa::path(post, path = "/admin/v1/orgs/{org_id}/accounts/{account_id}/reactivate", tag = "lifecycle",
    params(AccountPath),
    responses((status = 200, description = "Active again"), (status = 403, description = "account_not_managed"),
        (status = 409, description = "managed_by_identity_provider / invalid_state")))]
pub async fn reactivate(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<AccountPath>,
) -> AdminResult<HttpResponse> {
    lifecycle_json(&state, &admin, path.account_id, Lifecycle::Reactivate).await
}

#[utoipa::path(delete, path = "/admin/v1/orgs/{org_id}/accounts/{account_id}", tag = "lifecycle",
    params(AccountPath),
    responses((status = 200, description = "Pending deletion until purge_after (grace period)"),
        (status = 403, description = "account_not_managed"), (status = 409, description = "invalid_state")))]
pub async fn delete(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<AccountPath>,
) -> AdminResult<HttpResponse> {
    lifecycle_json(&state, &admin, path.account_id, Lifecycle::Delete).await
}

#[utoipa::path(post, path = "/admin/v1/orgs/{org_id}/accounts/{account_id}/cancel-deletion", tag = "lifecycle",
    params(AccountPath),
    responses((status = 200, description = "Back to its status before the deletion request"),
        (status = 409, description = "invalid_state")))]
pub async fn cancel_deletion(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<AccountPath>,
) -> AdminResult<HttpResponse> {
    lifecycle_json(&state, &admin, path.account_id, Lifecycle::CancelDeletion).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ChangeEmail {
    pub email: String,
}

#[utoipa::path(put, path = "/admin/v1/orgs/{org_id}/accounts/{account_id}/email", tag = "lifecycle",
    params(AccountPath), request_body = ChangeEmail,
    responses((status = 200, description = "Changed"),
        (status = 400, description = "email_domain_not_verified / invalid_request"),
        (status = 403, description = "account_not_managed"),
        (status = 409, description = "managed_by_identity_provider / already_exists")))]
pub async fn change_email(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<AccountPath>,
    body: web::Json<ChangeEmail>,
) -> AdminResult<HttpResponse> {
    let email = Email::parse(&body.email)?;
    service::accounts::change_email(&state.store, &act(&admin), path.account_id, &email).await?;
    detail_response(&state, &admin, path.account_id).await
}

#[utoipa::path(patch, path = "/admin/v1/orgs/{org_id}/accounts/{account_id}", tag = "lifecycle",
    params(AccountPath),
    request_body(content = Object, description = "Profile attributes to set (string) or clear (null): display_name, nickname, job_title, department, organization, location, timezone, locale, profile_photo_url"),
    responses((status = 200, description = "Updated"), (status = 400, description = "invalid_request"),
        (status = 403, description = "account_not_managed"), (status = 409, description = "managed_by_identity_provider")))]
pub async fn edit_profile(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<AccountPath>,
    body: web::Json<serde_json::Map<String, Value>>,
) -> AdminResult<HttpResponse> {
    let changes = admin_rules::parse_profile_changes(&body)?;
    service::accounts::edit_profile(&state.store, &act(&admin), path.account_id, &changes).await?;
    detail_response(&state, &admin, path.account_id).await
}
