//! CSV exports, streamed: a keyset page of rows is read and written at a
//! time, so memory stays constant whatever the organization's size.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use futures_util::stream;
use uuid::Uuid;

use super::auth::AdminPrincipal;
use super::sites::SitePath;
use crate::admin_error::{AdminError, AdminResult};
use crate::domain::export;
use crate::http::AppState;
use crate::store::{exports, site_users};

#[derive(Clone, Copy)]
enum Kind {
    ManagedAccounts { org_id: Uuid },
    SiteUsers { org_id: Uuid, site_id: Uuid },
}

struct Cursor {
    state: web::Data<AppState>,
    kind: Kind,
    after: Option<Uuid>,
    first: bool,
    done: bool,
}

async fn chunk(c: &Cursor) -> AdminResult<(Vec<u8>, Option<Uuid>)> {
    let db = c.state.store.reader();
    match c.kind {
        Kind::ManagedAccounts { org_id } => {
            let (rows, next) = exports::managed_page(db, org_id, c.after).await?;
            Ok((
                export::managed_csv(&rows, c.first).map_err(AdminError::internal)?,
                next,
            ))
        }
        Kind::SiteUsers { org_id, site_id } => {
            let (rows, next) = exports::site_users_page(db, org_id, site_id, c.after).await?;
            Ok((
                export::site_users_csv(&rows, c.first).map_err(AdminError::internal)?,
                next,
            ))
        }
    }
}

async fn next(mut c: Cursor) -> Option<(Result<Bytes, actix_web::Error>, Cursor)> {
    if c.done {
        return None;
    }
    match chunk(&c).await {
        Ok((bytes, after)) => {
            c.first = false;
            c.done = after.is_none();
            c.after = after;
            Some((Ok(Bytes::from(bytes)), c))
        }
        Err(e) => {
            // The status line is gone already: the client sees a cut body.
            tracing::error!(error = %e, "export failed mid-stream");
            c.done = true;
            Some((Err(e.into()), c))
        }
    }
}

fn csv_response(state: web::Data<AppState>, kind: Kind, filename: &str) -> HttpResponse {
    let c = Cursor {
        state,
        kind,
        after: None,
        first: true,
        done: false,
    };
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .streaming(stream::unfold(c, next))
}

#[utoipa::path(get, path = "/admin/v1/orgs/{org_id}/exports/managed-accounts", tag = "exports",
    params(super::OrgPath),
    responses((status = 200, description = "CSV: name, email, last active, status, billable, policy name and type, SAML SSO, two-step verification, password requirements, idle session duration, one column per product listing the sites", content_type = "text/csv")))]
pub async fn managed_accounts(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
) -> AdminResult<HttpResponse> {
    let kind = Kind::ManagedAccounts {
        org_id: admin.org_id(),
    };
    Ok(csv_response(state, kind, "managed-accounts.csv"))
}

#[utoipa::path(get, path = "/admin/v1/orgs/{org_id}/exports/sites/{site_id}/users", tag = "exports",
    params(SitePath),
    responses((status = 200, description = "CSV: name, email, status, last active, product access, groups", content_type = "text/csv")))]
pub async fn site_users(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    path: web::Path<SitePath>,
) -> AdminResult<HttpResponse> {
    let site = site_users::site_of_org(state.store.reader(), admin.org_id(), path.site_id).await?;
    let kind = Kind::SiteUsers {
        org_id: admin.org_id(),
        site_id: site.id,
    };
    let name = format!("{}-users.csv", site.name);
    Ok(csv_response(state, kind, &name))
}
