//! Organizations, directories and their tokens, domains, sites: what the
//! CLI (and later the admin API) manage, and bearer-token authentication.

use chrono::{DateTime, Utc};
use entity::{directory, directory_token, domain, organization, site};
use sea_orm::sea_query::SimpleExpr;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set,
};
use std::collections::HashMap;
use uuid::Uuid;

use super::events::{self, Recorder};
use super::prepared::{self, Prepared};
use super::{db_error, is_unique_violation};
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::lifecycle::{AccountStatus, Authority};
use crate::domain::secrets;
use crate::domain::types::DomainName;

/// Who a valid SCIM bearer token speaks for.
#[derive(Debug, Clone)]
pub struct DirectoryPrincipal {
    pub directory_id: Uuid,
    pub org_id: Uuid,
    pub reject_unverified_domains: bool,
    pub credential: Credential,
}

/// The kind of bearer token a request presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// A static directory token (its id).
    StaticToken(Uuid),
    /// An OAuth access token of a client (the client's row id).
    OAuthClient(Uuid),
    /// An operator command on the server's machine (`import users`).
    Operator,
}

/// Looks a presented token up by its hash. Revoked and expired tokens are
/// not found. One statement (the token joined with its directory): it runs
/// on every SCIM request, and on SQLite each statement is a round trip to
/// the connection's thread. Read from the database every time, so a
/// revocation holds at once on every instance.
pub async fn authenticate<C: ConnectionTrait>(
    db: &C,
    token: &str,
) -> DomainResult<Option<DirectoryPrincipal>> {
    let hash = secrets::token_hash(token);
    let lookup = token_lookup_sql(db.get_database_backend()).bind(|()| hash.as_str().into());
    match db.query_one_raw(lookup).await.map_err(db_error)? {
        Some(row) => principal_from(&row, &hash),
        None => Ok(None),
    }
}

/// The lookup of a static token by its hash (`token_hash`): the token
/// joined with its directory, columns aliased `t_*` and `d_*` so a query
/// may join more (a GET by id joins the user it reads: one statement for
/// both). [`principal_from`] reads its row.
pub(crate) fn token_lookup(token_hash: &str) -> sea_orm::sea_query::SelectStatement {
    let t = |c: directory_token::Column| Expr::col((directory_token::Entity, c));
    let d = |c: directory::Column| Expr::col((directory::Entity, c));
    Query::select()
        .expr_as(t(directory_token::Column::Id), "t_id")
        .expr_as(t(directory_token::Column::TokenHash), "t_hash")
        .expr_as(t(directory_token::Column::ExpiresAt), "t_expires_at")
        .expr_as(t(directory_token::Column::RevokedAt), "t_revoked_at")
        .expr_as(d(directory::Column::Id), "d_id")
        .expr_as(d(directory::Column::OrgId), "d_org_id")
        .expr_as(d(directory::Column::RejectUnverifiedDomains), "d_reject")
        .from(directory_token::Entity)
        .inner_join(
            directory::Entity,
            t(directory_token::Column::DirectoryId)
                .equals((directory::Entity, directory::Column::Id)),
        )
        .and_where(t(directory_token::Column::TokenHash).eq(token_hash))
        .to_owned()
}

/// A [`token_lookup`], its one parameter the hash, built once per
/// backend: the same text on every write request (reads join it with the
/// user they read, built once too).
fn token_lookup_sql(backend: sea_orm::DbBackend) -> &'static Prepared<()> {
    use std::sync::OnceLock;
    static BUILT: [OnceLock<Prepared<()>>; 3] = [const { OnceLock::new() }; 3];
    BUILT[prepared::slot(backend)].get_or_init(|| {
        let marker = "\u{0}hash";
        Prepared::new(backend.build(&token_lookup(marker)), &[(marker.into(), ())])
    })
}

