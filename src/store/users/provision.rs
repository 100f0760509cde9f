//! What provisioning looks up and writes, one user at a time: accounts by
//! email, links by userName, the account and link rows, their removal.

use chrono::Utc;
use entity::{account, domain, group, group_member, scim_user, scim_user_value};
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult,
    JoinType, PaginatorTrait, QueryFilter, QueryResult, QuerySelect, QueryTrait, Set, TryIntoModel,
};
use serde_json::json;
use uuid::Uuid;

use super::rows::{hash, new_account, new_link, set_link_attrs, set_profile, value_rows};
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::lifecycle::Authority;
use crate::domain::types::{Email, UserName};
use crate::domain::user::{AccountProfile, Password, UserAttrs};
use crate::store::directories::{
    DirectoryPrincipal, authority_from, select_authority, verified_domain_named,
};
use crate::store::events::{EventType, NewEvent, Recorder};
use crate::store::prepared::{self, Prepared};
use crate::store::row_sql::{self, RowWrite};
use crate::store::{carry, db_error, is_unique_violation, org_schemas};

/// Writes the multi-valued attributes of a link (`replace`: in place of
/// those it has). Without custom values (whose keys may be taken) nothing
/// in them can be refused: on SQLite they go with the next statement
/// ([`carry::write_later`]).
async fn write_values<C: Recorder>(
    db: &C,
    user_id: Uuid,
    dir: &DirectoryPrincipal,
    a: &UserAttrs,
    replace: bool,
) -> DomainResult<()> {
    let backend = db.get_database_backend();
    if replace {
        let delete = scim_user_value::Entity::delete_many()
            .filter(scim_user_value::Column::UserId.eq(user_id))
            .build(backend);
        carry::write_later(db, delete).await.map_err(db_error)?;
    }
    let rows = value_rows(user_id, dir, a);
    if rows.is_empty() {
        return Ok(());
    }
    let insert = row_sql::insert_many(backend, rows).map_err(db_error)?;
    if a.custom.is_empty() {
        return carry::write_later(db, insert).await.map_err(db_error);
    }
    db.execute_raw(insert)
        .await
        .map(drop)
        .map_err(|e| org_schemas::unique_conflict(&a.custom, "User", e))
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
    let q = linked_account_query(Expr::val(id));
    let row = db
        .query_one(&q)
        .await
        .map_err(db_error)?
        .ok_or_else(|| DomainError::internal(format!("account {id} of a link is missing")))?;
    linked_account_from(&row)
}

/// The read of [`linked_account`], of the account whose id `id` gives.
pub(super) fn linked_account_query(id: Expr) -> SelectStatement {
    let mut q = account::Entity::find()
        .filter(Expr::col((account::Entity, account::Column::Id)).eq(id))
        .into_query();
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
    q
}

pub(super) fn linked_account_from(row: &QueryResult) -> DomainResult<LinkedAccount> {
    let has: i32 = row.try_get("", "has_memberships").map_err(db_error)?;
    Ok(LinkedAccount {
        account: account::Model::from_query_result(row, "").map_err(db_error)?,
        authority: authority_from(row)?,
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
    let stmt = probe_sql(db.get_database_backend()).bind(|p| match p {
        ProbeParam::Directory => dir.directory_id.into(),
        ProbeParam::UserName => user_name.lower().into(),
        ProbeParam::Email => email.lower().into(),
        ProbeParam::Domain => email.domain().into(),
    });
    let row = db
        .query_one_raw(stmt)
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

/// What a request binds in [`probe_query`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProbeParam {
    Directory,
    UserName,
    Email,
    Domain,
}

/// The statement of [`provision_probe`], of the directory, lower-cased
/// userName, lower-cased email and email domain given.
fn probe_query(directory: Expr, user_name: Expr, email: Expr, domain: Expr) -> SelectStatement {
    let taken = Query::select()
        .column(scim_user::Column::Id)
        .from(scim_user::Entity)
        .and_where(
            Expr::col((scim_user::Entity, scim_user::Column::DirectoryId)).eq(directory.clone()),
        )
        .and_where(Expr::col((scim_user::Entity, scim_user::Column::UserNameLower)).eq(user_name))
        .to_owned();
    let linked = Query::select()
        .expr(Expr::val(1))
        .from_as(scim_user::Entity, "l")
        .and_where(Expr::col(("l", scim_user::Column::DirectoryId)).eq(directory))
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
        Expr::col((account::Entity, account::Column::EmailLower)).eq(email),
    )
    .join(
        JoinType::LeftJoin,
        domain::Entity,
        verified_domain_named(domain),
    );
    select_authority(&mut q);
    q
}

/// The SQL of [`probe_query`] and what each of its parameters binds, built
/// once per backend: the same text on every `POST /Users`, and building it
/// anew was ~10 % of the writer thread's work in one (it runs there, under
/// the write lock).
fn probe_sql(backend: DbBackend) -> &'static Prepared<ProbeParam> {
    use std::sync::OnceLock;
    static BUILT: [OnceLock<Prepared<ProbeParam>>; 3] = [const { OnceLock::new() }; 3];
    BUILT[prepared::slot(backend)].get_or_init(|| {
        // Distinct markers tell the parameters apart.
        let markers: [(sea_orm::Value, ProbeParam); 4] = [
            (Uuid::nil().into(), ProbeParam::Directory),
            ("\u{0}user_name".into(), ProbeParam::UserName),
            ("\u{0}email".into(), ProbeParam::Email),
            ("\u{0}domain".into(), ProbeParam::Domain),
        ];
        let [d, u, e, n] = markers.clone().map(|(v, _)| Expr::val(v));
        Prepared::new(backend.build(&probe_query(d, u, e, n)), &markers)
    })
}

