//! Server-wide figures, read once per server: max_connections, recovery and replication lag,
//! sessions by role and database (pg_stat_activity), and pg_stat_database's counters.

use super::{Collector, Freshness, Got, Job, Per, Scope};
use crate::exposition::{Families, Kind, labels, service_labels, with};
use crate::targets::{Settings, Targets};
use pgfleet_core::Manifest;
use pgfleet_core::metric_names::serve as names;
use std::collections::BTreeMap;

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

impl Collector for ServerActivity {
    const NAME: &'static str = "activity";
    const PER: Per = Per::Server;
    const FRESHNESS: Freshness = Freshness::Current;

    /// `/healthz` needs the sessions; `/ready` does not.
    fn wanted(scope: Scope, _manifest: &Manifest) -> bool {
        scope != Scope::Probes
    }

    async fn refresh(job: Job) -> Result<Self, String> {
        let db = &job.targets.servers[job.index].session;
        let session = db.session(job.cap).await?;
        server_activity(&session).await.map_err(|e| db.error(&e))
    }

    fn report(out: &mut Families, targets: &Targets, results: &[Got<Self>], _: &Settings) {
        for (index, server) in targets.servers.iter().enumerate() {
            let Some(Ok(activity)) = results.get(index) else {
                continue;
            };
            let activity = &activity.value;
            let server_labels = labels(&[("server", &server.name)]);
            out.gauge(
                names::SERVER_MAX_CONNECTIONS,
                "The server's max_connections.",
                server_labels.clone(),
                activity.max_connections as f64,
            );
            out.gauge(
                names::SERVER_CONNECTIONS,
                "Client sessions on the server, every role included.",
                server_labels.clone(),
                activity.sessions.iter().map(|s| s.total).sum::<i64>() as f64,
            );
            out.gauge(
                names::SERVER_IN_RECOVERY,
                "1 when the server is a replica (in recovery).",
                server_labels.clone(),
                if activity.in_recovery { 1.0 } else { 0.0 },
            );
            out.declare(
                names::REPLICATION_LAG_SECONDS,
                "How far a replica's replay is behind (0 when it has replayed all it received).",
                Kind::Gauge,
            );
            if let Some(lag) = activity.replication_lag_seconds {
                out.gauge(names::REPLICATION_LAG_SECONDS, "", server_labels, lag);
            }
            for &db in &server.databases {
                let database = &targets.databases[db];
                let Some(stats) = activity.databases.get(&database.database) else {
                    continue;
                };
                let base = labels(&[("server", &server.name), ("database", &database.database)]);
                for (name, help, value) in [
                    (
                        names::DATABASE_COMMITS,
                        "Transactions committed in the database (pg_stat_database).",
                        stats.commits,
                    ),
                    (
                        names::DATABASE_ROLLBACKS,
                        "Transactions rolled back in the database.",
                        stats.rollbacks,
                    ),
                    (
                        names::DATABASE_DEADLOCKS,
                        "Deadlocks detected in the database.",
                        stats.deadlocks,
                    ),
                    (
                        names::DATABASE_TEMP_BYTES,
                        "Bytes written to temporary files by the database's queries.",
                        stats.temp_bytes,
                    ),
                ] {
                    out.counter(name, help, base.clone(), value);
                }
                let blocks = stats.blocks_hit + stats.blocks_read;
                if blocks > 0.0 {
                    out.gauge(
                        names::DATABASE_CACHE_HIT_RATIO,
                        "Share of block reads served from shared buffers, database-wide.",
                        base.clone(),
                        stats.blocks_hit / blocks,
                    );
                }
                out.gauge(
                    names::DATABASE_BACKENDS,
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
                let sum = |pick: fn(&Sessions) -> i64| -> f64 {
                    mine.iter().map(|s| pick(s)).sum::<i64>() as f64
                };
                for (state, value) in [
                    ("active", sum(|s| s.active)),
                    ("idle", sum(|s| s.idle)),
                    ("idle_in_transaction", sum(|s| s.idle_in_transaction)),
                    ("waiting", sum(|s| s.waiting)),
                ] {
                    out.gauge(
                        names::CONNECTIONS,
                        "Sessions of the service's roles by state (waiting: on a lock).",
                        with(base.clone(), "state", state),
                        value,
                    );
                }
                let open = sum(|s| s.total);
                out.gauge(
                    names::CONNECTIONS_OPEN,
                    "Sessions of the service's roles, any state.",
                    base.clone(),
                    open,
                );
                out.gauge(
                    names::POOL_MAX_CONNECTIONS,
                    "The service's pool size in the manifest.",
                    base.clone(),
                    f64::from(service.pool_max),
                );
                out.gauge(
                    names::POOL_UTILIZATION_RATIO,
                    "The service's open sessions over its pool size (degraded above 0.8).",
                    base.clone(),
                    if service.pool_max == 0 {
                        0.0
                    } else {
                        open / f64::from(service.pool_max)
                    },
                );
                out.gauge(
                    names::LOCK_WAITS,
                    "Sessions of the service's roles waiting on a lock.",
                    base.clone(),
                    sum(|s| s.waiting),
                );
                let oldest = |pick: fn(&Sessions) -> Option<f64>| {
                    mine.iter().filter_map(|s| pick(s)).fold(0.0, f64::max)
                };
                out.gauge(
                    names::OLDEST_TRANSACTION_SECONDS,
                    "Age of the service's longest open transaction (0 when none).",
                    base.clone(),
                    oldest(|s| s.oldest_transaction_seconds),
                );
                out.gauge(
                    names::OLDEST_QUERY_SECONDS,
                    "Run time of the service's longest running query (0 when none).",
                    base,
                    oldest(|s| s.oldest_query_seconds),
                );
            }
        }
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
