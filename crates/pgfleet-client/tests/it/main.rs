//! pgfleet-client against real PostgreSQL (pgfleet-testkit): one test binary, one module per
//! area.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod env;
mod example;
mod health;
mod pool;
mod tls;
mod tx;

use pgfleet_client::prometheus_client::registry::Registry;
use pgfleet_client::{FleetPool, PoolConfig};
use pgfleet_testkit::TestDatabase;
use std::sync::Arc;
use std::time::Duration;

/// Small, quick settings: many tests share one cluster (200 connections).
pub fn test_config() -> PoolConfig {
    PoolConfig {
        max_size: 4,
        min_idle: 1,
        acquire_timeout: Duration::from_secs(10),
        maintenance_interval: Duration::from_millis(50),
        reconnect_initial_delay: Duration::from_millis(50),
        reconnect_max_delay: Duration::from_millis(500),
        ready_cache: Duration::from_millis(200),
        ..PoolConfig::default()
    }
}

/// A pool on `url` for `service`, its metrics in a fresh registry.
pub fn pool_on_url(
    service: &str,
    url: &str,
    configure: impl FnOnce(&mut PoolConfig),
) -> (FleetPool, Arc<Registry>) {
    let mut config = test_config();
    configure(&mut config);
    let pool = FleetPool::builder(service)
        .url(url)
        .config(config)
        .build()
        .unwrap();
    let mut registry = Registry::default();
    pool.register_metrics(&mut registry);
    (pool, Arc::new(registry))
}

pub fn pool_on(
    db: &TestDatabase,
    service: &str,
    configure: impl FnOnce(&mut PoolConfig),
) -> (FleetPool, Arc<Registry>) {
    pool_on_url(service, &format!("{}?sslmode=disable", db.url()), configure)
}

pub fn metrics_text(registry: &Registry) -> String {
    let mut text = String::new();
    pgfleet_client::prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
    text
}

/// The value of the series `name` whose labels include all of `labels`, if exported.
pub fn metric_in(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let (label_text, value) = match rest.strip_prefix('{') {
            Some(rest) => {
                let end = rest.find('}')?;
                (&rest[..end], rest[end + 1..].trim())
            }
            None if rest.starts_with(' ') => ("", rest.trim()),
            None => return None,
        };
        let all = labels.iter().all(|(k, v)| {
            label_text
                .split(',')
                .any(|pair| pair == format!("{k}=\"{v}\""))
        });
        if !all {
            return None;
        }
        value.split_whitespace().next()?.parse().ok()
    })
}

pub fn metric(registry: &Registry, name: &str, labels: &[(&str, &str)]) -> f64 {
    let text = metrics_text(registry);
    metric_in(&text, name, labels)
        .unwrap_or_else(|| panic!("no series {name} {labels:?} in:\n{text}"))
}

/// Polls `f` until it returns true or `timeout` passes.
pub async fn eventually(timeout: Duration, mut f: impl AsyncFnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if f().await {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
