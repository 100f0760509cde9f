//! An organization's webhook endpoints: create, update, delete, redeliver
//! (the admin API; create and delete also the operator CLI). Each write is
//! audited in its transaction.

use tracing::instrument;
use uuid::Uuid;

use super::accounts::AdminAct;
use super::write;
use crate::admin_error::AdminResult;
use crate::domain::webhook::{WebhookSecret, WebhookUrl};
use crate::store::Store;
use crate::store::audit;
use crate::store::webhooks::{self, EndpointChange, WebhookView};

/// Creates an endpoint delivering `types` (a stored list; none: all)
/// from after `after` (none: the feed's end now). The secret is returned
/// this once.
#[instrument(skip_all, fields(org = %who.org_id), err(level = "debug"))]
pub async fn create(
    store: &Store,
    who: &AdminAct,
    url: &WebhookUrl,
    types: Option<String>,
    after: Option<i64>,
) -> AdminResult<(WebhookView, WebhookSecret)> {
    let secret = WebhookSecret::generate();
    write(store, &who.origin, async |tx| {
        let cursor = match after {
            Some(a) => a,
            None => crate::store::events::last_seq(tx, who.org_id).await?,
        };
        let w = webhooks::create(
            tx,
            who.org_id,
            url.as_str(),
            &secret.expose(),
            types,
            cursor,
        )
        .await?;
        let entry = who
            .entry("webhook.create", "webhook", w.id)
            .detail(url.as_str());
        audit::record(tx, entry).await?;
        Ok(WebhookView::from(w))
    })
    .await
    .map(|w| (w, secret))
}

#[instrument(skip_all, fields(org = %who.org_id, webhook = %id), err(level = "debug"))]
pub async fn update(
    store: &Store,
    who: &AdminAct,
    id: Uuid,
    change: EndpointChange,
) -> AdminResult<WebhookView> {
    write(store, &who.origin, async |tx| {
        let w = webhooks::update(tx, who.org_id, id, change).await?;
        let entry = who.entry("webhook.update", "webhook", w.id);
        audit::record(tx, entry).await?;
        Ok(WebhookView::from(w))
    })
    .await
}

/// Deletes an endpoint with its attempts.
#[instrument(skip_all, fields(org = %who.org_id, webhook = %id), err(level = "debug"))]
pub async fn delete(store: &Store, who: &AdminAct, id: Uuid) -> AdminResult<()> {
    write(store, &who.origin, async |tx| {
        webhooks::delete(tx, who.org_id, id).await?;
        let entry = who.entry("webhook.delete", "webhook", id);
        audit::record(tx, entry).await?;
        Ok(())
    })
    .await
}

/// Sends the endpoint back to just after `after`, enabled.
#[instrument(skip_all, fields(org = %who.org_id, webhook = %id), err(level = "debug"))]
pub async fn redeliver(
    store: &Store,
    who: &AdminAct,
    id: Uuid,
    after: i64,
) -> AdminResult<WebhookView> {
    write(store, &who.origin, async |tx| {
        let w = webhooks::redeliver(tx, who.org_id, id, after).await?;
        let entry = who
            .entry("webhook.redeliver", "webhook", w.id)
            .detail(format!("after {after}"));
        audit::record(tx, entry).await?;
        Ok(WebhookView::from(w))
    })
    .await
}
