//! SCIM Users: provisioning links (`scim_users`) with their multi-valued
//! attributes (`scim_user_values`), and the account effects the lifecycle
//! rules decide, all inside the request's transaction.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use entity::{account, group, group_member, scim_user, scim_user_value, site, site_membership};
use sea_orm::sea_query::{Expr, ExprTrait, Query, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait,
    FromQueryResult, NotSet, PaginatorTrait, QueryFilter, QuerySelect, QueryTrait, Set, Statement,
};
use serde_json::json;
use uuid::Uuid;

use super::accounts;
use super::audit::{self, Actor, AuditEntry};
use super::directories::{DirectoryPrincipal, authorities, authority_of};
use super::events::{self, EventType, NewEvent};
use super::filter_sql::{
    Column, custom_sort, names_custom, user_column_with, users_condition_with,
};
use super::paging::{Sort, in_order, page_ids};
use super::sync_log::{self, SyncEntry};
use super::{ROWS_PER_INSERT, db_error, insert_chunks, is_unique_violation};
use crate::domain::custom_attrs::{CustomValues, ValueRow, row_kind};
use crate::domain::custom_schema::CustomSchema;
use crate::domain::etag::{IfMatch, etag};
use crate::domain::filter::AttrPath;
use crate::domain::lifecycle::{
    AccountFacts, AccountStatus, ActiveEffect, Authority, EmailEffect, ProvisionPlan,
    on_active_change, on_delete, on_email_change, plan_provision, seeds_profile,
};
use crate::domain::patch::{self, PatchOp};
use crate::domain::query::ListQuery;
use crate::domain::schema::AttrType;
use crate::domain::types::{Email, UserName};
use crate::domain::user::{
    AccountProfile, Address, MULTI_VALUED, MultiValue, Password, Prehashed, UserAttrs, UserInput,
};
use crate::error::{ScimError, ScimResult};

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

fn not_found(id: &str) -> ScimError {
    ScimError::not_found(format!("no User with id {id:?}"))
}

pub async fn get<C: ConnectionTrait>(
    db: &C,
    dir: &DirectoryPrincipal,
    id: Uuid,
) -> ScimResult<Option<StoredUser>> {
    let select = scim_user::Entity::find_by_id(id)
        .filter(scim_user::Column::DirectoryId.eq(dir.directory_id));
    Ok(load(db, select).await?.pop())
}

/// A link's multi-valued attributes as one JSON array of rows (ordered as
/// `assemble` ordered them), and its directory's groups the account is a
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

/// Loads the links `select` picks, each with its multi-valued attributes
/// and groups: one statement whatever the number of links.
async fn load<C: ConnectionTrait>(
    db: &C,
    select: sea_orm::Select<scim_user::Entity>,
) -> ScimResult<Vec<StoredUser>> {
    let nested = match db.get_database_backend() {
        DbBackend::Postgres => NESTED_POSTGRES,
        _ => NESTED_SQLITE,
    };
    let mut query = select.into_query();
    query
        .expr_as(Expr::cust(nested[0]), "nested_values")
        .expr_as(Expr::cust(nested[1]), "nested_groups");
    let rows = db.query_all(&query).await.map_err(db_error)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let link = scim_user::Model::from_query_result(&row, "").map_err(db_error)?;
        let values: Option<String> = row.try_get("", "nested_values").map_err(db_error)?;
        let groups: Option<String> = row.try_get("", "nested_groups").map_err(db_error)?;
        let corrupt = |e: serde_json::Error| {
            ScimError::internal(format!("stored values of User {} unreadable: {e}", link.id))
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
                    .map_err(|e| ScimError::internal(format!("group id {id:?}: {e}")))
            })
            .collect::<ScimResult<Vec<_>>>()?;
        out.push(build(link, &values, groups)?);
    }
    Ok(out)
}

