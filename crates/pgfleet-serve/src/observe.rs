//! What `pgfleet observe` generates for the metrics `pgfleet serve` emits: a Grafana dashboard
//! (seed 000 §2.4's panels) and Prometheus alert rules. Both name only metrics the daemon
//! really emits (a test checks them against a real scrape).

use pgfleet_core::metric_names::serve as names;
use serde_json::{Value, json};

/// One alert rule; thresholds are the usual starting points, meant to be edited.
struct Alert {
    name: &'static str,
    expr: String,
    for_: &'static str,
    severity: &'static str,
    summary: &'static str,
    description: &'static str,
}

/// The rules; expressions name metrics through [`names`], so a renamed metric renames them.
fn alerts() -> [Alert; 12] {
    [
        Alert {
            name: "PgfleetDatabaseDown",
            expr: format!("{} == 0", names::UP),
            for_: "1m",
            severity: "critical",
            summary: "{{ $labels.service }}: its database is unreachable",
            description: "pgfleet serve cannot run SELECT 1 on {{ $labels.database }} for service {{ $labels.service }}.",
        },
        Alert {
            name: "PgfleetPoolUtilizationHigh",
            expr: format!("{} > 0.8", names::POOL_UTILIZATION_RATIO),
            for_: "5m",
            severity: "warning",
            summary: "{{ $labels.service }}: over 80% of its pool in use",
            description: "Sessions of {{ $labels.service }} use {{ $value | humanizePercentage }} of its pool size (seed 003's degraded threshold).",
        },
        Alert {
            name: "PgfleetServerConnectionsHigh",
            expr: format!(
                "{} / {} > 0.8",
                names::SERVER_CONNECTIONS,
                names::SERVER_MAX_CONNECTIONS
            ),
            for_: "5m",
            severity: "warning",
            summary: "server {{ $labels.server }}: over 80% of max_connections in use",
            description: "{{ $value | humanizePercentage }} of max_connections is in use on {{ $labels.server }}.",
        },
        Alert {
            name: "PgfleetMigrationsPending",
            expr: format!("{} > 0", names::MIGRATIONS_PENDING),
            for_: "30m",
            severity: "warning",
            summary: "{{ $labels.service }}: {{ $value }} migration(s) pending",
            description: "Migration files of {{ $labels.service }} have been waiting for 30 minutes: run pgfleet migrate up.",
        },
        Alert {
            name: "PgfleetMigrationDirty",
            expr: format!(
                "{} == 1 or {} > 0",
                names::MIGRATION_DIRTY,
                names::MIGRATION_PROBLEMS
            ),
            for_: "0m",
            severity: "critical",
            summary: "{{ $labels.service }}: a migration is dirty, edited or missing",
            description: "See pgfleet migrate status {{ $labels.service }}; a dirty step needs pgfleet migrate repair.",
        },
        Alert {
            name: "PgfleetLongTransaction",
            expr: format!("{} > 300", names::OLDEST_TRANSACTION_SECONDS),
            for_: "2m",
            severity: "warning",
            summary: "{{ $labels.service }}: a transaction has been open for {{ $value | humanizeDuration }}",
            description: "Long transactions hold back vacuum and locks; see pg_stat_activity for the service's roles.",
        },
        Alert {
            name: "PgfleetReplicationLag",
            expr: format!("{} > 60", names::REPLICATION_LAG_SECONDS),
            for_: "5m",
            severity: "warning",
            summary: "replica {{ $labels.server }} is {{ $value | humanizeDuration }} behind",
            description: "The replica's replay lags its primary by more than a minute.",
        },
        Alert {
            name: "PgfleetAccessDrift",
            expr: format!("{} > 0", names::ACCESS_DRIFT),
            for_: "15m",
            severity: "warning",
            summary: "{{ $labels.service }}: {{ $value }} role or grant difference(s) from the manifest",
            description: "Someone changed roles or grants by hand: see pgfleet access check {{ $labels.service }}.",
        },
        Alert {
            name: "PgfleetDeadlocks",
            expr: format!("increase({}_total[10m]) > 0", names::DATABASE_DEADLOCKS),
            for_: "0m",
            severity: "warning",
            summary: "database {{ $labels.database }}: deadlocks in the last 10 minutes",
            description: "PostgreSQL detected {{ $value }} deadlock(s) in {{ $labels.database }}.",
        },
        Alert {
            name: "PgfleetNoVerifiedBackup",
            // Too old, or none at all: the threshold is the manifest's, carried by a metric so
            // that the rules stay the same for every fleet.
            expr: format!(
                "{age} > {within} or ({within} unless {age})",
                age = names::BACKUP_LAST_VERIFIED_AGE_SECONDS,
                within = names::BACKUP_VERIFIED_WITHIN_SECONDS
            ),
            for_: "15m",
            severity: "warning",
            summary: "{{ $labels.service }}: no verified backup within its verified_within",
            description: "No backup of {{ $labels.service }} young enough has been proven to restore: run pgfleet backup create, then pgfleet backup verify.",
        },
        Alert {
            name: "PgfleetBackupVerifyFailed",
            expr: format!("{} == 0", names::BACKUP_LAST_VERIFY_SUCCESS),
            for_: "0m",
            severity: "critical",
            summary: "{{ $labels.service }}: its newest verified backup failed to verify",
            description: "pgfleet backup verify found a missing or changed file, a failed restore or different row counts: see pgfleet backup list {{ $labels.service }}.",
        },
        Alert {
            name: "PgfleetCollectorFailing",
            expr: format!("{} == 0", names::COLLECTOR_SUCCESS),
            for_: "10m",
            severity: "warning",
            summary: "pgfleet serve: collector {{ $labels.collector }} failing for {{ $labels.target }}",
            description: "Its metrics are missing; the daemon's log (-v) says why.",
        },
    ]
}

