//! `/Bulk` (RFC 7644 §3.7): the BulkRequest envelope (schemas,
//! `failOnErrors`, size limits) in, `service::bulk` runs the operations,
//! the BulkResponse out.

use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::auth::Directory;
use super::body::ScimBody;
use super::scim::{directory_base, limits, scim_response};
use crate::domain::json::{self, JsonObject};
use crate::error::{ScimError, ScimResult};
use crate::http::AppState;
use crate::service;

pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

pub async fn bulk(
    state: web::Data<AppState>,
    dir: Directory,
    req: HttpRequest,
    body: ScimBody,
) -> ScimResult<HttpResponse> {
    let settings = &state.settings;
    let Value::Object(mut map) = body.into_value()? else {
        return Err(ScimError::invalid_syntax(
            "the request body must be a JSON object",
        ));
    };
    // Moved out: the operations go to the writer thread.
    let raw_ops = json::take(&mut map, "Operations");
    let o = JsonObject::new(&map, "BulkRequest");
    if let Some(schemas) = o.get("schemas") {
        let ok = schemas.as_array().is_some_and(|l| {
            l.iter().any(|s| {
                s.as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(BULK_REQUEST))
            })
        });
        if !ok {
            return Err(ScimError::invalid_value(format!(
                "schemas must be [\"{BULK_REQUEST}\"]"
            )));
        }
    }
    let fail_on_errors = match o.get("failOnErrors") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(n) if n >= 1 => Some(n),
            _ => {
                return Err(ScimError::invalid_value(
                    "failOnErrors must be a positive integer",
                ));
            }
        },
        Some(_) => {
            return Err(ScimError::invalid_value(
                "failOnErrors must be a positive integer",
            ));
        }
    };
    let Some(Value::Array(raw_ops)) = raw_ops else {
        return Err(ScimError::invalid_syntax(
            "a BulkRequest needs an Operations array",
        ));
    };
    if raw_ops.len() > settings.bulk_max_operations {
        return Err(ScimError::PayloadTooLarge(format!(
            "the request has {} operations; at most {} are accepted (maxOperations)",
            raw_ops.len(),
            settings.bulk_max_operations
        )));
    }
    let limits = limits(&state);
    let base = directory_base(&state, &req, dir.directory_id);
    let request_id = req
        .extensions()
        .get::<super::observe::RequestId>()
        .map(|r| r.0.clone());
    let results = service::bulk::bulk(
        &state.store,
        &dir,
        request_id,
        base,
        raw_ops,
        fail_on_errors,
        limits,
        settings.bulk_max_passwords,
    )
    .await?;
    Ok(scim_response(
        StatusCode::OK,
        &json!({"schemas": [BULK_RESPONSE], "Operations": results}),
    ))
}
