//! [`FleetPool`]: a deadpool-postgres pool with seed 003's settings and seed 002's metrics.

use crate::config::{PoolConfig, Resolved, replica_var, resolve_env, resolve_url};
use crate::error::{ConfigError, Error};
use crate::metrics::{Metrics, PoolGauges, PoolState, QueryLabels};
use deadpool_postgres::{Object, Pool, PoolError, TimeoutType, Timeouts};
use pgfleet_core::Vars;
use pgfleet_core::statement::excerpt;
use pgfleet_pg::pool::{PoolBuildError, PoolLimits};
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio_postgres::types::{ToSql, Type};

/// A service's connection pool. Cheap to clone (one `Arc`); share it between handlers.
#[derive(Clone)]
pub struct FleetPool {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub service: String,
    pub primary: Pool,
    pub replicas: Vec<Pool>,
    next_replica: AtomicUsize,
    pub config: PoolConfig,
    /// `config.pooler` is transaction mode: the one flag the query path reads.
    pub transaction_pooler: bool,
    /// Behind a transaction pooler: the parameter types of each SQL text run outside a
    /// transaction (see `PooledClient::query`).
    param_types: Mutex<HashMap<String, Arc<[Type]>>>,
    pub metrics: Metrics,
    /// The redacted URL of the primary, for logs.
    pub url: String,
    closing: AtomicBool,
    maintenance: Mutex<Option<tokio::task::JoinHandle<()>>>,
    pub ready: crate::health::ReadyCache,
}

impl fmt::Debug for FleetPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetPool")
            .field("service", &self.inner.service)
            .field("url", &self.inner.url)
            .field("replicas", &self.inner.replicas.len())
            .field("max_size", &self.inner.config.max_size)
            .finish()
    }
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inner")
            .field("service", &self.service)
            .field("url", &self.url)
            .finish()
    }
}

/// Builds a [`FleetPool`]: where to connect, the settings, replicas.
#[derive(Debug)]
pub struct FleetPoolBuilder {
    service: String,
    source: Option<Result<Resolved, Error>>,
    vars: Option<Vars>,
    replicas: Vec<String>,
    config: PoolConfig,
}

impl FleetPool {
    /// The pool of `service`, connected as `pgfleet env export <service>` describes (see
    /// [`crate::config::resolve_env`]), with seed 003's default settings overridden by the
    /// manifest's pool table that the export carries ([`PoolConfig::from_vars`]). Must be
    /// called inside a tokio runtime. Does not wait for the database: connections are opened in
    /// the background, retried with exponential backoff while the database is down.
    pub fn from_env(service: &str) -> Result<Self, Error> {
        let vars = Vars::from_process();
        Self::builder(service)
            .config(PoolConfig::from_vars(&vars)?)
            .vars(vars)
            .build()
    }

    pub fn builder(service: &str) -> FleetPoolBuilder {
        FleetPoolBuilder {
            service: service.to_owned(),
            source: None,
            vars: None,
            replicas: Vec::new(),
            config: PoolConfig::default(),
        }
    }

    pub fn service(&self) -> &str {
        &self.inner.service
    }

    pub fn config(&self) -> &PoolConfig {
        &self.inner.config
    }

    /// The redacted URL of the primary (`postgresql://user:***@host:port/db?sslmode=…`).
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// Adds this pool's metrics to the service's registry (once per registry).
    pub fn register_metrics(&self, registry: &mut Registry) {
        let gauges: Arc<dyn PoolGauges> = self.inner.clone();
        let weak: Weak<dyn PoolGauges> = Arc::downgrade(&gauges);
        self.inner.metrics.register(registry, weak);
    }

    /// A connection from the primary; given back to the pool when dropped.
    pub async fn get(&self) -> Result<PooledClient, Error> {
        acquire(&self.inner, &self.inner.primary, None).await
    }

    /// Like [`get`](Self::get), waiting at most `wait` for a connection.
    pub async fn get_timeout(&self, wait: Duration) -> Result<PooledClient, Error> {
        acquire(&self.inner, &self.inner.primary, Some(wait)).await
    }

