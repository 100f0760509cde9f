//! SCIM Groups, one function per use case: `POST` ([`create`]), `PUT`
//! ([`replace`]), `PATCH` ([`patch`]), `DELETE` ([`delete`]), each in its
//! own [`write`] transaction; the `*_in` functions are the same use cases
//! in a transaction the caller owns (`/Bulk`). Membership changes are
//! set-based SQL over the named members only (`store::groups`).

use entity::group;
use serde_json::Value;
use tracing::instrument;
use uuid::Uuid;

use super::{PathId, ScimResource, ScimWrite, Tx, write_on_writer};
use crate::domain::etag::IfMatch;
use crate::domain::filter::Limits;
use crate::domain::group::{self as domain_group, GroupChange, GroupInput};
use crate::domain::patch;
use crate::error::ScimResult;
use crate::store::Store;
use crate::store::directories::DirectoryPrincipal;
use crate::store::events::{self, EventType};
use crate::store::groups::{self as store, ScimGroup, group_event};
use crate::store::org_schemas;

impl ScimResource for ScimGroup {
    const KIND: &'static str = "Group";

    /// `POST /Groups`: a synced group; its name unique in the organization.
    #[instrument(skip_all, fields(directory = %w.dir.directory_id), err(level = "debug"))]
    async fn create(store: &Store, w: &ScimWrite, body: &Value) -> ScimResult<Self> {
        let input = GroupInput::from_json(body)?;
        let ignored = org_schemas::group_ignored(store.reader(), &w.dir, &input.extensions).await?;
        let w = w.clone();
        write_on_writer(store, w.origin(), async move |tx| {
            let g = create_in(tx, &w.dir, input).await?;
            w.dropped(tx, Some(g.id.to_string()), 201, &ignored).await?;
            w.succeeded(tx, Some(g.id.to_string()), 201, None).await?;
            Ok(g.into())
        })
        .await
    }

    /// `PUT /Groups/{id}`: members become exactly those listed.
    #[instrument(skip_all, fields(directory = %w.dir.directory_id, id = id.raw), err(level = "debug"))]
    async fn replace(
        store: &Store,
        w: &ScimWrite,
        id: PathId<'_>,
        body: &Value,
        if_match: Option<&IfMatch>,
    ) -> ScimResult<Self> {
        let input = GroupInput::from_json(body)?;
        let ignored = org_schemas::group_ignored(store.reader(), &w.dir, &input.extensions).await?;
        let (w, if_match, gid, rid) = (w.clone(), if_match.cloned(), id.id, id.logged());
        write_on_writer(store, w.origin(), async move |tx| {
            let g = replace_in(tx, &w.dir, gid, input, if_match.as_ref()).await?;
            w.dropped(tx, rid.clone(), 200, &ignored).await?;
            w.succeeded(tx, rid, 200, None).await?;
            Ok(g.into())
        })
        .await
    }

    /// `PATCH /Groups/{id}`: member adds/removes and renames, in order.
    /// `status` is what the client will be answered (204 unless it asked for
    /// the group), for the sync log.
    #[instrument(skip_all, fields(directory = %w.dir.directory_id, id = id.raw), err(level = "debug"))]
    async fn patch(
        store: &Store,
        w: &ScimWrite,
        id: PathId<'_>,
        body: &Value,
        limits: Limits,
        if_match: Option<&IfMatch>,
        status: u16,
    ) -> ScimResult<Self> {
        let changes = domain_group::changes(&patch::parse_request(body, limits)?)?;
        let (w, if_match, gid, rid) = (w.clone(), if_match.cloned(), id.id, id.logged());
        write_on_writer(store, w.origin(), async move |tx| {
            let g = patch_in(tx, &w.dir, gid, changes, if_match.as_ref()).await?;
            w.succeeded(tx, rid, status, None).await?;
            Ok(g.into())
        })
        .await
    }

    /// `DELETE /Groups/{id}` in the caller's transaction: the access it
    /// granted goes with it.
    #[instrument(level = "debug", skip_all, fields(directory = %dir.directory_id, group = %id), err(level = "debug"))]
    async fn delete_in(
        tx: &Tx,
        dir: &DirectoryPrincipal,
        id: Uuid,
        if_match: Option<&IfMatch>,
    ) -> ScimResult<()> {
        let g = store::lock(tx, dir, id, if_match).await?;
        // Each member leaves with its events (access and memberships the group
        // granted end, in pages of 1,000), then the group goes.
        store::remove_all_members_paged(tx, id).await?;
        events::record(tx, group_event(&g, EventType::GroupDeleted)).await?;
        Ok(store::remove(tx, id).await?)
    }

