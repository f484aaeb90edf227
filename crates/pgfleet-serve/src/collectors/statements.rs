//! pg_stat_statements of each server's service roles: totals, a histogram of mean times and
//! the top queries by total time, per service.

use super::{Collector, Freshness, Got, Job, Per};
use crate::exposition::{Families, Kind, Sample, labels, service_labels, with};
use crate::targets::{Settings, Targets};
use pgfleet_core::metric_names::serve as names;
use std::collections::BTreeMap;

/// Buckets of the per-service query time histogram (seconds).
const QUERY_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// pg_stat_statements of a server's service roles.
#[derive(Debug, Clone, Default)]
pub struct Statements {
    /// False when the extension is in none of the server's databases.
    pub available: bool,
    pub rows: Vec<StatementRow>,
}

#[derive(Debug, Clone)]
pub struct StatementRow {
    pub role: String,
    pub query_id: i64,
    pub query: String,
    pub calls: f64,
    pub total_seconds: f64,
    pub rows: f64,
    pub mean_seconds: f64,
}

impl Collector for Statements {
    const NAME: &'static str = "statements";
    const PER: Per = Per::Server;
    const FRESHNESS: Freshness = Freshness::Slow;

    async fn refresh(job: Job) -> Result<Self, String> {
        let roles: Vec<String> = job
            .targets
            .services
            .iter()
            .filter(|s| s.server == job.targets.servers[job.index].name)
            .flat_map(|s| s.roles.iter().cloned())
            .collect();
        // The server's own session first (the view shows every database's
        // statements), then the other databases, if the extension is not there.
        let server = &job.targets.servers[job.index];
        let candidates = std::iter::once(&server.session).chain(
            server
                .databases
                .iter()
                .skip(1)
                .map(|&i| &job.targets.databases[i]),
        );
        for db in candidates {
            let session = db.session(job.cap).await?;
            let found = statements(&session, &roles)
                .await
                .map_err(|e| db.error(&e))?;
            if let Some(rows) = found {
                return Ok(Statements {
                    available: true,
                    rows,
                });
            }
        }
        Ok(Statements::default())
    }

