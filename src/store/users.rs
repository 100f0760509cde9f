//! SCIM Users: provisioning links (`scim_users`) with their multi-valued
//! attributes (`scim_user_values`), and the rows of the accounts behind
//! them: queries and writes only; what to write is decided in
//! `service::users`.

use chrono::{DateTime, Utc};
use entity::site_membership::MembershipStatus;
use entity::{
    account, domain, group, group_member, scim_user, scim_user_value, site, site_membership,
};
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait, Query, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait,
    FromQueryResult, JoinType, NotSet, PaginatorTrait, QueryFilter, QueryOrder, QueryResult,
    QuerySelect, QueryTrait, Set, Statement,
};
use serde_json::json;
use uuid::Uuid;

use super::directories::{
    DirectoryPrincipal, authority_from, principal_from, select_authority, token_lookup,
    verified_domain_named,
};
use super::events::{self, EventType, NewEvent, Recorder};
use super::filter_sql::{
    Column, custom_sort, names_custom, user_column_with, users_condition_with,
};
use super::paging::{Sort, in_order, page_ids};
use super::sync_log::{self, SyncEntry};
use super::unnest::array_literal;
use super::{ROWS_PER_INSERT, db_error, insert_chunks, is_unique_violation, versioned};
use crate::domain::custom_attrs::{CustomValues, ValueRow, row_kind};
use crate::domain::custom_schema::CustomSchema;
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::etag::IfMatch;
use crate::domain::filter::AttrPath;
use crate::domain::lifecycle::{AccountFacts, AccountStatus, Authority};
use crate::domain::query::ListQuery;
use crate::domain::schema::AttrType;
use crate::domain::types::{Email, UserName};
use crate::domain::user::{
    AccountProfile, Address, MULTI_VALUED, MultiValue, Password, UserAttrs, UserInput,
};

/// A provisioning link as the SCIM API shows it.
#[derive(Debug, Clone)]
pub struct StoredUser {
    pub link: scim_user::Model,
    pub attrs: UserAttrs,
    /// Groups of this directory the account is a member of: (id, name).
    pub groups: Vec<(Uuid, String)>,
    /// Attributes the write that returned this user did not apply to the
    /// account, its directory not being authoritative for it (empty on
    /// reads). The sync log records them.
    pub ignored: Vec<&'static str>,
}

impl StoredUser {
    /// What the sync log says of the ignored attributes, if any.
    pub fn ignored_note(&self) -> Option<String> {
        (!self.ignored.is_empty()).then(|| {
            format!(
                "not authoritative: directory {} is not authoritative for this account; ignored {}",
                self.link.directory_id,
                self.ignored.join(", ")
            )
        })
    }
}

