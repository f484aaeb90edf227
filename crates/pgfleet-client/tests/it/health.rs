//! Health endpoints, seed 003's status rule, outages of a private cluster.

use crate::{eventually, metric, pool_on, pool_on_url};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use pgfleet_client::FleetPool;
use pgfleet_testkit::TestCluster;
use serde_json::Value;
use std::time::Duration;
use tower::ServiceExt;

pub async fn get(router: &Router, path: &str) -> (StatusCode, String, String) {
    let response = router
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        String::from_utf8(body.to_vec()).unwrap(),
        content_type,
    )
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test]
async fn the_endpoints_answer_in_the_seeds_shapes() {
    let db = pgfleet_testkit::fresh_database().await;
    let (pool, registry) = pool_on(&db, "content_service", |_| {});
    let router: Router = Router::new().merge(pool.health_router(registry.clone()));

    let (status, body, _) = get(&router, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    let summary = json(&body);
    assert_eq!(summary["service"], "content_service");
    assert_eq!(summary["status"], "healthy");
    assert_eq!(summary["connectivity"], true);
    assert!(summary["response_time_seconds"].as_f64().unwrap() > 0.0);
    for key in [
        "pool_utilization_percent",
        "active_connections",
        "timestamp",
    ] {
        assert!(summary[key].is_number(), "{key}: {body}");
    }

    let (status, body, _) = get(&router, "/health/detailed").await;
    assert_eq!(status, StatusCode::OK);
    let detailed = json(&body);
    assert_eq!(detailed["overall_status"], "healthy");
    let checks = &detailed["checks"];
    assert_eq!(checks["connectivity"]["connectivity"], true);
    assert_eq!(checks["connection_pool"]["pool_size"], 4);
    assert!(
        checks["query_performance"]["simple_query_time_seconds"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(
        checks["query_performance"]["complex_query_time_seconds"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(
        checks["database_resources"]["active_connections"]
            .as_u64()
            .unwrap()
            >= 1
    );
    assert!(
        checks["database_resources"]["database_size"]
            .as_str()
            .unwrap()
            .ends_with("B")
    );

    for path in ["/ready", "/live"] {
        let (status, body, content_type) = get(&router, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(content_type, "application/health+json");
        assert_eq!(json(&body)["status"], "pass", "{path}: {body}");
    }

    let (status, body, content_type) = get(&router, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("application/openmetrics-text"));
    assert!(
        body.contains(r#"database_connections_active{service="content_service",pool="primary"}"#),
        "{body}"
    );
    assert!(body.contains("database_connections_acquired_total{service=\"content_service\"}"));
}

#[tokio::test]
async fn degraded_status_from_utilisation() {
    let db = pgfleet_testkit::fresh_database().await;
    let (pool, registry) = pool_on(&db, "degraded", |c| c.max_size = 10);
    let router: Router = pool.health_router(registry);
    let mut held = Vec::new();
    for _ in 0..9 {
        held.push(pool.get().await.unwrap());
    }
    // 9 of 10 in use (90% > 80%): degraded, still serving (200).
    let (status, body, _) = get(&router, "/healthz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let summary = json(&body);
    assert_eq!(summary["status"], "degraded", "{body}");
    assert!(summary["pool_utilization_percent"].as_f64().unwrap() > 80.0);
    let (status, body, _) = get(&router, "/ready").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["status"], "warn");
    held.clear();
    tokio::time::sleep(pool.config().ready_cache).await;
    let (_, body, _) = get(&router, "/healthz").await;
    assert_eq!(json(&body)["status"], "healthy");
}

#[tokio::test]
async fn ready_is_cached_so_a_probe_storm_costs_one_query() {
    let db = pgfleet_testkit::fresh_database().await;
    let (pool, registry) = pool_on(&db, "storm", |c| c.ready_cache = Duration::from_secs(30));
    let router: Router = pool.health_router(registry.clone());
    let before = metric(&registry, "database_connections_acquired_total", &[]);
    let probes: Vec<_> = (0..50)
        .map(|_| {
            let router = router.clone();
            tokio::spawn(async move { get(&router, "/ready").await.0 })
        })
        .collect();
    for probe in probes {
        assert_eq!(probe.await.unwrap(), StatusCode::OK);
    }
    let after = metric(&registry, "database_connections_acquired_total", &[]);
    assert_eq!(after - before, 1.0, "one check for 50 probes");
    // /live never touches the database.
    for _ in 0..10 {
        assert_eq!(get(&router, "/live").await.0, StatusCode::OK);
    }
    assert_eq!(
        metric(&registry, "database_connections_acquired_total", &[]),
        after
    );
}

fn private_pool(
    cluster: &TestCluster,
    service: &str,
) -> (
    FleetPool,
    std::sync::Arc<pgfleet_client::prometheus_client::registry::Registry>,
) {
    let url = format!(
        "postgresql://{}@{}:{}/postgres?sslmode=disable",
        cluster.superuser(),
        cluster.host(),
        cluster.port()
    );
    pool_on_url(service, &url, |c| {
        c.connect_timeout = Duration::from_secs(2);
        c.health_timeout = Duration::from_secs(1);
        c.ready_cache = Duration::from_millis(100);
    })
}

/// Stop the database under a running service: /ready 503, /live 200; start it again: the same
/// pool recovers by itself.
#[tokio::test]
async fn an_outage_fails_ready_not_live_and_the_pool_recovers() {
    let cluster = TestCluster::start_new().unwrap();
    let (pool, registry) = private_pool(&cluster, "outage");
    let router: Router = pool.health_router(registry.clone());
    assert_eq!(get(&router, "/ready").await.0, StatusCode::OK);

    cluster.cluster().stop().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, body, _) = get(&router, "/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(json(&body)["status"], "fail");
    let (status, body, _) = get(&router, "/live").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body, _) = get(&router, "/healthz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(&body)["status"], "unhealthy");
    let (status, body, _) = get(&router, "/health/detailed").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        json(&body)["checks"]["connectivity"]["error"].is_string(),
        "{body}"
    );
    assert!(pool.get().await.is_err());

    cluster.cluster().start(Duration::from_secs(60)).unwrap();
    assert!(
        eventually(Duration::from_secs(20), async || get(&router, "/ready")
            .await
            .0
            == StatusCode::OK)
        .await,
        "ready again"
    );
    let one: i32 = pool
        .track("select", "none", "one", async |c| {
            Ok(c.query_one("SELECT 1", &[]).await?.get(0))
        })
        .await
        .unwrap();
    assert_eq!(one, 1);
    assert!(metric(&registry, "database_errors_total", &[("kind", "connect")]) >= 1.0);
}

/// Seed 003's first known limitation: the pool must not fail for good when the database is down
/// at start. It is created, retries in the background with backoff, and connects once the
/// database is up, without a caller asking.
#[tokio::test]
async fn a_pool_started_while_the_database_is_down_connects_when_it_comes_up() {
    let cluster = TestCluster::start_new().unwrap();
    cluster.cluster().stop().unwrap();
    let (pool, registry) = private_pool(&cluster, "early");
    let err = pool.get().await.unwrap_err();
    assert_eq!(err.kind(), Some("connect"), "{err:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(pool.status().size, 0);
    assert_eq!(
        metric(&registry, "database_connections_created_total", &[]),
        0.0
    );

    cluster.cluster().start(Duration::from_secs(60)).unwrap();
    assert!(
        eventually(Duration::from_secs(20), async || pool.status().size >= 1).await,
        "the background retry connected"
    );
    assert!(metric(&registry, "database_connections_created_total", &[]) >= 1.0);
    let c = pool.get().await.unwrap();
    let app: String = c
        .query_one("SELECT current_setting('application_name')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(app, "early");
}
