//! A [`Snapshot`] as Prometheus metrics: OpenMetrics from prometheus-client's encoder, and the
//! classic Prometheus text format (0.0.4) derived from it for scrapers that do not ask for
//! OpenMetrics.
//!
//! Label conventions: per-service metrics carry `service`, `database` and `schema` (empty
//! when the service owns its database); database-wide counters carry `server` and `database`
//! (in a shared database they are the database's, not one service's: join through
//! `pgfleet_service_info`); server-wide ones carry `server`.

use super::collect::{COLLECTORS, Snapshot, StatementRow};
use super::targets::{ServiceTarget, Targets};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;

pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Buckets of the per-service query time histogram (seconds).
const QUERY_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

type Labels = Vec<(String, String)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gauge,
    Counter,
    Histogram,
}

#[derive(Debug)]
enum Sample {
    Value(f64),
    Histogram {
        sum: f64,
        count: u64,
        /// Per-bucket (not cumulative) counts; the last bound is +Inf.
        buckets: Vec<(f64, u64)>,
    },
}

#[derive(Debug)]
struct Family {
    /// Without `_total` for counters (the encoder adds it).
    name: &'static str,
    help: &'static str,
    kind: Kind,
    samples: Vec<(Labels, Sample)>,
}

/// The metric families of one snapshot, in a fixed order.
#[derive(Debug, Default)]
struct Families(Vec<Family>);

impl Families {
    fn family(&mut self, name: &'static str, help: &'static str, kind: Kind) -> &mut Family {
        let index = match self.0.iter().position(|f| f.name == name) {
            Some(index) => index,
            None => {
                self.0.push(Family {
                    name,
                    help,
                    kind,
                    samples: Vec::new(),
                });
                self.0.len() - 1
            }
        };
        &mut self.0[index]
    }

    fn gauge(&mut self, name: &'static str, help: &'static str, labels: Labels, value: f64) {
        self.family(name, help, Kind::Gauge)
            .samples
            .push((labels, Sample::Value(value)));
    }

    fn counter(&mut self, name: &'static str, help: &'static str, labels: Labels, value: f64) {
        self.family(name, help, Kind::Counter)
            .samples
            .push((labels, Sample::Value(value)));
    }

    /// Declares a family even when it has no samples this time, so its HELP and TYPE are
    /// always there.
    fn declare(&mut self, name: &'static str, help: &'static str, kind: Kind) {
        self.family(name, help, kind);
    }
}

impl Collector for Families {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for family in &self.0 {
            let metric_type = match family.kind {
                Kind::Gauge => MetricType::Gauge,
                Kind::Counter => MetricType::Counter,
                Kind::Histogram => MetricType::Histogram,
            };
            let mut metric =
                encoder.encode_descriptor(family.name, family.help, None, metric_type)?;
            for (labels, sample) in &family.samples {
                let mut encoder = metric.encode_family(labels)?;
                match (family.kind, sample) {
                    (Kind::Gauge, Sample::Value(v)) => encoder.encode_gauge(v)?,
                    (Kind::Counter, Sample::Value(v)) => {
                        encoder.encode_counter::<NoLabelSet, f64, f64>(v, None)?
                    }
                    (
                        Kind::Histogram,
                        Sample::Histogram {
                            sum,
                            count,
                            buckets,
                        },
                    ) => encoder.encode_histogram::<NoLabelSet>(*sum, *count, buckets, None)?,
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), label_value(v)))
        .collect()
}

fn service_labels(service: &ServiceTarget) -> Labels {
    labels(&[
        ("service", &service.name),
        ("database", &service.database),
        ("schema", service.schema_label()),
    ])
}

fn with(mut base: Labels, key: &str, value: &str) -> Labels {
    base.push((key.to_owned(), label_value(value)));
    base
}

/// prometheus-client writes label values as given, so characters the text format would need
/// escaped are replaced (query texts are the only values that can hold them).
fn label_value(value: &str) -> String {
    value
        .chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            '\n' | '\r' | '\t' => ' ',
            c => c,
        })
        .collect()
}

