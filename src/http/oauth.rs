//! `POST /oauth/token`: the client credentials grant (RFC 6749 §4.4).
//! Clients authenticate with HTTP Basic or with `client_id` and
//! `client_secret` form fields. Errors are RFC 6749 §5.2 bodies, not SCIM
//! ones; successes and errors alike are never cached.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::StreamExt;
use serde_json::json;

use crate::domain::error::DomainError;
use crate::domain::oauth::{self, AccessClaims, ClientCredentials, OAuthError, OAuthErrorCode};
use crate::error::ScimError;
use crate::http::AppState;
use crate::store::oauth as oauth_store;

/// A token request is a few short fields.
const MAX_FORM_BYTES: usize = 16 * 1024;
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// What the token endpoint answers when it does not issue a token.
#[derive(Debug, thiserror::Error)]
pub enum TokenEndpointError {
    #[error("{0}")]
    OAuth(#[from] OAuthError),
    /// The database failed; the cause goes to the log only.
    #[error("{0}")]
    Server(#[from] ScimError),
}

fn no_store(res: &mut actix_web::HttpResponseBuilder) {
    res.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
}

impl From<DomainError> for TokenEndpointError {
    fn from(e: DomainError) -> Self {
        Self::Server(e.into())
    }
}

impl ResponseError for TokenEndpointError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::OAuth(e) if e.code == OAuthErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            Self::OAuth(_) => StatusCode::BAD_REQUEST,
            Self::Server(ScimError::Unavailable { .. }) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Server(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        no_store(&mut res);
        let body = match self {
            Self::OAuth(e) => {
                if e.code == OAuthErrorCode::InvalidClient {
                    res.insert_header((
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"scim-oauth\""),
                    ));
                }
                json!({"error": e.code.as_str(), "error_description": e.description})
            }
            Self::Server(e) => {
                if let ScimError::Unavailable { cause } = e {
                    tracing::warn!(%cause, "database busy");
                    res.insert_header((header::RETRY_AFTER, "1"));
                    json!({"error": "temporarily_unavailable"})
                } else {
                    tracing::error!(cause = %e, "token request failed");
                    json!({"error": "server_error"})
                }
            }
        };
        res.json(body)
    }
}

/// Decodes `application/x-www-form-urlencoded` escapes (`+`, `%XX`) of a
/// Basic user name or password (RFC 6749 §2.3.1). Bad escapes stay as
/// they are.
fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(b) = hex {
                    out.push(b);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The credentials of an `Authorization: Basic` header, if there is one.
fn basic_credentials(req: &HttpRequest) -> Result<Option<ClientCredentials>, OAuthError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || OAuthError::invalid_client("the Authorization header is not valid HTTP Basic");
    let value = value.to_str().map_err(|_| bad())?;
    let (scheme, encoded) = value.trim().split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client(
            "the token endpoint takes HTTP Basic client authentication only",
        ));
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    Ok(Some(ClientCredentials {
        client_id: form_decode(id),
        client_secret: form_decode(secret),
    }))
}

/// The form parameters of the body (at most `MAX_FORM_BYTES`).
async fn read_form(
    req: &HttpRequest,
    payload: &mut web::Payload,
) -> Result<Vec<(String, String)>, OAuthError> {
    if !req.content_type().eq_ignore_ascii_case(FORM_CONTENT_TYPE) {
        return Err(OAuthError::invalid_request(format!(
            "the body must be {FORM_CONTENT_TYPE}"
        )));
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| OAuthError::invalid_request("the body could not be read"))?;
        if body.len() + chunk.len() > MAX_FORM_BYTES {
            return Err(OAuthError::invalid_request(format!(
                "the body is larger than {MAX_FORM_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(form_urlencoded::parse(&body).into_owned().collect())
}

pub async fn token(
    state: web::Data<AppState>,
    req: HttpRequest,
    mut payload: web::Payload,
) -> Result<HttpResponse, TokenEndpointError> {
    let form = read_form(&req, &mut payload).await?;
    let creds = oauth::parse_token_request(&form, basic_credentials(&req)?)?;
    let client = oauth_store::authenticate_client(state.store.reader(), &creds)
        .await?
        .ok_or_else(|| OAuthError::invalid_client("unknown client or wrong client secret"))?;
    let key = oauth_store::current_signing_key(&state.store).await?;
    let ttl = state.settings.oauth_token_ttl_secs;
    let claims = AccessClaims::new(
        &state.settings.oauth_issuer(),
        client.directory_id,
        &client.client_id,
        client.secret_version,
        oauth::now(),
        ttl,
    );
    let access_token = oauth::issue(&key, &claims).map_err(ScimError::internal)?;
    tracing::info!(client_id = %client.client_id, directory_id = %client.directory_id, kid = key.kid(), "access token issued");
    let mut res = HttpResponse::Ok();
    no_store(&mut res);
    Ok(res.json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": ttl,
    })))
}

/// Anything but POST on the token endpoint.
pub async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    let mut res = HttpResponse::MethodNotAllowed();
    no_store(&mut res);
    res.insert_header((header::ALLOW, Method::POST.as_str()))
        .json(json!({
            "error": "invalid_request",
            "error_description": format!("{} is not allowed; the token endpoint takes POST", req.method()),
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_user_and_password_are_form_decoded() {
        assert_eq!(form_decode("a%3Ab+c%"), "a:b c%");
        assert_eq!(form_decode("scimc_01ab"), "scimc_01ab");
        assert_eq!(form_decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn oauth_errors_render_as_rfc_6749() {
        let e = TokenEndpointError::from(OAuthError::invalid_client("nope"));
        let res = e.error_response();
        assert_eq!(res.status(), 401);
        assert_eq!(
            res.headers().get(header::WWW_AUTHENTICATE).unwrap(),
            "Basic realm=\"scim-oauth\""
        );
        assert_eq!(
            res.headers().get(header::CACHE_CONTROL).unwrap(),
            "no-store"
        );
        let e = TokenEndpointError::from(OAuthError::unsupported_grant_type("x"));
        assert_eq!(e.error_response().status(), 400);
        let e = TokenEndpointError::from(ScimError::Unavailable {
            cause: "database is locked".into(),
        });
        let res = e.error_response();
        assert_eq!(res.status(), 503);
        assert_eq!(res.headers().get(header::RETRY_AFTER).unwrap(), "1");
    }
}
