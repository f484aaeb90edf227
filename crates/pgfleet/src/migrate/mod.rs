//! Versioned migrations per service: plan → lock → apply → record → audit.
//!
//! This module returns values and reports progress through a callback; it never prints.

// Errors carry the file, line and the server's message, detail and hint; they are the cold
// path of a run that talks to a database, so their size does not matter.
#![allow(clippy::result_large_err)]

pub mod analyze;
pub mod history;
pub mod lock;
pub mod maintenance;
pub mod source;

use history::{Applied, AuditEntry};
use pgfleet_core::Connection;
use pgfleet_core::ident::{quote_ident, quote_literal};
use serde::Serialize;
use source::{Migration, Script, SourceError};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

/// How a run behaves; the CLI fills it from flags.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long to wait for another runner of the same service.
    pub lock_wait: Duration,
    /// `lock_timeout` for DDL unless a file says otherwise.
    pub lock_timeout: Duration,
    /// `statement_timeout` unless a file says otherwise; zero means none.
    pub statement_timeout: Duration,
    /// Attempts after a `lock_not_available` before giving up.
    pub lock_retries: u32,
    pub allow_out_of_order: bool,
    pub connect_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            lock_wait: Duration::from_secs(60),
            lock_timeout: Duration::from_secs(5),
            statement_timeout: Duration::ZERO,
            lock_retries: 5,
            allow_out_of_order: false,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Which way to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Apply pending migrations, up to and including `to`.
    Up { to: Option<i64> },
    /// Revert the last `steps` migrations, or every one above `to`.
    Down { steps: u32, to: Option<i64> },
}

/// One step of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub version: i64,
    pub name: String,
    pub direction: &'static str,
    pub file: PathBuf,
    pub no_transaction: bool,
    /// The SQL, in dry-run reports only.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sql: String,
}

/// What a service, its files and its history are.
#[derive(Debug, Clone)]
pub struct Target {
    pub fleet: String,
    pub environment: String,
    pub service: String,
    pub connection: Connection,
    pub migrations_dir: PathBuf,
    /// The role migrations run as (SET ROLE) once it exists and we may use it, so that what
    /// they create is owned by the service, never by pgfleet's login.
    pub owner_role: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{service}: {message}")]
    Connect { service: String, message: String },
    #[error("{service}: {source}")]
    Lock {
        service: String,
        source: lock::LockError,
    },
    #[error(
        "{service}: migration {version} ({}) is dirty: a non-transactional run stopped after {statements_done} of its statements. \
         Finish or undo its remaining statements by hand, then run `pgfleet migrate repair {service} --dirty applied` \
         (it is done) or `--dirty pending` (run it again)",
        file.display()
    )]
    Dirty {
        service: String,
        version: i64,
        file: PathBuf,
        statements_done: i32,
    },
    #[error(
        "{service}: {} was edited after it was applied (recorded checksum {recorded}, file {actual}); \
         nothing was run. Restore the file, or accept the edit with `pgfleet migrate repair {service}`",
        file.display()
    )]
    ChecksumMismatch {
        service: String,
        file: PathBuf,
        recorded: String,
        actual: String,
    },
    #[error(
        "{service}: {} was renamed after it was applied as version {version} `{recorded}`; nothing was run. \
         Restore its name, or accept the new one with `pgfleet migrate repair {service}`",
        file.display()
    )]
    Renamed {
        service: String,
        file: PathBuf,
        version: i64,
        recorded: String,
    },
    #[error(
        "{service}: {} was added after its step was applied; nothing was run. \
         Remove it, or accept it with `pgfleet migrate repair {service}`",
        file.display()
    )]
    DownAdded { service: String, file: PathBuf },
    #[error(
        "{service}: {} (version {version}) is older than the current version {current} but was never applied; \
         rename it to a newer version or pass --allow-out-of-order",
        file.display()
    )]
    OutOfOrder {
        service: String,
        file: PathBuf,
        version: i64,
        current: i64,
    },
    #[error("{service}: migration {version} ({name}) has no down file: it cannot be reverted")]
    Irreversible {
        service: String,
        version: i64,
        name: String,
    },
    #[error("{service}: version {version} is applied but its file is missing from {}", dir.display())]
    MissingFile {
        service: String,
        version: i64,
        dir: PathBuf,
    },
    #[error("{}", sql_error_text(service, file, *line, message, detail.as_deref(), hint.as_deref()))]
    Sql {
        service: String,
        file: PathBuf,
        line: Option<usize>,
        message: String,
        detail: Option<String>,
        hint: Option<String>,
    },
    #[error("{service}: {message}")]
    Other { service: String, message: String },
}

