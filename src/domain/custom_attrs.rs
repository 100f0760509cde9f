//! Values of custom schema extensions on a resource: decoded from a body
//! against the organization's schemas (typed and validated, attribute
//! names canonical, Entra's flat `urn:…:attr` keys accepted), kept as
//! normalised JSON per extension, and mapped to and from stored rows.

use serde_json::{Map, Number, Value};

use super::custom_schema::{CustomSchema, Uniqueness, is_reserved_urn};
use super::json::MAX_MULTI_VALUES;
use super::schema::{AttrDef, AttrType, ENTERPRISE_USER_SCHEMA, Mutability, USER_SCHEMA, registry};
use super::types::MAX_STRING_LEN;
use crate::error::{ScimError, ScimResult};

/// The custom extension values of one resource: (URN as registered,
/// attributes by canonical name), in URN order; and, when decoded from a
/// request, the `uniqueness` rules of the schemas they were decoded with.
#[derive(Debug, Clone, Default)]
pub struct CustomValues(Vec<(String, Map<String, Value>)>, Vec<UniqueRule>);

impl PartialEq for CustomValues {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

/// An attribute (`key` `{urn}:{attr}`, maybe a sub-attribute) whose
/// values must be unique in `scope`.
#[derive(Debug, Clone, PartialEq)]
struct UniqueRule {
    key: String,
    sub: Option<String>,
    scope: Uniqueness,
    case_exact: bool,
}

fn unique_rules(schemas: &[CustomSchema]) -> Vec<UniqueRule> {
    let mut out = Vec::new();
    for schema in schemas {
        for a in &schema.def.attributes {
            let key = format!("{}:{}", schema.id, a.name);
            if let Some(scope) = schema.uniqueness(&a.name, None) {
                out.push(UniqueRule {
                    key: key.clone(),
                    sub: None,
                    scope,
                    case_exact: a.case_exact,
                });
            }
            for s in &a.sub_attributes {
                if let Some(scope) = schema.uniqueness(&a.name, Some(&s.name)) {
                    out.push(UniqueRule {
                        key: key.clone(),
                        sub: Some(s.name.clone()),
                        scope,
                        case_exact: s.case_exact,
                    });
                }
            }
        }
    }
    out
}

/// What a body carried for custom extensions.
#[derive(Debug, Clone, Default)]
pub struct Decoded {
    pub values: CustomValues,
    /// Attribute paths no registered schema knows (dropped).
    pub ignored: Vec<String>,
}

/// One stored scalar: the attribute key `{urn}:{attr}`, the entry position
/// (`-1` for a single-valued attribute), the sub-attribute of a complex
/// value, the JSON kind and the text form.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueRow {
    pub key: String,
    pub position: i32,
    pub sub: Option<String>,
    pub kind: &'static str,
    pub text: String,
}

fn invalid(msg: String) -> ScimError {
    ScimError::invalid_value(msg)
}

/// Whether a body key belongs to no schema the server itself defines.
fn foreign_urn_key(key: &str) -> bool {
    let l = key.to_ascii_lowercase();
    l.starts_with("urn:")
        && !is_reserved_urn(key)
        && !l.starts_with(&format!("{}:", ENTERPRISE_USER_SCHEMA.to_ascii_lowercase()))
        && !l.starts_with(&format!("{}:", USER_SCHEMA.to_ascii_lowercase()))
}

/// Whether a body key (`urn:…`, maybe `urn:…:attr`) belongs to an
/// extension the server does not define itself.
pub fn is_extension_key(key: &str) -> bool {
    foreign_urn_key(key)
}

/// Whether a body (or PATCH) mentions an extension the server does not
/// define itself, so the organization's schemas are worth loading.
pub fn mentions_extension(body: &Value) -> bool {
    match body {
        Value::Object(o) => o.iter().any(|(k, v)| {
            foreign_urn_key(k)
                || (k.eq_ignore_ascii_case("schemas") && mentions_extension(v))
                || (k.eq_ignore_ascii_case("Operations") && mentions_extension(v))
                || ((k.eq_ignore_ascii_case("value") || k.eq_ignore_ascii_case("path"))
                    && mentions_extension(v))
        }),
        Value::Array(a) => a.iter().any(mentions_extension),
        Value::String(s) => foreign_urn_key(s),
        _ => false,
    }
}