    /// Runs a tracked query: acquires a connection, runs `f` with it and records
    /// `database_query_duration_seconds{operation,table,name}` (the Rust form of seed 002's
    /// `@query_performance_tracker`) and, on failure, `database_errors_total{kind}`.
    ///
    /// ```no_run
    /// # async fn example(pool: pgfleet_client::FleetPool, id: i64) -> Result<(), pgfleet_client::Error> {
    /// let row = pool
    ///     .track("select", "dashboard", "get_dashboard_by_id", async |c| {
    ///         Ok(c.query_opt("SELECT name FROM dashboard WHERE id = $1", &[&id]).await?)
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// Labels are `&'static str`: one series per query of the code, never per value.
    pub async fn track<T, F>(
        &self,
        operation: &'static str,
        table: &'static str,
        name: &'static str,
        f: F,
    ) -> Result<T, Error>
    where
        F: AsyncFnOnce(&PooledClient) -> Result<T, Error>,
    {
        let client = self.get().await?;
        track_on(&self.inner, &client, operation, table, name, f).await
    }

    /// Queries that may read from a replica: round-robin over the configured replicas, the
    /// primary when there are none.
    pub fn reader(&self) -> Reader<'_> {
        Reader { pool: self }
    }

    /// Pool state (primary).
    pub fn status(&self) -> PoolStatus {
        let s = state(&self.inner.primary);
        PoolStatus {
            max_size: s.max_size,
            size: s.size,
            idle: s.idle,
            active: s.active(),
            waiting: s.waiting,
        }
    }

    /// Stops handing out connections, waits up to `timeout` for those in use to come back,
    /// then closes every connection. Returns whether all came back in time.
    pub async fn close(&self, timeout: Duration) -> bool {
        let inner = &self.inner;
        if inner.closing.swap(true, Ordering::SeqCst) {
            return state(&inner.primary).active() == 0;
        }
        if let Ok(mut task) = inner.maintenance.lock()
            && let Some(task) = task.take()
        {
            task.abort();
        }
        let deadline = Instant::now() + timeout;
        let drained = loop {
            let busy: usize = std::iter::once(&inner.primary)
                .chain(&inner.replicas)
                .map(|p| state(p).active())
                .sum();
            if busy == 0 {
                break true;
            }
            if Instant::now() >= deadline {
                tracing::warn!(
                    service = %inner.service,
                    in_use = busy,
                    "closing the database pool with connections still in use"
                );
                break false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        for pool in std::iter::once(&inner.primary).chain(&inner.replicas) {
            pool.close();
        }
        tracing::info!(service = %inner.service, drained, "database pool closed");
        drained
    }

    pub fn is_closed(&self) -> bool {
        self.inner.closing.load(Ordering::SeqCst)
    }
}

/// A snapshot of the primary pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    pub max_size: usize,
    /// Open connections.
    pub size: usize,
    pub idle: usize,
    pub active: usize,
    pub waiting: usize,
}

impl PoolStatus {
    /// Connections in use, in percent of the maximum.
    pub fn utilization_percent(&self) -> f64 {
        pgfleet_core::health::utilization_percent(self.active as u64, self.max_size as u64)
    }
}

/// Reads routed to replicas (see [`FleetPool::reader`]).
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    pool: &'a FleetPool,
}

impl Reader<'_> {
    fn pick(&self) -> &Pool {
        let inner = &self.pool.inner;
        match inner.replicas.len() {
            0 => &inner.primary,
            n => &inner.replicas[inner.next_replica.fetch_add(1, Ordering::Relaxed) % n],
        }
    }

    pub async fn get(&self) -> Result<PooledClient, Error> {
        acquire(&self.pool.inner, self.pick(), None).await
    }

    /// [`FleetPool::track`] on a replica.
    pub async fn track<T, F>(
        &self,
        operation: &'static str,
        table: &'static str,
        name: &'static str,
        f: F,
    ) -> Result<T, Error>
    where
        F: AsyncFnOnce(&PooledClient) -> Result<T, Error>,
    {
        let client = self.get().await?;
        track_on(&self.pool.inner, &client, operation, table, name, f).await
    }
}

pub(crate) async fn track_on<T, F, C>(
    inner: &Inner,
    client: &C,
    operation: &'static str,
    table: &'static str,
    name: &'static str,
    f: F,
) -> Result<T, Error>
where
    F: AsyncFnOnce(&C) -> Result<T, Error>,
{
    let start = Instant::now();
    let result = f(client).await;
    let elapsed = start.elapsed();
    inner.metrics.query(
        &QueryLabels {
            operation,
            table,
            name,
        },
        elapsed,
    );
    if let Err(e) = &result {
        if let Some(kind) = e.kind() {
            inner.metrics.error(kind);
        }
        tracing::debug!(service = %inner.service, operation, table, name, error = %e, "tracked query failed");
    } else if elapsed >= inner.config.slow_query {
        tracing::warn!(service = %inner.service, operation, table, name, seconds = elapsed.as_secs_f64(), "slow query");
    }
    result
}

