//! Each service's backups as serve's environment keeps them: the newest complete backup's age
//! and size, and the newest verified one's age and verify result. The store is read once per
//! slow interval for the whole fleet (its catalogs only, never the data).

use super::{Collector, Freshness, Got, Job, Per};
use crate::exposition::{Families, Kind, service_labels};
use crate::targets::{Settings, Targets};
use jiff::Timestamp;
use pgfleet_backup::status::{self, ServiceStatus};
use pgfleet_core::metric_names::serve as names;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct Backups {
    pub services: BTreeMap<String, ServiceStatus>,
    /// The manifest's `[backup] verified_within`, in seconds (the alert's threshold).
    pub verified_within: f64,
}

impl Collector for Backups {
    const NAME: &'static str = "backups";
    const PER: Per = Per::Fleet;
    const FRESHNESS: Freshness = Freshness::Slow;

    async fn refresh(job: Job) -> Result<Self, String> {
        let store = job.targets.backups.clone()?;
        let catalogs = status::read_all(&store).await.map_err(|e| e.to_string())?;
        let names: Vec<String> = job
            .targets
            .services
            .iter()
            .map(|s| s.name.clone())
            .collect();
        let report = status::status(&catalogs.catalogs, &names, Timestamp::now());
        Ok(Backups {
            services: report
                .services
                .into_iter()
                .map(|s| (s.service.clone(), s))
                .collect(),
            verified_within: job.manifest.backup.verified_within.as_secs_f64(),
        })
    }

    fn report(out: &mut Families, targets: &Targets, results: &[Got<Self>], _: &Settings) {
        let Some(Ok(backups)) = results.first() else {
            return;
        };
        let backups = &backups.value;
        // Ages are taken now, not at the refresh: they grow between reads of the store.
        let now = Timestamp::now();
        let age = |at: Timestamp| (now.as_second() - at.as_second()).max(0) as f64;
        out.declare(
            names::BACKUP_LAST_COMPLETE_AGE_SECONDS,
            "Seconds since the service's newest complete backup was taken (absent: none).",
            Kind::Gauge,
        );
        out.declare(
            names::BACKUP_LAST_COMPLETE_BYTES,
            "Bytes stored of the service's newest complete backup.",
            Kind::Gauge,
        );
        out.declare(
            names::BACKUP_LAST_VERIFIED_AGE_SECONDS,
            "Seconds since the service's newest verified backup was taken (absent: none).",
            Kind::Gauge,
        );
        out.declare(
            names::BACKUP_LAST_VERIFY_SUCCESS,
            "1 when the newest verify of the service's newest verified backup passed.",
            Kind::Gauge,
        );
        for service in &targets.services {
            let base = service_labels(service);
            out.gauge(
                names::BACKUP_VERIFIED_WITHIN_SECONDS,
                "The manifest's [backup] verified_within: the age a verified backup may reach.",
                base.clone(),
                backups.verified_within,
            );
            let Some(status) = backups.services.get(&service.name) else {
                continue;
            };
            if let Some(latest) = &status.latest {
                out.gauge(
                    names::BACKUP_LAST_COMPLETE_AGE_SECONDS,
                    "",
                    base.clone(),
                    age(latest.taken_at),
                );
                out.gauge(
                    names::BACKUP_LAST_COMPLETE_BYTES,
                    "",
                    base.clone(),
                    latest.bytes as f64,
                );
            }
            if let Some(verified) = &status.latest_verified {
                out.gauge(
                    names::BACKUP_LAST_VERIFIED_AGE_SECONDS,
                    "",
                    base.clone(),
                    age(verified.taken_at),
                );
                out.gauge(
                    names::BACKUP_LAST_VERIFY_SUCCESS,
                    "",
                    base,
                    f64::from(u8::from(verified.ok)),
                );
            }
        }
    }
}
