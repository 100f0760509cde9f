//! SCIM Groups: synced groups of a directory, their members, and the
//! product access (hence site membership) a group grants. Every membership
//! change is set-based SQL over the named members only: a group with a
//! million members is never loaded to change one.

use std::collections::HashSet;

use chrono::Utc;
use entity::site_membership::MembershipStatus;
use entity::{group, group_grant, group_member, product_access, scim_user, site, site_membership};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Set,
};
use serde_json::json;
use uuid::Uuid;

use super::directories::DirectoryPrincipal;
use super::events::{self, EventType, NewEvent, Recorder};
use super::filter_sql::{
    Column, custom_sort, group_column_with, groups_condition_with, names_custom,
};
use super::org_schemas;
use super::paging::{Sort, in_order, page_ids};
use super::versioned;
use super::{db_error, is_unique_violation};
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::etag::IfMatch;
use crate::domain::group::{GroupInput, MemberView, not_a_member};
use crate::domain::query::ListQuery;
use crate::domain::schema::AttrType;
use crate::domain::types::ResourceId;
use entity::product_access::ProductRole;

/// Bind parameters per `IN (...)` list, well under SQLite's limit.
const CHUNK: usize = 500;

fn not_found(id: &str) -> DomainError {
    DomainError::not_found(format!("no Group with id {id:?}"))
}

fn name_taken(name: &str) -> DomainError {
    DomainError::taken(format!(
        "a group named {name:?} already exists in this organization"
    ))
}

/// A synced group as the SCIM API shows it (read model); its members
/// are read apart, a page at a time.
#[derive(Debug, Clone)]
pub struct ScimGroup {
    pub id: Uuid,
    pub display_name: String,
    pub external_id: Option<String>,
    pub version: i64,
    pub created_at: chrono::DateTime<Utc>,
    pub last_modified: chrono::DateTime<Utc>,
}

impl From<group::Model> for ScimGroup {
    fn from(g: group::Model) -> Self {
        Self {
            id: g.id,
            display_name: g.display_name,
            external_id: g.external_id,
            version: g.version,
            created_at: g.created_at,
            last_modified: g.last_modified,
        }
    }
}

/// The directory's group `id`, as the SCIM API shows it.
pub async fn get<C: ConnectionTrait>(
    db: &C,
    dir: &DirectoryPrincipal,
    id: Uuid,
) -> DomainResult<Option<ScimGroup>> {
    Ok(model(db, dir, id).await?.map(ScimGroup::from))
}

async fn model<C: ConnectionTrait>(
    db: &C,
    dir: &DirectoryPrincipal,
    id: Uuid,
) -> DomainResult<Option<group::Model>> {
    group::Entity::find_by_id(id)
        .filter(group::Column::DirectoryId.eq(dir.directory_id))
        .one(db)
        .await
        .map_err(db_error)
}

pub async fn ensure_name_free<C: ConnectionTrait>(
    db: &C,
    dir: &DirectoryPrincipal,
    name: &str,
    except: Option<Uuid>,
) -> DomainResult<()> {
    let mut q = group::Entity::find()
        .filter(group::Column::OrgId.eq(dir.org_id))
        .filter(group::Column::DisplayNameLower.eq(name.to_lowercase()));
    if let Some(id) = except {
        q = q.filter(group::Column::Id.ne(id));
    }
    if q.count(db).await.map_err(db_error)? > 0 {
        return Err(name_taken(name));
    }
    Ok(())
}