/// The snapshot in OpenMetrics text.
pub fn openmetrics(targets: &Targets, snapshot: &Snapshot, scrapes: u64, top: usize) -> String {
    let families = families(targets, snapshot, scrapes, top);
    let mut registry = Registry::default();
    registry.register_collector(Box::new(families));
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
    text
}

/// OpenMetrics text turned into Prometheus text format 0.0.4: no `# EOF` or `# UNIT`, and a
/// counter's HELP and TYPE name its `_total` series.
pub fn prometheus_text(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(line) => out.push_str(&line),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

fn families(targets: &Targets, snapshot: &Snapshot, scrapes: u64, top: usize) -> Families {
    let mut f = Families::default();
    f.gauge(
        "pgfleet_build_info",
        "pgfleet's version (always 1).",
        labels(&[
            ("version", env!("CARGO_PKG_VERSION")),
            ("fleet", &targets.fleet),
            ("environment", &targets.environment),
        ]),
        1.0,
    );
    f.gauge(
        "pgfleet_scrape_duration_seconds",
        "Time this scrape took to gather every collector.",
        Vec::new(),
        snapshot.duration.as_secs_f64(),
    );
    f.counter(
        "pgfleet_scrapes",
        "Scrapes served since the daemon started.",
        Vec::new(),
        scrapes as f64,
    );
    for (index, collector) in COLLECTORS.iter().enumerate() {
        f.counter(
            "pgfleet_collector_errors",
            "Failed refreshes of a collector since the daemon started.",
            labels(&[("collector", collector)]),
            snapshot.errors[index] as f64,
        );
        f.counter(
            "pgfleet_collector_refreshes",
            "Refreshes of a collector (rounds of queries) since the daemon started; the \
             caches keep this well below the scrape and probe rate.",
            labels(&[("collector", collector)]),
            snapshot.refreshes[index] as f64,
        );
    }

    for service in &targets.services {
        let mut info = service_labels(service);
        info.push(("server".into(), service.server.clone()));
        f.gauge(
            "pgfleet_service_info",
            "Where a service's data lives (always 1).",
            info,
            1.0,
        );
    }

    // Reachability, per service (from its database's probe).
    for service in &targets.services {
        let probe = &snapshot.probe[service.db];
        let base = service_labels(service);
        f.gauge(
            "pgfleet_up",
            "1 when the service's database answers a trivial query within the deadline.",
            base.clone(),
            if probe.is_ok() { 1.0 } else { 0.0 },
        );
        f.declare(
            "pgfleet_response_time_seconds",
            "Time the service's database took to answer SELECT 1.",
            Kind::Gauge,
        );
        if let Ok(probe) = probe {
            f.gauge(
                "pgfleet_response_time_seconds",
                "",
                base,
                probe.value.response_seconds,
            );
        }
    }

    collector_health(&mut f, targets, snapshot);
    activity(&mut f, targets, snapshot);
    tables_and_sizes(&mut f, targets, snapshot);
    migrations(&mut f, targets, snapshot);
    statements(&mut f, targets, snapshot, top);
    f
}

/// Success and refresh time of every collector for every scope it covers.
fn collector_health(f: &mut Families, targets: &Targets, snapshot: &Snapshot) {
    let mut report = |collector: &str, target: &str, ok: bool, took: Option<f64>| {
        let base = labels(&[("collector", collector), ("target", target)]);
        f.gauge(
            "pgfleet_collector_success",
            "1 when a collector's latest result for a target is usable in this scrape.",
            base.clone(),
            if ok { 1.0 } else { 0.0 },
        );
        f.declare(
            "pgfleet_collector_duration_seconds",
            "Time a collector's latest refresh took.",
            Kind::Gauge,
        );
        if let Some(took) = took {
            f.gauge("pgfleet_collector_duration_seconds", "", base, took);
        }
    };
    macro_rules! each {
        ($name:literal, $results:expr, $scope:expr) => {
            for (index, got) in $results.iter().enumerate() {
                let took = got.as_ref().ok().map(|t| t.took.as_secs_f64());
                report($name, &$scope(index), got.is_ok(), took);
            }
        };
    }
    let database = |i: usize| {
        let d = &targets.databases[i];
        format!("{}/{}", d.server, d.database)
    };
    each!("probe", snapshot.probe, database);
    each!("activity", snapshot.activity, |i: usize| targets.servers[i]
        .name
        .clone());
    each!("statements", snapshot.statements, |i: usize| targets
        .servers[i]
        .name
        .clone());
    each!("tables", snapshot.tables, database);
    each!("sizes", snapshot.sizes, database);
    each!("migrations", snapshot.migrations, |i: usize| targets
        .services[i]
        .name
        .clone());
    each!("drift", snapshot.drift, database);
}

fn activity(f: &mut Families, targets: &Targets, snapshot: &Snapshot) {
    for (index, server) in targets.servers.iter().enumerate() {
        let Ok(activity) = &snapshot.activity[index] else {
            continue;
        };
        let activity = &activity.value;
        let server_labels = labels(&[("server", &server.name)]);
        f.gauge(
            "pgfleet_server_max_connections",
            "The server's max_connections.",
            server_labels.clone(),
            activity.max_connections as f64,
        );
        f.gauge(
            "pgfleet_server_connections",
            "Client sessions on the server, every role included.",
            server_labels.clone(),
            activity.sessions.iter().map(|s| s.total).sum::<i64>() as f64,
        );
        f.gauge(
            "pgfleet_server_in_recovery",
            "1 when the server is a replica (in recovery).",
            server_labels.clone(),
            if activity.in_recovery { 1.0 } else { 0.0 },
        );
        f.declare(
            "pgfleet_replication_lag_seconds",
            "How far a replica's replay is behind (0 when it has replayed all it received).",
            Kind::Gauge,
        );
        if let Some(lag) = activity.replication_lag_seconds {
            f.gauge("pgfleet_replication_lag_seconds", "", server_labels, lag);
        }
        for &db in &server.databases {
            let database = &targets.databases[db];
            let Some(stats) = activity.databases.get(&database.database) else {
                continue;
            };
            let base = labels(&[("server", &server.name), ("database", &database.database)]);
            for (name, help, value) in [
                (
                    "pgfleet_database_commits",
                    "Transactions committed in the database (pg_stat_database).",
                    stats.commits,
                ),
                (
                    "pgfleet_database_rollbacks",
                    "Transactions rolled back in the database.",
                    stats.rollbacks,
                ),
                (
                    "pgfleet_database_deadlocks",
                    "Deadlocks detected in the database.",
                    stats.deadlocks,
                ),
                (
                    "pgfleet_database_temp_bytes",
                    "Bytes written to temporary files by the database's queries.",
                    stats.temp_bytes,
                ),
            ] {
                f.counter(name, help, base.clone(), value);
            }
            let blocks = stats.blocks_hit + stats.blocks_read;
            if blocks > 0.0 {
                f.gauge(
                    "pgfleet_database_cache_hit_ratio",
                    "Share of block reads served from shared buffers, database-wide.",
                    base.clone(),
                    stats.blocks_hit / blocks,
                );
            }
            f.gauge(
                "pgfleet_database_backends",
                "Sessions connected to the database, every role included.",
                base,
                stats.backends as f64,
            );
        }
        for service in targets.services.iter().filter(|s| s.server == server.name) {
            let mine: Vec<_> = activity
                .sessions
                .iter()
                .filter(|s| service.roles.contains(&s.role))
                .collect();
            let base = service_labels(service);
            let sum = |pick: fn(&super::collect::Sessions) -> i64| -> f64 {
                mine.iter().map(|s| pick(s)).sum::<i64>() as f64
            };
            for (state, value) in [
                ("active", sum(|s| s.active)),
                ("idle", sum(|s| s.idle)),
                ("idle_in_transaction", sum(|s| s.idle_in_transaction)),
                ("waiting", sum(|s| s.waiting)),
            ] {
                f.gauge(
                    "pgfleet_connections",
                    "Sessions of the service's roles by state (waiting: on a lock).",
                    with(base.clone(), "state", state),
                    value,
                );
            }
            let open = sum(|s| s.total);
            f.gauge(
                "pgfleet_connections_open",
                "Sessions of the service's roles, any state.",
                base.clone(),
                open,
            );
            f.gauge(
                "pgfleet_pool_max_connections",
                "The service's pool size in the manifest.",
                base.clone(),
                f64::from(service.pool_max),
            );
            f.gauge(
                "pgfleet_pool_utilization_ratio",
                "The service's open sessions over its pool size (degraded above 0.8).",
                base.clone(),
                if service.pool_max == 0 {
                    0.0
                } else {
                    open / f64::from(service.pool_max)
                },
            );
            f.gauge(
                "pgfleet_lock_waits",
                "Sessions of the service's roles waiting on a lock.",
                base.clone(),
                sum(|s| s.waiting),
            );
            let oldest = |pick: fn(&super::collect::Sessions) -> Option<f64>| {
                mine.iter().filter_map(|s| pick(s)).fold(0.0, f64::max)
            };
            f.gauge(
                "pgfleet_oldest_transaction_seconds",
                "Age of the service's longest open transaction (0 when none).",
                base.clone(),
                oldest(|s| s.oldest_transaction_seconds),
            );
            f.gauge(
                "pgfleet_oldest_query_seconds",
                "Run time of the service's longest running query (0 when none).",
                base,
                oldest(|s| s.oldest_query_seconds),
            );
        }
    }
}

fn tables_and_sizes(f: &mut Families, targets: &Targets, snapshot: &Snapshot) {
    f.declare(
        "pgfleet_database_size_bytes",
        "Size of the database on disk.",
        Kind::Gauge,
    );
    f.declare(
        "pgfleet_service_size_bytes",
        "Size of the service's data: its database, or its schema in a shared one.",
        Kind::Gauge,
    );
    f.declare(
        "pgfleet_service_cache_hit_ratio",
        "Share of the service's table and index block reads served from shared buffers.",
        Kind::Gauge,
    );
    for (index, database) in targets.databases.iter().enumerate() {
        if let Ok(sizes) = &snapshot.sizes[index] {
            f.gauge(
                "pgfleet_database_size_bytes",
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
        if let Ok(sizes) = &snapshot.sizes[service.db] {
            let bytes = match &service.schema {
                None => Some(sizes.value.database_bytes),
                Some(schema) => sizes.value.schema_bytes.get(schema).copied(),
            };
            if let Some(bytes) = bytes {
                f.gauge(
                    "pgfleet_service_size_bytes",
                    "",
                    service_labels(service),
                    bytes as f64,
                );
            }
        }
        if let Ok(tables) = &snapshot.tables[service.db]
            && let Some((hit, read)) = tables.value.by_schema.get(&service.data_schema)
            && hit + read > 0.0
        {
            f.gauge(
                "pgfleet_service_cache_hit_ratio",
                "",
                service_labels(service),
                hit / (hit + read),
            );
        }
    }
}

fn migrations(f: &mut Families, targets: &Targets, snapshot: &Snapshot) {
    f.declare(
        "pgfleet_migration_version",
        "The service's current migration version (absent before the first one).",
        Kind::Gauge,
    );
    f.declare(
        "pgfleet_migration_last_applied_timestamp_seconds",
        "When the service's latest migration was applied (Unix time).",
        Kind::Gauge,
    );
    f.declare(
        "pgfleet_access_drift",
        "Differences between the service's roles and grants and the manifest (access check).",
        Kind::Gauge,
    );
    for (index, service) in targets.services.iter().enumerate() {
        let base = service_labels(service);
        if let Ok(m) = &snapshot.migrations[index] {
            let m = &m.value;
            if let Some(version) = m.current {
                f.gauge(
                    "pgfleet_migration_version",
                    "",
                    base.clone(),
                    version as f64,
                );
            }
            f.gauge(
                "pgfleet_migrations_pending",
                "Migration files of the service not applied yet.",
                base.clone(),
                m.pending as f64,
            );
            f.gauge(
                "pgfleet_migration_dirty",
                "1 when a non-transactional migration of the service stopped half-way.",
                base.clone(),
                if m.dirty { 1.0 } else { 0.0 },
            );
            f.gauge(
                "pgfleet_migration_problems",
                "Edited, missing or out-of-order migrations of the service.",
                base.clone(),
                m.problems as f64,
            );
            if let Some(at) = m.last_applied_unix {
                f.gauge(
                    "pgfleet_migration_last_applied_timestamp_seconds",
                    "",
                    base.clone(),
                    at,
                );
            }
        }
        if let Some(Ok(drift)) = snapshot.drift.get(service.db)
            && let Some(count) = drift.value.by_service.get(&service.name)
        {
            f.gauge("pgfleet_access_drift", "", base, *count as f64);
        }
    }
}

fn statements(f: &mut Families, targets: &Targets, snapshot: &Snapshot, top: usize) {
    f.declare(
        "pgfleet_statements_calls",
        "Statements executed by the service's roles (pg_stat_statements).",
        Kind::Counter,
    );
    f.declare(
        "pgfleet_statements_seconds",
        "Execution time of the service's statements (pg_stat_statements).",
        Kind::Counter,
    );
    f.declare(
        "pgfleet_statements_rows",
        "Rows returned or affected by the service's statements.",
        Kind::Counter,
    );
    f.declare(
        "pgfleet_query_duration_seconds",
        "The service's statement calls, each counted in the bucket of its statement's mean \
         execution time (pg_stat_statements keeps no per-call times).",
        Kind::Histogram,
    );
    f.declare(
        "pgfleet_top_query_seconds",
        "Execution time of the service's top statements by total time.",
        Kind::Counter,
    );
    f.declare(
        "pgfleet_top_query_calls",
        "Calls of the service's top statements by total time.",
        Kind::Counter,
    );
    f.declare(
        "pgfleet_top_query_mean_seconds",
        "Mean execution time of the service's top statements by total time.",
        Kind::Gauge,
    );
    for (index, server) in targets.servers.iter().enumerate() {
        let Ok(statements) = &snapshot.statements[index] else {
            continue;
        };
        f.gauge(
            "pgfleet_statements_available",
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
            f.counter(
                "pgfleet_statements_calls",
                "",
                base.clone(),
                0.0 + mine.iter().map(|r| r.calls).sum::<f64>(),
            );
            f.counter(
                "pgfleet_statements_seconds",
                "",
                base.clone(),
                0.0 + mine.iter().map(|r| r.total_seconds).sum::<f64>(),
            );
            f.counter(
                "pgfleet_statements_rows",
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
            f.family("pgfleet_query_duration_seconds", "", Kind::Histogram)
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
            for (query_id, (query, seconds, calls)) in ranked.into_iter().take(top) {
                let labels = with(
                    with(base.clone(), "queryid", &query_id.to_string()),
                    "query",
                    &query,
                );
                f.counter("pgfleet_top_query_seconds", "", labels.clone(), seconds);
                f.counter("pgfleet_top_query_calls", "", labels.clone(), calls);
                f.gauge(
                    "pgfleet_top_query_mean_seconds",
                    "",
                    labels,
                    if calls > 0.0 { seconds / calls } else { 0.0 },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::prometheus_text;

    #[test]
    fn label_values_never_break_the_text_format() {
        assert_eq!(super::label_value("SET ROLE \"a\\b\"\n"), "SET ROLE 'a/b' ");
    }

    #[test]
    fn prometheus_text_names_counter_series_and_drops_eof() {
        let om = "# HELP a_b Things.\n# TYPE a_b counter\na_b_total 3\n# HELP g G.\n# TYPE g gauge\n# UNIT g seconds\ng 1\n# EOF\n";
        assert_eq!(
            prometheus_text(om),
            "# HELP a_b_total Things.\n# TYPE a_b_total counter\na_b_total 3\n# HELP g G.\n# TYPE g gauge\ng 1\n"
        );
    }
}
