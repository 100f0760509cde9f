//! The organization's audit log: every admin write, newest first.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::auth::AdminPrincipal;
use super::{int_cursor, items, page_limit, split_page};
use crate::admin_error::AdminResult;
use crate::http::AppState;
use crate::store::audit::{self, AuditFilter};

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// e.g. `account.deactivate`.
    pub action: Option<String>,
    /// e.g. an account id.
    pub target_id: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/admin/v1/orgs/{org_id}/audit-log", tag = "audit",
    params(super::OrgPath, AuditParams),
    responses((status = 200, description = "Newest first: {items, next_cursor}")))]
pub async fn list(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    params: web::Query<AuditParams>,
) -> AdminResult<HttpResponse> {
    let limit = page_limit(&state, params.limit.as_deref())?;
    let before = int_cursor(params.cursor.as_deref())?;
    let f = AuditFilter {
        action: params.action.clone(),
        target_id: params.target_id.clone(),
    };
    let rows = audit::page(state.store.reader(), admin.org_id(), &f, before, limit + 1).await?;
    let (rows, next) = split_page(rows, limit, |r| r.id);
    Ok(items(
        rows.iter()
            .map(|r| {
                json!({
                    "id": r.id, "at": r.at, "actor_type": r.actor_type, "actor_id": r.actor_id,
                    "action": r.action, "target_type": r.target_type, "target_id": r.target_id,
                    "detail": r.detail,
                })
            })
            .collect(),
        next,
    ))
}