pub fn required_email(a: &UserAttrs) -> DomainResult<Email> {
    a.account_email()?.ok_or_else(|| {
        DomainError::invalid(
            "a User needs an email address: give emails (a primary one) or a userName that is an email address",
        )
    })
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

/// Inserts a new active account (see [`new_account`]), whose email no
/// account has: the caller checked, under the write lock
/// ([`provision_probe`]). So on SQLite, where that lock is the one writer's
/// and nothing can take the email meanwhile, the INSERT goes with the next
/// statement ([`carry::write_later`]); on PostgreSQL another instance may
/// have, and the unique index answers.
pub async fn insert_account<C: Recorder>(
    tx: &C,
    managing_org: Option<Uuid>,
    email: &Email,
    profile: Option<AccountProfile>,
    password: Option<&Password>,
) -> DomainResult<account::Model> {
    let m = new_account(managing_org, email, profile, password, Utc::now())?;
    if let Some(written) = held::<account::Entity, _>(tx, RowWrite::Insert, m.clone())? {
        return Ok(written);
    }
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

/// Inserts a new link of `account` with its multi-valued attributes. The
/// caller checked under the write lock that neither the userName nor the
/// account is linked in the directory ([`provision_probe`]): on SQLite
/// the INSERTs go with the next statement, as [`insert_account`]'s.
pub async fn insert_link<C: Recorder>(
    tx: &C,
    dir: &DirectoryPrincipal,
    account: Uuid,
    attrs: &UserAttrs,
) -> DomainResult<scim_user::Model> {
    let link = new_link(dir, account, attrs, Utc::now());
    let id = *link.id.as_ref();
    let link = match held::<scim_user::Entity, _>(tx, RowWrite::Insert, link.clone())? {
        Some(written) => written,
        None => link.insert(tx).await.map_err(|e| {
            if is_unique_violation(&e) {
                user_name_taken(attrs)
            } else {
                db_error(e)
            }
        })?,
    };
    write_values(tx, id, dir, attrs, false).await?;
    Ok(link)
}

/// SQLite: holds the INSERT or UPDATE of `row` (every column set, or
/// unchanged for an update) for the next statement and returns the row as
/// written; elsewhere `None`. Its SQL is built once ([`row_sql`]).
fn held<E, C>(tx: &C, write: RowWrite, row: E::ActiveModel) -> DomainResult<Option<E::Model>>
where
    E: EntityTrait + 'static,
    E::ActiveModel: ActiveModelTrait<Entity = E> + TryIntoModel<E::Model> + Clone,
    C: Recorder,
{
    if !carry::holds(tx) {
        return Ok(None);
    }
    let written = row
        .clone()
        .try_into_model()
        .map_err(|e| DomainError::internal(format!("a row to write is incomplete: {e}")))?;
    tx.hold(row_sql::statement(DbBackend::Sqlite, write, row).map_err(db_error)?);
    Ok(Some(written))
}

/// Writes every SCIM attribute of a (locked) link whose attributes were
/// `previous`. Its multi-valued attributes are rewritten only when their
/// rows change (a PATCH of `active` leaves them be: two statements fewer).
/// With its userName kept nothing in the row can be refused (its other
/// unique key, the account in the directory, never changes): on SQLite its
/// UPDATE goes with the next statement.
pub async fn update_link<C: Recorder>(
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
    let held = if previous.user_name.lower() == attrs.user_name.lower() {
        held::<scim_user::Entity, _>(tx, RowWrite::Update, link.clone())?
    } else {
        None
    };
    let link = match held {
        Some(written) => written,
        None => link.update(tx).await.map_err(|e| {
            if is_unique_violation(&e) {
                user_name_taken(attrs)
            } else {
                db_error(e)
            }
        })?,
    };
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The provisioning probe built once, with a request's values bound
    /// in the markers' places, is the statement built anew with them.
    #[test]
    fn the_probe_built_once_binds_as_built_anew() {
        let (dir, user_name, email, domain) = (
            Uuid::now_v7(),
            "ada@acme.example",
            "ada.l@acme.example",
            "acme.example",
        );
        for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
            let built = probe_sql(backend);
            assert_eq!(built.binds(ProbeParam::Directory), 2);
            for p in [ProbeParam::UserName, ProbeParam::Email, ProbeParam::Domain] {
                assert_eq!(built.binds(p), 1, "{p:?}");
            }
            let bound = built.bind(|p| match p {
                ProbeParam::Directory => dir.into(),
                ProbeParam::UserName => user_name.into(),
                ProbeParam::Email => email.into(),
                ProbeParam::Domain => domain.into(),
            });
            let fresh = backend.build(&probe_query(
                Expr::val(dir),
                Expr::val(user_name),
                Expr::val(email),
                Expr::val(domain),
            ));
            assert_eq!(bound.sql, fresh.sql);
            assert_eq!(bound.values, fresh.values, "{}", fresh.sql);
        }
    }
}
