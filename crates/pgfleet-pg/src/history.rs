//! The migration history and the audit log, kept in a `pgfleet` schema of each service's
//! database. Services that share a database share the tables and are kept apart by the
//! `service` column.

use serde::Serialize;
use tokio_postgres::Client;

/// Created on first use, under a transaction-scoped advisory lock so that services sharing a
/// database can bootstrap at the same time. (A transaction lock is safe here: this
/// transaction runs nothing but this DDL.) Every statement is idempotent, so an older
/// `pgfleet` schema is brought up to date by running it again.
///
/// The schema belongs to pgfleet's login. Migration logins get no rights on its tables: they
/// write the history and audit rows of their own service's steps, in the step's own
/// transaction, only through `pgfleet.record_step`, which checks `session_user` against
/// `pgfleet.logins` (the service each migration login belongs to).
const BOOTSTRAP: &str = r#"
CREATE SCHEMA IF NOT EXISTS pgfleet;
REVOKE ALL ON SCHEMA pgfleet FROM PUBLIC;
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
-- Repeatable migrations (Flyway's `R__` files): the checksum each was last applied with; one
-- whose file changed runs again.
CREATE TABLE IF NOT EXISTS pgfleet.repeatables (
    service    text        NOT NULL,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    applied_by text        NOT NULL,
    PRIMARY KEY (service, name)
);
CREATE TABLE IF NOT EXISTS pgfleet.logins (
    login   name NOT NULL,
    service text NOT NULL,
    PRIMARY KEY (login, service)
);
CREATE OR REPLACE FUNCTION pgfleet.record_step(p_service text, p_action text, p_step jsonb)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    v_version bigint := (p_step->>'version')::bigint;
BEGIN
    IF NOT EXISTS (SELECT FROM pgfleet.logins WHERE login = session_user AND service = p_service) THEN
        RAISE EXCEPTION 'login % may not record migrations of service %', session_user, p_service
            USING ERRCODE = '42501';
    END IF;
    IF p_action = 'insert' THEN
        -- In FROM, not `(jsonb_populate_record(…)).*`, which would run it once per column.
        INSERT INTO pgfleet.migrations
        SELECT * FROM jsonb_populate_record(NULL::pgfleet.migrations,
                    jsonb_build_object('applied_at', now(), 'statements_done', 0, 'baseline', false)
                    || (p_step - 'audit') || jsonb_build_object('service', p_service, 'version', v_version));
    ELSIF p_action = 'progress' THEN
        UPDATE pgfleet.migrations SET statements_done = (p_step->>'statements_done')::integer
         WHERE service = p_service AND version = v_version;
    ELSIF p_action = 'applied' THEN
        UPDATE pgfleet.migrations SET state = 'applied', duration_ms = (p_step->>'duration_ms')::bigint
         WHERE service = p_service AND version = v_version;
    ELSIF p_action = 'dirty' THEN
        UPDATE pgfleet.migrations SET state = 'dirty', statements_done = 0
         WHERE service = p_service AND version = v_version;
    ELSIF p_action = 'delete' THEN
        DELETE FROM pgfleet.migrations WHERE service = p_service AND version = v_version;
    ELSIF p_action = 'repeatable' THEN
        INSERT INTO pgfleet.repeatables (service, name, checksum, applied_by)
        VALUES (p_service, p_step->>'name', p_step->>'checksum', p_step->>'applied_by')
        ON CONFLICT (service, name) DO UPDATE
           SET checksum = EXCLUDED.checksum, applied_at = now(), applied_by = EXCLUDED.applied_by;
    ELSIF p_action <> 'audit' THEN
        RAISE EXCEPTION 'unknown history action %', p_action;
    END IF;
    IF p_step ? 'audit' THEN
        INSERT INTO pgfleet.audit_log
            (service, command, environment, os_user, db_role, version_before, version_after, result, duration_ms, detail)
        VALUES (p_service, p_step->'audit'->>'command', p_step->'audit'->>'environment',
                p_step->'audit'->>'os_user', coalesce(p_step->>'db_role', session_user),
                (p_step->'audit'->>'version_before')::bigint, (p_step->'audit'->>'version_after')::bigint,
                p_step->'audit'->>'result', coalesce((p_step->'audit'->>'duration_ms')::bigint, 0),
                p_step->'audit'->'detail');
    END IF;
END
$fn$;
REVOKE ALL ON FUNCTION pgfleet.record_step(text, text, jsonb) FROM PUBLIC;
-- The relations, sequences and functions of a schema that no grant has touched yet (a NULL
-- ACL: what a migration step has just created), with what granting on them needs: the root of
-- a partition, the type of a row-security key column. pgfleet's login runs it at the end of
-- every migration run.
CREATE OR REPLACE FUNCTION pgfleet.new_objects(p_schema text, p_tables text[], p_columns text[])
RETURNS TABLE (name text, kind text, args text, root text, key_type text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
    RETURN QUERY
    SELECT c.relname::text, CASE WHEN c.relkind = 'S' THEN 'S' ELSE 'r' END, NULL::text,
           CASE WHEN c.relispartition THEN (SELECT r.relname::text FROM pg_class r WHERE r.oid = pg_partition_root(c.oid)) END,
           (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attname = k.col AND NOT a.attisdropped)
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN unnest(p_tables, p_columns) AS k(tab, col) ON k.tab = c.relname
     WHERE n.nspname = p_schema AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND c.relacl IS NULL
       AND NOT EXISTS (SELECT 1 FROM pg_depend d
                        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
    UNION ALL
    SELECT p.proname::text, 'F', pg_get_function_identity_arguments(p.oid), NULL, NULL
      FROM pg_proc p
      JOIN pg_namespace n ON n.oid = p.pronamespace
     -- 16384 (FirstNormalObjectId): user functions only, through the oid index rather than a
     -- scan of the three thousand built-in ones.
     WHERE p.oid >= 16384 AND n.nspname = p_schema AND p.proacl IS NULL
       AND NOT EXISTS (SELECT 1 FROM pg_depend d
                        WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e');
END
$fn$;
REVOKE ALL ON FUNCTION pgfleet.new_objects(text, text[], text[]) FROM PUBLIC;
"#;

/// The lock key of the bootstrap and of changes to the privileges pgfleet keeps, the same for
/// every service of a database.
pub const BOOTSTRAP_LOCK: i64 = 0x7067_666c_6565_7401; // "pgfleet\x01"

/// Creates the `pgfleet` schema, or brings an older one up to date.
pub async fn ensure_tables(client: &Client) -> Result<(), tokio_postgres::Error> {
    let current = client
        .query_one(
            "SELECT to_regclass('pgfleet.migrations') IS NOT NULL AND to_regclass('pgfleet.audit_log') IS NOT NULL
                    AND to_regprocedure('pgfleet.record_step(text,text,jsonb)') IS NOT NULL
                    AND to_regprocedure('pgfleet.new_objects(text,text[],text[])') IS NOT NULL
                    AND EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass('pgfleet.migrations')
                                   AND attname = 'down_checksum' AND NOT attisdropped)",
            &[],
        )
        .await?
        .get::<_, bool>(0);
    if current {
        return Ok(());
    }
    client
        .batch_execute(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({BOOTSTRAP_LOCK}); {BOOTSTRAP} COMMIT;"
        ))
        .await
}

/// Lets `login` record the steps of `service` (and nothing else of the schema).
pub async fn allow_login(
    client: &Client,
    login: &str,
    service: &str,
) -> Result<(), tokio_postgres::Error> {
    let login_ident = pgfleet_core::ident::quote_ident(login);
    client
        .batch_execute(&format!(
            "GRANT USAGE ON SCHEMA pgfleet TO {login_ident}; \
             GRANT EXECUTE ON FUNCTION pgfleet.record_step(text, text, jsonb) TO {login_ident};"
        ))
        .await?;
    client
        .execute(
            "INSERT INTO pgfleet.logins (login, service) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&login, &service],
        )
        .await
        .map(|_| ())
}

/// The `state` column of `pgfleet.migrations`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HistoryState {
    Applied,
    /// A non-transactional step that started and has not finished.
    Dirty,
}

impl HistoryState {
    /// The column's value, as the table's CHECK spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryState::Applied => "applied",
            HistoryState::Dirty => "dirty",
        }
    }
}