/// The principal of a [`token_lookup`] row: none when the token is
/// revoked or expired.
pub(crate) fn principal_from(
    row: &sea_orm::QueryResult,
    hash: &str,
) -> DomainResult<Option<DirectoryPrincipal>> {
    let get = |c: &str| -> DomainResult<Option<Uuid>> { row.try_get("", c).map_err(db_error) };
    let (Some(token_id), Some(directory_id), Some(org_id)) =
        (get("t_id")?, get("d_id")?, get("d_org_id")?)
    else {
        return Ok(None);
    };
    let token_hash: String = row.try_get("", "t_hash").map_err(db_error)?;
    let expires_at: Option<DateTime<Utc>> = row.try_get("", "t_expires_at").map_err(db_error)?;
    let revoked_at: Option<DateTime<Utc>> = row.try_get("", "t_revoked_at").map_err(db_error)?;
    let reject: bool = row.try_get("", "d_reject").map_err(db_error)?;
    // The lookup was by index; compare again in constant time all the same.
    if !secrets::constant_time_eq(&token_hash, hash) || revoked_at.is_some() {
        return Ok(None);
    }
    if expires_at.is_some_and(|e| e <= Utc::now()) {
        return Ok(None);
    }
    Ok(Some(DirectoryPrincipal {
        directory_id,
        org_id,
        reject_unverified_domains: reject,
        credential: Credential::StaticToken(token_id),
    }))
}

pub async fn find_org_by_name<C: ConnectionTrait>(
    db: &C,
    name: &str,
) -> DomainResult<Option<organization::Model>> {
    organization::Entity::find()
        .filter(organization::Column::Name.eq(name))
        .one(db)
        .await
        .map_err(db_error)
}

pub async fn org_by_name<C: ConnectionTrait>(
    db: &C,
    name: &str,
) -> DomainResult<organization::Model> {
    find_org_by_name(db, name)
        .await?
        .ok_or_else(|| DomainError::not_found(format!("no organization named {name:?}")))
}

/// The organization `name`, created if missing (safe when several
/// processes race: the unique name decides).
pub async fn find_or_create_org<C: ConnectionTrait>(
    db: &C,
    name: &str,
) -> DomainResult<organization::Model> {
    if let Some(org) = find_org_by_name(db, name).await? {
        return Ok(org);
    }
    let res = organization::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name.to_owned()),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await;
    match res {
        Ok(org) => Ok(org),
        Err(e) if is_unique_violation(&e) => org_by_name(db, name).await,
        Err(e) => Err(db_error(e)),
    }
}

/// The organization `name`, created if missing, without a failing
/// statement (on PostgreSQL a unique violation would abort the caller's
/// transaction): insert unless the name is taken, then read it.
pub async fn ensure_org<C: ConnectionTrait>(
    db: &C,
    name: &str,
) -> DomainResult<organization::Model> {
    if let Some(org) = find_org_by_name(db, name).await? {
        return Ok(org);
    }
    organization::Entity::insert(organization::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name.to_owned()),
        created_at: Set(Utc::now()),
    })
    .on_conflict(
        sea_orm::sea_query::OnConflict::column(organization::Column::Name)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await
    .map_err(db_error)?;
    org_by_name(db, name).await
}

/// A new directory of the org. The org's only directory so far is
/// authoritative for its unbound verified domains by default; before a
/// second directory appears that default is written down, so the first
/// directory stays authoritative until an admin binds the domains anew.
pub async fn create_directory<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    name: &str,
) -> DomainResult<directory::Model> {
    let existing: Vec<Uuid> = directory::Entity::find()
        .select_only()
        .column(directory::Column::Id)
        .filter(directory::Column::OrgId.eq(org_id))
        .limit(2)
        .into_tuple()
        .all(db)
        .await
        .map_err(db_error)?;
    if let [only] = existing.as_slice() {
        domain::Entity::update_many()
            .col_expr(domain::Column::DirectoryId, Expr::value(*only))
            .filter(domain::Column::OrgId.eq(org_id))
            .filter(domain::Column::Verified.eq(true))
            .filter(domain::Column::DirectoryId.is_null())
            .exec(db)
            .await
            .map_err(db_error)?;
    }
    directory::ActiveModel {
        id: Set(Uuid::now_v7()),
        org_id: Set(org_id),
        name: Set(name.to_owned()),
        reject_unverified_domains: Set(false),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            DomainError::taken(format!(
                "the organization already has a directory named {name:?}"
            ))
        } else {
            db_error(e)
        }
    })
}

pub async fn directory_by_id<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> DomainResult<directory::Model> {
    directory::Entity::find_by_id(id)
        .one(db)
        .await
        .map_err(db_error)?
        .ok_or_else(|| DomainError::not_found(format!("no directory {id}")))
}

