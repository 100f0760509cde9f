//! The webhook delivery worker: claims an endpoint that is due, posts the
//! events past its cursor one by one, signed (Standard Webhooks), and
//! moves the cursor past each 2xx (committed in groups); otherwise retries
//! with exponential backoff and jitter and disables the endpoint once it
//! has been failing for 24 hours.
//! At least once and in order per endpoint. Targets are resolved and
//! checked before each call (no private, loopback or link-local address
//! unless `SCIM_WEBHOOK_ALLOW_INSECURE=1`); no redirects are followed;
//! connect and total timeouts bound each call.

use std::net::SocketAddr;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use rand::Rng;

use crate::domain::webhook::{WebhookSecret, ip_allowed};
use crate::error::{ScimError, ScimResult};
use crate::store::events::EventType;
use crate::store::webhooks::{self, AfterFailure, Attempt, Outcome, Standing};
use crate::store::{Store, db_error};

/// How long an endpoint may keep failing before it is disabled.
pub const GIVE_UP_AFTER_HOURS: i64 = 24;

/// Posts signed deliveries through one HTTP client shared by every
/// delivery of the process (its connection pool keeps connections to an
/// endpoint open between deliveries). The SSRF guard sits in the client's
/// resolver ([`CheckedResolver`]): a host name is resolved once, every
/// address is checked, and the client connects only to the addresses the
/// check passed, so there is no second lookup that could answer
/// differently; a pooled connection was checked when it was opened. IP
/// literals (which no resolver sees) are checked before the call.
#[derive(Debug, Clone)]
pub struct Deliverer {
    /// Private, loopback and link-local targets allowed (tests).
    allow_private: bool,
    client: reqwest::Client,
    /// How long a claim holds an endpoint.
    lease: Duration,
}

/// The resolver of the delivery client: refuses a host any of whose
/// addresses is private, loopback or link-local (unless allowed).
#[derive(Debug)]
struct CheckedResolver {
    allow_private: bool,
}

