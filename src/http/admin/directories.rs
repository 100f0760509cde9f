//! Sync status of each directory and its sync log.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::accounts::act;
use super::auth::AdminPrincipal;
use super::{int_cursor, items, page_limit, split_page};
use crate::admin_error::{AdminError, AdminResult};
use crate::domain::types::DomainName;
use crate::http::AppState;
use crate::service;
use crate::store::directories;
use crate::store::sync_status::{self, LogFilter, SyncOutcome};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DirectoryPath {
    pub org_id: Uuid,
    pub directory_id: Uuid,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogParams {
    /// success or failure.
    pub outcome: Option<String>,
    /// e.g. `POST /Users`.
    pub operation: Option<String>,
    /// User, Group or Bulk.
    pub resource_type: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/admin/v1/orgs/{org_id}/directories", tag = "sync status",
    params(super::OrgPath),
    responses((status = 200, description = "Each directory: last sync, synced users and groups, failures in the last 24 h")))]
pub async fn list(state: web::Data<AppState>, admin: AdminPrincipal) -> AdminResult<HttpResponse> {
    let rows = sync_status::overview(state.store.reader(), admin.org_id()).await?;
    let out = rows
        .iter()
        .map(|(d, s)| {
            json!({
                "id": d.id,
                "name": d.name,
                "last_sync_at": s.last_sync,
                "synced_users": s.users,
                "synced_groups": s.groups,
                "failed_operations_last_24h": s.failed_last_24h,
                "reject_unverified_domains": d.reject_unverified_domains,
                "ignored_attributes_last_24h": s.warnings_last_24h,
            })
        })
        .collect();
    Ok(items(out, None))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectorySettings {
    /// `true`: `POST /Users` of an email on a domain the organization has
    /// not verified is refused (400 `invalidValue`) instead of synced as an
    /// external account.
    pub reject_unverified_domains: bool,
}

#[utoipa::path(patch, path = "/admin/v1/orgs/{org_id}/directories/{directory_id}", tag = "sync status",
    params(DirectoryPath), request_body = DirectorySettings,
    responses((status = 200, description = "{id, name, reject_unverified_domains} after the change")))]
pub async fn update(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<DirectoryPath>,
    body: web::Json<DirectorySettings>,
) -> AdminResult<HttpResponse> {
    let d = service::directories::set_reject_unverified_domains(
        &state.store,
        &act(&admin),
        path.directory_id,
        body.reject_unverified_domains,
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({
        "id": d.id,
        "name": d.name,
        "reject_unverified_domains": d.reject_unverified_domains,
    })))
}

#[utoipa::path(get, path = "/admin/v1/orgs/{org_id}/directories/{directory_id}/sync-log", tag = "sync status",
    params(DirectoryPath, LogParams),
    responses((status = 200, description = "Newest first: {items, next_cursor}")))]
pub async fn sync_log(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<DirectoryPath>,
    params: web::Query<LogParams>,
) -> AdminResult<HttpResponse> {
    let limit = page_limit(&state, params.limit.as_deref())?;
    let before = int_cursor(params.cursor.as_deref())?;
    let outcome = match params.outcome.as_deref() {
        None => None,
        Some(o) => Some(SyncOutcome::from_name(o).ok_or_else(|| {
            AdminError::invalid(format!(
                "outcome must be success, failure or warning, got {o:?}"
            ))
        })?),
    };
    let db = state.store.reader();
    let d = sync_status::directory_view(db, admin.org_id(), path.directory_id).await?;
    let f = LogFilter {
        outcome,
        operation: params.operation.clone(),
        resource_type: params.resource_type.clone(),
    };
    let rows = sync_status::log_page(db, d.id, &f, before, limit + 1).await?;
    let (rows, next) = split_page(rows, limit, |r| r.id);
    Ok(items(
        rows.iter()
            .map(|r| {
                json!({
                    "id": r.id, "at": r.at, "operation": r.operation,
                    "resource_type": r.resource_type, "resource_id": r.resource_id,
                    "outcome": r.outcome, "status": r.status, "detail": r.detail,
                    "request_id": r.request_id,
                })
            })
            .collect(),
        next,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct BindDomains {
    /// Verified domains of the organization this directory is to be
    /// authoritative for (replaces the set bound to it).
    pub domains: Vec<String>,
}

#[utoipa::path(get, path = "/admin/v1/orgs/{org_id}/directories/{directory_id}/domains", tag = "sync status",
    params(DirectoryPath),
    responses((status = 200, description = "{directory_id, domains}: the verified domains whose accounts this directory writes")))]
pub async fn domains(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<DirectoryPath>,
) -> AdminResult<HttpResponse> {
    let db = state.store.reader();
    let d = sync_status::directory_view(db, admin.org_id(), path.directory_id).await?;
    let names = directories::domains_of_directory(db, &d).await?;
    Ok(HttpResponse::Ok().json(json!({"directory_id": d.id, "domains": names})))
}

#[utoipa::path(put, path = "/admin/v1/orgs/{org_id}/directories/{directory_id}/domains", tag = "sync status",
    params(DirectoryPath), request_body = BindDomains,
    responses((status = 200, description = "{directory_id, domains} after the change"),
        (status = 400, description = "invalid_request: not a verified domain of the organization")))]
pub async fn bind_domains(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<DirectoryPath>,
    body: web::Json<BindDomains>,
) -> AdminResult<HttpResponse> {
    let names = body
        .domains
        .iter()
        .map(|n| DomainName::parse(n).map_err(AdminError::invalid))
        .collect::<AdminResult<Vec<_>>>()?;
    let bound =
        service::directories::bind_domains(&state.store, &act(&admin), path.directory_id, &names)
            .await?;
    Ok(HttpResponse::Ok().json(json!({"directory_id": path.directory_id, "domains": bound})))
}
