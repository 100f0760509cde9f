//! Custom schema extensions of an organization (`org_schemas`).

use chrono::Utc;
use entity::{directory, org_schema, scim_group_value, scim_user_value};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, NotSet, PaginatorTrait,
    QueryFilter, QueryOrder, Set,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use serde_json::Value;

use super::directories::DirectoryPrincipal;
use super::{db_error, is_unique_violation};
use std::collections::HashMap;

use crate::domain::custom_attrs::{self, CustomValues, ValueRow, row_kind};
use crate::domain::custom_schema::{
    CustomSchema, MAX_SCHEMAS_PER_ORG, Uniqueness, resource_type_name,
};
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::patch::{self, PatchOp};
use crate::domain::schema::ResourceKind;
use crate::domain::user::UserInput;
use crate::error::ScimError;

/// Registers `schema` for the organization; its URN must be new to it.
pub async fn add<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    schema: &CustomSchema,
) -> DomainResult<org_schema::Model> {
    let count = org_schema::Entity::find()
        .filter(org_schema::Column::OrgId.eq(org_id))
        .count(db)
        .await
        .map_err(db_error)?;
    if count >= MAX_SCHEMAS_PER_ORG as u64 {
        return Err(DomainError::invalid(format!(
            "an organization may register at most {MAX_SCHEMAS_PER_ORG} schemas"
        )));
    }
    org_schema::ActiveModel {
        id: Set(Uuid::now_v7()),
        org_id: Set(org_id),
        urn: Set(schema.id.clone()),
        urn_lower: Set(schema.id.to_lowercase()),
        resource_type: Set(resource_type_name(schema.resource_type).to_owned()),
        document: Set(schema.stored_document()),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            DomainError::taken(format!(
                "the schema {} is already registered for this organization",
                schema.id
            ))
        } else {
            db_error(e)
        }
    })
}

/// The organization's schemas, oldest first.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
) -> DomainResult<Vec<org_schema::Model>> {
    org_schema::Entity::find()
        .filter(org_schema::Column::OrgId.eq(org_id))
        .order_by_asc(org_schema::Column::CreatedAt)
        .order_by_asc(org_schema::Column::Id)
        .all(db)
        .await
        .map_err(db_error)
}

/// A registered schema as the admin API and the CLI show it (read model).
#[derive(Debug, Clone)]
pub struct SchemaView {
    pub urn: String,
    pub resource_type: String,
    pub required: bool,
    pub created_at: chrono::DateTime<Utc>,
    /// The Schema document as served.
    pub document: Value,
}

impl SchemaView {
    pub fn of(m: org_schema::Model) -> DomainResult<Self> {
        let s = parse(&m)?;
        Ok(Self {
            urn: m.urn,
            resource_type: m.resource_type,
            required: s.required,
            created_at: m.created_at,
            document: s.document,
        })
    }
}

/// The organization's schemas as shown, oldest first.
pub async fn views<C: ConnectionTrait>(db: &C, org_id: Uuid) -> DomainResult<Vec<SchemaView>> {
    list(db, org_id)
        .await?
        .into_iter()
        .map(SchemaView::of)
        .collect()
}

/// The organization's schemas, parsed.
pub async fn schemas<C: ConnectionTrait>(db: &C, org_id: Uuid) -> DomainResult<Vec<CustomSchema>> {
    list(db, org_id).await?.iter().map(parse).collect()
}

pub fn parse(m: &org_schema::Model) -> DomainResult<CustomSchema> {
    Ok(CustomSchema::from_stored(&m.document, &m.resource_type)?)
}

/// Removes a schema by URN (case-insensitive), and the values the
/// organization's users have of it; 404 when there is none.
pub async fn remove<C: ConnectionTrait>(db: &C, org_id: Uuid, urn: &str) -> DomainResult<()> {
    let Some(m) = org_schema::Entity::find()
        .filter(org_schema::Column::OrgId.eq(org_id))
        .filter(org_schema::Column::UrnLower.eq(urn.to_lowercase()))
        .one(db)
        .await
        .map_err(db_error)?
    else {
        return Err(DomainError::not_found(format!(
            "no schema {urn:?} is registered"
        )));
    };
    org_schema::Entity::delete_by_id(m.id)
        .exec(db)
        .await
        .map_err(db_error)?;
    let dirs = Query::select()
        .column(directory::Column::Id)
        .from(directory::Entity)
        .and_where(Expr::col(directory::Column::OrgId).eq(org_id))
        .to_owned();
    scim_user_value::Entity::delete_many()
        .filter(scim_user_value::Column::DirectoryId.in_subquery(dirs.clone()))
        .filter(scim_user_value::Column::Attr.starts_with(format!("{}:", m.urn)))
        .exec(db)
        .await
        .map_err(db_error)?;
    scim_group_value::Entity::delete_many()
        .filter(scim_group_value::Column::DirectoryId.in_subquery(dirs))
        .filter(scim_group_value::Column::Attr.starts_with(format!("{}:", m.urn)))
        .exec(db)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// The organization's User extensions.
pub async fn user_extensions<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
) -> DomainResult<Vec<CustomSchema>> {
    extensions(db, org_id, ResourceKind::User).await
}

