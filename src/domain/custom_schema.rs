//! Custom schema extensions an organization registers: an RFC 7643 §7
//! Schema document, validated once into a [`CustomSchema`] (the normalised
//! document the server serves, and the attribute definitions it uses).

use serde_json::{Map, Value, json};

use super::schema::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, ResourceKind, SchemaDef, USER_SCHEMA};
use crate::error::{ScimError, ScimResult};

/// Most attributes (and sub-attributes of one attribute) a schema may have.
pub const MAX_ATTRIBUTES: usize = 100;
/// Most custom schemas one organization may register.
pub const MAX_SCHEMAS_PER_ORG: usize = 20;

const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
const TYPES: [&str; 7] = [
    "string",
    "boolean",
    "integer",
    "decimal",
    "dateTime",
    "reference",
    "complex",
];
const MUTABILITY: [&str; 4] = ["readOnly", "readWrite", "immutable", "writeOnly"];
const RETURNED: [&str; 4] = ["always", "never", "default", "request"];
const ATTRIBUTE_KEYS: [&str; 12] = [
    "name",
    "type",
    "multiValued",
    "description",
    "required",
    "caseExact",
    "mutability",
    "returned",
    "uniqueness",
    "canonicalValues",
    "referenceTypes",
    "subAttributes",
];

/// Scope in which a custom attribute's values must be unique
/// (`uniqueness` of its definition; `none` has no scope).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    /// Among the resources of one directory (one SCIM service provider
    /// as the IdP sees it).
    Server,
    /// Among the resources of every directory of the organization (the
    /// schema is the organization's; values of other organizations are
    /// never compared, which would tell one tenant about another's data).
    Global,
}

/// A validated custom schema extension.
#[derive(Debug, Clone)]
pub struct CustomSchema {
    /// The URN, as registered.
    pub id: String,
    pub resource_type: ResourceKind,
    /// `required` of the extension in the ResourceType's `schemaExtensions`.
    pub required: bool,
    /// The Schema document as served (without `meta`).
    pub document: Value,
    /// The attribute definitions, parsed from `document`.
    pub def: SchemaDef,
}

fn invalid(msg: impl Into<String>) -> ScimError {
    ScimError::invalid_value(msg)
}

/// RFC 7643 §2.1 ATTRNAME: ALPHA *(nameChar); `$ref` for sub-attributes.
fn valid_name(name: &str, sub: bool) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    (first_ok
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        || (sub && name == "$ref")
}

/// Whether `urn` is one the server defines itself (core, enterprise,
/// messages): a custom schema can't take it.
pub fn is_reserved_urn(urn: &str) -> bool {
    let l = urn.to_ascii_lowercase();
    [USER_SCHEMA, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA]
        .iter()
        .any(|u| u.eq_ignore_ascii_case(urn))
        || l.starts_with("urn:ietf:params:scim:schemas:core:")
        || l.starts_with("urn:ietf:params:scim:api:")
}

fn resource_kind_from_urn(urn: &str) -> Option<ResourceKind> {
    let last = urn.rsplit(':').next()?;
    if last.eq_ignore_ascii_case("User") {
        Some(ResourceKind::User)
    } else if last.eq_ignore_ascii_case("Group") {
        Some(ResourceKind::Group)
    } else {
        None
    }
}

/// Parses `User` / `Group` (case-insensitive).
pub fn parse_resource_type(s: &str) -> ScimResult<ResourceKind> {
    if s.eq_ignore_ascii_case("User") {
        Ok(ResourceKind::User)
    } else if s.eq_ignore_ascii_case("Group") {
        Ok(ResourceKind::Group)
    } else {
        Err(invalid(format!(
            "resource type must be User or Group, got {s:?}"
        )))
    }
}

pub fn resource_type_name(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "User",
        ResourceKind::Group => "Group",
    }
}

fn opt_bool(o: &Map<String, Value>, key: &str, at: &str) -> ScimResult<bool> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(invalid(format!("{at}: {key} must be true or false"))),
    }
}

fn opt_string<'a>(o: &'a Map<String, Value>, key: &str, at: &str) -> ScimResult<Option<&'a str>> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(format!("{at}: {key} must be a string"))),
    }
}