/// A link with its values (of this link only) and groups, as the SCIM API
/// shows it.
fn build(
    link: scim_user::Model,
    mine: &[NestedValue],
    groups: Vec<(Uuid, String)>,
) -> ScimResult<StoredUser> {
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

fn link_attrs(l: &scim_user::Model) -> ScimResult<UserAttrs> {
    let user_name = UserName::parse(&l.user_name)
        .map_err(|_| ScimError::internal(format!("stored userName of {} is invalid", l.id)))?;
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
    directory_id: Uuid,
    a: &UserAttrs,
    replace: bool,
) -> ScimResult<()> {
    if replace {
        scim_user_value::Entity::delete_many()
            .filter(scim_user_value::Column::UserId.eq(user_id))
            .exec(db)
            .await
            .map_err(db_error)?;
    }
    let rows = value_rows(user_id, directory_id, a);
    if !rows.is_empty() {
        scim_user_value::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await
            .map_err(db_error)?;
    }
    Ok(())
}

/// The `scim_user_values` rows of a link's multi-valued attributes.
fn value_rows(
    user_id: Uuid,
    directory_id: Uuid,
    a: &UserAttrs,
) -> Vec<scim_user_value::ActiveModel> {
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
        row.position = Set(r.position);
        row.value_lower = Set(Some(r.text.to_lowercase()));
        row.value = Set(Some(r.text));
        row.display = Set(r.sub);
        row.r#type = Set(Some(r.kind.to_owned()));
        rows.push(row);
    }
    rows
}

fn facts(a: &account::Model) -> AccountFacts {
    AccountFacts {
        id: a.id,
        status: AccountStatus::parse(&a.status),
        managing_org: a.managing_org_id,
    }
}

async fn account_by_email<C: ConnectionTrait>(
    db: &C,
    email: &Email,
) -> ScimResult<Option<account::Model>> {
    account::Entity::find()
        .filter(account::Column::EmailLower.eq(email.lower()))
        .one(db)
        .await
        .map_err(db_error)
}

async fn account_by_id<C: ConnectionTrait>(db: &C, id: Uuid) -> ScimResult<account::Model> {
    account::Entity::find_by_id(id)
        .one(db)
        .await
        .map_err(db_error)?
        .ok_or_else(|| ScimError::internal(format!("account {id} of a link is missing")))
}

