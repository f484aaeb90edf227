//! One runner per service at a time: a session-level advisory lock taken with
//! `pg_try_advisory_lock`, polled on a dedicated session. Never a blocking or
//! transaction-scoped lock: those deadlock with CREATE INDEX CONCURRENTLY, which waits for
//! every transaction, including one that is waiting for the lock (flyway#1654,
//! golang-migrate#960). A polling session holds no transaction between polls.

use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};
use tokio_postgres::Client;

/// The lock key of a service: derived from fleet, service and database, so two fleets (or two
/// services sharing a database) never block each other.
pub fn lock_key(fleet: &str, service: &str, database: &str) -> i64 {
    let digest = Sha256::digest(format!("pgfleet/{fleet}/{service}/{database}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// Who holds a lock we waited for.
#[derive(Debug, Clone)]
pub struct Holder {
    pub pid: i32,
    pub application_name: String,
    pub since: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another runner holds the migration lock (pid {}, application_name '{}', connected since {}); waited {waited:?}{}",
        holder.as_ref().map_or(0, |h| h.pid),
        holder.as_ref().map_or("?", |h| h.application_name.as_str()),
        holder.as_ref().map_or("?", |h| h.since.as_str()),
        if holder.is_none() { " (the holder has since gone)" } else { "" }
    )]
    Timeout {
        waited: Duration,
        holder: Option<Holder>,
    },
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
}

/// A held lock. Dropping it without `release` still frees it when the session closes.
#[derive(Debug)]
pub struct MigrationLock {
    client: Client,
    key: i64,
}

/// Polls until the lock is ours or `wait` has passed. The lock lives as long as `client`
/// does; the session may do pgfleet's own work meanwhile (never project SQL, never DISCARD).
pub async fn acquire(client: Client, key: i64, wait: Duration) -> Result<MigrationLock, LockError> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(25);
    loop {
        let got: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
            .await?
            .get(0);
        if got {
            return Ok(MigrationLock { client, key });
        }
        if started.elapsed() >= wait {
            let holder = holder(&client, key).await?;
            return Err(LockError::Timeout {
                waited: started.elapsed(),
                holder,
            });
        }
        let remaining = wait.saturating_sub(started.elapsed());
        tokio::time::sleep(pause.min(remaining)).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// The session holding advisory lock `key` (a bigint key is stored as classid = high half,
/// objid = low half, objsubid = 1).
async fn holder(client: &Client, key: i64) -> Result<Option<Holder>, tokio_postgres::Error> {
    let high = (key >> 32) as u32;
    let low = key as u32;
    let row = client
        .query_opt(
            "SELECT a.pid, coalesce(a.application_name, ''),
                    to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"')
               FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
              WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                AND l.classid = $1::oid AND l.objid = $2::oid AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
              LIMIT 1",
            &[&high, &low],
        )
        .await?;
    Ok(row.map(|r| Holder {
        pid: r.get(0),
        application_name: r.get(1),
        since: r.get(2),
    }))
}

impl MigrationLock {
    /// The session that holds the lock: pgfleet's own login.
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub async fn release(self) -> Result<(), tokio_postgres::Error> {
        self.client
            .query_one("SELECT pg_advisory_unlock($1)", &[&self.key])
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::lock_key;

    #[test]
    fn keys_differ_by_fleet_service_and_database() {
        let base = lock_key("f", "s", "d");
        assert_eq!(base, lock_key("f", "s", "d"));
        assert_ne!(base, lock_key("g", "s", "d"));
        assert_ne!(base, lock_key("f", "t", "d"));
        assert_ne!(base, lock_key("f", "s", "e"));
    }
}