/// A directory as the admin API shows it (read model).
#[derive(Debug, Clone)]
pub struct DirectoryView {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub reject_unverified_domains: bool,
}

impl From<directory::Model> for DirectoryView {
    fn from(d: directory::Model) -> Self {
        Self {
            id: d.id,
            org_id: d.org_id,
            name: d.name,
            reject_unverified_domains: d.reject_unverified_domains,
        }
    }
}

/// Sets whether the directory refuses (`POST /Users`: 400 `invalidValue`)
/// users whose email domain its organization has not verified, instead of
/// syncing them as external accounts.
pub async fn set_reject_unverified_domains<C: ConnectionTrait>(
    db: &C,
    dir: directory::Model,
    on: bool,
) -> DomainResult<directory::Model> {
    let mut am: directory::ActiveModel = dir.into();
    am.reject_unverified_domains = Set(on);
    am.update(db).await.map_err(db_error)
}

/// The directory as an operator command acts for it (as its IdP would).
pub async fn operator_principal<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> DomainResult<DirectoryPrincipal> {
    let dir = directory_by_id(db, id).await?;
    Ok(DirectoryPrincipal {
        directory_id: dir.id,
        org_id: dir.org_id,
        reject_unverified_domains: dir.reject_unverified_domains,
        credential: Credential::Operator,
    })
}

/// A new bearer token for the directory; the clear value is returned once
/// and only its hash is kept. `token` may be given (bootstrap).
pub async fn create_token<C: ConnectionTrait>(
    db: &C,
    directory_id: Uuid,
    token: Option<String>,
) -> DomainResult<(directory_token::Model, String)> {
    create_token_expiring(db, directory_id, token, None).await
}

/// [`create_token`] with an expiry: after `expires_at` the token is
/// refused (401 `invalid_token`).
pub async fn create_token_expiring<C: ConnectionTrait>(
    db: &C,
    directory_id: Uuid,
    token: Option<String>,
    expires_at: Option<chrono::DateTime<Utc>>,
) -> DomainResult<(directory_token::Model, String)> {
    let token = token.unwrap_or_else(|| secrets::new_token("scim"));
    let model = directory_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        directory_id: Set(directory_id),
        token_hash: Set(secrets::token_hash(&token)),
        hint: Set(secrets::token_hint(&token)),
        created_at: Set(Utc::now()),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
        last_used_at: Set(None),
    }
    .insert(db)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            DomainError::taken("that token is already in use")
        } else {
            db_error(e)
        }
    })?;
    Ok((model, token))
}

pub async fn list_tokens<C: ConnectionTrait>(
    db: &C,
    directory_id: Uuid,
) -> DomainResult<Vec<directory_token::Model>> {
    directory_token::Entity::find()
        .filter(directory_token::Column::DirectoryId.eq(directory_id))
        .order_by_asc(directory_token::Column::CreatedAt)
        .all(db)
        .await
        .map_err(db_error)
}

/// Revokes a token of the directory: effective on the next request.
pub async fn revoke_token<C: ConnectionTrait>(
    db: &C,
    directory_id: Uuid,
    token_id: Uuid,
) -> DomainResult<()> {
    let res = directory_token::Entity::update_many()
        .col_expr(directory_token::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(directory_token::Column::Id.eq(token_id))
        .filter(directory_token::Column::DirectoryId.eq(directory_id))
        .exec(db)
        .await
        .map_err(db_error)?;
    if res.rows_affected == 0 {
        return Err(DomainError::not_found(format!(
            "no token {token_id} in directory {directory_id}"
        )));
    }
    Ok(())
}

pub async fn add_domain<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    name: &DomainName,
) -> DomainResult<domain::Model> {
    domain::ActiveModel {
        id: Set(Uuid::now_v7()),
        org_id: Set(org_id),
        name: Set(name.as_str().to_owned()),
        verified: Set(false),
        verification_token: Set(secrets::new_token("scim-verify")),
        verified_at: Set(None),
        directory_id: Set(None),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            DomainError::taken(format!(
                "the organization already has the domain {}",
                name.as_str()
            ))
        } else {
            db_error(e)
        }
    })
}

