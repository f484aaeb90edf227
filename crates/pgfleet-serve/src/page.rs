//! The status page at `/`: one server-rendered HTML table of every service, refreshing itself.

use super::collectors::{Drift, Migrations, Probe, Sizes, Snapshot};
use super::health;
use super::targets::Targets;
use pgfleet_core::health::HealthStatus;
use std::fmt::Write;

/// Seconds between the page's own reloads.
const REFRESH_SECONDS: u32 = 10;

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A size as the page and the CLI's reports show it: `512 B`, `1.5 kB`, `8.0 MB` (steps of 1024).
pub fn bytes(n: i64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

pub fn render(targets: &Targets, snapshot: &Snapshot) -> String {
    let mut rows = String::new();
    let mut counts = [0usize; 3];
    for (index, service) in targets.services.iter().enumerate() {
        let summary = health::summary(targets, snapshot, index);
        counts[summary.status as usize] += 1;
        let place = match &service.schema {
            Some(schema) => format!("{}.{}", service.database, schema),
            None => service.database.clone(),
        };
        let response = summary
            .response_time_seconds
            .map(|t| format!("{:.1} ms", t * 1000.0))
            .unwrap_or_else(|| {
                snapshot.get::<Probe>()[service.db]
                    .as_ref()
                    .err()
                    .cloned()
                    .unwrap_or_default()
            });
        let migrations = match snapshot.get::<Migrations>().get(index) {
            Some(Ok(m)) => {
                let m = &m.value;
                let mut text = m
                    .current
                    .map_or_else(|| "none applied".to_owned(), |v| format!("at {v}"));
                if m.pending > 0 {
                    let _ = write!(text, ", {} pending", m.pending);
                }
                if m.dirty {
                    text.push_str(", DIRTY");
                }
                if m.problems > 0 {
                    let _ = write!(text, ", {} problem(s)", m.problems);
                }
                text
            }
            Some(Err(e)) => format!("unknown ({e})"),
            None => "unknown".to_owned(),
        };
        let size = match snapshot.get::<Sizes>().get(service.db) {
            Some(Ok(sizes)) => match &service.schema {
                None => bytes(sizes.value.database_bytes),
                Some(schema) => sizes
                    .value
                    .schema_bytes
                    .get(schema)
                    .map_or_else(|| "-".to_owned(), |b| bytes(*b)),
            },
            _ => "-".to_owned(),
        };
        let drift = match snapshot.get::<Drift>().get(service.db) {
            Some(Ok(d)) => d
                .value
                .by_service
                .get(&service.name)
                .map_or_else(|| "-".to_owned(), |n| n.to_string()),
            _ => "-".to_owned(),
        };
        let _ = writeln!(
            rows,
            "<tr class=\"{status}\"><td>{name}</td><td><span class=\"badge\">{status}</span></td>\
             <td>{server}</td><td>{place}</td><td>{response}</td><td>{migrations}</td>\
             <td>{size}</td><td>{active} active / {util:.0}% of pool {pool}</td><td>{drift}</td></tr>",
            status = summary.status.as_str(),
            name = escape(&service.name),
            server = escape(&service.server),
            place = escape(&place),
            response = escape(&response),
            migrations = escape(&migrations),
            size = escape(&size),
            active = summary.active_connections,
            util = summary.pool_utilization_percent,
            pool = service.pool_max,
            drift = escape(&drift),
        );
    }
    let overall = if counts[HealthStatus::Unhealthy as usize] > 0 {
        HealthStatus::Unhealthy
    } else if counts[HealthStatus::Degraded as usize] > 0 {
        HealthStatus::Degraded
    } else {
        HealthStatus::Healthy
    };
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<title>pgfleet: {fleet} ({environment})</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #1d2330; background: #f6f7f9; }}
h1 {{ font-size: 1.4rem; margin-bottom: .2rem; }}
p.meta {{ color: #5b6475; margin-top: 0; }}
table {{ border-collapse: collapse; width: 100%; background: white; }}
th, td {{ text-align: left; padding: .45rem .7rem; border-bottom: 1px solid #e3e6eb; font-size: .9rem; }}
th {{ background: #eef0f4; }}
.badge {{ padding: .1rem .5rem; border-radius: .6rem; font-weight: 600; color: white; }}
tr.healthy .badge {{ background: #1f8f4e; }}
tr.degraded .badge {{ background: #c98a00; }}
tr.unhealthy .badge {{ background: #c62f2f; }}
tr.unhealthy td {{ background: #fdf0f0; }}
.summary span {{ margin-right: 1.2rem; font-weight: 600; }}
</style></head>
<body>
<h1>pgfleet: {fleet} <small>({environment})</small></h1>
<p class="meta">Overall: <strong>{overall}</strong> · {services} service(s) · checked {taken} in {took:.0} ms · refreshes every {REFRESH_SECONDS} s</p>
<p class="summary"><span>healthy: {healthy}</span><span>degraded: {degraded}</span><span>unhealthy: {unhealthy}</span></p>
<table>
<thead><tr><th>service</th><th>health</th><th>server</th><th>database</th><th>response</th><th>migrations</th><th>size</th><th>connections</th><th>access drift</th></tr></thead>
<tbody>
{rows}</tbody>
</table>
<p class="meta">Metrics: <a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a> · <a href="/ready">/ready</a></p>
</body></html>
"#,
        fleet = escape(&targets.fleet),
        environment = escape(&targets.environment),
        overall = overall.as_str(),
        services = targets.services.len(),
        taken = humantime::format_rfc3339_seconds(snapshot.taken),
        took = snapshot.duration.as_secs_f64() * 1000.0,
        healthy = counts[HealthStatus::Healthy as usize],
        degraded = counts[HealthStatus::Degraded as usize],
        unhealthy = counts[HealthStatus::Unhealthy as usize],
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup_and_formats_sizes() {
        assert_eq!(
            super::escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(super::bytes(512), "512 B");
        assert_eq!(super::bytes(8 * 1024 * 1024), "8.0 MB");
    }
}