fn one_of(
    o: &Map<String, Value>,
    key: &str,
    allowed: &[&str],
    default: &str,
    at: &str,
) -> ScimResult<String> {
    match opt_string(o, key, at)? {
        None => Ok(default.to_owned()),
        Some(v) => allowed
            .iter()
            .find(|a| a.eq_ignore_ascii_case(v))
            .map(|a| (*a).to_owned())
            .ok_or_else(|| {
                invalid(format!(
                    "{at}: {key} {v:?} is not one of {}",
                    allowed.join(", ")
                ))
            }),
    }
}

/// The complex attribute a sub-attribute belongs to.
#[derive(Clone, Copy)]
struct Parent<'a> {
    name: &'a str,
    multi_valued: bool,
}

fn attribute(v: &Value, parent: Option<Parent<'_>>) -> ScimResult<Value> {
    let Value::Object(o) = v else {
        return Err(invalid("each attribute must be an object"));
    };
    let name = match o.get("name") {
        Some(Value::String(n)) if valid_name(n, parent.is_some()) => n.clone(),
        Some(Value::String(n)) => {
            return Err(invalid(format!(
                "attribute name {n:?} is not valid: a letter, then letters, digits, _ or - (at most 64)"
            )));
        }
        _ => return Err(invalid("each attribute needs a name")),
    };
    let at = match parent {
        Some(p) => format!("attribute {}.{name}", p.name),
        None => format!("attribute {name}"),
    };
    if let Some(k) = o.keys().find(|k| !ATTRIBUTE_KEYS.contains(&k.as_str())) {
        return Err(invalid(format!("{at}: unknown characteristic {k:?}")));
    }
    let ty = match opt_string(o, "type", &at)? {
        Some(t) => TYPES
            .iter()
            .find(|a| a.eq_ignore_ascii_case(t))
            .map(|a| (*a).to_owned())
            .ok_or_else(|| {
                invalid(format!(
                    "{at}: type {t:?} is not one of {}",
                    TYPES.join(", ")
                ))
            })?,
        None => return Err(invalid(format!("{at} needs a type"))),
    };
    let uniqueness = one_of(o, "uniqueness", &["none", "server", "global"], "none", &at)?;
    let multi_valued = opt_bool(o, "multiValued", &at)?;
    if uniqueness != "none" {
        // Enforced with a unique index over one scalar per resource: a
        // simple single-valued attribute, or a sub-attribute of a
        // single-valued complex one.
        if ty == "complex" {
            return Err(invalid(format!(
                "{at}: uniqueness applies to simple attributes; set it on the sub-attributes"
            )));
        }
        if multi_valued || parent.is_some_and(|p| p.multi_valued) {
            return Err(invalid(format!(
                "{at}: uniqueness {uniqueness:?} is enforced on single-valued attributes only"
            )));
        }
    }
    let mut out = json!({
        "name": name,
        "type": ty,
        "multiValued": multi_valued,
        "description": opt_string(o, "description", &at)?.unwrap_or_default(),
        "required": opt_bool(o, "required", &at)?,
        "caseExact": opt_bool(o, "caseExact", &at)?,
        "mutability": one_of(o, "mutability", &MUTABILITY, "readWrite", &at)?,
        "returned": one_of(o, "returned", &RETURNED, "default", &at)?,
        "uniqueness": uniqueness,
    });
    let Some(obj) = out.as_object_mut() else {
        return Err(ScimError::internal("attribute is not an object"));
    };
    match o.get("canonicalValues") {
        None | Some(Value::Null) => {}
        Some(Value::Array(vals)) if ty == "string" || ty == "reference" => {
            if vals.iter().any(|v| !v.is_string()) {
                return Err(invalid(format!("{at}: canonicalValues must be strings")));
            }
            obj.insert("canonicalValues".into(), Value::Array(vals.clone()));
        }
        Some(Value::Array(_)) => {
            return Err(invalid(format!(
                "{at}: canonicalValues apply to string attributes only"
            )));
        }
        Some(_) => {
            return Err(invalid(format!(
                "{at}: canonicalValues must be an array of strings"
            )));
        }
    }
    if ty == "reference" {
        let refs = match o.get("referenceTypes") {
            None | Some(Value::Null) => vec![Value::String("external".into())],
            Some(Value::Array(r)) if r.iter().all(Value::is_string) && !r.is_empty() => r.clone(),
            Some(_) => {
                return Err(invalid(format!(
                    "{at}: referenceTypes must be a non-empty array of strings"
                )));
            }
        };
        obj.insert("referenceTypes".into(), Value::Array(refs));
    }
    let subs = match o.get("subAttributes") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(s)) => s.clone(),
        Some(_) => {
            return Err(invalid(format!("{at}: subAttributes must be an array")));
        }
    };
    if ty == "complex" {
        if parent.is_some() {
            return Err(invalid(format!(
                "{at}: complex attributes can't be nested (one level only)"
            )));
        }
        if subs.is_empty() {
            return Err(invalid(format!(
                "{at}: a complex attribute needs subAttributes"
            )));
        }
        obj.insert(
            "subAttributes".into(),
            Value::Array(attribute_list(
                &subs,
                Some(Parent {
                    name: &name,
                    multi_valued,
                }),
            )?),
        );
    } else if !subs.is_empty() {
        return Err(invalid(format!(
            "{at}: only complex attributes have subAttributes"
        )));
    }
    Ok(out)
}

