//! The PATCH engine (RFC 7644 §3.5.2) for resources whose attributes fit in
//! one document (Users): operations are parsed once, then applied to the
//! resource's canonical JSON, which is decoded again (and so re-validated)
//! by the caller. Group membership is not patched here: see `group`.

use serde_json::{Map, Value};

use super::custom_attrs;
use super::custom_schema::CustomSchema;
use super::filter::{self, AttrPath, CompValue, CompareOp, Filter, Limits, PatchPath};
use super::json::JsonObject;
use super::schema::{
    AttrDef, AttrType, ENTERPRISE_USER_SCHEMA, Mutability, PATCH_OP_SCHEMA, ResourceKind,
    SchemaPart, registry,
};
use crate::error::{ScimError, ScimResult};

/// Most operations one PATCH request may carry.
pub const MAX_OPERATIONS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Remove,
    Replace,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    pub op: OpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// Parses a PatchOp request body. `op` is case-insensitive (Entra sends
/// `Replace`), `path` is parsed into our AST here.
pub fn parse_request(body: &Value, limits: Limits) -> ScimResult<Vec<PatchOp>> {
    let Value::Object(map) = body else {
        return Err(ScimError::invalid_syntax(
            "the request body must be a JSON object",
        ));
    };
    let o = JsonObject::new(map, "PatchOp");
    if let Some(schemas) = o.get("schemas") {
        let ok = schemas.as_array().is_some_and(|list| {
            list.iter().any(|s| {
                s.as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP_SCHEMA))
            })
        });
        if !ok {
            return Err(ScimError::invalid_value(format!(
                "schemas must be [\"{PATCH_OP_SCHEMA}\"]"
            )));
        }
    }
    let Some(Value::Array(ops)) = o.get("Operations") else {
        return Err(ScimError::invalid_syntax(
            "a PATCH body needs an Operations array",
        ));
    };
    if ops.is_empty() {
        return Err(ScimError::invalid_syntax("Operations must not be empty"));
    }
    if ops.len() > MAX_OPERATIONS {
        return Err(ScimError::invalid_syntax(format!(
            "at most {MAX_OPERATIONS} operations are accepted in one PATCH"
        )));
    }
    ops.iter()
        .enumerate()
        .map(|(i, op)| parse_op(i, op, limits))
        .collect()
}

fn parse_op(i: usize, op: &Value, limits: Limits) -> ScimResult<PatchOp> {
    let Value::Object(map) = op else {
        return Err(ScimError::invalid_syntax(format!(
            "Operations[{i}] must be an object"
        )));
    };
    let o = JsonObject::new(map, "operation");
    let kind = match o.get("op").and_then(Value::as_str) {
        Some(s) if s.eq_ignore_ascii_case("add") => OpKind::Add,
        Some(s) if s.eq_ignore_ascii_case("remove") => OpKind::Remove,
        Some(s) if s.eq_ignore_ascii_case("replace") => OpKind::Replace,
        Some(s) => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{i}].op {s:?} is not add, remove or replace"
            )));
        }
        None => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{i}] needs an op"
            )));
        }
    };
    let path = match o.get("path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.trim().is_empty() => None,
        Some(Value::String(p)) => Some(
            filter::parse_patch_path(p.trim(), limits)
                .map_err(|e| ScimError::invalid_path(format!("Operations[{i}].path {p:?}: {e}")))?,
        ),
        Some(_) => {
            return Err(ScimError::invalid_path(format!(
                "Operations[{i}].path must be a string"
            )));
        }
    };
    let value = o.get("value").cloned();
    match (kind, &path, &value) {
        (OpKind::Remove, None, _) => Err(ScimError::no_target(format!(
            "Operations[{i}]: remove needs a path"
        ))),
        (OpKind::Add | OpKind::Replace, _, None) => Err(ScimError::invalid_value(format!(
            "Operations[{i}]: {} needs a value",
            if kind == OpKind::Add {
                "add"
            } else {
                "replace"
            }
        ))),
        _ => Ok(PatchOp {
            op: kind,
            path,
            value,
        }),
    }
}

/// Applies `ops` in order to a User document (canonical attribute names,
/// the enterprise extension under its URN).
pub fn apply_to_user(doc: &mut Map<String, Value>, ops: &[PatchOp]) -> ScimResult<()> {
    apply_to_user_with(doc, ops, &[])
}

/// [`apply_to_user`] with the organization's custom User extensions: their
/// attributes are patched under their URN like the enterprise ones.
pub fn apply_to_user_with(
    doc: &mut Map<String, Value>,
    ops: &[PatchOp],
    ext: &[CustomSchema],
) -> ScimResult<()> {
    for op in ops {
        match &op.path {
            Some(path) => apply_path(doc, op.op, path, op.value.as_ref(), ext)?,
            None => apply_pathless(doc, op.op, op.value.as_ref(), ext)?,
        }
    }
    Ok(())
}

/// The clear passwords `ops` may set, as [`apply_to_user`] would set them
/// (a `password` path, URN-qualified or not; a `password` key of a
/// path-less value), so that they can be hashed before the transaction
/// opens. Values the decoder would refuse are left to it.
pub fn passwords(ops: &[PatchOp]) -> Vec<String> {
    let mut out = Vec::new();
    for op in ops.iter().filter(|op| op.op != OpKind::Remove) {
        let Some(value) = &op.value else { continue };
        match &op.path {
            Some(p) if p.filter.is_none() && p.attr.attr.is_empty() => {
                passwords_in_object(value, &mut out);
            }
            Some(p) if p.filter.is_none() && is_password(&p.attr) => {
                out.extend(crate::domain::user::acceptable_password(value).map(str::to_owned));
            }
            Some(_) => {}
            None => passwords_in_object(value, &mut out),
        }
    }
    out
}

fn passwords_in_object(value: &Value, out: &mut Vec<String>) {
    let Value::Object(values) = value else { return };
    for (key, v) in values {
        match filter::parse_attr_path(key) {
            Ok(p) if p.attr.is_empty() => passwords_in_object(v, out),
            Ok(p) if is_password(&p) => {
                out.extend(crate::domain::user::acceptable_password(v).map(str::to_owned));
            }
            _ => {}
        }
    }
}

fn is_password(path: &AttrPath) -> bool {
    path.sub_attr.is_none()
        && registry()
            .resolve(ResourceKind::User, path.urn.as_deref(), &path.attr, None)
            .is_some_and(|r| r.part == SchemaPart::Core && r.attr.name == "password")
}

