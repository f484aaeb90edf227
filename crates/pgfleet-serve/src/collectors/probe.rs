//! `SELECT 1` on each database's pool: reachability and response time, per service.

use super::{Collector, Freshness, Got, Job, Per, Scope};
use crate::exposition::{Families, Kind, service_labels};
use crate::targets::{Settings, Targets};
use pgfleet_core::Manifest;
use pgfleet_core::metric_names::serve as names;
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct Probe {
    pub response_seconds: f64,
}

impl Collector for Probe {
    const NAME: &'static str = "probe";
    const PER: Per = Per::Database;
    const FRESHNESS: Freshness = Freshness::Current;

    fn wanted(_scope: Scope, _manifest: &Manifest) -> bool {
        true
    }

    async fn refresh(job: Job) -> Result<Self, String> {
        let target = &job.targets.databases[job.index];
        let session = target.session(job.cap).await?;
        let started = Instant::now();
        session
            .simple_query("SELECT 1")
            .await
            .map_err(|e| target.error(&e))?;
        Ok(Probe {
            response_seconds: started.elapsed().as_secs_f64(),
        })
    }

    fn report(out: &mut Families, targets: &Targets, results: &[Got<Self>], _: &Settings) {
        out.declare(
            names::UP,
            "1 when the service's database answers a trivial query within the deadline.",
            Kind::Gauge,
        );
        out.declare(
            names::RESPONSE_TIME_SECONDS,
            "Time the service's database took to answer SELECT 1.",
            Kind::Gauge,
        );
        for service in &targets.services {
            let Some(probe) = results.get(service.db) else {
                continue;
            };
            out.gauge(
                names::UP,
                "",
                service_labels(service),
                if probe.is_ok() { 1.0 } else { 0.0 },
            );
            if let Ok(probe) = probe {
                out.gauge(
                    names::RESPONSE_TIME_SECONDS,
                    "",
                    service_labels(service),
                    probe.value.response_seconds,
                );
            }
        }
    }
}
