//! Seed 002's metrics, without its `{service}_` prefix: every series carries a `service` label
//! instead, so one dashboard serves every service of the fleet
//! (`database_connections_active{service="dashboard"}`).
//!
//! Recording never fails and never blocks a query: counters and histograms are atomics or
//! short uncontended locks, and the connection gauges are read from the pool at scrape time.

use crate::error::ERROR_KINDS;
use pgfleet_core::metric_names::client as names;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::exponential_buckets;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;
use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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

/// Stripes of a hot metric: each thread adds to its own, so two cores serving queries never
/// write the same cache line (a shared line bounces between them on every query); a scrape
/// adds the stripes up.
const STRIPES: usize = 8;

/// A cache line (two on CPUs that prefetch in pairs) to itself.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static STRIPE: usize = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % STRIPES;
}

fn stripe() -> usize {
    STRIPE.with(|s| *s)
}

/// A counter on striped atomics (what prometheus-client's `Counter` is, without the shared
/// line). Cheap to clone (one `Arc`).
#[derive(Debug, Clone, Default)]
pub struct StripedCounter(Arc<[Padded<AtomicU64>; STRIPES]>);

impl StripedCounter {
    pub fn inc(&self) {
        self.0[stripe()].0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
    }
}

impl TypedMetric for StripedCounter {
    const TYPE: MetricType = MetricType::Counter;
}

impl EncodeMetric for StripedCounter {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_counter::<NoLabels, u64, u64>(&self.get(), None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }
}

/// A histogram of durations on striped atomics alone (prometheus-client's takes a lock per
/// observation, which a preempted thread can hold while every other query waits). The sum is
/// kept in nanoseconds. Cheap to clone (one `Arc`).
#[derive(Debug, Clone)]
pub struct Histogram(Arc<HistogramInner>);

#[derive(Debug)]
struct HistogramInner {
    /// Upper bounds in seconds, the last `f64::MAX` (+Inf).
    bounds: Vec<f64>,
    /// Upper bounds in nanoseconds, for the lookup.
    bounds_ns: Vec<u64>,
    stripes: Vec<Padded<HistogramStripe>>,
}

#[derive(Debug)]
struct HistogramStripe {
    counts: Box<[AtomicU64]>,
    sum_ns: AtomicU64,
}

impl Histogram {
    fn new(bounds: impl Iterator<Item = f64>) -> Self {
        let mut bounds: Vec<f64> = bounds.collect();
        bounds.push(f64::MAX);
        let bounds_ns = bounds
            .iter()
            .map(|b| {
                if *b >= u64::MAX as f64 / 1e9 {
                    u64::MAX
                } else {
                    (b * 1e9).round() as u64
                }
            })
            .collect();
        let stripes = (0..STRIPES)
            .map(|_| {
                Padded(HistogramStripe {
                    counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
                    sum_ns: AtomicU64::new(0),
                })
            })
            .collect();
        Self(Arc::new(HistogramInner {
            bounds,
            bounds_ns,
            stripes,
        }))
    }

    pub fn observe(&self, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let h = &self.0;
        let stripe = &h.stripes[stripe()].0;
        let i = h
            .bounds_ns
            .partition_point(|b| *b < ns)
            .min(stripe.counts.len() - 1);
        stripe.counts[i].fetch_add(1, Ordering::Relaxed);
        stripe.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Per-bucket (not cumulative) counts, every stripe added up.
    fn buckets(&self) -> Vec<(f64, u64)> {
        let h = &self.0;
        h.bounds
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let n = h
                    .stripes
                    .iter()
                    .map(|s| s.0.counts[i].load(Ordering::Relaxed));
                (*b, n.sum())
            })
            .collect()
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.buckets().iter().map(|(_, c)| c).sum()
    }
}

impl TypedMetric for Histogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let buckets = self.buckets();
        let count = buckets.iter().map(|(_, c)| c).sum();
        let sum_ns: u64 = self
            .0
            .stripes
            .iter()
            .map(|s| s.0.sum_ns.load(Ordering::Relaxed))
            .sum();
        encoder.encode_histogram::<NoLabels>(sum_ns as f64 / 1e9, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

type NoLabels = [(&'static str, &'static str); 0];

/// Distinguishes the metrics of pools in the per-thread handle cache.
static NEXT_METRICS_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// (metrics id, label pointers, histogram): the query histograms this thread used, found by
    /// comparing pointers instead of hashing labels under the family's lock.
    static QUERY_HANDLES: RefCell<Vec<(u64, [usize; 3], Histogram)>> = const { RefCell::new(Vec::new()) };
}

/// The handles of one pool's metrics (cheap clones of shared atomics).
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    pub acquired: StripedCounter,
    pub released: StripedCounter,
    pub created: Counter,
    pub acquire_duration: Histogram,
    pub acquire_timeouts: Counter,
    pub query_duration: HistogramFamily<QueryLabels>,
    pub transaction_duration: HistogramFamily<ResultLabels>,
    pub transactions: Family<ResultLabels, Counter>,
    pub errors: Family<KindLabels, Counter>,
    /// One handle per kind, looked up without hashing.
    error_handles: Arc<Vec<(&'static str, Counter)>>,
    id: u64,
    pub service: String,
    /// `PoolConfig::record_metrics`: off, the query path records nothing (`created` still
    /// counts: the pool's warm-up reads it).
    recording: bool,
}

