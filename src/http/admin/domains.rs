//! `/domains`: add, verify (by the DNS TXT record that carries the token
//! issued at add), remove. Verifying claims the accounts on the domain;
//! removing releases them.

use actix_web::{HttpResponse, web};
use entity::domain;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::AdminPrincipal;
use super::{OptionalJson, commit, items};
use crate::admin_error::{AdminError, AdminResult};
use crate::dns;
use crate::domain::admin_rules;
use crate::domain::types::DomainName;
use crate::startup::AppState;
use crate::store::audit::{self, AuditEntry};
use crate::store::directories;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DomainPath {
    pub org_id: Uuid,
    /// The domain name, e.g. `acme.example`.
    pub domain: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AddDomain {
    /// DNS name, e.g. `acme.example`.
    pub name: String,
}

/// The optional body of a verify request: nothing is needed (the proof is
/// in DNS). A token sent here, as clients of the older API did, is ignored.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct VerifyDomain {
    #[allow(dead_code)]
    pub verification_token: Option<String>,
}

fn parse(name: &str) -> AdminResult<DomainName> {
    DomainName::parse(name).map_err(AdminError::invalid)
}

fn render(d: &domain::Model) -> Value {
    let mut v = json!({
        "id": d.id,
        "name": d.name,
        "verified": d.verified,
        "verified_at": d.verified_at,
        "created_at": d.created_at,
    });
    // Shown until verified: the admin publishes it to prove ownership.
    if !d.verified
        && let Some(o) = v.as_object_mut()
        && let Ok(name) = DomainName::parse(&d.name)
    {
        o.insert(
            "verification_token".into(),
            d.verification_token.clone().into(),
        );
        o.insert(
            "verification_record".into(),
            json!({
                "type": "TXT",
                "name": dns::record_name(&name),
                "value": dns::record_value(&d.verification_token),
            }),
        );
    }
    v
}

#[utoipa::path(get, path = "/admin/v1/orgs/{org_id}/domains", tag = "domains",
    params(super::OrgPath), responses((status = 200, description = "The organization's domains")))]
pub async fn list(state: web::Data<AppState>, admin: AdminPrincipal) -> AdminResult<HttpResponse> {
    let list = directories::list_domains(state.store.reader(), admin.org_id()).await?;
    Ok(items(list.iter().map(render).collect(), None))
}

#[utoipa::path(post, path = "/admin/v1/orgs/{org_id}/domains", tag = "domains",
    params(super::OrgPath), request_body = AddDomain,
    responses((status = 201, description = "Added, unverified; carries the verification token"),
        (status = 409, description = "already_exists")))]
pub async fn add(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    body: web::Json<AddDomain>,
) -> AdminResult<HttpResponse> {
    let name = parse(&body.name)?;
    let tx = state.store.begin_write(&admin.origin()).await?;
    let d = directories::add_domain(&tx, admin.org_id(), &name).await?;
    audit::record(
        &tx,
        AuditEntry::new(
            admin.org_id(),
            admin.actor(),
            "domain.add",
            "domain",
            &d.name,
        ),
    )
    .await?;
    commit(tx).await?;
    Ok(HttpResponse::Created().json(render(&d)))
}

#[utoipa::path(post, path = "/admin/v1/orgs/{org_id}/domains/{domain}/verify", tag = "domains",
    params(DomainPath), request_body(content = Option<VerifyDomain>, description = "No body needed"),
    responses((status = 200, description = "Verified; its accounts are claimed"),
        (status = 400, description = "verification_failed: the TXT record is missing or wrong (the message says what was queried and found)"),
        (status = 409, description = "already_exists: another organization has verified the domain")))]
pub async fn verify(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<DomainPath>,
    _body: OptionalJson<VerifyDomain>,
) -> AdminResult<HttpResponse> {
    let name = parse(&path.domain)?;
    let d = directories::domain_by_name(state.store.reader(), admin.org_id(), &name).await?;
    // The lookup goes out before the transaction opens: no lock is held
    // while DNS answers.
    let record = dns::record_name(&name);
    let expected = dns::record_value(&d.verification_token);
    let finding = state.dns.txt(&record).await;
    dns::judge(&record, &expected, &finding)
        .map_err(|m| AdminError::bad_request("verification_failed", m))?;
    let tx = state.store.begin_write(&admin.origin()).await?;
    let claimed = directories::verify_domain(&tx, admin.org_id(), &name).await?;
    audit::record(
        &tx,
        AuditEntry::new(
            admin.org_id(),
            admin.actor(),
            "domain.verify",
            "domain",
            &d.name,
        )
        .detail(format!("claimed {claimed} accounts")),
    )
    .await?;
    commit(tx).await?;
    Ok(HttpResponse::Ok()
        .json(json!({"name": d.name, "verified": true, "claimed_accounts": claimed})))
}

#[utoipa::path(delete, path = "/admin/v1/orgs/{org_id}/domains/{domain}", tag = "domains",
    params(DomainPath),
    responses((status = 200, description = "Removed; the org's accounts on it are no longer managed"),
        (status = 409, description = "invalid_state: deactivated or pending-deletion accounts on the domain")))]
pub async fn remove(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<DomainPath>,
) -> AdminResult<HttpResponse> {
    let name = parse(&path.domain)?;
    let tx = state.store.begin_write(&admin.origin()).await?;
    let stranded = directories::stranded_by_removal(&tx, admin.org_id(), &name).await?;
    admin_rules::check_domain_removal(name.as_str(), stranded)?;
    let released = directories::remove_domain(&tx, admin.org_id(), &name).await?;
    audit::record(
        &tx,
        AuditEntry::new(
            admin.org_id(),
            admin.actor(),
            "domain.remove",
            "domain",
            name.as_str(),
        )
        .detail(format!("released {released} accounts")),
    )
    .await?;
    commit(tx).await?;
    Ok(HttpResponse::Ok().json(json!({"name": name.as_str(), "released_accounts": released})))
}