/// Top-level keys of a User body that name no attribute of the core
/// schema (and no extension): the server drops them.
pub fn unknown_core_keys(body: &Value) -> Vec<String> {
    let Value::Object(o) = body else {
        return vec![];
    };
    let reg = registry();
    o.keys()
        .filter(|k| {
            !k.to_ascii_lowercase().starts_with("urn:")
                && reg.user.attr(k).is_none()
                && !reg.common.iter().any(|a| a.name.eq_ignore_ascii_case(k))
        })
        .cloned()
        .collect()
}

fn scalar(def: &AttrDef, v: &Value, path: &str) -> ScimResult<Value> {
    let bad = |what: &str| invalid(format!("{path} must be {what}"));
    Ok(match def.ty {
        AttrType::String | AttrType::Reference | AttrType::Binary => match v {
            Value::String(s) if s.chars().count() > MAX_STRING_LEN => {
                return Err(invalid(format!(
                    "{path} is longer than {MAX_STRING_LEN} characters"
                )));
            }
            Value::String(s) => Value::String(s.clone()),
            _ => return Err(bad("a string")),
        },
        AttrType::Boolean => match v {
            Value::Bool(b) => Value::Bool(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
            _ => return Err(bad("a boolean")),
        },
        AttrType::Integer => match v {
            Value::Number(n) if n.is_i64() => Value::Number(n.clone()),
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| bad("an integer"))?,
            _ => return Err(bad("an integer")),
        },
        AttrType::Decimal => {
            let f = match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            match f.and_then(Number::from_f64) {
                Some(n) => Value::Number(n),
                None => return Err(bad("a decimal number")),
            }
        }
        AttrType::DateTime => match v {
            Value::String(s) => {
                let t = chrono::DateTime::parse_from_rfc3339(s.trim())
                    .map_err(|_| bad("an RFC 3339 dateTime (e.g. 2026-12-01T10:00:00Z)"))?;
                Value::String(
                    t.with_timezone(&chrono::Utc)
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                )
            }
            _ => return Err(bad("an RFC 3339 dateTime string")),
        },
        AttrType::Complex => return Err(bad("a simple value")),
    })
}

/// One value of `def` (an entry, for a multi-valued attribute).
fn entry(def: &AttrDef, v: &Value, path: &str, ignored: &mut Vec<String>) -> ScimResult<Value> {
    if def.ty != AttrType::Complex {
        return scalar(def, v, path);
    }
    let Value::Object(o) = v else {
        return Err(invalid(format!("{path} must be an object")));
    };
    let mut out = Map::new();
    for (k, sv) in o {
        let Some(sub) = def.sub(k) else {
            ignored.push(format!("{path}.{k}"));
            continue;
        };
        if sv.is_null() || sub.mutability == Mutability::ReadOnly {
            continue;
        }
        out.insert(
            sub.name.clone(),
            scalar(sub, sv, &format!("{path}.{}", sub.name))?,
        );
    }
    Ok(Value::Object(out))
}

/// The normalised value of `def` as sent, or `None` to leave it unset.
fn attribute(
    def: &AttrDef,
    v: &Value,
    path: &str,
    ignored: &mut Vec<String>,
) -> ScimResult<Option<Value>> {
    if v.is_null() {
        return Ok(None);
    }
    if !def.multi_valued {
        if v.is_array() {
            return Err(invalid(format!("{path} is single-valued, not an array")));
        }
        let e = entry(def, v, path, ignored)?;
        return Ok((!e.as_object().is_some_and(Map::is_empty)).then_some(e));
    }
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    if items.len() > MAX_MULTI_VALUES {
        return Err(invalid(format!(
            "{path} has more than {MAX_MULTI_VALUES} entries"
        )));
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items.into_iter().filter(|i| !i.is_null()) {
        let e = entry(def, item, path, ignored)?;
        if !e.as_object().is_some_and(Map::is_empty) {
            out.push(e);
        }
    }
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

fn schema_for<'a>(schemas: &'a [CustomSchema], urn: &str) -> Option<&'a CustomSchema> {
    schemas.iter().find(|s| s.id.eq_ignore_ascii_case(urn))
}

