//! A [`Snapshot`] as Prometheus metrics: OpenMetrics from prometheus-client's encoder, and the
//! classic Prometheus text format (0.0.4) derived from it for scrapers that do not ask for
//! OpenMetrics.
//!
//! Label conventions: per-service metrics carry `service`, `database` and `schema` (empty
//! when the service owns its database); database-wide counters carry `server` and `database`
//! (in a shared database they are the database's, not one service's: join through
//! `pgfleet_service_info`); server-wide ones carry `server`.

use super::collectors::Snapshot;
use super::targets::{ServiceTarget, Settings, Targets};
use pgfleet_core::metric_names::serve as names;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub type Labels = Vec<(String, String)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
    Histogram,
}

#[derive(Debug)]
pub enum Sample {
    Value(f64),
    Histogram {
        sum: f64,
        count: u64,
        /// Per-bucket (not cumulative) counts; the last bound is +Inf.
        buckets: Vec<(f64, u64)>,
    },
}

#[derive(Debug)]
pub struct Family {
    /// Without `_total` for counters (the encoder adds it).
    name: &'static str,
    help: &'static str,
    kind: Kind,
    pub samples: Vec<(Labels, Sample)>,
}

/// The metric families of one snapshot, in a fixed order. A family's HELP is the one given
/// first; later samples pass "".
#[derive(Debug, Default)]
pub struct Families(Vec<Family>);

impl Families {
    pub fn family(&mut self, name: &'static str, help: &'static str, kind: Kind) -> &mut Family {
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

    pub fn gauge(&mut self, name: &'static str, help: &'static str, labels: Labels, value: f64) {
        self.family(name, help, Kind::Gauge)
            .samples
            .push((labels, Sample::Value(value)));
    }

    pub fn counter(&mut self, name: &'static str, help: &'static str, labels: Labels, value: f64) {
        self.family(name, help, Kind::Counter)
            .samples
            .push((labels, Sample::Value(value)));
    }

    /// Declares a family even when it has no samples this time, so its HELP and TYPE are
    /// always there.
    pub fn declare(&mut self, name: &'static str, help: &'static str, kind: Kind) {
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

pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), label_value(v)))
        .collect()
}

pub fn service_labels(service: &ServiceTarget) -> Labels {
    labels(&[
        ("service", &service.name),
        ("database", &service.database),
        ("schema", service.schema_label()),
    ])
}

pub fn with(mut base: Labels, key: &str, value: &str) -> Labels {
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
pub fn openmetrics(
    targets: &Targets,
    snapshot: &Snapshot,
    scrapes: u64,
    settings: &Settings,
) -> String {
    let families = families(targets, snapshot, scrapes, settings);
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

fn families(targets: &Targets, snapshot: &Snapshot, scrapes: u64, settings: &Settings) -> Families {
    let mut f = Families::default();
    f.gauge(
        names::BUILD_INFO,
        "pgfleet's version (always 1).",
        labels(&[
            ("version", env!("CARGO_PKG_VERSION")),
            ("fleet", &targets.fleet),
            ("environment", &targets.environment),
        ]),
        1.0,
    );
    f.gauge(
        names::SCRAPE_DURATION_SECONDS,
        "Time this scrape took to gather every collector.",
        Vec::new(),
        snapshot.duration.as_secs_f64(),
    );
    f.counter(
        names::SCRAPES,
        "Scrapes served since the daemon started.",
        Vec::new(),
        scrapes as f64,
    );
    for collector in &snapshot.collectors {
        f.counter(
            names::COLLECTOR_ERRORS,
            "Failed refreshes of a collector since the daemon started.",
            labels(&[("collector", collector.name)]),
            collector.errors as f64,
        );
        f.counter(
            names::COLLECTOR_REFRESHES,
            "Refreshes of a collector (rounds of queries) since the daemon started; the \
             caches keep this well below the scrape and probe rate.",
            labels(&[("collector", collector.name)]),
            collector.refreshes as f64,
        );
    }
    for service in &targets.services {
        let mut info = service_labels(service);
        info.push(("server".into(), service.server.clone()));
        f.gauge(
            names::SERVICE_INFO,
            "Where a service's data lives (always 1).",
            info,
            1.0,
        );
    }
    // Success and refresh time of every collector for every target it covers.
    f.declare(
        names::COLLECTOR_SUCCESS,
        "1 when a collector's latest result for a target is usable in this scrape.",
        Kind::Gauge,
    );
    f.declare(
        names::COLLECTOR_DURATION_SECONDS,
        "Time a collector's latest refresh took.",
        Kind::Gauge,
    );
    for collector in &snapshot.collectors {
        for (index, (ok, took)) in collector.outcomes.iter().enumerate() {
            let base = labels(&[
                ("collector", collector.name),
                ("target", &collector.per.target(targets, index)),
            ]);
            f.gauge(
                names::COLLECTOR_SUCCESS,
                "",
                base.clone(),
                if *ok { 1.0 } else { 0.0 },
            );
            if let Some(took) = took {
                f.gauge(
                    names::COLLECTOR_DURATION_SECONDS,
                    "",
                    base,
                    took.as_secs_f64(),
                );
            }
        }
    }
    for collector in &snapshot.collectors {
        collector.report(&mut f, targets, settings);
    }
    f
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
