//! Reading SCIM JSON bodies: case-insensitive attribute names, typed
//! accessors that turn wrong JSON types into `invalidValue` errors, and the
//! leniency real IdPs need (booleans as strings, single objects for lists).

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::schema::ResourceKind;
use super::types::MAX_STRING_LEN;
use super::user::{MultiValue, fix_primary};
use crate::error::{ScimError, ScimResult};

/// Most entries one multi-valued attribute may hold.
pub const MAX_MULTI_VALUES: usize = 100;

/// A JSON object read with case-insensitive keys.
pub struct JsonObject<'a> {
    map: &'a Map<String, Value>,
    context: &'a str,
}

impl<'a> JsonObject<'a> {
    pub fn new(map: &'a Map<String, Value>, context: &'a str) -> Self {
        Self { map, context }
    }

    pub fn get(&self, key: &str) -> Option<&'a Value> {
        entry(self.map, key).map(|(_, v)| v)
    }

    pub fn string(&self, key: &str) -> ScimResult<Option<String>> {
        opt_string(self.get(key), key, self.context)
    }

    pub fn boolean(&self, key: &str) -> ScimResult<Option<bool>> {
        bool_field(self.get(key), key)
    }
}

/// `key`'s entry in `map`: the key as written, else in any case
/// (attribute names are case-insensitive, RFC 7643 §2.1).
fn entry<'m>(map: &'m Map<String, Value>, key: &str) -> Option<(&'m String, &'m Value)> {
    map.get_key_value(key)
        .or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)))
}

/// Takes `key`'s value out of `map`, the key found as
/// [`JsonObject::get`] finds it.
pub fn take(map: &mut Map<String, Value>, key: &str) -> Option<Value> {
    let found = entry(map, key)?.0.clone();
    map.remove(&found)
}

pub fn opt_string(v: Option<&Value>, key: &str, context: &str) -> ScimResult<Option<String>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() > MAX_STRING_LEN => Err(
            ScimError::invalid_value(format!("{key} is longer than {MAX_STRING_LEN} characters")),
        ),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ScimError::invalid_value(format!(
            "{key} must be a string (in {context})"
        ))),
    }
}

/// Booleans, also as the strings "true"/"false" in any case (Entra).
pub fn bool_field(v: Option<&Value>, key: &str) -> ScimResult<Option<bool>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(_) => Err(ScimError::invalid_value(format!("{key} must be a boolean"))),
    }
}

/// A multi-valued attribute of `{value, display, type, primary}` entries.
/// A single object is taken as a one-entry list.
pub fn read_multi(v: Option<&Value>, attr: &str) -> ScimResult<Vec<MultiValue>> {
    let items: Vec<&Value> = match v {
        None | Some(Value::Null) => return Ok(vec![]),
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(_)) => vec![o],
        Some(_) => {
            return Err(ScimError::invalid_value(format!(
                "{attr} must be an array of objects"
            )));
        }
    };
    if items.len() > MAX_MULTI_VALUES {
        return Err(ScimError::invalid_value(format!(
            "{attr} has more than {MAX_MULTI_VALUES} entries"
        )));
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(o) = item else {
            return Err(ScimError::invalid_value(format!(
                "each entry of {attr} must be an object"
            )));
        };
        let o = JsonObject::new(o, attr);
        let entry = MultiValue {
            value: o.string("value")?,
            display: o.string("display")?,
            kind: o.string("type")?,
            primary: o.boolean("primary")?,
        };
        // Entries with nothing in them carry no information (Okta sends
        // `{"type": "work"}` when a profile field is empty).
        if entry.value.is_some() || entry.display.is_some() {
            out.push(entry);
        }
    }
    fix_primary(&mut out, |m| &mut m.primary);
    Ok(out)
}

/// The body as an object; `schemas`, when present, must be a list of
/// strings naming the resource's core schema.
pub fn to_object(body: &Value, kind: ResourceKind) -> ScimResult<&Map<String, Value>> {
    let Value::Object(map) = body else {
        return Err(ScimError::invalid_syntax(
            "the request body must be a JSON object",
        ));
    };
    let core = super::schema::registry().core(kind).id.as_str();
    let o = JsonObject::new(map, "body");
    match o.get("schemas") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            let mut has_core = false;
            for s in list {
                match s {
                    Value::String(s) if s.eq_ignore_ascii_case(core) => has_core = true,
                    Value::String(_) => {}
                    _ => {
                        return Err(ScimError::invalid_value(
                            "schemas must be a list of strings",
                        ));
                    }
                }
            }
            if !has_core {
                return Err(ScimError::invalid_value(format!(
                    "schemas must include {core}"
                )));
            }
        }
        Some(_) => {
            return Err(ScimError::invalid_value(
                "schemas must be a list of strings",
            ));
        }
    }
    Ok(map)
}

/// The body without the named read-only keys (compared case-insensitively):
/// borrowed when it has none of them (what clients send), a copy without
/// them otherwise.
pub fn strip_readonly<'a>(body: &'a Value, keys: &[&str]) -> Cow<'a, Value> {
    let readonly = |k: &str| keys.iter().any(|r| r.eq_ignore_ascii_case(k));
    match body {
        Value::Object(map) if map.keys().any(|k| readonly(k)) => Cow::Owned(Value::Object(
            map.iter()
                .filter(|(k, _)| !readonly(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )),
        other => Cow::Borrowed(other),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn take_finds_a_key_as_get_does() {
        let Value::Object(mut map) = json!({"Data": 1, "data": 2, "OTHER": 3}) else {
            unreachable!()
        };
        // Exactly first, else in any case; what it took is gone.
        assert_eq!(JsonObject::new(&map, "t").get("data"), Some(&json!(2)));
        assert_eq!(take(&mut map, "data"), Some(json!(2)));
        assert_eq!(JsonObject::new(&map, "t").get("data"), Some(&json!(1)));
        assert_eq!(take(&mut map, "data"), Some(json!(1)));
        assert_eq!(take(&mut map, "data"), None);
        assert_eq!(take(&mut map, "other"), Some(json!(3)));
        assert!(map.is_empty());
    }
}
