//! Runs the example service. The connection comes from the variables of
//! `pgfleet env export dashboard --show-secrets`; the listen address from `DASHBOARD_LISTEN`
//! (default 127.0.0.1:8080).

use pgfleet_client::FleetPool;
use pgfleet_client::prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let pool = FleetPool::from_env("dashboard")?;
    let mut registry = Registry::default();
    pool.register_metrics(&mut registry);
    let app = perses_dashboard_service::app(pool.clone(), Arc::new(registry));
    let addr = std::env::var("DASHBOARD_LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!(%addr, url = %pool.url(), "dashboard service listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    // Seed 003: close with drain, 10 s.
    pool.close(Duration::from_secs(10)).await;
    Ok(())
}
