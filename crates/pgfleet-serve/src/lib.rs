//! `pgfleet serve`: one daemon that exposes Prometheus metrics, health probes and a status page
//! for every service database of the fleet.
//!
//! Shape: [`targets`] resolves every service and keeps one small pool per database;
//! [`collectors`] reads the catalogs at scrape time, one file per collector, each behind its
//! own caches, under one deadline; [`exposition`], [`health`] and [`page`] render a snapshot; this module wires them
//! to HTTP routes, which [`http`] serves under a header-read deadline and a connection limit;
//! [`observe`] generates the Grafana dashboard and alert rules from the same metric names.
//!
//! Depends on core, pgfleet-pg, pgfleet-access (drift) and pgfleet-migrate (migration state);
//! never on clap or the CLI, and never prints.

pub mod cache;
pub mod collectors;
pub mod exposition;
pub mod health;
pub mod http;
pub mod observe;
pub mod page;
pub mod targets;

pub use targets::ServeError;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use collectors::{Collectors, Probe, Scope};
use pgfleet_core::Secret;
use pgfleet_core::health::{HEALTH_JSON, ProbeReport, ProbeStatus};
use std::sync::Arc;

/// Shared by every request.
#[derive(Debug)]
pub struct Daemon {
    pub collectors: Collectors,
    /// Bearer token required by the detailed endpoints, when set.
    pub token: Option<Secret>,
    /// The last `/ready` answer and the probe outcomes it was rendered from: probes change once
    /// per interval, probes may come thousands of times a second.
    pub ready: std::sync::Mutex<Option<RenderedReady>>,
}

/// A rendered `/ready` answer.
#[derive(Debug, Clone)]
pub struct RenderedReady {
    key: Vec<ProbeKey>,
    status: u16,
    body: axum::body::Bytes,
}

/// Identifies a probe outcome: the cached value itself, or the error text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ProbeKey {
    Value(usize),
    Error(String),
}

impl Daemon {
    pub fn new(collectors: Collectors, token: Option<Secret>) -> Self {
        Self {
            collectors,
            token,
            ready: std::sync::Mutex::new(None),
        }
    }
}

pub fn router(daemon: Arc<Daemon>) -> Router {
    Router::new()
        .route("/", get(status_page))
        .route("/metrics", get(metrics))
        .route("/live", get(live))
        .route("/ready", get(ready))
        .route("/healthz", get(healthz))
        .route("/health/detailed", get(detailed))
        .route("/health/{service}", get(service_health))
        .with_state(daemon)
}

fn json_response(
    status: u16,
    content_type: &'static str,
    body: &impl serde::Serialize,
) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

async fn metrics(State(daemon): State<Arc<Daemon>>, headers: HeaderMap) -> Response {
    let collectors = &daemon.collectors;
    let scrapes = 1 + collectors
        .scrapes
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let snapshot = collectors.snapshot(Scope::Everything).await;
    let text = exposition::openmetrics(
        &collectors.targets,
        &snapshot,
        scrapes,
        &collectors.settings,
    );
    let wants_openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/openmetrics-text"));
    if wants_openmetrics {
        ([(header::CONTENT_TYPE, exposition::OPENMETRICS)], text).into_response()
    } else {
        (
            [(header::CONTENT_TYPE, exposition::PROMETHEUS_TEXT)],
            exposition::prometheus_text(&text),
        )
            .into_response()
    }
}

/// The process only: never a database.
async fn live() -> Response {
    json_response(
        200,
        HEALTH_JSON,
        &ProbeReport {
            status: ProbeStatus::Pass,
            description: Some("pgfleet serve is running".to_owned()),
            checks: Default::default(),
        },
    )
}

/// Every service's database reachable; cached, so at most one query per database per interval.
async fn ready(State(daemon): State<Arc<Daemon>>) -> Response {
    let collectors = &daemon.collectors;
    let snapshot = collectors.snapshot(Scope::Probes).await;
    let key: Vec<ProbeKey> = snapshot
        .get::<Probe>()
        .iter()
        .map(|p| match p {
            Ok(value) => ProbeKey::Value(Arc::as_ptr(value) as usize),
            Err(e) => ProbeKey::Error(e.clone()),
        })
        .collect();
    let cached = daemon
        .ready
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .filter(|r| r.key == key);
    let rendered = match cached {
        Some(rendered) => rendered,
        None => {
            let (status, report) = health::readiness(&collectors.targets, &snapshot);
            let rendered = RenderedReady {
                key,
                status: status.http_status(),
                body: serde_json::to_vec(&report).unwrap_or_default().into(),
            };
            *daemon.ready.lock().unwrap_or_else(|e| e.into_inner()) = Some(rendered.clone());
            rendered
        }
    };
    (
        StatusCode::from_u16(rendered.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
        [(header::CONTENT_TYPE, HeaderValue::from_static(HEALTH_JSON))],
        rendered.body,
    )
        .into_response()
}

async fn healthz(State(daemon): State<Arc<Daemon>>) -> Response {
    let collectors = &daemon.collectors;
    let snapshot = collectors.snapshot(Scope::Health).await;
    let summary = health::fleet_summary(&collectors.targets, &snapshot);
    json_response(
        summary.fleet.status.http_status(),
        "application/json",
        &summary,
    )
}

/// `Authorization: Bearer <token>` when a token is configured; otherwise the 401 to send.
fn authorized(daemon: &Daemon, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let Some(token) = &daemon.token else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.as_bytes(), token.expose().as_bytes()) {
        Ok(())
    } else {
        Err(Box::new(
            (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "a bearer token is required for this endpoint\n",
            )
                .into_response(),
        ))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Debug, serde::Serialize)]
struct FleetDetailed {
    fleet: String,
    environment: String,
    overall_status: pgfleet_core::health::HealthStatus,
    services: Vec<pgfleet_core::health::DetailedHealth>,
}

async fn detailed(State(daemon): State<Arc<Daemon>>, headers: HeaderMap) -> Response {
    if let Err(denied) = authorized(&daemon, &headers) {
        return *denied;
    }
    let collectors = &daemon.collectors;
    let targets = &collectors.targets;
    let snapshot = collectors.snapshot(Scope::Everything).await;
    let services: Vec<_> = (0..targets.services.len())
        .map(|i| health::detailed(targets, &snapshot, i))
        .collect();
    let overall = services
        .iter()
        .map(|s| s.overall_status)
        .fold(pgfleet_core::health::HealthStatus::Healthy, |a, b| {
            a.worst(b)
        });
    json_response(
        overall.http_status(),
        "application/json",
        &FleetDetailed {
            fleet: targets.fleet.clone(),
            environment: targets.environment.clone(),
            overall_status: overall,
            services,
        },
    )
}

async fn service_health(
    State(daemon): State<Arc<Daemon>>,
    Path(service): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(denied) = authorized(&daemon, &headers) {
        return *denied;
    }
    let collectors = &daemon.collectors;
    let Some((index, _)) = collectors.targets.service(&service) else {
        return (
            StatusCode::NOT_FOUND,
            format!("no service `{service}` in this fleet\n"),
        )
            .into_response();
    };
    let snapshot = collectors.snapshot(Scope::Everything).await;
    let health = health::detailed(&collectors.targets, &snapshot, index);
    json_response(
        health.overall_status.http_status(),
        "application/json",
        &health,
    )
}

async fn status_page(State(daemon): State<Arc<Daemon>>) -> Response {
    let collectors = &daemon.collectors;
    let snapshot = collectors.snapshot(Scope::Everything).await;
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page::render(&collectors.targets, &snapshot),
    )
        .into_response()
}
