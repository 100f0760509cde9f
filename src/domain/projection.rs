//! `attributes` / `excludedAttributes` (RFC 7644 §3.9) over a resource's
//! JSON, honouring each attribute's `returned` characteristic.

use serde_json::{Map, Value};

use super::custom_schema::CustomSchema;
use super::filter::AttrPath;
use super::schema::{AttrDef, ENTERPRISE_USER_SCHEMA, ResourceKind, Returned, registry};

/// Which attributes a response carries.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    pub attributes: Vec<AttrPath>,
    pub excluded: Vec<AttrPath>,
}

impl Projection {
    pub fn is_default(&self) -> bool {
        self.attributes.is_empty() && self.excluded.is_empty()
    }

    /// Whether `attr` (a top-level attribute of the core schema) is left out,
    /// so the store can skip loading it (e.g. group `members`).
    pub fn excludes(&self, kind: ResourceKind, attr: &str) -> bool {
        let Some(def) = registry().core(kind).attr(attr) else {
            return false;
        };
        let named = |p: &AttrPath| p.urn.is_none() && p.attr.eq_ignore_ascii_case(attr);
        if def.returned == Returned::Always {
            return false;
        }
        if !self.attributes.is_empty() {
            return !self.attributes.iter().any(named);
        }
        self.excluded
            .iter()
            .any(|p| named(p) && p.sub_attr.is_none())
            || def.returned == Returned::Request
    }

    pub fn apply(&self, kind: ResourceKind, resource: Value) -> Value {
        self.apply_with(kind, resource, &[])
    }

    /// [`Self::apply`] knowing the organization's custom extensions, whose
    /// attributes are projected (and `returned` honoured) like the
    /// enterprise ones.
    pub fn apply_with(
        &self,
        kind: ResourceKind,
        resource: Value,
        custom: &[CustomSchema],
    ) -> Value {
        let Value::Object(map) = resource else {
            return resource;
        };
        let reg = registry();
        let mut out = Map::new();
        let mut dropped: Vec<String> = Vec::new();
        for (key, value) in map {
            if let Some(schema) = custom
                .iter()
                .find(|s| s.resource_type == kind && s.id.eq_ignore_ascii_case(&key))
            {
                if let Value::Object(ext) = value {
                    let kept = self.object(&schema.def.attributes, Some(&schema.id), ext);
                    if kept.is_empty() {
                        dropped.push(key);
                    } else {
                        out.insert(key, Value::Object(kept));
                    }
                }
                continue;
            }
            if key.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA) && kind == ResourceKind::User {
                if let Value::Object(ext) = value {
                    let kept = self.object(
                        &reg.enterprise.attributes,
                        Some(ENTERPRISE_USER_SCHEMA),
                        ext,
                    );
                    if !kept.is_empty() {
                        out.insert(key, Value::Object(kept));
                    }
                }
                continue;
            }
            let def = reg.core(kind).attr(&key).or_else(|| {
                reg.common
                    .iter()
                    .find(|a| a.name.eq_ignore_ascii_case(&key))
            });
            let Some(def) = def else {
                out.insert(key, value);
                continue;
            };
            if let Some(v) = self.attribute(def, None, value) {
                out.insert(key, v);
            }
        }
        // `schemas` lists only the extensions still present.
        if kind == ResourceKind::User
            && !out.contains_key(ENTERPRISE_USER_SCHEMA)
            && let Some(Value::Array(schemas)) = out.get_mut("schemas")
        {
            schemas.retain(|s| s.as_str() != Some(ENTERPRISE_USER_SCHEMA));
        }
        if let Some(Value::Array(schemas)) = out.get_mut("schemas") {
            schemas.retain(|s| !s.as_str().is_some_and(|s| dropped.iter().any(|d| d == s)));
        }
        Value::Object(out)
    }

    fn object(
        &self,
        defs: &[AttrDef],
        urn: Option<&str>,
        map: Map<String, Value>,
    ) -> Map<String, Value> {
        let mut out = Map::new();
        for (key, value) in map {
            let Some(def) = defs.iter().find(|d| d.name.eq_ignore_ascii_case(&key)) else {
                continue;
            };
            if let Some(v) = self.attribute(def, urn, value) {
                out.insert(key, v);
            }
        }
        out
    }

    fn matches(p: &AttrPath, urn: Option<&str>, attr: &str) -> bool {
        let urn_ok = match (&p.urn, urn) {
            (None, _) => true,
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            (Some(a), None) => {
                registry().user.id.eq_ignore_ascii_case(a)
                    || registry().group.id.eq_ignore_ascii_case(a)
            }
        };
        // A bare extension URN names the whole extension.
        let whole_ext = p.attr.is_empty() && urn.is_some() && urn_ok;
        whole_ext || (urn_ok && p.attr.eq_ignore_ascii_case(attr))
    }

    /// The attribute's value after projection, or `None` to drop it.
    fn attribute(&self, def: &AttrDef, urn: Option<&str>, value: Value) -> Option<Value> {
        match def.returned {
            Returned::Never => return None,
            Returned::Always => return Some(value),
            _ => {}
        }
        let named: Vec<&AttrPath> = self
            .attributes
            .iter()
            .filter(|p| Self::matches(p, urn, &def.name))
            .collect();
        if !self.attributes.is_empty() {
            if named.is_empty() {
                return None;
            }
            // Whole attribute asked for, or only some sub-attributes.
            if named.iter().any(|p| p.sub_attr.is_none()) {
                return Some(self.strip_excluded_subs(def, urn, value));
            }
            let subs: Vec<&str> = named.iter().filter_map(|p| p.sub_attr.as_deref()).collect();
            return Some(keep_subs(def, value, &subs));
        }
        if def.returned == Returned::Request {
            return None;
        }
        let excluded: Vec<&AttrPath> = self
            .excluded
            .iter()
            .filter(|p| Self::matches(p, urn, &def.name))
            .collect();
        if excluded.iter().any(|p| p.sub_attr.is_none()) {
            return None;
        }
        Some(self.strip_excluded_subs(def, urn, value))
    }

    fn strip_excluded_subs(&self, def: &AttrDef, urn: Option<&str>, value: Value) -> Value {
        let subs: Vec<&str> = self
            .excluded
            .iter()
            .filter(|p| Self::matches(p, urn, &def.name))
            .filter_map(|p| p.sub_attr.as_deref())
            .collect();
        let never: Vec<&str> = def
            .sub_attributes
            .iter()
            .filter(|s| s.returned == Returned::Never)
            .map(|s| s.name.as_str())
            .collect();
        drop_subs(value, &[subs, never].concat())
    }
}

