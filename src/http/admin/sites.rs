//! `/sites` and a site's Users page: memberships of managed and external
//! accounts alike. Invite, record activity, suspend/restore, remove,
//! direct product access. Claiming an account never puts it here: an
//! invite or a group grant does.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::accounts::{act, product_json};
use super::auth::AdminPrincipal;
use super::{items, page_limit, split_page, uuid_cursor};
use crate::admin_error::AdminResult;
use crate::domain::admin_rules;
use crate::domain::types::Email;
use crate::http::AppState;
use crate::service::{self, sites::MembershipChange};
use crate::store::account_detail::AccountView;
use crate::store::site_users::{self, MemberFilter, MembershipView, by_account};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SitePath {
    pub org_id: Uuid,
    pub site_id: Uuid,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MemberPath {
    pub org_id: Uuid,
    pub site_id: Uuid,
    pub account_id: Uuid,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProductPath {
    pub org_id: Uuid,
    pub site_id: Uuid,
    pub account_id: Uuid,
    /// jira, confluence, jira-service-management, jira-product-discovery,
    /// bitbucket, trello, opsgenie, statuspage.
    pub product: String,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsersParams {
    /// active, invited or suspended.
    pub status: Option<String>,
    /// Text in the name or email.
    pub q: Option<String>,
    /// Only users with direct access to this product.
    pub product: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Invite {
    pub email: String,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ProductRole {
    /// user (default) or admin.
    pub role: Option<String>,
}

pub(crate) fn member_filter(p: &UsersParams) -> AdminResult<MemberFilter> {
    Ok(MemberFilter {
        status: p
            .status
            .as_deref()
            .map(admin_rules::parse_membership_status)
            .transpose()?,
        q: p.q.clone(),
        product: p
            .product
            .as_deref()
            .map(admin_rules::parse_product)
            .transpose()?
            .map(str::to_owned),
    })
}

#[utoipa::path(get, path = "/admin/v1/orgs/{org_id}/sites", tag = "site users",
    params(super::OrgPath), responses((status = 200, description = "The organization's sites")))]
pub async fn list_sites(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
) -> AdminResult<HttpResponse> {
    let sites = site_users::sites_of_org(state.store.reader(), admin.org_id()).await?;
    Ok(items(
        sites
            .iter()
            .map(|s| json!({"id": s.id, "name": s.name, "created_at": s.created_at}))
            .collect(),
        None,
    ))
}

fn member_json(
    m: &MembershipView,
    a: &AccountView,
    org_id: Uuid,
    access: &[Value],
    groups: &[Value],
) -> Value {
    json!({
        "account_id": a.id,
        "email": a.email,
        "display_name": a.display_name,
        "managed": a.managing_org_id == Some(org_id),
        "status": m.status,
        "last_active_at": m.last_active_at,
        "invited_directly": m.invited_directly,
        "product_access": access,
        "groups": groups,
    })
}

#[utoipa::path(get, path = "/admin/v1/orgs/{org_id}/sites/{site_id}/users", tag = "site users",
    params(SitePath, UsersParams),
    responses((status = 200, description = "A page of the site's users: {items, next_cursor}")))]
pub async fn list_users(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<SitePath>,
    params: web::Query<UsersParams>,
) -> AdminResult<HttpResponse> {
    let limit = page_limit(&state, params.limit.as_deref())?;
    let after = uuid_cursor(params.cursor.as_deref())?;
    let f = member_filter(&params)?;
    let db = state.store.reader();
    let org_id = admin.org_id();
    let site = site_users::site_of_org(db, org_id, path.site_id).await?;
    let rows = site_users::members_page(db, site.id, &f, after, limit + 1).await?;
    let (rows, next) = split_page(rows, limit, |(m, _)| m.account_id);
    let ids: Vec<Uuid> = rows.iter().map(|(m, _)| m.account_id).collect();
    let access = site_users::access_of(db, org_id, Some(site.id), &ids).await?;
    let access = by_account(&access, |a| a.account_id);
    let groups = site_users::groups_of(db, org_id, &ids).await?;
    let groups = by_account(&groups, |g| g.account_id);
    let out = rows
        .iter()
        .map(|(m, a)| {
            let acc: Vec<Value> = access
                .get(&a.id)
                .map(|v| v.iter().map(product_json).collect())
                .unwrap_or_default();
            let grp: Vec<Value> = groups
                .get(&a.id)
                .map(|v| {
                    v.iter()
                        .map(
                            |g| json!({"id": g.group_id, "name": g.name, "synced_by": g.synced_by}),
                        )
                        .collect()
                })
                .unwrap_or_default();
            member_json(m, a, org_id, &acc, &grp)
        })
        .collect();
    Ok(items(out, next))
}

#[utoipa::path(post, path = "/admin/v1/orgs/{org_id}/sites/{site_id}/users", tag = "site users",
    params(SitePath), request_body = Invite,
    responses((status = 201, description = "Invited (account created if none)"),
        (status = 200, description = "Already a user: now marked as invited directly"),
        (status = 409, description = "invalid_state")))]
