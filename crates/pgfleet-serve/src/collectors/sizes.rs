//! Each database's size on disk, and the size of each service schema in it.

use super::{Collector, Freshness, Got, Job, Per};
use crate::exposition::{Families, Kind, labels, service_labels};
use crate::targets::{Settings, Targets};
use pgfleet_core::metric_names::serve as names;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct Sizes {
    pub database_bytes: i64,
    pub database_pretty: String,
    pub schema_bytes: BTreeMap<String, i64>,
}

impl Collector for Sizes {
    const NAME: &'static str = "sizes";
    const PER: Per = Per::Database;
    const FRESHNESS: Freshness = Freshness::Slow;

    async fn refresh(job: Job) -> Result<Self, String> {
        let target = &job.targets.databases[job.index];
        let schemas: Vec<String> = target
            .services
            .iter()
            .filter_map(|&s| job.targets.services[s].schema.clone())
            .collect();
        let session = target.session(job.cap).await?;
        let pg = |e: tokio_postgres::Error| target.error(&e);
        let row = session
            .query_one(
                // One walk of the database's folder.
                "SELECT size, pg_size_pretty(size)
                   FROM (SELECT pg_database_size(current_database()) AS size) s",
                &[],
            )
            .await
            .map_err(pg)?;
        let mut sizes = Sizes {
            database_bytes: row.get(0),
            database_pretty: row.get(1),
            schema_bytes: BTreeMap::new(),
        };
        if !schemas.is_empty() {
            // pg_total_relation_size takes a share lock on each table: a table locked
            // exclusively fails this collector after lock_timeout, and only this one.
            for row in session
                .query(
                    "SELECT n.nspname::text, coalesce(sum(pg_total_relation_size(c.oid)), 0)::int8
                       FROM pg_namespace n
                       LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'm')
                      WHERE n.nspname = ANY($1) GROUP BY 1",
                    &[&schemas],
                )
                .await
                .map_err(pg)?
            {
                sizes.schema_bytes.insert(row.get(0), row.get(1));
            }
        }
        Ok(sizes)
    }

    fn report(out: &mut Families, targets: &Targets, results: &[Got<Self>], _: &Settings) {
        out.declare(
            names::DATABASE_SIZE_BYTES,
            "Size of the database on disk.",
            Kind::Gauge,
        );
        out.declare(
            names::SERVICE_SIZE_BYTES,
            "Size of the service's data: its database, or its schema in a shared one.",
            Kind::Gauge,
        );
        for (index, database) in targets.databases.iter().enumerate() {
            if let Some(Ok(sizes)) = results.get(index) {
                out.gauge(
                    names::DATABASE_SIZE_BYTES,
                    "",
                    labels(&[
                        ("server", &database.server),
                        ("database", &database.database),
                    ]),
                    sizes.value.database_bytes as f64,
                );
            }
        }
        for service in &targets.services {
            let Some(Ok(sizes)) = results.get(service.db) else {
                continue;
            };
            let bytes = match &service.schema {
                None => Some(sizes.value.database_bytes),
                Some(schema) => sizes.value.schema_bytes.get(schema).copied(),
            };
            if let Some(bytes) = bytes {
                out.gauge(
                    names::SERVICE_SIZE_BYTES,
                    "",
                    service_labels(service),
                    bytes as f64,
                );
            }
        }
    }
}