/// What `pgfleet.record_step` does with a step (its `p_action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryAction {
    /// A new row.
    Insert,
    /// Counts the finished statements of a dirty step.
    Progress,
    /// The row's step is done.
    Applied,
    /// An applied row turns dirty: the `down` of a no-transaction file starts.
    Dirty,
    Delete,
    /// A repeatable migration ran with this checksum.
    Repeatable,
}

impl HistoryAction {
    /// The action's name, as `pgfleet.record_step` compares it.
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryAction::Insert => "insert",
            HistoryAction::Progress => "progress",
            HistoryAction::Applied => "applied",
            HistoryAction::Dirty => "dirty",
            HistoryAction::Delete => "delete",
            HistoryAction::Repeatable => "repeatable",
        }
    }
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

impl Applied {
    /// The row's `state` column.
    pub fn state(&self) -> HistoryState {
        if self.dirty {
            HistoryState::Dirty
        } else {
            HistoryState::Applied
        }
    }
}

/// The history of `service`, oldest first. Empty when the tables do not exist yet (reading
/// creates nothing, so `--dry-run` and `status` touch nothing; a table from before
/// `down_checksum` reads as not recorded).
pub async fn read(client: &Client, service: &str) -> Result<Vec<Applied>, tokio_postgres::Error> {
    let Some(down_checksum) = down_checksum_column(client).await? else {
        return Ok(Vec::new());
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

/// What reads of `pgfleet.migrations` select for `down_checksum`: the column, or `NULL::text`
/// (not recorded) in a table from before it; `None` when the table does not exist.
pub async fn down_checksum_column(
    client: &Client,
) -> Result<Option<&'static str>, tokio_postgres::Error> {
    let found = client
        .query_one(
            "SELECT to_regclass('pgfleet.migrations') IS NOT NULL,
                    EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass('pgfleet.migrations')
                               AND attname = 'down_checksum' AND NOT attisdropped)",
            &[],
        )
        .await?;
    Ok(found.get::<_, bool>(0).then(|| {
        if found.get::<_, bool>(1) {
            "down_checksum"
        } else {
            "NULL::text"
        }
    }))
}

