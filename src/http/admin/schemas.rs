//! `/schemas`: the organization's custom schema extensions (RFC 7643 §7
//! Schema documents for User or Group), served by each of its directories.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::accounts::act;
use super::auth::AdminPrincipal;
use super::items;
use crate::admin_error::{AdminError, AdminResult};
use crate::domain::custom_schema::CustomSchema;
use crate::http::AppState;
use crate::service::schemas;
use crate::store::org_schemas::{self, SchemaView};
use crate::store::sync_status;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SchemaPath {
    pub org_id: uuid::Uuid,
    /// The schema URN, e.g. `urn:ietf:params:scim:schemas:extension:acme:2.0:User`.
    pub urn: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AddParams {
    /// `User` or `Group`; by default from the URN's last segment.
    pub resource_type: Option<String>,
}

fn render(m: &SchemaView) -> Value {
    json!({
        "urn": m.urn,
        "resource_type": m.resource_type,
        "required": m.required,
        "created_at": m.created_at,
        "schema": m.document,
    })
}

#[utoipa::path(get, path = "/admin/v1/orgs/{org_id}/schemas", tag = "schemas",
    params(super::OrgPath),
    responses((status = 200, description = "The organization's custom schema extensions")))]
pub async fn list(state: web::Data<AppState>, admin: AdminPrincipal) -> AdminResult<HttpResponse> {
    let list = org_schemas::views(state.store.reader(), admin.org_id()).await?;
    Ok(items(list.iter().map(render).collect(), None))
}

#[utoipa::path(post, path = "/admin/v1/orgs/{org_id}/schemas", tag = "schemas",
    params(super::OrgPath, AddParams),
    request_body(content = Object, description = "An RFC 7643 §7 Schema document"),
    responses((status = 201, description = "Registered; every directory of the org serves it"),
        (status = 400, description = "invalid_request: the document is not a valid schema"),
        (status = 409, description = "already_exists: the URN is taken (registered, or a core/enterprise schema)")))]
pub async fn add(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    params: web::Query<AddParams>,
    body: web::Json<Value>,
) -> AdminResult<HttpResponse> {
    let schema = CustomSchema::parse(&body, params.resource_type.as_deref())
        .map_err(AdminError::from_protocol)?;
    let m = schemas::add(&state.store, &act(&admin), &schema).await?;
    Ok(HttpResponse::Created().json(render(&m)))
}

#[utoipa::path(delete, path = "/admin/v1/orgs/{org_id}/schemas/{urn}", tag = "schemas",
    params(SchemaPath),
    responses((status = 204, description = "Removed: no directory serves it any more"),
        (status = 404, description = "not_found")))]
pub async fn remove(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<SchemaPath>,
) -> AdminResult<HttpResponse> {
    schemas::remove(&state.store, &act(&admin), &path.urn).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct UnknownAttributes {
    /// true: attributes no registered schema knows are refused with 400
    /// invalidSyntax; false (the default): dropped, with a sync-log warning.
    pub reject: bool,
}

fn unknown_attributes_body(directory_id: uuid::Uuid, reject: bool) -> Value {
    json!({"directory_id": directory_id, "reject_unknown_attributes": reject})
}

#[utoipa::path(get, path = "/admin/v1/orgs/{org_id}/directories/{directory_id}/unknown-attributes",
    tag = "schemas", params(super::directories::DirectoryPath),
    responses((status = 200, description = "Whether the directory refuses attributes no registered schema knows")))]
pub async fn get_unknown_attributes(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<super::directories::DirectoryPath>,
) -> AdminResult<HttpResponse> {
    let db = state.store.reader();
    let d = sync_status::directory_view(db, admin.org_id(), path.directory_id).await?;
    let reject = org_schemas::rejects_unknown_attributes(db, d.id).await?;
    Ok(HttpResponse::Ok().json(unknown_attributes_body(d.id, reject)))
}

#[utoipa::path(put, path = "/admin/v1/orgs/{org_id}/directories/{directory_id}/unknown-attributes",
    tag = "schemas", params(super::directories::DirectoryPath), request_body = UnknownAttributes,
    responses((status = 200, description = "Set"), (status = 404, description = "not_found")))]
pub async fn set_unknown_attributes(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<super::directories::DirectoryPath>,
    body: web::Json<UnknownAttributes>,
) -> AdminResult<HttpResponse> {
    schemas::set_unknown_attributes(&state.store, &act(&admin), path.directory_id, body.reject)
        .await?;
    Ok(HttpResponse::Ok().json(unknown_attributes_body(path.directory_id, body.reject)))
}
