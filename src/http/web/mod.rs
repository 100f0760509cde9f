//! The admin web page under `/admin/`: server-rendered HTML (maud escapes
//! every value), one CSS file built into the binary, no JavaScript. It
//! signs in with an org admin key and reads and writes through the same
//! store and rule functions as the JSON admin API. No SQL here.

pub mod accounts;
pub mod directories;
pub mod error;
pub mod layout;
pub mod session;
pub mod sites;

use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpResponse, web};

use error::WebError;
use session::WebAdmin;

/// The stylesheet, served by the binary itself.
const CSS: &str = include_str!("admin.css");

/// Pages are only ever same-origin HTML + CSS: no scripts, no frames, forms
/// post back here only.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// The `/admin` scope; register it after the JSON API's `/admin/v1`.
pub fn scope() -> impl actix_web::dev::HttpServiceFactory {
    web::scope("/admin")
        .wrap(
            DefaultHeaders::new()
                .add((header::CONTENT_SECURITY_POLICY, CSP))
                .add((header::X_FRAME_OPTIONS, "DENY"))
                .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                .add((header::REFERRER_POLICY, "no-referrer"))
                .add((header::CACHE_CONTROL, "no-store")),
        )
        .app_data(web::FormConfig::default().limit(16 * 1024))
        .app_data(web::PathConfig::default().error_handler(|_, _| WebError::not_found().into()))
        .app_data(web::QueryConfig::default().error_handler(|e, _| {
            WebError::bad_request(format!("the address has a bad parameter: {e}")).into()
        }))
        .route("", web::get().to(home))
        .route("/", web::get().to(home))
        .route("/static/admin.css", web::get().to(css))
        .route("/sign-in", web::get().to(session::sign_in_form))
        .route("/sign-in", web::post().to(session::sign_in))
        .route("/sign-out", web::post().to(session::sign_out))
        .route("/directories", web::get().to(directories::list))
        .route(
            "/directories/{directory_id}/sync-log",
            web::get().to(directories::sync_log),
        )
        .route("/accounts", web::get().to(accounts::list))
        .route("/accounts/{account_id}", web::get().to(accounts::detail))
        .route(
            "/accounts/{account_id}/{action}",
            web::post().to(accounts::lifecycle),
        )
        .route("/sites", web::get().to(sites::list))
        .route("/sites/{site_id}/users", web::get().to(sites::users))
        .default_service(web::to(not_found))
}

/// `/admin/`: the directories page when signed in, else the sign-in form.
async fn home(admin: Option<WebAdmin>) -> HttpResponse {
    see_other(if admin.is_some() {
        "/admin/directories"
    } else {
        "/admin/sign-in"
    })
}

async fn not_found() -> Result<HttpResponse, WebError> {
    Err(WebError::not_found())
}

async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(CSS)
}

/// 303: after a form post, the browser GETs the next page.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// `?k=v&…` of the non-empty pairs (empty string when none).
pub fn query_string<'a>(pairs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (k, v) in pairs {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            s.append_pair(k, v);
            any = true;
        }
    }
    if any {
        format!("?{}", s.finish())
    } else {
        String::new()
    }
}

/// A filter field a form left empty means "any".
pub fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_skip_empty_values_and_encode_the_rest() {
        assert_eq!(query_string([("a", None), ("b", Some(""))]), "");
        assert_eq!(
            query_string([("operation", Some("POST /Users")), ("cursor", Some("12"))]),
            "?operation=POST+%2FUsers&cursor=12"
        );
    }
}