/// How many SQL texts' parameter types a pool behind a transaction pooler keeps.
const PARAM_TYPES_KEPT: usize = 1024;

/// What [`PooledClient::query`] and its siblings take, as tokio-postgres' methods do: SQL text
/// or a prepared statement. Behind a transaction pooler text runs on the unnamed statement.
pub trait QueryText: tokio_postgres::ToStatement {
    /// The SQL text; `None` for a prepared statement.
    fn text(&self) -> Option<&str>;
}

impl QueryText for str {
    fn text(&self) -> Option<&str> {
        Some(self)
    }
}

impl QueryText for String {
    fn text(&self) -> Option<&str> {
        Some(self)
    }
}

impl QueryText for tokio_postgres::Statement {
    fn text(&self) -> Option<&str> {
        None
    }
}

/// A pooled connection: derefs to the client (with `prepare_cached`); dropping it gives it
/// back to the pool (`database_connections_released_total`).
pub struct PooledClient {
    pub(crate) object: Option<Object>,
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for PooledClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledClient")
            .field("service", &self.inner.service)
            .finish()
    }
}

impl Deref for PooledClient {
    type Target = deadpool_postgres::ClientWrapper;

    fn deref(&self) -> &Self::Target {
        match &self.object {
            Some(object) => object,
            // Only emptied in drop / discard.
            None => unreachable!("a PooledClient is used after being discarded"),
        }
    }
}

impl PooledClient {
    /// Closes this connection instead of giving it back (after an interrupted transaction).
    pub(crate) fn discard(mut self) {
        if let Some(object) = self.object.take() {
            drop(Object::take(object));
            self.inner.metrics.released();
        }
    }

