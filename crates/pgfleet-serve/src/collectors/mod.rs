//! The collectors: what serve reads from each server, database and service. Each one is a file
//! here: its value type implements [`Collector`] (what it covers, how fresh it must be, its
//! queries, the metrics it writes), and [`registry`] lists them, one line each. Every collector
//! has one cache ([`Cell`]) per server, database or service, so a scrape costs at most one
//! query per collector and target per TTL, and a [`Snapshot`] reads all of them under one
//! deadline.

mod activity;
mod backups;
mod drift;
mod migrations;
mod probe;
mod sizes;
mod statements;
mod tables;

pub use activity::{DatabaseStats, ServerActivity, Sessions};
pub use backups::Backups;
pub use drift::Drift;
pub use migrations::Migrations;
pub use probe::Probe;
pub use sizes::Sizes;
pub use statements::{StatementRow, Statements};
pub use tables::TableStats;

use super::cache::{Cell, Read, Refresh};
use super::exposition::Families;
use super::targets::{Settings, Targets};
use futures_util::future::{BoxFuture, join_all};
use pgfleet_core::Manifest;
use std::any::Any;
use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Every collector, in the order its metrics are written. Adding one is its file, its `mod`
/// line above and one line here.
fn registry(targets: &Targets, settings: &Settings) -> Vec<Box<dyn Registered>> {
    vec![
        slot::<Probe>(targets, settings),
        slot::<ServerActivity>(targets, settings),
        slot::<Statements>(targets, settings),
        slot::<TableStats>(targets, settings),
        slot::<Sizes>(targets, settings),
        slot::<Migrations>(targets, settings),
        slot::<Drift>(targets, settings),
        slot::<Backups>(targets, settings),
    ]
}

/// What one cache of a collector covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    Server,
    Database,
    Service,
    /// One cache for the whole fleet: what is read once for every service (the backup store).
    Fleet,
}

impl Per {
    fn count(self, targets: &Targets) -> usize {
        match self {
            Per::Fleet => 1,
            Per::Server => targets.servers.len(),
            Per::Database => targets.databases.len(),
            Per::Service => targets.services.len(),
        }
    }

    /// The database whose pool cache `index` draws on; `None` for a server's own session.
    fn database(self, targets: &Targets, index: usize) -> Option<usize> {
        match self {
            Per::Server | Per::Fleet => None,
            Per::Database => Some(index),
            Per::Service => Some(targets.services[index].db),
        }
    }

    /// The `target` label of cache `index`.
    pub fn target(self, targets: &Targets, index: usize) -> String {
        match self {
            Per::Fleet => targets.fleet.clone(),
            Per::Server => targets.servers[index].name.clone(),
            Per::Database => {
                let d = &targets.databases[index];
                format!("{}/{}", d.server, d.database)
            }
            Per::Service => targets.services[index].name.clone(),
        }
    }
}

/// How fresh a collector's values must be, and what a reader gets once one has expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Within the interval, and readers wait for the refresh: reachability and sessions must
    /// be current.
    Current,
    /// Within `--slow-interval`; readers get the previous value while it is refreshed (sizes,
    /// history, statements).
    Slow,
    /// Within `--drift-interval` (it reads many catalogs), served the same way.
    Drift,
}

impl Freshness {
    fn ttl(self, settings: &Settings) -> Duration {
        match self {
            Freshness::Current => settings.interval,
            Freshness::Slow => settings.slow_ttl,
            Freshness::Drift => settings.drift_ttl,
        }
    }

    fn serves_stale(self) -> bool {
        self != Freshness::Current
    }
}

/// Which parts a reader needs: `/ready` needs the probes only, `/healthz` the sessions too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Probes,
    Health,
    Everything,
}

/// What a refresh may read. It is owned, because a refresh outlives a caller that gives up.
#[derive(Debug, Clone)]
pub struct Job {
    pub targets: Arc<Targets>,
    pub manifest: Arc<Manifest>,
    /// The server, database or service this cache covers (by the collector's [`Per`]).
    pub index: usize,
    /// Longest wait for a session (the pools reconnect with backoff capped at the interval).
    pub cap: Duration,
}