/// The organization's Group extensions.
pub async fn group_extensions<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
) -> DomainResult<Vec<CustomSchema>> {
    extensions(db, org_id, ResourceKind::Group).await
}

async fn extensions<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    kind: ResourceKind,
) -> DomainResult<Vec<CustomSchema>> {
    let name = resource_type_name(kind);
    org_schema::Entity::find()
        .filter(org_schema::Column::OrgId.eq(org_id))
        .filter(org_schema::Column::ResourceType.eq(name))
        .order_by_asc(org_schema::Column::CreatedAt)
        .order_by_asc(org_schema::Column::Id)
        .all(db)
        .await
        .map_err(db_error)?
        .iter()
        .map(parse)
        .collect()
}

/// The `unique_key` of a stored custom value: for an attribute whose
/// `uniqueness` is `server` or `global`, a hash of its scope (the
/// directory, or the organization) and of its value as compared; the
/// value tables' unique index on (attr, unique_key) refuses a second
/// resource with the same key, also between concurrent transactions.
/// (A hash keeps index entries small whatever the value's length.)
pub fn unique_key(
    values: &CustomValues,
    row: &ValueRow,
    directory_id: Uuid,
    org_id: Uuid,
) -> Option<String> {
    let (scope, text) = values.unique_of(row)?;
    let scope_id = match scope {
        Uniqueness::Server => directory_id,
        Uniqueness::Global => org_id,
    };
    let mut h = Sha256::new();
    h.update(scope_id.as_bytes());
    h.update(text.as_bytes());
    Some(hex::encode(h.finalize()))
}

/// The 409 of a write whose unique custom values another resource holds
/// (a unique violation on a value table), or the error as it is.
pub fn unique_conflict(values: &CustomValues, resource: &str, err: DbErr) -> DomainError {
    if !is_unique_violation(&err) {
        return db_error(err);
    }
    let paths = values.unique_paths();
    let which = match paths.as_slice() {
        [one] => one.clone(),
        many => format!("one of {}", many.join(", ")),
    };
    DomainError::taken(format!(
        "{which}: the value is already used by another {resource} (uniqueness)"
    ))
}

/// The rows of a group's custom values.
fn group_rows(
    group_id: Uuid,
    directory_id: Uuid,
    org_id: Uuid,
    values: &CustomValues,
) -> Vec<scim_group_value::ActiveModel> {
    values
        .rows()
        .into_iter()
        .map(|r| scim_group_value::ActiveModel {
            id: NotSet,
            group_id: Set(group_id),
            directory_id: Set(directory_id),
            unique_key: Set(unique_key(values, &r, directory_id, org_id)),
            attr: Set(r.key),
            position: Set(r.position),
            value_lower: Set(Some(r.text.to_lowercase())),
            value: Set(Some(r.text)),
            display: Set(r.sub),
            r#type: Set(Some(r.kind.to_owned())),
        })
        .collect()
}

/// Writes a group's custom values (`replace`: instead of those it has).
pub async fn write_group_values<C: ConnectionTrait>(
    db: &C,
    dir: &DirectoryPrincipal,
    group_id: Uuid,
    values: &CustomValues,
    replace: bool,
) -> DomainResult<()> {
    if replace {
        scim_group_value::Entity::delete_many()
            .filter(scim_group_value::Column::GroupId.eq(group_id))
            .exec(db)
            .await
            .map_err(db_error)?;
    }
    let rows = group_rows(group_id, dir.directory_id, dir.org_id, values);
    if !rows.is_empty() {
        scim_group_value::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await
            .map_err(|e| unique_conflict(values, "Group", e))?;
    }
    Ok(())
}

/// Decodes the extension keys of a Group body (POST/PUT) against the
/// organization's Group extensions (loaded only when there are any keys).
/// Keys of unregistered extensions are dropped, as for Users.
pub async fn decode_group<C: ConnectionTrait>(
    db: &C,
    dir: &DirectoryPrincipal,
    extensions: &serde_json::Map<String, Value>,
) -> DomainResult<CustomValues> {
    if extensions.is_empty() {
        return Ok(CustomValues::default());
    }
    let ext = group_extensions(db, dir.org_id).await?;
    Ok(custom_attrs::decode(&Value::Object(extensions.clone()), &ext)?.values)
}