    /// Runs `sql` (a cached prepared statement; behind a transaction pooler the unnamed one,
    /// see [`query`](Self::query)), logging it, cut to the configured length, when it fails.
    pub async fn query_logged(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, Error> {
        let result = if self.inner.transaction_pooler {
            self.query(sql, params).await
        } else {
            async {
                let statement = self.client().prepare_cached(sql).await?;
                self.client().query(&statement, params).await
            }
            .await
        };
        result.map_err(|e| {
            tracing::warn!(
                service = %self.inner.service,
                statement = %excerpt(sql, self.inner.config.log_statement_chars),
                error = %e,
                "query failed"
            );
            Error::Db(e)
        })
    }

    /// The wrapped client, past this type's own methods.
    fn client(&self) -> &deadpool_postgres::ClientWrapper {
        self
    }

    /// deadpool's cached prepared statement. Behind a transaction pooler a statement outlives
    /// the transaction it was prepared in, so it is refused there.
    pub async fn prepare_cached(&self, query: &str) -> Result<tokio_postgres::Statement, Error> {
        if self.inner.transaction_pooler {
            return Err(Error::PreparedBehindPooler);
        }
        Ok(self.client().prepare_cached(query).await?)
    }

    /// A prepared statement, refused behind a transaction pooler (see
    /// [`prepare_cached`](Self::prepare_cached)); inside [`crate::Tx`] it is allowed.
    pub async fn prepare(&self, query: &str) -> Result<tokio_postgres::Statement, Error> {
        if self.inner.transaction_pooler {
            return Err(Error::PreparedBehindPooler);
        }
        Ok(self.client().prepare(query).await?)
    }

    /// tokio-postgres' `query`; behind a transaction pooler on the unnamed statement (one
    /// round trip, its own implicit transaction: nothing stays prepared on a server session
    /// the next statement may not get), with the parameter types learnt once per text.
    pub async fn query<T>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error>
    where
        T: ?Sized + QueryText,
    {
        if self.inner.transaction_pooler {
            if let Some((sql, typed)) = self.typed(statement.text(), params).await? {
                return self.client().query_typed(sql, &typed).await;
            }
            return self
                .in_own_transaction(self.client().query(statement, params))
                .await;
        }
        self.client().query(statement, params).await
    }

    /// tokio-postgres' `query_one` (see [`query`](Self::query)).
    pub async fn query_one<T>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<tokio_postgres::Row, tokio_postgres::Error>
    where
        T: ?Sized + QueryText,
    {
        if self.inner.transaction_pooler {
            if let Some((sql, typed)) = self.typed(statement.text(), params).await? {
                return self.client().query_typed_one(sql, &typed).await;
            }
            return self
                .in_own_transaction(self.client().query_one(statement, params))
                .await;
        }
        self.client().query_one(statement, params).await
    }

    /// tokio-postgres' `query_opt` (see [`query`](Self::query)).
    pub async fn query_opt<T>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<tokio_postgres::Row>, tokio_postgres::Error>
    where
        T: ?Sized + QueryText,
    {
        if self.inner.transaction_pooler {
            if let Some((sql, typed)) = self.typed(statement.text(), params).await? {
                return self.client().query_typed_opt(sql, &typed).await;
            }
            return self
                .in_own_transaction(self.client().query_opt(statement, params))
                .await;
        }
        self.client().query_opt(statement, params).await
    }

    /// tokio-postgres' `execute` (see [`query`](Self::query)).
    pub async fn execute<T>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error>
    where
        T: ?Sized + QueryText,
    {
        if self.inner.transaction_pooler {
            if let Some((sql, typed)) = self.typed(statement.text(), params).await? {
                return self.client().execute_typed(sql, &typed).await;
            }
            return self
                .in_own_transaction(self.client().execute(statement, params))
                .await;
        }
        self.client().execute(statement, params).await
    }

    /// Behind a transaction pooler: the parameters of SQL text paired with their types, which
    /// are learnt once per text from a statement prepared and closed inside a transaction of
    /// its own. `None` for a prepared statement, or a parameter count that does not match
    /// (tokio-postgres' own path then reports it).
    async fn typed<'s, 'p>(
        &self,
        sql: Option<&'s str>,
        params: &'p [&'p (dyn ToSql + Sync)],
    ) -> Result<Option<(&'s str, Vec<(&'p (dyn ToSql + Sync), Type)>)>, tokio_postgres::Error> {
        let Some(sql) = sql else {
            return Ok(None);
        };
        let known = self
            .inner
            .param_types
            .lock()
            .ok()
            .and_then(|types| types.get(sql).cloned());
        let types = match known {
            Some(types) => types,
            None => {
                let types: Arc<[Type]> = self
                    .in_own_transaction(async {
                        let statement = self.client().prepare(sql).await?;
                        Ok(Arc::from(statement.params()))
                    })
                    .await?;
                if let Ok(mut known) = self.inner.param_types.lock() {
                    // Texts built at run time must not grow it without bound.
                    if known.len() >= PARAM_TYPES_KEPT {
                        known.clear();
                    }
                    known.insert(sql.to_owned(), types.clone());
                }
                types
            }
        };
        if types.len() != params.len() {
            return Ok(None);
        }
        Ok(Some((
            sql,
            params.iter().copied().zip(types.iter().cloned()).collect(),
        )))
    }

    /// `run` between BEGIN and COMMIT (ROLLBACK when it fails): PgBouncer keeps one server
    /// session for the transaction, so a statement prepared, used and dropped in `run` is
    /// closed on the session it was made on (requests go out in order on the connection).
    async fn in_own_transaction<R>(
        &self,
        run: impl Future<Output = Result<R, tokio_postgres::Error>>,
    ) -> Result<R, tokio_postgres::Error> {
        // A caller that stops waiting (a timeout, a dropped request) must not hand the next
        // one a connection inside this transaction.
        let mut guard = RollbackOnDrop(Some(self.client()));
        self.client().batch_execute("BEGIN").await?;
        let result = match run.await {
            Ok(value) => self.client().batch_execute("COMMIT").await.map(|()| value),
            Err(e) => {
                let _ = self.client().batch_execute("ROLLBACK").await;
                Err(e)
            }
        };
        guard.0 = None;
        result
    }
}

/// Queues a ROLLBACK when dropped while still holding the client, as tokio-postgres'
/// own `Transaction` does on drop (through the same hidden method): requests go out in order,
/// so the connection is out of the transaction before anyone else's statement.
struct RollbackOnDrop<'a>(Option<&'a deadpool_postgres::ClientWrapper>);

impl Drop for RollbackOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            client.__private_api_rollback(None);
        }
    }
}