/// Prometheus alerting rules (YAML).
pub fn alert_rules() -> String {
    let mut out = String::from(
        "# Prometheus alert rules for pgfleet serve's metrics (pgfleet observe alerts).\n\
         groups:\n  - name: pgfleet\n    rules:\n",
    );
    for alert in alerts() {
        out.push_str(&format!(
            "      - alert: {}\n        expr: {}\n        for: {}\n        labels:\n          severity: {}\n        annotations:\n          summary: {}\n          description: {}\n",
            alert.name,
            yaml_string(&alert.expr),
            alert.for_,
            alert.severity,
            yaml_string(alert.summary),
            yaml_string(alert.description),
        ));
    }
    out
}

/// A double-quoted YAML scalar (JSON string syntax is valid YAML).
fn yaml_string(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

/// The names of the alerts, for tests and docs.
pub fn alert_names() -> Vec<&'static str> {
    alerts().iter().map(|a| a.name).collect()
}

fn panel(
    id: u32,
    title: &str,
    kind: &str,
    grid: (u32, u32, u32, u32),
    targets: &[(&str, &str)],
    unit: &str,
) -> Value {
    let (x, y, w, h) = grid;
    json!({
        "id": id,
        "title": title,
        "type": kind,
        "datasource": { "type": "prometheus", "uid": "${datasource}" },
        "gridPos": { "x": x, "y": y, "w": w, "h": h },
        "fieldConfig": { "defaults": { "unit": unit }, "overrides": [] },
        "options": {},
        "targets": targets.iter().enumerate().map(|(i, (expr, legend))| json!({
            "refId": char::from(b'A' + i as u8).to_string(),
            "expr": expr,
            "legendFormat": legend,
        })).collect::<Vec<_>>(),
    })
}

