//! Webhooks, the pure part: Standard Webhooks signing (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`), the
//! endpoint secret, and which targets the server may call (https only;
//! no private, loopback or link-local address: an admin must not be able
//! to make the server probe its own network).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Prefix of an endpoint secret (the Standard Webhooks convention).
pub const SECRET_PREFIX: &str = "whsec_";

/// An endpoint's signing secret: `whsec_` + base64 of the key bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

impl WebhookSecret {
    /// A new random secret (32 bytes).
    pub fn generate() -> Self {
        use rand::RngCore;
        let mut key = vec![0u8; 32];
        rand::rng().fill_bytes(&mut key);
        Self(key)
    }

    /// Parses `whsec_<base64>` (the prefix may be left out).
    pub fn parse(s: &str) -> Result<Self, String> {
        let b64 = s.strip_prefix(SECRET_PREFIX).unwrap_or(s);
        let key = STANDARD
            .decode(b64)
            .map_err(|_| "a webhook secret is whsec_ followed by base64".to_owned())?;
        if key.len() < 24 || key.len() > 64 {
            return Err("a webhook secret has 24 to 64 bytes".to_owned());
        }
        Ok(Self(key))
    }

    /// The secret as the receiver configures it.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// `v1,<base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))>`.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC takes a key of any length: this cannot fail.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(m) => m,
            Err(_) => return String::new(),
        };
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// Whether a target may be called at `ip`: public unicast only, unless
/// `allow_private` (tests, `SCIM_WEBHOOK_ALLOW_INSECURE=1`).
pub fn ip_allowed(ip: IpAddr, allow_private: bool) -> bool {
    allow_private || is_public(ip)
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => public_v4(v4),
            None => public_v6(v6),
        },
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // Carrier-grade NAT 100.64/10, benchmarking 198.18/15, reserved 240/4.
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // Unique local fc00::/7, link-local fe80::/10, documentation 2001:db8::/32.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first == 0x2001 && ip.segments()[1] == 0x0db8))
}

/// A webhook target URL: `https://host[:port]/path`, no credentials, no
/// fragment; `http://` only to a loopback host when `allow_insecure`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    pub fn parse(s: &str, allow_insecure: bool) -> Result<Self, String> {
        let u = url::Url::parse(s.trim()).map_err(|e| format!("url {s:?} is not a URL: {e}"))?;
        let host = u
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("url {s:?} has no host"))?;
        if !u.username().is_empty() || u.password().is_some() {
            return Err("url must not carry credentials".to_owned());
        }
        if u.fragment().is_some() {
            return Err("url must not have a fragment".to_owned());
        }
        match u.scheme() {
            "https" => {}
            "http" if allow_insecure && is_loopback_host(host) => {}
            "http" => {
                return Err(
                    "url must be https (http only to a loopback host with SCIM_WEBHOOK_ALLOW_INSECURE=1)"
                        .to_owned(),
                );
            }
            other => return Err(format!("url scheme {other:?} is not https")),
        }
        if let Some(ip) = literal_ip(host)
            && !ip_allowed(ip, allow_insecure)
        {
            return Err(format!(
                "url points at {ip}, a private, loopback or link-local address"
            ));
        }
        Ok(Self(u.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn literal_ip(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || literal_ip(host).is_some_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_standard_webhooks_reference_implementation() {
        let secret = WebhookSecret::generate();
        let reference = standardwebhooks::Webhook::new(&secret.expose()).unwrap();
        for (id, ts, body) in [
            ("evt_1", 1_614_265_330_i64, r#"{"test": 2432232314}"#),
            ("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_700_000_000, "{}"),
            ("evt_ü", 0, "plain text, ünicode"),
        ] {
            assert_eq!(
                secret.sign(id, ts, body.as_bytes()),
                reference.sign(id, ts, body.as_bytes()).unwrap()
            );
        }
    }

    #[test]
    fn secrets_round_trip_and_hide_in_debug() {
        let s = WebhookSecret::generate();
        assert!(s.expose().starts_with("whsec_"));
        assert_eq!(WebhookSecret::parse(&s.expose()).unwrap(), s);
        assert_eq!(format!("{s:?}"), "WebhookSecret(***)");
        assert!(WebhookSecret::parse("whsec_short").is_err());
        assert!(WebhookSecret::parse("whsec_!!!").is_err());
    }

    #[test]
    fn only_public_addresses_are_called() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "224.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(!ip_allowed(ip, false), "{ip}");
            assert!(ip_allowed(ip, true), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"] {
            assert!(ip_allowed(ip.parse().unwrap(), false), "{ip}");
        }
    }

    #[test]
    fn targets_are_https_without_credentials_or_private_literals() {
        assert!(WebhookUrl::parse("https://hooks.example.com/scim", false).is_ok());
        for bad in [
            "http://hooks.example.com/scim",
            "ftp://hooks.example.com/",
            "https://user:pw@hooks.example.com/",
            "https://hooks.example.com/#x",
            "https://127.0.0.1/hook",
            "https://[::1]/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.5/",
            "not a url",
        ] {
            assert!(WebhookUrl::parse(bad, false).is_err(), "{bad}");
        }
        assert!(WebhookUrl::parse("http://127.0.0.1:8081/hook", true).is_ok());
        assert!(WebhookUrl::parse("http://localhost:8081/hook", true).is_ok());
        assert!(
            WebhookUrl::parse("http://hooks.example.com/", true).is_err(),
            "http only to loopback"
        );
    }
}
