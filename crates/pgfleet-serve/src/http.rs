//! The HTTP/1.1 server under the routes: hyper's connection loop with the two limits that
//! `axum::serve` cannot set. A client that opens connections and sends half a request would
//! otherwise hold each one, and a file descriptor, forever.

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// What one client may hold of the daemon.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A connection that has not sent a request's headers within this is closed; the clock
    /// runs from the end of the previous response, so it bounds idle keep-alive too.
    pub header_read_timeout: Duration,
    /// Connections served at once. Beyond it nothing more is accepted, so further clients
    /// wait in the listen backlog until a connection closes.
    pub max_connections: u32,
}

/// Serves `app` on `listener` until `shutdown` completes, then lets in-flight requests
/// finish (idle connections close at once) and returns.
pub async fn serve(
    mut listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections as usize));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let (stop, stopping) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A slot first, then accept: a full daemon leaves new connections to the kernel.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, _) = tokio::select! {
            // axum's accept retries transient errors (EMFILE, a reset before accept).
            accepted = axum::serve::Listener::accept(&mut listener) => accepted,
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let mut connection = std::pin::pin!(connection);
            let mut stop_asked = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(e) = result {
                            tracing::debug!(error = %e, "HTTP connection ended");
                        }
                        break;
                    }
                    _ = stopping.changed(), if !stop_asked => {
                        stop_asked = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a slot until it ends: all slots back means all ended.
    let _ = slots.acquire_many(limits.max_connections).await;
}
