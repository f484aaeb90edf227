//! Block hits and reads of each database's user tables, by schema: a service's cache hit ratio.

use super::{Collector, Freshness, Got, Job, Per};
use crate::exposition::{Families, Kind, service_labels};
use crate::targets::{Settings, Targets};
use pgfleet_core::metric_names::serve as names;
use std::collections::BTreeMap;

/// Block reads and hits of a database's user tables, by schema.
#[derive(Debug, Clone, Default)]
pub struct TableStats {
    pub by_schema: BTreeMap<String, (f64, f64)>,
}

impl Collector for TableStats {
    const NAME: &'static str = "tables";
    const PER: Per = Per::Database;
    const FRESHNESS: Freshness = Freshness::Slow;

    async fn refresh(job: Job) -> Result<Self, String> {
        let target = &job.targets.databases[job.index];
        let session = target.session(job.cap).await?;
        let rows = session
            .query(
                "SELECT schemaname::text,
                        sum(coalesce(heap_blks_hit, 0) + coalesce(idx_blks_hit, 0))::float8,
                        sum(coalesce(heap_blks_read, 0) + coalesce(idx_blks_read, 0))::float8
                   FROM pg_statio_user_tables GROUP BY 1",
                &[],
            )
            .await
            .map_err(|e| target.error(&e))?;
        Ok(TableStats {
            by_schema: rows
                .iter()
                .map(|r| (r.get(0), (r.get(1), r.get(2))))
                .collect(),
        })
    }

    fn report(out: &mut Families, targets: &Targets, results: &[Got<Self>], _: &Settings) {
        out.declare(
            names::SERVICE_CACHE_HIT_RATIO,
            "Share of the service's table and index block reads served from shared buffers.",
            Kind::Gauge,
        );
        for service in &targets.services {
            if let Some(Ok(tables)) = results.get(service.db)
                && let Some((hit, read)) = tables.value.by_schema.get(&service.data_schema)
                && hit + read > 0.0
            {
                out.gauge(
                    names::SERVICE_CACHE_HIT_RATIO,
                    "",
                    service_labels(service),
                    hit / (hit + read),
                );
            }
        }
    }
}
