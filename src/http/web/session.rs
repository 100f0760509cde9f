//! Signing in to the web page. The admin key is exchanged for a
//! server-side session (`store::admin_sessions`): the `HttpOnly`,
//! `SameSite=Strict` cookie (`Secure` over https) scoped to `/admin`
//! carries only the random session id, never the key. The session lives in
//! the database, so any instance serves any request; sign-out deletes it,
//! it expires when idle (`SCIM_ADMIN_SESSION_IDLE_SECS`) and at the latest
//! `SCIM_ADMIN_SESSION_MAX_SECS` after sign-in, and it ends with its key
//! (revoked or expired). Every form carries a CSRF token derived from the
//! session id (HMAC-SHA256(session id, "csrf")); the sign-in form, before
//! there is a session, uses a random double-submit token.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, dev, web};
use chrono::Utc;
use hmac::{Hmac, KeyInit, Mac};
use maud::html;
use rand::RngCore;
use serde::Deserialize;
use sha2::Sha256;
use uuid::Uuid;

use super::error::{WebError, WebResult};
use super::layout::{self, Nav, Section};
use crate::admin_error::AdminError;
use crate::domain::secrets::constant_time_eq;
use crate::http::AppState;
use crate::http::admin::auth::AdminPrincipal;
use crate::store::{admin_keys, admin_sessions};

/// Holds the session id.
const SESSION_COOKIE: &str = "scim_admin_session";
/// Where earlier versions kept the admin key itself: cleared on sign-in
/// and sign-out, never read.
const OLD_KEY_COOKIE: &str = "scim_admin_key";
/// The sign-in form's double-submit token.
const SIGN_IN_COOKIE: &str = "scim_admin_sign_in";

/// The signed-in admin of a page request.
pub struct WebAdmin {
    pub principal: AdminPrincipal,
    /// The clear session id (from the cookie), to end it on sign-out.
    session: String,
    csrf: String,
}

/// How long sessions live, from the settings.
fn lifetime(state: &AppState) -> admin_sessions::Lifetime {
    admin_sessions::Lifetime {
        idle: Duration::from_secs(state.settings.admin_session_idle_secs),
        absolute: Duration::from_secs(state.settings.admin_session_max_secs),
    }
}

impl WebAdmin {
    pub fn org_id(&self) -> Uuid {
        self.principal.org_id()
    }

    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// A page in the signed-in frame.
    pub fn page(&self, section: Section, title: &str, body: maud::Markup) -> HttpResponse {
        let nav = Nav {
            section,
            csrf: &self.csrf,
        };
        layout::render(StatusCode::OK, title, Some(nav), body)
    }

    /// Every POST of a signed-in form presents the token.
    pub fn check_csrf(&self, presented: &str) -> WebResult<()> {
        if presented.is_empty() || !constant_time_eq(&self.csrf, presented) {
            return Err(forbidden_form());
        }
        Ok(())
    }
}

fn forbidden_form() -> WebError {
    WebError::Admin(AdminError::forbidden(
        "invalid_form",
        "this form has expired or did not come from this page; go back, reload and try again",
    ))
}

/// HMAC-SHA256(session id, "csrf"), hex.
pub fn csrf_token(session: &str) -> String {
    match Hmac::<Sha256>::new_from_slice(session.as_bytes()) {
        Ok(mut mac) => {
            mac.update(b"csrf");
            hex::encode(mac.finalize().into_bytes())
        }
        // HMAC takes keys of any length; an empty token never matches.
        Err(_) => String::new(),
    }
}

impl FromRequest for WebAdmin {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let id = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
        Box::pin(async move {
            let state = state.ok_or_else(|| AdminError::internal("no app state"))?;
            let id = id.filter(|k| !k.is_empty()).ok_or(WebError::SignIn)?;
            let now = Utc::now();
            let session = admin_sessions::authenticate(state.store.auth(), &id, now)
                .await?
                .ok_or(WebError::SignIn)?;
            if session.needs_touch(lifetime(&state), now)
                && let Err(e) =
                    admin_sessions::touch(state.store.writer(), &id, lifetime(&state), now).await
            {
                // The page still shows; the idle expiry moves on the next
                // time the writer is free.
                tracing::warn!(error = %e.chain(), "could not mark the admin session as used");
            }
            Ok(WebAdmin {
                principal: AdminPrincipal(session.identity, None),
                csrf: csrf_token(&id),
                session: id,
            })
        })
    }
}

