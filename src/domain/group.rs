//! The SCIM Group resource and its PATCH dialects. Membership changes are
//! turned into commands (add/remove these ids, remove all, replace) so the
//! store can apply them without ever loading the member list.

use serde_json::{Map, Value, json};

use super::custom_attrs;
use super::filter::{CompValue, CompareOp, Filter, PatchPath};
use super::json::{JsonObject, opt_string, to_object};
use super::patch::{OpKind, PatchOp};
use super::schema::{GROUP_SCHEMA, ResourceKind};
use super::types::ResourceId;
use super::user::Meta;
use crate::error::{ScimError, ScimResult};

/// Most members one request may name (bodies are size-limited too).
pub const MAX_MEMBERS_PER_REQUEST: usize = 50_000;

/// A decoded Group body (POST/PUT).
#[derive(Debug, Clone)]
pub struct GroupInput {
    pub display_name: String,
    pub external_id: Option<String>,
    /// SCIM ids of the member Users.
    pub members: MemberIds,
    /// The body's keys of extensions the server does not define itself
    /// (`urn:…:Group` objects, flat `urn:…:attr` keys), decoded against
    /// the organization's schemas by the store.
    pub extensions: Map<String, Value>,
}

fn display_name(v: Option<&Value>) -> ScimResult<String> {
    match v {
        Some(Value::String(s)) if !s.trim().is_empty() => {
            if s.chars().count() > 256 {
                return Err(ScimError::invalid_value(
                    "displayName is longer than 256 characters",
                ));
            }
            Ok(s.clone())
        }
        Some(Value::String(_)) | None | Some(Value::Null) => {
            Err(ScimError::invalid_value("displayName is required"))
        }
        Some(_) => Err(ScimError::invalid_value("displayName must be a string")),
    }
}

/// The members a request names: SCIM User ids, parsed once. A value that
/// is not an id names no User: adding it is refused like any id that is
/// not a User of the directory (when the others are resolved, so the
/// order of checks stays that of the request's use case), removing it is
/// a no-op (IdPs retry removals).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberIds {
    /// Sorted, without duplicates.
    ids: Vec<ResourceId>,
    /// The first value (in sorted order) that is not an id.
    not_an_id: Option<String>,
}

impl MemberIds {
    pub fn parse(mut values: Vec<String>) -> Self {
        values.sort();
        let mut ids = Vec::with_capacity(values.len());
        let mut not_an_id = None;
        for v in values {
            match ResourceId::parse(&v) {
                Some(id) => ids.push(id),
                None => {
                    not_an_id.get_or_insert(v);
                }
            }
        }
        ids.sort_unstable();
        ids.dedup();
        Self { ids, not_an_id }
    }

    /// Every one, to be added: all must be ids (else 400 naming the
    /// first that is not).
    pub fn to_add(&self) -> ScimResult<&[ResourceId]> {
        match &self.not_an_id {
            Some(v) => Err(not_a_member(v)),
            None => Ok(&self.ids),
        }
    }

    /// The ones to remove: values that are not ids can't be members.
    pub fn to_remove(&self) -> &[ResourceId] {
        &self.ids
    }
}

/// 400 for a member `value` that is not a User of the directory.
pub fn not_a_member(value: &str) -> ScimError {
    ScimError::invalid_value(format!("member {value:?} is not a User of this directory"))
}

/// Member ids from a `members` value: a list of `{value, type?}` objects
/// (a single object is taken as a list of one).
pub fn member_ids(v: Option<&Value>) -> ScimResult<MemberIds> {
    let items: Vec<&Value> = match v {
        None | Some(Value::Null) => return Ok(MemberIds::default()),
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(_)) => vec![o],
        Some(_) => {
            return Err(ScimError::invalid_value(
                "members must be a list of objects with a value",
            ));
        }
    };
    if items.len() > MAX_MEMBERS_PER_REQUEST {
        return Err(ScimError::invalid_value(format!(
            "at most {MAX_MEMBERS_PER_REQUEST} members can be named in one request"
        )));
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(o) = item else {
            return Err(ScimError::invalid_value(
                "each member must be an object with a value",
            ));
        };
        let o = JsonObject::new(o, "members");
        if let Some(t) = o.string("type")?
            && !t.eq_ignore_ascii_case("User")
        {
            return Err(ScimError::invalid_value(format!(
                "member type {t:?} is not supported: members must be Users"
            )));
        }
        match o.string("value")? {
            Some(v) if !v.is_empty() => out.push(v),
            _ => {
                return Err(ScimError::invalid_value(
                    "each member needs a value (a User id)",
                ));
            }
        }
    }
    Ok(MemberIds::parse(out))
}

