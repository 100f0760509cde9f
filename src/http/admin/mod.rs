//! The admin API under `/admin/v1/orgs/{org_id}`: admin-key auth, one JSON
//! error shape (`{"code", "message"}`), cursor paging, and the OpenAPI
//! document generated from the same route table.

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod directories;
pub mod domains;
pub mod error;
pub mod events;
pub mod exports;
pub mod groups;
pub mod keys;
pub mod schemas;
pub mod security;
pub mod sites;
pub mod webhooks;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::admin_error::{AdminError, AdminResult, codes};
use crate::startup::AppState;
use crate::store::{WriteTx, db_error};

/// A JSON body that may be left out: no body (no `Content-Type`, no
/// length) is `None`; anything sent must be JSON as `web::Json` requires,
/// with the same errors.
pub struct OptionalJson<T>(pub Option<T>);

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for OptionalJson<T> {
    type Error = actix_web::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(
        req: &actix_web::HttpRequest,
        payload: &mut actix_web::dev::Payload,
    ) -> Self::Future {
        use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
        let headers = req.headers();
        let no_body = headers.get(CONTENT_TYPE).is_none()
            && headers
                .get(CONTENT_LENGTH)
                .is_none_or(|l| l.as_bytes() == b"0");
        if no_body {
            return Box::pin(std::future::ready(Ok(Self(None))));
        }
        let json = web::Json::<T>::from_request(req, payload);
        Box::pin(async move { Ok(Self(Some(json.await?.into_inner()))) })
    }
}

/// Where the organization-scoped routes live.
pub const ORG_SCOPE: &str = "/admin/v1/orgs/{org_id}";

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OrgPath {
    /// The organization's id.
    pub org_id: Uuid,
}

/// Declares every admin route once: the actix registration, the `ROUTES`
/// table (method, path under `ORG_SCOPE`) and the OpenAPI document.
macro_rules! admin_routes {
    ($( $path:literal => { $( $method:ident : $handler:path ),+ $(,)? } ),* $(,)?) => {
        /// (method, path under `ORG_SCOPE`) of every admin route.
        pub const ROUTES: &[(&str, &str)] = &[ $( $( (stringify!($method), $path) ),+ ),* ];

        fn register(scope: actix_web::Scope) -> actix_web::Scope {
            scope $( .service(
                web::resource($path)
                    $( .route(web::$method().to($handler)) )+
                    .default_service(web::to(error::method_not_allowed)),
            ) )*
        }

        #[derive(utoipa::OpenApi)]
        #[openapi(
            info(title = "scim-server admin API", description = "Organization admin API: domains, managed accounts, site users, groups, sync status, audit log, change events, webhooks, exports. Authenticate with an admin key: `Authorization: Bearer <key>`. Errors are `{\"code\", \"message\"}`."),
            paths( $( $( $handler ),+ ),* ),
            modifiers(&BearerAuth),
            security(("admin_key" = []))
        )]
        pub struct ApiDoc;
    };
}

admin_routes! {
    "/domains" => { get: domains::list, post: domains::add },
    "/domains/{domain}" => { delete: domains::remove },
    "/domains/{domain}/verify" => { post: domains::verify },
    "/accounts" => { get: accounts::list },
    "/accounts/summary" => { get: accounts::summary },
    "/accounts/{account_id}" => {
        get: accounts::get, patch: accounts::edit_profile, delete: accounts::delete,
    },
    "/accounts/{account_id}/deactivate" => { post: accounts::deactivate },
    "/accounts/{account_id}/reactivate" => { post: accounts::reactivate },
    "/accounts/{account_id}/cancel-deletion" => { post: accounts::cancel_deletion },
    "/accounts/{account_id}/email" => { put: accounts::change_email },
    "/accounts/{account_id}/api-tokens" => { get: security::list_tokens },
    "/accounts/{account_id}/api-tokens/{token_id}" => { delete: security::revoke_token },
    "/accounts/{account_id}/sessions" => {
        get: security::list_sessions, delete: security::logout_all,
    },
    "/accounts/{account_id}/sessions/{session_id}" => { delete: security::logout_one },
    "/accounts/{account_id}/two-step-exclusion" => {
        put: security::exclude_two_step, delete: security::end_two_step_exclusion,
    },
    "/accounts/{account_id}/require-password-reset" => { post: security::require_password_reset },
    "/sites" => { get: sites::list_sites },
    "/sites/{site_id}/users" => { get: sites::list_users, post: sites::invite },
    "/sites/{site_id}/users/{account_id}" => { delete: sites::remove },
    "/sites/{site_id}/users/{account_id}/activity" => { post: sites::record_activity },
    "/sites/{site_id}/users/{account_id}/suspend" => { post: sites::suspend },
    "/sites/{site_id}/users/{account_id}/restore" => { post: sites::restore },
    "/sites/{site_id}/users/{account_id}/products/{product}" => {
        put: sites::set_product, delete: sites::remove_product,
    },
    "/groups" => { get: groups::list, post: groups::create },
    "/groups/{group_id}/members/{account_id}" => {
        put: groups::add_member, delete: groups::remove_member,
    },
    "/groups/{group_id}/grants" => { post: groups::grant },
    "/groups/{group_id}/grants/{grant_id}" => { delete: groups::ungrant },
    "/directories" => { get: directories::list },
    "/directories/{directory_id}" => { patch: directories::update },
    "/directories/{directory_id}/sync-log" => { get: directories::sync_log },
    "/directories/{directory_id}/domains" => {
        get: directories::domains, put: directories::bind_domains,
    },
    "/audit-log" => { get: audit::list },
    "/events" => { get: events::list },
    "/webhooks" => { get: webhooks::list, post: webhooks::create },
    "/webhooks/{webhook_id}" => {
        get: webhooks::get, patch: webhooks::update, delete: webhooks::delete,
    },
    "/webhooks/{webhook_id}/attempts" => { get: webhooks::attempts },
    "/webhooks/{webhook_id}/redeliver" => { post: webhooks::redeliver },
    "/exports/managed-accounts" => { get: exports::managed_accounts },
    "/exports/sites/{site_id}/users" => { get: exports::site_users },
    "/schemas" => { get: schemas::list, post: schemas::add },
    "/schemas/{urn}" => { delete: schemas::remove },
    "/admin-keys" => { get: keys::list },
    "/admin-keys/{key_id}" => { delete: keys::revoke },
    "/directories/{directory_id}/unknown-attributes" => {
        get: schemas::get_unknown_attributes, put: schemas::set_unknown_attributes,
    },
}

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `GET /admin/v1/openapi.json` (no key needed: it describes, never shows data).
pub async fn openapi() -> HttpResponse {
    use utoipa::OpenApi;
    HttpResponse::Ok().json(ApiDoc::openapi())
}

