//! Seed 002's metrics, without its `{service}_` prefix: every series carries a `service` label
//! instead, so one dashboard serves every service of the fleet
//! (`database_connections_active{service="dashboard"}`).
//!
//! Recording never fails and never blocks a query: counters and histograms are atomics or
//! short uncontended locks, and the connection gauges are read from the pool at scrape time.

use crate::error::ERROR_KINDS;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::borrow::Cow;
use std::sync::{Arc, Weak};
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct QueryLabels {
    pub operation: &'static str,
    pub table: &'static str,
    pub name: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ResultLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct KindLabels {
    pub kind: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn query_histogram() -> Histogram {
    // 0.25 ms … ~16 s.
    Histogram::new(exponential_buckets(0.00025, 2.0, 17))
}

fn acquire_histogram() -> Histogram {
    // 10 µs … ~20 s: an idle connection is handed out in microseconds.
    Histogram::new(exponential_buckets(0.00001, 2.0, 22))
}

/// The handles of one pool's metrics (cheap clones of shared atomics).
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    pub acquired: Counter,
    pub released: Counter,
    pub created: Counter,
    pub acquire_duration: Histogram,
    pub acquire_timeouts: Counter,
    pub query_duration: HistogramFamily<QueryLabels>,
    pub transaction_duration: HistogramFamily<ResultLabels>,
    pub transactions: Family<ResultLabels, Counter>,
    pub errors: Family<KindLabels, Counter>,
    /// One handle per kind, looked up without hashing.
    error_handles: Arc<Vec<(&'static str, Counter)>>,
    pub service: String,
}

/// Transaction outcomes (`result` label).
pub(crate) const TX_COMMIT: &str = "commit";
pub(crate) const TX_ROLLBACK: &str = "rollback";
pub(crate) const TX_RETRY: &str = "retry";

impl Metrics {
    pub fn new(service: &str) -> Self {
        let errors: Family<KindLabels, Counter> = Family::default();
        let error_handles = ERROR_KINDS
            .iter()
            .map(|kind| (*kind, errors.get_or_create(&KindLabels { kind }).clone()))
            .collect();
        let transactions: Family<ResultLabels, Counter> = Family::default();
        let transaction_duration: HistogramFamily<ResultLabels> =
            Family::new_with_constructor(query_histogram);
        for result in [TX_COMMIT, TX_ROLLBACK, TX_RETRY] {
            drop(transactions.get_or_create(&ResultLabels { result }));
            drop(transaction_duration.get_or_create(&ResultLabels { result }));
        }
        Self {
            acquired: Counter::default(),
            released: Counter::default(),
            created: Counter::default(),
            acquire_duration: acquire_histogram(),
            acquire_timeouts: Counter::default(),
            query_duration: Family::new_with_constructor(query_histogram),
            transaction_duration,
            transactions,
            errors,
            error_handles: Arc::new(error_handles),
            service: service.to_owned(),
        }
    }

    pub fn error(&self, kind: &'static str) {
        match self.error_handles.iter().find(|(k, _)| *k == kind) {
            Some((_, counter)) => {
                counter.inc();
            }
            None => {
                self.errors.get_or_create(&KindLabels { kind }).inc();
            }
        }
    }

    pub fn query(&self, labels: &QueryLabels, elapsed: Duration) {
        self.query_duration
            .get_or_create(labels)
            .observe(elapsed.as_secs_f64());
    }

    pub fn transaction(&self, result: &'static str, elapsed: Duration) {
        let labels = ResultLabels { result };
        self.transactions.get_or_create(&labels).inc();
        self.transaction_duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// Registers every metric in `registry` under a `service` label, plus a collector for the
    /// connection gauges that reads `gauges` at scrape time.
    pub fn register(&self, registry: &mut Registry, gauges: Weak<dyn PoolGauges>) {
        let registry = registry
            .sub_registry_with_label((Cow::Borrowed("service"), Cow::Owned(self.service.clone())));
        registry.register(
            "database_connections_acquired",
            "Connections handed out by the pool",
            self.acquired.clone(),
        );
        registry.register(
            "database_connections_released",
            "Connections given back to the pool",
            self.released.clone(),
        );
        registry.register(
            "database_connections_created",
            "Connections opened to the database",
            self.created.clone(),
        );
        registry.register(
            "database_connections_acquire_duration_seconds",
            "Time callers waited for a connection",
            self.acquire_duration.clone(),
        );
        registry.register(
            "database_connections_acquire_timeouts",
            "Callers that gave up waiting for a connection (pool exhausted)",
            self.acquire_timeouts.clone(),
        );
        registry.register(
            "database_query_duration_seconds",
            "Duration of tracked queries by operation, table and name",
            self.query_duration.clone(),
        );
        registry.register(
            "database_transaction_duration_seconds",
            "Duration of transactions by result (commit, rollback, retry)",
            self.transaction_duration.clone(),
        );
        registry.register(
            "database_transactions",
            "Transactions by result (commit, rollback, retry: an attempt rolled back to be run again)",
            self.transactions.clone(),
        );
        registry.register(
            "database_errors",
            "Database errors by kind",
            self.errors.clone(),
        );
        registry.register_collector(Box::new(GaugeCollector(gauges)));
    }
}

/// One pool's state, for the gauges.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PoolState {
    pub max_size: usize,
    pub size: usize,
    pub idle: usize,
    pub waiting: usize,
}

impl PoolState {
    pub fn active(&self) -> usize {
        self.size.saturating_sub(self.idle)
    }
}

pub(crate) trait PoolGauges: std::fmt::Debug + Send + Sync + 'static {
    /// (`pool` label, state) of the primary and of each replica.
    fn states(&self) -> Vec<(&'static str, PoolState)>;
}

#[derive(Debug)]
struct GaugeCollector(Weak<dyn PoolGauges>);

impl Collector for GaugeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(pools) = self.0.upgrade() else {
            return Ok(());
        };
        let states = pools.states();
        type Gauge = (&'static str, &'static str, fn(&PoolState) -> usize);
        let gauges: [Gauge; 5] = [
            (
                "database_connections_active",
                "Connections in use",
                PoolState::active,
            ),
            (
                "database_connections_idle",
                "Open connections not in use",
                |s| s.idle,
            ),
            ("database_connections_total", "Open connections", |s| s.size),
            (
                "database_connections_waiting",
                "Callers waiting for a connection",
                |s| s.waiting,
            ),
            ("database_connections_max", "The pool's maximum size", |s| {
                s.max_size
            }),
        ];
        for (name, help, value) in gauges {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (pool, state) in &states {
                let gauge = ConstGauge::new(value(state) as i64);
                gauge.encode(family.encode_family(&[("pool", *pool)])?)?;
            }
        }
        Ok(())
    }
}
