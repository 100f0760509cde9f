//! How the SCIM API reads a user: one statement for a link with its
//! multi-valued attributes and groups (`GET /Users/{id}`, a page of one,
//! the lock of a write).

use sea_orm::sea_query::{Asterisk, Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, JoinType,
    QueryFilter, QueryResult, QueryTrait,
};
use uuid::Uuid;

use super::{StoredUser, not_found};
use crate::domain::custom_attrs::{CustomValues, ValueRow, row_kind};
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::etag::IfMatch;
use crate::domain::types::UserName;
use crate::domain::user::{Address, MULTI_VALUED, MultiValue, UserAttrs};
use crate::store::directories::{DirectoryPrincipal, principal_from, token_lookup};
use crate::store::{db_error, versioned};
use entity::{scim_user, scim_user_value};

pub async fn get<C: ConnectionTrait>(
    db: &C,
    dir: &DirectoryPrincipal,
    id: Uuid,
) -> DomainResult<Option<StoredUser>> {
    let select = scim_user::Entity::find_by_id(id)
        .filter(scim_user::Column::DirectoryId.eq(dir.directory_id));
    Ok(load(db, select).await?.pop())
}

/// A GET by id with its authentication in one statement (on SQLite each
/// statement is a round trip to a connection's thread): the static token
/// whose hash is `token_hash` with its directory, and that directory's
/// link `id` with its values and groups. `None`: no valid static token
/// (revoked, expired, unknown: the caller tries the other credentials);
/// else the principal and the user, if the directory has it.
pub async fn get_with_token<C: ConnectionTrait>(
    db: &C,
    token_hash: &str,
    id: Uuid,
) -> DomainResult<Option<(DirectoryPrincipal, Option<StoredUser>)>> {
    let [values, groups] = nested_of(db.get_database_backend());
    let mut q = token_lookup(token_hash);
    q.join(
        JoinType::LeftJoin,
        scim_user::Entity,
        Condition::all()
            .add(Expr::col((scim_user::Entity, scim_user::Column::Id)).eq(id))
            .add(
                Expr::col((scim_user::Entity, scim_user::Column::DirectoryId))
                    .equals((entity::directory::Entity, entity::directory::Column::Id)),
            ),
    )
    .column((scim_user::Entity, Asterisk))
    .expr_as(Expr::cust(values), "nested_values")
    .expr_as(Expr::cust(groups), "nested_groups");
    let Some(row) = db.query_one(&q).await.map_err(db_error)? else {
        return Ok(None);
    };
    let Some(principal) = principal_from(&row, token_hash)? else {
        return Ok(None);
    };
    let found: Option<Uuid> = row.try_get("", "id").map_err(db_error)?;
    let user = match found {
        Some(_) => Some(from_nested_row(&row)?),
        None => None,
    };
    Ok(Some((principal, user)))
}

/// A link's multi-valued attributes as one JSON array of rows (ordered as
/// the page reader orders them), and its directory's groups the account is a
/// member of, as correlated subqueries on the (user, attr, position) and
/// (account, group) indexes. One statement reads a user whole: on SQLite
/// every statement is a round trip to the connection's thread, and that
/// hand-off, not the SQL, is what a read costs.
const NESTED_SQLITE: [&str; 2] = [
    r#"(SELECT json_group_array(json_array(v.attr, v.position, v.value, v.display, v."type",
          CASE v."primary" WHEN 1 THEN json('true') WHEN 0 THEN json('false') END,
          v.formatted, v.street_address, v.locality, v.region, v.postal_code, v.country)
          ORDER BY v.attr, v.position)
        FROM scim_user_values v WHERE v.user_id = "scim_users"."id")"#,
    r#"(SELECT json_group_array(json_array(hex(g.id), g.display_name) ORDER BY g.display_name_lower)
        FROM group_members gm JOIN "groups" g ON g.id = gm.group_id
        WHERE gm.account_id = "scim_users"."account_id" AND g.directory_id = "scim_users"."directory_id")"#,
];
const NESTED_POSTGRES: [&str; 2] = [
    r#"(SELECT COALESCE(json_agg(json_build_array(v.attr, v.position, v.value, v.display, v."type",
          v."primary", v.formatted, v.street_address, v.locality, v.region, v.postal_code, v.country)
          ORDER BY v.attr, v.position), '[]')::text
        FROM scim_user_values v WHERE v.user_id = "scim_users"."id")"#,
    r#"(SELECT COALESCE(json_agg(json_build_array(g.id, g.display_name) ORDER BY g.display_name_lower), '[]')::text
        FROM group_members gm JOIN "groups" g ON g.id = gm.group_id
        WHERE gm.account_id = "scim_users"."account_id" AND g.directory_id = "scim_users"."directory_id")"#,
];