/// Whether the operations name an extension the server does not define
/// itself (so the organization's schemas are needed to apply them).
pub fn mentions_extension(ops: &[PatchOp]) -> bool {
    ops.iter().any(|op| {
        op.path.as_ref().is_some_and(|p| {
            p.attr
                .urn
                .as_deref()
                .is_some_and(|u| custom_attrs::mentions_extension(&Value::String(format!("{u}:"))))
        }) || op
            .value
            .as_ref()
            .is_some_and(custom_attrs::mentions_extension)
    })
}

fn custom_schema<'a>(ext: &'a [CustomSchema], urn: Option<&str>) -> Option<&'a CustomSchema> {
    let urn = urn?;
    ext.iter().find(|s| s.id.eq_ignore_ascii_case(urn))
}

/// The object under `key` in `doc`, created if missing.
fn object_at<'a>(
    doc: &'a mut Map<String, Value>,
    key: &str,
) -> ScimResult<&'a mut Map<String, Value>> {
    let ext = doc
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !ext.is_object() {
        *ext = Value::Object(Map::new());
    }
    ext.as_object_mut()
        .ok_or_else(|| ScimError::internal("extension is not an object"))
}

fn apply_pathless(
    doc: &mut Map<String, Value>,
    op: OpKind,
    value: Option<&Value>,
    ext: &[CustomSchema],
) -> ScimResult<()> {
    let Some(Value::Object(values)) = value else {
        return Err(ScimError::invalid_value(
            "an operation without a path needs an object value",
        ));
    };
    for (key, v) in values {
        // Server-owned keys some clients echo back (Okta sends `id`).
        if ["id", "meta", "schemas"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(key))
        {
            continue;
        }
        if key.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA) {
            let Value::Object(ent) = v else {
                return Err(ScimError::invalid_value(format!(
                    "{ENTERPRISE_USER_SCHEMA} must be an object"
                )));
            };
            for (k, v) in ent {
                // The extension object as a whole may carry its own
                // `schemas` (seen from third-party clients): not an attribute.
                if k.eq_ignore_ascii_case("schemas") {
                    continue;
                }
                let path = attr_path(&format!("{ENTERPRISE_USER_SCHEMA}:{k}"))?;
                apply_attr(doc, op, &path, None, Some(v), ext)?;
            }
            continue;
        }
        if let Some(schema) = custom_schema(ext, Some(key)) {
            let Value::Object(values) = v else {
                return Err(ScimError::invalid_value(format!(
                    "{} must be an object",
                    schema.id
                )));
            };
            for (k, v) in values {
                if k.eq_ignore_ascii_case("schemas") {
                    continue;
                }
                let path = attr_path(&format!("{}:{k}", schema.id))?;
                apply_attr(doc, op, &path, None, Some(v), ext)?;
            }
            continue;
        }
        // Keys may be attribute paths: "name.givenName", "urn:…:User:manager".
        let path = attr_path(key)?;
        apply_attr(doc, op, &path, None, Some(v), ext)?;
    }
    Ok(())
}

fn attr_path(key: &str) -> ScimResult<AttrPath> {
    filter::parse_attr_path(key)
        .map_err(|e| ScimError::invalid_path(format!("attribute {key:?}: {e}")))
}

fn apply_path(
    doc: &mut Map<String, Value>,
    op: OpKind,
    path: &PatchPath,
    value: Option<&Value>,
    ext: &[CustomSchema],
) -> ScimResult<()> {
    if path.attr.attr.is_empty() {
        // A bare extension URN: the value holds that schema's attributes.
        if path.filter.is_none() && op != OpKind::Remove {
            let mut wrapped = Map::new();
            wrapped.insert(
                path.attr.urn.clone().unwrap_or_default(),
                value.cloned().unwrap_or(Value::Null),
            );
            return apply_pathless(doc, op, Some(&Value::Object(wrapped)), ext);
        }
        let urn = path.attr.urn.as_deref().unwrap_or_default();
        if op == OpKind::Remove && urn.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA) {
            doc.remove(ENTERPRISE_USER_SCHEMA);
            return Ok(());
        }
        if let Some(schema) = custom_schema(ext, Some(urn))
            && op == OpKind::Remove
            && path.filter.is_none()
        {
            doc.retain(|k, _| !k.eq_ignore_ascii_case(&schema.id));
            return Ok(());
        }
        return Err(ScimError::invalid_path(format!("unknown schema {urn:?}")));
    }
    apply_attr(
        doc,
        op,
        &path.attr,
        path.filter.as_ref().map(|f| (f, path.sub_attr.as_deref())),
        value,
        ext,
    )
}

/// Applies one operation on `attr[.sub]`, or on `attr[filter][.sub]` when
/// `selector` is given.
fn apply_attr(
    doc: &mut Map<String, Value>,
    op: OpKind,
    path: &AttrPath,
    selector: Option<(&Filter, Option<&str>)>,
    value: Option<&Value>,
    ext: &[CustomSchema],
) -> ScimResult<()> {
    if let Some(schema) = custom_schema(ext, path.urn.as_deref()) {
        let def = schema.def.attr(&path.attr).ok_or_else(|| {
            ScimError::invalid_path(format!("no attribute {} in {}", path.attr, schema.id))
        })?;
        let sub = match path.sub_attr.as_deref() {
            Some(s) => Some(def.sub(s).ok_or_else(|| {
                ScimError::invalid_path(format!("{} has no sub-attribute {s:?}", def.name))
            })?),
            None => None,
        };
        if def.mutability == Mutability::ReadOnly
            || sub.is_some_and(|s| s.mutability == Mutability::ReadOnly)
        {
            return Err(ScimError::mutability(format!("{path} is read-only")));
        }
        let key = schema.id.clone();
        let container = object_at(doc, &key)?;
        if selector.is_some() && def.multi_valued && def.ty != AttrType::Complex {
            return apply_to_scalars(container, op, def, selector, value);
        }
        return apply_def(container, op, def, sub, selector, value);
    }
    let resolved = registry()
        .resolve(
            ResourceKind::User,
            path.urn.as_deref(),
            &path.attr,
            path.sub_attr.as_deref(),
        )
        .ok_or_else(|| {
            ScimError::invalid_path(format!("no attribute {path} in the User schema"))
        })?;
    let def = resolved.attr;
    if resolved.leaf().mutability == Mutability::ReadOnly || def.mutability == Mutability::ReadOnly
    {
        return Err(ScimError::mutability(format!("{path} is read-only")));
    }
    let container = match resolved.part {
        SchemaPart::Core => doc,
        SchemaPart::Enterprise => object_at(doc, ENTERPRISE_USER_SCHEMA)?,
    };
    apply_def(container, op, def, resolved.sub, selector, value)
}