impl MigrateError {
    /// A refusal made before anything ran: nothing changed, nothing to audit.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            MigrateError::Source(_)
                | MigrateError::Connect { .. }
                | MigrateError::Lock { .. }
                | MigrateError::Dirty { .. }
                | MigrateError::ChecksumMismatch { .. }
                | MigrateError::Renamed { .. }
                | MigrateError::DownAdded { .. }
                | MigrateError::OutOfOrder { .. }
                | MigrateError::Irreversible { .. }
                | MigrateError::MissingFile { .. }
        )
    }
}

fn sql_error_text(
    service: &str,
    file: &std::path::Path,
    line: Option<usize>,
    message: &str,
    detail: Option<&str>,
    hint: Option<&str>,
) -> String {
    let mut text = match line {
        Some(line) => format!("{service}: {}:{line}: {message}", file.display()),
        None => format!("{service}: {}: {message}", file.display()),
    };
    if let Some(detail) = detail {
        text.push_str(&format!("\n  detail: {detail}"));
    }
    if let Some(hint) = hint {
        text.push_str(&format!("\n  hint: {hint}"));
    }
    text
}

/// Progress of a run, for progress bars.
#[derive(Debug, Clone)]
pub enum Event {
    /// The plan is known: `total` steps.
    Planned { total: usize },
    /// Step `index` (0-based) of the plan starts.
    Step {
        index: usize,
        version: i64,
        name: String,
    },
    /// Waiting for another runner's lock.
    WaitingForLock,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub service: String,
    pub before: Option<i64>,
    pub after: Option<i64>,
    /// The steps that were taken (committed), in order; of a dry run, the plan.
    pub steps: Vec<Step>,
    /// The step a failed run stopped at (not taken, or dirty if it had no transaction).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<Step>,
    pub duration_ms: u64,
    pub dry_run: bool,
}

/// A run that failed part-way: what it did before the error.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct RunFailure {
    pub report: RunReport,
    pub error: MigrateError,
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

impl Target {
    fn other(&self, message: impl Into<String>) -> MigrateError {
        MigrateError::Other {
            service: self.service.clone(),
            message: message.into(),
        }
    }

    fn pg(&self, context: &str, e: &tokio_postgres::Error) -> MigrateError {
        self.other(format!("{context}: {}", crate::error::pg_error_text(e)))
    }

    /// A session for this service: its schema first on the search path, with deadlines.
    pub async fn connect(&self, purpose: &str, options: &Options) -> Result<Client, MigrateError> {
        let client = crate::db::connect(&self.connection, purpose, options.connect_timeout)
            .await
            .map_err(|message| MigrateError::Connect {
                service: self.service.clone(),
                message,
            })?;
        // History rows are written as SQL text with quoted literals: make quoting certain.
        let mut setup = String::from("SET standard_conforming_strings = on;");
        if let Some(schema) = &self.connection.schema {
            setup.push_str(&format!(
                " SET search_path TO {}, public;",
                quote_ident(schema)
            ));
        }
        client
            .batch_execute(&setup)
            .await
            .map_err(|e| self.pg("setting up the session", &e))?;
        Ok(client)
    }

    fn load(&self) -> Result<Vec<Migration>, MigrateError> {
        Ok(source::load(&self.migrations_dir)?)
    }

    fn key(&self) -> i64 {
        lock::lock_key(&self.fleet, &self.service, &self.connection.database)
    }

