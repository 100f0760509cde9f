//! How the SCIM API reads a user: one statement for a link with its
//! multi-valued attributes and groups (`GET /Users/{id}`, a page of one,
//! the lock of a write).

use sea_orm::sea_query::{Asterisk, Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, JoinType,
    QueryFilter, QueryResult, QueryTrait, Statement,
};
use uuid::Uuid;

use super::provision::{LinkedAccount, linked_account_from, linked_account_query};
use super::{StoredUser, not_found};
use crate::domain::custom_attrs::{CustomValues, ValueRow, row_kind};
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::etag::IfMatch;
use crate::domain::types::UserName;
use crate::domain::user::{Address, MULTI_VALUED, MultiValue, UserAttrs};
use crate::store::directories::{DirectoryPrincipal, principal_from, token_lookup};
use crate::store::prepared::{self, Prepared};
use crate::store::{carry, db_error, versioned};
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
    with_token(db, token_hash, Key::Id, id.into()).await
}

/// A `userName eq` lookup with its authentication in one statement, as
/// [`get_with_token`]: the static token whose hash is `token_hash` with
/// its directory, and that directory's link whose userName lower-cased is
/// `user_name_lower` (userName is unique in a directory, case-insensitively:
/// one user at most).
pub async fn by_user_name_with_token<C: ConnectionTrait>(
    db: &C,
    token_hash: &str,
    user_name_lower: &str,
) -> DomainResult<Option<(DirectoryPrincipal, Option<StoredUser>)>> {
    with_token(db, token_hash, Key::UserNameLower, user_name_lower.into()).await
}

/// The column a [`with_token`] read picks its link by.
#[derive(Clone, Copy)]
enum Key {
    Id,
    UserNameLower,
}

/// What a parameter of a [`with_token`] statement binds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Param {
    Token,
    Key,
}

/// The token lookup joined with the directory's link whose `key` column
/// equals `value`, with its values and groups.
fn with_token_query(
    backend: DbBackend,
    token_hash: &str,
    key: Key,
    value: sea_orm::Value,
) -> sea_orm::sea_query::SelectStatement {
    let [values, groups] = nested_of(backend);
    let column = match key {
        Key::Id => scim_user::Column::Id,
        Key::UserNameLower => scim_user::Column::UserNameLower,
    };
    let mut q = token_lookup(token_hash);
    q.join(
        JoinType::LeftJoin,
        scim_user::Entity,
        Condition::all()
            .add(Expr::col((scim_user::Entity, column)).eq(value))
            .add(
                Expr::col((scim_user::Entity, scim_user::Column::DirectoryId))
                    .equals((entity::directory::Entity, entity::directory::Column::Id)),
            ),
    )
    .column((scim_user::Entity, Asterisk))
    .expr_as(Expr::cust(values), "nested_values")
    .expr_as(Expr::cust(groups), "nested_groups");
    q
}

/// The SQL of a [`with_token_query`] and what each of its parameters
/// binds, built once per backend and key: it is the same text on every
/// request, and building it anew cost ~4 % of a GET by id's CPU.
fn with_token_sql(backend: DbBackend, key: Key) -> &'static Prepared<Param> {
    use std::sync::OnceLock;
    static BUILT: [[OnceLock<Prepared<Param>>; 2]; 3] =
        [const { [const { OnceLock::new() }; 2] }; 3];
    let by_key = match key {
        Key::Id => 0,
        Key::UserNameLower => 1,
    };
    BUILT[prepared::slot(backend)][by_key].get_or_init(|| {
        // Distinct markers tell the parameters apart.
        let token = "\u{0}token";
        let marker: sea_orm::Value = match key {
            Key::Id => Uuid::nil().into(),
            Key::UserNameLower => "\u{0}key".into(),
        };
        let built = backend.build(&with_token_query(backend, token, key, marker.clone()));
        Prepared::new(built, &[(token.into(), Param::Token), (marker, Param::Key)])
    })
}