impl GroupInput {
    pub fn from_json(body: &Value) -> ScimResult<Self> {
        let obj = to_object(body, ResourceKind::Group)?;
        let o = JsonObject::new(obj, "Group");
        Ok(Self {
            display_name: display_name(o.get("displayName"))?,
            external_id: opt_string(o.get("externalId"), "externalId", "Group")?,
            members: member_ids(o.get("members"))?,
            extensions: extension_keys(body),
        })
    }
}

/// The keys of `body` that belong to extensions the server does not
/// define itself.
fn extension_keys(body: &Value) -> Map<String, Value> {
    match body {
        Value::Object(o) => o
            .iter()
            .filter(|(k, _)| custom_attrs::is_extension_key(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        _ => Map::new(),
    }
}

/// What a Group PATCH changes, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupChange {
    SetDisplayName(String),
    SetExternalId(Option<String>),
    AddMembers(MemberIds),
    RemoveMembers(MemberIds),
    RemoveAllMembers,
    ReplaceMembers(MemberIds),
    /// An operation on attributes of a custom extension (its path or its
    /// path-less keys name one): applied to the group's extension values
    /// against the organization's schemas, never touching members.
    Custom(Box<PatchOp>),
}

fn is(attr: &str, name: &str) -> bool {
    attr.eq_ignore_ascii_case(name)
}

/// `members[value eq "a" or value eq "b"]` → the ids it names.
fn member_filter_ids(f: &Filter) -> ScimResult<Vec<String>> {
    match f {
        Filter::Or(a, b) => {
            let mut ids = member_filter_ids(a)?;
            ids.extend(member_filter_ids(b)?);
            Ok(ids)
        }
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::String(v),
        } if path.urn.is_none() && path.sub_attr.is_none() && is(&path.attr, "value") => {
            Ok(vec![v.clone()])
        }
        _ => Err(ScimError::invalid_filter(format!(
            "member filters must be value eq \"<id>\" (joined by or), got {f}"
        ))),
    }
}

fn path_change(
    op: OpKind,
    path: &PatchPath,
    value: Option<&Value>,
) -> ScimResult<Vec<GroupChange>> {
    let attr = &path.attr;
    if let Some(urn) = &attr.urn
        && custom_attrs::is_extension_key(urn)
    {
        return Ok(vec![GroupChange::Custom(Box::new(PatchOp {
            op,
            path: Some(path.clone()),
            value: value.cloned(),
        }))]);
    }
    if let Some(urn) = &attr.urn
        && !urn.eq_ignore_ascii_case(GROUP_SCHEMA)
    {
        return Err(ScimError::invalid_path(format!(
            "unknown schema {urn:?} for a Group"
        )));
    }
    if is(&attr.attr, "members") {
        if path.sub_attr.is_some() || attr.sub_attr.is_some() {
            return Err(ScimError::invalid_path(
                "members sub-attributes can't be changed; add or remove members instead",
            ));
        }
        return Ok(match (op, &path.filter) {
            (OpKind::Remove, Some(f)) => vec![GroupChange::RemoveMembers(MemberIds::parse(
                member_filter_ids(f)?,
            ))],
            (_, Some(_)) => {
                return Err(ScimError::invalid_path(
                    "a member filter only applies to remove",
                ));
            }
            (OpKind::Add, None) => vec![GroupChange::AddMembers(member_ids(value)?)],
            // Entra removes with `path: members` and a value array.
            (OpKind::Remove, None) => match value {
                None | Some(Value::Null) => vec![GroupChange::RemoveAllMembers],
                v => vec![GroupChange::RemoveMembers(member_ids(v)?)],
            },
            (OpKind::Replace, None) => vec![GroupChange::ReplaceMembers(member_ids(value)?)],
        });
    }
    // Before the sub-attribute check: `meta.created` is read-only, not unknown.
    if ["id", "meta", "schemas"].iter().any(|r| is(&attr.attr, r)) {
        return Err(ScimError::mutability(format!("{attr} is read-only")));
    }
    if path.filter.is_some() || attr.sub_attr.is_some() {
        return Err(ScimError::invalid_path(format!(
            "{attr} has no sub-attributes"
        )));
    }
    if is(&attr.attr, "displayName") {
        return match op {
            OpKind::Remove => Err(ScimError::invalid_value("displayName is required")),
            _ => Ok(vec![GroupChange::SetDisplayName(display_name(value)?)]),
        };
    }
    if is(&attr.attr, "externalId") {
        return Ok(vec![GroupChange::SetExternalId(match op {
            OpKind::Remove => None,
            _ => opt_string(value, "externalId", "Group")?,
        })]);
    }
    Err(ScimError::invalid_path(format!(
        "no attribute {attr} in the Group schema"
    )))
}