pub async fn invite(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<SitePath>,
    body: web::Json<Invite>,
) -> AdminResult<HttpResponse> {
    let email = Email::parse(&body.email)?;
    let org_id = admin.org_id();
    let done = service::sites::invite(&state.store, &act(&admin), path.site_id, &email).await?;
    let body = member_json(&done.membership, &done.account, org_id, &[], &[]);
    Ok(if done.new {
        HttpResponse::Created().json(body)
    } else {
        HttpResponse::Ok().json(body)
    })
}

/// One membership write ([`service::sites::change_membership`]),
/// answered with the membership (204 once removed).
async fn membership_write(
    state: &AppState,
    admin: &AdminPrincipal,
    path: &MemberPath,
    change: MembershipChange,
) -> AdminResult<HttpResponse> {
    let (a, m) = service::sites::change_membership(
        &state.store,
        &act(admin),
        path.site_id,
        path.account_id,
        change,
    )
    .await?;
    Ok(match m {
        Some(m) => HttpResponse::Ok().json(member_json(&m, &a, admin.org_id(), &[], &[])),
        // Removed.
        None => HttpResponse::NoContent().finish(),
    })
}

#[utoipa::path(post, path = "/admin/v1/orgs/{org_id}/sites/{site_id}/users/{account_id}/activity", tag = "site users",
    params(MemberPath), responses((status = 200, description = "Last active now; an invite becomes active")))]
pub async fn record_activity(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<MemberPath>,
) -> AdminResult<HttpResponse> {
    membership_write(&state, &admin, &path, MembershipChange::RecordActivity).await
}

#[utoipa::path(post, path = "/admin/v1/orgs/{org_id}/sites/{site_id}/users/{account_id}/suspend", tag = "site users",
    params(MemberPath), responses((status = 200, description = "Suspended: no access; product access and groups kept")))]
pub async fn suspend(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<MemberPath>,
) -> AdminResult<HttpResponse> {
    membership_write(&state, &admin, &path, MembershipChange::Suspend).await
}

#[utoipa::path(post, path = "/admin/v1/orgs/{org_id}/sites/{site_id}/users/{account_id}/restore", tag = "site users",
    params(MemberPath), responses((status = 200, description = "Restored"),
        (status = 409, description = "managed_by_identity_provider (suspended by a directory) / invalid_state")))]
pub async fn restore(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<MemberPath>,
) -> AdminResult<HttpResponse> {
    membership_write(&state, &admin, &path, MembershipChange::Restore).await
}

#[utoipa::path(delete, path = "/admin/v1/orgs/{org_id}/sites/{site_id}/users/{account_id}", tag = "site users",
    params(MemberPath),
    responses((status = 204, description = "Removed: membership, product access and the site's admin-group memberships; the account stays"),
        (status = 409, description = "managed_by_identity_provider (access from a synced group)")))]
pub async fn remove(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<MemberPath>,
) -> AdminResult<HttpResponse> {
    membership_write(&state, &admin, &path, MembershipChange::Remove).await
}

#[utoipa::path(put, path = "/admin/v1/orgs/{org_id}/sites/{site_id}/users/{account_id}/products/{product}", tag = "site users",
    params(ProductPath), request_body = ProductRole,
    responses((status = 200, description = "Direct product access granted (or role changed)")))]
pub async fn set_product(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<ProductPath>,
    body: Option<web::Json<ProductRole>>,
) -> AdminResult<HttpResponse> {
    let product = admin_rules::parse_product(&path.product)?;
    let role = admin_rules::parse_role(body.as_ref().and_then(|b| b.role.as_deref()))?;
    let member = MemberPath {
        org_id: path.org_id,
        site_id: path.site_id,
        account_id: path.account_id,
    };
    let change = MembershipChange::SetProduct { product, role };
    membership_write(&state, &admin, &member, change).await
}

#[utoipa::path(delete, path = "/admin/v1/orgs/{org_id}/sites/{site_id}/users/{account_id}/products/{product}", tag = "site users",
    params(ProductPath),
    responses((status = 200, description = "Direct product access removed"), (status = 404, description = "not_found")))]
pub async fn remove_product(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<ProductPath>,
) -> AdminResult<HttpResponse> {
    let product = admin_rules::parse_product(&path.product)?;
    let member = MemberPath {
        org_id: path.org_id,
        site_id: path.site_id,
        account_id: path.account_id,
    };
    let change = MembershipChange::RemoveProduct { product };
    membership_write(&state, &admin, &member, change).await
}
