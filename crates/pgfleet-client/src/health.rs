//! Health: seed 002's `/healthz` and `/health/detailed` (pgfleet-core's types), seed 003's
//! healthy / degraded / unhealthy rule, Kubernetes' `/ready` and `/live`, and `/metrics`.

use crate::error::Error;
use crate::pool::FleetPool;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use pgfleet_core::health::{
    ConnectionPoolCheck, ConnectivityCheck, DatabaseResourcesCheck, DetailedChecks, DetailedHealth,
    HEALTH_JSON, HealthStatus, HealthSummary, ProbeCheck, ProbeReport, ProbeStatus,
    QueryPerformanceCheck, unix_timestamp,
};
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Query time above which the query-performance check is degraded.
const SLOW_SIMPLE_QUERY: Duration = Duration::from_millis(500);
const SLOW_COMPLEX_QUERY: Duration = Duration::from_secs(2);

/// The last `/ready` answer and when it was computed; the lock makes concurrent probes wait
/// for one check instead of each running its own.
#[derive(Debug, Default)]
pub(crate) struct ReadyCache(tokio::sync::Mutex<Option<(Instant, ProbeReport)>>);

/// Health checks of one pool (see [`FleetPool::health`]).
#[derive(Debug, Clone)]
pub struct HealthChecker {
    pool: FleetPool,
}

impl FleetPool {
    pub fn health(&self) -> HealthChecker {
        HealthChecker { pool: self.clone() }
    }

    /// `/healthz`, `/health/detailed`, `/ready`, `/live` and `/metrics` (the registry's
    /// OpenMetrics text), for a service to mount with `.merge(pool.health_router(registry))`.
    pub fn health_router<S>(&self, registry: Arc<Registry>) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let state = RouterState {
            health: self.health(),
            registry,
        };
        Router::new()
            .route("/healthz", get(healthz))
            .route("/health/detailed", get(detailed))
            .route("/ready", get(ready))
            .route("/live", get(live))
            .route("/metrics", get(metrics))
            .with_state(state)
    }
}

impl HealthChecker {
    /// `SELECT 1` within the health timeout: (reachable, seconds, error).
    async fn ping(&self) -> (bool, Option<f64>, Option<String>) {
        let timeout = self.pool.config().health_timeout;
        let start = Instant::now();
        let result = tokio::time::timeout(timeout, async {
            let client = self.pool.get_timeout(timeout).await?;
            client.simple_query("SELECT 1").await?;
            Ok::<(), Error>(())
        })
        .await;
        match result {
            Ok(Ok(())) => (true, Some(start.elapsed().as_secs_f64()), None),
            Ok(Err(e)) => (false, None, Some(e.to_string())),
            Err(_) => (false, None, Some(format!("no answer within {timeout:?}"))),
        }
    }

    fn pool_check(&self) -> ConnectionPoolCheck {
        let status = self.pool.status();
        let utilization = status.utilization_percent();
        ConnectionPoolCheck {
            status: HealthStatus::classify(true, utilization),
            pool_size: status.max_size as u64,
            active_connections: status.active as u64,
            utilization_percent: utilization,
        }
    }

    /// Seed 002's `GET /healthz`.
    pub async fn summary(&self) -> HealthSummary {
        let (connectivity, response_time, _) = self.ping().await;
        let pool = self.pool_check();
        HealthSummary {
            service: self.pool.service().to_owned(),
            status: HealthStatus::classify(connectivity, pool.utilization_percent),
            connectivity,
            response_time_seconds: response_time,
            pool_utilization_percent: pool.utilization_percent,
            active_connections: pool.active_connections,
            timestamp: unix_timestamp(),
        }
    }

    /// Seed 002's `GET /health/detailed`: connectivity, pool, query times, the database's
    /// connections and size.
    pub async fn detailed(&self) -> DetailedHealth {
        let (connectivity, response_time, error) = self.ping().await;
        let connectivity_check = ConnectivityCheck {
            status: HealthStatus::classify(connectivity, 0.0),
            connectivity,
            response_time_seconds: response_time,
            error,
        };
        let pool = self.pool_check();
        let (query_performance, database_resources) = if connectivity {
            self.database_checks().await
        } else {
            (
                QueryPerformanceCheck {
                    status: HealthStatus::Unhealthy,
                    simple_query_time_seconds: None,
                    complex_query_time_seconds: None,
                },
                DatabaseResourcesCheck {
                    status: HealthStatus::Unhealthy,
                    active_connections: None,
                    database_size: None,
                    database_size_bytes: None,
                },
            )
        };
        let overall = connectivity_check
            .status
            .worst(pool.status)
            .worst(query_performance.status)
            .worst(database_resources.status);
        DetailedHealth {
            service: self.pool.service().to_owned(),
            overall_status: overall,
            checks: DetailedChecks {
                connectivity: connectivity_check,
                connection_pool: pool,
                query_performance,
                database_resources,
            },
            timestamp: unix_timestamp(),
        }
    }

