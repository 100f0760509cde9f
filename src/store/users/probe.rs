//! The batched create path of `/Bulk` and import: which emails and
//! userNames are taken (one query each), and the plain creates
//! `service::users::CreateProbe` accepted, written with multi-row inserts.

use chrono::Utc;
use entity::{account, scim_user};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect, Statement,
};
use uuid::Uuid;

use super::provision::account_created;
use super::rows::{new_account, new_link, value_rows};
use crate::domain::error::DomainResult;
use crate::domain::types::Email;
use crate::domain::user::UserInput;
use crate::store::directories::DirectoryPrincipal;
use crate::store::events::{self, Recorder};
use crate::store::sync_log::{self, SyncEntry};
use crate::store::unnest::array_literal;
use crate::store::{ROWS_PER_INSERT, db_error, insert_chunks};

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
