//! `GET /Users`: a filtered, sorted page of links, its users read in
//! bounded chunks ([`PageReader`]).

use entity::{group, group_member, scim_user, scim_user_value};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::StoredUser;
use super::read::{NestedValue, build_nested, load};
use crate::domain::custom_schema::CustomSchema;
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::filter::AttrPath;
use crate::domain::query::ListQuery;
use crate::domain::schema::AttrType;
use crate::store::directories::DirectoryPrincipal;
use crate::store::filter_sql::{
    Column, custom_sort, names_custom, user_column_with, users_condition_with,
};
use crate::store::paging::{Sort, in_order, page_ids};
use crate::store::{db_error, org_schemas};

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
        org_schemas::user_extensions(db, dir.org_id).await?
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
