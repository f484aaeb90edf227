//! Health of each service from a [`Snapshot`], in the shapes of seeds 002 and 003
//! (`pgfleet_core::health`).

use super::collectors::{Probe, ServerActivity, Sizes, Snapshot, Statements};
use super::targets::{ServiceTarget, Targets};
use pgfleet_core::health::{
    ConnectionPoolCheck, ConnectivityCheck, DatabaseResourcesCheck, DetailedChecks, DetailedHealth,
    HealthStatus, HealthSummary, ProbeCheck, ProbeReport, QueryPerformanceCheck, unix_timestamp,
    utilization_percent,
};
use serde::Serialize;
use std::collections::BTreeMap;

/// A trivial query slower than this makes query performance degraded.
const SLOW_SIMPLE_QUERY_SECONDS: f64 = 1.0;

/// Sessions of a service's roles, from the server's activity (when it was read).
fn sessions(targets: &Targets, snapshot: &Snapshot, service: &ServiceTarget) -> Option<(u64, u64)> {
    let server = targets
        .servers
        .iter()
        .position(|s| s.name == service.server)?;
    let activity = snapshot
        .get::<ServerActivity>()
        .get(server)?
        .as_ref()
        .ok()?;
    let mine = activity
        .value
        .sessions
        .iter()
        .filter(|s| service.roles.contains(&s.role));
    let (mut active, mut open) = (0u64, 0u64);
    for s in mine {
        active += (s.active + s.waiting) as u64;
        open += s.total as u64;
    }
    Some((active, open))
}

pub fn summary(targets: &Targets, snapshot: &Snapshot, index: usize) -> HealthSummary {
    let service = &targets.services[index];
    let probe = &snapshot.get::<Probe>()[service.db];
    let (active, open) = sessions(targets, snapshot, service).unwrap_or((0, 0));
    let utilization = utilization_percent(open, u64::from(service.pool_max));
    HealthSummary {
        service: service.name.clone(),
        status: HealthStatus::classify(probe.is_ok(), utilization),
        connectivity: probe.is_ok(),
        response_time_seconds: probe.as_ref().ok().map(|p| p.value.response_seconds),
        pool_utilization_percent: utilization,
        active_connections: active,
        timestamp: unix_timestamp(),
    }
}

pub fn detailed(targets: &Targets, snapshot: &Snapshot, index: usize) -> DetailedHealth {
    let service = &targets.services[index];
    let probe = &snapshot.get::<Probe>()[service.db];
    let connectivity = ConnectivityCheck {
        status: if probe.is_ok() {
            HealthStatus::Healthy
        } else {
            HealthStatus::Unhealthy
        },
        connectivity: probe.is_ok(),
        response_time_seconds: probe.as_ref().ok().map(|p| p.value.response_seconds),
        error: probe.as_ref().err().cloned(),
    };
    let (active, open) = sessions(targets, snapshot, service).unwrap_or((0, 0));
    let utilization = utilization_percent(open, u64::from(service.pool_max));
    let connection_pool = ConnectionPoolCheck {
        status: HealthStatus::classify(probe.is_ok(), utilization),
        pool_size: u64::from(service.pool_max),
        active_connections: active,
        utilization_percent: utilization,
    };
    let server = targets
        .servers
        .iter()
        .position(|s| s.name == service.server);
    let statements = server
        .and_then(|s| snapshot.get::<Statements>().get(s))
        .and_then(|s| s.as_ref().ok());
    let complex = statements.and_then(|s| {
        let (seconds, calls) = s
            .value
            .rows
            .iter()
            .filter(|r| service.roles.contains(&r.role))
            .fold((0.0, 0.0), |(t, c), r| (t + r.total_seconds, c + r.calls));
        (calls > 0.0).then(|| seconds / calls)
    });
    let simple = connectivity.response_time_seconds;
    let query_performance = QueryPerformanceCheck {
        status: match simple {
            None => HealthStatus::Unhealthy,
            Some(t) if t > SLOW_SIMPLE_QUERY_SECONDS => HealthStatus::Degraded,
            Some(_) => HealthStatus::Healthy,
        },
        simple_query_time_seconds: simple,
        complex_query_time_seconds: complex,
    };
    let activity = server
        .and_then(|s| snapshot.get::<ServerActivity>().get(s))
        .and_then(|a| a.as_ref().ok());
    let sizes = snapshot
        .get::<Sizes>()
        .get(service.db)
        .and_then(|s| s.as_ref().ok());
    let server_utilization = activity.map(|a| {
        let open: i64 = a.value.sessions.iter().map(|s| s.total).sum();
        utilization_percent(open.max(0) as u64, a.value.max_connections.max(0) as u64)
    });
    let database_resources = DatabaseResourcesCheck {
        status: match (probe.is_ok(), server_utilization) {
            (false, _) => HealthStatus::Unhealthy,
            (true, Some(u)) => HealthStatus::classify(true, u),
            (true, None) => HealthStatus::Healthy,
        },
        active_connections: activity.and_then(|a| {
            a.value
                .databases
                .get(&service.database)
                .map(|d| d.backends.max(0) as u64)
        }),
        database_size: sizes.map(|s| s.value.database_pretty.clone()),
        database_size_bytes: sizes.map(|s| s.value.database_bytes.max(0) as u64),
    };
    let overall = [
        connectivity.status,
        connection_pool.status,
        query_performance.status,
        database_resources.status,
    ]
    .into_iter()
    .fold(HealthStatus::Healthy, HealthStatus::worst);
    DetailedHealth {
        service: service.name.clone(),
        overall_status: overall,
        checks: DetailedChecks {
            connectivity,
            connection_pool,
            query_performance,
            database_resources,
        },
        timestamp: unix_timestamp(),
    }
}