fn attribute_list(items: &[Value], parent: Option<Parent<'_>>) -> ScimResult<Vec<Value>> {
    if items.len() > MAX_ATTRIBUTES {
        return Err(invalid(format!(
            "at most {MAX_ATTRIBUTES} attributes are accepted"
        )));
    }
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for item in items {
        let a = attribute(item, parent)?;
        let name = a["name"].as_str().unwrap_or_default();
        if out.iter().any(|o| {
            o["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        }) {
            return Err(invalid(format!(
                "attribute {name:?} is defined twice (names are case-insensitive)"
            )));
        }
        out.push(a);
    }
    Ok(out)
}

impl CustomSchema {
    /// Validates a Schema document. `resource_type`: as given by the
    /// admin, else taken from the URN's last segment (`…:User`, `…:Group`).
    pub fn parse(doc: &Value, resource_type: Option<&str>) -> ScimResult<Self> {
        let Value::Object(o) = doc else {
            return Err(ScimError::invalid_syntax(
                "a schema document must be a JSON object",
            ));
        };
        let id = match o.get("id") {
            Some(Value::String(s)) => s.trim().to_owned(),
            _ => return Err(invalid("the schema needs an id (its URN)")),
        };
        if !id.to_ascii_lowercase().starts_with("urn:")
            || id.len() > 256
            || id.chars().any(|c| c.is_whitespace() || c.is_control())
            || id.ends_with(':')
        {
            return Err(invalid(format!(
                "the schema id {id:?} must be a URN (urn:…, no spaces, at most 256 characters)"
            )));
        }
        if is_reserved_urn(&id) {
            return Err(ScimError::uniqueness(format!(
                "{id} is a schema the server defines; choose another URN"
            )));
        }
        let kind = match resource_type {
            Some(t) => parse_resource_type(t)?,
            None => resource_kind_from_urn(&id).ok_or_else(|| {
                invalid(format!(
                    "name the resource type (User or Group) of {id}: its URN does not end in :User or :Group"
                ))
            })?,
        };
        let name = opt_string(o, "name", "schema")?.unwrap_or_default();
        let description = opt_string(o, "description", "schema")?.unwrap_or_default();
        let required = opt_bool(o, "required", "schema")?;
        let attributes = match o.get("attributes") {
            Some(Value::Array(a)) if !a.is_empty() => attribute_list(a, None)?,
            _ => return Err(invalid("the schema needs a non-empty attributes array")),
        };
        let document = json!({
            "schemas": [SCHEMA_SCHEMA],
            "id": id,
            "name": name,
            "description": description,
            "attributes": attributes,
        });
        let def: SchemaDef = serde_json::from_value(document.clone())
            .map_err(|e| ScimError::internal(format!("normalised schema does not parse: {e}")))?;
        Ok(Self {
            id,
            resource_type: kind,
            required,
            document,
            def,
        })
    }

    /// The `uniqueness` of an attribute (or of a sub-attribute of it), by
    /// canonical name; `None` for `none`.
    pub fn uniqueness(&self, attr: &str, sub: Option<&str>) -> Option<Uniqueness> {
        let named = |list: &Value, name: &str| -> Option<Value> {
            list.as_array()?
                .iter()
                .find(|a| a["name"].as_str() == Some(name))
                .cloned()
        };
        let a = named(&self.document["attributes"], attr)?;
        let a = match sub {
            Some(s) => named(&a["subAttributes"], s)?,
            None => a,
        };
        match a["uniqueness"].as_str() {
            Some("server") => Some(Uniqueness::Server),
            Some("global") => Some(Uniqueness::Global),
            _ => None,
        }
    }

    /// Rebuilds a stored schema (validated when it was registered).
    pub fn from_stored(document: &str, resource_type: &str) -> ScimResult<Self> {
        let doc: Value = serde_json::from_str(document)
            .map_err(|e| ScimError::internal(format!("stored schema is not JSON: {e}")))?;
        Self::parse(&doc, Some(resource_type))
    }

    /// The document to store: the served one plus `required`.
    pub fn stored_document(&self) -> String {
        let mut d = self.document.clone();
        if let Some(o) = d.as_object_mut() {
            o.insert("required".into(), Value::Bool(self.required));
        }
        d.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acme() -> Value {
        json!({
            "id": "urn:ietf:params:scim:schemas:extension:acme:2.0:User",
            "name": "AcmeUser",
            "attributes": [
                {"name": "costCode", "type": "string"},
                {"name": "badge", "type": "integer", "returned": "DEFAULT"},
                {"name": "tags", "type": "string", "multiValued": true, "canonicalValues": ["a", "b"]},
                {"name": "desk", "type": "complex", "subAttributes": [
                    {"name": "building", "type": "string"},
                    {"name": "floor", "type": "integer"},
                ]},
            ],
        })
    }

    #[test]
    fn a_valid_document_is_normalised() {
        let s = CustomSchema::parse(&acme(), None).unwrap();
        assert_eq!(s.resource_type, ResourceKind::User);
        assert!(!s.required);
        let badge = &s.document["attributes"][1];
        assert_eq!(badge["returned"], "default");
        assert_eq!(badge["mutability"], "readWrite");
        assert_eq!(badge["multiValued"], false);
        assert_eq!(s.def.attr("COSTCODE").unwrap().name, "costCode");
        assert_eq!(
            s.def.attr("desk").unwrap().sub("floor").unwrap().name,
            "floor"
        );
        let again = CustomSchema::from_stored(&s.stored_document(), "User").unwrap();
        assert_eq!(again.document, s.document);
    }

    #[test]
    fn bad_documents_are_refused_naming_the_problem() {
        let cases: Vec<(Value, &str)> = vec![
            (
                json!({"id": "acme", "attributes": [{"name": "a", "type": "string"}]}),
                "URN",
            ),
            (
                json!({"id": "urn:x:acme:Thing", "attributes": [{"name": "a", "type": "string"}]}),
                "resource type",
            ),
            (json!({"id": "urn:x:User", "attributes": []}), "attributes"),
            (
                json!({"id": "urn:x:User", "attributes": [{"name": "1a", "type": "string"}]}),
                "not valid",
            ),
            (
                json!({"id": "urn:x:User", "attributes": [{"name": "a", "type": "binary"}]}),
                "type",
            ),
            (
                json!({"id": "urn:x:User", "attributes": [{"name": "a"}]}),
                "needs a type",
            ),
            (
                json!({"id": "urn:x:User", "attributes": [{"name": "a", "type": "string"}, {"name": "A", "type": "string"}]}),
                "twice",
            ),
            (
                json!({"id": "urn:x:User", "attributes": [{"name": "a", "type": "string", "mutablity": "readOnly"}]}),
                "unknown characteristic",
            ),
            (
                json!({"id": "urn:x:User", "attributes": [{"name": "a", "type": "string", "mutability": "sometimes"}]}),
                "mutability",
            ),
            (
                json!({"id": "urn:x:User", "attributes": [{"name": "a", "type": "string", "multiValued": "yes"}]}),
                "multiValued",
            ),
            (
                json!({"id": "urn:x:User", "attributes": [{"name": "a", "type": "complex"}]}),
                "subAttributes",
            ),
            (
                json!({"id": "urn:x:User", "attributes": [{"name": "a", "type": "complex", "subAttributes": [
                {"name": "b", "type": "complex", "subAttributes": [{"name": "c", "type": "string"}]}]}]}),
                "nested",
            ),
            (
                json!({"id": "urn:x:User", "attributes": [{"name": "a", "type": "string", "subAttributes": [{"name": "b", "type": "string"}]}]}),
                "only complex",
            ),
            (
                json!({"id": "urn:x:User", "attributes": [{"name": "a", "type": "integer", "canonicalValues": ["1"]}]}),
                "canonicalValues",
            ),
            (
                json!({"id": "urn:x:User", "attributes": [{"name": "a", "type": "string", "multiValued": true, "uniqueness": "server"}]}),
                "single-valued",
            ),
            (
                json!({"id": "urn:x:User", "attributes": [{"name": "a", "type": "complex", "multiValued": true, "subAttributes": [
                {"name": "b", "type": "string", "uniqueness": "global"}]}]}),
                "single-valued",
            ),
            (
                json!({"id": "urn:x:User", "attributes": [{"name": "a", "type": "complex", "uniqueness": "server", "subAttributes": [
                {"name": "b", "type": "string"}]}]}),
                "sub-attributes",
            ),
            (
                json!({"id": "urn:x:User", "attributes": [{"name": "a", "type": "string", "uniqueness": "always"}]}),
                "uniqueness",
            ),
            (json!(["not an object"]), "object"),
        ];
        for (doc, want) in cases {
            let err = CustomSchema::parse(&doc, None).unwrap_err();
            assert_eq!(err.status(), 400, "{doc}");
            assert!(err.detail().contains(want), "{doc}: {}", err.detail());
        }
        // A URN of the server's own schemas is a collision (409 uniqueness).
        for urn in [
            USER_SCHEMA.to_owned(),
            ENTERPRISE_USER_SCHEMA.to_uppercase(),
            GROUP_SCHEMA.to_owned(),
        ] {
            let doc = json!({"id": urn, "attributes": [{"name": "a", "type": "string"}]});
            let err = CustomSchema::parse(&doc, None).unwrap_err();
            assert_eq!(err.status(), 409, "{doc}");
            assert!(err.detail().contains("server defines"), "{}", err.detail());
        }
    }

    #[test]
    fn uniqueness_server_and_global_are_kept_per_attribute() {
        let doc = json!({"id": "urn:x:acme:User", "attributes": [
            {"name": "badgeId", "type": "string", "uniqueness": "Server"},
            {"name": "email2", "type": "string", "uniqueness": "global"},
            {"name": "desk", "type": "complex", "subAttributes": [
                {"name": "code", "type": "string", "uniqueness": "server"},
                {"name": "floor", "type": "integer"}]},
            {"name": "plain", "type": "string"},
        ]});
        let s = CustomSchema::parse(&doc, None).unwrap();
        assert_eq!(s.uniqueness("badgeId", None), Some(Uniqueness::Server));
        assert_eq!(s.uniqueness("email2", None), Some(Uniqueness::Global));
        assert_eq!(s.uniqueness("desk", Some("code")), Some(Uniqueness::Server));
        assert_eq!(s.uniqueness("desk", Some("floor")), None);
        assert_eq!(s.uniqueness("plain", None), None);
        assert_eq!(s.document["attributes"][0]["uniqueness"], "server");
    }

    #[test]
    fn the_resource_type_may_be_named_explicitly() {
        let doc =
            json!({"id": "urn:x:acme:groupext", "attributes": [{"name": "a", "type": "string"}]});
        let s = CustomSchema::parse(&doc, Some("group")).unwrap();
        assert_eq!(s.resource_type, ResourceKind::Group);
    }
}
