//! The scheme and host a client sees. `Forwarded` / `X-Forwarded-Proto` /
//! `X-Forwarded-Host` decide `meta.location` and the cookie's `Secure`
//! flag, so they are honoured only from `SCIM_TRUSTED_PROXIES`; from
//! anyone else the request's own scheme (the listener's) and `Host` are
//! used.

use actix_web::http::header;
use actix_web::{HttpRequest, web};

use crate::http::AppState;

/// Whether the connection's peer is a trusted proxy.
fn from_trusted_proxy(state: &AppState, req: &HttpRequest) -> bool {
    let proxies = &state.settings.trusted_proxies;
    !proxies.is_empty()
        && req
            .peer_addr()
            .is_some_and(|peer| proxies.iter().any(|net| net.contains(&peer.ip())))
}

/// (scheme, host) of this request as its client sent it.
pub fn scheme_and_host(req: &HttpRequest) -> (String, String) {
    let trusted = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|state| from_trusted_proxy(state, req));
    if trusted {
        let info = req.connection_info();
        return (info.scheme().to_owned(), info.host().to_owned());
    }
    let config = req.app_config();
    let scheme = if config.secure() { "https" } else { "http" };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or_else(|| config.host());
    (scheme.to_owned(), host.to_owned())
}

/// Whether the client's request came over https (directly, or to a
/// trusted proxy that says so).
pub fn is_https(req: &HttpRequest) -> bool {
    scheme_and_host(req).0 == "https"
}