    fn version(&self) -> i64 {
        self.version
    }
}

/// `POST /Groups` in the caller's transaction.
#[instrument(level = "debug", skip_all, fields(directory = %dir.directory_id), err(level = "debug"))]
pub async fn create_in(
    tx: &Tx,
    dir: &DirectoryPrincipal,
    input: GroupInput,
) -> ScimResult<group::Model> {
    store::ensure_name_free(tx, dir, &input.display_name, None).await?;
    let accounts = store::resolve_members(tx, dir, input.members.to_add()?).await?;
    let custom = org_schemas::decode_group(tx, dir, &input.extensions).await?;
    let g = store::insert(tx, dir, &input).await?;
    events::record(tx, group_event(&g, EventType::GroupCreated)).await?;
    org_schemas::write_group_values(tx, dir, g.id, &custom, false).await?;
    store::add_members(tx, g.id, &accounts).await?;
    Ok(g)
}

/// `PUT /Groups/{id}` in the caller's transaction.
#[instrument(level = "debug", skip_all, fields(directory = %dir.directory_id, group = %id), err(level = "debug"))]
pub async fn replace_in(
    tx: &Tx,
    dir: &DirectoryPrincipal,
    id: Uuid,
    input: GroupInput,
    if_match: Option<&IfMatch>,
) -> ScimResult<group::Model> {
    let g = store::lock(tx, dir, id, if_match).await?;
    let accounts = store::resolve_members(tx, dir, input.members.to_add()?).await?;
    let custom = org_schemas::decode_group(tx, dir, &input.extensions).await?;
    org_schemas::write_group_values(tx, dir, id, &custom, true).await?;
    store::replace_members(tx, id, &accounts).await?;
    set_attributes(tx, dir, g, input.display_name, input.external_id).await
}

/// `PATCH /Groups/{id}` in the caller's transaction.
#[instrument(level = "debug", skip_all, fields(directory = %dir.directory_id, group = %id), err(level = "debug"))]
pub async fn patch_in(
    tx: &Tx,
    dir: &DirectoryPrincipal,
    id: Uuid,
    changes: Vec<GroupChange>,
    if_match: Option<&IfMatch>,
) -> ScimResult<group::Model> {
    let g = store::lock(tx, dir, id, if_match).await?;
    let mut name = g.display_name.clone();
    let mut external_id = g.external_id.clone();
    let mut custom = Vec::new();
    for change in changes {
        match change {
            GroupChange::Custom(op) => custom.push(*op),
            GroupChange::SetDisplayName(n) => name = n,
            GroupChange::SetExternalId(e) => external_id = e,
            GroupChange::AddMembers(ids) => {
                let accounts = store::resolve_members(tx, dir, ids.to_add()?).await?;
                store::add_members(tx, id, &accounts).await?;
            }
            GroupChange::RemoveMembers(ids) => {
                // Removing someone who is not (or no longer) a User here
                // is a no-op, as IdPs retry removals.
                let accounts = store::known_members(tx, dir, ids.to_remove()).await?;
                store::remove_members(tx, id, &accounts).await?;
            }
            GroupChange::RemoveAllMembers => store::remove_all_members_paged(tx, id).await?,
            GroupChange::ReplaceMembers(ids) => {
                let accounts = store::resolve_members(tx, dir, ids.to_add()?).await?;
                store::replace_members(tx, id, &accounts).await?;
            }
        }
    }
    if !custom.is_empty() {
        org_schemas::patch_group_values(tx, dir, id, &custom).await?;
    }
    set_attributes(tx, dir, g, name, external_id).await
}

async fn set_attributes(
    tx: &Tx,
    dir: &DirectoryPrincipal,
    g: group::Model,
    name: String,
    external_id: Option<String>,
) -> ScimResult<group::Model> {
    if name == g.display_name && external_id == g.external_id {
        // Okta's rename-to-the-same-name: nothing to do.
        return Ok(g);
    }
    if name.to_lowercase() != g.display_name_lower {
        store::ensure_name_free(tx, dir, &name, Some(g.id)).await?;
    }
    let g = store::update(tx, g, name, external_id).await?;
    events::record(tx, group_event(&g, EventType::GroupUpdated)).await?;
    Ok(g)
}