/// Marks the domain verified and claims every account on it: they are the
/// org's managed accounts from now on, any password they had is cleared
/// and a reset required (whoever set it did not own the account). Refused
/// (409) when another organization has verified the domain: one org per
/// verified domain, platform-wide (a unique index backs it). Returns how
/// many accounts were claimed.
pub async fn verify_domain<C: Recorder>(
    db: &C,
    org_id: Uuid,
    name: &DomainName,
) -> DomainResult<u64> {
    let taken = domain::Entity::find()
        .filter(domain::Column::Name.eq(name.as_str()))
        .filter(domain::Column::Verified.eq(true))
        .filter(domain::Column::OrgId.ne(org_id))
        .count(db)
        .await
        .map_err(db_error)?;
    if taken > 0 {
        return Err(verified_elsewhere(name));
    }
    let res = domain::Entity::update_many()
        .col_expr(domain::Column::Verified, Expr::value(true))
        .col_expr(domain::Column::VerifiedAt, Expr::value(Utc::now()))
        .filter(domain::Column::OrgId.eq(org_id))
        .filter(domain::Column::Name.eq(name.as_str()))
        .exec(db)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                verified_elsewhere(name)
            } else {
                db_error(e)
            }
        })?;
    if res.rows_affected == 0 {
        return Err(DomainError::not_found(format!(
            "the organization has no domain {}",
            name.as_str()
        )));
    }
    use entity::account;
    // SET expressions read the row as it was: the reset is required of
    // the accounts that had a password.
    let reset = SimpleExpr::Case(Box::new(
        Expr::case(
            Expr::col(account::Column::PasswordHash).is_not_null(),
            Expr::value(true),
        )
        .finally(Expr::col(account::Column::PasswordResetRequired)),
    ));
    let stmt = account::Entity::update_many()
        .col_expr(account::Column::ManagingOrgId, Expr::value(org_id))
        .col_expr(account::Column::PasswordResetRequired, reset)
        .col_expr(
            account::Column::PasswordHash,
            Expr::value(Option::<String>::None),
        )
        .col_expr(account::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(account::Column::EmailDomain.eq(name.as_str()))
        .filter(
            Condition::any()
                .add(account::Column::ManagingOrgId.is_null())
                .add(account::Column::ManagingOrgId.ne(org_id)),
        )
        .into_query()
        .returning(Query::returning().columns([account::Column::Id, account::Column::Email]))
        .to_owned();
    let mut claimed = Vec::new();
    for r in db.query_all(&stmt).await.map_err(db_error)? {
        let id: Uuid = r.try_get_by_index(0).map_err(db_error)?;
        let email: Option<String> = r.try_get_by_index(1).map_err(db_error)?;
        let data =
            serde_json::json!({"account_id": id, "email": email, "via": "domain_verification"});
        claimed.push(events::NewEvent::new(
            org_id,
            events::EventType::AccountClaimed,
            data,
        ));
    }
    let n = claimed.len() as u64;
    events::record_many(db, claimed).await?;
    Ok(n)
}

fn verified_elsewhere(name: &DomainName) -> DomainError {
    DomainError::taken(format!(
        "{} is verified by another organization; a domain can be verified by one organization only",
        name.as_str()
    ))
}

/// Whether `domain` (lower-case) is verified by the org.
pub async fn domain_verified<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    domain_name: &str,
) -> DomainResult<bool> {
    Ok(authority_of(db, domain_name).await?.managing_org == Some(org_id))
}

/// Who writes accounts on `domain_name` (lower-case): see [`authorities`].
pub async fn authority_of<C: ConnectionTrait>(
    db: &C,
    domain_name: &str,
) -> DomainResult<Authority> {
    Ok(authorities(db, &[domain_name.to_owned()])
        .await?
        .remove(domain_name)
        .unwrap_or_default())
}

/// The directory authoritative for the verified `"domains"` row in scope
/// of a query: the one bound to it, else its organization's only
/// directory (none when the org has several and none is bound).
pub(crate) const AUTHORITY_DIRECTORY: &str = r#"COALESCE("domains"."directory_id",
    (SELECT x."id" FROM "directories" x WHERE x."org_id" = "domains"."org_id"
     AND NOT EXISTS (SELECT 1 FROM "directories" y WHERE y."org_id" = x."org_id" AND y."id" <> x."id")))"#;