impl Drop for PooledClient {
    fn drop(&mut self) {
        if self.object.take().is_some() {
            self.inner.metrics.released();
        }
    }
}

async fn acquire(
    inner: &Arc<Inner>,
    pool: &Pool,
    wait: Option<Duration>,
) -> Result<PooledClient, Error> {
    if inner.closing.load(Ordering::Relaxed) {
        return Err(Error::Closed);
    }
    let start = Instant::now();
    // A free connection is taken without arming the wait timeout's timer (deadpool arms one
    // per get otherwise, a good part of what a get costs); only a caller who must wait does.
    let mut timeouts = pool.timeouts();
    if let Some(wait) = wait {
        timeouts.wait = Some(wait);
        timeouts.create = Some(timeouts.create.map_or(wait, |c| c.min(wait)));
    }
    let free = Timeouts {
        wait: Some(Duration::ZERO),
        ..timeouts
    };
    let result = match pool.timeout_get(&free).await {
        Err(PoolError::Timeout(TimeoutType::Wait)) => pool.timeout_get(&timeouts).await,
        other => other,
    };
    let waited = start.elapsed();
    inner.metrics.acquire_waited(waited);
    match result {
        Ok(object) => {
            inner.metrics.acquired();
            Ok(PooledClient {
                object: Some(object),
                inner: inner.clone(),
            })
        }
        Err(e) => {
            let error = match e {
                PoolError::Timeout(TimeoutType::Wait) => {
                    inner.metrics.acquire_timed_out();
                    Error::AcquireTimeout {
                        waited,
                        max_size: pool.status().max_size,
                    }
                }
                PoolError::Timeout(TimeoutType::Create) => Error::Connect(format!(
                    "no connection within the connect timeout ({:?})",
                    pool.timeouts().create.unwrap_or_default()
                )),
                PoolError::Timeout(TimeoutType::Recycle) => {
                    Error::Connect("checking a pooled connection timed out".to_owned())
                }
                PoolError::Backend(e) => Error::Connect(e.to_string()),
                PoolError::Closed => Error::Closed,
                PoolError::NoRuntimeSpecified => Error::Connect("no runtime".to_owned()),
                PoolError::PostCreateHook(e) => Error::Connect(e.to_string()),
            };
            if let Some(kind) = error.kind() {
                inner.metrics.error(kind);
            }
            Err(error)
        }
    }
}

pub(crate) fn state(pool: &Pool) -> PoolState {
    let s = pool.status();
    PoolState {
        max_size: s.max_size,
        size: s.size,
        idle: s.available,
        waiting: s.waiting,
    }
}

impl PoolGauges for Inner {
    fn states(&self) -> Vec<(&'static str, PoolState)> {
        let mut states = vec![("primary", state(&self.primary))];
        states.extend(self.replicas.iter().map(|p| ("replica", state(p))));
        if self.replicas.len() > 1 {
            // One series per label set: replicas are summed.
            let mut sum = PoolState::default();
            for (_, s) in &states[1..] {
                sum.max_size += s.max_size;
                sum.size += s.size;
                sum.idle += s.idle;
                sum.waiting += s.waiting;
            }
            states.truncate(1);
            states.push(("replica", sum));
        }
        states
    }
}

impl FleetPoolBuilder {
    /// Connect with this URL (`postgresql://user:password@host:port/db?sslmode=…`).
    pub fn url(mut self, url: &str) -> Self {
        self.source = Some(resolve_url(&self.service, url));
        self
    }

    /// Resolve from these variables instead of the process environment (tests, `.env` files).
    pub fn vars(mut self, vars: Vars) -> Self {
        self.vars = Some(vars);
        self
    }

    /// Add a read replica (see [`FleetPool::reader`]). Replicas may also be listed in
    /// `<SERVICE>_DATABASE_REPLICA_URLS`, comma-separated.
    pub fn replica_url(mut self, url: &str) -> Self {
        self.replicas.push(url.to_owned());
        self
    }

    /// All settings at once (e.g. `PoolConfig::from(&manifest.services["x"].pool)`).
    pub fn config(mut self, config: PoolConfig) -> Self {
        self.config = config;
        self
    }

    /// Changes some settings of the current configuration.
    pub fn configure(mut self, f: impl FnOnce(&mut PoolConfig)) -> Self {
        f(&mut self.config);
        self
    }