/// Reads the custom extensions of a resource body: each registered
/// extension's object under its URN, and flat `urn:…:attr[.sub]` keys
/// (Entra). Keys of unregistered extensions are listed in `ignored`.
pub fn decode(body: &Value, schemas: &[CustomSchema]) -> ScimResult<Decoded> {
    let mut ignored = Vec::new();
    let Value::Object(o) = body else {
        return Ok(Decoded::default());
    };
    let mut per: Vec<(String, Map<String, Value>)> = Vec::new();
    let mut set = |schema: &CustomSchema,
                   name: &str,
                   sub: Option<&str>,
                   v: &Value,
                   ignored: &mut Vec<String>|
     -> ScimResult<()> {
        let Some(def) = schema.def.attr(name) else {
            ignored.push(format!("{}:{name}", schema.id));
            return Ok(());
        };
        if def.mutability == Mutability::ReadOnly {
            return Ok(());
        }
        let path = format!("{}:{}", schema.id, def.name);
        let idx = match per.iter().position(|(u, _)| *u == schema.id) {
            Some(i) => i,
            None => {
                per.push((schema.id.clone(), Map::new()));
                per.len() - 1
            }
        };
        let map = &mut per[idx].1;
        match sub {
            None => match attribute(def, v, &path, ignored)? {
                Some(val) => {
                    map.insert(def.name.clone(), val);
                }
                None => {
                    map.remove(&def.name);
                }
            },
            Some(s) => {
                if def.multi_valued || def.ty != AttrType::Complex {
                    return Err(invalid(format!(
                        "{path}.{s}: only a single-valued complex attribute takes a sub-attribute key"
                    )));
                }
                let mut one = Map::new();
                one.insert(s.to_owned(), v.clone());
                if let Some(Value::Object(new)) =
                    attribute(def, &Value::Object(one), &path, ignored)?
                {
                    let slot = map
                        .entry(def.name.clone())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if let Value::Object(existing) = slot {
                        existing.extend(new);
                    }
                }
            }
        }
        Ok(())
    };
    for (key, v) in o {
        if let Some(schema) = schema_for(schemas, key) {
            match v {
                Value::Null => {}
                Value::Object(ext) => {
                    for (k, av) in ext {
                        if k.eq_ignore_ascii_case("schemas") {
                            continue;
                        }
                        set(schema, k, None, av, &mut ignored)?;
                    }
                }
                _ => return Err(invalid(format!("{} must be an object", schema.id))),
            }
            continue;
        }
        if !foreign_urn_key(key) {
            continue;
        }
        // A flat key: `urn:…:attr` or `urn:…:attr.sub`.
        let flat = schemas.iter().find_map(|s| {
            let prefix = format!("{}:", s.id);
            (key.len() > prefix.len() && key[..prefix.len()].eq_ignore_ascii_case(&prefix))
                .then(|| (s, &key[prefix.len()..]))
        });
        match flat {
            Some((schema, rest)) => {
                let (name, sub) = match rest.split_once('.') {
                    Some((n, s)) => (n, Some(s)),
                    None => (rest, None),
                };
                set(schema, name, sub, v, &mut ignored)?;
            }
            None => match v {
                Value::Object(ext) => ignored.extend(
                    ext.keys()
                        .filter(|k| !k.eq_ignore_ascii_case("schemas"))
                        .map(|k| format!("{key}:{k}")),
                ),
                _ => ignored.push(key.clone()),
            },
        }
    }
    per.retain(|(_, m)| !m.is_empty());
    // `required` attributes of an extension the resource carries, and
    // extensions the schema marks required.
    for schema in schemas {
        let present = per.iter().find(|(u, _)| *u == schema.id);
        if schema.required && present.is_none() {
            return Err(invalid(format!("the extension {} is required", schema.id)));
        }
        if let Some((_, m)) = present
            && let Some(missing) = schema
                .def
                .attributes
                .iter()
                .find(|a| a.required && !m.contains_key(&a.name))
        {
            return Err(invalid(format!(
                "{}:{} is required",
                schema.id, missing.name
            )));
        }
    }
    per.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Decoded {
        values: CustomValues(per, unique_rules(schemas)),
        ignored,
    })
}