/// Turns PATCH operations into membership and attribute changes.
pub fn changes(ops: &[PatchOp]) -> ScimResult<Vec<GroupChange>> {
    let mut out = Vec::new();
    for op in ops {
        match &op.path {
            Some(path) => out.extend(path_change(op.op, path, op.value.as_ref())?),
            None => {
                let Some(Value::Object(values)) = &op.value else {
                    return Err(ScimError::invalid_value(
                        "an operation without a path needs an object value",
                    ));
                };
                let custom: Map<String, Value> = values
                    .iter()
                    .filter(|(k, _)| custom_attrs::is_extension_key(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if !custom.is_empty() {
                    out.push(GroupChange::Custom(Box::new(PatchOp {
                        op: op.op,
                        path: None,
                        value: Some(Value::Object(custom)),
                    })));
                }
                for (key, v) in values {
                    // Okta sends `{id, displayName}` with every change.
                    if ["id", "schemas", "meta"].iter().any(|r| is(key, r))
                        || custom_attrs::is_extension_key(key)
                    {
                        continue;
                    }
                    let path = PatchPath {
                        attr: super::filter::parse_attr_path(key).map_err(|e| {
                            ScimError::invalid_path(format!("attribute {key:?}: {e}"))
                        })?,
                        filter: None,
                        sub_attr: None,
                    };
                    out.extend(path_change(op.op, &path, Some(v))?);
                }
            }
        }
    }
    Ok(out)
}

/// A member as returned in `members`.
#[derive(Debug, Clone)]
pub struct MemberView {
    pub id: String,
    pub display: Option<String>,
}

impl MemberView {
    pub fn to_json(&self, users_base: &str) -> Value {
        let mut o = Map::new();
        o.insert("value".into(), Value::String(self.id.clone()));
        o.insert(
            "$ref".into(),
            Value::String(format!("{users_base}/{}", self.id)),
        );
        if let Some(d) = &self.display {
            o.insert("display".into(), Value::String(d.clone()));
        }
        o.insert("type".into(), Value::String("User".into()));
        Value::Object(o)
    }
}

/// The group without its members (they are streamed separately).
pub fn group_json(display_name: &str, external_id: Option<&str>, meta: &Meta) -> Value {
    let mut v = json!({
        "schemas": [GROUP_SCHEMA],
        "id": meta.id,
        "displayName": display_name,
        "meta": meta.to_json(),
    });
    if let (Some(e), Some(o)) = (external_id, v.as_object_mut()) {
        o.insert("externalId".into(), Value::String(e.to_owned()));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::filter::Limits;
    use crate::domain::patch::parse_request;
    use crate::domain::schema::PATCH_OP_SCHEMA;

    fn ch(ops: Value) -> ScimResult<Vec<GroupChange>> {
        changes(&parse_request(
            &json!({"schemas": [PATCH_OP_SCHEMA], "Operations": ops}),
            Limits::default(),
        )?)
    }

    #[test]
    fn every_membership_dialect() {
        let (a, b) = (ResourceId::new(), ResourceId::new());
        let ids = |v: &[ResourceId]| MemberIds::parse(v.iter().map(|i| i.to_string()).collect());
        assert_eq!(
            ch(
                json!([{"op": "add", "path": "members", "value": [{"value": b.to_string()}, {"value": a.to_string()}]}])
            )
            .unwrap(),
            vec![GroupChange::AddMembers(ids(&[a, b]))]
        );
        assert_eq!(
            ch(json!([{"op": "remove", "path": format!("members[value eq \"{a}\"]")}])).unwrap(),
            vec![GroupChange::RemoveMembers(ids(&[a]))]
        );
        assert_eq!(
            ch(json!([{"op": "Remove", "path": "members", "value": [{"value": a.to_string()}]}]))
                .unwrap(),
            vec![GroupChange::RemoveMembers(ids(&[a]))]
        );
        assert_eq!(
            ch(json!([{"op": "remove", "path": "members"}])).unwrap(),
            vec![GroupChange::RemoveAllMembers]
        );
        assert_eq!(
            ch(json!([{"op": "replace", "path": "members", "value": []}])).unwrap(),
            vec![GroupChange::ReplaceMembers(MemberIds::default())]
        );
        assert_eq!(
            ch(json!([{"op": "replace", "value": {"id": "g1", "displayName": "Eng"}}])).unwrap(),
            vec![GroupChange::SetDisplayName("Eng".into())]
        );
        assert_eq!(
            ch(json!([{"op": "replace", "value": {"members": [{"value": b.to_string()}]}}]))
                .unwrap(),
            vec![GroupChange::ReplaceMembers(ids(&[b]))]
        );
    }

    #[test]
    fn member_ids_are_parsed_once_and_a_value_that_is_no_id_is_named() {
        let (a, b) = (ResourceId::new(), ResourceId::new());
        let m = MemberIds::parse(vec![
            b.to_string(),
            "zzz".into(),
            a.to_string().to_uppercase(),
            "not-a-uuid".into(),
            a.to_string(),
        ]);
        let mut both = vec![a, b];
        both.sort();
        assert_eq!(m.to_remove(), both.as_slice(), "sorted, one entry per id");
        let e = m.to_add().unwrap_err();
        assert_eq!(
            (e.status(), e.scim_type().map(|t| t.as_str())),
            (400, Some("invalidValue"))
        );
        assert_eq!(
            e.detail(),
            "member \"not-a-uuid\" is not a User of this directory"
        );
        let ok = MemberIds::parse(vec![a.to_string()]);
        assert_eq!(ok.to_add().unwrap(), &[a]);
    }

    #[test]
    fn bad_group_patches_are_refused() {
        for (ops, scim_type) in [
            (
                json!([{"op": "remove", "path": "displayName"}]),
                "invalidValue",
            ),
            (
                json!([{"op": "replace", "path": "members[value eq \"a\"]", "value": []}]),
                "invalidPath",
            ),
            (
                json!([{"op": "remove", "path": "members[display co \"a\"]"}]),
                "invalidFilter",
            ),
            (
                json!([{"op": "add", "path": "members", "value": [{"value": "a", "type": "Group"}]}]),
                "invalidValue",
            ),
            (
                json!([{"op": "replace", "path": "nosuch", "value": 1}]),
                "invalidPath",
            ),
            (
                json!([{"op": "replace", "path": "id", "value": "x"}]),
                "mutability",
            ),
            (
                json!([{"op": "replace", "path": "meta.created", "value": "x"}]),
                "mutability",
            ),
        ] {
            let e = ch(ops.clone()).unwrap_err();
            assert_eq!(e.scim_type().map(|t| t.as_str()), Some(scim_type), "{ops}");
        }
    }

    #[test]
    fn entra_group_post_with_extra_schema() {
        let g = GroupInput::from_json(&json!({
            "schemas": [GROUP_SCHEMA, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
            "displayName": "Sales",
            "externalId": "e1",
            "members": [],
        }))
        .unwrap();
        assert_eq!(g.display_name, "Sales");
        assert_eq!(g.external_id.as_deref(), Some("e1"));
        assert!(g.extensions.is_empty());
    }

    #[test]
    fn extension_operations_are_kept_apart_from_members() {
        const EXT: &str = "urn:ietf:params:scim:schemas:extension:acme:2.0:Group";
        let got = ch(json!([
            {"op": "replace", "path": format!("{EXT}:costCode"), "value": "C1"},
            {"op": "replace", "value": {"displayName": "Eng", format!("{EXT}:badge"): 3}},
            {"op": "remove", "path": EXT},
        ]))
        .unwrap();
        assert_eq!(got.len(), 4);
        assert!(matches!(&got[0], GroupChange::Custom(op) if op.path.is_some()));
        assert!(
            matches!(&got[1], GroupChange::Custom(op) if op.path.is_none() && op.value.as_ref().is_some_and(|v| v.as_object().is_some_and(|o| o.len() == 1)))
        );
        assert_eq!(got[2], GroupChange::SetDisplayName("Eng".into()));
        assert!(matches!(&got[3], GroupChange::Custom(op) if op.op == OpKind::Remove));
        let g = GroupInput::from_json(&json!({"displayName": "X", EXT: {"costCode": "C"},
            format!("{EXT}:badge"): 1, GROUP_SCHEMA: {}}))
        .unwrap();
        assert_eq!(g.extensions.len(), 2);
    }
}
