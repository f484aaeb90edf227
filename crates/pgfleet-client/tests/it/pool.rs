//! The pool: settings, metrics, exhaustion, statement timeout, lifetimes, close, replicas.

use crate::{eventually, metric, metrics_text, pool_on};
use pgfleet_client::{Error, excerpt};
use std::time::{Duration, Instant};

on_both_routes! {
async fn a_tracked_query_moves_the_metrics_and_runs_as_the_service(route) {
    let route = crate::Route::start(route, &["postgres"]);
    let db = pgfleet_testkit::fresh_database().await;
    let (pool, registry) = route.pool(&db, "class_management", |_| {});
    // Let the background warm-up (min_idle 1) finish: it holds the connection it opens.
    assert!(eventually(Duration::from_secs(10), async || pool.status().idle >= 1).await);
    let labels = [
        ("service", "class_management"),
        ("operation", "select"),
        ("table", "pg_settings"),
        ("name", "application_name"),
    ];
    let app_name: String = pool
        .track("select", "pg_settings", "application_name", async |c| {
            Ok(
                c.query_one("SELECT current_setting('application_name')", &[])
                    .await?
                    .get(0),
            )
        })
        .await
        .unwrap();
    assert_eq!(app_name, "class_management");
    let text = metrics_text(&registry);
    let bucket = |le: &str| {
        crate::metric_in(
            &text,
            "database_query_duration_seconds_bucket",
            &[("name", "application_name"), ("le", le)],
        )
    };
    assert_eq!(bucket("+Inf"), Some(1.0), "{text}");
    let first = bucket("0.00025").unwrap();
    assert!(
        first == 0.0 || first == 1.0,
        "buckets are cumulative: {text}"
    );
    let sum = crate::metric_in(
        &text,
        "database_query_duration_seconds_sum",
        &[("name", "application_name")],
    )
    .unwrap();
    assert!(sum > 0.0 && sum < 10.0, "{sum}");
    let s = [("service", "class_management")];
    assert_eq!(
        metric(&registry, "database_query_duration_seconds_count", &labels),
        1.0
    );
    let acquired = metric(&registry, "database_connections_acquired_total", &s);
    let released = metric(&registry, "database_connections_released_total", &s);
    assert!(
        acquired >= 1.0 && released == acquired,
        "{acquired} {released}"
    );
    assert!(
        metric(
            &registry,
            "database_connections_acquire_duration_seconds_count",
            &s
        ) >= 1.0
    );
    // Gauges read at scrape time.
    let held = pool.get().await.unwrap();
    let primary = [("service", "class_management"), ("pool", "primary")];
    assert_eq!(
        metric(&registry, "database_connections_active", &primary),
        1.0
    );
    assert_eq!(metric(&registry, "database_connections_max", &primary), 4.0);
    drop(held);
    assert_eq!(
        metric(&registry, "database_connections_active", &primary),
        0.0
    );
    assert!(metric(&registry, "database_connections_total", &primary) >= 1.0);
    // A failed tracked query counts an error of its kind and its duration.
    let err = pool
        .track("select", "nowhere", "missing_table", async |c| {
            Ok(c.query("SELECT * FROM no_such_table", &[]).await?)
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some("undefined_object"));
    assert_eq!(
        metric(
            &registry,
            "database_errors_total",
            &[("kind", "undefined_object")]
        ),
        1.0
    );
}
}

/// `record_metrics: false` (what bench/client measures the metrics path against) leaves the
/// query path's metrics at zero and still reads the gauges.
#[tokio::test]
async fn a_pool_without_recording_counts_nothing_on_the_query_path() {
    let db = pgfleet_testkit::fresh_database().await;
    let (pool, registry) = pool_on(&db, "quiet", |c| c.record_metrics = false);
    for _ in 0..3 {
        pool.track("select", "one", "one", async |c| {
            Ok(c.query_one("SELECT 1", &[]).await?)
        })
        .await
        .unwrap();
    }
    let err = pool
        .track("select", "nowhere", "missing_table", async |c| {
            Ok(c.query("SELECT * FROM no_such_table", &[]).await?)
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some("undefined_object"));
    let s = [("service", "quiet")];
    for name in [
        "database_connections_acquired_total",
        "database_connections_released_total",
        "database_connections_acquire_duration_seconds_count",
    ] {
        assert_eq!(metric(&registry, name, &s), 0.0, "{name}");
    }
    let text = metrics_text(&registry);
    assert_eq!(
        crate::metric_in(
            &text,
            "database_errors_total",
            &[("kind", "undefined_object")]
        )
        .unwrap_or(0.0),
        0.0,
        "{text}"
    );
    assert!(
        crate::metric_in(&text, "database_query_duration_seconds_count", &s).is_none(),
        "{text}"
    );
    let held = pool.get().await.unwrap();
    let primary = [("service", "quiet"), ("pool", "primary")];
    assert_eq!(
        metric(&registry, "database_connections_active", &primary),
        1.0
    );
    drop(held);
}

#[tokio::test]
async fn an_exhausted_pool_times_out_and_counts_it() {
    let db = pgfleet_testkit::fresh_database().await;
    let (pool, registry) = pool_on(&db, "exhausted", |c| {
        c.max_size = 2;
        c.acquire_timeout = Duration::from_millis(300);
    });
    let a = pool.get().await.unwrap();
    let b = pool.get().await.unwrap();
    assert_eq!(
        metric(
            &registry,
            "database_connections_acquire_timeouts_total",
            &[]
        ),
        0.0
    );
    let start = Instant::now();
    let err = pool.get().await.unwrap_err();
    assert!(
        matches!(err, Error::AcquireTimeout { max_size: 2, .. }),
        "{err:?}"
    );
    assert!(start.elapsed() >= Duration::from_millis(250));
    assert_eq!(
        metric(
            &registry,
            "database_connections_acquire_timeouts_total",
            &[("service", "exhausted")]
        ),
        1.0
    );
    assert_eq!(
        metric(
            &registry,
            "database_errors_total",
            &[("kind", "acquire_timeout")]
        ),
        1.0
    );
    // A waiter shows in the gauge and is served once a connection comes back.
    let waiter = tokio::spawn({
        let pool = pool.clone();
        async move { pool.get().await.map(|_| ()) }
    });
    assert!(
        eventually(Duration::from_secs(2), async || {
            metric(
                &registry,
                "database_connections_waiting",
                &[("pool", "primary")],
            ) == 1.0
        })
        .await
    );
    drop(a);
    waiter.await.unwrap().unwrap();
    drop(b);
    assert_eq!(pool.status().active, 0);
}

#[tokio::test]
async fn the_statement_timeout_is_a_session_setting_and_enforced() {
    let db = pgfleet_testkit::fresh_database().await;
    let (pool, registry) = pool_on(&db, "slow", |c| {
        c.statement_timeout = Duration::from_millis(300);
    });
    let setting: String = pool
        .track("show", "settings", "statement_timeout", async |c| {
            Ok(c.query_one("SHOW statement_timeout", &[]).await?.get(0))
        })
        .await
        .unwrap();
    assert_eq!(setting, "300ms");
    let start = Instant::now();
    let err = pool
        .track("select", "none", "sleep", async |c| {
            Ok(c.execute("SELECT pg_sleep(3)", &[]).await?)
        })
        .await
        .unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(err.code().map(|c| c.code()), Some("57014"), "{err:?}");
    assert_eq!(
        metric(
            &registry,
            "database_errors_total",
            &[("service", "slow"), ("kind", "statement_timeout")]
        ),
        1.0
    );
    // The default is seed 003's 30 s.
    let (pool, _) = pool_on(&db, "default", |c| {
        c.statement_timeout = pgfleet_client::PoolConfig::default().statement_timeout;
    });
    let c = pool.get().await.unwrap();
    let setting: String = c
        .query_one("SHOW statement_timeout", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(setting, "30s");
}

#[test]
fn seed_003_defaults() {
    let c = pgfleet_client::PoolConfig::default();
    assert_eq!((c.max_size, c.min_idle), (50, 10));
    assert_eq!(c.max_lifetime, Duration::from_secs(300));
    assert_eq!(c.idle_timeout, Duration::from_secs(60));
    assert_eq!(c.connect_timeout, Duration::from_secs(10));
    assert_eq!(c.statement_timeout, Duration::from_secs(30));
    // A manifest's pool table converts.
    let settings = pgfleet_core::manifest::PoolSettings {
        max_size: 7,
        min_idle: 3,
        ..Default::default()
    };
    let c = pgfleet_client::PoolConfig::from(&settings);
    assert_eq!((c.max_size, c.min_idle), (7, 3));
}

async fn backends(db: &pgfleet_testkit::TestDatabase, app: &str) -> i64 {
    let admin = db.client().await;
    admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1",
            &[&app],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn min_idle_connections_are_opened_in_the_background() {
    let db = pgfleet_testkit::fresh_database().await;
    let (pool, registry) = pool_on(&db, "warm", |c| {
        c.max_size = 5;
        c.min_idle = 3;
    });
    // No query at all: the maintenance task opens them.
    assert!(eventually(Duration::from_secs(10), async || pool.status().size >= 3).await);
    assert_eq!(backends(&db, "warm").await, 3);
    assert_eq!(
        metric(&registry, "database_connections_created_total", &[]),
        3.0
    );
    assert_eq!(
        metric(&registry, "database_connections_acquired_total", &[]),
        0.0
    );
}

#[tokio::test]
async fn connections_are_recycled_after_their_lifetime_and_idle_timeout() {
    let db = pgfleet_testkit::fresh_database().await;
    let (pool, _) = pool_on(&db, "lifetime", |c| {
        c.max_size = 1;
        c.min_idle = 1;
        c.max_lifetime = Duration::from_millis(300);
    });
    let pid = async || -> i32 {
        let c = pool.get().await.unwrap();
        c.query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0)
    };
    let first = pid().await;
    assert_eq!(pid().await, first, "reused while young");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_ne!(pid().await, first, "replaced after max_lifetime");

    let (pool, _) = pool_on(&db, "idle", |c| {
        c.min_idle = 0;
        c.idle_timeout = Duration::from_millis(200);
    });
    let held: Vec<_> = futures_join(&pool, 3).await;
    drop(held);
    assert!(pool.status().size >= 3);
    assert!(eventually(Duration::from_secs(5), async || pool.status().size == 0).await);
    assert!(
        eventually(Duration::from_secs(5), async || backends(&db, "idle").await
            == 0)
        .await
    );
}

async fn futures_join(
    pool: &pgfleet_client::FleetPool,
    n: usize,
) -> Vec<pgfleet_client::PooledClient> {
    let mut held = Vec::new();
    for _ in 0..n {
        held.push(pool.get().await.unwrap());
    }
    held
}

#[tokio::test]
async fn close_drains_then_refuses() {
    let db = pgfleet_testkit::fresh_database().await;
    let (pool, _) = pool_on(&db, "closing", |_| {});
    let held = pool.get().await.unwrap();
    let closer = tokio::spawn({
        let pool = pool.clone();
        async move { pool.close(Duration::from_secs(5)).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !closer.is_finished(),
        "close waits for the connection in use"
    );
    assert!(
        matches!(pool.get().await, Err(Error::Closed)),
        "no new work while draining"
    );
    drop(held);
    assert!(closer.await.unwrap(), "drained");
    assert!(pool.is_closed());
    assert!(
        eventually(Duration::from_secs(5), async || backends(&db, "closing")
            .await
            == 0)
        .await
    );

    // A connection never given back: close gives up after the timeout.
    let (pool, _) = pool_on(&db, "stuck", |_| {});
    let _held = pool.get().await.unwrap();
    let start = Instant::now();
    assert!(!pool.close(Duration::from_millis(300)).await);
    assert!(start.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn the_reader_uses_the_replicas() {
    let primary = pgfleet_testkit::fresh_database().await;
    let replica = pgfleet_testkit::fresh_database().await;
    let pool = pgfleet_client::FleetPool::builder("reads")
        .url(&format!("{}?sslmode=disable", primary.url()))
        .replica_url(&format!("{}?sslmode=disable", replica.url()))
        .config(crate::test_config())
        .build()
        .unwrap();
    let mut registry = pgfleet_client::prometheus_client::registry::Registry::default();
    pool.register_metrics(&mut registry);
    let db = async |reader: bool| -> String {
        let f = async |c: &pgfleet_client::PooledClient| {
            Ok(c.query_one("SELECT current_database()", &[]).await?.get(0))
        };
        if reader {
            pool.reader().track("select", "x", "db", f).await.unwrap()
        } else {
            pool.track("select", "x", "db", f).await.unwrap()
        }
    };
    assert_eq!(db(true).await, replica.name);
    assert_eq!(db(false).await, primary.name);
    let text = metrics_text(&registry);
    assert!(
        text.contains(r#"database_connections_total{service="reads",pool="replica"}"#),
        "{text}"
    );

    // Without replicas, reads go to the primary.
    let (pool, _) = pool_on(&primary, "noreplica", |_| {});
    let name: String = pool
        .reader()
        .track("select", "x", "db", async |c| {
            Ok(c.query_one("SELECT current_database()", &[]).await?.get(0))
        })
        .await
        .unwrap();
    assert_eq!(name, primary.name);
}

#[test]
fn statements_in_logs_are_excerpts() {
    let sql = "SELECT id,\n       name\n  FROM dashboard\n WHERE project = $1";
    assert_eq!(excerpt(sql, 10), "SELECT id,…");
    assert_eq!(
        excerpt("ALTER ROLE dashboard_app PASSWORD 'x'", 200),
        pgfleet_core::statement::WITHHELD
    );
}