/// One row of a link's multi-valued attributes as [`NESTED_SQLITE`]
/// nests it (a JSON array in column order).
#[derive(serde::Deserialize)]
pub(super) struct NestedValue {
    attr: String,
    position: i32,
    value: Option<String>,
    display: Option<String>,
    kind: Option<String>,
    primary: Option<bool>,
    formatted: Option<String>,
    street_address: Option<String>,
    locality: Option<String>,
    region: Option<String>,
    postal_code: Option<String>,
    country: Option<String>,
}

fn nested_of(backend: DbBackend) -> [&'static str; 2] {
    match backend {
        DbBackend::Postgres => NESTED_POSTGRES,
        _ => NESTED_SQLITE,
    }
}

/// Loads the links `select` picks, each with its multi-valued attributes
/// and groups: one statement whatever the number of links.
pub(super) async fn load<C: ConnectionTrait>(
    db: &C,
    select: sea_orm::Select<scim_user::Entity>,
) -> DomainResult<Vec<StoredUser>> {
    let nested = nested_of(db.get_database_backend());
    let mut query = select.into_query();
    query
        .expr_as(Expr::cust(nested[0]), "nested_values")
        .expr_as(Expr::cust(nested[1]), "nested_groups");
    let rows = db.query_all(&query).await.map_err(db_error)?;
    rows.iter().map(from_nested_row).collect()
}

/// A link with its values and groups from a row [`load`] (or a locking
/// UPDATE returning the same) selected.
fn from_nested_row(row: &QueryResult) -> DomainResult<StoredUser> {
    let link = scim_user::Model::from_query_result(row, "").map_err(db_error)?;
    let values: Option<String> = row.try_get("", "nested_values").map_err(db_error)?;
    let groups: Option<String> = row.try_get("", "nested_groups").map_err(db_error)?;
    let corrupt = |e: serde_json::Error| {
        DomainError::internal(format!("stored values of User {} unreadable: {e}", link.id))
    };
    let values: Vec<NestedValue> =
        serde_json::from_str(values.as_deref().unwrap_or("[]")).map_err(corrupt)?;
    let groups: Vec<(String, String)> =
        serde_json::from_str(groups.as_deref().unwrap_or("[]")).map_err(corrupt)?;
    let groups = groups
        .into_iter()
        .map(|(id, name)| {
            Uuid::parse_str(&id)
                .map(|id| (id, name))
                .map_err(|e| DomainError::internal(format!("group id {id:?}: {e}")))
        })
        .collect::<DomainResult<Vec<_>>>()?;
    build_nested(link, &values, groups)
}