/// A value filter on a multi-valued simple attribute (`tags[value eq
/// "x"]`): its scalars are taken as `{"value": …}` entries.
fn apply_to_scalars(
    container: &mut Map<String, Value>,
    op: OpKind,
    def: &AttrDef,
    selector: Option<(&Filter, Option<&str>)>,
    value: Option<&Value>,
) -> ScimResult<()> {
    let mut value_def = def.clone();
    value_def.name = "value".into();
    value_def.multi_valued = false;
    let mut entry_def = def.clone();
    entry_def.ty = AttrType::Complex;
    entry_def.sub_attributes = vec![value_def];
    let wrap = |v: Value| {
        let mut o = Map::new();
        o.insert("value".into(), v);
        Value::Object(o)
    };
    if let Some(Value::Array(items)) = container.get_mut(&def.name) {
        for item in items.iter_mut() {
            *item = wrap(item.take());
        }
    }
    let value = match (selector, value) {
        (Some((_, None)), Some(v)) if !v.is_object() => Some(wrap(v.clone())),
        (_, v) => v.cloned(),
    };
    let result = apply_def(container, op, &entry_def, None, selector, value.as_ref());
    if let Some(Value::Array(items)) = container.get_mut(&def.name) {
        for item in items.iter_mut() {
            if let Value::Object(o) = item {
                *item = o.remove("value").unwrap_or(Value::Null);
            }
        }
        items.retain(|i| !i.is_null());
    }
    result
}

/// Applies one operation on the resolved attribute `def` (and `sub`) of
/// `container` (the resource, or an extension's object).
fn apply_def(
    container: &mut Map<String, Value>,
    op: OpKind,
    def: &AttrDef,
    sub_def: Option<&AttrDef>,
    selector: Option<(&Filter, Option<&str>)>,
    value: Option<&Value>,
) -> ScimResult<()> {
    let name = def.name.clone();

    if let Some((filter, sub)) = selector {
        if !def.multi_valued {
            return Err(ScimError::invalid_path(format!(
                "{name} is not multi-valued; a value filter does not apply"
            )));
        }
        let sub_def = match sub {
            Some(s) => Some(def.sub(s).ok_or_else(|| {
                ScimError::invalid_path(format!("{name} has no sub-attribute {s:?}"))
            })?),
            None => None,
        };
        return apply_filtered(container, op, def, filter, sub_def, value);
    }

    if let Some(sub_def) = sub_def {
        let sub = sub_def.name.clone();
        if def.multi_valued {
            // `emails.value` without a filter: every entry.
            let Some(Value::Array(items)) = container.get_mut(&name) else {
                return if op == OpKind::Remove {
                    Ok(())
                } else {
                    Err(ScimError::no_target(format!("{name} has no entries")))
                };
            };
            for item in items.iter_mut().filter_map(Value::as_object_mut) {
                set_or_remove(item, op, &sub, value);
            }
            return Ok(());
        }
        let entry = container
            .entry(name.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        if let Some(obj) = entry.as_object_mut() {
            set_or_remove(obj, op, &sub, value);
            if obj.is_empty() {
                container.remove(&name);
            }
        }
        return Ok(());
    }

    match op {
        OpKind::Remove => {
            match (def.multi_valued, value) {
                (true, Some(Value::Array(to_remove))) => {
                    if let Some(Value::Array(items)) = container.get_mut(&name) {
                        items.retain(|item| !to_remove.iter().any(|r| same_value(item, r, def)));
                    }
                }
                _ => {
                    container.remove(&name);
                }
            }
            Ok(())
        }
        OpKind::Add | OpKind::Replace => {
            let value = value.cloned().unwrap_or(Value::Null);
            if value.is_null() {
                container.remove(&name);
                return Ok(());
            }
            if def.multi_valued {
                let new_items = match canonical(value, def) {
                    Value::Array(a) => a,
                    other => vec![other],
                };
                let any_primary = new_items.iter().any(is_primary);
                let items = if op == OpKind::Add {
                    let mut items = match container.remove(&name) {
                        Some(Value::Array(a)) => a,
                        _ => vec![],
                    };
                    if any_primary {
                        items.iter_mut().for_each(clear_primary);
                    }
                    for item in new_items {
                        if !items.iter().any(|i| same_value(i, &item, def)) {
                            items.push(item);
                        }
                    }
                    items
                } else {
                    new_items
                };
                container.insert(name, Value::Array(items));
            } else if def.ty == AttrType::Complex {
                let value = canonical(value, def);
                match (container.get_mut(&name), value) {
                    (Some(Value::Object(existing)), Value::Object(new)) => {
                        for (k, v) in new {
                            if v.is_null() {
                                existing.remove(&k);
                            } else {
                                existing.insert(k, v);
                            }
                        }
                    }
                    (_, v) => {
                        container.insert(name, v);
                    }
                }
            } else {
                container.insert(name, value);
            }
            Ok(())
        }
    }
}

fn set_or_remove(obj: &mut Map<String, Value>, op: OpKind, key: &str, value: Option<&Value>) {
    match (op, value) {
        (OpKind::Remove, _) | (_, None | Some(Value::Null)) => {
            obj.remove(key);
        }
        (_, Some(v)) => {
            obj.insert(key.to_owned(), v.clone());
        }
    }
}

fn apply_filtered(
    container: &mut Map<String, Value>,
    op: OpKind,
    def: &AttrDef,
    filter: &Filter,
    sub: Option<&AttrDef>,
    value: Option<&Value>,
) -> ScimResult<()> {
    let name = def.name.clone();
    let mut items = match container.remove(&name) {
        Some(Value::Array(a)) => a,
        _ => vec![],
    };
    let mut matched = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if let Value::Object(entry) = item
            && eval(filter, entry, def)?
        {
            matched.push(i);
        }
    }
    let result = match op {
        OpKind::Remove => {
            match sub {
                Some(s) => {
                    for &i in &matched {
                        if let Some(o) = items[i].as_object_mut() {
                            o.remove(&s.name);
                        }
                    }
                }
                None => {
                    let mut idx = 0;
                    items.retain(|_| {
                        let keep = !matched.contains(&idx);
                        idx += 1;
                        keep
                    });
                }
            }
            Ok(())
        }
        OpKind::Add | OpKind::Replace => {
            if matched.is_empty() {
                // Entra adds `emails[type eq "work"].value` when the user has
                // no work email yet: create the entry the filter describes.
                match entry_from_filter(filter, def) {
                    Some(entry) => {
                        items.push(Value::Object(entry));
                        matched.push(items.len() - 1);
                    }
                    None => {
                        container.insert(name.clone(), Value::Array(items));
                        return Err(ScimError::no_target(format!(
                            "no entry of {name} matches {filter}"
                        )));
                    }
                }
            }
            let value = value.cloned().unwrap_or(Value::Null);
            let mut sets_primary = false;
            for &i in &matched {
                let Some(entry) = items[i].as_object_mut() else {
                    continue;
                };
                match sub {
                    Some(s) => {
                        if s.name == "primary" && value_is_true(&value) {
                            sets_primary = true;
                        }
                        set_or_remove(entry, op, &s.name, Some(&value));
                    }
                    None => {
                        let Value::Object(fields) = canonical(value.clone(), def) else {
                            container.insert(name.clone(), Value::Array(items));
                            return Err(ScimError::invalid_value(format!(
                                "the value for an entry of {name} must be an object"
                            )));
                        };
                        for (k, v) in fields {
                            if k == "primary" && value_is_true(&v) {
                                sets_primary = true;
                            }
                            if v.is_null() {
                                entry.remove(&k);
                            } else {
                                entry.insert(k, v);
                            }
                        }
                    }
                }
            }
            if sets_primary {
                for (i, item) in items.iter_mut().enumerate() {
                    if !matched.contains(&i) {
                        clear_primary(item);
                    }
                }
            }
            Ok(())
        }
    };
    if !items.is_empty() {
        container.insert(name, Value::Array(items));
    }
    result
}