/// The static token `token_hash` with its directory, and the directory's
/// link whose `key` is `value` (one at most) with its values and groups.
async fn with_token<C: ConnectionTrait>(
    db: &C,
    token_hash: &str,
    key: Key,
    value: sea_orm::Value,
) -> DomainResult<Option<(DirectoryPrincipal, Option<StoredUser>)>> {
    let backend = db.get_database_backend();
    let stmt = with_token_sql(backend, key).bind(|p| match p {
        Param::Token => token_hash.into(),
        Param::Key => value.clone(),
    });
    let Some(row) = db.query_one_raw(stmt).await.map_err(db_error)? else {
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

/// A link's multi-valued attributes as one JSON array of rows, and its
/// directory's groups the account is a member of (with the lower-cased
/// name they sort by), as correlated subqueries on the (user, attr,
/// position) and (account, group) indexes. One statement reads a user
/// whole: on SQLite every statement is a round trip to the connection's
/// thread, and that hand-off, not the SQL, is what a read costs. The rows
/// are put in order after reading ([`from_nested_row`]): on SQLite an
/// aggregate's own `ORDER BY` sorts its rows in a temporary b-tree, built
/// and dropped for each user read.
const NESTED_SQLITE: [&str; 2] = [
    r#"(SELECT json_group_array(json_array(v.attr, v.position, v.value, v.display, v."type",
          CASE v."primary" WHEN 1 THEN json('true') WHEN 0 THEN json('false') END,
          v.formatted, v.street_address, v.locality, v.region, v.postal_code, v.country))
        FROM scim_user_values v WHERE v.user_id = "scim_users"."id")"#,
    r#"(SELECT json_group_array(json_array(hex(g.id), g.display_name, g.display_name_lower))
        FROM group_members gm JOIN "groups" g ON g.id = gm.group_id
        WHERE gm.account_id = "scim_users"."account_id" AND g.directory_id = "scim_users"."directory_id")"#,
];
const NESTED_POSTGRES: [&str; 2] = [
    r#"(SELECT COALESCE(json_agg(json_build_array(v.attr, v.position, v.value, v.display, v."type",
          v."primary", v.formatted, v.street_address, v.locality, v.region, v.postal_code, v.country)), '[]')::text
        FROM scim_user_values v WHERE v.user_id = "scim_users"."id")"#,
    r#"(SELECT COALESCE(json_agg(json_build_array(g.id, g.display_name, g.display_name_lower)), '[]')::text
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
    let mut values: Vec<NestedValue> =
        serde_json::from_str(values.as_deref().unwrap_or("[]")).map_err(corrupt)?;
    // Bytewise, as SQLite's BINARY and PostgreSQL's "C" order them.
    values
        .sort_unstable_by(|a, b| (a.attr.as_str(), a.position).cmp(&(b.attr.as_str(), b.position)));
    let mut groups: Vec<(String, String, Option<String>)> =
        serde_json::from_str(groups.as_deref().unwrap_or("[]")).map_err(corrupt)?;
    groups.sort_by(|a, b| a.2.cmp(&b.2));
    let groups = groups
        .into_iter()
        .map(|(id, name, _)| {
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
    let (row, returning) = lock_parts(tx.get_database_backend(), dir.directory_id, id);
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

/// The bump of [`lock`] and what it returns: the link with its values and
/// groups, as `get` reads it, one statement under the write lock.
fn lock_parts(
    backend: DbBackend,
    directory_id: Uuid,
    id: Uuid,
) -> (sea_orm::UpdateMany<scim_user::Entity>, Vec<Expr>) {
    let row = scim_user::Entity::update_many()
        .filter(scim_user::Column::Id.eq(id))
        .filter(scim_user::Column::DirectoryId.eq(directory_id));
    let [values, groups] = nested_of(backend);
    let returning = vec![
        Expr::cust("*"),
        Expr::cust(format!("{values} AS nested_values")),
        Expr::cust(format!("{groups} AS nested_groups")),
    ];
    (row, returning)
}

/// [`lock`], and the account of the locked link as [`linked_account`]
/// reads it. On SQLite both go in one round trip: the account's read is
/// sent right behind the bump, which it follows (it finds the account
/// through the link the bump just locked). Elsewhere one after the other.
///
/// [`linked_account`]: super::linked_account
pub async fn lock_linked<C: ConnectionTrait>(
    tx: &C,
    dir: &DirectoryPrincipal,
    id: Uuid,
    if_match: Option<&IfMatch>,
) -> DomainResult<(StoredUser, LinkedAccount)> {
    let backend = tx.get_database_backend();
    if backend != DbBackend::Sqlite {
        let user = lock(tx, dir, id, if_match).await?;
        let linked = super::linked_account(tx, user.link.account_id).await?;
        return Ok((user, linked));
    }
    let both = match if_match {
        None | Some(IfMatch::Any) => lock_linked_sql().bind(|p| match p {
            LockParam::Id => id.into(),
            LockParam::Directory => dir.directory_id.into(),
        }),
        Some(IfMatch::Versions(_)) => lock_linked_statement(dir.directory_id, id, if_match),
    };
    let (mut user, mut linked) = (None, None);
    for row in tx.query_all_raw(both).await.map_err(db_error)? {
        // The account's row is the one with `has_memberships` (an
        // `Option` would read a missing column as NULL).
        if row.try_get::<i32>("", "has_memberships").is_ok() {
            linked = Some(linked_account_from(&row)?);
        } else {
            user = Some(from_nested_row(&row)?);
        }
    }
    let Some(user) = user else {
        // Nothing locked: 412 if the link is there, else 404.
        versioned::missed::<()>(if_match, async || {
            Ok(get(tx, dir, id).await?.map(|u| u.link.version))
        })
        .await?;
        return Err(not_found(&id.to_string()));
    };
    let linked = linked.ok_or_else(|| {
        DomainError::internal(format!(
            "account {} of a link is missing",
            user.link.account_id
        ))
    })?;
    Ok((user, linked))
}

/// [`lock_linked`]'s one round trip on SQLite: the bump of [`lock`], then
/// the account of the link it locked, held together as one query.
fn lock_linked_statement(directory_id: Uuid, id: Uuid, if_match: Option<&IfMatch>) -> Statement {
    let backend = DbBackend::Sqlite;
    let (row, returning) = lock_parts(backend, directory_id, id);
    let bump = versioned::bump(row, scim_user::Column::Version, if_match, returning);
    let link_account = Query::select()
        .column(scim_user::Column::AccountId)
        .from(scim_user::Entity)
        .and_where(scim_user::Column::Id.eq(id))
        .and_where(scim_user::Column::DirectoryId.eq(directory_id))
        .to_owned();
    let account = linked_account_query(Expr::SubQuery(None, Box::new(link_account.into())));
    let mut both = carry::Held::default();
    both.push(backend.build(&bump));
    both.push(backend.build(&account));
    both.take()
        .unwrap_or_else(|| unreachable!("two statements held"))
}

/// What a parameter of [`lock_linked_sql`] binds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum LockParam {
    Id,
    Directory,
}

/// The SQL of [`lock_linked_statement`] without an `If-Match` version
/// (the usual write), built once: it is the same text on every write,
/// built in the write's turn on the writer.
fn lock_linked_sql() -> &'static Prepared<LockParam> {
    use std::sync::OnceLock;
    static BUILT: OnceLock<Prepared<LockParam>> = OnceLock::new();
    BUILT.get_or_init(|| {
        // Distinct markers tell the parameters apart.
        let (id, dir) = (Uuid::nil(), Uuid::max());
        Prepared::new(
            lock_linked_statement(dir, id, None),
            &[
                (id.into(), LockParam::Id),
                (dir.into(), LockParam::Directory),
            ],
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SQL built once, with the request's values bound, is the
    /// statement built for that request.
    #[test]
    fn the_token_read_built_once_binds_as_built_anew() {
        let id = Uuid::new_v4();
        for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
            for (key, value) in [
                (Key::Id, sea_orm::Value::from(id)),
                (Key::UserNameLower, "ada@acme.example".into()),
            ] {
                let built = with_token_sql(backend, key);
                assert_eq!((built.binds(Param::Token), built.binds(Param::Key)), (1, 1));
                let bound = built.bind(|p| match p {
                    Param::Token => "hash".into(),
                    Param::Key => value.clone(),
                });
                let fresh = backend.build(&with_token_query(backend, "hash", key, value));
                assert_eq!(bound.sql, fresh.sql);
                let fresh = fresh.values.unwrap().0;
                assert_eq!(fresh.len(), 2, "the token and the key, nothing else");
                assert_eq!(bound.values.unwrap().0, fresh);
            }
        }
    }

    /// The lock of a write built once, with the write's link and
    /// directory bound, is the statement built anew for them; with an
    /// `If-Match` of `*` too (it accepts any version, as none does).
    #[test]
    fn the_write_lock_built_once_binds_as_built_anew() {
        let (id, dir) = (Uuid::new_v4(), Uuid::new_v4());
        let built = lock_linked_sql();
        assert_eq!(built.binds(LockParam::Id), 2);
        assert_eq!(built.binds(LockParam::Directory), 2);
        let bound = built.bind(|p| match p {
            LockParam::Id => id.into(),
            LockParam::Directory => dir.into(),
        });
        for if_match in [None, Some(&IfMatch::Any)] {
            let fresh = lock_linked_statement(dir, id, if_match);
            assert_eq!(bound.sql, fresh.sql);
            assert_eq!(bound.values, fresh.values);
        }
    }

    /// The `OpenEphemeral` instructions of `sql`'s program on SQLite (each
    /// a temporary b-tree, with a page cache of its own, built per run).
    async fn temporary_tables(db: &sea_orm::DatabaseConnection, sql: &str) -> usize {
        use sea_orm::ConnectionTrait;
        let program = db
            .query_all_raw(sea_orm::Statement::from_string(
                DbBackend::Sqlite,
                format!("EXPLAIN {sql}"),
            ))
            .await
            .unwrap();
        program
            .iter()
            .filter(|r| r.try_get::<String>("", "opcode").unwrap() == "OpenEphemeral")
            .count()
    }

    /// A user's values and groups are nested into its row by aggregates;
    /// an aggregate's own `ORDER BY` made SQLite sort each one's rows in a
    /// temporary b-tree, two a user read (a page of 100 users, 200). They
    /// are ordered after reading instead ([`from_nested_row`]). The lock of
    /// a write keeps the one temporary table of its `RETURNING` (SQLite
    /// gathers the returned rows so).
    #[tokio::test]
    async fn reading_a_user_builds_no_temporary_table() {
        use migration::MigratorTrait;
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        migration::Migrator::up(&db, None).await.unwrap();
        let read = DbBackend::Sqlite.build(&with_token_query(
            DbBackend::Sqlite,
            "hash",
            Key::Id,
            Uuid::new_v4().into(),
        ));
        assert_eq!(temporary_tables(&db, &read.sql).await, 0, "{}", read.sql);
        let lock = lock_linked_sql().bind(|p| match p {
            LockParam::Id => Uuid::new_v4().into(),
            LockParam::Directory => Uuid::new_v4().into(),
        });
        // The bump and, behind it, the account's read.
        let bump = lock.sql.split(';').next().unwrap();
        assert_eq!(temporary_tables(&db, bump).await, 1, "{bump}");
    }
}