/// When the latest completed step of `service` was applied (Unix time), if any. Call it only
/// when [`read`] found history (the table must exist).
pub async fn last_applied_unix(
    client: &Client,
    service: &str,
) -> Result<Option<f64>, tokio_postgres::Error> {
    Ok(client
        .query_one(
            "SELECT extract(epoch FROM max(applied_at))::float8
               FROM pgfleet.migrations WHERE service = $1 AND state <> 'dirty'",
            &[&service],
        )
        .await?
        .get(0))
}

/// Forgets the history of `service` (`dev reset` of a service in a shared database, whose
/// schema it dropped). Nothing to forget when the tables do not exist.
pub async fn forget(client: &Client, service: &str) -> Result<(), tokio_postgres::Error> {
    for table in ["pgfleet.migrations", "pgfleet.repeatables"] {
        let forgotten = client
            .execute(
                &format!(
                    "DELETE FROM {table} WHERE service = $1 AND to_regclass('{table}') IS NOT NULL"
                ),
                &[&service],
            )
            .await;
        match forgotten {
            Ok(_) => {}
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The repeatable migrations of `service` and the checksum each last ran with; empty before
/// the table exists (reading creates nothing).
pub async fn read_repeatables(
    client: &Client,
    service: &str,
) -> Result<std::collections::BTreeMap<String, String>, tokio_postgres::Error> {
    let exists: bool = client
        .query_one("SELECT to_regclass('pgfleet.repeatables') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(Default::default());
    }
    Ok(client
        .query(
            "SELECT name, checksum FROM pgfleet.repeatables WHERE service = $1",
            &[&service],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// A hand correction of one history row (`migrate repair`).
#[derive(Debug, Clone, Copy)]
pub enum Correction<'a> {
    /// A dirty step finished by hand: it is applied.
    Applied,
    /// A dirty step undone by hand: the row goes, the step is pending again.
    Pending,
    /// The file was renamed.
    Name(&'a str),
    /// The up file was edited: its checksum now.
    Checksum(&'a str),
    /// The down file was edited, added or removed: its checksum now ('' for none).
    DownChecksum(&'a str),
}

/// Applies `correction` to the row of `service` at `version`.
pub async fn correct(
    client: &Client,
    service: &str,
    version: i64,
    correction: Correction<'_>,
) -> Result<(), tokio_postgres::Error> {
    let (sql, value) = match correction {
        Correction::Applied => (
            "UPDATE pgfleet.migrations SET state = 'applied' WHERE service = $1 AND version = $2",
            None,
        ),
        Correction::Pending => (
            "DELETE FROM pgfleet.migrations WHERE service = $1 AND version = $2",
            None,
        ),
        Correction::Name(name) => (
            "UPDATE pgfleet.migrations SET name = $3 WHERE service = $1 AND version = $2",
            Some(name),
        ),
        Correction::Checksum(checksum) => (
            "UPDATE pgfleet.migrations SET checksum = $3 WHERE service = $1 AND version = $2",
            Some(checksum),
        ),
        Correction::DownChecksum(checksum) => (
            "UPDATE pgfleet.migrations SET down_checksum = $3 WHERE service = $1 AND version = $2",
            Some(checksum),
        ),
    };
    match value {
        Some(value) => client.execute(sql, &[&service, &version, &value]).await,
        None => client.execute(sql, &[&service, &version]).await,
    }
    .map(|_| ())
}

/// A step recorded as applied without being run (`baseline`, `adopt`).
#[derive(Debug, Clone)]
pub struct Recorded<'a> {
    pub version: i64,
    pub name: &'a str,
    /// The up file's checksum; '' for a marker row with no file.
    pub checksum: &'a str,
    /// The down file's checksum ('' for none); `None` for a marker row.
    pub down_checksum: Option<&'a str>,
}

/// Records `steps` of `service` as applied by `applied_by` without running them, flagged as
/// a baseline (their schema came from elsewhere). The caller holds the transaction.
pub async fn record_baseline(
    client: &Client,
    service: &str,
    steps: &[Recorded<'_>],
    applied_by: &str,
) -> Result<(), tokio_postgres::Error> {
    let insert = client
        .prepare(
            "INSERT INTO pgfleet.migrations (service, version, name, checksum, down_checksum, state, baseline, applied_by, duration_ms)
             VALUES ($1, $2, $3, $4, $5, 'applied', true, $6, 0)",
        )
        .await?;
    for step in steps {
        client
            .execute(
                &insert,
                &[
                    &service,
                    &step.version,
                    &step.name,
                    &step.checksum,
                    &step.down_checksum,
                    &applied_by,
                ],
            )
            .await?;
    }
    Ok(())
}

/// [`record_baseline`] and its audit row in one transaction: both or neither (`baseline`,
/// `adopt`).
pub async fn record_baseline_audited(
    client: &Client,
    service: &str,
    steps: &[Recorded<'_>],
    audit_entry: &AuditEntry<'_>,
) -> Result<(), tokio_postgres::Error> {
    client.batch_execute("BEGIN").await?;
    let done = async {
        record_baseline(client, service, steps, audit_entry.os_user).await?;
        audit(client, audit_entry).await?;
        client.batch_execute("COMMIT").await
    }
    .await;
    if done.is_err() {
        let _ = client.batch_execute("ROLLBACK").await;
    }
    done
}

/// The OS user and host, as recorded in history and audit rows.
pub fn os_user() -> &'static str {
    static OS_USER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    OS_USER.get_or_init(read_os_user)
}

fn read_os_user() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(user_from_passwd)
        .unwrap_or_else(|| "unknown".to_owned());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned());
    format!("{user}@{host}")
}

/// The name of our uid in /etc/passwd (no libc call needed).
fn user_from_passwd() -> Option<String> {
    use std::os::unix::fs::MetadataExt as _;
    let uid = std::fs::metadata("/proc/self").ok()?.uid().to_string();
    std::fs::read_to_string("/etc/passwd")
        .ok()?
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.get(2) == Some(&uid.as_str())).then(|| fields[0].to_owned())
        })
}

/// How the run an audit row records ended (its `result` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditResult {
    Success,
    Failed,
    Interrupted,
}

impl AuditResult {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditResult::Success => "success",
            AuditResult::Failed => "failed",
            AuditResult::Interrupted => "interrupted",
        }
    }
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
    pub result: AuditResult,
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
                &entry.result.as_str(),
                &entry.duration_ms,
                &entry.detail.to_string(),
            ],
        )
        .await
        .map(|_| ())
}