/// A target refused by the SSRF guard (found again in the error chain to
/// tell the admin why).
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            // The connector sets the URL's port on each address.
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| Refused(format!("cannot resolve {host}: {e}")))?
                .collect();
            if addrs.is_empty() {
                return Err(Refused(format!("{host} has no address")).into());
            }
            if let Some(bad) = addrs.iter().find(|a| !ip_allowed(a.ip(), allow_private)) {
                return Err(Refused(refused(&host, bad.ip())).into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

fn refused(host: &str, ip: std::net::IpAddr) -> String {
    format!("{host} resolves to {ip}, a private, loopback or link-local address")
}

impl Deliverer {
    /// The default lease ([`webhooks::LEASE_SECS`]): 5 s connect and 10 s
    /// total timeouts.
    pub fn new(allow_private: bool) -> ScimResult<Self> {
        Self::with_lease(allow_private, webhooks::LEASE_SECS.unsigned_abs())
    }

    /// Claims last `lease_secs` (at least 2); a delivery's total timeout
    /// is 10 s or half the lease if shorter (connect: 5 s at most), so a
    /// delivery always ends before another worker may claim its endpoint.
    pub fn with_lease(allow_private: bool, lease_secs: u64) -> ScimResult<Self> {
        let lease = StdDuration::from_secs(lease_secs.max(2));
        let total = StdDuration::from_secs(10).min(lease / 2);
        let connect = StdDuration::from_secs(5).min(total);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the target itself, past the guard.
            .no_proxy()
            .dns_resolver(std::sync::Arc::new(CheckedResolver { allow_private }))
            .connect_timeout(connect)
            .timeout(total)
            .user_agent("scim-server-webhooks")
            .build()
            .map_err(|e| ScimError::internal(format!("webhook HTTP client: {e}")))?;
        Ok(Self {
            allow_private,
            client,
            lease: Duration::seconds(i64::try_from(lease.as_secs()).unwrap_or(i64::MAX)),
        })
    }

    /// Refuses disallowed addresses, posts `body`.
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
        let ip = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => None,
            None => return Err("the url has no host".to_owned()),
        };
        if let Some(ip) = ip.filter(|ip| !ip_allowed(*ip, self.allow_private)) {
            return Err(format!("{ip} is a private, loopback or link-local address"));
        }
        let mut req = self
            .client
            .post(parsed)
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let res = req.send().await.map_err(|e| {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            while let Some(s) = source {
                if let Some(r) = s.downcast_ref::<Refused>() {
                    return r.0.clone();
                }
                source = s.source();
            }
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
    deliver_some(store, deliverer, now, 1).await
}

/// Claims an endpoint that is due and delivers up to `max` of its events,
/// in order, one request each, holding the claim from one to the next;
/// stops at the first failure. Outcomes are committed in groups (attempt
/// rows and the cursor in one transaction): every [`COMMIT_EVERY`]
/// deliveries or [`COMMIT_AFTER`], at a failure and at the end. So a
/// process killed mid-way delivers again at most the events since the
/// last commit (at least once), and SQLite's fsync per commit is not paid
/// per event. `now` is the time of the first attempt (tests pass their own
/// clock); later ones add the time spent. Returns whether there was
/// anything to do.
pub async fn deliver_some(
    store: &Store,
    deliverer: &Deliverer,
    now: DateTime<Utc>,
    max: u64,
) -> ScimResult<bool> {
    let Some(ep) = webhooks::claim(store, now, deliverer.lease).await? else {
        return Ok(false);
    };
    let types: Vec<EventType> = ep
        .types
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .filter_map(|t| EventType::parse(t.trim()))
        .collect();
    let batch = webhooks::next_events(store.writer(), &ep, &types, max.max(1)).await?;
    let started = std::time::Instant::now();
    let clock = || now + Duration::from_std(started.elapsed()).unwrap_or_default();
    let secret = WebhookSecret::parse(&ep.secret);
    // As committed (the finish's condition), and as it is now.
    let mut committed = ep.cursor_seq;
    let mut standing = Standing {
        cursor_seq: ep.cursor_seq,
        attempts: ep.attempts,
        failing_since: ep.failing_since,
        next_attempt_at: None,
        disabled: None,
    };
    let mut pending: Vec<Attempt> = vec![];
    let mut pending_since = std::time::Instant::now();
    for (i, ev) in batch.iter().enumerate() {
        let at = clock();
        let json = ev.to_json();
        let msg_id = json["id"].as_str().unwrap_or_default().to_owned();
        let body = json.to_string().into_bytes();
        let outcome = match &secret {
            Ok(secret) => {
                let ts = at.timestamp();
                let signature = secret.sign(&msg_id, ts, &body);
                let headers = [
                    ("webhook-id", msg_id),
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
        let ok = outcome.success();
        if ok {
            standing.cursor_seq = ev.seq();
            standing.attempts = 0;
            standing.failing_since = None;
        } else {
            let error = outcome.error.clone().unwrap_or_default();
            match after_failure(
                standing.failing_since,
                standing.attempts,
                at,
                &error,
                rand::rng().random::<f64>(),
            ) {
                AfterFailure::RetryAt(t) => standing.next_attempt_at = Some(t),
                AfterFailure::Disable(reason) => standing.disabled = Some(reason),
            }
            standing.attempts += 1;
            standing.failing_since = standing.failing_since.or(Some(at));
        }
        if pending.is_empty() {
            pending_since = std::time::Instant::now();
        }
        pending.push(Attempt {
            event_seq: ev.seq(),
            event_type: ev.kind().to_owned(),
            at,
            outcome,
        });
        let last = !ok || i + 1 == batch.len();
        if last || pending.len() >= COMMIT_EVERY || pending_since.elapsed() >= COMMIT_AFTER {
            let keep = (!last).then(|| clock() + deliverer.lease);
            let tx = store.begin().await?;
            let kept = webhooks::finish(
                &tx,
                ep.id,
                committed,
                std::mem::take(&mut pending),
                standing.clone(),
                at,
                keep,
            )
            .await?;
            tx.commit().await.map_err(db_error)?;
            if last || !kept {
                break;
            }
            committed = standing.cursor_seq;
        }
    }
    Ok(true)
}

/// Deliveries between two commits of a claim, at most.
pub const COMMIT_EVERY: usize = 50;
/// Time between two commits of a claim, at most (plus one delivery).
pub const COMMIT_AFTER: StdDuration = StdDuration::from_millis(200);

/// Events one claim may deliver before the worker looks at the other
/// endpoints again.
const BATCH: u64 = 500;

/// The server's worker: delivers while there is work, then sleeps `poll`.
pub async fn worker(store: Store, deliverer: Deliverer, poll: StdDuration) {
    loop {
        match deliver_some(&store, &deliverer, Utc::now(), BATCH).await {
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