/// The verified `"domains"` row named `name` (a lower-case column or
/// value), joined to a query whose authority it gives
/// ([`AUTHORITY_DIRECTORY`], [`authority_from`]).
pub(crate) fn verified_domain_named(name: impl Into<Expr>) -> Condition {
    Condition::all()
        .add(Expr::col((domain::Entity, domain::Column::Name)).eq(name.into()))
        .add(Expr::col((domain::Entity, domain::Column::Verified)).eq(true))
}

/// Selects the authority of the joined `"domains"` row as `auth_org` and
/// `auth_dir` (read back by [`authority_from`]).
pub(crate) fn select_authority(q: &mut sea_orm::sea_query::SelectStatement) {
    q.expr_as(
        Expr::col((domain::Entity, domain::Column::OrgId)),
        "auth_org",
    )
    .expr_as(Expr::cust(AUTHORITY_DIRECTORY), "auth_dir");
}

/// The authority [`select_authority`] selected (no verified domain: none).
pub(crate) fn authority_from(row: &sea_orm::QueryResult) -> DomainResult<Authority> {
    Ok(Authority {
        managing_org: row.try_get("", "auth_org").map_err(db_error)?,
        directory: row.try_get("", "auth_dir").map_err(db_error)?,
    })
}

/// For each of `names` (lower-case) that an organization has verified:
/// that org, and the directory bound to the domain, or the org's only
/// directory when none is bound. Names nobody verified are absent. One
/// query.
pub async fn authorities<C: ConnectionTrait>(
    db: &C,
    names: &[String],
) -> DomainResult<HashMap<String, Authority>> {
    if names.is_empty() {
        return Ok(HashMap::new());
    }
    let mut q = Query::select();
    q.column((domain::Entity, domain::Column::Name))
        .from(domain::Entity)
        .and_where(Expr::col((domain::Entity, domain::Column::Verified)).eq(true))
        .and_where(Expr::col((domain::Entity, domain::Column::Name)).is_in(names.iter().cloned()));
    select_authority(&mut q);
    let rows = db.query_all(&q).await.map_err(db_error)?;
    rows.iter()
        .map(|row| {
            let name: String = row.try_get("", "name").map_err(db_error)?;
            Ok((name, authority_from(row)?))
        })
        .collect()
}

/// Makes the directory authoritative for a verified domain of its org (a
/// domain is bound to one directory at most: bound elsewhere, it moves).
pub async fn bind_domain<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    directory_id: Uuid,
    name: &DomainName,
) -> DomainResult<()> {
    let res = domain::Entity::update_many()
        .col_expr(domain::Column::DirectoryId, Expr::value(directory_id))
        .filter(domain::Column::OrgId.eq(org_id))
        .filter(domain::Column::Verified.eq(true))
        .filter(domain::Column::Name.eq(name.as_str()))
        .exec(db)
        .await
        .map_err(db_error)?;
    if res.rows_affected == 0 {
        return Err(DomainError::invalid(format!(
            "{} is not a verified domain of the organization; only verified domains can be bound to a directory",
            name.as_str()
        )));
    }
    Ok(())
}

/// Makes the directory authoritative for exactly `domains` (verified
/// domains of its org): binds each, and unbinds the org's other domains
/// bound to it.
pub async fn bind_domains<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    directory_id: Uuid,
    domains: &[DomainName],
) -> DomainResult<()> {
    let names: Vec<String> = domains.iter().map(|d| d.as_str().to_owned()).collect();
    domain::Entity::update_many()
        .col_expr(
            domain::Column::DirectoryId,
            Expr::value(Option::<Uuid>::None),
        )
        .filter(domain::Column::OrgId.eq(org_id))
        .filter(domain::Column::DirectoryId.eq(directory_id))
        .filter(domain::Column::Name.is_not_in(names))
        .exec(db)
        .await
        .map_err(db_error)?;
    for d in domains {
        bind_domain(db, org_id, directory_id, d).await?;
    }
    Ok(())
}