/// One collector: its value type, read per server, database or service.
pub trait Collector: Debug + Send + Sync + Sized + 'static {
    /// The `collector` label.
    const NAME: &'static str;
    const PER: Per;
    const FRESHNESS: Freshness;

    /// Whether a reader of `scope` needs this collector; most are for `/metrics` and the page.
    fn wanted(scope: Scope, _manifest: &Manifest) -> bool {
        scope == Scope::Everything
    }

    /// Reads the value for `job.index`. Errors are the text the metrics and health show.
    fn refresh(job: Job) -> impl Future<Output = Result<Self, String>> + Send + 'static;

    /// Writes this collector's metric families from its results, one per cache (none when the
    /// snapshot did not read it).
    fn report(out: &mut Families, targets: &Targets, results: &[Got<Self>], settings: &Settings);
}

/// A collector's value and how long its refresh took.
#[derive(Debug)]
pub struct Timed<T> {
    pub value: T,
    pub took: Duration,
}

/// What one collector gave one target in a snapshot.
pub type Got<T> = Result<Arc<Timed<T>>, String>;

type SharedCell<T> = Arc<Cell<Timed<T>>>;

/// Every collector's caches, and lifetime error and refresh counts per collector.
#[derive(Debug)]
pub struct Collectors {
    pub targets: Arc<Targets>,
    manifest: Arc<Manifest>,
    pub settings: Settings,
    collectors: Vec<Box<dyn Registered>>,
    /// `/metrics` requests served (counted by the route, not by the warm-up or the page).
    pub scrapes: AtomicU64,
}

impl Collectors {
    pub fn new(targets: Arc<Targets>, manifest: Arc<Manifest>, settings: Settings) -> Self {
        Self {
            collectors: registry(&targets, &settings),
            scrapes: AtomicU64::new(0),
            targets,
            manifest,
            settings,
        }
    }

    /// Reads the collectors `scope` needs, each waited for until one shared deadline.
    pub async fn snapshot(&self, scope: Scope) -> Snapshot {
        let started = Instant::now();
        let deadline = started + self.settings.deadline;
        let collectors = join_all(
            self.collectors
                .iter()
                .map(|c| c.read(self, scope, deadline)),
        )
        .await;
        Snapshot {
            taken: SystemTime::now(),
            duration: started.elapsed(),
            collectors,
        }
    }
}

/// All collectors' results at one moment.
#[derive(Debug)]
pub struct Snapshot {
    pub taken: SystemTime,
    pub duration: Duration,
    /// In [`registry`] order.
    pub collectors: Vec<Results>,
}

impl Snapshot {
    /// One collector's results, by target (empty when this snapshot's scope did not need it).
    pub fn get<C: Collector>(&self) -> &[Got<C>] {
        self.collectors
            .iter()
            .find(|r| r.name == C::NAME)
            .and_then(|r| r.values.downcast_ref::<Vec<Got<C>>>())
            .map_or(&[], Vec::as_slice)
    }
}

/// One collector's part of a snapshot, whatever its value type.
pub struct Results {
    pub name: &'static str,
    pub per: Per,
    /// Lifetime counts.
    pub errors: u64,
    pub refreshes: u64,
    /// By target: whether the result is usable, and how long its refresh took.
    pub outcomes: Vec<(bool, Option<Duration>)>,
    /// `Vec<Got<C>>`.
    values: Box<dyn Any + Send + Sync>,
    report: fn(&mut Families, &Targets, &Results, &Settings),
}

impl Debug for Results {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Results")
            .field("name", &self.name)
            .field("outcomes", &self.outcomes)
            .finish_non_exhaustive()
    }
}

impl Results {
    /// Writes the collector's own metric families.
    pub fn report(&self, out: &mut Families, targets: &Targets, settings: &Settings) {
        (self.report)(out, targets, self, settings);
    }
}

fn report<C: Collector>(out: &mut Families, targets: &Targets, results: &Results, s: &Settings) {
    if let Some(values) = results.values.downcast_ref::<Vec<Got<C>>>() {
        C::report(out, targets, values, s);
    }
}