    async fn lock(
        &self,
        options: &Options,
        progress: &(dyn Fn(Event) + Sync),
    ) -> Result<lock::MigrationLock, MigrateError> {
        let session = self.connect("lock", options).await?;
        progress(Event::WaitingForLock);
        lock::acquire(session, self.key(), options.lock_wait)
            .await
            .map_err(|source| MigrateError::Lock {
                service: self.service.clone(),
                source,
            })
    }
}

/// Checks that must pass before anything runs: no dirty step, no edited applied file.
fn check_history(
    target: &Target,
    migrations: &[Migration],
    history: &[Applied],
) -> Result<(), MigrateError> {
    for applied in history {
        let file = migrations.iter().find(|m| m.version == applied.version);
        if applied.dirty {
            return Err(MigrateError::Dirty {
                service: target.service.clone(),
                version: applied.version,
                file: file.map_or_else(
                    || {
                        target
                            .migrations_dir
                            .join(format!("{}_{}.up.sql", applied.version, applied.name))
                    },
                    |m| m.up.path.clone(),
                ),
                statements_done: applied.statements_done,
            });
        }
        let Some(file) = file else { continue };
        if file.name != applied.name {
            return Err(MigrateError::Renamed {
                service: target.service.clone(),
                file: file.up.path.clone(),
                version: applied.version,
                recorded: applied.name.clone(),
            });
        }
        if !file.up.matches(&applied.checksum) {
            return Err(MigrateError::ChecksumMismatch {
                service: target.service.clone(),
                file: file.up.path.clone(),
                recorded: applied.checksum.clone(),
                actual: file.up.checksum.clone(),
            });
        }
        match down_change(file, applied) {
            Some(DownChange::Added(down)) => {
                return Err(MigrateError::DownAdded {
                    service: target.service.clone(),
                    file: down.path.clone(),
                });
            }
            Some(DownChange::Edited(down, recorded)) => {
                return Err(MigrateError::ChecksumMismatch {
                    service: target.service.clone(),
                    file: down.path.clone(),
                    recorded: recorded.to_owned(),
                    actual: down.checksum.clone(),
                });
            }
            None => {}
        }
    }
    Ok(())
}

/// How an applied step's down file differs from what its history row recorded.
#[derive(Debug)]
pub enum DownChange<'a> {
    /// There was none when the step was applied.
    Added(&'a Script),
    /// Edited: the file and the recorded checksum.
    Edited(&'a Script, &'a str),
}

/// The down file is what `down` would run: a change since the step was applied is an edit
/// like one of the up file. A row without a recorded down checksum (written before pgfleet
/// recorded them) is not checked; a down file removed since only makes the step irreversible.
pub fn down_change<'a>(file: &'a Migration, applied: &'a Applied) -> Option<DownChange<'a>> {
    let recorded = applied.down_checksum.as_deref()?;
    let down = file.down.as_ref()?;
    if recorded.is_empty() {
        Some(DownChange::Added(down))
    } else if !down.matches(recorded) {
        Some(DownChange::Edited(down, recorded))
    } else {
        None
    }
}

/// The steps to take, in order.
pub fn plan(
    target: &Target,
    migrations: &[Migration],
    history: &[Applied],
    direction: Direction,
    options: &Options,
) -> Result<Vec<Step>, MigrateError> {
    check_history(target, migrations, history)?;
    let current = history.iter().map(|a| a.version).max();
    let applied = |version: i64| history.iter().any(|a| a.version == version);
    match direction {
        Direction::Up { to } => {
            let mut steps = Vec::new();
            for m in migrations {
                if applied(m.version) || to.is_some_and(|to| m.version > to) {
                    continue;
                }
                if let Some(current) = current
                    && m.version < current
                    && !options.allow_out_of_order
                {
                    return Err(MigrateError::OutOfOrder {
                        service: target.service.clone(),
                        file: m.up.path.clone(),
                        version: m.version,
                        current,
                    });
                }
                analyze::check_script(&m.up).map_err(|(line, message)| MigrateError::Sql {
                    service: target.service.clone(),
                    file: m.up.path.clone(),
                    line,
                    message,
                    detail: None,
                    hint: None,
                })?;
                steps.push(step(m.version, &m.name, "up", &m.up));
            }
            Ok(steps)
        }
        Direction::Down { steps: count, to } => {
            let mut reverting: Vec<&Applied> = history.iter().rev().collect();
            match to {
                Some(to) => reverting.retain(|a| a.version > to),
                None => reverting.truncate(count as usize),
            }
            let mut steps = Vec::new();
            for applied in reverting {
                let Some(m) = migrations.iter().find(|m| m.version == applied.version) else {
                    return Err(MigrateError::MissingFile {
                        service: target.service.clone(),
                        version: applied.version,
                        dir: target.migrations_dir.clone(),
                    });
                };
                let Some(down) = &m.down else {
                    return Err(MigrateError::Irreversible {
                        service: target.service.clone(),
                        version: m.version,
                        name: m.name.clone(),
                    });
                };
                steps.push(step(m.version, &m.name, "down", down));
            }
            Ok(steps)
        }
    }
}