fn required_email(a: &UserAttrs) -> ScimResult<Email> {
    a.account_email()?.ok_or_else(|| {
        ScimError::invalid_value(
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
fn profile_of(a: &account::Model) -> AccountProfile {
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
fn hash(password: &Password) -> ScimResult<String> {
    match password {
        Password::Hashed(h) => Ok(h.clone()),
        Password::Clear(_) => Err(ScimError::internal(
            "a password reached the write transaction unhashed",
        )),
    }
}

fn email_taken(e: &Email) -> ScimError {
    ScimError::uniqueness(format!("another account already uses the email {e}"))
}

/// What `POST /Users` did about the account behind the new link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountOutcome {
    /// No account had the email: one was created.
    Created,
    /// An account with the email existed and was linked to the directory.
    Linked,
}

/// A provisioned user and what happened to its account.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub user: StoredUser,
    pub account: AccountOutcome,
}

/// `POST /Users`.
pub async fn create<C: ConnectionTrait>(
    tx: &C,
    dir: &DirectoryPrincipal,
    input: UserInput,
) -> ScimResult<StoredUser> {
    Ok(provision(tx, dir, input).await?.user)
}

/// `POST /Users` as one logged write, in the caller's transaction: the
/// user is provisioned and the success appended to the sync log (`log`
/// names the operation; its id and status are filled in here). The SCIM
/// handler and `import users` both go through here, so an imported row is
/// exactly a POST.
pub async fn create_logged<C: ConnectionTrait>(
    tx: &C,
    dir: &DirectoryPrincipal,
    input: UserInput,
    log: SyncEntry,
) -> ScimResult<Provisioned> {
    let done = provision(tx, dir, input).await?;
    let entry = SyncEntry {
        resource_id: Some(done.user.link.id.to_string()),
        status: 201,
        detail: done.user.ignored_note(),
        ..log
    };
    sync_log::record(tx, entry).await?;
    Ok(done)
}

/// `POST /Users`, telling whether the account was created or linked.
pub async fn provision<C: ConnectionTrait>(
    tx: &C,
    dir: &DirectoryPrincipal,
    input: UserInput,
) -> ScimResult<Provisioned> {
    let attrs = input.attrs;
    if let Some(existing) = scim_user::Entity::find()
        .filter(scim_user::Column::DirectoryId.eq(dir.directory_id))
        .filter(scim_user::Column::UserNameLower.eq(attrs.user_name.lower()))
        .one(tx)
        .await
        .map_err(db_error)?
    {
        return Err(ScimError::uniqueness(format!(
            "userName {:?} is already in use in this directory (id {})",
            attrs.user_name.as_str(),
            existing.id
        )));
    }
    let mut attrs = attrs;
    let email = required_email(&attrs)?;
    let authority = authority_of(tx, email.domain()).await?;
    let authoritative = authority.is_authoritative(dir.directory_id);
    let existing = account_by_email(tx, &email).await?;
    let plan = plan_provision(
        existing.as_ref().map(facts).as_ref(),
        &authority,
        dir.org_id,
        dir.reject_unverified_domains,
        email.as_str(),
    )?;
    let now = Utc::now();
    let outcome = match plan {
        ProvisionPlan::Create { .. } => AccountOutcome::Created,
        ProvisionPlan::Link { .. } => AccountOutcome::Linked,
    };
    // Passwords are kept only from the authoritative directory.
    let password = input.password.as_ref().filter(|_| authoritative);
    let mut ignored = Vec::new();
    if input.password.is_some() && !authoritative {
        ignored.push("password");
    }
    let account = match plan {
        ProvisionPlan::Create { managing_org } => {
            let seeds = seeds_profile(&authority, dir.directory_id);
            if !seeds {
                ignored.extend(attrs.keep_account_profile(&AccountProfile::default(), None));
            }
            let m = new_account(
                managing_org,
                &email,
                seeds.then(|| attrs.account_profile()),
                password,
                now,
            )?;
            let created = m.insert(tx).await.map_err(|e| {
                if is_unique_violation(&e) {
                    email_taken(&email)
                } else {
                    db_error(e)
                }
            })?;
            if let Some(org) = managing_org {
                events::record(tx, account_created(org, dir, created.id, &email)).await?;
            }
            created
        }
        ProvisionPlan::Link { account: id, claim } => {
            let current =
                existing.ok_or_else(|| ScimError::internal("planned link without account"))?;
            if scim_user::Entity::find()
                .filter(scim_user::Column::DirectoryId.eq(dir.directory_id))
                .filter(scim_user::Column::AccountId.eq(id))
                .count(tx)
                .await
                .map_err(db_error)?
                > 0
            {
                return Err(ScimError::uniqueness(format!(
                    "the account with email {email} is already provisioned in this directory under another userName"
                )));
            }
            let mut m: account::ActiveModel = current.clone().into();
            let current_email = current.email.clone();
            if claim {
                // The org that verified the domain claims it: a password
                // someone else set does not survive.
                m.managing_org_id = Set(authority.managing_org);
                m.password_hash = Set(None);
                m.password_reset_required =
                    Set(current.password_reset_required || current.password_hash.is_some());
                if let Some(org) = authority.managing_org {
                    audit::record(
                        tx,
                        AuditEntry::new(
                            org,
                            Actor::Directory(dir.directory_id),
                            "account.claim",
                            "account",
                            current.id,
                        )
                        .detail("claimed on provisioning; password cleared, reset required"),
                    )
                    .await?;
                    let data = json!({"account_id": current.id, "email": current.email});
                    let e = NewEvent::new(org, EventType::AccountClaimed, data);
                    events::record(tx, e.directory(dir.directory_id)).await?;
                }
            }
            if authoritative {
                if profile_of(&current) != attrs.account_profile() {
                    let data = json!({"changed": profile_changes(&current, &attrs)});
                    events::for_account(tx, id, EventType::AccountProfileUpdated, data).await?;
                }
                set_profile(&mut m, attrs.account_profile());
                if let Some(p) = password {
                    m.password_hash = Set(Some(hash(p)?));
                }
            } else if authority.managing_org.is_some() {
                ignored.extend(
                    attrs.keep_account_profile(&profile_of(&current), current_email.as_deref()),
                );
            }
            if claim || authoritative {
                m.updated_at = Set(now);
                m.update(tx).await.map_err(db_error)?
            } else {
                // Nothing of the account is this directory's to write.
                current
            }
        }
    };
    let link = new_link(dir, account.id, &attrs, now);
    let id = *link.id.as_ref();
    let link = link.insert(tx).await.map_err(|e| {
        if is_unique_violation(&e) {
            ScimError::uniqueness(format!(
                "userName {:?} is already in use in this directory",
                attrs.user_name.as_str()
            ))
        } else {
            db_error(e)
        }
    })?;
    write_values(tx, id, dir.directory_id, &attrs, false).await?;
    // Provisioned inactive: the rules apply as if it had just turned off.
    // Provisioned active onto an account an earlier unlink deactivated or
    // suspended: as if it had just turned on again.
    let f = facts(&account);
    let effect = if !attrs.active {
        on_active_change(&f, authoritative, true, false)?
    } else if f.status != AccountStatus::Active || !authoritative {
        on_active_change(&f, authoritative, false, true)?
    } else {
        ActiveEffect::Nothing
    };
    apply_effect(tx, dir, account.id, effect).await?;
    // What was written is what a read would return: no need to read it back.
    Ok(Provisioned {
        user: StoredUser {
            link,
            attrs,
            groups: vec![],
            ignored,
        },
        account: outcome,
    })
}

/// `account.created` of a new managed account.
fn account_created(org: Uuid, dir: &DirectoryPrincipal, id: Uuid, email: &Email) -> NewEvent {
    let data = json!({"account_id": id, "email": email.as_str()});
    NewEvent::new(org, EventType::AccountCreated, data).directory(dir.directory_id)
}

/// Names of the profile attributes `attrs` changes on the account.
fn profile_changes(a: &account::Model, attrs: &UserAttrs) -> Vec<&'static str> {
    let (old, new) = (profile_of(a), attrs.account_profile());
    let fields = [
        ("display_name", old.display_name != new.display_name),
        ("nickname", old.nickname != new.nickname),
        ("job_title", old.job_title != new.job_title),
        ("department", old.department != new.department),
        ("organization", old.organization != new.organization),
        ("location", old.location != new.location),
        ("timezone", old.timezone != new.timezone),
        ("locale", old.locale != new.locale),
        (
            "profile_photo_url",
            old.profile_photo_url != new.profile_photo_url,
        ),
    ];
    fields
        .into_iter()
        .filter_map(|(k, changed)| changed.then_some(k))
        .collect()
}

/// A new active account row for `POST /Users`, managed by `managing_org`,
/// with `profile` (none when the writing directory may not seed it).
fn new_account(
    managing_org: Option<Uuid>,
    email: &Email,
    profile: Option<AccountProfile>,
    password: Option<&Password>,
    now: DateTime<Utc>,
) -> ScimResult<account::ActiveModel> {
    let mut m = account::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set(Some(email.as_str().to_owned())),
        email_lower: Set(Some(email.lower().to_owned())),
        email_domain: Set(Some(email.domain().to_owned())),
        status: Set(AccountStatus::Active.as_str().to_owned()),
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

/// What the database holds about a window of users about to be created:
/// the userNames already taken in the directory, the emails that already
/// have an account, and who writes accounts on their domains, read
/// in three queries for the whole window instead of three per user. The
/// fast path of `/Bulk` and `import users` ([`create_plain`]).
#[derive(Debug, Default)]
pub struct CreateProbe {
    names: HashSet<String>,
    emails: HashSet<String>,
    authority: HashMap<String, Authority>,
}

/// A user [`CreateProbe::claim`] found to be a plain create: a new
/// account and a new link, no rule beyond that to apply.
#[derive(Debug)]
pub struct PlainCreate {
    input: UserInput,
    email: Email,
    managing_org: Option<Uuid>,
}

/// What [`CreateProbe::claim`] found.
#[derive(Debug)]
pub enum Claim {
    Plain(PlainCreate),
    /// Not plain: to provision one by one ([`provision`]).
    OneByOne(UserInput),
}

impl PlainCreate {
    /// The user, to provision one by one after all.
    pub fn into_input(self) -> UserInput {
        self.input
    }
}

impl CreateProbe {
    pub async fn read<C: ConnectionTrait>(
        db: &C,
        dir: &DirectoryPrincipal,
        window: &[&UserAttrs],
    ) -> ScimResult<Self> {
        let mut names = Vec::with_capacity(window.len());
        let mut emails = Vec::with_capacity(window.len());
        let mut domains = HashSet::new();
        for a in window {
            names.push(a.user_name.lower().to_owned());
            if let Ok(Some(e)) = a.account_email() {
                emails.push(e.lower().to_owned());
                domains.insert(e.domain().to_owned());
            }
        }
        let mut probe = Self::default();
        for chunk in names.chunks(ROWS_PER_INSERT) {
            probe
                .names
                .extend(taken_names(db, dir.directory_id, chunk).await?);
        }
        for chunk in emails.chunks(ROWS_PER_INSERT) {
            let found: Vec<Option<String>> = account::Entity::find()
                .select_only()
                .column(account::Column::EmailLower)
                .filter(account::Column::EmailLower.is_in(chunk.iter().cloned()))
                .into_tuple()
                .all(db)
                .await
                .map_err(db_error)?;
            probe.emails.extend(found.into_iter().flatten());
        }
        let domains: Vec<String> = domains.into_iter().collect();
        for chunk in domains.chunks(ROWS_PER_INSERT) {
            probe.authority.extend(authorities(db, chunk).await?);
        }
        Ok(probe)
    }

    /// Whether `input` is a plain create: active, its userName free, no
    /// account with its email, allowed by the provisioning decision, and
    /// nothing of it ignored (the directory may seed the profile and keep
    /// a password). Its userName and email count as taken afterwards
    /// either way, so a later user of the window with the same keys is not
    /// plain: it goes the one-by-one way ([`provision`]) and sees what the
    /// earlier one did.
    pub fn claim(&mut self, dir: &DirectoryPrincipal, input: UserInput) -> Claim {
        let attrs = &input.attrs;
        let name_free = self.names.insert(attrs.user_name.lower().to_owned());
        let Ok(Some(email)) = attrs.account_email() else {
            return Claim::OneByOne(input);
        };
        let email_free = self.emails.insert(email.lower().to_owned());
        let authority = self
            .authority
            .get(email.domain())
            .copied()
            .unwrap_or_default();
        // The same decision `provision` takes; a refusal is its to word.
        let plan = plan_provision(
            None,
            &authority,
            dir.org_id,
            dir.reject_unverified_domains,
            email.as_str(),
        );
        let nothing_ignored = seeds_profile(&authority, dir.directory_id)
            && (input.password.is_none() || authority.is_authoritative(dir.directory_id));
        match plan {
            Ok(ProvisionPlan::Create { managing_org })
                if name_free && email_free && nothing_ignored && attrs.active =>
            {
                Claim::Plain(PlainCreate {
                    input,
                    email,
                    managing_org,
                })
            }
            _ => Claim::OneByOne(input),
        }
    }
}

/// Which of `names` (lower-cased) are taken in the directory.
async fn taken_names<C: ConnectionTrait>(
    db: &C,
    directory_id: Uuid,
    names: &[String],
) -> ScimResult<Vec<String>> {
    if db.get_database_backend() != DbBackend::Postgres {
        // SQLite looks each value up in the (directory, userName) index.
        return scim_user::Entity::find()
            .select_only()
            .column(scim_user::Column::UserNameLower)
            .filter(scim_user::Column::DirectoryId.eq(directory_id))
            .filter(scim_user::Column::UserNameLower.is_in(names.iter().cloned()))
            .into_tuple()
            .all(db)
            .await
            .map_err(db_error);
    }
    // PostgreSQL, given `directory_id = $1 AND user_name_lower IN (…)`,
    // scans the whole directory whenever its statistics are missing or
    // stale (a fresh import before autovacuum has analyzed the table):
    // one lookup of the unique (directory, userName) index per name,
    // whatever the statistics say.
    let mut values = vec![directory_id.into()];
    let mut rows = Vec::with_capacity(names.len());
    for (i, n) in names.iter().enumerate() {
        rows.push(format!("(${})", i + 2));
        values.push(n.clone().into());
    }
    let sql = format!(
        r#"SELECT u.user_name_lower FROM (VALUES {}) AS n(name)
           CROSS JOIN LATERAL (
               SELECT s.user_name_lower FROM scim_users s
               WHERE s.directory_id = $1 AND s.user_name_lower = n.name COLLATE "C"
               LIMIT 1
           ) AS u"#,
        rows.join(", ")
    );
    let stmt = Statement::from_sql_and_values(DbBackend::Postgres, sql, values);
    db.query_all_raw(stmt)
        .await
        .map_err(db_error)?
        .iter()
        .map(|r| r.try_get_by_index(0).map_err(db_error))
        .collect()
}

/// Creates the users [`CreateProbe::claim`] accepted, each exactly as
/// [`provision`] would (a new active account, managed when its domain is
/// verified; no lifecycle effect applies to a new active account), with its
/// sync log entry: four multi-row inserts per 500 users. Returns the new
/// link ids in order. On an error the caller rolls back and provisions the
/// users one by one (say a concurrent writer took a userName since the
/// probe).
pub async fn create_plain<C: ConnectionTrait>(
    db: &C,
    dir: &DirectoryPrincipal,
    users: &[(PlainCreate, SyncEntry)],
) -> ScimResult<Vec<Uuid>> {
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
        values.extend(value_rows(id, dir.directory_id, &input.attrs));
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
async fn lock<C: ConnectionTrait>(
    tx: &C,
    dir: &DirectoryPrincipal,
    id: Uuid,
    if_match: Option<&IfMatch>,
) -> ScimResult<StoredUser> {
    let res = scim_user::Entity::update_many()
        .col_expr(
            scim_user::Column::Version,
            Expr::col(scim_user::Column::Version).add(1),
        )
        .filter(scim_user::Column::Id.eq(id))
        .filter(scim_user::Column::DirectoryId.eq(dir.directory_id))
        .filter(version_matches(if_match))
        .exec(tx)
        .await
        .map_err(db_error)?;
    if res.rows_affected == 0 {
        return Err(match (if_match, get(tx, dir, id).await?) {
            (Some(_), Some(current)) => precondition_failed(current_version(&current)),
            _ => not_found(&id.to_string()),
        });
    }
    get(tx, dir, id)
        .await?
        .ok_or_else(|| not_found(&id.to_string()))
}

/// `PUT /Users/{id}`: the IdP's view replaces ours.
pub async fn replace<C: ConnectionTrait>(
    tx: &C,
    dir: &DirectoryPrincipal,
    id: Uuid,
    input: UserInput,
    if_match: Option<&IfMatch>,
) -> ScimResult<StoredUser> {
    let current = lock(tx, dir, id, if_match).await?;
    update(tx, dir, current, input).await
}

/// `PATCH /Users/{id}`: the operations apply to the stored document, which
/// is then decoded (and so validated) like a PUT body. A password the
/// operations set takes its hash from `passwords` ([`patch::passwords`],
/// hashed before the transaction).
pub async fn patch<C: ConnectionTrait>(
    tx: &C,
    dir: &DirectoryPrincipal,
    id: Uuid,
    ops: &[PatchOp],
    passwords: &Prehashed,
    if_match: Option<&IfMatch>,
) -> ScimResult<StoredUser> {
    let current = lock(tx, dir, id, if_match).await?;
    let ext = if current.attrs.custom.is_empty() && !patch::mentions_extension(ops) {
        vec![]
    } else {
        super::org_schemas::user_extensions(tx, dir.org_id).await?
    };
    let mut doc = current.attrs.to_json();
    patch::apply_to_user_with(&mut doc, ops, &ext)?;
    let doc = serde_json::Value::Object(doc);
    let (input, _ignored) = UserInput::from_json(&doc)?.with_custom(&doc, &ext)?;
    let input = passwords.apply(input);
    update(tx, dir, current, input).await
}

async fn update<C: ConnectionTrait>(
    tx: &C,
    dir: &DirectoryPrincipal,
    current: StoredUser,
    input: UserInput,
) -> ScimResult<StoredUser> {
    let mut attrs = input.attrs;
    let id = current.link.id;
    let now = Utc::now();
    let account = account_by_id(tx, current.link.account_id).await?;
    let f = facts(&account);
    let authority = authority_of(tx, account.email_domain.as_deref().unwrap_or_default()).await?;
    let authoritative = authority.is_authoritative(dir.directory_id);
    let mut ignored = Vec::new();
    if !authoritative && authority.managing_org.is_some() {
        // Another directory's account: the directory's view keeps showing
        // the account as it is.
        ignored = attrs.keep_account_profile(&profile_of(&account), account.email.as_deref());
    }
    if input.password.is_some() && !authoritative {
        ignored.push("password");
    }

    let mut acc: account::ActiveModel = account.clone().into();
    let mut account_changed = false;
    let mut email_changed = false;
    let profile_changed = authoritative && profile_of(&account) != attrs.account_profile();
    let new_email = required_email(&attrs)?;
    if account.email_lower.as_deref() != Some(new_email.lower()) {
        let verified = authority_of(tx, new_email.domain()).await?.managing_org == Some(dir.org_id);
        if on_email_change(authoritative, new_email.as_str(), verified)?
            == EmailEffect::UpdateAccount
        {
            acc.email = Set(Some(new_email.as_str().to_owned()));
            acc.email_lower = Set(Some(new_email.lower().to_owned()));
            acc.email_domain = Set(Some(new_email.domain().to_owned()));
            account_changed = true;
            email_changed = true;
        }
    }
    if authoritative {
        set_profile(&mut acc, attrs.account_profile());
        if let Some(p) = &input.password {
            acc.password_hash = Set(Some(hash(p)?));
        }
        account_changed = true;
    }
    if account_changed {
        acc.updated_at = Set(now);
        acc.update(tx).await.map_err(|e| {
            if is_unique_violation(&e) {
                email_taken(&new_email)
            } else {
                db_error(e)
            }
        })?;
    }
    if profile_changed {
        let data = json!({"changed": profile_changes(&account, &attrs)});
        events::for_account(tx, account.id, EventType::AccountProfileUpdated, data).await?;
    }
    if email_changed {
        let data = json!({"previous_email": account.email});
        events::for_account(tx, account.id, EventType::AccountEmailChanged, data).await?;
    }
    let effect = on_active_change(&f, authoritative, current.link.active, attrs.active)?;
    apply_effect(tx, dir, account.id, effect).await?;

    let mut link: scim_user::ActiveModel = current.link.clone().into();
    set_link_attrs(&mut link, &attrs);
    link.last_modified = Set(now);
    let link = link.update(tx).await.map_err(|e| {
        if is_unique_violation(&e) {
            ScimError::uniqueness(format!(
                "userName {:?} is already in use in this directory",
                attrs.user_name.as_str()
            ))
        } else {
            db_error(e)
        }
    })?;
    write_values(tx, id, dir.directory_id, &attrs, true).await?;
    Ok(StoredUser {
        link,
        attrs,
        groups: current.groups,
        ignored,
    })
}

/// `DELETE /Users/{id}`: deactivate or suspend, leave the directory's
/// groups, unlink. The account and its data stay.
pub async fn delete<C: ConnectionTrait>(
    tx: &C,
    dir: &DirectoryPrincipal,
    id: Uuid,
    if_match: Option<&IfMatch>,
) -> ScimResult<()> {
    let current = lock(tx, dir, id, if_match).await?;
    let account = account_by_id(tx, current.link.account_id).await?;
    let authority = authority_of(tx, account.email_domain.as_deref().unwrap_or_default()).await?;
    let effect = if current.link.active {
        on_delete(
            &facts(&account),
            authority.is_authoritative(dir.directory_id),
        )
    } else {
        // `active: false` already took effect.
        ActiveEffect::Nothing
    };
    apply_effect(tx, dir, account.id, effect).await?;
    let groups = Query::select()
        .column(group::Column::Id)
        .from(group::Entity)
        .and_where(Expr::col(group::Column::DirectoryId).eq(dir.directory_id))
        .to_owned();
    // Leaving each group ends the access it granted, with its events,
    // exactly as a member removal does.
    let mine: Vec<Uuid> = group_member::Entity::find()
        .select_only()
        .column(group_member::Column::GroupId)
        .filter(group_member::Column::AccountId.eq(account.id))
        .filter(group_member::Column::GroupId.in_subquery(groups))
        .into_tuple()
        .all(tx)
        .await
        .map_err(db_error)?;
    for group_id in mine {
        super::groups::remove_members(tx, group_id, &[account.id]).await?;
    }
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

/// Carries out what `lifecycle` decided.
async fn apply_effect<C: ConnectionTrait>(
    tx: &C,
    dir: &DirectoryPrincipal,
    account_id: Uuid,
    effect: ActiveEffect,
) -> ScimResult<()> {
    let now = Utc::now();
    let org_sites = Query::select()
        .column(site::Column::Id)
        .from(site::Entity)
        .and_where(Expr::col(site::Column::OrgId).eq(dir.org_id))
        .to_owned();
    let suspended_by = format!("directory:{}", dir.directory_id);
    match effect {
        ActiveEffect::Nothing => {}
        ActiveEffect::DeactivateAccount => accounts::deactivate(tx, account_id).await?,
        ActiveEffect::ReactivateAccount => accounts::reactivate(tx, account_id).await?,
        ActiveEffect::SuspendOrgMemberships => {
            let suspended = site_membership::Entity::update_many()
                .col_expr(site_membership::Column::Status, Expr::value("suspended"))
                .col_expr(
                    site_membership::Column::SuspendedBy,
                    Expr::value(suspended_by),
                )
                .col_expr(site_membership::Column::UpdatedAt, Expr::value(now))
                .filter(site_membership::Column::AccountId.eq(account_id))
                .filter(site_membership::Column::Status.ne("suspended"))
                .filter(site_membership::Column::SiteId.in_subquery(org_sites))
                .exec_with_returning(tx)
                .await
                .map_err(db_error)?;
            membership_events(tx, dir, suspended, EventType::MembershipSuspended).await?;
        }
        ActiveEffect::RestoreOrgMemberships => {
            // Back to active, or to invited if never used (first activity
            // is what turns an invite active).
            let restored = SimpleExpr::Case(Box::new(
                Expr::case(
                    Expr::col(site_membership::Column::LastActiveAt).is_null(),
                    "invited",
                )
                .finally("active"),
            ));
            let restored = site_membership::Entity::update_many()
                .col_expr(site_membership::Column::Status, restored)
                .col_expr(
                    site_membership::Column::SuspendedBy,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(site_membership::Column::UpdatedAt, Expr::value(now))
                .filter(site_membership::Column::AccountId.eq(account_id))
                .filter(site_membership::Column::SuspendedBy.eq(suspended_by))
                .exec_with_returning(tx)
                .await
                .map_err(db_error)?;
            membership_events(tx, dir, restored, EventType::MembershipRestored).await?;
        }
    }
    Ok(())
}

/// One event per membership a SCIM `active` change suspended or restored
/// (on the directory's org's sites, so the org's events).
async fn membership_events<C: ConnectionTrait>(
    tx: &C,
    dir: &DirectoryPrincipal,
    rows: Vec<site_membership::Model>,
    kind: EventType,
) -> ScimResult<()> {
    let list = rows
        .into_iter()
        .map(|m| {
            let data = json!({"status": m.status, "via": "directory"});
            let data = events::site_data(m.site_id, m.account_id, data);
            NewEvent::new(dir.org_id, kind, data).directory(dir.directory_id)
        })
        .collect();
    events::record_many(tx, list).await
}

/// Where `sortBy` points, for the singular attributes that have a column.
fn sort_of(path: &AttrPath, directory_id: Uuid, custom: &[CustomSchema]) -> ScimResult<Sort> {
    // The filter lowering's column map is the one source of truth.
    let col = user_column_with(path, directory_id, custom)
        .map_err(|e| ScimError::invalid_value(e.detail()))?;
    if let Some((expr, text)) = custom_sort(&col) {
        return Ok(Sort { expr, text });
    }
    match col {
        Column::Plain { expr, ty, .. } => Ok(Sort {
            expr,
            text: matches!(ty, AttrType::String | AttrType::Reference),
        }),
        Column::Id(expr) => Ok(Sort { expr, text: false }),
        _ => Err(ScimError::invalid_value(format!(
            "sortBy {path}: only singular attributes can be sorted on"
        ))),
    }
}

/// A page of Users: the total (when counted), the users, the next cursor.
pub struct UserPage {
    pub total: Option<u64>,
    pub users: Vec<StoredUser>,
    pub next_cursor: Option<String>,
    /// Cursor pages: the cursor resuming after each user.
    pub cursors: Vec<String>,
}

/// `GET /Users`: filtered, ordered and paged in SQL.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    dir: &DirectoryPrincipal,
    q: &ListQuery,
) -> ScimResult<UserPage> {
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
    let users = if page.ids.is_empty() {
        vec![]
    } else {
        let select =
            scim_user::Entity::find().filter(scim_user::Column::Id.is_in(page.ids.clone()));
        load(db, select).await?
    };
    Ok(UserPage {
        total: page.total,
        users: in_order(&page.ids, users, |u| u.link.id),
        next_cursor: page.next_cursor,
        cursors: page.cursors,
    })
}

/// `version` condition of an `If-Match` (none: any version).
fn version_matches(if_match: Option<&IfMatch>) -> SimpleExpr {
    match if_match {
        Some(IfMatch::Versions(v)) => scim_user::Column::Version.is_in(v.clone()),
        _ => Expr::cust("1 = 1"),
    }
}

fn current_version(u: &StoredUser) -> i64 {
    u.link.version
}

fn precondition_failed(version: i64) -> ScimError {
    ScimError::PreconditionFailed(format!(
        "the resource has changed; its current version is {}",
        etag(version)
    ))
}