/// A collector as the snapshot sees it, its value type erased.
trait Registered: Debug + Send + Sync {
    fn read<'a>(
        &'a self,
        owner: &'a Collectors,
        scope: Scope,
        deadline: Instant,
    ) -> BoxFuture<'a, Results>;
}

/// One collector's caches and counts.
#[derive(Debug)]
struct Slot<C: Collector> {
    cells: Vec<SharedCell<C>>,
    errors: Arc<AtomicU64>,
    /// Refreshes run (queries sent): what the caches save is visible.
    refreshes: Arc<AtomicU64>,
}

fn slot<C: Collector>(targets: &Targets, settings: &Settings) -> Box<dyn Registered> {
    let n = C::PER.count(targets);
    let ttl = C::FRESHNESS.ttl(settings);
    let stale = C::FRESHNESS.serves_stale();
    let cells = (0..n)
        .map(|i| {
            // The slow collectors' cells expire between half their interval and all of it,
            // spread by index, so their refreshes spread over many scrapes instead of all
            // landing on one (and competing with its fast collectors for the sessions).
            let ttl = if stale {
                ttl.mul_f64(1.0 - 0.5 * i as f64 / n.max(1) as f64)
            } else {
                ttl
            };
            Cell::new(ttl, settings.interval, stale)
        })
        .collect();
    Box::new(Slot::<C> {
        cells,
        errors: Arc::default(),
        refreshes: Arc::default(),
    })
}

impl<C: Collector> Slot<C> {
    async fn read_one(&self, owner: &Collectors, index: usize, deadline: Instant) -> Got<C> {
        let job = Job {
            targets: owner.targets.clone(),
            manifest: owner.manifest.clone(),
            index,
            cap: owner.settings.interval,
        };
        let (errors, refreshes) = (self.errors.clone(), self.refreshes.clone());
        // A background refresh waits for its server's turn (`ServerTarget::background`); one
        // that a scrape waits for (no value young enough to serve) does not.
        // The fleet's own reads (the backup store) touch no server, so no server's turn.
        let gate = (C::FRESHNESS.serves_stale() && C::PER != Per::Fleet).then(|| {
            let server = match C::PER.database(&owner.targets, index) {
                Some(db) => owner.targets.databases[db].server_index,
                None => index,
            };
            (owner.targets.clone(), server)
        });
        // The refresh is built only when the cell needs one: a cached read costs no more than
        // a lock and a clone of the value.
        let read = self.cells[index]
            .get(deadline, move |refresh| async move {
                let _permit = match &gate {
                    Some((targets, server)) if refresh == Refresh::Background => {
                        targets.servers[*server].background.acquire().await.ok()
                    }
                    _ => None,
                };
                refreshes.fetch_add(1, Ordering::Relaxed);
                let started = Instant::now();
                let outcome = C::refresh(job).await;
                if let Err(e) = &outcome {
                    errors.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(collector = C::NAME, error = %e, "collector failed");
                }
                outcome.map(|value| Timed {
                    value,
                    took: started.elapsed(),
                })
            })
            .await;
        match read {
            Read::Ready(outcome) => outcome,
            Read::TimedOut => Err(format!(
                "{}: no answer within the scrape deadline ({})",
                C::NAME,
                humantime::format_duration(owner.settings.deadline)
            )),
        }
    }
}

impl<C: Collector> Registered for Slot<C> {
    fn read<'a>(
        &'a self,
        owner: &'a Collectors,
        scope: Scope,
        deadline: Instant,
    ) -> BoxFuture<'a, Results> {
        Box::pin(async move {
            let wanted = if C::wanted(scope, &owner.manifest) {
                self.cells.len()
            } else {
                0
            };
            let values: Vec<Got<C>> =
                join_all((0..wanted).map(|i| self.read_one(owner, i, deadline))).await;
            Results {
                name: C::NAME,
                per: C::PER,
                errors: self.errors.load(Ordering::Relaxed),
                refreshes: self.refreshes.load(Ordering::Relaxed),
                outcomes: values
                    .iter()
                    .map(|got| (got.is_ok(), got.as_ref().ok().map(|t| t.took)))
                    .collect(),
                values: Box::new(values),
                report: report::<C>,
            }
        })
    }
}