/// A Grafana dashboard (JSON model) with seed 000 §2.4's panels.
pub fn grafana_dashboard() -> Value {
    let s = "service=~\"$service\"";
    let panels = vec![
        panel(
            1,
            "Services up",
            "stat",
            (0, 0, 6, 5),
            &[(&format!("{}{{{s}}}", names::UP), "{{service}}")],
            "none",
        ),
        panel(
            2,
            "Connection pool status",
            "timeseries",
            (6, 0, 9, 8),
            &[(
                &format!("sum by (service, state) ({}{{{s}}})", names::CONNECTIONS),
                "{{service}} {{state}}",
            )],
            "short",
        ),
        panel(
            3,
            "Pool utilization",
            "timeseries",
            (15, 0, 9, 8),
            &[(
                &format!("{}{{{s}}}", names::POOL_UTILIZATION_RATIO),
                "{{service}}",
            )],
            "percentunit",
        ),
        panel(
            4,
            "p95 query time by service",
            "timeseries",
            (0, 8, 12, 8),
            &[(
                &format!(
                    "histogram_quantile(0.95, sum by (service, le) (rate({}_bucket{{{s}}}[5m])))",
                    names::QUERY_DURATION_SECONDS
                ),
                "{{service}}",
            )],
            "s",
        ),
        panel(
            5,
            "Server connections vs max_connections",
            "timeseries",
            (12, 8, 12, 8),
            &[
                (names::SERVER_CONNECTIONS, "{{server}} open"),
                (names::SERVER_MAX_CONNECTIONS, "{{server}} max"),
            ],
            "short",
        ),
        panel(
            6,
            "Size growth",
            "timeseries",
            (0, 16, 12, 8),
            &[(
                &format!("{}{{{s}}}", names::SERVICE_SIZE_BYTES),
                "{{service}}",
            )],
            "bytes",
        ),
        panel(
            7,
            "Migration state",
            "table",
            (12, 16, 12, 8),
            &[
                (&format!("{}{{{s}}}", names::MIGRATION_VERSION), "version"),
                (&format!("{}{{{s}}}", names::MIGRATIONS_PENDING), "pending"),
                (&format!("{}{{{s}}}", names::MIGRATION_DIRTY), "dirty"),
            ],
            "none",
        ),
        panel(
            8,
            "Cache hit ratio",
            "timeseries",
            (0, 24, 8, 8),
            &[(
                &format!("{}{{{s}}}", names::SERVICE_CACHE_HIT_RATIO),
                "{{service}}",
            )],
            "percentunit",
        ),
        panel(
            9,
            "Deadlocks",
            "timeseries",
            (8, 24, 8, 8),
            &[(
                &format!("increase({}_total[5m])", names::DATABASE_DEADLOCKS),
                "{{database}}",
            )],
            "short",
        ),
        panel(
            10,
            "Longest transaction",
            "timeseries",
            (16, 24, 8, 8),
            &[(
                &format!("{}{{{s}}}", names::OLDEST_TRANSACTION_SECONDS),
                "{{service}}",
            )],
            "s",
        ),
        panel(
            11,
            "Top queries by total time",
            "table",
            (0, 32, 16, 8),
            &[(
                &format!(
                    "topk(10, rate({}_total{{{s}}}[5m]))",
                    names::TOP_QUERY_SECONDS
                ),
                "{{service}} {{query}}",
            )],
            "s",
        ),
        panel(
            12,
            "Access drift",
            "stat",
            (16, 32, 8, 8),
            &[(&format!("{}{{{s}}}", names::ACCESS_DRIFT), "{{service}}")],
            "none",
        ),
    ];
    json!({
        "title": "pgfleet: service databases",
        "uid": "pgfleet-services",
        "tags": ["pgfleet", "postgresql"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": { "from": "now-6h", "to": "now" },
        "templating": { "list": [
            {
                "name": "datasource",
                "type": "datasource",
                "query": "prometheus",
                "label": "Prometheus",
            },
            {
                "name": "service",
                "type": "query",
                "datasource": { "type": "prometheus", "uid": "${datasource}" },
                "query": &format!("label_values({}, service)", names::UP),
                "refresh": 2,
                "multi": true,
                "includeAll": true,
                "current": { "text": "All", "value": "$__all" },
            },
        ]},
        "panels": panels,
    })
}

/// Every metric name an expression in the dashboard or the rules refers to.
pub fn referenced_metrics() -> Vec<String> {
    let mut text = grafana_dashboard().to_string();
    text.push_str(&alert_rules());
    let mut names: Vec<String> = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(found) = text[i..].find("pgfleet_") {
        let start = i + found;
        let boundary = start == 0
            || !(bytes[start - 1].is_ascii_alphanumeric()
                || bytes[start - 1] == b'_'
                || bytes[start - 1] == b'-');
        let end = text[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(text.len(), |n| start + n);
        let name = &text[start..end];
        if boundary && !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
        i = end;
    }
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    #[test]
    fn references_are_metric_names_only() {
        let names = super::referenced_metrics();
        assert!(names.contains(&"pgfleet_up".to_owned()));
        assert!(names.contains(&"pgfleet_query_duration_seconds_bucket".to_owned()));
        // The dashboard uid `pgfleet-services` is not a metric.
        assert!(!names.iter().any(|n| n.starts_with("pgfleet_services")));
    }
}