/// A step without its SQL: only a dry run's report carries it (a run would hold a copy of
/// every file for nothing).
fn step(version: i64, name: &str, direction: &'static str, script: &Script) -> Step {
    Step {
        version,
        name: name.to_owned(),
        direction,
        file: script.path.clone(),
        no_transaction: script.directives.no_transaction,
        sql: String::new(),
    }
}

/// Plans without locking or writing anything (`--dry-run`).
pub async fn dry_run(
    target: &Target,
    direction: Direction,
    options: &Options,
) -> Result<RunReport, MigrateError> {
    let started = Instant::now();
    let migrations = target.load()?;
    let client = target.connect("dry-run", options).await?;
    let history = history::read(&client, &target.service)
        .await
        .map_err(|e| target.pg("reading history", &e))?;
    let before = history.iter().map(|a| a.version).max();
    let mut steps = plan(target, &migrations, &history, direction, options)?;
    for step in &mut steps {
        if let Some(m) = migrations.iter().find(|m| m.version == step.version) {
            let script = if step.direction == "up" {
                Some(&m.up)
            } else {
                m.down.as_ref()
            };
            step.sql = script.map(|s| s.sql.clone()).unwrap_or_default();
        }
    }
    Ok(RunReport {
        service: target.service.clone(),
        before,
        after: before,
        steps,
        failed: None,
        duration_ms: started.elapsed().as_millis() as u64,
        dry_run: true,
    })
}

/// Runs migrations up or down under the service's lock, each step recorded with it.
pub async fn run(
    target: &Target,
    direction: Direction,
    options: &Options,
    progress: &(dyn Fn(Event) + Sync),
) -> Result<RunReport, RunFailure> {
    let started = Instant::now();
    let failure = |error: MigrateError| RunFailure {
        report: RunReport {
            service: target.service.clone(),
            before: None,
            after: None,
            steps: Vec::new(),
            failed: None,
            duration_ms: started.elapsed().as_millis() as u64,
            dry_run: false,
        },
        error,
    };
    let migrations = target.load().map_err(failure)?;
    let lock = target.lock(options, progress).await.map_err(failure)?;
    let client = target.connect("migrate", options).await.map_err(failure)?;
    let mut done = Progress::default();
    let result = run_locked(
        target,
        &client,
        &migrations,
        direction,
        options,
        progress,
        &mut done,
    )
    .await;
    let Progress {
        before,
        steps,
        failed,
    } = done;
    let after = current_version(target, &client).await.ok().flatten();
    let outcome = if result.is_ok() { "success" } else { "failed" };
    let changed =
        before != after || !steps.is_empty() || matches!(&result, Err(e) if !e.is_refusal());
    let duration_ms = started.elapsed().as_millis() as u64;
    if changed {
        let summary = |s: &Step| serde_json::json!({"version": s.version, "name": s.name, "direction": s.direction});
        let mut detail =
            serde_json::json!({ "steps": steps.iter().map(summary).collect::<Vec<_>>() });
        if let Err(e) = &result {
            detail["failed"] = failed.as_ref().map(summary).unwrap_or_default();
            detail["error"] = e.to_string().into();
        }
        let command = match direction {
            Direction::Up { .. } => "migrate up",
            Direction::Down { .. } => "migrate down",
        };
        let audited = history::audit(
            &client,
            &AuditEntry {
                service: &target.service,
                command,
                environment: &target.environment,
                os_user: os_user(),
                version_before: before,
                version_after: after,
                result: outcome,
                duration_ms: duration_ms as i64,
                detail,
            },
        )
        .await;
        if let Err(e) = audited {
            tracing::warn!(service = %target.service, error = %e, "could not write the audit row");
        }
    }
    let _ = lock.release().await;
    let report = RunReport {
        service: target.service.clone(),
        before,
        after,
        steps,
        failed,
        duration_ms,
        dry_run: false,
    };
    match result {
        Ok(()) => Ok(report),
        Err(error) => Err(RunFailure { report, error }),
    }
}

