//! What every handler can reach: the application state behind
//! `web::Data<AppState>`, built once by `startup`.

use std::sync::atomic::AtomicBool;

use crate::config::Settings;
use crate::domain::rate_limit::RateLimiter;
use crate::store::Store;

/// What every handler can reach.
pub struct AppState {
    pub store: Store,
    pub settings: Settings,
    pub metrics: super::observe::Metrics,
    /// Set on SIGTERM/SIGINT: `/readyz` answers 503 while requests drain.
    pub draining: AtomicBool,
    /// `None` when no rate limit is configured.
    pub rate_limiter: Option<RateLimiter>,
    /// Looks up domain proofs (TXT records).
    pub dns: crate::dns::DnsProof,
}
