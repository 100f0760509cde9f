//! Request ids, the request span and metrics: one middleware around every
//! request. Spans carry the route template, never the query string (filters
//! hold user names and emails).

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest, HttpResponse, web};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;

use crate::domain::secrets;
use crate::http::AppState;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the current request (the client's `X-Request-Id` when it is
/// sane, else a new UUID), echoed in the response.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn sane(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// The route template of a request once routed (`unmatched` when none).
/// Asked before routing, actix matches the path against every route's
/// pattern again (regular expressions: ~4 % of a GET by id's CPU); asked
/// of the routed request, it reads the resource the router matched.
fn route_of(req: &HttpRequest) -> String {
    req.match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned())
}

/// The server's metrics; one registry per process, kept in `AppState`.
pub struct Metrics {
    pub registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_latency: HistogramVec,
    pub scim_operations: IntCounterVec,
    pub sync_failures: IntCounterVec,
    pub db_connections: IntGaugeVec,
    pub db_statements: IntCounterVec,
    /// Held while a scrape brings `db_statements` up to the store's counts
    /// (two scrapes at once would both add the difference).
    scrape: std::sync::Mutex<()>,
    pub group_commits: IntCounter,
    pub group_commit_writes: IntCounter,
    pub group_commit_chained: IntCounter,
    pub checkpoints: IntCounter,
}

impl Metrics {
    #[allow(clippy::expect_used)] // metric definitions are static: a unit test builds them
    pub fn new() -> Self {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route template, method and status",
            ),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let http_latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency").buckets(
                vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ],
            ),
            &["route", "method"],
        )
        .expect("valid metric");
        let scim_operations = IntCounterVec::new(
            Opts::new(
                "scim_operations_total",
                "SCIM writes by directory, resource type, operation and outcome",
            ),
            &["directory", "resource_type", "operation", "outcome"],
        )
        .expect("valid metric");
        let sync_failures = IntCounterVec::new(
            Opts::new(
                "scim_sync_failures_total",
                "Failed SCIM writes recorded in the sync log",
            ),
            &["directory"],
        )
        .expect("valid metric");
        let db_connections = IntGaugeVec::new(
            Opts::new(
                "db_pool_connections",
                "Database pool connections by pool and state",
            ),
            &["pool", "state"],
        )
        .expect("valid metric");
        let db_statements = IntCounterVec::new(
            Opts::new(
                "db_statements_total",
                "Database statements run, by pool (PostgreSQL: reads and writes share `read`)",
            ),
            &["pool"],
        )
        .expect("valid metric");
        let group_commits = IntCounter::new(
            "db_group_commits_total",
            "SQLite group commit: commits of shared write transactions",
        )
        .expect("valid metric");
        let group_commit_writes = IntCounter::new(
            "db_group_commit_writes_total",
            "SQLite group commit: write requests those commits carried",
        )
        .expect("valid metric");
        let group_commit_chained = IntCounter::new(
            "db_group_commit_chained_total",
            "SQLite group commit: batches begun by the commit of the one before, on its connection",
        )
        .expect("valid metric");
        let checkpoints = IntCounter::new(
            "db_wal_checkpoints_total",
            "SQLite: WAL checkpoints off the writer that moved pages into the database file",
        )
        .expect("valid metric");
        for c in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_latency.clone()),
            Box::new(scim_operations.clone()),
            Box::new(sync_failures.clone()),
            Box::new(db_connections.clone()),
            Box::new(db_statements.clone()),
            Box::new(group_commits.clone()),
            Box::new(group_commit_writes.clone()),
            Box::new(group_commit_chained.clone()),
            Box::new(checkpoints.clone()),
        ] {
            registry.register(c).expect("metric registered once");
        }
        Self {
            registry,
            http_requests,
            http_latency,
            scim_operations,
            sync_failures,
            db_connections,
            db_statements,
            scrape: std::sync::Mutex::new(()),
            group_commits,
            group_commit_writes,
            group_commit_chained,
            checkpoints,
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The `method` label: the standard methods by name, any other `other`
/// (a label per made-up method would add a series per request, forever).
fn method_label(m: &Method) -> &'static str {
    [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ]
    .iter()
    .find(|s| *s == m)
    .map_or("other", Method::as_str)
}