fn not_found(id: &str) -> DomainError {
    DomainError::not_found(format!("no User with id {id:?}"))
}

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
struct NestedValue {
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
async fn load<C: ConnectionTrait>(
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
fn build_nested(
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

/// (account, group id, group name) of the directory's groups the accounts
/// of `links` are members of: one query.
async fn memberships_of<C: ConnectionTrait>(
    db: &C,
    directory_id: Uuid,
    links: &[scim_user::Model],
) -> DomainResult<Vec<(Uuid, Uuid, String)>> {
    let accounts: Vec<Uuid> = links.iter().map(|l| l.account_id).collect();
    group_member::Entity::find()
        .select_only()
        .column(group_member::Column::AccountId)
        .column(group::Column::Id)
        .column(group::Column::DisplayName)
        .inner_join(group::Entity)
        .filter(group_member::Column::AccountId.is_in(accounts))
        .filter(group::Column::DirectoryId.eq(directory_id))
        .order_by_asc(group::Column::DisplayNameLower)
        .into_tuple()
        .all(db)
        .await
        .map_err(db_error)
}

/// One user from its link, its value rows and the memberships of a page.
fn build(
    link: scim_user::Model,
    mine: &[&scim_user_value::Model],
    memberships: &[(Uuid, Uuid, String)],
) -> DomainResult<StoredUser> {
    let values: Vec<NestedValue> = mine.iter().map(|v| NestedValue::from(*v)).collect();
    let groups = memberships
        .iter()
        .filter(|(a, _, _)| *a == link.account_id)
        .map(|(_, g, n)| (*g, n.clone()))
        .collect();
    build_nested(link, &values, groups)
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

/// Sets every SCIM column of the link from `a`.
fn set_link_attrs(m: &mut scim_user::ActiveModel, a: &UserAttrs) {
    m.user_name = Set(a.user_name.as_str().to_owned());
    m.user_name_lower = Set(a.user_name.lower().to_owned());
    m.external_id = Set(a.external_id.clone());
    m.display_name = Set(a.display_name.clone());
    m.display_name_lower = Set(a.display_name.as_ref().map(|d| d.to_lowercase()));
    m.nick_name = Set(a.nick_name.clone());
    m.profile_url = Set(a.profile_url.clone());
    m.title = Set(a.title.clone());
    m.user_type = Set(a.user_type.clone());
    m.preferred_language = Set(a.preferred_language.clone());
    m.locale = Set(a.locale.clone());
    m.timezone = Set(a.timezone.clone());
    m.active = Set(a.active);
    m.name_formatted = Set(a.name.formatted.clone());
    m.name_family_name = Set(a.name.family_name.clone());
    m.name_given_name = Set(a.name.given_name.clone());
    m.name_middle_name = Set(a.name.middle_name.clone());
    m.name_honorific_prefix = Set(a.name.honorific_prefix.clone());
    m.name_honorific_suffix = Set(a.name.honorific_suffix.clone());
    m.employee_number = Set(a.enterprise.employee_number.clone());
    m.cost_center = Set(a.enterprise.cost_center.clone());
    m.organization = Set(a.enterprise.organization.clone());
    m.division = Set(a.enterprise.division.clone());
    m.department = Set(a.enterprise.department.clone());
    m.manager_value = Set(a.enterprise.manager.clone());
}

/// Replaces the multi-valued attributes of a link.
async fn write_values<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    dir: &DirectoryPrincipal,
    a: &UserAttrs,
    replace: bool,
) -> DomainResult<()> {
    if replace {
        scim_user_value::Entity::delete_many()
            .filter(scim_user_value::Column::UserId.eq(user_id))
            .exec(db)
            .await
            .map_err(db_error)?;
    }
    let rows = value_rows(user_id, dir, a);
    if !rows.is_empty() {
        scim_user_value::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await
            .map_err(|e| super::org_schemas::unique_conflict(&a.custom, "User", e))?;
    }
    Ok(())
}

/// The `scim_user_values` rows of a link's multi-valued attributes.
fn value_rows(
    user_id: Uuid,
    dir: &DirectoryPrincipal,
    a: &UserAttrs,
) -> Vec<scim_user_value::ActiveModel> {
    let directory_id = dir.directory_id;
    let mut rows = Vec::new();
    let base = |attr: &str, position: usize| scim_user_value::ActiveModel {
        id: NotSet,
        user_id: Set(user_id),
        directory_id: Set(directory_id),
        attr: Set(attr.to_owned()),
        position: Set(position as i32),
        value: Set(None),
        value_lower: Set(None),
        display: Set(None),
        r#type: Set(None),
        primary: Set(None),
        formatted: Set(None),
        street_address: Set(None),
        locality: Set(None),
        region: Set(None),
        postal_code: Set(None),
        country: Set(None),
        unique_key: Set(None),
    };
    for attr in MULTI_VALUED {
        for (i, v) in a.multi(attr).iter().enumerate() {
            let mut row = base(attr, i);
            row.value = Set(v.value.clone());
            row.value_lower = Set(v.value.as_ref().map(|s| s.to_lowercase()));
            row.display = Set(v.display.clone());
            row.r#type = Set(v.kind.clone());
            row.primary = Set(v.primary);
            rows.push(row);
        }
    }
    for (i, ad) in a.addresses.iter().enumerate() {
        let mut row = base("addresses", i);
        row.formatted = Set(ad.formatted.clone());
        row.street_address = Set(ad.street_address.clone());
        row.locality = Set(ad.locality.clone());
        row.region = Set(ad.region.clone());
        row.postal_code = Set(ad.postal_code.clone());
        row.country = Set(ad.country.clone());
        row.r#type = Set(ad.kind.clone());
        row.primary = Set(ad.primary);
        rows.push(row);
    }
    // Custom extension values: one row a scalar (see `ValueRow`).
    for r in a.custom.rows() {
        let mut row = base(&r.key, 0);
        row.unique_key = Set(super::org_schemas::unique_key(
            &a.custom,
            &r,
            directory_id,
            dir.org_id,
        ));
        row.position = Set(r.position);
        row.value_lower = Set(Some(r.text.to_lowercase()));
        row.value = Set(Some(r.text));
        row.display = Set(r.sub);
        row.r#type = Set(Some(r.kind.to_owned()));
        rows.push(row);
    }
    rows
}

pub fn facts(a: &account::Model) -> AccountFacts {
    AccountFacts {
        id: a.id,
        status: a.status,
        managing_org: a.managing_org_id,
        deactivated: a.deactivated_at.is_some(),
    }
}

pub async fn account_by_email<C: ConnectionTrait>(
    db: &C,
    email: &Email,
) -> DomainResult<Option<account::Model>> {
    account::Entity::find()
        .filter(account::Column::EmailLower.eq(email.lower()))
        .one(db)
        .await
        .map_err(db_error)
}

pub async fn account_by_id<C: ConnectionTrait>(db: &C, id: Uuid) -> DomainResult<account::Model> {
    account::Entity::find_by_id(id)
        .one(db)
        .await
        .map_err(db_error)?
        .ok_or_else(|| DomainError::internal(format!("account {id} of a link is missing")))
}

/// A linked account as a write of its link needs it: the account row,
/// who writes it ([`Authority`] of its email's domain) and whether it has
/// any site membership (none: no membership to suspend or restore). One
/// statement.
#[derive(Debug)]
pub struct LinkedAccount {
    pub account: account::Model,
    pub authority: Authority,
    pub has_memberships: bool,
}

pub async fn linked_account<C: ConnectionTrait>(db: &C, id: Uuid) -> DomainResult<LinkedAccount> {
    let mut q = account::Entity::find_by_id(id).into_query();
    q.join(
        JoinType::LeftJoin,
        domain::Entity,
        verified_domain_named(Expr::col((account::Entity, account::Column::EmailDomain))),
    );
    select_authority(&mut q);
    q.expr_as(
        Expr::cust(
            r#"CASE WHEN EXISTS (SELECT 1 FROM "site_memberships" m
                 WHERE m."account_id" = "accounts"."id") THEN 1 ELSE 0 END"#,
        ),
        "has_memberships",
    );
    let row = db
        .query_one(&q)
        .await
        .map_err(db_error)?
        .ok_or_else(|| DomainError::internal(format!("account {id} of a link is missing")))?;
    let has: i32 = row.try_get("", "has_memberships").map_err(db_error)?;
    Ok(LinkedAccount {
        account: account::Model::from_query_result(&row, "").map_err(db_error)?,
        authority: authority_from(&row)?,
        has_memberships: has != 0,
    })
}

/// What `POST /Users` must know before it writes: the link already using
/// the userName in the directory, who writes accounts on the email's
/// domain, and the account that has the email (if any), with whether it
/// is linked to the directory already. One statement.
#[derive(Debug)]
pub struct ProvisionProbe {
    pub taken_by: Option<Uuid>,
    pub authority: Authority,
    pub existing: Option<account::Model>,
    pub existing_linked: bool,
}

pub async fn provision_probe<C: ConnectionTrait>(
    db: &C,
    dir: &DirectoryPrincipal,
    user_name: &UserName,
    email: &Email,
) -> DomainResult<ProvisionProbe> {
    let taken = Query::select()
        .column(scim_user::Column::Id)
        .from(scim_user::Entity)
        .and_where(scim_user::Column::DirectoryId.eq(dir.directory_id))
        .and_where(scim_user::Column::UserNameLower.eq(user_name.lower()))
        .to_owned();
    let linked = Query::select()
        .expr(Expr::val(1))
        .from_as(scim_user::Entity, "l")
        .and_where(Expr::col(("l", scim_user::Column::DirectoryId)).eq(dir.directory_id))
        .and_where(
            Expr::col(("l", scim_user::Column::AccountId))
                .equals((account::Entity, account::Column::Id)),
        )
        .to_owned();
    let mut q = Query::select();
    q.from_subquery(
        Query::select().expr_as(Expr::val(1), "one").to_owned(),
        "probe",
    )
    .column((account::Entity, Asterisk))
    .expr_as(Expr::SubQuery(None, Box::new(taken.into())), "taken_by")
    .expr_as(
        Expr::case(Expr::exists(linked), 1).finally(0),
        "existing_linked",
    )
    .join(
        JoinType::LeftJoin,
        account::Entity,
        Expr::col((account::Entity, account::Column::EmailLower)).eq(email.lower()),
    )
    .join(
        JoinType::LeftJoin,
        domain::Entity,
        verified_domain_named(Expr::val(email.domain())),
    );
    select_authority(&mut q);
    let row = db
        .query_one(&q)
        .await
        .map_err(db_error)?
        .ok_or_else(|| DomainError::internal("the provisioning probe returned no row"))?;
    let account_id: Option<Uuid> = row.try_get("", "id").map_err(db_error)?;
    let existing = match account_id {
        Some(_) => Some(account::Model::from_query_result(&row, "").map_err(db_error)?),
        None => None,
    };
    let linked: i32 = row.try_get("", "existing_linked").map_err(db_error)?;
    Ok(ProvisionProbe {
        taken_by: row.try_get("", "taken_by").map_err(db_error)?,
        authority: authority_from(&row)?,
        existing_linked: existing.is_some() && linked != 0,
        existing,
    })
}

pub fn required_email(a: &UserAttrs) -> DomainResult<Email> {
    a.account_email()?.ok_or_else(|| {
        DomainError::invalid(
            "a User needs an email address: give emails (a primary one) or a userName that is an email address",
        )
    })
}

/// Writes the account's profile.
fn set_profile(m: &mut account::ActiveModel, p: AccountProfile) {
    m.display_name = Set(p.display_name);
    m.nickname = Set(p.nickname);
    m.job_title = Set(p.job_title);
    m.department = Set(p.department);
    m.organization = Set(p.organization);
    m.location = Set(p.location);
    m.timezone = Set(p.timezone);
    m.locale = Set(p.locale);
    m.profile_photo_url = Set(p.profile_photo_url);
}

/// The account's profile as stored.
pub fn profile_of(a: &account::Model) -> AccountProfile {
    AccountProfile {
        display_name: a.display_name.clone(),
        nickname: a.nickname.clone(),
        job_title: a.job_title.clone(),
        department: a.department.clone(),
        organization: a.organization.clone(),
        location: a.location.clone(),
        timezone: a.timezone.clone(),
        locale: a.locale.clone(),
        profile_photo_url: a.profile_photo_url.clone(),
    }
}

/// The PHC string to store. Every path hashes before its transaction opens
/// (argon2 would hold the write lock for tens of milliseconds a password):
/// a clear password here is a bug, refused rather than hashed.
fn hash(password: &Password) -> DomainResult<String> {
    match password {
        Password::Hashed(h) => Ok(h.clone()),
        Password::Clear(_) => Err(DomainError::internal(
            "a password reached the write transaction unhashed",
        )),
    }
}

fn email_taken(e: &Email) -> DomainError {
    DomainError::taken(format!("another account already uses the email {e}"))
}

/// The link of `user_name` in the directory, if any.
pub async fn by_user_name<C: ConnectionTrait>(
    db: &C,
    dir: &DirectoryPrincipal,
    user_name: &UserName,
) -> DomainResult<Option<scim_user::Model>> {
    scim_user::Entity::find()
        .filter(scim_user::Column::DirectoryId.eq(dir.directory_id))
        .filter(scim_user::Column::UserNameLower.eq(user_name.lower()))
        .one(db)
        .await
        .map_err(db_error)
}

/// Whether the account already has a link in the directory.
pub async fn account_linked<C: ConnectionTrait>(
    db: &C,
    dir: &DirectoryPrincipal,
    account_id: Uuid,
) -> DomainResult<bool> {
    Ok(scim_user::Entity::find()
        .filter(scim_user::Column::DirectoryId.eq(dir.directory_id))
        .filter(scim_user::Column::AccountId.eq(account_id))
        .count(db)
        .await
        .map_err(db_error)?
        > 0)
}

/// Inserts a new active account (see [`new_account`]).
pub async fn insert_account<C: ConnectionTrait>(
    tx: &C,
    managing_org: Option<Uuid>,
    email: &Email,
    profile: Option<AccountProfile>,
    password: Option<&Password>,
) -> DomainResult<account::Model> {
    let m = new_account(managing_org, email, profile, password, Utc::now())?;
    m.insert(tx).await.map_err(|e| {
        if is_unique_violation(&e) {
            email_taken(email)
        } else {
            db_error(e)
        }
    })
}

/// What a SCIM write changes on an account row (the service decided).
#[derive(Debug, Default)]
pub struct AccountChange {
    /// Claimed by this org: the password goes, a reset is required if one
    /// was set.
    pub claim_by: Option<Uuid>,
    pub email: Option<Email>,
    pub profile: Option<AccountProfile>,
    pub password: Option<Password>,
}

/// Writes `change` on the account (`updated_at` too).
pub async fn update_account<C: ConnectionTrait>(
    tx: &C,
    current: account::Model,
    change: AccountChange,
) -> DomainResult<account::Model> {
    let mut m: account::ActiveModel = current.clone().into();
    if let Some(org) = change.claim_by {
        m.managing_org_id = Set(Some(org));
        m.password_hash = Set(None);
        m.password_reset_required =
            Set(current.password_reset_required || current.password_hash.is_some());
    }
    if let Some(e) = &change.email {
        m.email = Set(Some(e.as_str().to_owned()));
        m.email_lower = Set(Some(e.lower().to_owned()));
        m.email_domain = Set(Some(e.domain().to_owned()));
    }
    if let Some(p) = change.profile {
        set_profile(&mut m, p);
    }
    if let Some(p) = &change.password {
        m.password_hash = Set(Some(hash(p)?));
    }
    m.updated_at = Set(Utc::now());
    m.update(tx).await.map_err(|e| match &change.email {
        Some(email) if is_unique_violation(&e) => email_taken(email),
        _ => db_error(e),
    })
}

fn user_name_taken(attrs: &UserAttrs) -> DomainError {
    DomainError::taken(format!(
        "userName {:?} is already in use in this directory",
        attrs.user_name.as_str()
    ))
}

/// Inserts a new link of `account` with its multi-valued attributes.
pub async fn insert_link<C: ConnectionTrait>(
    tx: &C,
    dir: &DirectoryPrincipal,
    account: Uuid,
    attrs: &UserAttrs,
) -> DomainResult<scim_user::Model> {
    let link = new_link(dir, account, attrs, Utc::now());
    let id = *link.id.as_ref();
    let link = link.insert(tx).await.map_err(|e| {
        if is_unique_violation(&e) {
            user_name_taken(attrs)
        } else {
            db_error(e)
        }
    })?;
    write_values(tx, id, dir, attrs, false).await?;
    Ok(link)
}

/// Writes every SCIM attribute of a (locked) link whose attributes were
/// `previous`. Its multi-valued attributes are rewritten only when their
/// rows change (a PATCH of `active` leaves them be: two statements fewer).
pub async fn update_link<C: ConnectionTrait>(
    tx: &C,
    dir: &DirectoryPrincipal,
    current: scim_user::Model,
    previous: &UserAttrs,
    attrs: &UserAttrs,
) -> DomainResult<scim_user::Model> {
    let id = current.id;
    let mut link: scim_user::ActiveModel = current.into();
    set_link_attrs(&mut link, attrs);
    link.last_modified = Set(Utc::now());
    let link = link.update(tx).await.map_err(|e| {
        if is_unique_violation(&e) {
            user_name_taken(attrs)
        } else {
            db_error(e)
        }
    })?;
    // Custom values carry unique keys their schema's rules derive (a rule
    // may have changed since): those are always rewritten.
    let same = previous.custom.is_empty()
        && attrs.custom.is_empty()
        && value_rows(id, dir, previous) == value_rows(id, dir, attrs);
    if !same {
        write_values(tx, id, dir, attrs, true).await?;
    }
    Ok(link)
}

/// Removes a link and its values.
pub async fn unlink<C: ConnectionTrait>(tx: &C, id: Uuid) -> DomainResult<()> {
    scim_user_value::Entity::delete_many()
        .filter(scim_user_value::Column::UserId.eq(id))
        .exec(tx)
        .await
        .map_err(db_error)?;
    scim_user::Entity::delete_by_id(id)
        .exec(tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// The directory's groups the account is a member of.
pub async fn directory_groups_of<C: ConnectionTrait>(
    tx: &C,
    dir: &DirectoryPrincipal,
    account_id: Uuid,
) -> DomainResult<Vec<Uuid>> {
    let groups = Query::select()
        .column(group::Column::Id)
        .from(group::Entity)
        .and_where(Expr::col(group::Column::DirectoryId).eq(dir.directory_id))
        .to_owned();
    group_member::Entity::find()
        .select_only()
        .column(group_member::Column::GroupId)
        .filter(group_member::Column::AccountId.eq(account_id))
        .filter(group_member::Column::GroupId.in_subquery(groups))
        .into_tuple()
        .all(tx)
        .await
        .map_err(db_error)
}

/// Suspends the account's memberships on the org's sites (those not
/// suspended yet), marked `suspended_by`; returns them.
pub async fn suspend_org_memberships<C: ConnectionTrait>(
    tx: &C,
    org_id: Uuid,
    account_id: Uuid,
    suspended_by: &str,
) -> DomainResult<Vec<site_membership::Model>> {
    let org_sites = Query::select()
        .column(site::Column::Id)
        .from(site::Entity)
        .and_where(Expr::col(site::Column::OrgId).eq(org_id))
        .to_owned();
    site_membership::Entity::update_many()
        .col_expr(
            site_membership::Column::Status,
            Expr::value(MembershipStatus::Suspended),
        )
        .col_expr(
            site_membership::Column::SuspendedBy,
            Expr::value(suspended_by.to_owned()),
        )
        .col_expr(site_membership::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(site_membership::Column::AccountId.eq(account_id))
        .filter(site_membership::Column::Status.ne(MembershipStatus::Suspended))
        .filter(site_membership::Column::SiteId.in_subquery(org_sites))
        .exec_with_returning(tx)
        .await
        .map_err(db_error)
}

/// Restores the account's memberships `suspended_by` suspended: back to
/// active, or to invited if never used (first activity is what turns an
/// invite active); returns them.
pub async fn restore_memberships<C: ConnectionTrait>(
    tx: &C,
    account_id: Uuid,
    suspended_by: &str,
) -> DomainResult<Vec<site_membership::Model>> {
    let restored = SimpleExpr::Case(Box::new(
        Expr::case(
            Expr::col(site_membership::Column::LastActiveAt).is_null(),
            MembershipStatus::Invited,
        )
        .finally(MembershipStatus::Active),
    ));
    site_membership::Entity::update_many()
        .col_expr(site_membership::Column::Status, restored)
        .col_expr(
            site_membership::Column::SuspendedBy,
            Expr::value(Option::<String>::None),
        )
        .col_expr(site_membership::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(site_membership::Column::AccountId.eq(account_id))
        .filter(site_membership::Column::SuspendedBy.eq(suspended_by))
        .exec_with_returning(tx)
        .await
        .map_err(db_error)
}

/// `account.created` of a new managed account.
pub(crate) fn account_created(
    org: Uuid,
    dir: &DirectoryPrincipal,
    id: Uuid,
    email: &Email,
) -> NewEvent {
    let data = json!({"account_id": id, "email": email.as_str()});
    NewEvent::new(org, EventType::AccountCreated, data).directory(dir.directory_id)
}

/// A new active account row for `POST /Users`, managed by `managing_org`,
/// with `profile` (none when the writing directory may not seed it).
fn new_account(
    managing_org: Option<Uuid>,
    email: &Email,
    profile: Option<AccountProfile>,
    password: Option<&Password>,
    now: DateTime<Utc>,
) -> DomainResult<account::ActiveModel> {
    let mut m = account::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set(Some(email.as_str().to_owned())),
        email_lower: Set(Some(email.lower().to_owned())),
        email_domain: Set(Some(email.domain().to_owned())),
        status: Set(AccountStatus::Active),
        managing_org_id: Set(managing_org),
        last_active_at: Set(None),
        two_step_enabled: Set(false),
        saml_sso: Set(false),
        two_step_excluded_until: Set(None),
        password_reset_required: Set(false),
        password_hash: Set(password.map(hash).transpose()?),
        deactivated_at: Set(None),
        deletion_requested_at: Set(None),
        purge_after: Set(None),
        deleted_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    set_profile(&mut m, profile.unwrap_or_default());
    Ok(m)
}

/// The version (and so the ETag) of a link just created.
pub const FIRST_VERSION: i64 = 1;

/// A new provisioning link ([`FIRST_VERSION`]) of `account` in the directory.
fn new_link(
    dir: &DirectoryPrincipal,
    account: Uuid,
    attrs: &UserAttrs,
    now: DateTime<Utc>,
) -> scim_user::ActiveModel {
    let mut link = scim_user::ActiveModel {
        id: Set(Uuid::now_v7()),
        directory_id: Set(dir.directory_id),
        account_id: Set(account),
        version: Set(FIRST_VERSION),
        created_at: Set(now),
        last_modified: Set(now),
        ..Default::default()
    };
    set_link_attrs(&mut link, attrs);
    link
}

/// A user `service::users::CreateProbe::claim` found to be a plain create: a new
/// account and a new link, no rule beyond that to apply.
#[derive(Debug)]
pub struct PlainCreate {
    pub(crate) input: UserInput,
    pub(crate) email: Email,
    pub(crate) managing_org: Option<Uuid>,
}

impl PlainCreate {
    /// The user, to provision one by one after all.
    pub fn into_input(self) -> UserInput {
        self.input
    }
}

/// Which of `emails` (lower-cased) already have an account: on SQLite
/// one `IN (…)` per [`ROWS_PER_INSERT`], on PostgreSQL one statement
/// ([`probe_pg`]).
pub async fn taken_emails<C: ConnectionTrait>(
    db: &C,
    emails: &[String],
) -> DomainResult<Vec<String>> {
    if db.get_database_backend() == DbBackend::Postgres {
        return probe_pg(
            db,
            r#"SELECT a.email_lower FROM UNNEST($1::text[]) AS n(key)
               CROSS JOIN LATERAL (
                   SELECT x.email_lower FROM accounts x WHERE x.email_lower = n.key LIMIT 1
               ) AS a"#,
            vec![],
            emails,
        )
        .await;
    }
    let mut taken = Vec::new();
    for chunk in emails.chunks(ROWS_PER_INSERT) {
        let found: Vec<Option<String>> = account::Entity::find()
            .select_only()
            .column(account::Column::EmailLower)
            .filter(account::Column::EmailLower.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(db)
            .await
            .map_err(db_error)?;
        taken.extend(found.into_iter().flatten());
    }
    Ok(taken)
}

/// Which of `names` (lower-cased) are taken in the directory: on SQLite
/// one `IN (…)` per [`ROWS_PER_INSERT`] (it looks each value up in the
/// (directory, userName) index), on PostgreSQL one statement
/// ([`probe_pg`]).
pub async fn taken_names<C: ConnectionTrait>(
    db: &C,
    directory_id: Uuid,
    names: &[String],
) -> DomainResult<Vec<String>> {
    if db.get_database_backend() == DbBackend::Postgres {
        return probe_pg(
            db,
            r#"SELECT u.user_name_lower FROM UNNEST($2::text[]) AS n(key)
               CROSS JOIN LATERAL (
                   SELECT s.user_name_lower FROM scim_users s
                   WHERE s.directory_id = $1 AND s.user_name_lower = n.key COLLATE "C"
                   LIMIT 1
               ) AS u"#,
            vec![directory_id.into()],
            names,
        )
        .await;
    }
    let mut taken = Vec::new();
    for chunk in names.chunks(ROWS_PER_INSERT) {
        let found: Vec<String> = scim_user::Entity::find()
            .select_only()
            .column(scim_user::Column::UserNameLower)
            .filter(scim_user::Column::DirectoryId.eq(directory_id))
            .filter(scim_user::Column::UserNameLower.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(db)
            .await
            .map_err(db_error)?;
        taken.extend(found);
    }
    Ok(taken)
}

/// The keys of `keys` that `sql` finds, `keys` bound as one text array
/// after `params`. PostgreSQL, given `key IN (…)` (or `= ANY($1)`), scans
/// the whole table whenever its statistics are missing or stale (a fresh
/// import before autovacuum has analyzed it), which makes every batch of
/// an import cost as much as the table is large: a lateral lookup per key
/// uses the unique index whatever the statistics say.
async fn probe_pg<C: ConnectionTrait>(
    db: &C,
    sql: &str,
    mut params: Vec<sea_orm::Value>,
    keys: &[String],
) -> DomainResult<Vec<String>> {
    if keys.is_empty() {
        return Ok(vec![]);
    }
    params.push(array_literal(keys.iter().map(|k| Some(k.as_str()))).into());
    let stmt = Statement::from_sql_and_values(DbBackend::Postgres, sql, params);
    db.query_all_raw(stmt)
        .await
        .map_err(db_error)?
        .iter()
        .map(|r| r.try_get_by_index(0).map_err(db_error))
        .collect()
}

/// Creates the users `service::users::CreateProbe::claim` accepted, each
/// exactly as `service::users::provision` would (a new active account, managed when its domain is
/// verified; no lifecycle effect applies to a new active account), with its
/// sync log entry: four multi-row inserts per 500 users. Returns the new
/// link ids in order. On an error the caller rolls back and provisions the
/// users one by one (say a concurrent writer took a userName since the
/// probe).
pub async fn create_plain<C: Recorder>(
    db: &C,
    dir: &DirectoryPrincipal,
    users: &[(PlainCreate, SyncEntry)],
) -> DomainResult<Vec<Uuid>> {
    let now = Utc::now();
    let mut ids = Vec::with_capacity(users.len());
    let mut accounts = Vec::with_capacity(users.len());
    let mut links = Vec::with_capacity(users.len());
    let mut values = Vec::new();
    let mut log = Vec::with_capacity(users.len());
    let mut created = Vec::new();
    for (user, entry) in users {
        let PlainCreate {
            input,
            email,
            managing_org,
        } = user;
        let account = new_account(
            *managing_org,
            email,
            Some(input.attrs.account_profile()),
            input.password.as_ref(),
            now,
        )?;
        if let Some(org) = managing_org {
            created.push(account_created(*org, dir, *account.id.as_ref(), email));
        }
        let link = new_link(dir, *account.id.as_ref(), &input.attrs, now);
        let id = *link.id.as_ref();
        values.extend(value_rows(id, dir, &input.attrs));
        log.push(SyncEntry {
            resource_id: Some(id.to_string()),
            status: 201,
            detail: None,
            ..entry.clone()
        });
        ids.push(id);
        accounts.push(account);
        links.push(link);
    }
    // Unique keys in ascending order: two requests inserting overlapping
    // users (on PostgreSQL) wait on each other instead of deadlocking; the
    // one that waited then fails and goes one by one.
    accounts.sort_by(|a, b| a.email_lower.as_ref().cmp(b.email_lower.as_ref()));
    links.sort_by(|a, b| a.user_name_lower.as_ref().cmp(b.user_name_lower.as_ref()));
    insert_chunks(db, accounts).await?;
    insert_chunks(db, links).await?;
    insert_chunks(db, values).await?;
    sync_log::record_many(db, log).await?;
    events::record_many(db, created).await?;
    Ok(ids)
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
    versioned::lock_returning(
        tx,
        row,
        scim_user::Column::Version,
        if_match,
        returning,
        from_nested_row,
        async || get(tx, dir, id).await,
        |u: &StoredUser| u.link.version,
        || not_found(&id.to_string()),
    )
    .await
}

/// Where `sortBy` points, for the singular attributes that have a column.
fn sort_of(path: &AttrPath, directory_id: Uuid, custom: &[CustomSchema]) -> DomainResult<Sort> {
    // The filter lowering's column map is the one source of truth.
    let col = user_column_with(path, directory_id, custom)
        .map_err(|e| DomainError::invalid(e.detail()))?;
    if let Some((expr, text)) = custom_sort(&col) {
        return Ok(Sort { expr, text });
    }
    match col {
        Column::Plain { expr, ty, .. } => Ok(Sort {
            expr,
            text: matches!(ty, AttrType::String | AttrType::Reference),
        }),
        Column::Id(expr) => Ok(Sort { expr, text: false }),
        _ => Err(DomainError::invalid(format!(
            "sortBy {path}: only singular attributes can be sorted on"
        ))),
    }
}

/// A page of Users: the total (when counted), the reader of its users in
/// page order (within the page's byte budget), the next cursor.
pub struct UserPage {
    pub total: Option<u64>,
    pub users: PageReader,
    pub next_cursor: Option<String>,
    /// Cursor pages: the cursor resuming after each user.
    pub cursors: Vec<String>,
}

/// Users whose values one read covers at most.
const USERS_PER_READ: usize = 100;
/// Value rows one read returns at most.
const VALUE_ROWS_PER_READ: u64 = 1000;

/// Bytes a value row takes at least in a response (its texts).
fn row_bytes(v: &scim_user_value::Model) -> usize {
    [
        &v.value,
        &v.display,
        &v.r#type,
        &v.formatted,
        &v.street_address,
        &v.locality,
        &v.region,
        &v.postal_code,
        &v.country,
    ]
    .iter()
    .map(|t| t.as_deref().map_or(0, str::len))
    .sum()
}

/// Reads a page's users in page order with a bounded read: the value rows
/// of up to [`USERS_PER_READ`] users at a time, [`VALUE_ROWS_PER_READ`]
/// rows per query (keyset on the `(user_id, attr, position)` index), and
/// no further once the rows read but not yet handed out already exceed the
/// room the page has left. So a page whose byte budget is hit early stops
/// reading the database there, not only writing the response.
pub struct PageReader {
    directory_id: Uuid,
    /// Users already read whole (a page of one), handed out first.
    whole: Vec<StoredUser>,
    links: std::collections::VecDeque<scim_user::Model>,
    done: bool,
    rows_read: usize,
}

impl PageReader {
    pub fn new(directory_id: Uuid, links: Vec<scim_user::Model>) -> Self {
        Self {
            directory_id,
            whole: vec![],
            links: links.into(),
            done: false,
            rows_read: 0,
        }
    }

    /// A page of `users` already read whole.
    fn whole(directory_id: Uuid, users: Vec<StoredUser>) -> Self {
        Self {
            whole: users,
            ..Self::new(directory_id, vec![])
        }
    }

    /// Users of the page not handed out yet.
    pub fn len(&self) -> usize {
        self.whole.len() + self.links.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value rows read from the database so far.
    pub fn rows_read(&self) -> usize {
        self.rows_read
    }

    /// The next users of the page, in order, complete (values and groups);
    /// empty when the page is over. `room`: the bytes the page may still
    /// grow by. Rows are read until the next users are complete, unless
    /// the rows read for them pass `room` (then the page ends: those users
    /// would not fit). With `first` (nothing on the page yet) the next
    /// user is read whole, whatever its size.
    pub async fn next_users<C: ConnectionTrait>(
        &mut self,
        db: &C,
        room: usize,
        first: bool,
    ) -> DomainResult<Vec<StoredUser>> {
        if !self.whole.is_empty() {
            return Ok(std::mem::take(&mut self.whole));
        }
        if self.done || self.links.is_empty() {
            return Ok(vec![]);
        }
        let n = self.links.len().min(USERS_PER_READ);
        let group: Vec<scim_user::Model> = self.links.drain(..n).collect();
        let ids: Vec<Uuid> = group.iter().map(|l| l.id).collect();
        let mut rows: Vec<scim_user_value::Model> = vec![];
        let mut pending = 0usize;
        // Users (ids) whose rows are all read: those before the last row's
        // user, in the read's order, or all once the read is finished.
        let mut read_past: Option<Uuid> = None;
        let mut finished = false;
        loop {
            let mut q = scim_user_value::Entity::find()
                .filter(scim_user_value::Column::UserId.is_in(ids.clone()))
                .order_by_asc(scim_user_value::Column::UserId)
                .order_by_asc(scim_user_value::Column::Attr)
                .order_by_asc(scim_user_value::Column::Position)
                .order_by_asc(scim_user_value::Column::Id)
                .limit(VALUE_ROWS_PER_READ);
            if let Some(last) = rows.last() {
                q = q.filter(
                    Expr::tuple([
                        Expr::col(scim_user_value::Column::UserId),
                        Expr::col(scim_user_value::Column::Attr),
                        Expr::col(scim_user_value::Column::Position),
                        Expr::col(scim_user_value::Column::Id),
                    ])
                    .gt(Expr::tuple([
                        Expr::val(last.user_id),
                        Expr::val(last.attr.clone()),
                        Expr::val(last.position),
                        Expr::val(last.id),
                    ])),
                );
            }
            let chunk = q.all(db).await.map_err(db_error)?;
            let full = chunk.len() as u64 == VALUE_ROWS_PER_READ;
            self.rows_read += chunk.len();
            pending = pending.saturating_add(chunk.iter().map(row_bytes).sum::<usize>());
            rows.extend(chunk);
            if !full {
                finished = true;
                break;
            }
            read_past = rows.last().map(|r| r.user_id);
            let shows_one =
                !first || read_past.is_some_and(|past| group.first().is_some_and(|l| l.id < past));
            if pending > room && shows_one {
                break;
            }
        }
        let complete = |id: Uuid| finished || read_past.is_some_and(|past| id < past);
        let ready: Vec<scim_user::Model> = group
            .iter()
            .take_while(|l| complete(l.id))
            .cloned()
            .collect();
        if ready.len() < group.len() {
            // Cut short: the page ends after the complete users.
            self.done = true;
        }
        let memberships = memberships_of(db, self.directory_id, &ready).await?;
        let mut out = Vec::with_capacity(ready.len());
        for link in ready {
            let mine: Vec<&scim_user_value::Model> =
                rows.iter().filter(|v| v.user_id == link.id).collect();
            out.push(build(link, &mine, &memberships)?);
        }
        Ok(out)
    }
}

/// `GET /Users`: filtered, ordered and paged in SQL.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    dir: &DirectoryPrincipal,
    q: &ListQuery,
) -> DomainResult<UserPage> {
    let mut cond = Condition::all()
        .add(Expr::col((scim_user::Entity, scim_user::Column::DirectoryId)).eq(dir.directory_id));
    let custom = if names_custom(q.filter.as_ref(), q.sort_by.as_ref()) {
        super::org_schemas::user_extensions(db, dir.org_id).await?
    } else {
        vec![]
    };
    if let Some(f) = &q.filter {
        cond = cond.add(users_condition_with(f, dir.directory_id, &custom)?);
    }
    let sort = q
        .sort_by
        .as_ref()
        .map(|p| sort_of(p, dir.directory_id, &custom))
        .transpose()?;
    let page = page_ids(
        db,
        scim_user::Entity,
        (scim_user::Entity, scim_user::Column::Id),
        cond,
        sort,
        q,
    )
    .await?;
    let users = match page.ids.as_slice() {
        [] => PageReader::new(dir.directory_id, vec![]),
        // One user (a `userName eq` lookup, the most frequent list
        // request): read whole in one statement, as GET by id reads it. A
        // page shows its first user whole whatever its size, so the byte
        // budget would not have read less.
        [id] => {
            let select = scim_user::Entity::find_by_id(*id)
                .filter(scim_user::Column::DirectoryId.eq(dir.directory_id));
            PageReader::whole(dir.directory_id, load(db, select).await?)
        }
        ids => {
            let links = scim_user::Entity::find()
                .filter(scim_user::Column::Id.is_in(ids.to_vec()))
                .all(db)
                .await
                .map_err(db_error)?;
            PageReader::new(dir.directory_id, in_order(ids, links, |l| l.id))
        }
    };
    Ok(UserPage {
        total: page.total,
        users,
        next_cursor: page.next_cursor,
        cursors: page.cursors,
    })
}