fn https(req: &HttpRequest) -> bool {
    crate::http::forwarded::is_https(req)
}

fn cookie(name: &'static str, value: String, path: &'static str, secure: bool) -> Cookie<'static> {
    Cookie::build(name, value)
        .path(path)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .finish()
}

fn removal(name: &'static str, path: &'static str, secure: bool) -> Cookie<'static> {
    let mut c = cookie(name, String::new(), path, secure);
    c.make_removal();
    c
}

fn sign_in_page(req: &HttpRequest, status: StatusCode, problem: Option<&str>) -> HttpResponse {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    let body = html! {
        section.signin {
            h1 { "Sign in" }
            p {
                "Paste an admin key of your organization. An operator creates one with "
                code { "scim-server admin-key create --org NAME" } "."
            }
            @if let Some(p) = problem { p.error role="alert" { (p) } }
            form method="post" action="/admin/sign-in" {
                (layout::csrf_field(&token))
                label for="key" { "Admin key" }
                input #key type="password" name="key" required autocomplete="off"
                    spellcheck="false" placeholder="scimadm_…";
                button type="submit" { "Sign in" }
            }
        }
    };
    let mut res = layout::render(status, "Sign in", None, body);
    let _ = res.add_cookie(&cookie(SIGN_IN_COOKIE, token, "/admin/sign-in", https(req)));
    res
}

pub async fn sign_in_form(req: HttpRequest) -> HttpResponse {
    sign_in_page(&req, StatusCode::OK, None)
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    csrf: String,
}

/// Checks the key; on success it goes into the cookie and the browser goes
/// to the directories page.
pub async fn sign_in(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<SignInForm>,
) -> WebResult<HttpResponse> {
    let expected = req
        .cookie(SIGN_IN_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(&expected, &form.csrf) {
        return Ok(sign_in_page(
            &req,
            StatusCode::FORBIDDEN,
            Some("The sign-in form expired. Paste the key again."),
        ));
    }
    let key = form.key.trim();
    let identity = if key.is_empty() {
        None
    } else {
        admin_keys::authenticate(state.store.auth(), key).await?
    };
    let Some(identity) = identity else {
        return Ok(sign_in_page(
            &req,
            StatusCode::UNAUTHORIZED,
            Some("That admin key is not valid (revoked, mistyped or not an admin key)."),
        ));
    };
    // Signing in again from a signed-in browser replaces its session.
    if let Some(old) = req.cookie(SESSION_COOKIE).filter(|c| !c.value().is_empty()) {
        admin_sessions::end(state.store.writer(), old.value()).await?;
    }
    let session = admin_sessions::create(
        state.store.writer(),
        identity.key_id,
        lifetime(&state),
        Utc::now(),
    )
    .await?;
    let secure = https(&req);
    let mut res = super::see_other("/admin/directories");
    let _ = res.add_cookie(&cookie(SESSION_COOKIE, session, "/admin", secure));
    let _ = res.add_cookie(&removal(SIGN_IN_COOKIE, "/admin/sign-in", secure));
    let _ = res.add_cookie(&removal(OLD_KEY_COOKIE, "/admin", secure));
    Ok(res)
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// Ends the session server-side: the old cookie, replayed, is refused.
pub async fn sign_out(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: WebAdmin,
    form: web::Form<CsrfForm>,
) -> WebResult<HttpResponse> {
    admin.check_csrf(&form.csrf)?;
    admin_sessions::end(state.store.writer(), &admin.session).await?;
    let secure = https(&req);
    let mut res = super::see_other("/admin/sign-in");
    let _ = res.add_cookie(&removal(SESSION_COOKIE, "/admin", secure));
    let _ = res.add_cookie(&removal(OLD_KEY_COOKIE, "/admin", secure));
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_token_is_the_hmac_of_the_session_id() {
        // Python: hmac.new(b"key", b"csrf", hashlib.sha256).hexdigest()
        assert_eq!(
            csrf_token("key"),
            "b16b91124d187af339b515f5f6046a55a985f32065b63e3ea9e3f0b32f05e336"
        );
        assert_ne!(csrf_token("key"), csrf_token("other key"));
    }
}