fn text_of(v: &Value) -> Option<(&'static str, String)> {
    Some(match v {
        Value::String(s) => ("string", s.clone()),
        Value::Bool(b) => ("boolean", b.to_string()),
        Value::Number(n) if n.is_i64() || n.is_u64() => ("integer", n.to_string()),
        Value::Number(n) => ("decimal", n.to_string()),
        _ => return None,
    })
}

fn value_of(kind: &str, text: &str) -> Value {
    match kind {
        "boolean" => Value::Bool(text == "true"),
        "integer" => text
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(text.to_owned())),
        "decimal" => text
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(text.to_owned())),
        _ => Value::String(text.to_owned()),
    }
}

impl CustomValues {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// (URN, attributes) of each extension that has values.
    pub fn extensions(&self) -> impl Iterator<Item = (&str, &Map<String, Value>)> {
        self.0.iter().map(|(u, m)| (u.as_str(), m))
    }

    /// The rows to store.
    pub fn rows(&self) -> Vec<ValueRow> {
        let mut out = Vec::new();
        for (urn, attrs) in &self.0 {
            for (name, v) in attrs {
                let key = format!("{urn}:{name}");
                let mut push = |position: i32, sub: Option<&str>, v: &Value| {
                    if let Some((kind, text)) = text_of(v) {
                        out.push(ValueRow {
                            key: key.clone(),
                            position,
                            sub: sub.map(str::to_owned),
                            kind,
                            text,
                        });
                    }
                };
                let mut entry = |position: i32, v: &Value| match v {
                    Value::Object(o) => o.iter().for_each(|(s, sv)| push(position, Some(s), sv)),
                    other => push(position, None, other),
                };
                match v {
                    Value::Array(items) => items
                        .iter()
                        .enumerate()
                        .for_each(|(i, item)| entry(i32::try_from(i).unwrap_or(i32::MAX), item)),
                    other => entry(-1, other),
                }
            }
        }
        out
    }

    /// Rebuilds the values from stored rows (in key, position order).
    pub fn from_rows<'a>(rows: impl IntoIterator<Item = &'a ValueRow>) -> Self {
        let mut per: Vec<(String, Map<String, Value>)> = Vec::new();
        for r in rows {
            let Some((urn, name)) = r.key.rsplit_once(':') else {
                continue;
            };
            let idx = match per.iter().position(|(u, _)| u == urn) {
                Some(i) => i,
                None => {
                    per.push((urn.to_owned(), Map::new()));
                    per.len() - 1
                }
            };
            let map = &mut per[idx].1;
            let v = value_of(r.kind, &r.text);
            let slot = if r.position < 0 {
                map.entry(name.to_owned()).or_insert(Value::Null)
            } else {
                let list = map
                    .entry(name.to_owned())
                    .or_insert_with(|| Value::Array(vec![]));
                let Value::Array(items) = list else { continue };
                let pos = usize::try_from(r.position).unwrap_or(0);
                while items.len() <= pos {
                    items.push(Value::Null);
                }
                &mut items[pos]
            };
            match &r.sub {
                None => *slot = v,
                Some(s) => {
                    if !slot.is_object() {
                        *slot = Value::Object(Map::new());
                    }
                    if let Value::Object(o) = slot {
                        o.insert(s.clone(), v);
                    }
                }
            }
        }
        for (_, m) in &mut per {
            for v in m.values_mut() {
                if let Value::Array(items) = v {
                    items.retain(|i| !i.is_null());
                }
            }
        }
        per.sort_by(|a, b| a.0.cmp(&b.0));
        Self(per, vec![])
    }

    /// Whether `row` (of [`Self::rows`]) must be unique, and in which
    /// scope: its value in the form compared (lower-cased unless the
    /// attribute is `caseExact`).
    pub fn unique_of(&self, row: &ValueRow) -> Option<(Uniqueness, String)> {
        let rule = self
            .1
            .iter()
            .find(|r| r.key == row.key && r.sub == row.sub)?;
        let text = if rule.case_exact || row.kind != "string" {
            row.text.clone()
        } else {
            row.text.to_lowercase()
        };
        Some((rule.scope, text))
    }

    /// The paths of the unique attributes these values set (for the
    /// message of a uniqueness conflict).
    pub fn unique_paths(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .rows()
            .iter()
            .filter(|r| self.unique_of(r).is_some())
            .map(|r| match &r.sub {
                Some(s) => format!("{}.{s}", r.key),
                None => r.key.clone(),
            })
            .collect();
        out.dedup();
        out
    }
}

