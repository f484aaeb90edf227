//! Differences between each database's roles and grants and the manifest (what `access check`
//! reports), counted per service.

use super::{Collector, Freshness, Got, Job, Per, Scope};
use crate::exposition::{Families, Kind, service_labels};
use crate::targets::{Settings, Targets};
use pgfleet_access as access;
use pgfleet_core::Manifest;
use pgfleet_core::manifest::Service;
use pgfleet_core::metric_names::serve as names;
use std::collections::BTreeMap;

/// Differences from the manifest's access, by service.
#[derive(Debug, Clone, Default)]
pub struct Drift {
    pub by_service: BTreeMap<String, usize>,
}

impl Collector for Drift {
    const NAME: &'static str = "drift";
    const PER: Per = Per::Database;
    const FRESHNESS: Freshness = Freshness::Drift;

    /// Only a fleet that manages its roles has drift.
    fn wanted(scope: Scope, manifest: &Manifest) -> bool {
        scope == Scope::Everything && manifest.fleet.manage_roles
    }

    async fn refresh(job: Job) -> Result<Self, String> {
        let target = &job.targets.databases[job.index];
        let services: Vec<&Service> = target
            .services
            .iter()
            .map(|&s| &job.targets.services[s].config)
            .collect();
        let session = target.session(job.cap).await?;
        let pg = |e: tokio_postgres::Error| target.error(&e);
        let mut differences =
            access::plan_database(&target.server, &target.database, &services, &session)
                .await
                .map_err(|e| pg(e.into_postgres()))?
                .differences;
        // The roles of the database's services (cluster-wide, but counted per service).
        let roles = access::plan_cluster(
            &job.manifest,
            &target.server,
            &services,
            &target.user,
            &session,
            &BTreeMap::new(),
        )
        .await
        .map_err(|e| pg(e.into_postgres()))?;
        differences.extend(roles.differences);
        let mut drift = Drift::default();
        for service in &services {
            let count = differences
                .iter()
                .filter(|d| access::fact_concerns(&d.fact, service))
                .count();
            drift.by_service.insert(service.name.clone(), count);
        }
        Ok(drift)
    }

    fn report(out: &mut Families, targets: &Targets, results: &[Got<Self>], _: &Settings) {
        out.declare(
            names::ACCESS_DRIFT,
            "Differences between the service's roles and grants and the manifest (access check).",
            Kind::Gauge,
        );
        for service in &targets.services {
            if let Some(Ok(drift)) = results.get(service.db)
                && let Some(count) = drift.value.by_service.get(&service.name)
            {
                out.gauge(
                    names::ACCESS_DRIFT,
                    "",
                    service_labels(service),
                    *count as f64,
                );
            }
        }
    }
}