/// SCIM user ids → account ids, all of them Users of this directory;
/// otherwise 400 naming the first that is not.
pub async fn resolve_members<C: ConnectionTrait>(
    db: &C,
    dir: &DirectoryPrincipal,
    ids: &[ResourceId],
) -> DomainResult<Vec<Uuid>> {
    let parsed: Vec<Uuid> = ids.iter().map(|i| i.uuid()).collect();
    let mut accounts = Vec::with_capacity(parsed.len());
    for chunk in parsed.chunks(CHUNK) {
        let found: Vec<(Uuid, Uuid)> = scim_user::Entity::find()
            .select_only()
            .column(scim_user::Column::Id)
            .column(scim_user::Column::AccountId)
            .filter(scim_user::Column::DirectoryId.eq(dir.directory_id))
            .filter(scim_user::Column::Id.is_in(chunk.to_vec()))
            .into_tuple()
            .all(db)
            .await
            .map_err(db_error)?;
        if found.len() != chunk.len() {
            let known: HashSet<Uuid> = found.iter().map(|(id, _)| *id).collect();
            if let Some(missing) = chunk.iter().find(|id| !known.contains(id)) {
                return Err(not_a_member(&missing.to_string()).into());
            }
        }
        accounts.extend(found.into_iter().map(|(_, a)| a));
    }
    Ok(accounts)
}

/// The sites a group grants access on.
async fn granted_sites<C: ConnectionTrait>(db: &C, group_id: Uuid) -> DomainResult<Vec<Uuid>> {
    group_grant::Entity::find()
        .select_only()
        .column(group_grant::Column::SiteId)
        .distinct()
        .filter(group_grant::Column::GroupId.eq(group_id))
        .into_tuple()
        .all(db)
        .await
        .map_err(db_error)
}

/// Access starts: a site membership (active) on each granted site, unless
/// the account already has one (whatever its status).
async fn start_access<C: ConnectionTrait>(
    db: &C,
    sites: &[Uuid],
    accounts: &[Uuid],
) -> DomainResult<Vec<(Uuid, Uuid)>> {
    let mut started = Vec::new();
    if sites.is_empty() || accounts.is_empty() {
        return Ok(started);
    }
    let now = Utc::now();
    for chunk in accounts.chunks(CHUNK / sites.len().max(1) + 1) {
        let rows = chunk.iter().flat_map(|a| {
            sites.iter().map(move |s| site_membership::ActiveModel {
                site_id: Set(*s),
                account_id: Set(*a),
                status: Set(MembershipStatus::Active),
                suspended_by: Set(None),
                invited_directly: Set(false),
                last_active_at: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            })
        });
        let stmt = site_membership::Entity::insert_many(rows)
            .on_conflict_do_nothing_on([
                site_membership::Column::SiteId,
                site_membership::Column::AccountId,
            ])
            .into_query()
            .returning(Query::returning().columns([
                site_membership::Column::SiteId,
                site_membership::Column::AccountId,
            ]))
            .to_owned();
        for r in db.query_all(&stmt).await.map_err(db_error)? {
            started.push((
                r.try_get_by_index(0).map_err(db_error)?,
                r.try_get_by_index(1).map_err(db_error)?,
            ));
        }
    }
    Ok(started)
}

/// `EXISTS` a group path to `site_memberships.site_id` for its account,
/// through any group but `except`.
fn group_path_exists(except: Option<Uuid>) -> SimpleExpr {
    let gm = Alias::new("gm");
    let mut q = Query::select();
    q.expr(Expr::val(1))
        .from_as(group_member::Entity, gm.clone())
        .inner_join(
            group_grant::Entity,
            Expr::col((group_grant::Entity, group_grant::Column::GroupId))
                .equals((gm.clone(), group_member::Column::GroupId)),
        )
        .and_where(
            Expr::col((gm.clone(), group_member::Column::AccountId))
                .equals((site_membership::Entity, site_membership::Column::AccountId)),
        )
        .and_where(
            Expr::col((group_grant::Entity, group_grant::Column::SiteId))
                .equals((site_membership::Entity, site_membership::Column::SiteId)),
        );
    if let Some(g) = except {
        q.and_where(Expr::col((gm, group_member::Column::GroupId)).ne(g));
    }
    Expr::exists(q.to_owned())
}