/// How far a run got: kept as it goes, so that a failure reports the steps that committed
/// before it and the one it stopped at.
#[derive(Default)]
struct Progress {
    before: Option<i64>,
    steps: Vec<Step>,
    failed: Option<Step>,
}

async fn current_version(target: &Target, client: &Client) -> Result<Option<i64>, MigrateError> {
    let history = history::read(client, &target.service)
        .await
        .map_err(|e| target.pg("reading history", &e))?;
    Ok(history.iter().filter(|a| !a.dirty).map(|a| a.version).max())
}

async fn run_locked(
    target: &Target,
    client: &Client,
    migrations: &[Migration],
    direction: Direction,
    options: &Options,
    progress: &(dyn Fn(Event) + Sync),
    done: &mut Progress,
) -> Result<(), MigrateError> {
    history::ensure_tables(client)
        .await
        .map_err(|e| target.pg("creating the pgfleet history tables", &e))?;
    // The plan is made under the lock: what another runner applied meanwhile is seen.
    let history = history::read(client, &target.service)
        .await
        .map_err(|e| target.pg("reading history", &e))?;
    done.before = history.iter().map(|a| a.version).max();
    let steps = plan(target, migrations, &history, direction, options)?;
    progress(Event::Planned { total: steps.len() });
    let act_as = acting_role(target, client).await?;
    let act_as = act_as.as_deref();
    let by_version = |v: i64| migrations.iter().find(|m| m.version == v);
    for (index, step) in steps.into_iter().enumerate() {
        progress(Event::Step {
            index,
            version: step.version,
            name: step.name.clone(),
        });
        let Some(migration) = by_version(step.version) else {
            continue;
        };
        let script = if step.direction == "up" {
            &migration.up
        } else {
            match &migration.down {
                Some(down) => down,
                None => continue,
            }
        };
        let result = if script.directives.no_transaction {
            apply_statements(
                target,
                client,
                migration,
                script,
                step.direction,
                options,
                act_as,
            )
            .await
        } else {
            let record = |duration_ms: &str| {
                history_sql(target, migration, step.direction, duration_ms, "applied", 0)
            };
            apply_transaction(target, client, script, options, act_as, Some(&record)).await
        };
        match result {
            Ok(()) => done.steps.push(step),
            Err(e) => {
                done.failed = Some(step);
                return Err(e);
            }
        }
    }
    Ok(())
}

/// The owner role when it exists and the session may become it; otherwise migrations run as
/// the login (before `access apply` created the roles; `access apply` then hands ownership
/// over).
async fn acting_role(target: &Target, client: &Client) -> Result<Option<String>, MigrateError> {
    let Some(role) = &target.owner_role else {
        return Ok(None);
    };
    let usable: Option<bool> = client
        .query_opt(
            "SELECT pg_has_role(current_user, oid, 'MEMBER') FROM pg_roles WHERE rolname = $1",
            &[role],
        )
        .await
        .map_err(|e| target.pg("looking up the owner role", &e))?
        .map(|r| r.get(0));
    match usable {
        Some(true) => Ok(Some(role.clone())),
        Some(false) => {
            tracing::warn!(service = %target.service, role, "the login is not a member of the owner role; running as the login");
            Ok(None)
        }
        None => Ok(None),
    }
}

