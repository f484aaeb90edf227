//! Opening sessions: every session pgfleet opens goes through [`open`], under one deadline.

use crate::error::{PgError, pg_error_text};
use pgfleet_core::Connection;
use std::time::Duration;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{Client, Config, Socket};

/// A session on `connection`, named after its purpose in `pg_stat_activity`. The error names
/// the (redacted) URL and the server's message.
pub async fn connect(
    connection: &Connection,
    purpose: &str,
    timeout: Duration,
) -> Result<Client, PgError> {
    let config = connection.pg_config(
        &format!(
            "pgfleet {purpose} {} (pid {})",
            connection.service,
            std::process::id()
        ),
        timeout,
    );
    let tls = pgfleet_core::tls::connector(connection).map_err(|e| PgError::Tls {
        url: connection.url.clone(),
        reason: e.to_string(),
    })?;
    open(&config, tls, timeout).await.map_err(|source| {
        let hint = match source {
            OpenError::TimedOut(_) => format!(
                "\n  hint: check that {}:{} is a PostgreSQL server; --connect-timeout (or PGFLEET_CONNECT_TIMEOUT) sets how long to wait",
                connection.host, connection.port
            ),
            OpenError::Postgres(_) => String::new(),
        };
        PgError::Connect {
            url: connection.url.clone(),
            source,
            hint,
        }
    })
}

/// Why [`open`] failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{}", pg_error_text(.0))]
    Postgres(tokio_postgres::Error),
    #[error("no session within {}", humantime::format_duration(*.0))]
    TimedOut(Duration),
}

/// Opens a session with `config` within `timeout`, TCP connect, TLS and authentication
/// included: `Config::connect_timeout` bounds only the TCP connect, so a peer that accepts
/// and never answers the startup would otherwise hang the command forever.
pub async fn open<T>(config: &Config, tls: T, timeout: Duration) -> Result<Client, OpenError>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    let (client, conn) = tokio::time::timeout(timeout, config.connect(tls))
        .await
        .map_err(|_| OpenError::TimedOut(timeout))?
        .map_err(OpenError::Postgres)?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "session closed");
        }
    });
    Ok(client)
}
