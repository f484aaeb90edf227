//! The service side of pgfleet: how a Rust service of the fleet talks to its database.
//!
//! - [`FleetPool::from_env`] resolves the connection from the variables `pgfleet env export`
//!   prints (no manifest at run time) and builds a deadpool-postgres pool with seed 003's
//!   settings: 50 connections, 10 kept warm, 5 min lifetime, 1 min idle timeout, 10 s connect
//!   timeout, 30 s `statement_timeout`, libpq's sslmodes, `application_name` = the service.
//!   While the database is down, connections are retried in the background with exponential
//!   backoff; the pool never has to be rebuilt.
//! - Seed 002's metrics in the service's prometheus-client `Registry`, with a `service` label
//!   ([`FleetPool::register_metrics`]; names in [`metrics`](crate::metrics)).
//! - [`FleetPool::track`] (seed 002's query tracker), [`FleetPool::transaction`] (commit on
//!   `Ok`, rollback on `Err`, bounded retries of serialization failures and deadlocks),
//!   [`FleetPool::as_user`] (`app.current_user_id` for row level security),
//!   [`FleetPool::reader`] (replicas).
//! - Behind PgBouncer in transaction mode (`PGFLEET_POOLER=transaction`, see
//!   [`PoolConfig::pooler`]): no startup options, no session state, each statement outside a
//!   transaction in one of its own, no prepared statement kept across transactions.
//! - [`FleetPool::health_router`]: `/healthz`, `/health/detailed`, `/ready`, `/live`,
//!   `/metrics`; [`FleetPool::close`] drains the pool at shutdown.
//!
//! ```no_run
//! # async fn example() -> Result<(), pgfleet_client::Error> {
//! use pgfleet_client::FleetPool;
//! use std::sync::Arc;
//!
//! let pool = FleetPool::from_env("dashboard")?;
//! let mut registry = prometheus_client::registry::Registry::default();
//! pool.register_metrics(&mut registry);
//! let app: axum::Router = axum::Router::new().merge(pool.health_router(Arc::new(registry)));
//! # Ok(()) }
//! ```

pub mod config;
mod error;
mod health;
pub mod metrics;
mod pool;
mod tx;

pub use config::PoolConfig;
pub use error::{ConfigError, ERROR_KINDS, Error};
pub use health::HealthChecker;
pub use pgfleet_core::manifest::PoolerMode;
pub use pgfleet_core::statement::excerpt;
pub use pool::{FleetPool, FleetPoolBuilder, PoolStatus, PooledClient, QueryText, Reader};
pub use tx::{Isolation, RetryPolicy, Tx, TxOptions, UserScope};

pub use deadpool_postgres;
pub use prometheus_client;
pub use tokio_postgres;