/// The fleet's `/healthz`: seed 002's summary for the fleet as a whole (its least healthy
/// service decides), with every service's own summary.
#[derive(Debug, Serialize)]
pub struct FleetSummary {
    #[serde(flatten)]
    pub fleet: HealthSummary,
    pub services: Vec<HealthSummary>,
}

pub fn fleet_summary(targets: &Targets, snapshot: &Snapshot) -> FleetSummary {
    let services: Vec<HealthSummary> = (0..targets.services.len())
        .map(|i| summary(targets, snapshot, i))
        .collect();
    let fleet = HealthSummary {
        service: targets.fleet.clone(),
        status: services
            .iter()
            .map(|s| s.status)
            .fold(HealthStatus::Healthy, HealthStatus::worst),
        connectivity: services.iter().all(|s| s.connectivity),
        response_time_seconds: services
            .iter()
            .filter_map(|s| s.response_time_seconds)
            .reduce(f64::max),
        pool_utilization_percent: services
            .iter()
            .map(|s| s.pool_utilization_percent)
            .fold(0.0, f64::max),
        active_connections: services.iter().map(|s| s.active_connections).sum(),
        timestamp: unix_timestamp(),
    };
    FleetSummary { fleet, services }
}

/// `/ready`: every service's database reachable. An `application/health+json` body with one
/// check per service.
pub fn readiness(targets: &Targets, snapshot: &Snapshot) -> (HealthStatus, ProbeReport) {
    let mut checks = BTreeMap::new();
    let mut status = HealthStatus::Healthy;
    let time = humantime::format_rfc3339_seconds(snapshot.taken).to_string();
    for service in &targets.services {
        let probe = &snapshot.get::<Probe>()[service.db];
        let this = if probe.is_ok() {
            HealthStatus::Healthy
        } else {
            HealthStatus::Unhealthy
        };
        status = status.worst(this);
        checks.insert(
            format!("{}:connectivity", service.name),
            vec![ProbeCheck {
                component_id: Some(format!("{}/{}", service.server, service.database)),
                component_type: Some("datastore".to_owned()),
                status: this.probe_status(),
                observed_value: probe
                    .as_ref()
                    .ok()
                    .map(|p| (p.value.response_seconds * 1e6).round() / 1e3),
                observed_unit: probe.is_ok().then(|| "ms".to_owned()),
                output: probe.as_ref().err().cloned(),
                time: Some(time.clone()),
            }],
        );
    }
    let report = ProbeReport {
        status: status.probe_status(),
        description: Some(format!(
            "pgfleet serve: {} of {} service(s) reachable",
            snapshot.probe_ok_services(targets),
            targets.services.len()
        )),
        checks,
    };
    (status, report)
}

impl Snapshot {
    fn probe_ok_services(&self, targets: &Targets) -> usize {
        targets
            .services
            .iter()
            .filter(|s| self.get::<Probe>()[s.db].is_ok())
            .count()
    }
}
