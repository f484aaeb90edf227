//! What `pgfleet serve` watches: every service of the fleet, the databases they live in (one
//! small persistent pool each) and the servers those are on.

use deadpool_postgres::{Object, Pool};
use pgfleet_core::manifest::Service;
use pgfleet_core::{Manifest, ResolveError, Resolver};
use pgfleet_pg::pool::{PoolBuildError, PoolLimits};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why the targets cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Connections that do not resolve (every problem at once).
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// A connection's TLS settings that cannot be used (`url` is redacted).
    #[error("{url}: {reason}")]
    Tls { url: String, reason: String },
    /// A pool that cannot be built.
    #[error("cannot build the pool of {url}: {reason}")]
    Pool { url: String, reason: String },
}

type Result<T, E = ServeError> = std::result::Result<T, E>;

/// Settings of the daemon (from the command line).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Freshness of the fast collectors and of `/ready`: at most one check per interval.
    pub interval: Duration,
    /// Everything a scrape or probe waits for; a target slower than this reports down.
    pub deadline: Duration,
    /// Connections per target database.
    pub pool_size: usize,
    /// Top queries per service in the statement metrics.
    pub top_queries: usize,
    /// Freshness of sizes and migration state.
    pub slow_ttl: Duration,
    /// Freshness of access drift (reads many catalogs).
    pub drift_ttl: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            deadline: Duration::from_secs(4),
            pool_size: 2,
            top_queries: 10,
            slow_ttl: Duration::from_secs(30),
            drift_ttl: Duration::from_secs(120),
        }
    }
}

/// A service and where its data lives.
#[derive(Debug)]
pub struct ServiceTarget {
    pub name: String,
    pub server: String,
    pub database: String,
    /// Its schema in a shared database; `None` when it owns the database.
    pub schema: Option<String>,
    /// The schema its tables are in (`public` of its own database, or its schema).
    pub data_schema: String,
    /// The roles whose sessions and statements are the service's.
    pub roles: Vec<String>,
    /// Its pool's size in the manifest: what its connections are measured against.
    pub pool_max: u32,
    pub migrations_dir: PathBuf,
    pub config: Service,
    /// Index of its database in [`Targets::databases`].
    pub db: usize,
}

impl ServiceTarget {
    /// The schema label: empty for a service that owns its database.
    pub fn schema_label(&self) -> &str {
        self.schema.as_deref().unwrap_or("")
    }
}

/// One database pgfleet keeps a pool on.
#[derive(Debug)]
pub struct DatabaseTarget {
    pub server: String,
    pub database: String,
    /// The redacted URL, for reports.
    pub url: String,
    /// The login serve uses (for the role plan of access drift).
    pub user: String,
    pub pool: Pool,
    pub services: Vec<usize>,
    backoff: Mutex<Backoff>,
    /// Index into [`Targets::servers`].
    pub server_index: usize,
}

#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
    retry_at: Option<Instant>,
    last_error: String,
}

impl DatabaseTarget {
    /// A server error of a collector query, naming the (redacted) URL.
    pub fn error(&self, e: &tokio_postgres::Error) -> String {
        format!("{}: {}", self.url, pgfleet_pg::pg_error_text(e))
    }

    fn new(
        connection: &pgfleet_core::Connection,
        settings: &Settings,
        size: usize,
    ) -> Result<Self> {
        Ok(DatabaseTarget {
            server: connection.server.clone(),
            database: connection.database.clone(),
            url: connection.url.clone(),
            user: connection.user.clone(),
            pool: pool(connection, settings, size)?,
            services: Vec::new(),
            backoff: Mutex::new(Backoff::default()),
            server_index: 0,
        })
    }

    /// A session from the pool. After a failure, new connection attempts wait out an
    /// exponential backoff (capped at `cap`) instead of hammering a database that is down.
    pub async fn session(&self, cap: Duration) -> std::result::Result<Object, String> {
        {
            let backoff = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(at) = backoff.retry_at
                && Instant::now() < at
            {
                return Err(backoff.last_error.clone());
            }
        }
        match self.pool.get().await {
            Ok(session) => {
                let mut backoff = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
                *backoff = Backoff::default();
                Ok(session)
            }
            Err(e) => {
                let message = pool_error_text(&e, &self.url);
                let mut backoff = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
                backoff.failures += 1;
                let delay = pgfleet_pg::backoff::exponential(
                    Duration::from_millis(250),
                    backoff.failures.min(8),
                    cap,
                );
                backoff.retry_at = Some(Instant::now() + delay);
                backoff.last_error = message.clone();
                tracing::warn!(database = %self.database, server = %self.server, error = %message, retry_in = ?delay, "target unreachable");
                Err(message)
            }
        }
    }
}

fn pool_error_text(error: &deadpool_postgres::PoolError, url: &str) -> String {
    use deadpool_postgres::PoolError;
    match error {
        PoolError::Backend(e) => format!("{url}: {}", pgfleet_pg::pg_error_text(e)),
        PoolError::Timeout(_) => format!("{url}: timed out connecting"),
        other => format!("{url}: {other}"),
    }
}

/// A server and the databases serve reaches on it.
#[derive(Debug)]
pub struct ServerTarget {
    pub name: String,
    /// Indexes into [`Targets::databases`].
    pub databases: Vec<usize>,
    /// A session of its own (on the first database) for the server-wide queries, so they never
    /// queue behind one database's collectors.
    pub session: DatabaseTarget,
    /// The background refreshes (sizes, history, statements, drift…) of all its databases run
    /// one at a time: they hold at most one session of a pool, so a probe never queues behind
    /// them, and they never take the server's CPUs from a scrape all at once (fifty databases'
    /// drift started together is seconds of catalog reads).
    pub background: tokio::sync::Semaphore,
}