fn direct_access_exists() -> SimpleExpr {
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(product_access::Entity)
            .and_where(
                Expr::col((product_access::Entity, product_access::Column::AccountId))
                    .equals((site_membership::Entity, site_membership::Column::AccountId)),
            )
            .and_where(
                Expr::col((product_access::Entity, product_access::Column::SiteId))
                    .equals((site_membership::Entity, site_membership::Column::SiteId)),
            )
            .to_owned(),
    )
}

/// Access ends where the last path to a site is gone: the membership goes
/// unless the account was invited directly or has direct product access.
/// `accounts` selects whose memberships to look at.
async fn end_access<C: ConnectionTrait>(
    db: &C,
    sites: &[Uuid],
    accounts: SimpleExpr,
    except_group: Option<Uuid>,
) -> DomainResult<Vec<site_membership::Model>> {
    if sites.is_empty() {
        return Ok(vec![]);
    }
    site_membership::Entity::delete_many()
        .filter(site_membership::Column::SiteId.is_in(sites.to_vec()))
        .filter(site_membership::Column::InvitedDirectly.eq(false))
        .filter(accounts)
        .filter(group_path_exists(except_group).not())
        .filter(direct_access_exists().not())
        .exec_with_returning(db)
        .await
        .map_err(db_error)
}

pub(crate) async fn add_members<C: Recorder>(
    db: &C,
    group_id: Uuid,
    accounts: &[Uuid],
) -> DomainResult<()> {
    let now = Utc::now();
    let mut added = Vec::new();
    for chunk in accounts.chunks(CHUNK) {
        let rows = chunk.iter().map(|a| group_member::ActiveModel {
            group_id: Set(group_id),
            account_id: Set(*a),
            created_at: Set(now),
        });
        let stmt = group_member::Entity::insert_many(rows)
            .on_conflict_do_nothing_on([
                group_member::Column::GroupId,
                group_member::Column::AccountId,
            ])
            .into_query()
            .returning_col(group_member::Column::AccountId)
            .to_owned();
        for r in db.query_all(&stmt).await.map_err(db_error)? {
            added.push(r.try_get_by_index::<Uuid>(0).map_err(db_error)?);
        }
    }
    let sites = granted_sites(db, group_id).await?;
    let started = start_access(db, &sites, accounts).await?;
    member_events(db, group_id, &added, &started, true).await
}

/// The events of members joining (`joined`) or leaving a group: one
/// `group.member_*` each, `product_access.granted|revoked` (via the group)
/// for each of the group's grants, and `site_membership.activated|removed`
/// for each membership the change started or ended (`memberships`:
/// (site, account)). Multi-row inserts.
async fn member_events<C: Recorder>(
    db: &C,
    group_id: Uuid,
    members: &[Uuid],
    memberships: &[(Uuid, Uuid)],
    joined: bool,
) -> DomainResult<()> {
    if members.is_empty() && memberships.is_empty() {
        return Ok(());
    }
    let Some(scope) = group_scope(db, group_id).await? else {
        return Ok(());
    };
    let grants: Vec<Grant> = group_grant::Entity::find()
        .select_only()
        .column(group_grant::Column::SiteId)
        .column(group_grant::Column::Product)
        .column(group_grant::Column::Role)
        .filter(group_grant::Column::GroupId.eq(group_id))
        .into_tuple()
        .all(db)
        .await
        .map_err(db_error)?;
    let list = access_events(
        scope,
        group_id,
        true,
        &grants,
        members,
        memberships,
        joined,
        &json!({}),
    );
    events::record_many(db, list).await
}

/// (site, product, role) of a group's grant.
type Grant = (Uuid, String, ProductRole);

/// A group's organization and directory (whose its events are).
async fn group_scope<C: ConnectionTrait>(
    db: &C,
    group_id: Uuid,
) -> DomainResult<Option<(Uuid, Option<Uuid>)>> {
    group::Entity::find_by_id(group_id)
        .select_only()
        .column(group::Column::OrgId)
        .column(group::Column::DirectoryId)
        .into_tuple()
        .one(db)
        .await
        .map_err(db_error)
}

