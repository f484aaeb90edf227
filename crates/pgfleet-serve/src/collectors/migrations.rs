//! Each service's migration state: its files (read at each refresh, so a deploy that ships new
//! ones shows as pending) against its history.

use super::{Collector, Freshness, Got, Job, Per};
use crate::exposition::{Families, Kind, service_labels};
use crate::targets::{Settings, Targets};
use pgfleet_core::metric_names::serve as names;
use pgfleet_migrate::{layout, maintenance};
use pgfleet_pg::history;

#[derive(Debug, Clone)]
pub struct Migrations {
    pub current: Option<i64>,
    pub pending: usize,
    pub dirty: bool,
    pub problems: usize,
    pub last_applied_unix: Option<f64>,
}

impl Collector for Migrations {
    const NAME: &'static str = "migrations";
    const PER: Per = Per::Service;
    const FRESHNESS: Freshness = Freshness::Slow;

    async fn refresh(job: Job) -> Result<Self, String> {
        let target = &job.targets.services[job.index];
        let db = &job.targets.databases[target.db];
        let files = layout::load(&target.migrations_dir, target.config.layout)
            .map_err(|e| e.to_string())?
            .migrations;
        let session = db.session(job.cap).await?;
        let pg = |e: tokio_postgres::Error| db.error(&e);
        let applied = history::read(&session, &target.name).await.map_err(pg)?;
        let last_applied_unix = if applied.is_empty() {
            None
        } else {
            history::last_applied_unix(&session, &target.name)
                .await
                .map_err(pg)?
        };
        let state = maintenance::compare(&target.name, &files, applied);
        Ok(Migrations {
            current: state.current,
            pending: state.pending.len(),
            dirty: state.dirty.is_some(),
            problems: state.problems.len(),
            last_applied_unix,
        })
    }

    fn report(out: &mut Families, targets: &Targets, results: &[Got<Self>], _: &Settings) {
        out.declare(
            names::MIGRATION_VERSION,
            "The service's current migration version (absent before the first one).",
            Kind::Gauge,
        );
        out.declare(
            names::MIGRATION_LAST_APPLIED_TIMESTAMP_SECONDS,
            "When the service's latest migration was applied (Unix time).",
            Kind::Gauge,
        );
        for (index, service) in targets.services.iter().enumerate() {
            let Some(Ok(m)) = results.get(index) else {
                continue;
            };
            let m = &m.value;
            let base = service_labels(service);
            if let Some(version) = m.current {
                out.gauge(names::MIGRATION_VERSION, "", base.clone(), version as f64);
            }
            out.gauge(
                names::MIGRATIONS_PENDING,
                "Migration files of the service not applied yet.",
                base.clone(),
                m.pending as f64,
            );
            out.gauge(
                names::MIGRATION_DIRTY,
                "1 when a non-transactional migration of the service stopped half-way.",
                base.clone(),
                if m.dirty { 1.0 } else { 0.0 },
            );
            out.gauge(
                names::MIGRATION_PROBLEMS,
                "Edited, missing or out-of-order migrations of the service.",
                base.clone(),
                m.problems as f64,
            );
            if let Some(at) = m.last_applied_unix {
                out.gauge(
                    names::MIGRATION_LAST_APPLIED_TIMESTAMP_SECONDS,
                    "",
                    base,
                    at,
                );
            }
        }
    }
}
