//! The health vocabulary of seeds 002 and 003, shared by `pgfleet serve` (the whole fleet) and
//! `pgfleet-client` (one service process), so both answer probes in the same shapes.
//!
//! - [`HealthSummary`] is seed 002's `/healthz` body, [`DetailedHealth`] its `/health/detailed`.
//! - [`HealthStatus`] is seed 003's rule: healthy, degraded when the pool is over
//!   [`DEGRADED_UTILIZATION_PERCENT`], unhealthy when the database cannot be reached; HTTP 200,
//!   200 and 503.
//! - [`ProbeReport`] is the `application/health+json` body (pass/warn/fail) of `/ready`, `/live`
//!   and `/health/{service}`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Seed 003: a pool more than this busy is degraded (still serving, but a warning).
pub const DEGRADED_UTILIZATION_PERCENT: f64 = 80.0;

/// The media type of [`ProbeReport`] bodies (draft-inadarei-api-health-check).
pub const HEALTH_JSON: &str = "application/health+json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Healthy,
    Degraded,
    Unhealthy,
}

impl HealthStatus {
    /// Seed 003's rule.
    pub fn classify(connectivity: bool, utilization_percent: f64) -> Self {
        if !connectivity {
            HealthStatus::Unhealthy
        } else if utilization_percent > DEGRADED_UTILIZATION_PERCENT {
            HealthStatus::Degraded
        } else {
            HealthStatus::Healthy
        }
    }

    /// 200 while the service can still serve (healthy or degraded), 503 otherwise.
    pub fn http_status(self) -> u16 {
        match self {
            HealthStatus::Healthy | HealthStatus::Degraded => 200,
            HealthStatus::Unhealthy => 503,
        }
    }

    /// The `application/health+json` word for it.
    pub fn probe_status(self) -> ProbeStatus {
        match self {
            HealthStatus::Healthy => ProbeStatus::Pass,
            HealthStatus::Degraded => ProbeStatus::Warn,
            HealthStatus::Unhealthy => ProbeStatus::Fail,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }

    /// The worse of the two (a fleet is as healthy as its least healthy required service).
    pub fn worst(self, other: Self) -> Self {
        self.max(other)
    }
}

/// Utilisation of a pool (or of a server's connection slots) in percent; 0 for an empty limit.
pub fn utilization_percent(in_use: u64, limit: u64) -> f64 {
    if limit == 0 {
        0.0
    } else {
        (in_use as f64 * 100.0 / limit as f64 * 10.0).round() / 10.0
    }
}

/// Seed 002's `GET /healthz` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthSummary {
    pub service: String,
    pub status: HealthStatus,
    pub connectivity: bool,
    pub response_time_seconds: Option<f64>,
    pub pool_utilization_percent: f64,
    pub active_connections: u64,
    /// Seconds since the Unix epoch.
    pub timestamp: f64,
}

/// Seed 002's `GET /health/detailed` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetailedHealth {
    pub service: String,
    pub overall_status: HealthStatus,
    pub checks: DetailedChecks,
    /// Seconds since the Unix epoch.
    pub timestamp: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetailedChecks {
    pub connectivity: ConnectivityCheck,
    pub connection_pool: ConnectionPoolCheck,
    pub query_performance: QueryPerformanceCheck,
    pub database_resources: DatabaseResourcesCheck,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectivityCheck {
    pub status: HealthStatus,
    pub connectivity: bool,
    pub response_time_seconds: Option<f64>,
    /// Why the database could not be reached (the server's or the network's message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionPoolCheck {
    pub status: HealthStatus,
    pub pool_size: u64,
    pub active_connections: u64,
    pub utilization_percent: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryPerformanceCheck {
    pub status: HealthStatus,
    pub simple_query_time_seconds: Option<f64>,
    pub complex_query_time_seconds: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatabaseResourcesCheck {
    pub status: HealthStatus,
    pub active_connections: Option<u64>,
    /// Human-readable, as seed 002 shows it ("45 MB", from pg_size_pretty).
    pub database_size: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_size_bytes: Option<u64>,
}

/// `application/health+json` status words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeStatus {
    Pass,
    Warn,
    Fail,
}

/// An `application/health+json` body: an overall status and one check list per component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    pub status: ProbeStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, Vec<ProbeCheck>>,
}

/// One entry of a [`ProbeReport`]'s `checks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeCheck {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_type: Option<String>,
    pub status: ProbeStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// RFC 3339 time of the observation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

/// Seconds since the Unix epoch, as the seeds' `timestamp` fields carry it.
pub fn unix_timestamp() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_003_thresholds() {
        assert_eq!(HealthStatus::classify(true, 80.0), HealthStatus::Healthy);
        assert_eq!(HealthStatus::classify(true, 80.1), HealthStatus::Degraded);
        assert_eq!(HealthStatus::classify(false, 0.0), HealthStatus::Unhealthy);
        assert_eq!(HealthStatus::Degraded.http_status(), 200);
        assert_eq!(HealthStatus::Unhealthy.http_status(), 503);
        assert_eq!(
            HealthStatus::Healthy.worst(HealthStatus::Degraded),
            HealthStatus::Degraded
        );
        assert_eq!(utilization_percent(2, 10), 20.0);
        assert_eq!(utilization_percent(1, 3), 33.3);
        assert_eq!(utilization_percent(5, 0), 0.0);
    }

    #[test]
    fn summary_has_seed_002_field_names() {
        let summary = HealthSummary {
            service: "content_service".into(),
            status: HealthStatus::Healthy,
            connectivity: true,
            response_time_seconds: Some(0.002),
            pool_utilization_percent: 25.0,
            active_connections: 2,
            timestamp: 1701234567.89,
        };
        let json = serde_json::to_value(&summary).expect("serialises");
        assert_eq!(json["status"], "healthy");
        assert_eq!(json["pool_utilization_percent"], 25.0);
        let probe = ProbeReport {
            status: HealthStatus::Degraded.probe_status(),
            description: None,
            checks: BTreeMap::new(),
        };
        assert_eq!(
            serde_json::to_string(&probe).expect("serialises"),
            r#"{"status":"warn"}"#
        );
    }
}