/// The per-member events of a group change, in order: for each member
/// its `group.member_*` (when `member_event`) and one
/// `product_access.granted|revoked` (`via: group`) per grant, then
/// `site_membership.activated|removed` for each membership started or
/// ended. `extra` is merged into the access events' data.
#[allow(clippy::too_many_arguments)]
fn access_events(
    (org_id, directory_id): (Uuid, Option<Uuid>),
    group_id: Uuid,
    member_event: bool,
    grants: &[Grant],
    members: &[Uuid],
    memberships: &[(Uuid, Uuid)],
    joined: bool,
    extra: &serde_json::Value,
) -> Vec<NewEvent> {
    let (member_kind, access_kind, site_kind) = if joined {
        (
            EventType::GroupMemberAdded,
            EventType::ProductAccessGranted,
            EventType::MembershipActivated,
        )
    } else {
        (
            EventType::GroupMemberRemoved,
            EventType::ProductAccessRevoked,
            EventType::MembershipRemoved,
        )
    };
    let event = |kind, data| {
        let e = NewEvent::new(org_id, kind, data);
        match directory_id {
            Some(d) => e.directory(d),
            None => e,
        }
    };
    let per_member = usize::from(member_event) + grants.len();
    let mut list = Vec::with_capacity(members.len() * per_member + memberships.len());
    for a in members {
        if member_event {
            list.push(event(
                member_kind,
                json!({"group_id": group_id, "account_id": a}),
            ));
        }
        for (site, product, role) in grants {
            let mut data =
                json!({"product": product, "role": role, "via": "group", "group_id": group_id});
            if let (Some(d), Some(x)) = (data.as_object_mut(), extra.as_object()) {
                d.extend(x.clone());
            }
            list.push(event(access_kind, events::site_data(*site, *a, data)));
        }
    }
    for (site, a) in memberships {
        let data = json!({"via": "group", "group_id": group_id});
        list.push(event(site_kind, events::site_data(*site, *a, data)));
    }
    list
}

/// One page of a group's members (account ids in order, after `after`).
async fn member_ids<C: ConnectionTrait>(
    db: &C,
    group_id: Uuid,
    after: Option<Uuid>,
) -> DomainResult<Vec<Uuid>> {
    let mut q = group_member::Entity::find()
        .select_only()
        .column(group_member::Column::AccountId)
        .filter(group_member::Column::GroupId.eq(group_id))
        .order_by_asc(group_member::Column::AccountId)
        .limit(MEMBER_PAGE);
    if let Some(a) = after {
        q = q.filter(group_member::Column::AccountId.gt(a));
    }
    q.into_tuple().all(db).await.map_err(db_error)
}

/// Members walked at a time by whole-group changes.
const MEMBER_PAGE: u64 = 1000;

pub(crate) async fn remove_members<C: Recorder>(
    db: &C,
    group_id: Uuid,
    accounts: &[Uuid],
) -> DomainResult<()> {
    let sites = granted_sites(db, group_id).await?;
    for chunk in accounts.chunks(CHUNK) {
        let removed: Vec<Uuid> = group_member::Entity::delete_many()
            .filter(group_member::Column::GroupId.eq(group_id))
            .filter(group_member::Column::AccountId.is_in(chunk.to_vec()))
            .exec_with_returning(db)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(|m| m.account_id)
            .collect();
        let these = Expr::col((site_membership::Entity, site_membership::Column::AccountId))
            .is_in(chunk.to_vec());
        let ended: Vec<(Uuid, Uuid)> = end_access(db, &sites, these, None)
            .await?
            .into_iter()
            .map(|m| (m.site_id, m.account_id))
            .collect();
        member_events(db, group_id, &removed, &ended, false).await?;
    }
    Ok(())
}