/// The extension attributes of a Group body (its keys of extensions the
/// server does not define) that no registered Group schema knows: dropped
/// by the write, they are sync-log warnings; 400 `invalidSyntax` instead
/// when the directory refuses them. Bad values are left to the write's
/// own decoding.
pub async fn group_ignored<C: ConnectionTrait>(
    db: &C,
    dir: &DirectoryPrincipal,
    extensions: &serde_json::Map<String, Value>,
) -> DomainResult<Vec<String>> {
    if extensions.is_empty() {
        return Ok(vec![]);
    }
    let ext = group_extensions(db, dir.org_id).await?;
    let ignored = custom_attrs::decode(&Value::Object(extensions.clone()), &ext)
        .map(|d| d.ignored)
        .unwrap_or_default();
    if let Some(first) = ignored.first()
        && rejects_unknown_attributes(db, dir.directory_id).await?
    {
        return Err(unknown_refused(first));
    }
    Ok(ignored)
}

/// The custom values of groups (by id), in one query.
pub async fn group_values_of<C: ConnectionTrait>(
    db: &C,
    group_ids: &[Uuid],
) -> DomainResult<HashMap<Uuid, CustomValues>> {
    if group_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = scim_group_value::Entity::find()
        .filter(scim_group_value::Column::GroupId.is_in(group_ids.to_vec()))
        .order_by_asc(scim_group_value::Column::GroupId)
        .order_by_asc(scim_group_value::Column::Attr)
        .order_by_asc(scim_group_value::Column::Position)
        .all(db)
        .await
        .map_err(db_error)?;
    let mut per: HashMap<Uuid, Vec<ValueRow>> = HashMap::new();
    for v in rows {
        per.entry(v.group_id).or_default().push(ValueRow {
            key: v.attr,
            position: v.position,
            sub: v.display,
            kind: row_kind(v.r#type.as_deref().unwrap_or_default()),
            text: v.value.unwrap_or_default(),
        });
    }
    Ok(per
        .into_iter()
        .map(|(id, rows)| (id, CustomValues::from_rows(&rows)))
        .collect())
}

/// Custom values of a page of groups, with the schemas to project them
/// (loaded only when some group has values).
#[derive(Debug, Default)]
pub struct GroupCustom {
    pub schemas: Vec<CustomSchema>,
    pub values: HashMap<Uuid, CustomValues>,
}

impl GroupCustom {
    pub async fn load<C: ConnectionTrait>(
        db: &C,
        org_id: Uuid,
        group_ids: &[Uuid],
    ) -> DomainResult<Self> {
        let values = group_values_of(db, group_ids).await?;
        let schemas = if values.is_empty() {
            vec![]
        } else {
            group_extensions(db, org_id).await?
        };
        Ok(Self { schemas, values })
    }
}

/// Applies PATCH operations on a group's custom extensions to its stored
/// values (only those: members are not read), validating the result as a
/// body would be; an operation naming an extension the organization has
/// not registered is 400 `invalidPath`.
pub async fn patch_group_values<C: ConnectionTrait>(
    db: &C,
    dir: &DirectoryPrincipal,
    group_id: Uuid,
    ops: &[PatchOp],
) -> DomainResult<()> {
    let ext = group_extensions(db, dir.org_id).await?;
    let known = |key: &str| {
        ext.iter().any(|s| {
            let prefix = format!("{}:", s.id);
            key.eq_ignore_ascii_case(&s.id)
                || (key.len() > prefix.len() && key[..prefix.len()].eq_ignore_ascii_case(&prefix))
        })
    };
    for op in ops {
        let unknown = match (&op.path, &op.value) {
            (Some(p), _) => p
                .attr
                .urn
                .as_deref()
                .filter(|u| !known(u))
                .map(str::to_owned),
            (None, Some(Value::Object(keys))) => keys.keys().find(|k| !known(k)).cloned(),
            _ => None,
        };
        if let Some(urn) = unknown {
            return Err(ScimError::invalid_path(format!(
                "unknown schema {urn:?} for a Group (no registered Group extension)"
            ))
            .into());
        }
    }
    let current = group_values_of(db, &[group_id])
        .await?
        .remove(&group_id)
        .unwrap_or_default();
    let mut doc = serde_json::Map::new();
    for (urn, attrs) in current.extensions() {
        doc.insert(urn.to_owned(), Value::Object(attrs.clone()));
    }
    patch::apply_to_user_with(&mut doc, ops, &ext)?;
    let values = custom_attrs::decode(&Value::Object(doc), &ext)?.values;
    write_group_values(db, dir, group_id, &values, true).await
}

/// Puts a group's custom values into its JSON (`schemas` lists them).
pub fn add_group_values(resource: &mut Value, values: Option<&CustomValues>) {
    let (Some(values), Value::Object(o)) = (values, resource) else {
        return;
    };
    for (urn, attrs) in values.extensions() {
        if let Some(Value::Array(schemas)) = o.get_mut("schemas") {
            schemas.push(Value::String(urn.to_owned()));
        }
        o.insert(urn.to_owned(), Value::Object(attrs.clone()));
    }
}

/// Sets the custom extension values of a decoded User `body` (loading the
/// organization's schemas only when the body names an extension the server
/// does not define itself); returns the attribute paths no schema knows.
pub async fn with_custom<C: ConnectionTrait>(
    db: &C,
    dir: &DirectoryPrincipal,
    body: &Value,
    input: UserInput,
) -> DomainResult<(UserInput, Vec<String>)> {
    let mut ignored = custom_attrs::unknown_core_keys(body);
    let input = if custom_attrs::mentions_extension(body) {
        let ext = user_extensions(db, dir.org_id).await?;
        let (input, dropped) = input.with_custom(body, &ext)?;
        ignored.extend(dropped);
        input
    } else {
        input
    };
    if let Some(first) = ignored.first()
        && rejects_unknown_attributes(db, dir.directory_id).await?
    {
        return Err(unknown_refused(first));
    }
    Ok((input, ignored))
}

/// The 400 of an attribute no registered schema knows, in a directory that
/// refuses them.
pub fn unknown_refused(path: &str) -> DomainError {
    ScimError::invalid_syntax(format!(
        "unknown attribute {path}: no registered schema (this directory refuses attributes no schema knows)"
    ))
    .into()
}

/// [`with_custom`] with the organization's User extensions and the
/// directory's setting at hand (an import reads them once).
pub fn custom_with(
    body: &Value,
    input: UserInput,
    ext: &[CustomSchema],
    reject_unknown: bool,
) -> DomainResult<(UserInput, Vec<String>)> {
    let mut ignored = custom_attrs::unknown_core_keys(body);
    let (input, dropped) = input.with_custom(body, ext)?;
    ignored.extend(dropped);
    match ignored.first() {
        Some(first) if reject_unknown => Err(unknown_refused(first)),
        _ => Ok((input, ignored)),
    }
}

const REJECT_UNKNOWN: &str = "reject_unknown_attributes";

/// Whether the directory refuses attributes no registered schema knows.
pub async fn rejects_unknown_attributes<C: ConnectionTrait>(
    db: &C,
    directory_id: Uuid,
) -> DomainResult<bool> {
    let q = Query::select()
        .column(Alias::new(REJECT_UNKNOWN))
        .from(directory::Entity)
        .and_where(Expr::col(directory::Column::Id).eq(directory_id))
        .to_owned();
    let row = db.query_one(&q).await.map_err(db_error)?;
    Ok(match row {
        Some(r) => r.try_get::<bool>("", REJECT_UNKNOWN).map_err(db_error)?,
        None => false,
    })
}

/// Sets the directory's setting (the directory must be the org's).
pub async fn set_reject_unknown_attributes<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    directory_id: Uuid,
    reject: bool,
) -> DomainResult<()> {
    let q = Query::update()
        .table(directory::Entity)
        .value(Alias::new(REJECT_UNKNOWN), reject)
        .and_where(Expr::col(directory::Column::Id).eq(directory_id))
        .and_where(Expr::col(directory::Column::OrgId).eq(org_id))
        .to_owned();
    let res = db.execute(&q).await.map_err(db_error)?;
    if res.rows_affected() == 0 {
        return Err(DomainError::not_found(format!(
            "no directory {directory_id} in this organization"
        )));
    }
    Ok(())
}

/// The custom extension values of provisioning links (by SCIM id), in one
/// query: for the admin's account detail.
pub async fn custom_values_of<C: ConnectionTrait>(
    db: &C,
    user_ids: &[Uuid],
) -> DomainResult<HashMap<Uuid, CustomValues>> {
    if user_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = scim_user_value::Entity::find()
        .filter(scim_user_value::Column::UserId.is_in(user_ids.to_vec()))
        .filter(scim_user_value::Column::Attr.starts_with("urn:"))
        .order_by_asc(scim_user_value::Column::UserId)
        .order_by_asc(scim_user_value::Column::Attr)
        .order_by_asc(scim_user_value::Column::Position)
        .all(db)
        .await
        .map_err(db_error)?;
    let mut per: HashMap<Uuid, Vec<ValueRow>> = HashMap::new();
    for v in rows {
        per.entry(v.user_id).or_default().push(ValueRow {
            key: v.attr,
            position: v.position,
            sub: v.display,
            kind: row_kind(v.r#type.as_deref().unwrap_or_default()),
            text: v.value.unwrap_or_default(),
        });
    }
    Ok(per
        .into_iter()
        .map(|(id, rows)| (id, CustomValues::from_rows(&rows)))
        .collect())
}
