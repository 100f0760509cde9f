//! Custom schema extensions of an organization (`org_schemas`).

use chrono::Utc;
use entity::{directory, org_schema, scim_user_value};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use uuid::Uuid;

use serde_json::Value;

use super::directories::DirectoryPrincipal;
use super::{db_error, is_unique_violation};
use std::collections::HashMap;

use crate::domain::custom_attrs::{self, CustomValues, ValueRow, row_kind};
use crate::domain::custom_schema::{CustomSchema, MAX_SCHEMAS_PER_ORG, resource_type_name};
use crate::domain::schema::ResourceKind;
use crate::domain::user::UserInput;
use crate::error::{ScimError, ScimResult};

/// Registers `schema` for the organization; its URN must be new to it.
pub async fn add<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    schema: &CustomSchema,
) -> ScimResult<org_schema::Model> {
    let count = org_schema::Entity::find()
        .filter(org_schema::Column::OrgId.eq(org_id))
        .count(db)
        .await
        .map_err(db_error)?;
    if count >= MAX_SCHEMAS_PER_ORG as u64 {
        return Err(ScimError::invalid_value(format!(
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
            ScimError::uniqueness(format!(
                "the schema {} is already registered for this organization",
                schema.id
            ))
        } else {
            db_error(e)
        }
    })
}

/// The organization's schemas, oldest first.
pub async fn list<C: ConnectionTrait>(db: &C, org_id: Uuid) -> ScimResult<Vec<org_schema::Model>> {
    org_schema::Entity::find()
        .filter(org_schema::Column::OrgId.eq(org_id))
        .order_by_asc(org_schema::Column::CreatedAt)
        .order_by_asc(org_schema::Column::Id)
        .all(db)
        .await
        .map_err(db_error)
}

/// The organization's schemas, parsed.
pub async fn schemas<C: ConnectionTrait>(db: &C, org_id: Uuid) -> ScimResult<Vec<CustomSchema>> {
    list(db, org_id).await?.iter().map(parse).collect()
}

pub fn parse(m: &org_schema::Model) -> ScimResult<CustomSchema> {
    CustomSchema::from_stored(&m.document, &m.resource_type)
}

/// Removes a schema by URN (case-insensitive), and the values the
/// organization's users have of it; 404 when there is none.
pub async fn remove<C: ConnectionTrait>(db: &C, org_id: Uuid, urn: &str) -> ScimResult<()> {
    let Some(m) = org_schema::Entity::find()
        .filter(org_schema::Column::OrgId.eq(org_id))
        .filter(org_schema::Column::UrnLower.eq(urn.to_lowercase()))
        .one(db)
        .await
        .map_err(db_error)?
    else {
        return Err(ScimError::not_found(format!(
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
        .filter(scim_user_value::Column::DirectoryId.in_subquery(dirs))
        .filter(scim_user_value::Column::Attr.starts_with(format!("{}:", m.urn)))
        .exec(db)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// The organization's User extensions.
pub async fn user_extensions<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
) -> ScimResult<Vec<CustomSchema>> {
    Ok(schemas(db, org_id)
        .await?
        .into_iter()
        .filter(|s| s.resource_type == ResourceKind::User)
        .collect())
}

/// Sets the custom extension values of a decoded User `body` (loading the
/// organization's schemas only when the body names an extension the server
/// does not define itself); returns the attribute paths no schema knows.
pub async fn with_custom<C: ConnectionTrait>(
    db: &C,
    dir: &DirectoryPrincipal,
    body: &Value,
    input: UserInput,
) -> ScimResult<(UserInput, Vec<String>)> {
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
        return Err(ScimError::invalid_syntax(format!(
            "unknown attribute {first}: no registered schema (this directory refuses attributes no schema knows)"
        )));
    }
    Ok((input, ignored))
}

const REJECT_UNKNOWN: &str = "reject_unknown_attributes";

/// Whether the directory refuses attributes no registered schema knows.
pub async fn rejects_unknown_attributes<C: ConnectionTrait>(
    db: &C,
    directory_id: Uuid,
) -> ScimResult<bool> {
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
) -> ScimResult<()> {
    let q = Query::update()
        .table(directory::Entity)
        .value(Alias::new(REJECT_UNKNOWN), reject)
        .and_where(Expr::col(directory::Column::Id).eq(directory_id))
        .and_where(Expr::col(directory::Column::OrgId).eq(org_id))
        .to_owned();
    let res = db.execute(&q).await.map_err(db_error)?;
    if res.rows_affected() == 0 {
        return Err(ScimError::not_found(format!(
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
) -> ScimResult<HashMap<Uuid, CustomValues>> {
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
