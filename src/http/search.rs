//! A resource type's list: `GET /{Resources}` and `POST
//! /{Resources}/.search` (RFC 7644 §3.4.3, its body read into the same raw
//! query the GET parameters give) both end in the type's [`Search`].

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use super::AppState;
use super::auth::Directory;
use super::body::ScimBody;
use super::scim::ListParams;

use crate::domain::json::JsonObject;
use crate::domain::query::RawListQuery;
use crate::domain::schema::SEARCH_REQUEST_SCHEMA;
use crate::error::{ScimError, ScimResult};

/// How one resource type answers a list query.
pub trait Search {
    fn search(
        state: &AppState,
        dir: &Directory,
        req: &HttpRequest,
        raw: &RawListQuery,
    ) -> impl Future<Output = ScimResult<HttpResponse>>;
}

/// `GET /{Resources}?filter=…`.
pub async fn list<S: Search>(
    state: web::Data<AppState>,
    dir: Directory,
    req: HttpRequest,
    params: web::Query<ListParams>,
) -> ScimResult<HttpResponse> {
    let raw: RawListQuery = params.into_inner().into();
    S::search(&state, &dir, &req, &raw).await
}

/// `POST /{Resources}/.search`.
pub async fn search_post<S: Search>(
    state: web::Data<AppState>,
    dir: Directory,
    req: HttpRequest,
    body: ScimBody,
) -> ScimResult<HttpResponse> {
    let raw = raw_query_from_body(&body.into_value()?)?;
    S::search(&state, &dir, &req, &raw).await
}

fn string_list(v: Option<&Value>, key: &str) -> ScimResult<Option<String>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for i in items {
                match i {
                    Value::String(s) => out.push(s.clone()),
                    _ => {
                        return Err(ScimError::invalid_value(format!(
                            "{key} must be a list of strings"
                        )));
                    }
                }
            }
            Ok(Some(out.join(",")))
        }
        Some(_) => Err(ScimError::invalid_value(format!(
            "{key} must be a list of strings"
        ))),
    }
}

fn scalar(v: Option<&Value>, key: &str) -> ScimResult<Option<String>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(ScimError::invalid_value(format!(
            "{key} must be a string or number"
        ))),
    }
}

pub fn raw_query_from_body(body: &Value) -> ScimResult<RawListQuery> {
    let Value::Object(map) = body else {
        return Err(ScimError::invalid_syntax(
            "the request body must be a JSON object",
        ));
    };
    let o = JsonObject::new(map, "SearchRequest");
    if let Some(schemas) = o.get("schemas") {
        let ok = schemas.as_array().is_some_and(|l| {
            l.iter().any(|s| {
                s.as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(SEARCH_REQUEST_SCHEMA))
            })
        });
        if !ok {
            return Err(ScimError::invalid_value(format!(
                "schemas must be [\"{SEARCH_REQUEST_SCHEMA}\"]"
            )));
        }
    }
    Ok(RawListQuery {
        filter: scalar(o.get("filter"), "filter")?,
        start_index: scalar(o.get("startIndex"), "startIndex")?,
        count: scalar(o.get("count"), "count")?,
        sort_by: scalar(o.get("sortBy"), "sortBy")?,
        sort_order: scalar(o.get("sortOrder"), "sortOrder")?,
        attributes: string_list(o.get("attributes"), "attributes")?,
        excluded_attributes: string_list(o.get("excludedAttributes"), "excludedAttributes")?,
        cursor: scalar(o.get("cursor"), "cursor")?,
    })
}
