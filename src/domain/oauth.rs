//! OAuth 2.0 client credentials (RFC 6749 §4.4) and the access tokens they
//! obtain: HS256-signed JWTs whose audience is one directory. Pure: the
//! store supplies keys and clients, the HTTP layer the request.
//!
//! Only HS256 is ever signed or accepted. The algorithm list given to the
//! verifier is explicit, so `alg: none`, RS256 headers over an HMAC
//! (algorithm confusion) and the other HMAC widths are all refused.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::secrets;

/// The one algorithm of our access tokens.
pub const ALGORITHM: Algorithm = Algorithm::HS256;
/// How `ALGORITHM` is written in the `signing_keys.algorithm` column and
/// in token headers.
pub const ALGORITHM_NAME: &str = "HS256";
/// The only grant type the token endpoint serves.
pub const CLIENT_CREDENTIALS: &str = "client_credentials";
/// Clock skew tolerated between the server instances sharing the keys.
const LEEWAY_SECS: u64 = 30;
/// HMAC key length: the SHA-256 block size is more than enough; 256 bits
/// is what RFC 7518 §3.2 asks for at least.
const KEY_BYTES: usize = 32;

/// A new client id: public, but unguessable all the same.
pub fn new_client_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    format!("scimc_{}", hex::encode(bytes))
}

/// A new client secret (256 bits); only its hash is stored.
pub fn new_client_secret() -> String {
    secrets::new_token("scimcs")
}

/// An HMAC key of `signing_keys`. The secret never shows in `Debug`.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    secret: Vec<u8>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("secret", &"***")
            .finish()
    }
}

impl SigningKey {
    /// A fresh random key. Its kid is a UUIDv7, so kids sort by age.
    pub fn generate() -> Self {
        let mut secret = vec![0u8; KEY_BYTES];
        rand::rng().fill_bytes(&mut secret);
        Self {
            kid: Uuid::now_v7().simple().to_string(),
            secret,
        }
    }