    fn report(out: &mut Families, targets: &Targets, results: &[Got<Self>], settings: &Settings) {
        out.declare(
            names::STATEMENTS_CALLS,
            "Statements executed by the service's roles (pg_stat_statements).",
            Kind::Counter,
        );
        out.declare(
            names::STATEMENTS_SECONDS,
            "Execution time of the service's statements (pg_stat_statements).",
            Kind::Counter,
        );
        out.declare(
            names::STATEMENTS_ROWS,
            "Rows returned or affected by the service's statements.",
            Kind::Counter,
        );
        out.declare(
            names::QUERY_DURATION_SECONDS,
            "The service's statement calls, each counted in the bucket of its statement's mean \
         execution time (pg_stat_statements keeps no per-call times).",
            Kind::Histogram,
        );
        out.declare(
            names::TOP_QUERY_SECONDS,
            "Execution time of the service's top statements by total time.",
            Kind::Counter,
        );
        out.declare(
            names::TOP_QUERY_CALLS,
            "Calls of the service's top statements by total time.",
            Kind::Counter,
        );
        out.declare(
            names::TOP_QUERY_MEAN_SECONDS,
            "Mean execution time of the service's top statements by total time.",
            Kind::Gauge,
        );
        for (index, server) in targets.servers.iter().enumerate() {
            let Some(Ok(statements)) = results.get(index) else {
                continue;
            };
            out.gauge(
                names::STATEMENTS_AVAILABLE,
                "1 when pg_stat_statements can be read on the server.",
                labels(&[("server", &server.name)]),
                if statements.value.available { 1.0 } else { 0.0 },
            );
            for service in targets.services.iter().filter(|s| s.server == server.name) {
                let mine: Vec<&StatementRow> = statements
                    .value
                    .rows
                    .iter()
                    .filter(|r| service.roles.contains(&r.role))
                    .collect();
                if !statements.value.available {
                    continue;
                }
                let base = service_labels(service);
                out.counter(
                    names::STATEMENTS_CALLS,
                    "",
                    base.clone(),
                    0.0 + mine.iter().map(|r| r.calls).sum::<f64>(),
                );
                out.counter(
                    names::STATEMENTS_SECONDS,
                    "",
                    base.clone(),
                    0.0 + mine.iter().map(|r| r.total_seconds).sum::<f64>(),
                );
                out.counter(
                    names::STATEMENTS_ROWS,
                    "",
                    base.clone(),
                    0.0 + mine.iter().map(|r| r.rows).sum::<f64>(),
                );
                let mut buckets: Vec<(f64, u64)> = QUERY_BUCKETS
                    .iter()
                    .map(|b| (*b, 0))
                    .chain(std::iter::once((f64::MAX, 0)))
                    .collect();
                let (mut sum, mut count) = (0.0, 0u64);
                for row in &mine {
                    let calls = row.calls as u64;
                    let slot = buckets
                        .iter()
                        .position(|(bound, _)| row.mean_seconds <= *bound)
                        .unwrap_or(buckets.len() - 1);
                    buckets[slot].1 += calls;
                    count += calls;
                    sum += row.total_seconds;
                }
                out.family(names::QUERY_DURATION_SECONDS, "", Kind::Histogram)
                    .samples
                    .push((
                        base.clone(),
                        Sample::Histogram {
                            sum,
                            count,
                            buckets,
                        },
                    ));
                // The top N by total time: a bounded label set, whatever the workload.
                let mut by_query: BTreeMap<i64, (String, f64, f64)> = BTreeMap::new();
                for row in &mine {
                    let entry = by_query
                        .entry(row.query_id)
                        .or_insert_with(|| (row.query.clone(), 0.0, 0.0));
                    entry.1 += row.total_seconds;
                    entry.2 += row.calls;
                }
                let mut ranked: Vec<_> = by_query.into_iter().collect();
                ranked.sort_by(|a, b| b.1.1.total_cmp(&a.1.1));
                for (query_id, (query, seconds, calls)) in
                    ranked.into_iter().take(settings.top_queries)
                {
                    let labels = with(
                        with(base.clone(), "queryid", &query_id.to_string()),
                        "query",
                        &query,
                    );
                    out.counter(names::TOP_QUERY_SECONDS, "", labels.clone(), seconds);
                    out.counter(names::TOP_QUERY_CALLS, "", labels.clone(), calls);
                    out.gauge(
                        names::TOP_QUERY_MEAN_SECONDS,
                        "",
                        labels,
                        if calls > 0.0 { seconds / calls } else { 0.0 },
                    );
                }
            }
        }
    }
}

/// Longest query text kept in a label.
const QUERY_LABEL_CHARS: usize = 120;

/// The statements of `roles`, or `None` when pg_stat_statements is not in this database.
async fn statements(
    session: &tokio_postgres::Client,
    roles: &[String],
) -> Result<Option<Vec<StatementRow>>, tokio_postgres::Error> {
    let schema: Option<String> = session
        .query_opt(
            "SELECT n.nspname::text FROM pg_extension e
               JOIN pg_namespace n ON n.oid = e.extnamespace
              WHERE e.extname = 'pg_stat_statements'",
            &[],
        )
        .await?
        .map(|r| r.get(0));
    let Some(schema) = schema else {
        return Ok(None);
    };
    let rows = session
        .query(
            &format!(
                "SELECT r.rolname::text, s.queryid, s.query, s.calls::float8,
                        s.total_exec_time / 1000, s.rows::float8, s.mean_exec_time / 1000
                   FROM {}.pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
                  WHERE r.rolname = ANY($1) AND s.queryid IS NOT NULL",
                pgfleet_core::ident::quote_ident(&schema)
            ),
            &[&roles],
        )
        .await?;
    Ok(Some(
        rows.iter()
            .map(|r| StatementRow {
                role: r.get(0),
                query_id: r.get(1),
                query: pgfleet_core::statement::excerpt(
                    r.get::<_, Option<String>>(2).as_deref().unwrap_or(""),
                    QUERY_LABEL_CHARS,
                ),
                calls: r.get(3),
                total_seconds: r.get(4),
                rows: r.get(5),
                mean_seconds: r.get(6),
            })
            .collect(),
    ))
}