/// Runs seed files (`dev seed`): each in one transaction, as the owner role, with the
/// migrations' deadlines and error reporting, and no history. Returns how many ran.
pub async fn seed(
    target: &Target,
    files: &[PathBuf],
    options: &Options,
) -> Result<usize, MigrateError> {
    if files.is_empty() {
        return Ok(0);
    }
    let client = target.connect("seed", options).await?;
    let act_as = acting_role(target, &client).await?;
    for path in files {
        let script = source::read_script(path)?;
        apply_transaction(target, &client, &script, options, act_as.as_deref(), None).await?;
    }
    Ok(files.len())
}

/// `SET` commands for a script's deadlines (`SET LOCAL` inside a transaction).
fn deadlines(script: &Script, options: &Options, local: bool) -> String {
    let scope = if local { "SET LOCAL" } else { "SET" };
    let lock = script
        .directives
        .lock_timeout
        .unwrap_or(options.lock_timeout);
    let statement = script
        .directives
        .statement_timeout
        .unwrap_or(options.statement_timeout);
    format!(
        "{scope} lock_timeout = {}; {scope} statement_timeout = {};",
        lock.as_millis(),
        statement.as_millis()
    )
}

/// The window of a pipelined transaction: requests and bytes of SQL in flight at once (enough
/// to hide the round trips; a statement larger than the window goes alone).
const PIPELINE_REQUESTS: usize = 256;
const PIPELINE_BYTES: usize = 1024 * 1024;

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200u64.saturating_mul(1 << attempt.min(5))).min(Duration::from_secs(5))
}

