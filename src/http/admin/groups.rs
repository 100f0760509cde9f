//! `/groups`: the org's groups. Synced groups are read-only (their
//! members come from the IdP); admin-made groups are created here and
//! their members managed here. Any group can be granted product access.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;
use validator::Validate;

use super::accounts::act;
use super::auth::AdminPrincipal;
use super::{items, page_limit, split_page, uuid_cursor};
use crate::admin_error::AdminResult;
use crate::domain::admin_rules;
use crate::http::AppState;
use crate::input;
use crate::service;
use crate::store::admin_groups::{self, GroupView};
use crate::store::site_users;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct GroupPath {
    pub org_id: Uuid,
    pub group_id: Uuid,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct GroupMemberPath {
    pub org_id: Uuid,
    pub group_id: Uuid,
    pub account_id: Uuid,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct GrantPath {
    pub org_id: Uuid,
    pub group_id: Uuid,
    pub grant_id: Uuid,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
pub struct CreateGroup {
    /// 1 to 256 characters (trimmed), no control characters.
    #[validate(custom(function = "input::one_line_name"))]
    pub name: String,
    /// At most 2048 characters.
    #[validate(length(
        max = "input::MAX_TEXT_LEN",
        message = "must be at most 2048 characters"
    ))]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Grant {
    pub site_id: Uuid,
    /// jira, confluence, jira-service-management, jira-product-discovery,
    /// bitbucket, trello, opsgenie, statuspage.
    pub product: String,
    /// user (default) or admin.
    pub role: Option<String>,
}

fn group_json(g: &GroupView, synced_by: Option<&String>) -> Value {
    json!({
        "id": g.id,
        "name": g.display_name,
        "description": g.description,
        "synced": g.directory_id.is_some(),
        "synced_by": synced_by,
        "created_at": g.created_at,
    })
}

#[utoipa::path(get, path = "/admin/v1/orgs/{org_id}/groups", tag = "groups",
    params(super::OrgPath, PageParams), responses((status = 200, description = "A page of groups")))]
pub async fn list(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    params: web::Query<PageParams>,
) -> AdminResult<HttpResponse> {
    let limit = page_limit(&state, params.limit.as_deref())?;
    let after = uuid_cursor(params.cursor.as_deref())?;
    let rows = admin_groups::page(state.store.reader(), admin.org_id(), after, limit + 1).await?;
    let (rows, next) = split_page(rows, limit, |(g, _)| g.id);
    Ok(items(
        rows.iter()
            .map(|(g, d)| group_json(g, d.as_ref()))
            .collect(),
        next,
    ))
}

#[utoipa::path(post, path = "/admin/v1/orgs/{org_id}/groups", tag = "groups",
    params(super::OrgPath), request_body = CreateGroup,
    responses((status = 201, description = "An admin-made group"), (status = 409, description = "already_exists")))]
pub async fn create(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    body: web::Json<CreateGroup>,
) -> AdminResult<HttpResponse> {
    body.validate()?;
    let name = body.name.trim();
    let g =
        service::sites::create_group(&state.store, &act(&admin), name, body.description.clone())
            .await?;
    Ok(HttpResponse::Created().json(group_json(&g, None)))
}

async fn member_change(
    state: &AppState,
    admin: &AdminPrincipal,
    path: &GroupMemberPath,
    add: bool,
) -> AdminResult<HttpResponse> {
    let org_id = admin.org_id();
    let a = path.account_id;
    service::sites::change_group_member(&state.store, &act(admin), path.group_id, a, add).await?;
    let mine = site_users::groups_of(state.store.reader(), org_id, &[a]).await?;
    Ok(HttpResponse::Ok().json(json!({
        "account_id": a,
        "groups": mine.iter().map(|g| json!({"id": g.group_id, "name": g.name, "synced_by": g.synced_by})).collect::<Vec<_>>(),
    })))
}

#[utoipa::path(put, path = "/admin/v1/orgs/{org_id}/groups/{group_id}/members/{account_id}", tag = "groups",
    params(GroupMemberPath),
    responses((status = 200, description = "Member (access the group grants starts)"),
        (status = 409, description = "managed_by_identity_provider (synced group)")))]
pub async fn add_member(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<GroupMemberPath>,
) -> AdminResult<HttpResponse> {
    member_change(&state, &admin, &path, true).await
}

#[utoipa::path(delete, path = "/admin/v1/orgs/{org_id}/groups/{group_id}/members/{account_id}", tag = "groups",
    params(GroupMemberPath),
    responses((status = 200, description = "No longer a member (access it granted ends)"),
        (status = 409, description = "managed_by_identity_provider (synced group)")))]
pub async fn remove_member(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<GroupMemberPath>,
) -> AdminResult<HttpResponse> {
    member_change(&state, &admin, &path, false).await
}

#[utoipa::path(post, path = "/admin/v1/orgs/{org_id}/groups/{group_id}/grants", tag = "groups",
    params(GroupPath), request_body = Grant,
    responses((status = 200, description = "The group's members have the product on the site")))]
pub async fn grant(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<GroupPath>,
    body: web::Json<Grant>,
) -> AdminResult<HttpResponse> {
    let product = admin_rules::parse_product(&body.product)?;
    let role = admin_rules::parse_role(body.role.as_deref())?;
    let (grant, g, site) = service::sites::grant(
        &state.store,
        &act(&admin),
        path.group_id,
        body.site_id,
        product,
        role,
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({
        "id": grant.id, "group_id": g.id, "site_id": site.id, "site": site.name,
        "product": grant.product, "role": grant.role,
    })))
}

#[utoipa::path(delete, path = "/admin/v1/orgs/{org_id}/groups/{group_id}/grants/{grant_id}", tag = "groups",
    params(GrantPath),
    responses((status = 204, description = "The grant is gone: its product access ends for every member, and site membership where it was the last path"),
        (status = 404, description = "not_found")))]
pub async fn ungrant(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<GrantPath>,
) -> AdminResult<HttpResponse> {
    service::sites::ungrant(&state.store, &act(&admin), path.group_id, path.grant_id).await?;
    Ok(HttpResponse::NoContent().finish())
}