fn map_entries(value: Value, f: &dyn Fn(Map<String, Value>) -> Map<String, Value>) -> Value {
    match value {
        Value::Object(o) => Value::Object(f(o)),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|i| match i {
                    Value::Object(o) => Value::Object(f(o)),
                    other => other,
                })
                .collect(),
        ),
        other => other,
    }
}

fn keep_subs(def: &AttrDef, value: Value, subs: &[&str]) -> Value {
    let always: Vec<String> = def
        .sub_attributes
        .iter()
        .filter(|s| s.returned == Returned::Always)
        .map(|s| s.name.clone())
        .collect();
    map_entries(value, &|o| {
        o.into_iter()
            .filter(|(k, _)| {
                subs.iter().any(|s| s.eq_ignore_ascii_case(k)) || always.iter().any(|a| a == k)
            })
            .collect()
    })
}

fn drop_subs(value: Value, subs: &[&str]) -> Value {
    if subs.is_empty() {
        return value;
    }
    map_entries(value, &|o| {
        o.into_iter()
            .filter(|(k, _)| !subs.iter().any(|s| s.eq_ignore_ascii_case(k)))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::filter::parse_attr_path;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_USER_SCHEMA],
            "id": "1",
            "userName": "jane",
            "name": {"givenName": "Jane", "familyName": "Doe"},
            "emails": [{"value": "j@x.io", "type": "work"}],
            "password": "secret",
            ENTERPRISE_USER_SCHEMA: {"department": "D"},
            "meta": {"resourceType": "User"},
        })
    }

    fn paths(list: &[&str]) -> Vec<AttrPath> {
        list.iter().map(|p| parse_attr_path(p).unwrap()).collect()
    }

    #[test]
    fn attributes_keep_always_returned_ones() {
        let p = Projection {
            attributes: paths(&["userName", "name.givenName"]),
            excluded: vec![],
        };
        let out = p.apply(ResourceKind::User, user());
        assert_eq!(
            out,
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "1", "userName": "jane", "name": {"givenName": "Jane"}})
        );
    }

    #[test]
    fn excluded_attributes_and_never_returned_password() {
        let p = Projection {
            attributes: vec![],
            excluded: paths(&["emails", ENTERPRISE_USER_SCHEMA, "id"]),
        };
        let out = p.apply(ResourceKind::User, user());
        assert!(out.get("emails").is_none());
        assert!(out.get("password").is_none());
        assert!(out.get(ENTERPRISE_USER_SCHEMA).is_none());
        assert_eq!(out["id"], "1");
        assert_eq!(
            out["schemas"],
            json!(["urn:ietf:params:scim:schemas:core:2.0:User"])
        );
    }

    #[test]
    fn urn_qualified_extension_attributes() {
        let p = Projection {
            attributes: paths(&[
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            ]),
            excluded: vec![],
        };
        let out = p.apply(ResourceKind::User, user());
        assert_eq!(out[ENTERPRISE_USER_SCHEMA], json!({"department": "D"}));
        assert!(out.get("userName").is_none());
    }
}