/// For a filter made only of `eq` comparisons joined by `and`, the entry
/// it describes.
fn entry_from_filter(filter: &Filter, def: &AttrDef) -> Option<Map<String, Value>> {
    fn collect(f: &Filter, def: &AttrDef, out: &mut Map<String, Value>) -> bool {
        match f {
            Filter::And(a, b) => collect(a, def, out) && collect(b, def, out),
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value,
            } if path.sub_attr.is_none() && path.urn.is_none() => {
                let Some(sub) = def.sub(&path.attr) else {
                    return false;
                };
                let v = match value {
                    CompValue::String(s) => Value::String(s.clone()),
                    CompValue::Bool(b) => Value::Bool(*b),
                    CompValue::Number(n) => Value::Number(n.clone()),
                    CompValue::Null => return false,
                };
                out.insert(sub.name.clone(), v);
                true
            }
            _ => false,
        }
    }
    let mut out = Map::new();
    collect(filter, def, &mut out).then_some(out)
}

fn value_is_true(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn is_primary(v: &Value) -> bool {
    v.get("primary").is_some_and(value_is_true)
}

fn clear_primary(v: &mut Value) {
    if let Some(o) = v.as_object_mut() {
        o.remove("primary");
    }
}

/// Canonical sub-attribute names (the schema's spelling) in a value.
fn canonical(value: Value, def: &AttrDef) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.into_iter().map(|v| canonical(v, def)).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| match def.sub(&k) {
                    Some(sub) => (sub.name.clone(), v),
                    None => (k, v),
                })
                .collect(),
        ),
        // `manager` as a bare string (Entra). Only single-valued: an entry
        // of `emails` must be an object, as in POST and PUT.
        Value::String(s)
            if def.ty == AttrType::Complex && !def.multi_valued && def.sub("value").is_some() =>
        {
            let mut o = Map::new();
            o.insert("value".into(), Value::String(s));
            Value::Object(o)
        }
        other => other,
    }
}

/// Two entries of a multi-valued attribute are the same when their `value`s
/// are (case-insensitively unless `caseExact`).
fn same_value(a: &Value, b: &Value, def: &AttrDef) -> bool {
    let get = |v: &Value| -> Option<String> {
        let o = v.as_object()?;
        JsonObject::new(o, "")
            .get("value")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match (get(a), get(b)) {
        (Some(x), Some(y)) => {
            let exact = def.sub("value").is_some_and(|s| s.case_exact);
            if exact {
                x == y
            } else {
                x.to_lowercase() == y.to_lowercase()
            }
        }
        _ => a == b,
    }
}

/// Evaluates a value filter against one entry of a multi-valued attribute.
pub fn eval(filter: &Filter, entry: &Map<String, Value>, def: &AttrDef) -> ScimResult<bool> {
    Ok(match filter {
        Filter::And(a, b) => eval(a, entry, def)? && eval(b, entry, def)?,
        Filter::Or(a, b) => eval(a, entry, def)? || eval(b, entry, def)?,
        Filter::Not(f) => !eval(f, entry, def)?,
        Filter::Present(path) => {
            let sub = sub_def(path, def)?;
            match JsonObject::new(entry, "").get(&sub.name) {
                None | Some(Value::Null) => false,
                Some(Value::String(s)) => !s.is_empty(),
                Some(Value::Array(a)) => !a.is_empty(),
                Some(_) => true,
            }
        }
        Filter::Compare { path, op, value } => {
            let sub = sub_def(path, def)?;
            compare(
                JsonObject::new(entry, "").get(&sub.name),
                *op,
                value,
                sub.case_exact,
            )
        }
        Filter::ValuePath { .. } => {
            return Err(ScimError::invalid_filter("value filters can't be nested"));
        }
    })
}

fn sub_def<'a>(path: &AttrPath, def: &'a AttrDef) -> ScimResult<&'a AttrDef> {
    if path.urn.is_some() || path.sub_attr.is_some() {
        return Err(ScimError::invalid_filter(format!(
            "{path} is not a sub-attribute of {}",
            def.name
        )));
    }
    def.sub(&path.attr).ok_or_else(|| {
        ScimError::invalid_filter(format!("{} has no sub-attribute {:?}", def.name, path.attr))
    })
}