    /// A key as stored (`secret` in hex). `None` for another algorithm or
    /// a damaged row: such a key verifies nothing.
    pub fn from_stored(kid: &str, algorithm: &str, secret_hex: &str) -> Option<Self> {
        if algorithm != ALGORITHM_NAME {
            return None;
        }
        let secret = hex::decode(secret_hex).ok()?;
        (secret.len() >= KEY_BYTES).then(|| Self {
            kid: kid.to_owned(),
            secret,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The secret as the `signing_keys.secret` column holds it.
    pub fn stored_secret(&self) -> String {
        hex::encode(&self.secret)
    }
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// The directory id.
    pub aud: String,
    /// The client id.
    pub sub: String,
    pub exp: u64,
    pub iat: u64,
    pub jti: String,
    /// The client's secret version when the token was issued: a rotation
    /// bumps it and so invalidates the tokens of the old secret.
    pub ver: i32,
}

impl AccessClaims {
    pub fn new(
        issuer: &str,
        directory_id: Uuid,
        client_id: &str,
        secret_version: i32,
        now: u64,
        ttl_secs: u64,
    ) -> Self {
        Self {
            iss: issuer.to_owned(),
            aud: directory_id.to_string(),
            sub: client_id.to_owned(),
            exp: now.saturating_add(ttl_secs),
            iat: now,
            jti: Uuid::new_v4().to_string(),
            ver: secret_version,
        }
    }

    /// The directory the token is meant for, when `aud` names one.
    pub fn directory_id(&self) -> Option<Uuid> {
        Uuid::parse_str(&self.aud).ok()
    }
}

/// Seconds since the epoch, as JWTs count.
pub fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// Signs `claims` with `key` (HS256, `kid` in the header).
pub fn issue(key: &SigningKey, claims: &AccessClaims) -> Result<String, String> {
    let mut header = Header::new(ALGORITHM);
    header.kid = Some(key.kid.clone());
    let secret = EncodingKey::from_secret(&key.secret).map_err(|e| e.to_string())?;
    jsonwebtoken::encode(&header, claims, &secret).map_err(|e| e.to_string())
}

/// Why a presented access token is refused. The message is what the
/// client reads in `detail`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token is malformed")]
    Malformed,
    #[error("the access token's algorithm is not accepted (only HS256 is)")]
    Algorithm,
    #[error("the access token names no signing key (kid)")]
    MissingKid,
    #[error("the access token's signing key is unknown or retired")]
    UnknownKey,
    #[error("the access token's signature is invalid")]
    Signature,
    #[error("the access token has expired")]
    Expired,
    #[error("the access token was not issued by this server")]
    Issuer,
    #[error("the access token lacks a required claim or has an invalid one")]
    Claims,
    #[error("the access token's audience is not the directory of its client")]
    Audience,
    #[error("the access token's client is revoked or its secret was rotated")]
    Client,
}

/// Whether a bearer token has the shape of a JWS compact serialization
/// (three base64url parts; the last may be empty, as with `alg: none`).
pub fn looks_like_jwt(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    let b64url = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    parts.len() == 3
        && !parts[0].is_empty()
        && !parts[1].is_empty()
        && parts.iter().all(|p| b64url(p))
}

/// The `kid` of a token's header, read before any key is looked up. The
/// header must say HS256; anything else is refused here already.
pub fn header_kid(token: &str) -> Result<String, TokenError> {
    let first = token.split('.').next().ok_or(TokenError::Malformed)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(first)
        .map_err(|_| TokenError::Malformed)?;
    let header: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)?;
    if header.get("alg").and_then(serde_json::Value::as_str) != Some(ALGORITHM_NAME) {
        return Err(TokenError::Algorithm);
    }
    header
        .get("kid")
        .and_then(serde_json::Value::as_str)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .ok_or(TokenError::MissingKid)
}

/// Verifies signature, algorithm, expiry and issuer, and that every claim
/// we rely on is there. The audience is left to the caller, who compares
/// it with the directory of the client (`sub`): a token whose audience is
/// another valid directory must answer 404, not 401.
pub fn verify(token: &str, key: &SigningKey, issuer: &str) -> Result<AccessClaims, TokenError> {
    use jsonwebtoken::errors::ErrorKind;

    let mut validation = Validation::new(ALGORITHM);
    validation.algorithms = vec![ALGORITHM];
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.set_issuer(&[issuer]);
    validation.leeway = LEEWAY_SECS;
    validation.validate_exp = true;
    validation.validate_aud = false;
    // A key with an empty secret is refused by the library; ours are
    // generated (never empty), so this is a key we can't verify with.
    let secret = DecodingKey::from_secret(&key.secret).map_err(|_| TokenError::UnknownKey)?;
    let data = jsonwebtoken::decode::<AccessClaims>(token, &secret, &validation).map_err(|e| {
        match e.kind() {
            ErrorKind::InvalidSignature => TokenError::Signature,
            ErrorKind::ExpiredSignature => TokenError::Expired,
            ErrorKind::InvalidIssuer => TokenError::Issuer,
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => TokenError::Algorithm,
            ErrorKind::MissingRequiredClaim(_) | ErrorKind::InvalidClaimFormat(_) => {
                TokenError::Claims
            }
            ErrorKind::Json(_) => TokenError::Claims,
            _ => TokenError::Malformed,
        }
    })?;
    if data.header.kid.as_deref() != Some(key.kid()) {
        return Err(TokenError::UnknownKey);
    }
    if data.claims.iat > now().saturating_add(LEEWAY_SECS) {
        return Err(TokenError::Claims);
    }
    Ok(data.claims)
}

/// RFC 6749 §5.2 error codes the token endpoint answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidClient,
    UnsupportedGrantType,
}

impl OAuthErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
        }
    }
}

/// A refused token request: the code and a description for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: OAuthErrorCode,
    pub description: String,
}

impl OAuthError {
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self {
            code: OAuthErrorCode::InvalidRequest,
            description: description.into(),
        }
    }
    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self {
            code: OAuthErrorCode::InvalidClient,
            description: description.into(),
        }
    }
    pub fn unsupported_grant_type(description: impl Into<String>) -> Self {
        Self {
            code: OAuthErrorCode::UnsupportedGrantType,
            description: description.into(),
        }
    }
}

/// A client id and secret as presented.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: String,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .finish()
    }
}