#[derive(Debug)]
pub struct Targets {
    pub fleet: String,
    pub environment: String,
    pub services: Vec<ServiceTarget>,
    pub databases: Vec<DatabaseTarget>,
    pub servers: Vec<ServerTarget>,
    /// The environment's backup store, or why it cannot be opened (the backups collector
    /// reports that as its failure; everything else is served all the same).
    pub backups: Result<Arc<pgfleet_backup::Store>, String>,
}

impl Targets {
    /// Resolves every service's connection (every problem at once) and builds the pools;
    /// nothing connects yet, so serve starts while databases are down.
    pub fn build(
        manifest: &Manifest,
        resolver: &Resolver<'_>,
        environment: &str,
        settings: &Settings,
    ) -> Result<Targets> {
        let mut problems = Vec::new();
        let mut connections = Vec::new();
        for service in manifest.services.values() {
            match resolver.resolve_admin(&service.name, environment) {
                Ok(connection) => connections.push((service, connection)),
                Err(e) => problems.extend(e.problems),
            }
        }
        if !problems.is_empty() {
            return Err(ResolveError { problems }.into());
        }
        let mut databases: Vec<DatabaseTarget> = Vec::new();
        let mut server_sessions: Vec<(String, DatabaseTarget)> = Vec::new();
        let mut by_key: BTreeMap<(String, u16, String, String), usize> = BTreeMap::new();
        let mut services = Vec::new();
        for (service, connection) in connections {
            let key = (
                connection.host.clone(),
                connection.port,
                connection.database.clone(),
                connection.user.clone(),
            );
            let db = match by_key.get(&key) {
                Some(index) => *index,
                None => {
                    if !server_sessions.iter().any(|(s, _)| *s == connection.server) {
                        server_sessions.push((
                            connection.server.clone(),
                            DatabaseTarget::new(&connection, settings, 1)?,
                        ));
                    }
                    databases.push(DatabaseTarget::new(
                        &connection,
                        settings,
                        settings.pool_size,
                    )?);
                    by_key.insert(key, databases.len() - 1);
                    databases.len() - 1
                }
            };
            databases[db].services.push(services.len());
            let access = &service.access;
            let mut roles = vec![
                access.owner_role.clone(),
                access.runtime_role.clone(),
                access.readonly_role.clone(),
            ];
            if !manifest.fleet.manage_roles {
                // Without managed roles the service's login is the only thing that tells its
                // sessions apart.
                if let Ok(runtime) = resolver.resolve(&service.name, environment) {
                    roles = vec![runtime.user];
                }
            }
            services.push(ServiceTarget {
                name: service.name.clone(),
                server: connection.server.clone(),
                database: connection.database.clone(),
                schema: service.placement.schema().map(str::to_owned),
                data_schema: pgfleet_access::desired::schema_of(service),
                roles,
                pool_max: service.pool.max_size,
                migrations_dir: service.migrations.clone(),
                config: service.clone(),
                db,
            });
        }
        let mut servers: Vec<ServerTarget> = server_sessions
            .into_iter()
            .enumerate()
            .map(|(at, (name, mut session))| {
                session.server_index = at;
                ServerTarget {
                    name,
                    databases: Vec::new(),
                    session,
                    background: tokio::sync::Semaphore::new(1),
                }
            })
            .collect();
        for (index, database) in databases.iter_mut().enumerate() {
            if let Some(at) = servers.iter().position(|s| s.name == database.server) {
                servers[at].databases.push(index);
                database.server_index = at;
            }
        }
        Ok(Targets {
            backups: pgfleet_backup::Store::open(manifest, environment, resolver.vars())
                .map(Arc::new)
                .map_err(|e| e.to_string()),
            fleet: manifest.fleet.name.clone(),
            environment: environment.to_owned(),
            services,
            databases,
            servers,
        })
    }

    pub fn service(&self, name: &str) -> Option<(usize, &ServiceTarget)> {
        self.services
            .iter()
            .enumerate()
            .find(|(_, s)| s.name == name)
    }

    /// Closes every pool (on shutdown).
    pub fn close(&self) {
        for database in &self.databases {
            database.pool.close();
        }
        for server in &self.servers {
            server.session.pool.close();
        }
    }
}

fn pool(connection: &pgfleet_core::Connection, settings: &Settings, size: usize) -> Result<Pool> {
    let mut config = connection.pg_config("pgfleet serve", settings.deadline);
    // The server ends a collector query stuck past the deadline, and a lock wait well before:
    // a session holding a lock on a table the collectors read delays one collector, not the
    // scrape, and never leaves a pooled session blocked.
    let statement_ms = settings.deadline.as_millis().max(1);
    let lock_ms = (statement_ms / 4).max(1);
    config.options(format!(
        "-c statement_timeout={statement_ms} -c lock_timeout={lock_ms} -c idle_in_transaction_session_timeout={statement_ms}"
    ));
    let limits = PoolLimits {
        max_size: size,
        wait: settings.deadline,
        create: settings.deadline,
    };
    pgfleet_pg::pool::build(config, connection, limits, None).map_err(|e| {
        let url = connection.url.clone();
        match e {
            PoolBuildError::Tls(e) => ServeError::Tls {
                url,
                reason: e.to_string(),
            },
            PoolBuildError::Build(reason) => ServeError::Pool { url, reason },
        }
    })
}