fn compare(actual: Option<&Value>, op: CompareOp, expected: &CompValue, case_exact: bool) -> bool {
    use std::cmp::Ordering;
    let actual = actual.filter(|v| !v.is_null());
    let ordering: Option<Ordering> = match (actual, expected) {
        (None, CompValue::Null) => return op == CompareOp::Eq,
        (Some(_), CompValue::Null) => return op == CompareOp::Ne,
        (None, _) => return op == CompareOp::Ne,
        (Some(Value::String(a)), CompValue::String(b)) => {
            let (a, b) = if case_exact {
                (a.clone(), b.clone())
            } else {
                (a.to_lowercase(), b.to_lowercase())
            };
            match op {
                CompareOp::Co => return a.contains(&b),
                CompareOp::Sw => return a.starts_with(&b),
                CompareOp::Ew => return a.ends_with(&b),
                _ => Some(a.cmp(&b)),
            }
        }
        (Some(v), CompValue::Bool(b)) => {
            let a = match v {
                Value::Bool(a) => Some(*a),
                Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
                Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
                _ => None,
            };
            return match (a, op) {
                (Some(a), CompareOp::Eq) => a == *b,
                (Some(a), CompareOp::Ne) => a != *b,
                _ => false,
            };
        }
        (Some(Value::Number(a)), CompValue::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b)),
        _ => None,
    };
    match (ordering, op) {
        (Some(o), CompareOp::Eq) => o == Ordering::Equal,
        (Some(o), CompareOp::Ne) => o != Ordering::Equal,
        (Some(o), CompareOp::Gt) => o == Ordering::Greater,
        (Some(o), CompareOp::Ge) => o != Ordering::Less,
        (Some(o), CompareOp::Lt) => o == Ordering::Less,
        (Some(o), CompareOp::Le) => o != Ordering::Greater,
        (None, CompareOp::Ne) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::user::UserInput;
    use serde_json::json;

    fn patch(doc: Value, ops: Value) -> ScimResult<Value> {
        let ops = parse_request(
            &json!({"schemas": [PATCH_OP_SCHEMA], "Operations": ops}),
            Limits::default(),
        )?;
        let Value::Object(mut doc) = doc else {
            panic!()
        };
        apply_to_user(&mut doc, &ops)?;
        // Decoding validates the result, as the store does.
        let u = UserInput::from_json(&Value::Object(doc))?;
        Ok(Value::Object(u.attrs.to_json()))
    }

    fn jane() -> Value {
        json!({
            "userName": "jane@example.com",
            "name": {"givenName": "Jane", "familyName": "Doe"},
            "emails": [{"value": "jane@example.com", "type": "work", "primary": true}],
            "active": true,
        })
    }

    #[test]
    fn passwords_are_found_in_every_form_that_sets_one() {
        let ops = parse_request(
            &json!({"Operations": [
                {"op": "replace", "path": "password", "value": "p1"},
                {"op": "Add", "path": "urn:ietf:params:scim:schemas:core:2.0:User:PASSWORD", "value": "p2"},
                {"op": "replace", "value": {"password": "p3", "active": false}},
                {"op": "replace", "value": {"urn:ietf:params:scim:schemas:core:2.0:User:password": "p4"}},
                {"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User", "value": {"password": "p5"}},
                {"op": "remove", "path": "password"},
                {"op": "replace", "path": "displayName", "value": "not a password"},
                {"op": "replace", "path": "password", "value": ""},
                {"op": "replace", "path": "password", "value": 5},
            ]}),
            Limits::default(),
        )
        .unwrap();
        assert_eq!(passwords(&ops), ["p1", "p2", "p3", "p4", "p5"]);
        // What the engine sets is one of them.
        let mut doc = jane().as_object().unwrap().clone();
        apply_to_user(&mut doc, &ops[..3]).unwrap();
        assert_eq!(doc["password"], "p3");
    }

    #[test]
    fn okta_pathless_replace_of_active() {
        let out = patch(
            jane(),
            json!([{"op": "replace", "value": {"active": false}}]),
        )
        .unwrap();
        assert_eq!(out["active"], false);
    }

    #[test]
    fn entra_capitalized_op_with_string_boolean() {
        let out = patch(
            jane(),
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .unwrap();
        assert_eq!(out["active"], false);
    }

    #[test]
    fn entra_dotted_and_urn_keys_in_pathless_values() {
        let out = patch(
            jane(),
            json!([{"op": "replace", "value": {
                "name.givenName": "Janet",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "R&D",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager": "abc",
            }}]),
        )
        .unwrap();
        assert_eq!(out["name"]["givenName"], "Janet");
        assert_eq!(out["name"]["familyName"], "Doe");
        assert_eq!(out[ENTERPRISE_USER_SCHEMA]["department"], "R&D");
        assert_eq!(out[ENTERPRISE_USER_SCHEMA]["manager"]["value"], "abc");
    }

    #[test]
    fn value_path_replace_and_add_of_a_missing_entry() {
        let out = patch(
            jane(),
            json!([
                {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "janet@example.com"},
                {"op": "add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+47 1234"},
            ]),
        )
        .unwrap();
        assert_eq!(out["emails"][0]["value"], "janet@example.com");
        assert_eq!(out["emails"][0]["primary"], true);
        assert_eq!(out["phoneNumbers"][0]["value"], "+47 1234");
        assert_eq!(out["phoneNumbers"][0]["type"], "mobile");
    }

    #[test]
    fn remove_by_filter_and_manager_removal() {
        let doc = json!({
            "userName": "jane",
            "emails": [{"value": "a@x.io", "type": "work"}, {"value": "b@x.io", "type": "home"}],
            ENTERPRISE_USER_SCHEMA: {"manager": {"value": "m1"}, "department": "D"},
        });
        let out = patch(
            doc,
            json!([
                {"op": "remove", "path": "emails[type eq \"home\"]"},
                {"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"},
            ]),
        )
        .unwrap();
        assert_eq!(out["emails"].as_array().unwrap().len(), 1);
        assert!(out[ENTERPRISE_USER_SCHEMA].get("manager").is_none());
        assert_eq!(out[ENTERPRISE_USER_SCHEMA]["department"], "D");
    }

    #[test]
    fn add_appends_and_new_primary_wins() {
        let out = patch(
            jane(),
            json!([{"op": "add", "path": "emails", "value": [{"value": "j2@example.com", "primary": true}]}]),
        )
        .unwrap();
        let emails = out["emails"].as_array().unwrap();
        assert_eq!(emails.len(), 2);
        assert!(emails[0].get("primary").is_none());
        assert_eq!(emails[1]["primary"], true);
    }

    #[test]
    fn errors_name_the_problem() {
        let cases = [
            (
                json!([{"op": "replace", "path": "id", "value": "x"}]),
                "mutability",
            ),
            (json!([{"op": "remove"}]), "noTarget"),
            (
                json!([{"op": "frobnicate", "path": "title", "value": "x"}]),
                "invalidSyntax",
            ),
            (
                json!([{"op": "replace", "path": "nosuch", "value": "x"}]),
                "invalidPath",
            ),
            (
                json!([{"op": "replace", "path": "emails[type eq", "value": "x"}]),
                "invalidPath",
            ),
            (
                json!([{"op": "replace", "path": "active", "value": "perhaps"}]),
                "invalidValue",
            ),
            (
                json!([{"op": "replace", "path": "emails", "value": "a@b.c"}]),
                "invalidValue",
            ),
            (
                json!([{"op": "replace", "path": "emails[type eq \"x\" or type eq \"y\"].value", "value": "a@b.c"}]),
                "noTarget",
            ),
        ];
        for (ops, scim_type) in cases {
            let err = patch(jane(), ops.clone()).unwrap_err();
            assert_eq!(
                err.scim_type().map(|t| t.as_str()),
                Some(scim_type),
                "{ops}"
            );
        }
    }

    const ACME: &str = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";

    fn acme() -> Vec<CustomSchema> {
        vec![
            CustomSchema::parse(
                &json!({"id": ACME, "attributes": [
                    {"name": "costCode", "type": "string"},
                    {"name": "tags", "type": "string", "multiValued": true},
                    {"name": "desk", "type": "complex", "subAttributes": [
                        {"name": "building", "type": "string"},
                        {"name": "badge", "type": "string", "mutability": "readOnly"}]},
                    {"name": "fixed", "type": "string", "mutability": "readOnly"},
                ]}),
                None,
            )
            .unwrap(),
        ]
    }

    fn ops(ops: Value) -> Vec<PatchOp> {
        parse_request(&json!({"Operations": ops}), Limits::default()).unwrap()
    }

    /// Applies `ops` to `doc` with the Acme extension, without decoding.
    fn patch_raw(doc: Value, o: Value) -> ScimResult<Value> {
        let Value::Object(mut doc) = doc else {
            panic!()
        };
        apply_to_user_with(&mut doc, &ops(o), &acme())?;
        Ok(Value::Object(doc))
    }

    fn err_of(r: ScimResult<Value>) -> (u16, Option<&'static str>, String) {
        let e = r.unwrap_err();
        (e.status(), e.scim_type().map(|t| t.as_str()), e.detail())
    }

    #[test]
    fn at_most_max_operations_in_one_request() {
        let op = json!({"op": "replace", "path": "title", "value": "x"});
        let body = |n: usize| json!({"Operations": vec![op.clone(); n]});
        assert_eq!(
            parse_request(&body(MAX_OPERATIONS), Limits::default())
                .unwrap()
                .len(),
            MAX_OPERATIONS
        );
        let e = parse_request(&body(MAX_OPERATIONS + 1), Limits::default()).unwrap_err();
        assert_eq!(e.status(), 400);
        assert_eq!(e.scim_type().map(|t| t.as_str()), Some("invalidSyntax"));
        assert_eq!(
            e.detail(),
            "at most 1000 operations are accepted in one PATCH"
        );
    }

    #[test]
    fn a_blank_path_is_no_path() {
        let parsed = ops(json!([{"op": "replace", "path": "  ", "value": {"active": false}}]));
        assert_eq!(parsed[0].path, None);
    }

    #[test]
    fn add_and_replace_need_a_value() {
        for (op, detail) in [
            ("add", "Operations[0]: add needs a value"),
            ("Replace", "Operations[0]: replace needs a value"),
        ] {
            let e = parse_request(
                &json!({"Operations": [{"op": op, "path": "title"}]}),
                Limits::default(),
            )
            .unwrap_err();
            assert_eq!(e.status(), 400);
            assert_eq!(e.scim_type().map(|t| t.as_str()), Some("invalidValue"));
            assert_eq!(e.detail(), detail);
        }
    }

    #[test]
    fn passwords_under_a_core_urn_key_and_only_passwords() {
        let o = ops(json!([
            {"op": "replace", "value": {
                "displayName": "not a password",
                "urn:ietf:params:scim:schemas:core:2.0:User": {"password": "p6", "title": "t"},
            }},
        ]));
        assert_eq!(passwords(&o), ["p6"]);
    }

    #[test]
    fn extensions_are_mentioned_by_path_or_by_value() {
        assert!(mentions_extension(&ops(
            json!([{"op": "remove", "path": format!("{ACME}:costCode")}])
        )));
        assert!(mentions_extension(&ops(
            json!([{"op": "replace", "value": {ACME: {"costCode": "x"}}}])
        )));
        assert!(!mentions_extension(&ops(json!([
            {"op": "replace", "path": "title", "value": "x"},
            {"op": "remove", "path": format!("{ENTERPRISE_USER_SCHEMA}:manager")},
            {"op": "replace", "value": {ENTERPRISE_USER_SCHEMA: {"department": "D"}}},
        ]))));
    }

    #[test]
    fn custom_extension_attributes_are_patched_under_their_urn() {
        let out = patch_raw(
            json!({"userName": "jane"}),
            json!([
                {"op": "replace", "path": format!("{ACME}:costCode"), "value": "CC-1"},
                {"op": "add", "value": {ACME: {"desk": {"building": "B1"}}}},
            ]),
        )
        .unwrap();
        assert_eq!(
            out[ACME],
            json!({"costCode": "CC-1", "desk": {"building": "B1"}})
        );
    }

    #[test]
    fn read_only_custom_attributes_and_sub_attributes_are_refused() {
        for path in [format!("{ACME}:fixed"), format!("{ACME}:desk.badge")] {
            let (status, scim_type, detail) = err_of(patch_raw(
                json!({"userName": "jane"}),
                json!([{"op": "replace", "path": path, "value": "x"}]),
            ));
            assert_eq!((status, scim_type), (400, Some("mutability")));
            assert_eq!(detail, format!("{path} is read-only"));
        }
        // Its writable sibling is not.
        let out = patch_raw(
            json!({"userName": "jane"}),
            json!([{"op": "replace", "path": format!("{ACME}:desk.building"), "value": "B2"}]),
        )
        .unwrap();
        assert_eq!(out[ACME]["desk"], json!({"building": "B2"}));
    }

    #[test]
    fn a_read_only_core_sub_attribute_is_refused() {
        let path = format!("{ENTERPRISE_USER_SCHEMA}:manager.displayName");
        let (status, scim_type, detail) = err_of(patch(
            jane(),
            json!([{"op": "replace", "path": path, "value": "Boss"}]),
        ));
        assert_eq!((status, scim_type), (400, Some("mutability")));
        assert_eq!(detail, format!("{path} is read-only"));
    }

    #[test]
    fn custom_multi_valued_strings_add_without_duplicates() {
        let out = patch_raw(
            json!({"userName": "jane", ACME: {"tags": ["a", "b"]}}),
            json!([{"op": "add", "path": format!("{ACME}:tags"), "value": ["a", "c"]}]),
        )
        .unwrap();
        assert_eq!(out[ACME]["tags"], json!(["a", "b", "c"]));
    }

    #[test]
    fn value_filters_on_custom_multi_valued_strings() {
        let doc = json!({"userName": "jane", ACME: {"tags": ["a", "b", "c"]}});
        let tags = format!("{ACME}:tags");
        let out = patch_raw(
            doc.clone(),
            json!([{"op": "remove", "path": format!("{tags}[value eq \"b\"]")}]),
        )
        .unwrap();
        assert_eq!(out[ACME]["tags"], json!(["a", "c"]));
        // A bare scalar replaces the matched entries, as does `{"value": …}`.
        let out = patch_raw(
            doc,
            json!([
                {"op": "replace", "path": format!("{tags}[value eq \"a\"]"), "value": "z"},
                {"op": "replace", "path": format!("{tags}[value eq \"c\"]"), "value": {"value": "y"}},
            ]),
        )
        .unwrap();
        assert_eq!(out[ACME]["tags"], json!(["z", "b", "y"]));
    }

    #[test]
    fn a_bare_extension_urn_path_replaces_or_removes_that_extension() {
        let doc = json!({
            "userName": "jane",
            ENTERPRISE_USER_SCHEMA: {"department": "D"},
            ACME: {"costCode": "C"},
        });
        let out = patch_raw(
            doc.clone(),
            json!([{"op": "replace", "path": ENTERPRISE_USER_SCHEMA, "value": {"division": "V"}}]),
        )
        .unwrap();
        assert_eq!(
            out[ENTERPRISE_USER_SCHEMA],
            json!({"department": "D", "division": "V"})
        );
        let out = patch_raw(
            doc.clone(),
            json!([{"op": "remove", "path": ENTERPRISE_USER_SCHEMA}]),
        )
        .unwrap();
        assert_eq!(out, json!({"userName": "jane", ACME: {"costCode": "C"}}));
        let out = patch_raw(doc, json!([{"op": "remove", "path": ACME.to_uppercase()}])).unwrap();
        assert_eq!(
            out,
            json!({"userName": "jane", ENTERPRISE_USER_SCHEMA: {"department": "D"}})
        );
        let (status, scim_type, detail) = err_of(patch_raw(
            json!({"userName": "jane"}),
            json!([{"op": "remove", "path": "urn:example:unknown:2.0:User"}]),
        ));
        assert_eq!((status, scim_type), (400, Some("invalidPath")));
        assert_eq!(detail, "unknown schema \"urn:example:unknown:2.0:User\"");
    }

    #[test]
    fn a_sub_attribute_of_every_entry_needs_entries_except_to_remove() {
        let doc = json!({"userName": "jane"});
        let out = patch(
            doc.clone(),
            json!([{"op": "remove", "path": "emails.value"}]),
        )
        .unwrap();
        assert!(out.get("emails").is_none());
        let (status, scim_type, detail) = err_of(patch(
            doc,
            json!([{"op": "replace", "path": "emails.type", "value": "work"}]),
        ));
        assert_eq!((status, scim_type), (400, Some("noTarget")));
        assert_eq!(detail, "emails has no entries");
    }

    #[test]
    fn remove_with_a_value_removes_only_those_entries() {
        let doc = json!({
            "userName": "jane",
            "emails": [{"value": "a@x.io"}, {"value": "b@x.io"}, {"value": "c@x.io"}],
        });
        let out = patch(
            doc,
            json!([{"op": "remove", "path": "emails", "value": [{"value": "B@x.io"}]}]),
        )
        .unwrap();
        assert_eq!(
            out["emails"],
            json!([{"value": "a@x.io"}, {"value": "c@x.io"}])
        );
    }

    #[test]
    fn replace_of_a_single_complex_attribute_merges_its_sub_attributes() {
        let out = patch(
            jane(),
            json!([{"op": "replace", "path": "name", "value": {"givenName": "Janet"}}]),
        )
        .unwrap();
        assert_eq!(
            out["name"],
            json!({"givenName": "Janet", "familyName": "Doe"})
        );
    }

    #[test]
    fn remove_by_filter_keeps_the_unmatched_entries() {
        let doc = json!({
            "userName": "jane",
            "emails": [{"value": "a@x.io", "type": "work"}, {"value": "b@x.io", "type": "home"}],
        });
        let out = patch(
            doc,
            json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]),
        )
        .unwrap();
        assert_eq!(out["emails"], json!([{"value": "a@x.io", "type": "work"}]));
    }

    #[test]
    fn only_a_true_primary_clears_the_other_entries_primary() {
        let doc = json!({
            "userName": "jane",
            "emails": [
                {"value": "a@x.io", "type": "work", "primary": true},
                {"value": "b@x.io", "type": "home"},
            ],
        });
        let out = patch(
            doc.clone(),
            json!([
                {"op": "replace", "path": "emails[type eq \"home\"].primary", "value": false},
                {"op": "replace", "path": "emails[type eq \"home\"].display", "value": "true"},
            ]),
        )
        .unwrap();
        assert_eq!(out["emails"][0]["primary"], true);
        let out = patch(
            doc,
            json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}]),
        )
        .unwrap();
        assert!(out["emails"][0].get("primary").is_none());
        assert_eq!(out["emails"][1]["primary"], true);
    }

    #[test]
    fn a_whole_entry_set_primary_by_filter_clears_the_others() {
        let doc = json!({
            "userName": "jane",
            "emails": [
                {"value": "a@x.io", "type": "work", "primary": true},
                {"value": "b@x.io", "type": "home"},
            ],
        });
        let out = patch(
            doc,
            json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": {"primary": true}}]),
        )
        .unwrap();
        assert_eq!(
            out["emails"],
            json!([
                {"value": "a@x.io", "type": "work"},
                {"value": "b@x.io", "type": "home", "primary": true},
            ])
        );
    }

    #[test]
    fn a_missing_entry_is_created_from_an_and_of_eq_comparisons() {
        let out = patch(
            json!({"userName": "jane"}),
            json!([{
                "op": "add",
                "path": "emails[type eq \"work\" and display eq \"Work\"].value",
                "value": "w@x.io",
            }]),
        )
        .unwrap();
        assert_eq!(
            out["emails"],
            json!([{"value": "w@x.io", "type": "work", "display": "Work"}])
        );
    }

    #[test]
    fn value_filters_compare_as_rfc7644_says() {
        let schema = CustomSchema::parse(
            &json!({"id": ACME, "attributes": [
                {"name": "phones", "type": "complex", "multiValued": true, "subAttributes": [
                    {"name": "value", "type": "string"}, {"name": "n", "type": "integer"},
                    {"name": "ok", "type": "boolean"}, {"name": "s", "type": "string"},
                    {"name": "list", "type": "string"}, {"name": "m", "type": "string"},
                    {"name": "t", "type": "string"}, {"name": "arr", "type": "string"}]},
            ]}),
            None,
        )
        .unwrap();
        let def = schema.def.attr("phones").unwrap();
        let entry = json!({"value": "Ab-12", "n": 5, "ok": true, "s": "False", "list": "", "t": "TRUE", "arr": []});
        let entry = entry.as_object().unwrap();
        let holds = |f: &str| {
            let p = filter::parse_patch_path(&format!("phones[{f}]"), Limits::default()).unwrap();
            eval(p.filter.as_ref().unwrap(), entry, def).unwrap()
        };
        for (f, expected) in [
            ("value eq \"ab-12\"", true),
            ("value ne \"ab-12\"", false),
            ("value ne \"x\"", true),
            ("t eq true", true),
            ("arr pr", false),
            ("value co \"B-1\"", true),
            ("value co \"x\"", false),
            ("value sw \"ab\"", true),
            ("value sw \"12\"", false),
            ("value ew \"12\"", true),
            ("value ew \"ab\"", false),
            ("value gt \"aa\"", true),
            ("value gt \"ab-12\"", false),
            ("value ge \"ab-12\"", true),
            ("value ge \"b\"", false),
            ("value lt \"b\"", true),
            ("value lt \"ab-12\"", false),
            ("value le \"ab-12\"", true),
            ("value le \"aa\"", false),
            ("n eq 5", true),
            ("n ne 5", false),
            ("n gt 4", true),
            ("n lt 4", false),
            ("ok eq true", true),
            ("ok ne true", false),
            ("ok eq false", false),
            ("ok ne false", true),
            ("ok gt false", false),
            ("s eq false", true),
            ("s eq true", false),
            ("value eq true", false),
            ("value ne true", false),
            ("m eq null", true),
            ("m ne null", false),
            ("value eq null", false),
            ("value ne null", true),
            ("m eq \"x\"", false),
            ("m ne \"x\"", true),
            ("n eq \"5\"", false),
            ("n ne \"5\"", true),
            ("value pr", true),
            ("list pr", false),
            ("m pr", false),
            ("n pr", true),
            ("n eq 5 and ok eq true", true),
            ("n eq 5 and ok eq false", false),
            ("n eq 4 or ok eq true", true),
            ("n eq 4 or ok eq false", false),
            ("not (n eq 5)", false),
            ("not (n eq 4)", true),
        ] {
            assert_eq!(holds(f), expected, "{f}");
        }
        let p = filter::parse_patch_path("phones[value.x eq \"a\"]", Limits::default()).unwrap();
        let e = eval(p.filter.as_ref().unwrap(), entry, def).unwrap_err();
        assert_eq!(e.scim_type().map(|t| t.as_str()), Some("invalidFilter"));
    }

    #[test]
    fn entries_are_the_same_by_value_case_insensitively() {
        let out = patch(
            jane(),
            json!([{"op": "add", "path": "emails", "value": [{"value": "JANE@example.com"}]}]),
        )
        .unwrap();
        assert_eq!(
            out["emails"],
            json!([{"value": "jane@example.com", "type": "work", "primary": true}])
        );
    }

    #[test]
    fn adding_an_entry_without_primary_keeps_the_primary() {
        let out = patch(
            jane(),
            json!([{"op": "add", "path": "emails", "value": [{"value": "j2@example.com", "primary": "False"}]}]),
        )
        .unwrap();
        assert_eq!(out["emails"][0]["primary"], true);
        let out = patch(
            jane(),
            json!([{"op": "add", "path": "emails", "value": [{"value": "j2@example.com", "primary": "True"}]}]),
        )
        .unwrap();
        assert!(out["emails"][0].get("primary").is_none());
    }

    #[test]
    fn a_bare_string_manager_becomes_its_value() {
        let out = patch_raw(
            json!({"userName": "jane"}),
            json!([
                {"op": "replace", "path": format!("{ENTERPRISE_USER_SCHEMA}:manager"), "value": "m2"},
                {"op": "replace", "path": "title", "value": "t"},
            ]),
        )
        .unwrap();
        assert_eq!(
            out[ENTERPRISE_USER_SCHEMA]["manager"],
            json!({"value": "m2"})
        );
        assert_eq!(out["title"], "t");
    }

    #[test]
    fn a_whole_entry_with_another_true_field_keeps_the_primary() {
        let doc = json!({
            "userName": "jane",
            "emails": [
                {"value": "a@x.io", "type": "work", "primary": true},
                {"value": "b@x.io", "type": "home"},
            ],
        });
        let out = patch(
            doc,
            json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": {"display": "true"}}]),
        )
        .unwrap();
        assert_eq!(out["emails"][0]["primary"], true);
    }

    #[test]
    fn no_entry_is_made_up_from_a_comparison_of_a_sub_sub_attribute() {
        let (status, scim_type, _) = err_of(patch(
            json!({"userName": "jane"}),
            json!([{"op": "add", "path": "emails[type.x eq \"work\"].value", "value": "w@x.io"}]),
        ));
        assert_eq!((status, scim_type), (400, Some("noTarget")));
    }
}
