//! Opening sessions on a resolved connection.

use crate::error::pg_error_text;
use pgfleet_core::Connection;
use std::time::Duration;
use tokio_postgres::Client;

/// A session on `connection`, named after its purpose in `pg_stat_activity`. The error names
/// the (redacted) URL and the server's message.
pub async fn connect(
    connection: &Connection,
    purpose: &str,
    timeout: Duration,
) -> Result<Client, String> {
    let config = connection.pg_config(
        &format!(
            "pgfleet {purpose} {} (pid {})",
            connection.service,
            std::process::id()
        ),
        timeout,
    );
    let tls = pgfleet_core::tls::connector(connection)
        .map_err(|e| format!("cannot connect to {}: {e}", connection.url))?;
    let (client, conn) = config.connect(tls).await.map_err(|e| {
        format!(
            "cannot connect to {}: {}",
            connection.url,
            pg_error_text(&e)
        )
    })?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "session closed");
        }
    });
    Ok(client)
}
