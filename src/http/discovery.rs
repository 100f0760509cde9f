//! `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`: the documents
//! of `scim-schemas/`, with locations made absolute and limits from the
//! configuration, plus the custom schema extensions of the directory's
//! organization.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::auth::Directory;
use super::scim::{directory_base, list_response, scim_response};
use crate::domain::custom_schema::{CustomSchema, resource_type_name};
use crate::domain::schema::{
    ENTERPRISE_USER_SCHEMA_JSON, GROUP_RESOURCE_TYPE_JSON, GROUP_SCHEMA_JSON,
    SERVICE_PROVIDER_CONFIG_JSON, USER_RESOURCE_TYPE_JSON, USER_SCHEMA_JSON,
};
use crate::error::{ScimError, ScimResult};
use crate::http::AppState;
use crate::store::org_schemas;

fn doc(text: &str, base: &str) -> ScimResult<Value> {
    let mut v: Value = serde_json::from_str(text).map_err(ScimError::internal)?;
    if let Some(Value::String(loc)) = v.pointer_mut("/meta/location") {
        *loc = format!("{base}{loc}");
    }
    Ok(v)
}

fn resource_types() -> Vec<&'static str> {
    vec![USER_RESOURCE_TYPE_JSON, GROUP_RESOURCE_TYPE_JSON]
}

fn schemas() -> Vec<&'static str> {
    vec![
        USER_SCHEMA_JSON,
        ENTERPRISE_USER_SCHEMA_JSON,
        GROUP_SCHEMA_JSON,
    ]
}

pub async fn service_provider_config(
    state: web::Data<AppState>,
    dir: Directory,
    req: HttpRequest,
) -> ScimResult<HttpResponse> {
    let base = directory_base(&state, &req, dir.directory_id);
    let mut v = doc(SERVICE_PROVIDER_CONFIG_JSON, &base)?;
    if let (Some(o), Some(url)) = (v.as_object_mut(), &state.settings.documentation_url) {
        o.insert("documentationUri".into(), Value::String(url.clone()));
    }
    for pointer in [
        "/filter/maxResults",
        "/pagination/defaultPageSize",
        "/pagination/maxPageSize",
    ] {
        if let Some(n) = v.pointer_mut(pointer) {
            *n = Value::from(state.settings.max_results);
        }
    }
    if let Some(n) = v.pointer_mut("/bulk/maxOperations") {
        *n = Value::from(state.settings.bulk_max_operations);
    }
    if let Some(n) = v.pointer_mut("/bulk/maxPayloadSize") {
        *n = Value::from(state.settings.bulk_max_payload_bytes);
    }
    Ok(scim_response(StatusCode::OK, &v))
}

/// A custom schema as served: its document with `meta`.
fn custom_doc(s: &CustomSchema, base: &str) -> Value {
    let mut v = s.document.clone();
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "meta".into(),
            json!({"resourceType": "Schema", "location": format!("{base}/Schemas/{}", s.id)}),
        );
    }
    v
}

/// The directory's schemas: core and enterprise, then its org's own.
async fn all_schemas(state: &AppState, dir: &Directory, base: &str) -> ScimResult<Vec<Value>> {
    let mut out = schemas()
        .into_iter()
        .map(|t| doc(t, base))
        .collect::<ScimResult<Vec<_>>>()?;
    for s in org_schemas::schemas(state.store.reader(), dir.org_id).await? {
        out.push(custom_doc(&s, base));
    }
    Ok(out)
}

/// The resource types, with the org's extensions in `schemaExtensions`.
async fn all_resource_types(
    state: &AppState,
    dir: &Directory,
    base: &str,
) -> ScimResult<Vec<Value>> {
    let custom = org_schemas::schemas(state.store.reader(), dir.org_id).await?;
    let mut out = Vec::new();
    for t in resource_types() {
        let mut v = doc(t, base)?;
        let name = v
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let extra: Vec<Value> = custom
            .iter()
            .filter(|s| resource_type_name(s.resource_type) == name)
            .map(|s| json!({"schema": s.id, "required": s.required}))
            .collect();
        if !extra.is_empty()
            && let Some(o) = v.as_object_mut()
        {
            let list = o
                .entry("schemaExtensions")
                .or_insert_with(|| Value::Array(vec![]));
            if let Value::Array(l) = list {
                l.extend(extra);
            }
        }
        out.push(v);
    }
    Ok(out)
}

fn listing(items: Vec<Value>) -> Value {
    list_response(items.len() as u64, 1, items)
}

fn one(items: Vec<Value>, id: &str, what: &str) -> ScimResult<Value> {
    items
        .into_iter()
        .find(|v| {
            v.get("id")
                .and_then(Value::as_str)
                .is_some_and(|i| i.eq_ignore_ascii_case(id))
        })
        .ok_or_else(|| ScimError::not_found(format!("no {what} {id:?}")))
}

pub async fn resource_types_list(
    state: web::Data<AppState>,
    dir: Directory,
    req: HttpRequest,
) -> ScimResult<HttpResponse> {
    let base = directory_base(&state, &req, dir.directory_id);
    let items = all_resource_types(&state, &dir, &base).await?;
    Ok(scim_response(StatusCode::OK, &listing(items)))
}

pub async fn resource_type(
    state: web::Data<AppState>,
    dir: Directory,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> ScimResult<HttpResponse> {
    let base = directory_base(&state, &req, dir.directory_id);
    let v = one(
        all_resource_types(&state, &dir, &base).await?,
        &path.1,
        "ResourceType",
    )?;
    Ok(scim_response(StatusCode::OK, &v))
}

pub async fn schemas_list(
    state: web::Data<AppState>,
    dir: Directory,
    req: HttpRequest,
) -> ScimResult<HttpResponse> {
    let base = directory_base(&state, &req, dir.directory_id);
    let items = all_schemas(&state, &dir, &base).await?;
    Ok(scim_response(StatusCode::OK, &listing(items)))
}

pub async fn schema(
    state: web::Data<AppState>,
    dir: Directory,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> ScimResult<HttpResponse> {
    let base = directory_base(&state, &req, dir.directory_id);
    let v = one(all_schemas(&state, &dir, &base).await?, &path.1, "Schema")?;
    Ok(scim_response(StatusCode::OK, &v))
}
