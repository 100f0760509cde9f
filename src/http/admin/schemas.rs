//! `/schemas`: the organization's custom schema extensions (RFC 7643 §7
//! Schema documents for User or Group), served by each of its directories.

use actix_web::{HttpResponse, web};
use entity::org_schema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::AdminPrincipal;
use super::{commit, items};
use crate::admin_error::AdminResult;
use crate::domain::custom_schema::CustomSchema;
use crate::startup::AppState;
use crate::store::audit::{self, AuditEntry};
use crate::store::{org_schemas, sync_status};

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

fn render(m: &org_schema::Model) -> AdminResult<Value> {
    let s = org_schemas::parse(m)?;
    Ok(json!({
        "urn": m.urn,
        "resource_type": m.resource_type,
        "required": s.required,
        "created_at": m.created_at,
        "schema": s.document,
    }))
}

#[utoipa::path(get, path = "/admin/v1/orgs/{org_id}/schemas", tag = "schemas",
    params(super::OrgPath),
    responses((status = 200, description = "The organization's custom schema extensions")))]
pub async fn list(state: web::Data<AppState>, admin: AdminPrincipal) -> AdminResult<HttpResponse> {
    let list = org_schemas::list(state.store.reader(), admin.org_id()).await?;
    let rendered = list.iter().map(render).collect::<AdminResult<Vec<_>>>()?;
    Ok(items(rendered, None))
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
    let schema = CustomSchema::parse(&body, params.resource_type.as_deref())?;
    let tx = state.store.begin_write(&admin.origin()).await?;
    let m = org_schemas::add(&tx, admin.org_id(), &schema).await?;
    audit::record(
        &tx,
        AuditEntry::new(
            admin.org_id(),
            admin.actor(),
            "schema.add",
            "schema",
            &m.urn,
        ),
    )
    .await?;
    commit(tx).await?;
    Ok(HttpResponse::Created().json(render(&m)?))
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
    let tx = state.store.begin_write(&admin.origin()).await?;
    org_schemas::remove(&tx, admin.org_id(), &path.urn).await?;
    audit::record(
        &tx,
        AuditEntry::new(
            admin.org_id(),
            admin.actor(),
            "schema.remove",
            "schema",
            &path.urn,
        ),
    )
    .await?;
    commit(tx).await?;
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
    let d = sync_status::directory_of(db, admin.org_id(), path.directory_id).await?;
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
    let tx = state.store.begin_write(&admin.origin()).await?;
    org_schemas::set_reject_unknown_attributes(&tx, admin.org_id(), path.directory_id, body.reject)
        .await?;
    audit::record(
        &tx,
        AuditEntry::new(
            admin.org_id(),
            admin.actor(),
            if body.reject {
                "directory.reject_unknown_attributes"
            } else {
                "directory.accept_unknown_attributes"
            },
            "directory",
            path.directory_id.to_string(),
        ),
    )
    .await?;
    commit(tx).await?;
    Ok(HttpResponse::Ok().json(unknown_attributes_body(path.directory_id, body.reject)))
}