/// The script and its history row commit together: a crash leaves nothing half-applied.
/// Statements are sent one by one (as `psql -1 -f` does), so a failure is known by statement
/// and reported at its line even when the server gives no position. A `lock_not_available`
/// rolls back and tries again after a pause, so a migration never queues for long behind an
/// application transaction (and never makes traffic queue behind it).
async fn apply_transaction(
    target: &Target,
    client: &Client,
    script: &Script,
    options: &Options,
    act_as: Option<&str>,
    record: Option<&(dyn Fn(&str) -> String + Sync)>,
) -> Result<(), MigrateError> {
    let set_role = act_as
        .map(|role| format!("SET LOCAL ROLE {};", quote_ident(role)))
        .unwrap_or_default();
    // Text the parser cannot split goes to the server whole, which reports its own position.
    let statements = source::split_statements(&script.sql)
        .unwrap_or_else(|_| std::iter::once(0..script.sql.len()).collect());
    let mut attempt = 0;
    loop {
        // Pipelined: BEGIN, the statements, then the history row and COMMIT are sent without
        // waiting for each answer (one round trip per file instead of one per statement). The
        // first error is the one reported; after it the transaction is aborted, so nothing that
        // follows takes effect, and the COMMIT batch fails at its first statement.
        let begin = format!("BEGIN; {set_role} {}", deadlines(script, options, true));
        let commit = match record {
            // History belongs to pgfleet's login, not to the service; the duration is the
            // server's, from the transaction's start.
            Some(record) => format!(
                "RESET ROLE; {}; COMMIT",
                record("(extract(epoch FROM clock_timestamp() - now()) * 1000)::bigint")
            ),
            None => "COMMIT".to_owned(),
        };
        let last = statements.len() + 1;
        let text = |i: usize| -> &str {
            match i {
                0 => &begin,
                i if i == last => &commit,
                i => &script.sql[statements[i - 1].clone()],
            }
        };
        // At most a window of requests is in flight: each holds its encoded text and an answer
        // channel, so sending a large file's every statement at once would take many times
        // its size in memory (docs/PERFORMANCE.md).
        let send = |i: usize| {
            let text = text(i);
            async move { (i, text.len(), client.batch_execute(text).await) }
        };
        let mut in_flight = futures_util::stream::FuturesOrdered::new();
        let (mut next, mut bytes_in_flight) = (0, 0);
        let mut result = Ok(());
        loop {
            while next <= last
                && result.is_ok()
                && (in_flight.is_empty()
                    || (in_flight.len() < PIPELINE_REQUESTS && bytes_in_flight < PIPELINE_BYTES))
            {
                bytes_in_flight += text(next).len();
                in_flight.push_back(send(next));
                next += 1;
            }
            // After an error the rest of the window is still awaited (each fails at once in
            // the aborted transaction), so the session is idle again before the ROLLBACK.
            let Some((i, size, answer)) = futures_util::StreamExt::next(&mut in_flight).await
            else {
                break;
            };
            bytes_in_flight -= size;
            if let Err(e) = answer
                && result.is_ok()
            {
                result = Err(if i == 0 || i == last {
                    Failure::Setup(e)
                } else {
                    Failure::Script(statements[i - 1].start, e)
                });
            }
        }
        match result {
            Ok(()) => return Ok(()),
            Err(failure) => {
                let _ = client.batch_execute("ROLLBACK").await;
                let error = failure.error();
                if error.code() == Some(&SqlState::LOCK_NOT_AVAILABLE)
                    && attempt < options.lock_retries
                {
                    tracing::info!(service = %target.service, file = %script.path.display(), attempt, "lock_timeout; retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                    continue;
                }
                return Err(match failure {
                    Failure::Script(offset, e) => {
                        sql_error(target, script, &script.sql, offset, &e)
                    }
                    Failure::Setup(e) => target.pg("recording the migration", &e),
                });
            }
        }
    }
}

enum Failure {
    /// The script itself failed (in the statement at this byte offset): report it against
    /// the file.
    Script(usize, tokio_postgres::Error),
    /// pgfleet's own statements failed.
    Setup(tokio_postgres::Error),
}

impl Failure {
    fn error(&self) -> &tokio_postgres::Error {
        match self {
            Failure::Script(_, e) | Failure::Setup(e) => e,
        }
    }
}

/// Runs a `no-transaction` script statement by statement. The step is marked dirty first and
/// clean at the end, with the count of finished statements kept as it goes, so a crash leaves
/// a record of exactly how far it got.
async fn apply_statements(
    target: &Target,
    client: &Client,
    migration: &Migration,
    script: &Script,
    direction: &str,
    options: &Options,
    act_as: Option<&str>,
) -> Result<(), MigrateError> {
    let statements =
        source::split_statements(&script.sql).map_err(|message| MigrateError::Sql {
            service: target.service.clone(),
            file: script.path.clone(),
            line: None,
            message,
            detail: None,
            hint: None,
        })?;
    let started = Instant::now();
    let pg = |context: &str, e: &tokio_postgres::Error| target.pg(context, e);
    // Dirty marker: for `up` a new row; for `down` the existing row turns dirty.
    client
        .batch_execute(&format!(
            "{}; {}",
            history_sql(target, migration, direction, "0", "dirty", 0),
            deadlines(script, options, false)
        ))
        .await
        .map_err(|e| pg("marking the migration dirty", &e))?;
    for (index, range) in statements.iter().enumerate() {
        let (offset, statement) = (&range.start, &script.sql[range.clone()]);
        if let Some(role) = act_as {
            client
                .batch_execute(&format!("SET ROLE {}", quote_ident(role)))
                .await
                .map_err(|e| pg("switching to the owner role", &e))?;
        }
        let mut attempt = 0;
        loop {
            match client.batch_execute(statement).await {
                Ok(()) => break,
                Err(e)
                    if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE)
                        && attempt < options.lock_retries
                        && !analyze::is_concurrent_index_build(statement) =>
                {
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                Err(e) => {
                    let mut error = sql_error(target, script, &script.sql, *offset, &e);
                    if let MigrateError::Sql { hint, .. } = &mut error {
                        let dirty = format!(
                            "{index} statement(s) of this no-transaction file completed and the migration is marked dirty; \
                             finish or undo the rest by hand, then run `pgfleet migrate repair {} --dirty applied` (or `--dirty pending`)",
                            target.service
                        );
                        *hint = Some(match hint.take() {
                            Some(server_hint) => format!("{server_hint}\n  {dirty}"),
                            None => dirty,
                        });
                    }
                    return Err(error);
                }
            }
        }
        client
            .batch_execute(&format!(
                "RESET ROLE; UPDATE pgfleet.migrations SET statements_done = {} WHERE service = {} AND version = {}",
                index + 1,
                quote_literal(&target.service),
                migration.version
            ))
            .await
            .map_err(|e| pg("recording progress", &e))?;
    }
    client
        .batch_execute("RESET lock_timeout; RESET statement_timeout")
        .await
        .map_err(|e| pg("resetting deadlines", &e))?;
    if direction == "up" {
        client
            .execute(
                "UPDATE pgfleet.migrations SET state = 'applied', duration_ms = $3 WHERE service = $1 AND version = $2",
                &[&target.service, &migration.version, &(started.elapsed().as_millis() as i64)],
            )
            .await
            .map_err(|e| pg("marking the migration applied", &e))?;
    } else {
        client
            .execute(
                "DELETE FROM pgfleet.migrations WHERE service = $1 AND version = $2",
                &[&target.service, &migration.version],
            )
            .await
            .map_err(|e| pg("removing the history row", &e))?;
    }
    Ok(())
}

/// The SQL that writes the history row of a step: `up` inserts it, `down` deletes it (or, as
/// the dirty marker of a non-transactional down, flags it). Plain SQL text rather than a
/// prepared statement, so that it travels with the COMMIT in one round trip; every value is
/// a number or goes through `quote_literal` (the session has standard_conforming_strings on).
/// `duration_ms` is an SQL expression (a number, or the server's clock).
fn history_sql(
    target: &Target,
    migration: &Migration,
    direction: &str,
    duration_ms: &str,
    state: &str,
    statements_done: i32,
) -> String {
    let service = quote_literal(&target.service);
    if direction == "up" {
        format!(
            "INSERT INTO pgfleet.migrations (service, version, name, checksum, down_checksum, state, statements_done, applied_by, duration_ms) \
             VALUES ({service}, {}, {}, {}, {}, {}, {statements_done}, {}, {})",
            migration.version,
            quote_literal(&migration.name),
            quote_literal(&migration.up.checksum),
            quote_literal(&history::down_checksum(migration)),
            quote_literal(state),
            quote_literal(os_user()),
            duration_ms
        )
    } else if state == "dirty" {
        format!(
            "UPDATE pgfleet.migrations SET state = 'dirty', statements_done = 0 WHERE service = {service} AND version = {}",
            migration.version
        )
    } else {
        format!(
            "DELETE FROM pgfleet.migrations WHERE service = {service} AND version = {}",
            migration.version
        )
    }
}

/// A server error against the file: the line comes from the error's position (a character
/// index into the text sent, which starts at byte `offset` of the file).
fn sql_error(
    target: &Target,
    script: &Script,
    file_text: &str,
    offset: usize,
    error: &tokio_postgres::Error,
) -> MigrateError {
    let Some(db) = error.as_db_error() else {
        return MigrateError::Sql {
            service: target.service.clone(),
            file: script.path.clone(),
            line: None,
            message: crate::error::pg_error_text(error),
            detail: None,
            hint: None,
        };
    };
    let chars_before = file_text[..offset.min(file_text.len())].chars().count();
    let line = match db.position() {
        Some(tokio_postgres::error::ErrorPosition::Original(position)) => {
            source::line_of_char(file_text, chars_before + *position as usize)
        }
        // No position: the line where the failing statement's code starts.
        _ => {
            source::line_of_char(file_text, chars_before + 1)
                + source::leading_comment_lines(&file_text[offset.min(file_text.len())..])
        }
    };
    let line = Some(line);
    MigrateError::Sql {
        service: target.service.clone(),
        file: script.path.clone(),
        line,
        message: format!("{} ({})", db.message(), db.code().code()),
        detail: db.detail().map(str::to_owned),
        hint: db.hint().map(str::to_owned),
    }
}