/// The `/admin/v1` scope with its own error shape for framework errors.
pub fn scope(max_body_bytes: usize) -> actix_web::Scope {
    web::scope("/admin/v1")
        .app_data(
            web::JsonConfig::default()
                .limit(max_body_bytes)
                .error_handler(error::json_error),
        )
        .app_data(web::QueryConfig::default().error_handler(error::query_error))
        .app_data(web::PathConfig::default().error_handler(error::path_error))
        .service(
            web::resource("/openapi.json")
                .get(openapi)
                .default_service(web::to(error::method_not_allowed)),
        )
        .service(
            register(web::scope("/orgs/{org_id}"))
                .default_service(web::to(error::not_found))
                .wrap(actix_web::middleware::from_fn(auth::require_admin_key)),
        )
        .default_service(web::to(error::not_found))
}

/// Commits a write request's transaction, numbering its events.
/// (`tx` from `Store::begin_write(&admin.origin())`: its events are the
/// admin's.)
pub async fn commit(tx: WriteTx) -> AdminResult<()> {
    crate::store::events::flush(&tx).await?;
    tx.commit()
        .await
        .map_err(db_error)
        .map_err(AdminError::from)
}

/// A list body: `{"items": [...], "next_cursor": "…" | null}`.
pub fn items(items: Vec<Value>, next_cursor: Option<String>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"items": items, "next_cursor": next_cursor}))
}

/// Page size: `limit` (default 50) clamped to the server's maximum.
pub fn page_limit(state: &AppState, limit: Option<&str>) -> AdminResult<u64> {
    let n = match limit.map(str::trim) {
        None | Some("") => 50,
        Some(s) => s.parse::<u64>().map_err(|_| {
            AdminError::invalid(format!("limit must be a positive integer, got {s:?}"))
        })?,
    };
    Ok(n.clamp(1, state.settings.max_results.max(1)))
}

fn bad_cursor() -> AdminError {
    AdminError::bad_request(
        codes::INVALID_CURSOR,
        "the cursor is not one this server issued; start again without a cursor",
    )
}

/// A cursor naming the last id of the previous page (keyset paging).
pub fn uuid_cursor(c: Option<&str>) -> AdminResult<Option<Uuid>> {
    match c.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => Uuid::parse_str(s).map(Some).map_err(|_| bad_cursor()),
    }
}

pub fn int_cursor(c: Option<&str>) -> AdminResult<Option<i64>> {
    match c.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s.parse::<i64>().map(Some).map_err(|_| bad_cursor()),
    }
}

/// Splits the `limit + 1` rows a page query fetched into the page and the
/// next cursor (the key of the page's last row, when more follow).
pub fn split_page<T, K: ToString>(
    mut rows: Vec<T>,
    limit: u64,
    key: impl Fn(&T) -> K,
) -> (Vec<T>, Option<String>) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if rows.len() > limit {
        rows.truncate(limit);
        let next = rows.last().map(|r| key(r).to_string());
        (rows, next)
    } else {
        (rows, None)
    }
}
