//! The collectors: what serve reads from each server, database and service, each behind its own
//! cache ([`Cell`]) so a scrape costs at most one query per collector per TTL, and a
//! [`Snapshot`] of all of them taken under one deadline.

use super::cache::{Cell, Read};
use super::targets::{Settings, Targets};
use futures_util::future::join_all;
use pgfleet_access as access;
use pgfleet_core::Manifest;
use pgfleet_core::manifest::Service;
use pgfleet_migrate::{maintenance, source};
use pgfleet_pg::history;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// The collectors by name, in the order they are reported.
pub const COLLECTORS: [&str; 7] = [
    "probe",
    "activity",
    "statements",
    "tables",
    "sizes",
    "migrations",
    "drift",
];

/// A collector's value and how long its refresh took.
#[derive(Debug)]
pub struct Timed<T> {
    pub value: T,
    pub took: Duration,
}

/// `SELECT 1` on a database's pool.
#[derive(Debug, Clone)]
pub struct Probe {
    pub response_seconds: f64,
}

/// Server-wide figures (read once per server).
#[derive(Debug, Clone, Default)]
pub struct ServerActivity {
    pub max_connections: i64,
    pub in_recovery: bool,
    pub replication_lag_seconds: Option<f64>,
    /// By (role, database).
    pub sessions: Vec<Sessions>,
    /// pg_stat_database, by database name.
    pub databases: BTreeMap<String, DatabaseStats>,
}

/// Sessions of one role in one database.
#[derive(Debug, Clone, Default)]
pub struct Sessions {
    pub role: String,
    pub database: String,
    pub active: i64,
    pub idle: i64,
    pub idle_in_transaction: i64,
    /// Waiting on a lock.
    pub waiting: i64,
    pub total: i64,
    pub oldest_transaction_seconds: Option<f64>,
    pub oldest_query_seconds: Option<f64>,
}

#[derive(Debug, Clone, Default)]
pub struct DatabaseStats {
    pub commits: f64,
    pub rollbacks: f64,
    pub deadlocks: f64,
    pub temp_bytes: f64,
    pub blocks_hit: f64,
    pub blocks_read: f64,
    pub backends: i64,
}

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

/// Block reads and hits of a database's user tables, by schema.
#[derive(Debug, Clone, Default)]
pub struct TableStats {
    pub by_schema: BTreeMap<String, (f64, f64)>,
}

#[derive(Debug, Clone, Default)]
pub struct Sizes {
    pub database_bytes: i64,
    pub database_pretty: String,
    pub schema_bytes: BTreeMap<String, i64>,
}

#[derive(Debug, Clone)]
pub struct Migrations {
    pub current: Option<i64>,
    pub pending: usize,
    pub dirty: bool,
    pub problems: usize,
    pub last_applied_unix: Option<f64>,
}

/// Differences from the manifest's access, by service.
#[derive(Debug, Clone, Default)]
pub struct Drift {
    pub by_service: BTreeMap<String, usize>,
}

type SharedCell<T> = Arc<Cell<Timed<T>>>;

/// Every collector's cache, and lifetime error counts per collector.
#[derive(Debug)]
pub struct Collectors {
    pub targets: Arc<Targets>,
    manifest: Arc<Manifest>,
    pub settings: Settings,
    probe: Vec<SharedCell<Probe>>,
    activity: Vec<SharedCell<ServerActivity>>,
    statements: Vec<SharedCell<Statements>>,
    tables: Vec<SharedCell<TableStats>>,
    sizes: Vec<SharedCell<Sizes>>,
    drift: Vec<SharedCell<Drift>>,
    migrations: Vec<SharedCell<Migrations>>,
    errors: Arc<[AtomicU64; COLLECTORS.len()]>,
    /// Refreshes run (queries sent), per collector: what the caches save is visible.
    refreshes: Arc<[AtomicU64; COLLECTORS.len()]>,
    /// `/metrics` requests served (counted by the route, not by the warm-up or the page).
    pub scrapes: AtomicU64,
}

/// What one collector gave one scope in a snapshot.
pub type Got<T> = Result<Arc<Timed<T>>, String>;

