//! Transactions: commit on `Ok`, roll back on `Err`, retry serialization failures and deadlocks
//! under a bounded policy; `SET LOCAL`-style settings for row level security.

use crate::error::Error;
use crate::metrics::{TX_COMMIT, TX_RETRY, TX_ROLLBACK};
use crate::pool::{FleetPool, PooledClient, track_on};
use pgfleet_core::ident::quote_literal;
use std::fmt;
use std::ops::Deref;
use std::time::{Duration, Instant};

/// The isolation level of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    #[default]
    ReadCommitted,
    RepeatableRead,
    Serializable,
}

impl Isolation {
    fn sql(self) -> &'static str {
        match self {
            Isolation::ReadCommitted => "READ COMMITTED",
            Isolation::RepeatableRead => "REPEATABLE READ",
            Isolation::Serializable => "SERIALIZABLE",
        }
    }
}

/// How often, and how patiently, a transaction that failed with a serialization failure
/// (40001) or a deadlock (40P01) is run again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1: never retry).
    pub max_attempts: u32,
    /// Delay before the first retry; doubled each time, up to `max_delay`, with full jitter.
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    pub fn never() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The sleep before retry number `retry` (1-based): uniform in [0, min(max, base·2^(retry-1))].
    fn delay(&self, retry: u32) -> Duration {
        let cap = pgfleet_pg::backoff::exponential(
            self.base_delay,
            retry.saturating_sub(1),
            self.max_delay,
        );
        let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(rand::random_range(0..=nanos))
    }
}

/// The options of [`FleetPool::transaction_with`].
#[derive(Debug, Clone, Default)]
pub struct TxOptions {
    pub isolation: Isolation,
    pub read_only: bool,
    /// Sets the pool's user setting (`app.current_user_id`) for the transaction only
    /// (`set_config(…, true)`), which row level security policies read.
    pub user: Option<String>,
    pub retry: RetryPolicy,
}

impl TxOptions {
    pub fn new(isolation: Isolation) -> Self {
        Self {
            isolation,
            ..Self::default()
        }
    }

    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
}

/// An open transaction, handed to the closure of [`FleetPool::transaction`]. Derefs to the
/// client: run statements on it as usual; the pool commits or rolls back.
pub struct Tx {
    client: PooledClient,
    attempt: u32,
}

impl fmt::Debug for Tx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tx")
            .field("attempt", &self.attempt)
            .finish()
    }
}

impl Deref for Tx {
    type Target = deadpool_postgres::ClientWrapper;

    fn deref(&self) -> &Self::Target {
        &self.client
    }
}

impl Tx {
    /// 1 for the first run of the closure, 2 for the first retry, …
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// `SET LOCAL name = value`, as `set_config(name, value, true)`: gone at commit or rollback.
    pub async fn set_local(&self, name: &str, value: &str) -> Result<(), Error> {
        (**self)
            .execute("SELECT set_config($1, $2, true)", &[&name, &value])
            .await?;
        Ok(())
    }

    /// deadpool's cached prepared statement; behind a transaction pooler a statement made for
    /// this transaction only (a cached one would outlive it, on a server session the next
    /// transaction may not get). Drop it before the closure returns.
    pub async fn prepare_cached(
        &self,
        query: &str,
    ) -> Result<tokio_postgres::Statement, tokio_postgres::Error> {
        if self.client.inner.transaction_pooler {
            return (**self).prepare(query).await;
        }
        (**self).prepare_cached(query).await
    }

    /// Sets the pool's user setting (`app.current_user_id`) for this transaction.
    pub async fn set_user(&self, user: &str) -> Result<(), Error> {
        self.set_local(&self.client.inner.config.user_setting, user)
            .await
    }

    /// Times a query of the transaction (`database_query_duration_seconds`); its errors are
    /// counted once, by the transaction.
    ///
    /// ```no_run
    /// # async fn example(tx: &pgfleet_client::Tx) -> Result<(), pgfleet_client::Error> {
    /// tx.track("insert", "audit_log", "audit_event", async {
    ///     Ok(tx.execute("INSERT INTO audit_log (user_id) VALUES ('x')", &[]).await?)
    /// })
    /// .await?;
    /// # Ok(()) }
    /// ```
    pub async fn track<T>(
        &self,
        operation: &'static str,
        table: &'static str,
        name: &'static str,
        query: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let start = Instant::now();
        let result = query.await;
        self.client.inner.metrics.query(
            &crate::metrics::QueryLabels {
                operation,
                table,
                name,
            },
            start.elapsed(),
        );
        result
    }
}

impl FleetPool {
    /// Runs `f` in a transaction: commits when it returns `Ok`, rolls back when it returns
    /// `Err`, and runs it again (up to the default [`RetryPolicy`]) after a serialization
    /// failure or deadlock. Write the closure `async move |tx| …` (it may run more than once).
    ///
    /// ```no_run
    /// # use pgfleet_client::{FleetPool, Isolation, Error};
    /// # async fn example(pool: FleetPool, from: i64, to: i64) -> Result<(), Error> {
    /// pool.transaction(Isolation::Serializable, async move |tx| {
    ///     tx.execute("UPDATE account SET balance = balance - 10 WHERE id = $1", &[&from]).await?;
    ///     tx.execute("UPDATE account SET balance = balance + 10 WHERE id = $1", &[&to]).await?;
    ///     Ok(())
    /// })
    /// .await
    /// # }
    /// ```
    pub async fn transaction<T, F>(&self, isolation: Isolation, f: F) -> Result<T, Error>
    where
        F: AsyncFnMut(&Tx) -> Result<T, Error>,
    {
        self.transaction_with(TxOptions::new(isolation), f).await
    }

