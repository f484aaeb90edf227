//! The one deadpool builder: serve's pools per database and the client's pool are both made
//! here, on a resolved connection's TLS, with every wait bounded.

use deadpool_postgres::{Hook, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use pgfleet_core::Connection;
use std::time::Duration;

/// The size and the deadlines of a pool.
#[derive(Debug, Clone, Copy)]
pub struct PoolLimits {
    pub max_size: usize,
    /// How long a caller waits for a free session.
    pub wait: Duration,
    /// How long opening a session may take (connect, TLS, startup).
    pub create: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum PoolBuildError {
    /// The connection's TLS settings cannot be used.
    #[error(transparent)]
    Tls(#[from] pgfleet_core::tls::TlsError),
    #[error("{0}")]
    Build(String),
}

/// A pool of sessions configured by `config` on `connection`'s TLS. `on_create` runs once per
/// session opened (the client counts them).
pub fn build(
    config: tokio_postgres::Config,
    connection: &Connection,
    limits: PoolLimits,
    on_create: Option<Box<dyn Fn() + Send + Sync>>,
) -> Result<Pool, PoolBuildError> {
    let tls = pgfleet_core::tls::connector(connection)?;
    let manager = Manager::from_config(
        config,
        tls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let mut builder = Pool::builder(manager)
        .max_size(limits.max_size)
        .runtime(Runtime::Tokio1)
        .timeouts(Timeouts {
            wait: Some(limits.wait),
            create: Some(limits.create),
            // Fast recycling checks a flag and sends nothing: there is nothing to time out,
            // and a timeout would arm a timer on every get.
            recycle: None,
        });
    if let Some(on_create) = on_create {
        builder = builder.post_create(Hook::sync_fn(move |_, _| {
            on_create();
            Ok(())
        }));
    }
    builder
        .build()
        .map_err(|e| PoolBuildError::Build(e.to_string()))
}