/// All collectors' results at one moment.
#[derive(Debug)]
pub struct Snapshot {
    pub taken: SystemTime,
    pub duration: Duration,
    /// By database.
    pub probe: Vec<Got<Probe>>,
    /// By server.
    pub activity: Vec<Got<ServerActivity>>,
    pub statements: Vec<Got<Statements>>,
    /// By database.
    pub tables: Vec<Got<TableStats>>,
    pub sizes: Vec<Got<Sizes>>,
    /// Empty when the fleet does not manage roles.
    pub drift: Vec<Got<Drift>>,
    /// By service.
    pub migrations: Vec<Got<Migrations>>,
    /// Lifetime error counts, in [`COLLECTORS`] order.
    pub errors: [u64; COLLECTORS.len()],
    /// Lifetime refresh counts, in [`COLLECTORS`] order.
    pub refreshes: [u64; COLLECTORS.len()],
}

/// Which parts a reader needs: `/ready` needs the probes only, `/healthz` the sessions too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Probes,
    Health,
    Everything,
}

/// How a collector's cells treat an expired value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Staleness {
    /// Callers wait for the refresh: reachability and sessions must be current.
    Wait,
    /// Callers get the previous value while it is refreshed (sizes, history, drift, statements).
    Serve,
}

fn cells<T: Send + Sync + 'static>(
    n: usize,
    ttl: Duration,
    error_ttl: Duration,
    staleness: Staleness,
) -> Vec<SharedCell<T>> {
    (0..n)
        .map(|i| {
            // The slow collectors' cells expire between half their interval and all of it,
            // spread by index, so their refreshes spread over many scrapes instead of all
            // landing on one (and competing with its fast collectors for the sessions).
            let ttl = match staleness {
                Staleness::Wait => ttl,
                Staleness::Serve => ttl.mul_f64(1.0 - 0.5 * i as f64 / n.max(1) as f64),
            };
            Cell::new(ttl, error_ttl, staleness == Staleness::Serve)
        })
        .collect()
}

