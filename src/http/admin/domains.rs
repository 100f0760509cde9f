//! `/domains`: add, verify (with the token issued at add), remove.
//! Verifying claims the accounts on the domain; removing releases them.

use actix_web::{HttpResponse, web};
use entity::domain;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::AdminPrincipal;
use super::{commit, items};
use crate::admin_error::{AdminError, AdminResult};
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

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct VerifyDomain {
    /// The token returned when the domain was added.
    pub verification_token: String,
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
    {
        o.insert(
            "verification_token".into(),
            d.verification_token.clone().into(),
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
    let tx = state.store.begin().await?;
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
    params(DomainPath), request_body = VerifyDomain,
    responses((status = 200, description = "Verified; its accounts are claimed"),
        (status = 400, description = "verification_failed")))]
pub async fn verify(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<DomainPath>,
    body: web::Json<VerifyDomain>,
) -> AdminResult<HttpResponse> {
    let name = parse(&path.domain)?;
    let tx = state.store.begin().await?;
    let d = directories::domain_by_name(&tx, admin.org_id(), &name).await?;
    admin_rules::check_verification_token(&d.verification_token, &body.verification_token)?;
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
    responses((status = 200, description = "Removed; the org's accounts on it are no longer managed")))]
pub async fn remove(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<DomainPath>,
) -> AdminResult<HttpResponse> {
    let name = parse(&path.domain)?;
    let tx = state.store.begin().await?;
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