    async fn database_checks(&self) -> (QueryPerformanceCheck, DatabaseResourcesCheck) {
        let timeout = self.pool.config().health_timeout;
        let result = tokio::time::timeout(timeout * 2, async {
            let client = self.pool.get_timeout(timeout).await?;
            let start = Instant::now();
            client.simple_query("SELECT 1").await?;
            let simple = start.elapsed();
            let start = Instant::now();
            let row = client
                .query_one(
                    "SELECT (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()),
                            current_setting('max_connections')::bigint,
                            pg_database_size(current_database()),
                            pg_size_pretty(pg_database_size(current_database())),
                            (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                              WHERE n.nspname NOT IN ('pg_catalog', 'information_schema'))",
                    &[],
                )
                .await?;
            let complex = start.elapsed();
            Ok::<_, Error>((simple, complex, row))
        })
        .await;
        match result {
            Ok(Ok((simple, complex, row))) => {
                let active: i64 = row.get(0);
                let max: i64 = row.get(1);
                let bytes: i64 = row.get(2);
                let pretty: String = row.get(3);
                let slow = simple > SLOW_SIMPLE_QUERY || complex > SLOW_COMPLEX_QUERY;
                let server_utilization = pgfleet_core::health::utilization_percent(
                    active.max(0) as u64,
                    max.max(0) as u64,
                );
                (
                    QueryPerformanceCheck {
                        status: if slow {
                            HealthStatus::Degraded
                        } else {
                            HealthStatus::Healthy
                        },
                        simple_query_time_seconds: Some(simple.as_secs_f64()),
                        complex_query_time_seconds: Some(complex.as_secs_f64()),
                    },
                    DatabaseResourcesCheck {
                        status: HealthStatus::classify(true, server_utilization),
                        active_connections: Some(active.max(0) as u64),
                        database_size: Some(pretty),
                        database_size_bytes: Some(bytes.max(0) as u64),
                    },
                )
            }
            _ => (
                QueryPerformanceCheck {
                    status: HealthStatus::Degraded,
                    simple_query_time_seconds: None,
                    complex_query_time_seconds: None,
                },
                DatabaseResourcesCheck {
                    status: HealthStatus::Degraded,
                    active_connections: None,
                    database_size: None,
                    database_size_bytes: None,
                },
            ),
        }
    }

    /// Readiness (`application/health+json`): can the service reach its database now?
    /// Answered from a cache at most `ready_cache` old; concurrent callers share one check.
    pub async fn ready(&self) -> ProbeReport {
        let cache = &self.pool.inner.ready;
        let mut slot = cache.0.lock().await;
        if let Some((at, report)) = slot.as_ref()
            && at.elapsed() < self.pool.config().ready_cache
        {
            return report.clone();
        }
        let (connectivity, response_time, error) = self.ping().await;
        let pool = self.pool_check();
        let status = HealthStatus::classify(connectivity, pool.utilization_percent);
        let time = rfc3339_now();
        let mut checks = BTreeMap::new();
        checks.insert(
            "postgres:responseTime".to_owned(),
            vec![ProbeCheck {
                component_id: Some(self.pool.service().to_owned()),
                component_type: Some("datastore".to_owned()),
                status: if connectivity {
                    ProbeStatus::Pass
                } else {
                    ProbeStatus::Fail
                },
                observed_value: response_time.map(|s| s * 1000.0),
                observed_unit: Some("ms".to_owned()),
                output: error,
                time: Some(time.clone()),
            }],
        );
        checks.insert(
            "postgres:connections".to_owned(),
            vec![ProbeCheck {
                component_id: Some(self.pool.service().to_owned()),
                component_type: Some("datastore".to_owned()),
                status: pool.status.probe_status(),
                observed_value: Some(pool.utilization_percent),
                observed_unit: Some("percent".to_owned()),
                output: None,
                time: Some(time),
            }],
        );
        let report = ProbeReport {
            status: status.probe_status(),
            description: Some(format!("{} database", self.pool.service())),
            checks,
        };
        *slot = Some((Instant::now(), report.clone()));
        report
    }

    /// Liveness: the process answers. Never touches the database.
    pub fn live(&self) -> ProbeReport {
        ProbeReport {
            status: ProbeStatus::Pass,
            description: Some(format!("{} process", self.pool.service())),
            checks: BTreeMap::new(),
        }
    }
}

fn rfc3339_now() -> String {
    let secs = unix_timestamp() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[derive(Clone)]
struct RouterState {
    health: HealthChecker,
    registry: Arc<Registry>,
}

fn status_code(status: HealthStatus) -> StatusCode {
    StatusCode::from_u16(status.http_status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
}

fn probe_response(report: &ProbeReport) -> Response {
    let code = match report.status {
        ProbeStatus::Pass | ProbeStatus::Warn => StatusCode::OK,
        ProbeStatus::Fail => StatusCode::SERVICE_UNAVAILABLE,
    };
    let body = serde_json::to_string(report).unwrap_or_else(|_| "{}".to_owned());
    (code, [(header::CONTENT_TYPE, HEALTH_JSON)], body).into_response()
}

async fn healthz(State(state): State<RouterState>) -> Response {
    let summary = state.health.summary().await;
    (status_code(summary.status), axum::Json(summary)).into_response()
}

async fn detailed(State(state): State<RouterState>) -> Response {
    let detailed = state.health.detailed().await;
    (status_code(detailed.overall_status), axum::Json(detailed)).into_response()
}

async fn ready(State(state): State<RouterState>) -> Response {
    probe_response(&state.health.ready().await)
}

async fn live(State(state): State<RouterState>) -> Response {
    probe_response(&state.health.live())
}

async fn metrics(State(state): State<RouterState>) -> Response {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &state.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