    /// [`transaction`](Self::transaction) with every option (read only, user, retry policy).
    pub async fn transaction_with<T, F>(&self, options: TxOptions, mut f: F) -> Result<T, Error>
    where
        F: AsyncFnMut(&Tx) -> Result<T, Error>,
    {
        let metrics = &self.inner.metrics;
        let mut begin = format!(
            "BEGIN ISOLATION LEVEL {}{}",
            options.isolation.sql(),
            if options.read_only { " READ ONLY" } else { "" }
        );
        if let Some(user) = &options.user {
            begin.push_str(&format!(
                "; SELECT set_config({}, {}, true)",
                quote_literal(&self.inner.config.user_setting),
                quote_literal(user)
            ));
        }
        let max_attempts = options.retry.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let client = self.get().await?;
            let start = Instant::now();
            // Discards the connection if this future is dropped mid-transaction.
            let mut guard = Guard(Some(Tx { client, attempt }));
            let outcome = run_once(&guard, &begin, &mut f).await;
            let elapsed = start.elapsed();
            let client = guard.0.take().map(|tx| tx.client);
            match outcome {
                Ok(value) => {
                    metrics.transaction(TX_COMMIT, elapsed);
                    return Ok(value);
                }
                Err((error, rolled_back)) => {
                    if !rolled_back && let Some(client) = client {
                        client.discard();
                    }
                    if let Some(kind) = error.kind() {
                        metrics.error(kind);
                    }
                    if error.is_retryable() && attempt < max_attempts {
                        metrics.transaction(TX_RETRY, elapsed);
                        let delay = options.retry.delay(attempt);
                        tracing::debug!(
                            service = %self.inner.service,
                            attempt,
                            delay_ms = delay.as_millis() as u64,
                            error = %error,
                            "transaction conflict; retrying"
                        );
                        tokio::time::sleep(delay).await;
                        attempt += 1;
                        continue;
                    }
                    metrics.transaction(TX_ROLLBACK, elapsed);
                    if error.is_retryable() {
                        tracing::warn!(service = %self.inner.service, attempts = attempt, error = %error, "transaction failed after its last retry");
                    }
                    return Err(error);
                }
            }
        }
    }

    /// Tracked queries and transactions as `user`: each runs in a transaction with the user
    /// setting (`app.current_user_id`) set locally, for row level security.
    pub fn as_user(&self, user: impl Into<String>) -> UserScope<'_> {
        UserScope {
            pool: self,
            user: user.into(),
        }
    }
}

/// See [`FleetPool::as_user`].
#[derive(Debug, Clone)]
pub struct UserScope<'a> {
    pool: &'a FleetPool,
    user: String,
}

impl UserScope<'_> {
    /// [`FleetPool::track`] inside a read-committed transaction for this user.
    pub async fn track<T, F>(
        &self,
        operation: &'static str,
        table: &'static str,
        name: &'static str,
        f: F,
    ) -> Result<T, Error>
    where
        F: AsyncFnOnce(&Tx) -> Result<T, Error>,
    {
        let mut f = Some(f);
        let options = TxOptions::new(Isolation::ReadCommitted)
            .user(self.user.clone())
            .retry(RetryPolicy::never());
        let inner = self.pool.inner.clone();
        self.pool
            .transaction_with(options, async move |tx| match f.take() {
                Some(f) => track_on(&inner, tx, operation, table, name, f).await,
                None => Err(Error::app("a tracked query ran twice")),
            })
            .await
    }

    /// [`FleetPool::transaction`] for this user.
    pub async fn transaction<T, F>(&self, isolation: Isolation, f: F) -> Result<T, Error>
    where
        F: AsyncFnMut(&Tx) -> Result<T, Error>,
    {
        self.pool
            .transaction_with(TxOptions::new(isolation).user(self.user.clone()), f)
            .await
    }
}

struct Guard(Option<Tx>);

impl Drop for Guard {
    fn drop(&mut self) {
        // Still here: the transaction was interrupted (its future dropped). The connection may
        // be inside a transaction; it must not go back to the pool.
        if let Some(tx) = self.0.take() {
            tx.client.discard();
        }
    }
}

/// One attempt: `Ok` when committed; `Err((error, rolled_back))` otherwise, `rolled_back`
/// false when the connection's state is unknown (it is then discarded).
async fn run_once<T, F>(guard: &Guard, begin: &str, f: &mut F) -> Result<T, (Error, bool)>
where
    F: AsyncFnMut(&Tx) -> Result<T, Error>,
{
    let Some(tx) = guard.0.as_ref() else {
        return Err((Error::Closed, false));
    };
    let client = &tx.client;
    if let Err(e) = client.batch_execute(begin).await {
        let rolled_back = rollback(client).await;
        return Err((Error::Db(e), rolled_back));
    }
    match f(tx).await {
        Ok(value) => match client.batch_execute("COMMIT").await {
            Ok(()) => Ok(value),
            // A failed COMMIT (e.g. a serialization failure found at commit) has ended the
            // transaction.
            Err(e) => Err((Error::Db(e), !client.is_closed())),
        },
        Err(error) => {
            let rolled_back = rollback(client).await;
            Err((error, rolled_back))
        }
    }
}

async fn rollback(client: &PooledClient) -> bool {
    !client.is_closed() && client.batch_execute("ROLLBACK").await.is_ok()
}
