//! An organization's custom schema extensions and what its directories do
//! with attributes no registered schema knows: add, remove, set the
//! policy. Shared by the admin API and the operator CLI.

use tracing::instrument;
use uuid::Uuid;

use super::accounts::AdminAct;
use super::write;
use crate::admin_error::AdminResult;
use crate::domain::custom_schema::CustomSchema;
use crate::store::Store;
use crate::store::audit;
use crate::store::org_schemas::{self, SchemaView};

/// Registers a schema (already parsed) for the org.
#[instrument(skip_all, fields(org = %who.org_id, urn = %schema.id), err(level = "debug"))]
pub async fn add(store: &Store, who: &AdminAct, schema: &CustomSchema) -> AdminResult<SchemaView> {
    write(store, &who.origin, async |tx| {
        let m = org_schemas::add(tx, who.org_id, schema).await?;
        audit::record(tx, who.entry("schema.add", "schema", &m.urn)).await?;
        Ok(SchemaView::of(m)?)
    })
    .await
}

/// Removes a schema by URN, and the values users have of it.
#[instrument(skip_all, fields(org = %who.org_id, urn = urn), err(level = "debug"))]
pub async fn remove(store: &Store, who: &AdminAct, urn: &str) -> AdminResult<()> {
    write(store, &who.origin, async |tx| {
        org_schemas::remove(tx, who.org_id, urn).await?;
        audit::record(tx, who.entry("schema.remove", "schema", urn)).await?;
        Ok(())
    })
    .await
}

/// Whether a directory of the org refuses (`reject`) or drops attributes
/// no registered schema knows.
#[instrument(skip_all, fields(org = %who.org_id, directory = %directory_id, reject = reject), err(level = "debug"))]
pub async fn set_unknown_attributes(
    store: &Store,
    who: &AdminAct,
    directory_id: Uuid,
    reject: bool,
) -> AdminResult<()> {
    write(store, &who.origin, async |tx| {
        org_schemas::set_reject_unknown_attributes(tx, who.org_id, directory_id, reject).await?;
        let action = if reject {
            "directory.reject_unknown_attributes"
        } else {
            "directory.accept_unknown_attributes"
        };
        audit::record(tx, who.entry(action, "directory", directory_id.to_string())).await?;
        Ok(())
    })
    .await
}
