//! The webhook delivery worker: claims an endpoint that is due, posts the
//! next event past its cursor, signed (Standard Webhooks), and moves the
//! cursor on a 2xx; otherwise retries with exponential backoff and jitter
//! and disables the endpoint once it has been failing for 24 hours.
//! At least once and in order per endpoint. Targets are resolved and
//! checked before each call (no private, loopback or link-local address
//! unless `SCIM_WEBHOOK_ALLOW_INSECURE=1`); no redirects are followed;
//! connect and total timeouts bound each call.

use std::net::SocketAddr;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use rand::Rng;

use crate::domain::webhook::{WebhookSecret, ip_allowed};
use crate::error::ScimResult;
use crate::store::events::{self, EventType};
use crate::store::webhooks::{self, AfterFailure, Outcome};
use crate::store::{Store, db_error};

/// How long an endpoint may keep failing before it is disabled.
pub const GIVE_UP_AFTER_HOURS: i64 = 24;

/// Posts signed deliveries.
#[derive(Debug, Clone)]
pub struct Deliverer {
    /// Private, loopback and link-local targets allowed (tests).
    pub allow_private: bool,
    pub connect_timeout: StdDuration,
    pub total_timeout: StdDuration,
}

impl Deliverer {
    pub fn new(allow_private: bool) -> Self {
        Self {
            allow_private,
            connect_timeout: StdDuration::from_secs(5),
            total_timeout: StdDuration::from_secs(10),
        }
    }

    /// Resolves the target, refuses disallowed addresses, posts `body`.
    pub async fn post(&self, url: &str, headers: &[(&str, String)], body: Vec<u8>) -> Outcome {
        match self.try_post(url, headers, body).await {
            Ok(status) => Outcome {
                status_code: Some(status),
                error: (!(200..300).contains(&status)).then(|| format!("HTTP {status}")),
            },
            Err(e) => Outcome {
                status_code: None,
                error: Some(e),
            },
        }
    }

    async fn try_post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<u16, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("bad url: {e}"))?;
        let host = parsed.host_str().ok_or("the url has no host")?.to_owned();
        let port = parsed
            .port_or_known_default()
            .ok_or("the url has no port")?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = match bare.parse() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((bare, port))
                .await
                .map_err(|e| format!("cannot resolve {host}: {e}"))?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(format!("{host} has no address"));
        }
        if let Some(bad) = addrs
            .iter()
            .find(|a| !ip_allowed(a.ip(), self.allow_private))
        {
            return Err(format!(
                "{host} resolves to {}, a private, loopback or link-local address",
                bad.ip()
            ));
        }
        // Connect to the address just checked (no second lookup that could
        // answer differently).
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.connect_timeout)
            .timeout(self.total_timeout)
            .user_agent("scim-server-webhooks");
        if bare.parse::<std::net::IpAddr>().is_err() {
            builder = builder.resolve_to_addrs(bare, &addrs);
        }
        let client = builder.build().map_err(|e| e.to_string())?;
        let mut req = client
            .post(parsed)
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let res = req.send().await.map_err(|e| {
            if e.is_timeout() {
                "timed out".to_owned()
            } else if e.is_connect() {
                "could not connect".to_owned()
            } else {
                e.to_string()
            }
        })?;
        Ok(res.status().as_u16())
    }
}

/// Delay before retry number `attempts` (1, 2, …): 5 s doubling up to an
/// hour, times a jitter factor in [0.8, 1.2).
pub fn backoff(attempts: i32, jitter: f64) -> Duration {
    let exp = attempts.clamp(1, 20) - 1;
    let base = (5_i64 << exp).min(3600);
    let ms = (base as f64 * 1000.0 * (0.8 + 0.4 * jitter.clamp(0.0, 1.0))) as i64;
    Duration::milliseconds(ms)
}

/// After a failed attempt: retry later, or disable once the endpoint has
/// been failing for [`GIVE_UP_AFTER_HOURS`].
pub fn after_failure(
    failing_since: Option<DateTime<Utc>>,
    attempts_before: i32,
    now: DateTime<Utc>,
    error: &str,
    jitter: f64,
) -> AfterFailure {
    let since = failing_since.unwrap_or(now);
    if now - since >= Duration::hours(GIVE_UP_AFTER_HOURS) {
        AfterFailure::Disable(format!(
            "failing since {}; last error: {error}",
            since.to_rfc3339()
        ))
    } else {
        AfterFailure::RetryAt(now + backoff(attempts_before + 1, jitter))
    }
}

/// One delivery (or cursor move past unwanted events), at time `now`.
/// Returns whether there was anything to do.
pub async fn deliver_once(
    store: &Store,
    deliverer: &Deliverer,
    now: DateTime<Utc>,
) -> ScimResult<bool> {
    let Some(ep) = webhooks::claim(store, now).await? else {
        return Ok(false);
    };
    let types: Vec<EventType> = ep
        .types
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .filter_map(|t| EventType::parse(t.trim()))
        .collect();
    let Some(ev) = webhooks::next_event(store.writer(), &ep, &types).await? else {
        return Ok(true);
    };
    let body = events::to_json(&ev).to_string().into_bytes();
    let msg_id = events::to_json(&ev)["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let outcome = match WebhookSecret::parse(&ep.secret) {
        Ok(secret) => {
            let ts = now.timestamp();
            let signature = secret.sign(&msg_id, ts, &body);
            let headers = [
                ("webhook-id", msg_id.clone()),
                ("webhook-timestamp", ts.to_string()),
                ("webhook-signature", signature),
            ];
            deliverer.post(&ep.url, &headers, body).await
        }
        Err(e) => Outcome {
            status_code: None,
            error: Some(format!("stored secret unusable: {e}")),
        },
    };
    let next = (!outcome.success()).then(|| {
        let error = outcome.error.clone().unwrap_or_default();
        after_failure(
            ep.failing_since,
            ep.attempts,
            now,
            &error,
            rand::rng().random::<f64>(),
        )
    });
    let tx = store.begin().await?;
    webhooks::finish(&tx, &ep, &ev, &outcome, now, next).await?;
    tx.commit().await.map_err(db_error)?;
    Ok(true)
}

/// The server's worker: delivers while there is work, then sleeps `poll`.
pub async fn worker(store: Store, deliverer: Deliverer, poll: StdDuration) {
    loop {
        match deliver_once(&store, &deliverer, Utc::now()).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "webhook delivery failed; retrying"),
        }
        tokio::time::sleep(poll).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        assert_eq!(backoff(1, 0.5), Duration::seconds(5));
        assert_eq!(backoff(2, 0.5), Duration::seconds(10));
        assert_eq!(backoff(3, 0.0), Duration::seconds(16));
        assert_eq!(backoff(30, 0.5), Duration::seconds(3600));
        assert!(backoff(4, 0.99) < Duration::seconds(48));
    }

    #[test]
    fn an_endpoint_failing_for_a_day_is_disabled() {
        let now = Utc::now();
        assert_eq!(
            after_failure(None, 0, now, "HTTP 500", 0.5),
            AfterFailure::RetryAt(now + Duration::seconds(5))
        );
        let since = now - Duration::hours(23);
        assert!(matches!(
            after_failure(Some(since), 12, now, "HTTP 500", 0.5),
            AfterFailure::RetryAt(_)
        ));
        let since = now - Duration::hours(24);
        match after_failure(Some(since), 13, now, "HTTP 500", 0.5) {
            AfterFailure::Disable(reason) => assert!(reason.contains("HTTP 500"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
}