/// Every member leaves, page by page (1,000 members a page), each with
/// its events (a `PATCH` that removes all members, `DELETE /Groups`).
pub async fn remove_all_members_paged<C: Recorder>(db: &C, group_id: Uuid) -> DomainResult<()> {
    loop {
        let page = member_ids(db, group_id, None).await?;
        if page.is_empty() {
            return Ok(());
        }
        remove_members(db, group_id, &page).await?;
    }
}

/// Members become exactly `accounts`: current members are walked in pages
/// (keyset on the primary key) and those not listed removed page by page.
pub async fn replace_members<C: Recorder>(
    db: &C,
    group_id: Uuid,
    accounts: &[Uuid],
) -> DomainResult<()> {
    if accounts.is_empty() {
        return remove_all_members_paged(db, group_id).await;
    }
    let keep: HashSet<Uuid> = accounts.iter().copied().collect();
    let mut after: Option<Uuid> = None;
    loop {
        let page = member_ids(db, group_id, after).await?;
        let Some(last) = page.last().copied() else {
            break;
        };
        after = Some(last);
        let gone: Vec<Uuid> = page.into_iter().filter(|a| !keep.contains(a)).collect();
        remove_members(db, group_id, &gone).await?;
    }
    add_members(db, group_id, accounts).await
}

/// Inserts a new group of the directory (version 1).
pub async fn insert<C: ConnectionTrait>(
    tx: &C,
    dir: &DirectoryPrincipal,
    input: &GroupInput,
) -> DomainResult<group::Model> {
    let now = Utc::now();
    group::ActiveModel {
        id: Set(Uuid::now_v7()),
        org_id: Set(dir.org_id),
        directory_id: Set(Some(dir.directory_id)),
        display_name: Set(input.display_name.clone()),
        display_name_lower: Set(input.display_name.to_lowercase()),
        external_id: Set(input.external_id.clone()),
        description: Set(None),
        version: Set(1),
        created_at: Set(now),
        last_modified: Set(now),
    }
    .insert(tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            name_taken(&input.display_name)
        } else {
            db_error(e)
        }
    })
}

/// `group.*` of the group itself.
pub(crate) fn group_event(g: &group::Model, kind: EventType) -> NewEvent {
    let data = json!({
        "group_id": g.id,
        "display_name": g.display_name,
        "external_id": g.external_id,
    });
    let e = NewEvent::new(g.org_id, kind, data);
    match g.directory_id {
        Some(d) => e.directory(d),
        None => e,
    }
}

/// Locks the group row for the transaction (version bump first) and loads
/// it: the bump returns the row, one statement.
pub async fn lock<C: ConnectionTrait>(
    tx: &C,
    dir: &DirectoryPrincipal,
    id: Uuid,
    if_match: Option<&IfMatch>,
) -> DomainResult<group::Model> {
    let row = group::Entity::update_many()
        .col_expr(group::Column::LastModified, Expr::value(Utc::now()))
        .filter(group::Column::Id.eq(id))
        .filter(group::Column::DirectoryId.eq(dir.directory_id));
    versioned::lock(
        tx,
        row,
        group::Column::Version,
        if_match,
        vec![Expr::cust("*")],
        |r| group::Model::from_query_result(r, "").map_err(db_error),
        async || Ok(model(tx, dir, id).await?.map(|g| g.version)),
    )
    .await?
    .ok_or_else(|| not_found(&id.to_string()))
}

/// Writes a group's name and externalId.
pub async fn update<C: ConnectionTrait>(
    tx: &C,
    g: group::Model,
    name: String,
    external_id: Option<String>,
) -> DomainResult<group::Model> {
    let mut m: group::ActiveModel = g.into();
    m.display_name_lower = Set(name.to_lowercase());
    m.display_name = Set(name.clone());
    m.external_id = Set(external_id);
    m.update(tx).await.map_err(|e| {
        if is_unique_violation(&e) {
            name_taken(&name)
        } else {
            db_error(e)
        }
    })
}

