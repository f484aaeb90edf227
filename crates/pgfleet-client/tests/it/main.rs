//! pgfleet-client against real PostgreSQL (pgfleet-testkit): one test binary, one module per
//! area.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

/// Generates a test per route from one body: `direct` (the server itself) and
/// `through_pgbouncer` (PgBouncer in transaction mode in front of it). The body names the
/// route with `$route`, a [`RouteKind`], and starts it with [`Route::start`].
macro_rules! on_both_routes {
    ($(#[$meta:meta])* async fn $name:ident($route:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($route: $crate::RouteKind) $body

            #[tokio::test]
            async fn direct() {
                run($crate::RouteKind::Direct).await;
            }

            #[tokio::test]
            async fn through_pgbouncer() {
                run($crate::RouteKind::PgBouncer).await;
            }
        }
    };
}

mod env;
mod example;
mod health;
mod pool;
mod pooler;
mod tls;
mod tx;

use pgfleet_client::prometheus_client::registry::Registry;
use pgfleet_client::{FleetPool, PoolConfig};
use pgfleet_testkit::{TestDatabase, TestPgBouncer};
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

/// Which way a test's pools reach the server (see `on_both_routes!`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    Direct,
    PgBouncer,
}

/// The password every login of a route is given. The test cluster trusts its TCP clients,
/// so only PgBouncer (SCRAM against its auth file) checks it.
pub const ROUTE_PASSWORD: &str = "route-secret";

/// A started route: nothing, or a PgBouncer of the test's own.
#[derive(Debug)]
pub struct Route {
    pub bouncer: Option<TestPgBouncer>,
}

impl Route {
    /// Starts the route for these logins (each with [`ROUTE_PASSWORD`]).
    pub fn start(kind: RouteKind, users: &[&str]) -> Route {
        let bouncer = match kind {
            RouteKind::Direct => None,
            RouteKind::PgBouncer => {
                let users: Vec<(&str, &str)> = users.iter().map(|u| (*u, ROUTE_PASSWORD)).collect();
                Some(
                    TestPgBouncer::start(pgfleet_testkit::TestCluster::shared(), &users)
                        .unwrap_or_else(|e| panic!("starting PgBouncer: {e}")),
                )
            }
        };
        Route { bouncer }
    }

    /// The URL of `database` as `user` on this route.
    pub fn url(&self, db: &TestDatabase, user: &str) -> String {
        match &self.bouncer {
            Some(bouncer) => bouncer.url(user, ROUTE_PASSWORD, &db.name),
            None => format!(
                "postgresql://{user}:{ROUTE_PASSWORD}@127.0.0.1:{}/{}?sslmode=disable",
                db.port(),
                db.name
            ),
        }
    }

    /// The pool settings of this route (`pooler` set behind PgBouncer, as `PGFLEET_POOLER`
    /// would).
    pub fn configure(&self, config: &mut PoolConfig) {
        if self.bouncer.is_some() {
            config.pooler = Some(pgfleet_client::PoolerMode::Transaction);
        }
    }

    /// A pool on `db` as the superuser on this route.
    pub fn pool(
        &self,
        db: &TestDatabase,
        service: &str,
        configure: impl FnOnce(&mut PoolConfig),
    ) -> (FleetPool, Arc<Registry>) {
        self.pool_as(db, "postgres", service, configure)
    }

    /// A pool on `db` as `user` on this route.
    pub fn pool_as(
        &self,
        db: &TestDatabase,
        user: &str,
        service: &str,
        configure: impl FnOnce(&mut PoolConfig),
    ) -> (FleetPool, Arc<Registry>) {
        pool_on_url(service, &self.url(db, user), |c| {
            self.configure(c);
            configure(c);
        })
    }
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
