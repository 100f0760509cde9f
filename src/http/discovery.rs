//! `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`: the documents
//! of `scim-schemas/`, with locations made absolute and limits from the
//! configuration.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use super::auth::Directory;
use super::scim::{directory_base, list_response, scim_response};
use crate::domain::schema::{
    ENTERPRISE_USER_SCHEMA_JSON, GROUP_RESOURCE_TYPE_JSON, GROUP_SCHEMA_JSON,
    SERVICE_PROVIDER_CONFIG_JSON, USER_RESOURCE_TYPE_JSON, USER_SCHEMA_JSON,
};
use crate::error::{ScimError, ScimResult};
use crate::startup::AppState;

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

fn listing(texts: Vec<&'static str>, base: &str) -> ScimResult<Value> {
    let items = texts
        .into_iter()
        .map(|t| doc(t, base))
        .collect::<ScimResult<Vec<_>>>()?;
    Ok(list_response(items.len() as u64, 1, items))
}

fn one(texts: Vec<&'static str>, base: &str, id: &str, what: &str) -> ScimResult<Value> {
    for t in texts {
        let v = doc(t, base)?;
        if v.get("id")
            .and_then(Value::as_str)
            .is_some_and(|i| i.eq_ignore_ascii_case(id))
        {
            return Ok(v);
        }
    }
    Err(ScimError::not_found(format!("no {what} {id:?}")))
}

pub async fn resource_types_list(
    state: web::Data<AppState>,
    dir: Directory,
    req: HttpRequest,
) -> ScimResult<HttpResponse> {
    let base = directory_base(&state, &req, dir.directory_id);
    Ok(scim_response(
        StatusCode::OK,
        &listing(resource_types(), &base)?,
    ))
}

pub async fn resource_type(
    state: web::Data<AppState>,
    dir: Directory,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> ScimResult<HttpResponse> {
    let base = directory_base(&state, &req, dir.directory_id);
    let v = one(resource_types(), &base, &path.1, "ResourceType")?;
    Ok(scim_response(StatusCode::OK, &v))
}

pub async fn schemas_list(
    state: web::Data<AppState>,
    dir: Directory,
    req: HttpRequest,
) -> ScimResult<HttpResponse> {
    let base = directory_base(&state, &req, dir.directory_id);
    Ok(scim_response(StatusCode::OK, &listing(schemas(), &base)?))
}

pub async fn schema(
    state: web::Data<AppState>,
    dir: Directory,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> ScimResult<HttpResponse> {
    let base = directory_base(&state, &req, dir.directory_id);
    let v = one(schemas(), &base, &path.1, "Schema")?;
    Ok(scim_response(StatusCode::OK, &v))
}