impl CustomValues {
    /// Each attribute as a line for people (the admin web page): its full
    /// path and its value as text (entries joined by `, `, sub-attributes
    /// as `name: value`).
    pub fn display_lines(&self) -> Vec<(String, String)> {
        fn text(v: &Value) -> String {
            match v {
                Value::String(s) => s.clone(),
                Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
                Value::Object(o) => o
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", text(v)))
                    .collect::<Vec<_>>()
                    .join("; "),
                other => other.to_string(),
            }
        }
        self.0
            .iter()
            .flat_map(|(urn, attrs)| {
                attrs
                    .iter()
                    .map(move |(name, v)| (format!("{urn}:{name}"), text(v)))
            })
            .collect()
    }
}

/// The kind tag rows carry, for a stored text form.
pub fn row_kind(tag: &str) -> &'static str {
    match tag {
        "boolean" => "boolean",
        "integer" => "integer",
        "decimal" => "decimal",
        _ => "string",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ACME: &str = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";

    fn schemas() -> Vec<CustomSchema> {
        vec![
            CustomSchema::parse(
                &json!({"id": ACME, "attributes": [
                    {"name": "costCode", "type": "string"},
                    {"name": "badge", "type": "integer"},
                    {"name": "ratio", "type": "decimal"},
                    {"name": "vip", "type": "boolean"},
                    {"name": "since", "type": "dateTime"},
                    {"name": "tags", "type": "string", "multiValued": true},
                    {"name": "desk", "type": "complex", "subAttributes": [
                        {"name": "building", "type": "string"}, {"name": "floor", "type": "integer"}]},
                    {"name": "phones", "type": "complex", "multiValued": true, "subAttributes": [
                        {"name": "value", "type": "string"}, {"name": "kind", "type": "string"}]},
                    {"name": "fixed", "type": "string", "mutability": "readOnly"},
                ]}),
                None,
            )
            .unwrap(),
        ]
    }

    #[test]
    fn values_are_typed_canonical_and_round_trip_through_rows() {
        let body = json!({
            ACME.to_uppercase(): {"schemas": [ACME], "COSTCODE": "CC-42", "badge": "7", "ratio": 1.5,
                "vip": "True", "since": "2026-12-01T10:00:00+01:00", "tags": ["a", "b"],
                "desk": {"building": "B1", "floor": 3}, "fixed": "ignored",
                "phones": [{"value": "1", "kind": "work"}, {"value": "2"}]},
            format!("{ACME}:desk.floor"): 4,
            "urn:ietf:params:scim:schemas:extension:other:2.0:User": {"x": 1},
            "urn:example:flat:thing": "y",
        });
        let d = decode(&body, &schemas()).unwrap();
        let (urn, m) = d.values.extensions().next().unwrap();
        assert_eq!(urn, ACME);
        assert_eq!(
            Value::Object(m.clone()),
            json!({"costCode": "CC-42", "badge": 7, "ratio": 1.5, "vip": true,
                "since": "2026-12-01T09:00:00.000Z", "tags": ["a", "b"],
                "desk": {"building": "B1", "floor": 4},
                "phones": [{"value": "1", "kind": "work"}, {"value": "2"}]})
        );
        assert_eq!(
            d.ignored,
            vec![
                "urn:example:flat:thing".to_owned(),
                "urn:ietf:params:scim:schemas:extension:other:2.0:User:x".to_owned(),
            ]
        );
        let rows = d.values.rows();
        assert_eq!(CustomValues::from_rows(&rows), d.values);
    }

    #[test]
    fn unique_attributes_are_marked_in_the_scope_and_case_they_compare() {
        let schemas = vec![
            CustomSchema::parse(
                &json!({"id": ACME, "attributes": [
                    {"name": "badgeId", "type": "string", "uniqueness": "server"},
                    {"name": "token", "type": "string", "caseExact": true, "uniqueness": "global"},
                    {"name": "desk", "type": "complex", "subAttributes": [
                        {"name": "code", "type": "integer", "uniqueness": "server"},
                        {"name": "floor", "type": "integer"}]},
                    {"name": "costCode", "type": "string"},
                ]}),
                None,
            )
            .unwrap(),
        ];
        let body = json!({ACME: {"badgeId": "B-7", "token": "AbC", "costCode": "X",
            "desk": {"code": "12", "floor": 3}}});
        let v = decode(&body, &schemas).unwrap().values;
        let marks: Vec<(String, Option<(Uniqueness, String)>)> = v
            .rows()
            .iter()
            .map(|r| {
                (
                    format!(
                        "{}{}",
                        r.key.rsplit(':').next().unwrap(),
                        r.sub
                            .as_deref()
                            .map(|s| format!(".{s}"))
                            .unwrap_or_default()
                    ),
                    v.unique_of(r),
                )
            })
            .collect();
        assert_eq!(
            marks,
            vec![
                ("badgeId".into(), Some((Uniqueness::Server, "b-7".into()))),
                ("costCode".into(), None),
                ("desk.code".into(), Some((Uniqueness::Server, "12".into()))),
                ("desk.floor".into(), None),
                ("token".into(), Some((Uniqueness::Global, "AbC".into()))),
            ]
        );
        assert_eq!(
            v.unique_paths(),
            vec![
                format!("{ACME}:badgeId"),
                format!("{ACME}:desk.code"),
                format!("{ACME}:token")
            ]
        );
        // Read back from rows, values carry no rule (they are not written).
        assert_eq!(
            CustomValues::from_rows(&v.rows()).unique_of(&v.rows()[0]),
            None
        );
    }

    #[test]
    fn display_lines_flatten_values_for_people() {
        let body = json!({ACME: {"costCode": "CC", "badge": 7, "tags": ["a", "b"],
            "desk": {"building": "B1", "floor": 3}, "vip": true}});
        let v = decode(&body, &schemas()).unwrap().values;
        assert_eq!(
            v.display_lines(),
            vec![
                (format!("{ACME}:badge"), "7".to_owned()),
                (format!("{ACME}:costCode"), "CC".to_owned()),
                (format!("{ACME}:desk"), "building: B1; floor: 3".to_owned()),
                (format!("{ACME}:tags"), "a, b".to_owned()),
                (format!("{ACME}:vip"), "true".to_owned()),
            ]
        );
    }

    #[test]
    fn wrong_types_name_the_attribute() {
        for (v, want) in [
            (json!({"badge": "seven"}), "badge must be an integer"),
            (json!({"vip": 3}), "vip must be a boolean"),
            (json!({"since": "yesterday"}), "since must be an RFC 3339"),
            (json!({"costCode": ["a"]}), "costCode is single-valued"),
            (json!({"desk": "B1"}), "desk must be an object"),
            (json!({"tags": [1]}), "tags must be a string"),
        ] {
            let err = decode(&json!({ACME: v}), &schemas()).unwrap_err();
            assert_eq!(err.status(), 400);
            assert!(err.detail().contains(want), "{}", err.detail());
        }
    }

    #[test]
    fn mentions_extension_spots_foreign_urns_only() {
        assert!(!mentions_extension(
            &json!({"userName": "x", "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
            ENTERPRISE_USER_SCHEMA: {"department": "D"}})
        ));
        assert!(mentions_extension(&json!({ACME: {}})));
        assert!(mentions_extension(&json!({format!("{ACME}:badge"): 1})));
        assert!(mentions_extension(
            &json!({"Operations": [{"op": "add", "path": format!("{ACME}:badge"), "value": 1}]})
        ));
        assert!(mentions_extension(
            &json!({"Operations": [{"op": "add", "value": {format!("{ACME}:badge"): 1}}]})
        ));
    }
}