    pub fn max_size(self, max_size: usize) -> Self {
        self.configure(|c| c.max_size = max_size)
    }

    pub fn min_idle(self, min_idle: usize) -> Self {
        self.configure(|c| c.min_idle = min_idle)
    }

    pub fn acquire_timeout(self, timeout: Duration) -> Self {
        self.configure(|c| c.acquire_timeout = timeout)
    }

    pub fn statement_timeout(self, timeout: Duration) -> Self {
        self.configure(|c| c.statement_timeout = timeout)
    }

    /// Creates the pool and starts its maintenance task. Never waits for the database.
    pub fn build(self) -> Result<FleetPool, Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ConfigError::NoRuntime)?;
        let config = self.config;
        if config.max_size == 0 || config.min_idle > config.max_size {
            return Err(ConfigError::Pool(format!(
                "max_size must be at least 1 and min_idle ({}) at most max_size ({})",
                config.min_idle, config.max_size
            ))
            .into());
        }
        let vars = self.vars.unwrap_or_else(Vars::from_process);
        let resolved = match self.source {
            Some(resolved) => resolved?,
            None => resolve_env(&self.service, &vars)?,
        };
        let mut replica_urls = self.replicas;
        if let Some(list) = vars.get(&replica_var(&self.service)) {
            replica_urls.extend(
                list.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            );
        }
        let metrics = Metrics::new(&self.service, config.record_metrics);
        let primary = make_pool(&resolved, &config, &metrics)?;
        let mut replicas = Vec::new();
        for url in &replica_urls {
            let mut replica = resolve_url(&self.service, url)?;
            if replica.connection.password.is_none() {
                replica
                    .connection
                    .password
                    .clone_from(&resolved.connection.password);
            }
            replica
                .application_name
                .clone_from(&resolved.application_name);
            replicas.push(make_pool(&replica, &config, &metrics)?);
        }
        let inner = Arc::new(Inner {
            service: self.service,
            primary,
            replicas,
            next_replica: AtomicUsize::new(0),
            url: resolved.connection.url.clone(),
            transaction_pooler: config.pooler
                == Some(pgfleet_core::manifest::PoolerMode::Transaction),
            param_types: Mutex::new(HashMap::new()),
            config,
            metrics,
            closing: AtomicBool::new(false),
            maintenance: Mutex::new(None),
            ready: crate::health::ReadyCache::default(),
        });
        tracing::info!(
            service = %inner.service,
            url = %inner.url,
            replicas = inner.replicas.len(),
            max_size = inner.config.max_size,
            min_idle = inner.config.min_idle,
            "database pool created"
        );
        let task = runtime.spawn(maintain(Arc::downgrade(&inner)));
        if let Ok(mut slot) = inner.maintenance.lock() {
            *slot = Some(task);
        }
        Ok(FleetPool { inner })
    }
}

fn make_pool(resolved: &Resolved, config: &PoolConfig, metrics: &Metrics) -> Result<Pool, Error> {
    let connection = &resolved.connection;
    let mut pg = connection.pg_config(&resolved.application_name, config.connect_timeout);
    // A pooler refuses startup options (PgBouncer: "unsupported startup parameter"); behind
    // it the runtime role's own settings give the search_path and the statement timeout.
    let mut options = match config.pooler {
        Some(_) => String::new(),
        None => resolved.options.clone().unwrap_or_default(),
    };
    if config.pooler.is_none() && !config.statement_timeout.is_zero() {
        if !options.is_empty() {
            options.push(' ');
        }
        options.push_str(&format!(
            "-c statement_timeout={}",
            config.statement_timeout.as_millis()
        ));
    }
    if !options.is_empty() {
        pg.options(&options);
    }
    let created = metrics.created.clone();
    let limits = PoolLimits {
        max_size: config.max_size,
        wait: config.acquire_timeout,
        create: config.connect_timeout,
    };
    pgfleet_pg::pool::build(
        pg,
        connection,
        limits,
        Some(Box::new(move || {
            created.inc();
        })),
    )
    .map_err(|e| match e {
        PoolBuildError::Tls(e) => ConfigError::from(e).into(),
        PoolBuildError::Build(reason) => ConfigError::Pool(reason).into(),
    })
}