/// The domains the directory is authoritative for, by name (bound to it,
/// or unbound while it is the org's only directory).
pub async fn domains_of_directory<C: ConnectionTrait>(
    db: &C,
    dir: &DirectoryView,
) -> DomainResult<Vec<String>> {
    let names: Vec<String> = domain::Entity::find()
        .select_only()
        .column(domain::Column::Name)
        .filter(domain::Column::OrgId.eq(dir.org_id))
        .filter(domain::Column::Verified.eq(true))
        .order_by_asc(domain::Column::Name)
        .into_tuple()
        .all(db)
        .await
        .map_err(db_error)?;
    let found = authorities(db, &names).await?;
    Ok(names
        .into_iter()
        .filter(|n| found.get(n).is_some_and(|a| a.is_authoritative(dir.id)))
        .collect())
}

/// A domain as the admin API and the CLI show it (read model).
#[derive(Debug, Clone)]
pub struct DomainView {
    pub id: Uuid,
    pub name: String,
    pub verified: bool,
    /// Published in DNS to prove ownership (shown until verified).
    pub verification_token: String,
    pub verified_at: Option<chrono::DateTime<Utc>>,
    pub created_at: chrono::DateTime<Utc>,
}

impl From<domain::Model> for DomainView {
    fn from(d: domain::Model) -> Self {
        Self {
            id: d.id,
            name: d.name,
            verified: d.verified,
            verification_token: d.verification_token,
            verified_at: d.verified_at,
            created_at: d.created_at,
        }
    }
}

/// The organization's domains, by name.
pub async fn list_domains<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
) -> DomainResult<Vec<DomainView>> {
    let rows = domain::Entity::find()
        .filter(domain::Column::OrgId.eq(org_id))
        .order_by_asc(domain::Column::Name)
        .all(db)
        .await
        .map_err(db_error)?;
    Ok(rows.into_iter().map(DomainView::from).collect())
}

pub async fn domain_by_name<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    name: &DomainName,
) -> DomainResult<domain::Model> {
    domain::Entity::find()
        .filter(domain::Column::OrgId.eq(org_id))
        .filter(domain::Column::Name.eq(name.as_str()))
        .one(db)
        .await
        .map_err(db_error)?
        .ok_or_else(|| {
            DomainError::not_found(format!("the organization has no domain {}", name.as_str()))
        })
}

/// How many of the org's managed accounts on the domain are deactivated or
/// pending deletion: removing the domain would leave them with nobody to
/// reactivate them or cancel their deletion.
pub async fn stranded_by_removal<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    name: &DomainName,
) -> DomainResult<u64> {
    use entity::account;
    account::Entity::find()
        .filter(account::Column::EmailDomain.eq(name.as_str()))
        .filter(account::Column::ManagingOrgId.eq(org_id))
        .filter(
            account::Column::Status
                .is_in([AccountStatus::Deactivated, AccountStatus::PendingDeletion]),
        )
        .count(db)
        .await
        .map_err(db_error)
}

/// Removes the domain; the org's managed accounts on it are no longer
/// managed (they stay, with their data and site access). Returns how many
/// accounts were released.
pub async fn remove_domain<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    name: &DomainName,
) -> DomainResult<u64> {
    let res = domain::Entity::delete_many()
        .filter(domain::Column::OrgId.eq(org_id))
        .filter(domain::Column::Name.eq(name.as_str()))
        .exec(db)
        .await
        .map_err(db_error)?;
    if res.rows_affected == 0 {
        return Err(DomainError::not_found(format!(
            "the organization has no domain {}",
            name.as_str()
        )));
    }
    let released = entity::account::Entity::update_many()
        .col_expr(
            entity::account::Column::ManagingOrgId,
            Expr::value(Option::<Uuid>::None),
        )
        .col_expr(entity::account::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(entity::account::Column::EmailDomain.eq(name.as_str()))
        .filter(entity::account::Column::ManagingOrgId.eq(org_id))
        .exec(db)
        .await
        .map_err(db_error)?;
    Ok(released.rows_affected)
}

pub async fn create_site<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    name: &str,
) -> DomainResult<site::Model> {
    site::ActiveModel {
        id: Set(Uuid::now_v7()),
        org_id: Set(org_id),
        name: Set(name.to_owned()),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            DomainError::taken(format!("a site named {name:?} already exists"))
        } else {
            db_error(e)
        }
    })
}