/// Wraps every request: id, span, latency and counters.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, Error> {
    let started = Instant::now();
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| sane(v))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = method_label(req.method());
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let result = next.call(req).await;
    let elapsed = started.elapsed();
    // The inner services answer errors as responses: an `Err` here has
    // no request left to name a route for.
    let (status, route) = match &result {
        Ok(res) => (res.status().as_u16(), route_of(res.request())),
        Err(e) => (
            e.as_response_error().status_code().as_u16(),
            "unmatched".to_owned(),
        ),
    };
    if let Some(state) = state {
        let m = &state.metrics;
        m.http_requests
            .with_label_values(&[route.as_str(), method, &status.to_string()])
            .inc();
        m.http_latency
            .with_label_values(&[route.as_str(), method])
            .observe(elapsed.as_secs_f64());
    }
    let mut res = result?;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    Ok(res)
}

/// `GET /metrics`: Prometheus text format. With `SCIM_METRICS_TOKEN` set,
/// only for `Authorization: Bearer <that token>`.
pub async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if let Some(want) = &state.settings.metrics_token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !secrets::constant_time_eq(
            &secrets::token_hash(given),
            &secrets::token_hash(want.expose()),
        ) {
            return HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\""))
                .content_type("text/plain; charset=utf-8")
                .body("/metrics needs the bearer token of SCIM_METRICS_TOKEN\n");
        }
    }
    let m = &state.metrics;
    for (pool, size, idle) in state.store.pool_stats() {
        m.db_connections
            .with_label_values(&[pool, "idle"])
            .set(i64::from(idle));
        m.db_connections
            .with_label_values(&[pool, "in_use"])
            .set(i64::from(size.saturating_sub(idle)));
    }
    {
        // The store counts; the counter catches up with it at each scrape.
        let _one_at_a_time = m.scrape.lock();
        for (pool, count) in state.store.statement_counts() {
            let c = m.db_statements.with_label_values(&[pool]);
            c.inc_by(count.saturating_sub(c.get()));
        }
    }
    if let Some(group) = state.store.group_commit() {
        let (commits, writes) = group.stats();
        m.group_commits
            .inc_by(commits.saturating_sub(m.group_commits.get()));
        m.group_commit_writes
            .inc_by(writes.saturating_sub(m.group_commit_writes.get()));
        m.group_commit_chained
            .inc_by(group.chained().saturating_sub(m.group_commit_chained.get()));
    }
    m.checkpoints.inc_by(
        state
            .store
            .checkpoints()
            .saturating_sub(m.checkpoints.get()),
    );
    let mut buf = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&m.registry.gather(), &mut buf) {
        tracing::error!(error = %e, "encoding metrics failed");
        return HttpResponse::InternalServerError().finish();
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(buf)
}

/// The request span of `tracing-actix-web`, without the query string or
/// client details: method, route template, request id, status, latency.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    /// The route is recorded once the request is routed (see [`route_of`]).
    fn on_request_start(request: &ServiceRequest) -> Span {
        tracing::info_span!(
            "request",
            method = %request.method(),
            route = tracing::field::Empty,
            request_id = %request
                .extensions()
                .get::<RequestId>()
                .map(|r| r.0.as_str())
                .unwrap_or_default(),
            status = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let status = match outcome {
            Ok(res) => res.status().as_u16(),
            Err(e) => e.as_response_error().status_code().as_u16(),
        };
        if !span.is_disabled() {
            let route = match outcome {
                Ok(res) => route_of(res.request()),
                Err(_) => "unmatched".to_owned(),
            };
            span.record("route", route.as_str());
        }
        span.record("status", status);
        span.in_scope(|| tracing::info!("request finished"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_register_and_request_ids_are_checked() {
        let m = Metrics::new();
        m.http_requests
            .with_label_values(&["/x", "GET", "200"])
            .inc();
        assert!(!m.registry.gather().is_empty());
        assert!(sane("abc-123_x.y:z"));
        assert!(!sane("bad id\n"));
        assert!(!sane(&"x".repeat(200)));
    }

    #[test]
    fn made_up_methods_share_one_label() {
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        assert_eq!(method_label(&Method::OPTIONS), "OPTIONS");
        let odd = Method::from_bytes(b"XJ4QZ").unwrap();
        assert_eq!(method_label(&odd), "other");
        let lower = Method::from_bytes(b"get").unwrap();
        assert_eq!(method_label(&lower), "other");
    }
}
