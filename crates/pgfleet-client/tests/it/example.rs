//! The example service (examples/perses/dashboard-service) in-process, on a test database with
//! the perses migrations applied: its requests move the query histogram and acquire counters.

use crate::health::get;
use crate::{metric_in, pool_on};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

const MIGRATION: &str = include_str!(
    "../../../../examples/perses/services/dashboard/migrations/001_initial_schema.up.sql"
);

async fn post(router: &Router, path: &str, user: &str, body: Value) -> (StatusCode, Value) {
    let response = router
        .clone()
        .oneshot(
            Request::post(path)
                .header("content-type", "application/json")
                .header("x-forwarded-user", user)
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_example_service_serves_and_its_metrics_move() {
    let db = pgfleet_testkit::fresh_database().await;
    db.client().await.batch_execute(MIGRATION).await.unwrap();
    let (pool, registry) = pool_on(&db, "dashboard", |_| {});
    let app = perses_dashboard_service::app(pool.clone(), registry.clone());

    let (_, before, _) = get(&app, "/metrics").await;
    let acquired_before = metric_in(
        &before,
        "database_connections_acquired_total",
        &[("service", "dashboard")],
    )
    .unwrap();

    let (status, created) = post(
        &app,
        "/api/v1/projects/fraud-detection-prod/dashboards",
        "ada.lovelace",
        json!({ "slug": "burn-rate", "name": "Error budget burn rate", "tags": ["slo"] }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    // The same slug again: 409, and the failed transaction left nothing behind.
    let (status, _) = post(
        &app,
        "/api/v1/projects/fraud-detection-prod/dashboards",
        "ada.lovelace",
        json!({ "slug": "burn-rate", "name": "Duplicate" }),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (status, body, _) = get(&app, "/api/v1/projects/fraud-detection-prod/dashboards").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{body}");
    assert_eq!(list[0]["name"], "Error budget burn rate");
    assert_eq!(list[0]["updated_by"], "ada.lovelace");

    let (status, body, _) = get(&app, "/api/v1/dashboards/search?q=burn%20rate").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let hits: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(hits[0]["id"], id.as_str(), "{body}");
    let (_, body, _) = get(&app, "/api/v1/dashboards/search?q=no%20such%20thing").await;
    assert_eq!(body, "[]");

    let token: String = db
        .client()
        .await
        .query_one(
            "INSERT INTO share_token (dashboard_id, allowed_cidrs, created_by)
             VALUES ($1::text::uuid, '{10.20.0.0/16}', 'ada.lovelace') RETURNING token::text",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    let (status, body, _) = get(&app, &format!("/api/v1/share/{token}?client_ip=10.20.4.17")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let shared: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(shared["slug"], "burn-rate");
    assert_eq!(shared["document"]["kind"], "Dashboard");
    // Outside the allow-list, or a token that does not exist: 404.
    let (status, _, _) = get(
        &app,
        &format!("/api/v1/share/{token}?client_ip=192.168.1.1"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = get(
        &app,
        "/api/v1/share/00000000-0000-4000-8000-000000000000?client_ip=10.20.4.17",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, after, _) = get(&app, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let query = |name: &str| {
        metric_in(
            &after,
            "database_query_duration_seconds_count",
            &[("service", "dashboard"), ("name", name)],
        )
        .unwrap_or(0.0)
    };
    assert_eq!(query("list_dashboards_by_project"), 1.0, "{after}");
    assert_eq!(query("search_dashboards_by_name"), 2.0);
    assert_eq!(query("validate_share_token"), 3.0);
    assert_eq!(query("create_dashboard"), 2.0);
    assert_eq!(query("audit_dashboard_created"), 1.0);
    let acquired = metric_in(
        &after,
        "database_connections_acquired_total",
        &[("service", "dashboard")],
    )
    .unwrap();
    // 2 creates, 1 list, 2 searches, 3 share lookups (the probe-free /metrics takes none).
    assert_eq!(acquired - acquired_before, 8.0, "{after}");
    let released = metric_in(
        &after,
        "database_connections_released_total",
        &[("service", "dashboard")],
    )
    .unwrap();
    assert_eq!(released, acquired);
    let tx = |result: &str| {
        metric_in(&after, "database_transactions_total", &[("result", result)]).unwrap()
    };
    assert_eq!((tx("commit"), tx("rollback")), (1.0, 1.0));
    assert_eq!(
        metric_in(
            &after,
            "database_errors_total",
            &[("kind", "unique_violation")]
        ),
        Some(1.0)
    );
    // Health endpoints are mounted too.
    assert_eq!(get(&app, "/ready").await.0, StatusCode::OK);
    assert_eq!(get(&app, "/live").await.0, StatusCode::OK);
}
