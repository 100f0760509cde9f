//! Webhook endpoints of the organization: signed deliveries of its change
//! events (see `crate::webhooks`), their attempts, manual redelivery.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::AdminPrincipal;
use super::events::{parse_after, parse_types};
use super::{commit, int_cursor, items, page_limit, split_page};
use crate::admin_error::{AdminError, AdminResult};
use crate::domain::webhook::{WebhookSecret, WebhookUrl};
use crate::startup::AppState;
use crate::store::audit::{self, AuditEntry};
use crate::store::events::{self, EventType};
use crate::store::webhooks::{self, EndpointChange};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct WebhookPath {
    pub org_id: Uuid,
    pub webhook_id: Uuid,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// `https://…` (no credentials, no private or loopback address).
    pub url: String,
    /// Event types to deliver; left out: all.
    pub types: Option<Vec<String>>,
    /// Start after this sequence number; left out: only events from now on.
    pub after: Option<i64>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Redeliver {
    /// Deliver again every event after this sequence number.
    pub after: i64,
}

fn types_column(types: Option<&[String]>) -> AdminResult<Option<String>> {
    let Some(list) = types.filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    let parsed = parse_types(Some(&list.join(",")))?;
    Ok(Some(
        parsed
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(","),
    ))
}

fn url_of(state: &AppState, url: &str) -> AdminResult<WebhookUrl> {
    WebhookUrl::parse(url, state.settings.webhook_allow_insecure).map_err(AdminError::invalid)
}

fn to_json(w: &entity::webhook_endpoint::Model) -> Value {
    let types: Option<Vec<&str>> = w.types.as_deref().map(|t| {
        t.split(',')
            .filter(|s| EventType::parse(s).is_some())
            .collect()
    });
    json!({
        "id": w.id,
        "url": w.url,
        "types": types,
        "enabled": w.enabled,
        "disabled_reason": w.disabled_reason,
        "cursor": w.cursor_seq.to_string(),
        "failing_since": w.failing_since,
        "next_attempt_at": w.next_attempt_at,
        "created_at": w.created_at,
    })
}

#[utoipa::path(post, path = "/admin/v1/orgs/{org_id}/webhooks", tag = "webhooks",
    params(super::OrgPath), request_body = NewWebhook,
    responses((status = 201, description = "Created; `secret` (whsec_…) is shown this once"),
        (status = 400, description = "invalid_request (url not https, private address, unknown type)")))]
pub async fn create(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    body: web::Json<NewWebhook>,
) -> AdminResult<HttpResponse> {
    let url = url_of(&state, &body.url)?;
    let types = types_column(body.types.as_deref())?;
    let after = parse_after(body.after.map(|a| a.to_string()).as_deref())?;
    let secret = WebhookSecret::generate();
    let tx = state.store.begin_write(&admin.origin()).await?;
    let cursor = match after {
        Some(a) => a,
        None => events::last_seq(&tx, admin.org_id()).await?,
    };
    let w = webhooks::create(
        &tx,
        admin.org_id(),
        url.as_str(),
        &secret.expose(),
        types,
        cursor,
    )
    .await?;
    let entry = AuditEntry::new(
        admin.org_id(),
        admin.actor(),
        "webhook.create",
        "webhook",
        w.id,
    )
    .detail(url.as_str());
    audit::record(&tx, entry).await?;
    commit(tx).await?;
    let mut out = to_json(&w);
    out["secret"] = json!(secret.expose());
    Ok(HttpResponse::Created().json(out))
}

#[utoipa::path(get, path = "/admin/v1/orgs/{org_id}/webhooks", tag = "webhooks",
    params(super::OrgPath),
    responses((status = 200, description = "{items}: the endpoints (never their secrets)")))]
pub async fn list(state: web::Data<AppState>, admin: AdminPrincipal) -> AdminResult<HttpResponse> {
    let rows = webhooks::list(state.store.reader(), admin.org_id()).await?;
    Ok(items(rows.iter().map(to_json).collect(), None))
}

#[utoipa::path(get, path = "/admin/v1/orgs/{org_id}/webhooks/{webhook_id}", tag = "webhooks",
    params(WebhookPath),
    responses((status = 200, description = "The endpoint and its delivery state"), (status = 404, description = "not_found")))]
pub async fn get(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<WebhookPath>,
) -> AdminResult<HttpResponse> {
    let w = webhooks::get(state.store.reader(), admin.org_id(), path.webhook_id).await?;
    Ok(HttpResponse::Ok().json(to_json(&w)))
}