/// Reads a token request: the form parameters and, when the request had
/// an HTTP Basic header, its credentials. Returns the client to
/// authenticate.
pub fn parse_token_request(
    params: &[(String, String)],
    basic: Option<ClientCredentials>,
) -> Result<ClientCredentials, OAuthError> {
    // RFC 6749 §3.2: parameters must not be repeated.
    for (i, (name, _)) in params.iter().enumerate() {
        if params[..i].iter().any(|(n, _)| n == name) {
            return Err(OAuthError::invalid_request(format!(
                "the parameter {name:?} is repeated"
            )));
        }
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    match get("grant_type") {
        None => return Err(OAuthError::invalid_request("grant_type is required")),
        Some(CLIENT_CREDENTIALS) => {}
        Some(other) => {
            return Err(OAuthError::unsupported_grant_type(format!(
                "grant_type {other:?} is not supported; use client_credentials"
            )));
        }
    }
    let form_id = get("client_id");
    let form_secret = get("client_secret");
    match (basic, form_id, form_secret) {
        (Some(_), _, Some(_)) => Err(OAuthError::invalid_request(
            "use one client authentication method: HTTP Basic or client_secret, not both",
        )),
        (Some(b), Some(id), None) if id != b.client_id => Err(OAuthError::invalid_request(
            "client_id differs from the client of the Authorization header",
        )),
        (Some(b), _, None) => Ok(b),
        (None, Some(id), Some(secret)) => Ok(ClientCredentials {
            client_id: id.to_owned(),
            client_secret: secret.to_owned(),
        }),
        (None, _, _) => Err(OAuthError::invalid_client(
            "client authentication is required (HTTP Basic, or client_id and client_secret)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(key_issuer: &str, exp_offset: i64) -> AccessClaims {
        let now = now();
        let mut c = AccessClaims::new(key_issuer, Uuid::now_v7(), "scimc_x", 1, now, 3600);
        c.exp = now.saturating_add_signed(exp_offset);
        c
    }

    #[test]
    fn a_token_round_trips_through_issue_and_verify() {
        let key = SigningKey::generate();
        let c = claims("https://scim.example", 600);
        let token = issue(&key, &c).unwrap();
        assert!(looks_like_jwt(&token));
        assert_eq!(header_kid(&token).unwrap(), key.kid());
        assert_eq!(verify(&token, &key, "https://scim.example").unwrap(), c);
        assert!(c.directory_id().is_some());
    }

    /// A token made without jsonwebtoken (HMAC-SHA256 by hand, outside
    /// Rust) verifies: tokens issued before a library upgrade stay valid.
    #[test]
    fn a_token_signed_elsewhere_with_our_key_verifies() {
        let key = SigningKey::from_stored(
            "kat",
            "HS256",
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        )
        .unwrap();
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImthdCJ9.\
            eyJpc3MiOiJodHRwczovL3NjaW0uZXhhbXBsZSIsImF1ZCI6IjAxOTBhNWIwLTAwMDAtNzAwMC04MDAwLTAwMDAwMDAwMDAwMSIsInN1YiI6InNjaW1jX2thdCIsImV4cCI6NDEwMjQ0NDgwMCwiaWF0IjoxNzAwMDAwMDAwLCJqdGkiOiJrYXQtMSIsInZlciI6M30.\
            -CGtmE_H_Wf7_UVdncRFeIb7cap7lp-ovBaAvRET7sw";
        let claims = verify(token, &key, "https://scim.example").unwrap();
        assert_eq!(
            claims,
            AccessClaims {
                iss: "https://scim.example".into(),
                aud: "0190a5b0-0000-7000-8000-000000000001".into(),
                sub: "scimc_kat".into(),
                exp: 4_102_444_800,
                iat: 1_700_000_000,
                jti: "kat-1".into(),
                ver: 3,
            }
        );
        let tampered = token.replace("-CGtm", "-CGtn");
        assert_eq!(
            verify(&tampered, &key, "https://scim.example"),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn stored_keys_load_back() {
        let key = SigningKey::generate();
        let back = SigningKey::from_stored(key.kid(), "HS256", &key.stored_secret()).unwrap();
        let token = issue(&key, &claims("i", 600)).unwrap();
        assert!(verify(&token, &back, "i").is_ok());
        assert!(SigningKey::from_stored(key.kid(), "RS256", &key.stored_secret()).is_none());
        assert!(SigningKey::from_stored(key.kid(), "HS256", "abcd").is_none());
        assert!(!format!("{key:?}").contains(&key.stored_secret()));
    }

    #[test]
    fn expired_foreign_and_tampered_tokens_are_refused() {
        let key = SigningKey::generate();
        let expired = issue(&key, &claims("i", -3600)).unwrap();
        assert_eq!(verify(&expired, &key, "i"), Err(TokenError::Expired));
        let good = issue(&key, &claims("i", 600)).unwrap();
        assert_eq!(verify(&good, &key, "other"), Err(TokenError::Issuer));
        let other = SigningKey::generate();
        let forged = issue(&other, &claims("i", 600)).unwrap();
        // Same kid, another secret: the signature does not hold.
        let forged_key = SigningKey {
            kid: other.kid.clone(),
            secret: key.secret.clone(),
        };
        assert_eq!(
            verify(&forged, &forged_key, "i"),
            Err(TokenError::Signature)
        );
        let mut tampered = good.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(verify(&tampered, &key, "i").is_err());
    }

    #[test]
    fn only_hs256_headers_with_a_kid_pass() {
        let enc = |h: &str| URL_SAFE_NO_PAD.encode(h);
        let none = format!("{}.{}.", enc(r#"{"alg":"none","kid":"k"}"#), enc("{}"));
        assert!(looks_like_jwt(&none));
        assert_eq!(header_kid(&none), Err(TokenError::Algorithm));
        let rs = format!("{}.{}.sig", enc(r#"{"alg":"RS256","kid":"k"}"#), enc("{}"));
        assert_eq!(header_kid(&rs), Err(TokenError::Algorithm));
        let hs512 = format!("{}.{}.sig", enc(r#"{"alg":"HS512","kid":"k"}"#), enc("{}"));
        assert_eq!(header_kid(&hs512), Err(TokenError::Algorithm));
        let no_kid = format!("{}.{}.sig", enc(r#"{"alg":"HS256"}"#), enc("{}"));
        assert_eq!(header_kid(&no_kid), Err(TokenError::MissingKid));
        assert_eq!(header_kid("%%.x.y"), Err(TokenError::Malformed));
        assert!(!looks_like_jwt("scim_0123abcd"));
        assert!(!looks_like_jwt("a.b"));
    }

    #[test]
    fn an_hs512_token_signed_with_our_key_is_refused() {
        let key = SigningKey::generate();
        let mut header = Header::new(Algorithm::HS512);
        header.kid = Some(key.kid.clone());
        let token = jsonwebtoken::encode(
            &header,
            &claims("i", 600),
            &EncodingKey::from_secret(&key.secret).unwrap(),
        )
        .unwrap();
        assert_eq!(verify(&token, &key, "i"), Err(TokenError::Algorithm));
    }

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    fn creds(id: &str, secret: &str) -> ClientCredentials {
        ClientCredentials {
            client_id: id.into(),
            client_secret: secret.into(),
        }
    }

    #[test]
    fn token_requests_take_basic_or_form_credentials() {
        let form = p(&[
            ("grant_type", "client_credentials"),
            ("client_id", "c"),
            ("client_secret", "s"),
        ]);
        assert_eq!(parse_token_request(&form, None), Ok(creds("c", "s")));
        let basic_only = p(&[("grant_type", "client_credentials")]);
        assert_eq!(
            parse_token_request(&basic_only, Some(creds("c", "s"))),
            Ok(creds("c", "s"))
        );
        let code = |r: Result<ClientCredentials, OAuthError>| r.unwrap_err().code;
        assert_eq!(
            code(parse_token_request(&form, Some(creds("c", "s")))),
            OAuthErrorCode::InvalidRequest
        );
        assert_eq!(
            code(parse_token_request(&basic_only, None)),
            OAuthErrorCode::InvalidClient
        );
        assert_eq!(
            code(parse_token_request(
                &p(&[("grant_type", "password"), ("client_id", "c")]),
                None
            )),
            OAuthErrorCode::UnsupportedGrantType
        );
        assert_eq!(
            code(parse_token_request(&p(&[("client_id", "c")]), None)),
            OAuthErrorCode::InvalidRequest
        );
        assert_eq!(
            code(parse_token_request(
                &p(&[
                    ("grant_type", "client_credentials"),
                    ("grant_type", "client_credentials")
                ]),
                Some(creds("c", "s"))
            )),
            OAuthErrorCode::InvalidRequest
        );
    }
}