/// A link with its values (of this link only) and groups, as the SCIM API
/// shows it.
pub(super) fn build_nested(
    link: scim_user::Model,
    mine: &[NestedValue],
    groups: Vec<(Uuid, String)>,
) -> DomainResult<StoredUser> {
    let mut attrs = link_attrs(&link)?;
    for attr in MULTI_VALUED {
        let list: Vec<MultiValue> = mine
            .iter()
            .filter(|v| v.attr == attr)
            .map(|v| MultiValue {
                value: v.value.clone(),
                display: v.display.clone(),
                kind: v.kind.clone(),
                primary: v.primary,
            })
            .collect();
        attrs.set_multi(attr, list);
    }
    if mine.iter().any(|v| v.attr.starts_with("urn:")) {
        let custom: Vec<ValueRow> = mine
            .iter()
            .filter(|v| v.attr.starts_with("urn:"))
            .map(|v| ValueRow {
                key: v.attr.clone(),
                position: v.position,
                sub: v.display.clone(),
                kind: row_kind(v.kind.as_deref().unwrap_or_default()),
                text: v.value.clone().unwrap_or_default(),
            })
            .collect();
        attrs.custom = CustomValues::from_rows(&custom);
    }
    attrs.addresses = mine
        .iter()
        .filter(|v| v.attr == "addresses")
        .map(|v| Address {
            formatted: v.formatted.clone(),
            street_address: v.street_address.clone(),
            locality: v.locality.clone(),
            region: v.region.clone(),
            postal_code: v.postal_code.clone(),
            country: v.country.clone(),
            kind: v.kind.clone(),
            primary: v.primary,
        })
        .collect();
    Ok(StoredUser {
        link,
        attrs,
        groups,
        ignored: vec![],
    })
}

impl From<&scim_user_value::Model> for NestedValue {
    fn from(v: &scim_user_value::Model) -> Self {
        Self {
            attr: v.attr.clone(),
            position: v.position,
            value: v.value.clone(),
            display: v.display.clone(),
            kind: v.r#type.clone(),
            primary: v.primary,
            formatted: v.formatted.clone(),
            street_address: v.street_address.clone(),
            locality: v.locality.clone(),
            region: v.region.clone(),
            postal_code: v.postal_code.clone(),
            country: v.country.clone(),
        }
    }
}

fn link_attrs(l: &scim_user::Model) -> DomainResult<UserAttrs> {
    let user_name = UserName::parse(&l.user_name)
        .map_err(|_| DomainError::internal(format!("stored userName of {} is invalid", l.id)))?;
    let mut a = UserAttrs::new(user_name);
    a.external_id = l.external_id.clone();
    a.display_name = l.display_name.clone();
    a.nick_name = l.nick_name.clone();
    a.profile_url = l.profile_url.clone();
    a.title = l.title.clone();
    a.user_type = l.user_type.clone();
    a.preferred_language = l.preferred_language.clone();
    a.locale = l.locale.clone();
    a.timezone = l.timezone.clone();
    a.active = l.active;
    a.name.formatted = l.name_formatted.clone();
    a.name.family_name = l.name_family_name.clone();
    a.name.given_name = l.name_given_name.clone();
    a.name.middle_name = l.name_middle_name.clone();
    a.name.honorific_prefix = l.name_honorific_prefix.clone();
    a.name.honorific_suffix = l.name_honorific_suffix.clone();
    a.enterprise.employee_number = l.employee_number.clone();
    a.enterprise.cost_center = l.cost_center.clone();
    a.enterprise.organization = l.organization.clone();
    a.enterprise.division = l.division.clone();
    a.enterprise.department = l.department.clone();
    a.enterprise.manager = l.manager_value.clone();
    Ok(a)
}

/// Locks the link for the rest of the transaction (a version bump is the
/// first write, so concurrent writers queue on the row) and loads it.
pub async fn lock<C: ConnectionTrait>(
    tx: &C,
    dir: &DirectoryPrincipal,
    id: Uuid,
    if_match: Option<&IfMatch>,
) -> DomainResult<StoredUser> {
    let row = scim_user::Entity::update_many()
        .filter(scim_user::Column::Id.eq(id))
        .filter(scim_user::Column::DirectoryId.eq(dir.directory_id));
    // The bump returns the link with its values and groups, as `get`
    // reads it: one statement under the write lock.
    let [values, groups] = nested_of(tx.get_database_backend());
    let returning = vec![
        Expr::cust("*"),
        Expr::cust(format!("{values} AS nested_values")),
        Expr::cust(format!("{groups} AS nested_groups")),
    ];
    versioned::lock(
        tx,
        row,
        scim_user::Column::Version,
        if_match,
        returning,
        from_nested_row,
        async || Ok(get(tx, dir, id).await?.map(|u| u.link.version)),
    )
    .await?
    .ok_or_else(|| not_found(&id.to_string()))
}