/// Transaction outcomes (`result` label).
pub(crate) const TX_COMMIT: &str = "commit";
pub(crate) const TX_ROLLBACK: &str = "rollback";
pub(crate) const TX_RETRY: &str = "retry";

impl Metrics {
    pub fn new(service: &str, recording: bool) -> Self {
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
            acquired: StripedCounter::default(),
            released: StripedCounter::default(),
            created: Counter::default(),
            acquire_duration: acquire_histogram(),
            acquire_timeouts: Counter::default(),
            query_duration: Family::new_with_constructor(query_histogram),
            transaction_duration,
            transactions,
            errors,
            error_handles: Arc::new(error_handles),
            id: NEXT_METRICS_ID.fetch_add(1, Ordering::Relaxed),
            service: service.to_owned(),
            recording,
        }
    }

    /// A caller waited `waited` for a connection, whatever came of it.
    pub fn acquire_waited(&self, waited: Duration) {
        if self.recording {
            self.acquire_duration.observe(waited);
        }
    }

    /// A caller got a connection.
    pub fn acquired(&self) {
        if self.recording {
            self.acquired.inc();
        }
    }

    /// A caller gave up waiting for a connection.
    pub fn acquire_timed_out(&self) {
        if self.recording {
            self.acquire_timeouts.inc();
        }
    }

    /// A connection went back to the pool (or was discarded).
    pub fn released(&self) {
        if self.recording {
            self.released.inc();
        }
    }

    pub fn error(&self, kind: &'static str) {
        if !self.recording {
            return;
        }
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
        if !self.recording {
            return;
        }
        let key = [
            labels.operation.as_ptr() as usize ^ labels.operation.len() << 48,
            labels.table.as_ptr() as usize ^ labels.table.len() << 48,
            labels.name.as_ptr() as usize ^ labels.name.len() << 48,
        ];
        let cached = QUERY_HANDLES.with(|cache| {
            let cache = cache.try_borrow().ok()?;
            cache
                .iter()
                .find(|(id, k, _)| *id == self.id && *k == key)
                .map(|(_, _, h)| h.observe(elapsed))
        });
        if cached.is_some() {
            return;
        }
        let histogram = self.query_duration.get_or_create(labels).clone();
        histogram.observe(elapsed);
        QUERY_HANDLES.with(|cache| {
            if let Ok(mut cache) = cache.try_borrow_mut()
                && cache.len() < 1024
            {
                cache.push((self.id, key, histogram));
            }
        });
    }

    pub fn transaction(&self, result: &'static str, elapsed: Duration) {
        if !self.recording {
            return;
        }
        let labels = ResultLabels { result };
        self.transactions.get_or_create(&labels).inc();
        self.transaction_duration
            .get_or_create(&labels)
            .observe(elapsed);
    }

    /// Registers every metric in `registry` under a `service` label, plus a collector for the
    /// connection gauges that reads `gauges` at scrape time.
    pub fn register(&self, registry: &mut Registry, gauges: Weak<dyn PoolGauges>) {
        let registry = registry
            .sub_registry_with_label((Cow::Borrowed("service"), Cow::Owned(self.service.clone())));
        registry.register(
            names::CONNECTIONS_ACQUIRED,
            "Connections handed out by the pool",
            self.acquired.clone(),
        );
        registry.register(
            names::CONNECTIONS_RELEASED,
            "Connections given back to the pool",
            self.released.clone(),
        );
        registry.register(
            names::CONNECTIONS_CREATED,
            "Connections opened to the database",
            self.created.clone(),
        );
        registry.register(
            names::CONNECTIONS_ACQUIRE_DURATION_SECONDS,
            "Time callers waited for a connection",
            self.acquire_duration.clone(),
        );
        registry.register(
            names::CONNECTIONS_ACQUIRE_TIMEOUTS,
            "Callers that gave up waiting for a connection (pool exhausted)",
            self.acquire_timeouts.clone(),
        );
        registry.register(
            names::QUERY_DURATION_SECONDS,
            "Duration of tracked queries by operation, table and name",
            self.query_duration.clone(),
        );
        registry.register(
            names::TRANSACTION_DURATION_SECONDS,
            "Duration of transactions by result (commit, rollback, retry)",
            self.transaction_duration.clone(),
        );
        registry.register(
            names::TRANSACTIONS,
            "Transactions by result (commit, rollback, retry: an attempt rolled back to be run again)",
            self.transactions.clone(),
        );
        registry.register(
            names::ERRORS,
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
                names::CONNECTIONS_ACTIVE,
                "Connections in use",
                PoolState::active,
            ),
            (
                names::CONNECTIONS_IDLE,
                "Open connections not in use",
                |s| s.idle,
            ),
            (names::CONNECTIONS_TOTAL, "Open connections", |s| s.size),
            (
                names::CONNECTIONS_WAITING,
                "Callers waiting for a connection",
                |s| s.waiting,
            ),
            (names::CONNECTIONS_MAX, "The pool's maximum size", |s| {
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
