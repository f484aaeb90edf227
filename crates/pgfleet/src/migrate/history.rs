//! The migration history and the audit log, kept in a `pgfleet` schema of each service's
//! database. Services that share a database share the tables and are kept apart by the
//! `service` column.

use super::source::Migration;
use serde::Serialize;
use tokio_postgres::Client;

/// Created on first use, under a transaction-scoped advisory lock so that services sharing a
/// database can bootstrap at the same time. (A transaction lock is safe here: this
/// transaction runs nothing but this DDL.)
const BOOTSTRAP: &str = r#"
CREATE SCHEMA IF NOT EXISTS pgfleet;
CREATE TABLE IF NOT EXISTS pgfleet.migrations (
    service         text        NOT NULL,
    version         bigint      NOT NULL,
    name            text        NOT NULL,
    checksum        text        NOT NULL,
    -- The down file's checksum when the step was applied: '' when it had none, NULL when not
    -- recorded (rows written before pgfleet recorded it).
    down_checksum   text,
    state           text        NOT NULL CHECK (state IN ('applied', 'dirty')),
    -- For a dirty non-transactional migration: how many of its statements completed.
    statements_done integer     NOT NULL DEFAULT 0,
    baseline        boolean     NOT NULL DEFAULT false,
    applied_at      timestamptz NOT NULL DEFAULT now(),
    applied_by      text        NOT NULL,
    db_role         text        NOT NULL DEFAULT current_user,
    duration_ms     bigint,
    PRIMARY KEY (service, version)
);
CREATE TABLE IF NOT EXISTS pgfleet.audit_log (
    id             bigserial   PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    service        text        NOT NULL,
    command        text        NOT NULL,
    environment    text        NOT NULL,
    os_user        text        NOT NULL,
    db_role        text        NOT NULL DEFAULT current_user,
    version_before bigint,
    version_after  bigint,
    result         text        NOT NULL,
    duration_ms    bigint      NOT NULL,
    detail         jsonb
);
-- Tables created before the column existed are upgraded in place.
ALTER TABLE pgfleet.migrations ADD COLUMN IF NOT EXISTS down_checksum text;
"#;

/// The lock key of the bootstrap, the same for every service of a database.
const BOOTSTRAP_LOCK: i64 = 0x7067_666c_6565_7401; // "pgfleet\x01"

pub async fn ensure_tables(client: &Client) -> Result<(), tokio_postgres::Error> {
    let exists = client
        .query_one(
            "SELECT to_regclass('pgfleet.migrations') IS NOT NULL AND to_regclass('pgfleet.audit_log') IS NOT NULL
                    AND EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass('pgfleet.migrations')
                                   AND attname = 'down_checksum' AND NOT attisdropped)",
            &[],
        )
        .await?
        .get::<_, bool>(0);
    if exists {
        return Ok(());
    }
    client
        .batch_execute(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({BOOTSTRAP_LOCK}); {BOOTSTRAP} COMMIT;"
        ))
        .await
}

/// One row of the history.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub version: i64,
    pub name: String,
    pub checksum: String,
    /// `Some("")`: the step had no down file; `None`: not recorded.
    pub down_checksum: Option<String>,
    pub dirty: bool,
    pub statements_done: i32,
    pub baseline: bool,
    pub applied_at: String,
    pub applied_by: String,
    pub db_role: String,
    pub duration_ms: Option<i64>,
}

/// What `down_checksum` records for a step applied from these files.
pub fn down_checksum(migration: &Migration) -> String {
    migration
        .down
        .as_ref()
        .map(|down| down.checksum.clone())
        .unwrap_or_default()
}

/// The history of `service`, oldest first. Empty when the tables do not exist yet (reading
/// creates nothing, so `--dry-run` and `status` touch nothing; a table from before
/// `down_checksum` reads as not recorded).
pub async fn read(client: &Client, service: &str) -> Result<Vec<Applied>, tokio_postgres::Error> {
    let found = client
        .query_one(
            "SELECT to_regclass('pgfleet.migrations') IS NOT NULL,
                    EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass('pgfleet.migrations')
                               AND attname = 'down_checksum' AND NOT attisdropped)",
            &[],
        )
        .await?;
    if !found.get::<_, bool>(0) {
        return Ok(Vec::new());
    }
    let down_checksum = if found.get::<_, bool>(1) {
        "down_checksum"
    } else {
        "NULL::text"
    };
    let rows = client
        .query(
            &format!(
                "SELECT version, name, checksum, state = 'dirty', statements_done, baseline,
                        to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                        applied_by, db_role, duration_ms, {down_checksum}
                   FROM pgfleet.migrations WHERE service = $1 ORDER BY version"
            ),
            &[&service],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Applied {
            version: r.get(0),
            name: r.get(1),
            checksum: r.get(2),
            dirty: r.get(3),
            statements_done: r.get(4),
            baseline: r.get(5),
            applied_at: r.get(6),
            applied_by: r.get(7),
            db_role: r.get(8),
            duration_ms: r.get(9),
            down_checksum: r.get(10),
        })
        .collect())
}

/// What `audit` records of one run.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    pub service: &'a str,
    pub command: &'a str,
    pub environment: &'a str,
    pub os_user: &'a str,
    pub version_before: Option<i64>,
    pub version_after: Option<i64>,
    pub result: &'a str,
    pub duration_ms: i64,
    pub detail: serde_json::Value,
}

pub async fn audit(client: &Client, entry: &AuditEntry<'_>) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO pgfleet.audit_log
                (service, command, environment, os_user, version_before, version_after, result, duration_ms, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text::jsonb)",
            &[
                &entry.service,
                &entry.command,
                &entry.environment,
                &entry.os_user,
                &entry.version_before,
                &entry.version_after,
                &entry.result,
                &entry.duration_ms,
                &entry.detail.to_string(),
            ],
        )
        .await
        .map(|_| ())
}