impl Collectors {
    pub fn new(targets: Arc<Targets>, manifest: Arc<Manifest>, settings: Settings) -> Self {
        let (servers, databases, services) = (
            targets.servers.len(),
            targets.databases.len(),
            targets.services.len(),
        );
        Self {
            probe: cells(
                databases,
                settings.interval,
                settings.interval,
                Staleness::Wait,
            ),
            activity: cells(
                servers,
                settings.interval,
                settings.interval,
                Staleness::Wait,
            ),
            statements: cells(
                servers,
                settings.slow_ttl,
                settings.interval,
                Staleness::Serve,
            ),
            tables: cells(
                databases,
                settings.slow_ttl,
                settings.interval,
                Staleness::Serve,
            ),
            sizes: cells(
                databases,
                settings.slow_ttl,
                settings.interval,
                Staleness::Serve,
            ),
            drift: cells(
                databases,
                settings.drift_ttl,
                settings.interval,
                Staleness::Serve,
            ),
            migrations: cells(
                services,
                settings.slow_ttl,
                settings.interval,
                Staleness::Serve,
            ),
            errors: Arc::new(std::array::from_fn(|_| AtomicU64::new(0))),
            refreshes: Arc::new(std::array::from_fn(|_| AtomicU64::new(0))),
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
        let targets = &self.targets;
        let all = |n: usize, wanted: bool| 0..if wanted { n } else { 0 };
        let everything = scope == Scope::Everything;
        let (servers, databases, services) = (
            targets.servers.len(),
            targets.databases.len(),
            targets.services.len(),
        );
        let (probe, activity, statements, tables, sizes, drift, migrations) = tokio::join!(
            join_all(all(databases, true).map(|d| self.read_probe(d, deadline))),
            join_all(all(servers, scope != Scope::Probes).map(|s| self.read_activity(s, deadline))),
            join_all(all(servers, everything).map(|s| self.read_statements(s, deadline))),
            join_all(all(databases, everything).map(|d| self.read_tables(d, deadline))),
            join_all(all(databases, everything).map(|d| self.read_sizes(d, deadline))),
            join_all(
                all(databases, everything && self.manifest.fleet.manage_roles)
                    .map(|d| self.read_drift(d, deadline))
            ),
            join_all(all(services, everything).map(|s| self.read_migrations(s, deadline))),
        );
        Snapshot {
            taken: SystemTime::now(),
            duration: started.elapsed(),
            probe,
            activity,
            statements,
            tables,
            sizes,
            drift,
            migrations,
            errors: self.error_counts(),
            refreshes: self.refresh_counts(),
        }
    }

    fn error_counts(&self) -> [u64; COLLECTORS.len()] {
        std::array::from_fn(|i| self.errors[i].load(Ordering::Relaxed))
    }

    fn refresh_counts(&self) -> [u64; COLLECTORS.len()] {
        std::array::from_fn(|i| self.refreshes[i].load(Ordering::Relaxed))
    }

    /// Reads one cell: `collector` names it in errors and counts.
    async fn read<T, F, Fut>(
        &self,
        cell: &SharedCell<T>,
        collector: &'static str,
        deadline: Instant,
        refresh: F,
    ) -> Got<T>
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, String>> + Send + 'static,
    {
        let index = COLLECTORS
            .iter()
            .position(|c| *c == collector)
            .unwrap_or_default();
        let errors = self.errors.clone();
        let refreshes = self.refreshes.clone();
        // The refresh is built only when the cell needs one: a cached read costs no more than
        // a lock and a clone of the value.
        let read = cell
            .get(deadline, move || {
                let work = refresh();
                async move {
                    refreshes[index].fetch_add(1, Ordering::Relaxed);
                    let started = Instant::now();
                    let outcome = work.await;
                    if let Err(e) = &outcome {
                        errors[index].fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(collector, error = %e, "collector failed");
                    }
                    outcome.map(|value| Timed {
                        value,
                        took: started.elapsed(),
                    })
                }
            })
            .await;
        match read {
            Read::Ready(outcome) => outcome,
            Read::TimedOut => Err(format!(
                "{collector}: no answer within the scrape deadline ({})",
                humantime::format_duration(self.settings.deadline)
            )),
        }
    }

    async fn read_probe(&self, db: usize, deadline: Instant) -> Got<Probe> {
        let targets = self.targets.clone();
        let cap = self.settings.interval;
        self.read(&self.probe[db], "probe", deadline, move || async move {
            let target = &targets.databases[db];
            let session = target.session(cap).await?;
            let started = Instant::now();
            session
                .simple_query("SELECT 1")
                .await
                .map_err(|e| target.error(&e))?;
            Ok(Probe {
                response_seconds: started.elapsed().as_secs_f64(),
            })
        })
        .await
    }

    async fn read_activity(&self, server: usize, deadline: Instant) -> Got<ServerActivity> {
        let targets = self.targets.clone();
        let cap = self.settings.interval;
        self.read(
            &self.activity[server],
            "activity",
            deadline,
            move || async move {
                let db = &targets.servers[server].session;
                let session = db.session(cap).await?;
                server_activity(&session).await.map_err(|e| db.error(&e))
            },
        )
        .await
    }

    async fn read_statements(&self, server: usize, deadline: Instant) -> Got<Statements> {
        let targets = self.targets.clone();
        let cap = self.settings.interval;
        self.read(
            &self.statements[server],
            "statements",
            deadline,
            move || async move {
                let roles: Vec<String> = targets
                    .services
                    .iter()
                    .filter(|s| s.server == targets.servers[server].name)
                    .flat_map(|s| s.roles.iter().cloned())
                    .collect();
                // The server's own session first (the view shows every database's
                // statements), then the other databases, if the extension is not there.
                let server = &targets.servers[server];
                let candidates = std::iter::once(&server.session).chain(
                    server
                        .databases
                        .iter()
                        .skip(1)
                        .map(|&i| &targets.databases[i]),
                );
                for db in candidates {
                    let session = db.session(cap).await?;
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
            },
        )
        .await
    }

    async fn read_tables(&self, db: usize, deadline: Instant) -> Got<TableStats> {
        let targets = self.targets.clone();
        let cap = self.settings.interval;
        self.read(&self.tables[db], "tables", deadline, move || async move {
            let target = &targets.databases[db];
            let session = target.session(cap).await?;
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
        })
        .await
    }

    async fn read_sizes(&self, db: usize, deadline: Instant) -> Got<Sizes> {
        let targets = self.targets.clone();
        let cap = self.settings.interval;
        self.read(&self.sizes[db], "sizes", deadline, move || async move {
            let target = &targets.databases[db];
            let schemas: Vec<String> = target
                .services
                .iter()
                .filter_map(|&s| targets.services[s].schema.clone())
                .collect();
            let session = target.session(cap).await?;
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
        })
        .await
    }

    async fn read_migrations(&self, service: usize, deadline: Instant) -> Got<Migrations> {
        let targets = self.targets.clone();
        let cap = self.settings.interval;
        self.read(
            &self.migrations[service],
            "migrations",
            deadline,
            move || async move {
                let target = &targets.services[service];
                let db = &targets.databases[target.db];
                // The files are read at each refresh: a deploy that ships new ones shows as pending.
                let files = source::load(&target.migrations_dir).map_err(|e| e.to_string())?;
                let session = db.session(cap).await?;
                let pg = |e: tokio_postgres::Error| db.error(&e);
                let applied = history::read(&session, &target.name).await.map_err(pg)?;
                let last_applied_unix: Option<f64> = if applied.is_empty() {
                    None
                } else {
                    session
                        .query_one(
                            "SELECT extract(epoch FROM max(applied_at))::float8
                           FROM pgfleet.migrations WHERE service = $1 AND state <> 'dirty'",
                            &[&target.name],
                        )
                        .await
                        .map_err(pg)?
                        .get(0)
                };
                let state = maintenance::compare(&target.name, &files, applied);
                Ok(Migrations {
                    current: state.current,
                    pending: state.pending.len(),
                    dirty: state.dirty.is_some(),
                    problems: state.problems.len(),
                    last_applied_unix,
                })
            },
        )
        .await
    }

    async fn read_drift(&self, db: usize, deadline: Instant) -> Got<Drift> {
        let targets = self.targets.clone();
        let manifest = self.manifest.clone();
        let cap = self.settings.interval;
        self.read(&self.drift[db], "drift", deadline, move || async move {
            let target = &targets.databases[db];
            let services: Vec<&Service> = target
                .services
                .iter()
                .map(|&s| &targets.services[s].config)
                .collect();
            let session = target.session(cap).await?;
            let pg = |e: tokio_postgres::Error| target.error(&e);
            let mut differences =
                access::plan_database(&target.server, &target.database, &services, &session)
                    .await
                    .map_err(|e| pg(e.into_postgres()))?
                    .differences;
            // The roles of the database's services (cluster-wide, but counted per service).
            let roles = access::plan_cluster(
                &manifest,
                &target.server,
                &services,
                &target.user,
                &session,
                &BTreeMap::new(),
            )
            .await
            .map_err(|e| pg(e.into_postgres()))?;
            differences.extend(roles.differences);
            let mut drift = Drift::default();
            for service in &services {
                let count = differences
                    .iter()
                    .filter(|d| access::fact_concerns(&d.fact, service))
                    .count();
                drift.by_service.insert(service.name.clone(), count);
            }
            Ok(drift)
        })
        .await
    }
}

async fn server_activity(
    session: &tokio_postgres::Client,
) -> Result<ServerActivity, tokio_postgres::Error> {
    let settings = session
        .query_one(
            "SELECT current_setting('max_connections')::int8, pg_is_in_recovery(),
                    CASE WHEN NOT pg_is_in_recovery() THEN NULL
                         WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                         ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8
                    END",
            &[],
        )
        .await?;
    let sessions = session
        .query(
            "SELECT coalesce(usename::text, ''), coalesce(datname::text, ''),
                    count(*) FILTER (WHERE state = 'active' AND wait_event_type IS DISTINCT FROM 'Lock'),
                    count(*) FILTER (WHERE state = 'idle'),
                    count(*) FILTER (WHERE state LIKE 'idle in transaction%'),
                    count(*) FILTER (WHERE wait_event_type = 'Lock'),
                    count(*),
                    max(extract(epoch FROM now() - xact_start))::float8,
                    max(extract(epoch FROM now() - query_start)) FILTER (WHERE state = 'active')::float8
               FROM pg_stat_activity
              WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
              GROUP BY 1, 2",
            &[],
        )
        .await?;
    let databases = session
        .query(
            "SELECT datname::text, xact_commit::float8, xact_rollback::float8, deadlocks::float8,
                    temp_bytes::float8, blks_hit::float8, blks_read::float8, numbackends::int8
               FROM pg_stat_database WHERE datname IS NOT NULL",
            &[],
        )
        .await?;
    Ok(ServerActivity {
        max_connections: settings.get(0),
        in_recovery: settings.get(1),
        replication_lag_seconds: settings.get(2),
        sessions: sessions
            .iter()
            .map(|r| Sessions {
                role: r.get(0),
                database: r.get(1),
                active: r.get(2),
                idle: r.get(3),
                idle_in_transaction: r.get(4),
                waiting: r.get(5),
                total: r.get(6),
                oldest_transaction_seconds: r.get(7),
                oldest_query_seconds: r.get(8),
            })
            .collect(),
        databases: databases
            .iter()
            .map(|r| {
                (
                    r.get(0),
                    DatabaseStats {
                        commits: r.get(1),
                        rollbacks: r.get(2),
                        deadlocks: r.get(3),
                        temp_bytes: r.get(4),
                        blocks_hit: r.get(5),
                        blocks_read: r.get(6),
                        backends: r.get(7),
                    },
                )
            })
            .collect(),
    })
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