#[utoipa::path(patch, path = "/admin/v1/orgs/{org_id}/webhooks/{webhook_id}", tag = "webhooks",
    params(WebhookPath), request_body(content = Object, description = "url, types (null or [] for all), enabled (true re-enables a disabled endpoint and retries at once)"),
    responses((status = 200, description = "Updated"), (status = 400, description = "invalid_request"), (status = 404, description = "not_found")))]
pub async fn update(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<WebhookPath>,
    body: web::Json<serde_json::Map<String, Value>>,
) -> AdminResult<HttpResponse> {
    let mut change = EndpointChange::default();
    for (k, v) in body.iter() {
        match (k.as_str(), v) {
            ("url", Value::String(u)) => change.url = Some(url_of(&state, u)?.as_str().to_owned()),
            ("types", Value::Null) => change.types = Some(None),
            ("types", Value::Array(list)) => {
                let names = list
                    .iter()
                    .map(|t| {
                        t.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| AdminError::invalid("types must be strings"))
                    })
                    .collect::<AdminResult<Vec<_>>>()?;
                change.types = Some(types_column(Some(&names))?);
            }
            ("enabled", Value::Bool(b)) => change.enabled = Some(*b),
            (k, _) => {
                return Err(AdminError::invalid(format!(
                    "{k:?}: expected url (string), types (array or null) or enabled (boolean)"
                )));
            }
        }
    }
    let tx = state.store.begin_write(&admin.origin()).await?;
    let w = webhooks::update(&tx, admin.org_id(), path.webhook_id, change).await?;
    let entry = AuditEntry::new(
        admin.org_id(),
        admin.actor(),
        "webhook.update",
        "webhook",
        w.id,
    );
    audit::record(&tx, entry).await?;
    commit(tx).await?;
    Ok(HttpResponse::Ok().json(to_json(&w)))
}

#[utoipa::path(delete, path = "/admin/v1/orgs/{org_id}/webhooks/{webhook_id}", tag = "webhooks",
    params(WebhookPath),
    responses((status = 204, description = "Deleted with its attempts"), (status = 404, description = "not_found")))]
pub async fn delete(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<WebhookPath>,
) -> AdminResult<HttpResponse> {
    let tx = state.store.begin_write(&admin.origin()).await?;
    webhooks::delete(&tx, admin.org_id(), path.webhook_id).await?;
    let entry = AuditEntry::new(
        admin.org_id(),
        admin.actor(),
        "webhook.delete",
        "webhook",
        path.webhook_id,
    );
    audit::record(&tx, entry).await?;
    commit(tx).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttemptParams {
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/admin/v1/orgs/{org_id}/webhooks/{webhook_id}/attempts", tag = "webhooks",
    params(WebhookPath, AttemptParams),
    responses((status = 200, description = "Delivery attempts, newest first: {items, next_cursor}"), (status = 404, description = "not_found")))]
pub async fn attempts(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<WebhookPath>,
    params: web::Query<AttemptParams>,
) -> AdminResult<HttpResponse> {
    let w = webhooks::get(state.store.reader(), admin.org_id(), path.webhook_id).await?;
    let limit = page_limit(&state, params.limit.as_deref())?;
    let before = int_cursor(params.cursor.as_deref())?;
    let rows = webhooks::attempts(state.store.reader(), w.id, before, limit + 1).await?;
    let (rows, next) = split_page(rows, limit, |r| r.id);
    Ok(items(
        rows.iter()
            .map(|a| {
                json!({
                    "id": a.id, "event_seq": a.event_seq, "event_type": a.event_type,
                    "attempted_at": a.attempted_at, "status_code": a.status_code,
                    "error": a.error, "success": a.success,
                })
            })
            .collect(),
        next,
    ))
}

#[utoipa::path(post, path = "/admin/v1/orgs/{org_id}/webhooks/{webhook_id}/redeliver", tag = "webhooks",
    params(WebhookPath), request_body = Redeliver,
    responses((status = 200, description = "The endpoint goes back to just after `after`, enabled"), (status = 404, description = "not_found")))]
pub async fn redeliver(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<WebhookPath>,
    body: web::Json<Redeliver>,
) -> AdminResult<HttpResponse> {
    let after = parse_after(Some(&body.after.to_string()))?.unwrap_or(0);
    let tx = state.store.begin_write(&admin.origin()).await?;
    let w = webhooks::redeliver(&tx, admin.org_id(), path.webhook_id, after).await?;
    let entry = AuditEntry::new(
        admin.org_id(),
        admin.actor(),
        "webhook.redeliver",
        "webhook",
        w.id,
    )
    .detail(format!("after {after}"));
    audit::record(&tx, entry).await?;
    commit(tx).await?;
    Ok(HttpResponse::Ok().json(to_json(&w)))
}