/// Like `resolve_members`, but ids that are not Users here are skipped.
pub async fn known_members<C: ConnectionTrait>(
    db: &C,
    dir: &DirectoryPrincipal,
    ids: &[ResourceId],
) -> DomainResult<Vec<Uuid>> {
    let parsed: Vec<Uuid> = ids.iter().map(|i| i.uuid()).collect();
    let mut accounts = Vec::with_capacity(parsed.len());
    for chunk in parsed.chunks(CHUNK) {
        let found: Vec<Uuid> = scim_user::Entity::find()
            .select_only()
            .column(scim_user::Column::AccountId)
            .filter(scim_user::Column::DirectoryId.eq(dir.directory_id))
            .filter(scim_user::Column::Id.is_in(chunk.to_vec()))
            .into_tuple()
            .all(db)
            .await
            .map_err(db_error)?;
        accounts.extend(found);
    }
    Ok(accounts)
}

/// Removes a group and its grants (its members are gone already).
pub async fn remove<C: ConnectionTrait>(tx: &C, id: Uuid) -> DomainResult<()> {
    group_grant::Entity::delete_many()
        .filter(group_grant::Column::GroupId.eq(id))
        .exec(tx)
        .await
        .map_err(db_error)?;
    group::Entity::delete_by_id(id)
        .exec(tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// A page of members in account-id order, after `after` (keyset paging:
/// the cost of a page does not depend on its depth).
pub async fn member_page<C: ConnectionTrait>(
    db: &C,
    directory_id: Uuid,
    group_id: Uuid,
    after: Option<Uuid>,
    limit: u64,
) -> DomainResult<Vec<(Uuid, MemberView)>> {
    let mut q = group_member::Entity::find()
        .select_only()
        .column(group_member::Column::AccountId)
        .column_as(
            Expr::col((scim_user::Entity, scim_user::Column::Id)),
            "scim_id",
        )
        .column_as(
            Expr::col((scim_user::Entity, scim_user::Column::DisplayName)),
            "display_name",
        )
        .column_as(
            Expr::col((scim_user::Entity, scim_user::Column::UserName)),
            "user_name",
        )
        .join(
            sea_orm::JoinType::InnerJoin,
            group_member::Entity::belongs_to(scim_user::Entity)
                .from(group_member::Column::AccountId)
                .to(scim_user::Column::AccountId)
                .on_condition(move |_left, right| {
                    Condition::all()
                        .add(Expr::col((right, scim_user::Column::DirectoryId)).eq(directory_id))
                })
                .into(),
        )
        .filter(group_member::Column::GroupId.eq(group_id))
        .order_by_asc(group_member::Column::AccountId)
        .limit(limit);
    if let Some(a) = after {
        q = q.filter(group_member::Column::AccountId.gt(a));
    }
    let rows: Vec<(Uuid, Uuid, Option<String>, String)> =
        q.into_tuple().all(db).await.map_err(db_error)?;
    Ok(rows
        .into_iter()
        .map(|(account, id, display, user_name)| {
            (
                account,
                MemberView {
                    id: id.to_string(),
                    display: Some(display.unwrap_or(user_name)),
                },
            )
        })
        .collect())
}

/// Where a streamed group body reads its members from.
pub enum MemberReader {
    /// Any state at least as new as the group's head (after a write).
    Pool(DatabaseConnection),
    /// The read transaction the group's head was read in: the members are
    /// those of the same state, whatever commits meanwhile.
    Snapshot(DatabaseTransaction),
}

impl MemberReader {
    /// [`member_page`] from this reader.
    pub async fn page(
        &self,
        directory_id: Uuid,
        group_id: Uuid,
        after: Option<Uuid>,
        limit: u64,
    ) -> DomainResult<Vec<(Uuid, MemberView)>> {
        match self {
            Self::Pool(db) => member_page(db, directory_id, group_id, after, limit).await,
            Self::Snapshot(tx) => member_page(tx, directory_id, group_id, after, limit).await,
        }
    }

    /// The custom extension values of `groups` (one query; the schemas
    /// only when some group has values).
    pub async fn custom(
        &self,
        org_id: Uuid,
        groups: &[Uuid],
    ) -> DomainResult<org_schemas::GroupCustom> {
        match self {
            Self::Pool(db) => org_schemas::GroupCustom::load(db, org_id, groups).await,
            Self::Snapshot(tx) => org_schemas::GroupCustom::load(tx, org_id, groups).await,
        }
    }

    /// Ends the read transaction, if any.
    pub async fn finish(self) {
        if let Self::Snapshot(tx) = self {
            let _ = tx.commit().await;
        }
    }
}

/// A page of Groups.
pub struct GroupPage {
    pub total: Option<u64>,
    pub groups: Vec<ScimGroup>,
    pub next_cursor: Option<String>,
    /// Cursor pages: the cursor resuming after each group (a page cut
    /// short by its byte budget continues from there).
    pub cursors: Vec<String>,
}

/// `GET /Groups`: filtered, ordered and paged in SQL.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    dir: &DirectoryPrincipal,
    q: &ListQuery,
) -> DomainResult<GroupPage> {
    let mut cond = Condition::all()
        .add(Expr::col((group::Entity, group::Column::DirectoryId)).eq(dir.directory_id));
    let custom = if names_custom(q.filter.as_ref(), q.sort_by.as_ref()) {
        org_schemas::group_extensions(db, dir.org_id).await?
    } else {
        vec![]
    };
    if let Some(f) = &q.filter {
        cond = cond.add(groups_condition_with(f, dir.directory_id, &custom)?);
    }
    let sort = match &q.sort_by {
        None => None,
        Some(path) => match group_column_with(path, dir.directory_id, &custom)
            .map_err(|e| DomainError::invalid(e.detail()))?
        {
            col @ Column::Custom { .. } => match custom_sort(&col) {
                Some((expr, text)) => Some(Sort { expr, text }),
                None => {
                    return Err(DomainError::invalid(format!(
                        "sortBy {path}: only singular attributes can be sorted on"
                    )));
                }
            },
            Column::Plain { expr, ty, .. } => Some(Sort {
                expr,
                text: matches!(ty, AttrType::String | AttrType::Reference),
            }),
            Column::Id(expr) => Some(Sort { expr, text: false }),
            _ => {
                return Err(DomainError::invalid(format!(
                    "sortBy {path}: only singular attributes can be sorted on"
                )));
            }
        },
    };
    let page = page_ids(
        db,
        group::Entity,
        (group::Entity, group::Column::Id),
        cond,
        sort,
        q,
    )
    .await?;
    let groups = if page.ids.is_empty() {
        vec![]
    } else {
        group::Entity::find()
            .filter(group::Column::Id.is_in(page.ids.clone()))
            .all(db)
            .await
            .map_err(db_error)?
    };
    Ok(GroupPage {
        total: page.total,
        groups: in_order(&page.ids, groups, |g| g.id)
            .into_iter()
            .map(ScimGroup::from)
            .collect(),
        next_cursor: page.next_cursor,
        cursors: page.cursors,
    })
}

/// A group's grant (a product, with a role, on a site) as the admin API
/// and the CLI show it (read model).
#[derive(Debug, Clone)]
pub struct GrantView {
    pub id: Uuid,
    pub group_id: Uuid,
    pub site_id: Uuid,
    pub product: String,
    pub role: ProductRole,
}

impl From<group_grant::Model> for GrantView {
    fn from(g: group_grant::Model) -> Self {
        Self {
            id: g.id,
            group_id: g.group_id,
            site_id: g.site_id,
            product: g.product,
            role: g.role,
        }
    }
}

/// Grants product access on a site to a group's members (operator CLI; the
/// admin API later). Current members get site membership at once.
pub async fn grant<C: Recorder>(
    tx: &C,
    group_id: Uuid,
    site_name: &str,
    product: &str,
    role: ProductRole,
) -> DomainResult<GrantView> {
    let g = group::Entity::find_by_id(group_id)
        .one(tx)
        .await
        .map_err(db_error)?
        .ok_or_else(|| not_found(&group_id.to_string()))?;
    let s = site::Entity::find()
        .filter(site::Column::Name.eq(site_name))
        .filter(site::Column::OrgId.eq(g.org_id))
        .one(tx)
        .await
        .map_err(db_error)?
        .ok_or_else(|| {
            DomainError::not_found(format!(
                "the group's organization has no site {site_name:?}"
            ))
        })?;
    let existing = group_grant::Entity::find()
        .filter(group_grant::Column::GroupId.eq(g.id))
        .filter(group_grant::Column::SiteId.eq(s.id))
        .filter(group_grant::Column::Product.eq(product))
        .one(tx)
        .await
        .map_err(db_error)?;
    let previous_role = existing.as_ref().map(|e| e.role);
    let model = match existing {
        Some(e) => {
            let mut m: group_grant::ActiveModel = e.into();
            m.role = Set(role);
            m.update(tx).await.map_err(db_error)?
        }
        None => group_grant::ActiveModel {
            id: Set(Uuid::now_v7()),
            group_id: Set(g.id),
            site_id: Set(s.id),
            product: Set(product.to_owned()),
            role: Set(role),
            created_at: Set(Utc::now()),
        }
        .insert(tx)
        .await
        .map_err(db_error)?,
    };
    if previous_role == Some(role) {
        // The same grant again: nothing changes for anyone.
        return Ok(model.into());
    }
    // Each member, a page at a time: site membership where it starts and
    // the events (one multi-row insert each), never one round trip a member.
    let extra = match &previous_role {
        Some(r) => json!({"previous_role": r}),
        None => json!({}),
    };
    let grants = [(s.id, product.to_owned(), role)];
    let mut after = None;
    loop {
        let page = member_ids(tx, g.id, after).await?;
        let Some(last) = page.last().copied() else {
            break;
        };
        after = Some(last);
        let started = start_access(tx, &[s.id], &page).await?;
        let list = access_events(
            (g.org_id, g.directory_id),
            g.id,
            false,
            &grants,
            &page,
            &started,
            true,
            &extra,
        );
        events::record_many(tx, list).await?;
    }
    Ok(model.into())
}

/// Removes a group's grant (admin API, operator CLI): each member loses the
/// product it gave (`product_access.revoked`, via the group), and the site
/// membership where that was its last path to the site, a page of members
/// at a time.
pub async fn ungrant<C: Recorder>(
    tx: &C,
    group_id: Uuid,
    grant_id: Uuid,
) -> DomainResult<GrantView> {
    let removed = group_grant::Entity::delete_many()
        .filter(group_grant::Column::Id.eq(grant_id))
        .filter(group_grant::Column::GroupId.eq(group_id))
        .exec_with_returning(tx)
        .await
        .map_err(db_error)?
        .pop()
        .ok_or_else(|| DomainError::not_found(format!("the group has no grant {grant_id}")))?;
    let Some(scope) = group_scope(tx, group_id).await? else {
        return Ok(removed.into());
    };
    let grants = [(removed.site_id, removed.product.clone(), removed.role)];
    let mut after = None;
    loop {
        let page = member_ids(tx, group_id, after).await?;
        let Some(last) = page.last().copied() else {
            break;
        };
        after = Some(last);
        let these = Expr::col((site_membership::Entity, site_membership::Column::AccountId))
            .is_in(page.clone());
        let ended: Vec<(Uuid, Uuid)> = end_access(tx, &[removed.site_id], these, None)
            .await?
            .into_iter()
            .map(|m| (m.site_id, m.account_id))
            .collect();
        let list = access_events(
            scope,
            group_id,
            false,
            &grants,
            &page,
            &ended,
            false,
            &json!({}),
        );
        events::record_many(tx, list).await?;
    }
    Ok(removed.into())
}