/// First start on an empty database: organization `default` with
/// directory `default` and one token. `None` when any organization exists.
pub async fn bootstrap<C: ConnectionTrait>(
    db: &C,
    token: Option<String>,
) -> DomainResult<Option<(directory::Model, String)>> {
    let any = organization::Entity::find()
        .count(db)
        .await
        .map_err(db_error)?;
    if any > 0 {
        return Ok(None);
    }
    let org = find_or_create_org(db, "default").await?;
    let dir = match create_directory(db, org.id, "default").await {
        Ok(d) => d,
        // Another instance bootstrapped at the same moment.
        Err(DomainError::Conflict(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let (_, token) = create_token(db, dir.id, token).await?;
    Ok(Some((dir, token)))
}

/// The time of the directory's latest sync-log entry: the latest of
/// [`last_sync_columns`].
pub async fn last_sync<C: ConnectionTrait>(
    db: &C,
    directory_id: Uuid,
) -> DomainResult<Option<DateTime<Utc>>> {
    let backend = db.get_database_backend();
    let sql = format!("SELECT {}", last_sync_columns(first_parameter(backend)));
    let row = db
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            backend,
            sql,
            [directory_id.into()],
        ))
        .await
        .map_err(db_error)?;
    Ok(match row {
        Some(r) => latest_of(&r, 0)?,
        None => None,
    })
}

fn first_parameter(backend: sea_orm::DbBackend) -> &'static str {
    match backend {
        sea_orm::DbBackend::Postgres => "$1",
        _ => "?1",
    }
}

/// The columns that give a directory's last sync (`directory`: its id, a
/// parameter or a column of the query): the latest `at` of each outcome,
/// one seek each in `sync_log (directory_id, outcome, at)`. The last sync
/// is the latest of them ([`latest_of`]); no other index is kept for it.
pub(crate) fn last_sync_columns(directory: &str) -> String {
    use sea_orm::ActiveEnum;
    entity::sync_log::SyncOutcome::ALL
        .iter()
        .map(|o| {
            format!(
                "(SELECT MAX(l.at) FROM sync_log l WHERE l.directory_id = {directory} \
                 AND l.outcome = '{}')",
                o.to_value()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The latest of `row`'s [`last_sync_columns`], the first at `first`.
pub(crate) fn latest_of(
    row: &sea_orm::QueryResult,
    first: usize,
) -> DomainResult<Option<DateTime<Utc>>> {
    let mut latest = None;
    for i in first..first + entity::sync_log::SyncOutcome::ALL.len() {
        let at: Option<DateTime<Utc>> = row.try_get_by_index(i).map_err(db_error)?;
        latest = Ord::max(latest, at);
    }
    Ok(latest)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory's last sync is a seek per outcome in
    /// `sync_log (directory_id, outcome, at)`, never a scan of its entries.
    #[tokio::test]
    async fn the_last_sync_is_a_seek_per_outcome() {
        use migration::MigratorTrait;
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        migration::Migrator::up(&db, None).await.unwrap();
        let sql = format!("EXPLAIN QUERY PLAN SELECT {}", last_sync_columns("?1"));
        let plan: Vec<String> = db
            .query_all_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Sqlite,
                sql,
                [Uuid::new_v4().into()],
            ))
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<String>("", "detail").unwrap())
            .collect();
        let seeks = plan
            .iter()
            .filter(|d| d.contains("SEARCH l USING COVERING INDEX ix_sync_log_directory_outcome"))
            .count();
        assert_eq!(seeks, 3, "{plan:?}");
        assert!(!plan.iter().any(|d| d.starts_with("SCAN l")), "{plan:?}");
    }

    /// The token lookup built once, with the hash bound, is the statement
    /// built anew for that hash.
    #[test]
    fn the_token_lookup_built_once_binds_as_built_anew() {
        for backend in [sea_orm::DbBackend::Sqlite, sea_orm::DbBackend::Postgres] {
            let built = token_lookup_sql(backend);
            assert_eq!(built.binds(()), 1);
            let bound = built.bind(|()| "0a1b2c".into());
            let fresh = backend.build(&token_lookup("0a1b2c"));
            assert_eq!(bound.sql, fresh.sql);
            assert_eq!(
                fresh.values.unwrap().0,
                vec![sea_orm::Value::from("0a1b2c")]
            );
            assert_eq!(
                bound.values.unwrap().0,
                vec![sea_orm::Value::from("0a1b2c")]
            );
        }
    }
}