/// The maintenance loop: closes connections past their lifetime or idle beyond `min_idle`,
/// keeps `min_idle` open (reconnecting with exponential backoff while the database is down),
/// and warns when the pool is under pressure. Ends when the pool is dropped or closed.
async fn maintain(weak: Weak<Inner>) {
    // Failed warm-ups in a row: the next retry waits the one backoff of that many.
    let mut failures: u32 = 0;
    let mut next_attempt = Instant::now();
    let mut last_pressure_warning: Option<Instant> = None;
    let mut down_since: Option<Instant> = None;
    loop {
        let Some(inner) = weak.upgrade() else { return };
        if inner.closing.load(Ordering::SeqCst) {
            return;
        }
        let config = &inner.config;
        let interval = config.maintenance_interval;
        for pool in std::iter::once(&inner.primary).chain(&inner.replicas) {
            evict(pool, config);
        }
        if Instant::now() >= next_attempt {
            match warm_up(&inner).await {
                Ok(()) => {
                    if let Some(since) = down_since.take() {
                        tracing::info!(
                            service = %inner.service,
                            after_seconds = since.elapsed().as_secs_f64(),
                            "database reachable again"
                        );
                    }
                    failures = 0;
                }
                Err(e) => {
                    let delay = pgfleet_pg::backoff::exponential(
                        config.reconnect_initial_delay,
                        failures,
                        config.reconnect_max_delay,
                    );
                    failures = failures.saturating_add(1);
                    next_attempt = Instant::now() + delay;
                    down_since.get_or_insert_with(Instant::now);
                    tracing::warn!(
                        service = %inner.service,
                        url = %inner.url,
                        retry_in_ms = delay.as_millis() as u64,
                        error = %e,
                        "cannot open database connections; retrying"
                    );
                }
            }
        }
        let s = state(&inner.primary);
        let utilization =
            pgfleet_core::health::utilization_percent(s.active() as u64, s.max_size as u64);
        if utilization > pgfleet_core::health::DEGRADED_UTILIZATION_PERCENT || s.waiting > 0 {
            if last_pressure_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                last_pressure_warning = Some(Instant::now());
                tracing::warn!(
                    service = %inner.service,
                    active = s.active(),
                    max_size = s.max_size,
                    waiting = s.waiting,
                    utilization_percent = utilization,
                    "database pool under pressure"
                );
            }
        } else if last_pressure_warning.take().is_some() {
            tracing::info!(service = %inner.service, utilization_percent = utilization, "database pool pressure over");
        }
        let sleep = if failures > 0 {
            interval.min(next_attempt.saturating_duration_since(Instant::now()))
        } else {
            interval
        };
        drop(inner);
        tokio::time::sleep(sleep.max(Duration::from_millis(5))).await;
    }
}

fn evict(pool: &Pool, config: &PoolConfig) {
    let s = pool.status();
    let mut removable_idle = s.size.saturating_sub(config.min_idle);
    pool.retain(|client, metrics| {
        if client.is_closed() || metrics.age() >= config.max_lifetime {
            removable_idle = removable_idle.saturating_sub(1);
            return false;
        }
        if removable_idle > 0 && metrics.last_used() >= config.idle_timeout {
            removable_idle -= 1;
            return false;
        }
        true
    });
}

/// Opens connections until `min_idle` are open, on every pool (one, until the first
/// connection succeeded, when `min_idle` is 0: a database down at start shows at once).
async fn warm_up(inner: &Arc<Inner>) -> Result<(), Error> {
    let target = if inner.metrics.created.get() == 0 {
        inner.config.min_idle.max(1)
    } else {
        inner.config.min_idle
    };
    let mut first_error = None;
    for pool in std::iter::once(&inner.primary).chain(&inner.replicas) {
        let s = pool.status();
        if s.size >= target {
            continue;
        }
        // Holding `idle + missing` connections at once makes the pool open the missing ones.
        let want = (s.available + target - s.size).min(s.max_size);
        let mut held = Vec::with_capacity(want);
        let mut timeouts = pool.timeouts();
        timeouts.wait = Some(Duration::ZERO);
        for _ in 0..want {
            match pool.timeout_get(&timeouts).await {
                Ok(object) => held.push(object),
                Err(PoolError::Timeout(TimeoutType::Wait)) => break,
                Err(PoolError::Backend(e)) => {
                    first_error.get_or_insert(Error::Connect(e.to_string()));
                    break;
                }
                Err(e) => {
                    first_error.get_or_insert(Error::Connect(e.to_string()));
                    break;
                }
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
