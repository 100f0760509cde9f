//! `POST …/.search` bodies (RFC 7644 §3.4.3) into the same raw query the
//! GET parameters give.

use serde_json::Value;

use crate::domain::json::JsonObject;
use crate::domain::query::RawListQuery;
use crate::domain::schema::SEARCH_REQUEST_SCHEMA;
use crate::error::{ScimError, ScimResult};

fn list(v: Option<&Value>, key: &str) -> ScimResult<Option<String>> {
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
        attributes: list(o.get("attributes"), "attributes")?,
        excluded_attributes: list(o.get("excludedAttributes"), "excludedAttributes")?,
        cursor: scalar(o.get("cursor"), "cursor")?,
    })
}
