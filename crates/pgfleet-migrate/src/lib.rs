//! Versioned migrations per service: plan → lock → apply → record → audit.
//!
//! This crate returns values and reports progress through a callback; it never prints.
//! Depends on core, pgfleet-pg (sessions, history and audit) and pgfleet-access (the grants a
//! step settles); never on clap or the CLI.

// Errors carry the file, line and the server's message, detail and hint; they are the cold
// path of a run that talks to a database, so their size does not matter.
#![allow(clippy::result_large_err)]

pub mod adopt;
pub mod alembic;
pub mod analyze;
pub mod interrupt;
pub mod layout;
pub mod lock;
pub mod login;
pub mod maintenance;
pub mod source;

pub use interrupt::Interrupt;
use login::RunLogin;
use pgfleet_core::Connection;
use pgfleet_core::ident::{quote_ident, quote_literal};
use pgfleet_pg::history::{
    self, Applied, AuditEntry, AuditResult, HistoryAction, HistoryState, os_user,
};
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
    /// Set by SIGINT/SIGTERM: the running statement is cancelled, its outcome awaited and
    /// reported, and no further step starts.
    pub interrupt: Interrupt,
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
            interrupt: Interrupt::default(),
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

/// Which way one step goes: its up file or its down file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepDirection {
    Up,
    Down,
}

impl StepDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            StepDirection::Up => "up",
            StepDirection::Down => "down",
        }
    }
}

impl std::fmt::Display for StepDirection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One step of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub version: i64,
    pub name: String,
    pub direction: StepDirection,
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
    /// The folder's layout as the manifest sets it (`None`: detected).
    pub layout: Option<layout::Layout>,
    /// The service's owner role and migration login when the fleet manages roles: project SQL
    /// then runs as the migration login, as the owner (see `login`). `None`: as the login.
    pub roles: Option<login::Roles>,
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
    /// SIGINT/SIGTERM stopped the run: `outcome` says what became of the step in flight.
    #[error("{service}: interrupted; {outcome}")]
    Interrupted { service: String, outcome: String },
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
    /// The version reached; of a dry run, the version the plan would reach.
    pub after: Option<i64>,
    /// The steps that were taken (committed), in order; of a dry run, the plan.
    pub steps: Vec<Step>,
    /// The step a failed run stopped at (not taken, or dirty if it had no transaction).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<Step>,
    /// Repeatable migrations applied (again) after the versioned ones because they changed; of
    /// a dry run, the ones it would apply.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub repeatables: Vec<String>,
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

impl Target {
    fn other(&self, message: impl Into<String>) -> MigrateError {
        MigrateError::Other {
            service: self.service.clone(),
            message: message.into(),
        }
    }

    fn pg(&self, context: &str, e: &tokio_postgres::Error) -> MigrateError {
        self.other(format!("{context}: {}", pgfleet_pg::pg_error_text(e)))
    }

    fn interrupted(&self, outcome: String) -> MigrateError {
        MigrateError::Interrupted {
            service: self.service.clone(),
            outcome,
        }
    }

    /// A session for this service as pgfleet's login: its schema first on the search path.
    pub async fn connect(&self, purpose: &str, options: &Options) -> Result<Client, MigrateError> {
        self.connect_as(&self.connection, purpose, options).await
    }

    /// A session on `connection` (this service's database, possibly another login), set up
    /// as `session_setup` says.
    async fn connect_as(
        &self,
        connection: &Connection,
        purpose: &str,
        options: &Options,
    ) -> Result<Client, MigrateError> {
        let client = pgfleet_pg::connect(connection, purpose, options.connect_timeout)
            .await
            .map_err(|e| MigrateError::Connect {
                service: self.service.clone(),
                message: e.to_string(),
            })?;
        client
            .batch_execute(&self.session_setup())
            .await
            .map_err(|e| self.pg("setting up the session", &e))?;
        Ok(client)
    }

    /// What every session of this service starts with. History rows are written as SQL text
    /// with quoted literals: make quoting certain.
    fn session_setup(&self) -> String {
        let mut setup = String::from("SET standard_conforming_strings = on;");
        if let Some(schema) = &self.connection.schema {
            setup.push_str(&format!(
                " SET search_path TO {}, public;",
                quote_ident(schema)
            ));
        }
        setup
    }

    /// The folder's migrations, and its repeatable ones (Flyway's `R__` files).
    pub(crate) fn load(&self) -> Result<(Vec<Migration>, Vec<layout::Repeatable>), MigrateError> {
        let folder = layout::load(&self.migrations_dir, self.layout)?;
        for repeatable in &folder.repeatables {
            if repeatable.script.directives.no_transaction {
                return Err(SourceError::Layout {
                    dir: self.migrations_dir.clone(),
                    message: format!(
                        "{}: a repeatable migration runs in a transaction (it is applied again whenever it changes)",
                        repeatable.script.path.display()
                    ),
                }
                .into());
            }
        }
        Ok((folder.migrations, folder.repeatables))
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
                steps.push(step(m.version, &m.name, StepDirection::Up, &m.up));
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
                steps.push(step(m.version, &m.name, StepDirection::Down, down));
            }
            Ok(steps)
        }
    }
}

/// A step without its SQL: only a dry run's report carries it (a run would hold a copy of
/// every file for nothing).
fn step(version: i64, name: &str, direction: StepDirection, script: &Script) -> Step {
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
    let (migrations, repeatables) = target.load()?;
    let client = target.connect("dry-run", options).await?;
    let history = history::read(&client, &target.service)
        .await
        .map_err(|e| target.pg("reading history", &e))?;
    let recorded = history::read_repeatables(&client, &target.service)
        .await
        .map_err(|e| target.pg("reading history", &e))?;
    let due: Vec<String> = due_repeatables(direction, &repeatables, &recorded)
        .iter()
        .map(|r| r.name.clone())
        .collect();
    let before = history.iter().map(|a| a.version).max();
    let mut steps = plan(target, &migrations, &history, direction, options)?;
    for step in &mut steps {
        if let Some(m) = migrations.iter().find(|m| m.version == step.version) {
            let script = if step.direction == StepDirection::Up {
                Some(&m.up)
            } else {
                m.down.as_ref()
            };
            step.sql = script.map(|s| s.sql.clone()).unwrap_or_default();
        }
    }
    // What the plan would reach: the history with the planned steps applied or reverted.
    let mut reached: std::collections::BTreeSet<i64> = history
        .iter()
        .filter(|a| !a.dirty)
        .map(|a| a.version)
        .collect();
    for step in &steps {
        if step.direction == StepDirection::Up {
            reached.insert(step.version);
        } else {
            reached.remove(&step.version);
        }
    }
    Ok(RunReport {
        service: target.service.clone(),
        before,
        after: reached.last().copied(),
        steps,
        failed: None,
        repeatables: due,
        duration_ms: started.elapsed().as_millis() as u64,
        dry_run: true,
    })
}

/// What a run got done: the version it started from and the steps that committed.
#[derive(Debug, Clone, Default)]
struct Done {
    before: Option<i64>,
    steps: Vec<Step>,
    /// Repeatable migrations applied.
    repeatables: Vec<String>,
    /// The step that failed or was interrupted.
    failed: Option<Step>,
}

/// Runs migrations up or down under the service's lock, each step recorded with it.
pub async fn run(
    target: &Target,
    direction: Direction,
    options: &Options,
    progress: &(dyn Fn(Event) + Sync),
) -> Result<RunReport, RunFailure> {
    let started = Instant::now();
    let report = |done: Done, after: Option<i64>| RunReport {
        service: target.service.clone(),
        before: done.before,
        after,
        steps: done.steps,
        failed: done.failed,
        repeatables: done.repeatables,
        duration_ms: started.elapsed().as_millis() as u64,
        dry_run: false,
    };
    let refused = |error: MigrateError| RunFailure {
        report: report(Done::default(), None),
        error,
    };
    let (migrations, repeatables) = target.load().map_err(refused)?;
    let lock = target.lock(options, progress).await.map_err(refused)?;
    let admin = lock.client();
    let mut outcome = run_locked(
        target,
        admin,
        (&migrations, &repeatables),
        direction,
        options,
        progress,
    )
    .await;
    // A first step that finds its objects already there: the database was made by something
    // else, and says what to do about it.
    if let Err((done, MigrateError::Sql { message, hint, .. })) = &mut outcome
        && done.before.is_none()
        && done.steps.is_empty()
        && ["(42P07)", "(42710)", "(42723)", "(42P06)"]
            .iter()
            .any(|code| message.contains(code))
        && let Ok(Some(adopt)) = adopt::existing_objects_hint(admin, target).await
    {
        *hint = Some(match hint.take() {
            Some(server) => format!("{server}\n  {adopt}"),
            None => adopt,
        });
    }
    // Also after a failed or interrupted run, and on a run with nothing to do: what an earlier,
    // killed run created is granted now.
    if let Err(error) = grant_created(target, admin).await {
        outcome = match outcome {
            Ok(done) => Err((done, error)),
            failed => failed,
        };
    }
    login::finish(target, admin).await;
    let after = current_version(target, admin).await.ok().flatten();
    let result = match outcome {
        Ok(done) => Ok(report(done, after)),
        Err((done, error)) => {
            // Committed steps have their audit rows already (written with each step); this
            // row records how the run ended, with the server's reason.
            if !error.is_refusal() {
                let result = match &error {
                    MigrateError::Interrupted { .. } => AuditResult::Interrupted,
                    _ => AuditResult::Failed,
                };
                let entry = AuditEntry {
                    service: &target.service,
                    command: direction.command(),
                    environment: &target.environment,
                    os_user: os_user(),
                    version_before: done.before,
                    version_after: after,
                    result,
                    duration_ms: started.elapsed().as_millis() as i64,
                    detail: serde_json::json!({
                        "error": error.to_string(),
                        "steps": done.steps.iter().map(step_json).collect::<Vec<_>>(),
                        "failed": done.failed.as_ref().map(step_json),
                    }),
                };
                if let Err(e) = history::audit(admin, &entry).await {
                    tracing::warn!(service = %target.service, error = %e, "could not write the audit row");
                }
            }
            Err(RunFailure {
                report: report(done, after),
                error,
            })
        }
    };
    let _ = lock.release().await;
    result
}

impl Direction {
    fn command(self) -> &'static str {
        match self {
            Direction::Up { .. } => "migrate up",
            Direction::Down { .. } => "migrate down",
        }
    }
}

fn step_json(step: &Step) -> serde_json::Value {
    serde_json::json!({"version": step.version, "name": step.name, "direction": step.direction})
}

async fn current_version(target: &Target, client: &Client) -> Result<Option<i64>, MigrateError> {
    let history = history::read(client, &target.service)
        .await
        .map_err(|e| target.pg("reading history", &e))?;
    Ok(history.iter().filter(|a| !a.dirty).map(|a| a.version).max())
}

/// What migrations created in the service's schema (its objects with no grants yet) gets
/// what the manifest grants, with row security and policies, in one transaction of pgfleet's
/// own session as the owner role, at the end of every run. Until then no service role sees a
/// new object at all (tables get no default privileges), so nothing a migration creates is
/// ever visible with more rights than the manifest gives.
async fn grant_created(target: &Target, admin: &Client) -> Result<(), MigrateError> {
    let Some(roles) = &target.roles else {
        return Ok(());
    };
    let pg = |e: tokio_postgres::Error| target.pg("granting on what the migrations created", &e);
    let ready: bool = admin
        .query_one(
            "SELECT to_regprocedure('pgfleet.new_objects(text,text[],text[])') IS NOT NULL",
            &[],
        )
        .await
        .map_err(pg)?
        .get(0);
    let existing = pgfleet_access::existing_roles(admin, &roles.service)
        .await
        .map_err(pgfleet_access::AccessError::into_postgres)
        .map_err(pg)?;
    if !ready || !existing.contains(&roles.owner) {
        return Ok(());
    }
    let created = admin
        .simple_query(&pgfleet_access::new_objects_call(&roles.service))
        .await
        .map_err(pg)?;
    let statements = pgfleet_access::new_object_statements(
        &target.connection.database,
        &roles.service,
        &created,
        &existing,
    );
    if statements.is_empty() {
        return Ok(());
    }
    let granted = admin
        .batch_execute(&format!(
            "BEGIN; SET LOCAL ROLE {}; {}; COMMIT",
            quote_ident(&roles.owner),
            statements.join(";\n")
        ))
        .await;
    if granted.is_err() {
        let _ = admin.batch_execute("ROLLBACK").await;
    }
    granted.map_err(pg)
}

/// The run proper, under the lock; `admin` is the lock's session (pgfleet's login), which
/// reads the history and prepares the migration login but never runs project SQL.
async fn run_locked(
    target: &Target,
    admin: &Client,
    (migrations, repeatables): (&[Migration], &[layout::Repeatable]),
    direction: Direction,
    options: &Options,
    progress: &(dyn Fn(Event) + Sync),
) -> Result<Done, (Done, MigrateError)> {
    let mut done = Done::default();
    // The plan is made under the lock: what another runner applied meanwhile is seen.
    let history = match history::read(admin, &target.service).await {
        Ok(history) => history,
        Err(e) => return Err((done, target.pg("reading history", &e))),
    };
    let recorded = match history::read_repeatables(admin, &target.service).await {
        Ok(recorded) => recorded,
        Err(e) => return Err((done, target.pg("reading history", &e))),
    };
    let due = due_repeatables(direction, repeatables, &recorded);
    done.before = history.iter().map(|a| a.version).max();
    let steps = match plan(target, migrations, &history, direction, options) {
        Ok(steps) => steps,
        Err(e) => return Err((done, e)),
    };
    progress(Event::Planned {
        total: steps.len() + due.len(),
    });
    if steps.is_empty() && due.is_empty() {
        return Ok(done);
    }
    let session = match open_session(target, admin, "migrate", options).await {
        Ok(session) => session,
        Err(e) => return Err((done, e)),
    };
    let mut applied: std::collections::BTreeSet<i64> = history.iter().map(|a| a.version).collect();
    let by_version = |v: i64| migrations.iter().find(|m| m.version == v);
    for (index, step) in steps.iter().enumerate() {
        if options.interrupt.is_raised() {
            let outcome = format!(
                "stopped before {} ({index} of {} steps committed)",
                step.file.display(),
                steps.len()
            );
            return Err((done, target.interrupted(outcome)));
        }
        progress(Event::Step {
            index,
            version: step.version,
            name: step.name.clone(),
        });
        let Some(migration) = by_version(step.version) else {
            continue;
        };
        let script = if step.direction == StepDirection::Up {
            &migration.up
        } else {
            match &migration.down {
                Some(down) => down,
                None => continue,
            }
        };
        let version_before = applied.last().copied();
        if step.direction == StepDirection::Up {
            applied.insert(step.version);
        } else {
            applied.remove(&step.version);
        }
        let audit = StepAudit {
            command: direction.command(),
            version_before,
            version_after: applied.last().copied(),
            detail: step_json(step),
        };
        let result = if script.directives.no_transaction {
            apply_statements(
                target,
                &session,
                migration,
                script,
                step.direction,
                options,
                &audit,
            )
            .await
        } else {
            let record = |duration_ms: &str| {
                let action = match step.direction {
                    StepDirection::Up => HistoryAction::Insert,
                    StepDirection::Down => HistoryAction::Delete,
                };
                record_sql(
                    target,
                    &session,
                    migration,
                    action,
                    HistoryState::Applied,
                    0,
                    duration_ms,
                    Some(&audit),
                )
            };
            apply_transaction(target, &session, script, options, Some(&record)).await
        };
        match result {
            Ok(()) => done.steps.push(step.clone()),
            Err(e) => {
                done.failed = Some(step.clone());
                return Err((done, e));
            }
        }
    }
    // Repeatables after every versioned step, in name order, as Flyway runs them.
    let version = applied.last().copied();
    for (index, repeatable) in due.iter().enumerate() {
        if options.interrupt.is_raised() {
            let outcome = format!("stopped before {}", repeatable.script.path.display());
            return Err((done, target.interrupted(outcome)));
        }
        progress(Event::Step {
            index: steps.len() + index,
            version: version.unwrap_or_default(),
            name: repeatable.name.clone(),
        });
        let record = |duration_ms: &str| {
            repeatable_sql(
                target,
                &session,
                repeatable,
                direction,
                version,
                duration_ms,
            )
        };
        if let Err(e) =
            apply_transaction(target, &session, &repeatable.script, options, Some(&record)).await
        {
            return Err((done, e));
        }
        done.repeatables.push(repeatable.name.clone());
    }
    Ok(done)
}

/// The repeatable migrations a run applies: going up to the latest version, those never
/// applied or changed since, in name order. `--to` and `down` leave them.
fn due_repeatables<'a>(
    direction: Direction,
    repeatables: &'a [layout::Repeatable],
    recorded: &std::collections::BTreeMap<String, String>,
) -> Vec<&'a layout::Repeatable> {
    if !matches!(direction, Direction::Up { to: None }) {
        return Vec::new();
    }
    let mut due: Vec<&layout::Repeatable> = repeatables
        .iter()
        .filter(|r| recorded.get(&r.name) != Some(&r.script.checksum))
        .collect();
    due.sort_by(|a, b| a.name.cmp(&b.name));
    due
}

/// [`record_sql`] for a repeatable migration: its checksum, with its audit row.
fn repeatable_sql(
    target: &Target,
    session: &Session,
    repeatable: &layout::Repeatable,
    direction: Direction,
    version: Option<i64>,
    duration_ms: &str,
) -> String {
    let step = serde_json::json!({
        "name": repeatable.name,
        "checksum": repeatable.script.checksum,
        "applied_by": os_user(),
        "db_role": session.db_role(),
        "audit": {
            "command": direction.command(),
            "environment": target.environment,
            "os_user": os_user(),
            "version_before": version,
            "version_after": version,
            "result": AuditResult::Success,
            "detail": { "repeatable": repeatable.name },
        },
    });
    format!(
        "SELECT pgfleet.record_step({}, {}, jsonb_set({}::jsonb, '{{audit,duration_ms}}', to_jsonb({duration_ms})))",
        quote_literal(&target.service),
        quote_literal(HistoryAction::Repeatable.as_str()),
        quote_literal(&step.to_string())
    )
}

/// The session project SQL runs in: the migration login's (see `login`), and the role it
/// acts as.
struct Session {
    client: Client,
    connection: Connection,
    act_as: Option<String>,
}

/// Prepares the migration login on `admin` and opens its session.
async fn open_session(
    target: &Target,
    admin: &Client,
    purpose: &str,
    options: &Options,
) -> Result<Session, MigrateError> {
    let RunLogin { connection, act_as } = login::prepare(target, admin).await?;
    let client = target.connect_as(&connection, purpose, options).await?;
    Ok(Session {
        client,
        connection,
        act_as,
    })
}

impl Session {
    /// Asks the server to cancel the statement running on this session.
    async fn cancel(&self) {
        let token = self.client.cancel_token();
        let result = match pgfleet_core::tls::connector(&self.connection) {
            Ok(tls) => token.cancel_query(tls).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not cancel the running statement");
        }
    }

    /// Awaits `work`; on an interrupt, cancels the running statement and still awaits the
    /// outcome, so that what is reported is what the server did. `true` when interrupted.
    async fn interruptible<T>(
        &self,
        options: &Options,
        work: impl std::future::Future<Output = T>,
    ) -> (T, bool) {
        let mut work = std::pin::pin!(work);
        tokio::select! {
            output = &mut work => (output, false),
            () = options.interrupt.raised() => {
                self.cancel().await;
                (work.await, true)
            }
        }
    }

    /// The role SQL runs as, as history records it.
    fn db_role(&self) -> &str {
        self.act_as.as_deref().unwrap_or(&self.connection.user)
    }
}

/// Runs seed files (`dev seed`): each in one transaction, as the owner role through the
/// migration login (under the service's lock), with the migrations' deadlines and error
/// reporting, and no history. Returns how many ran.
pub async fn seed(
    target: &Target,
    files: &[PathBuf],
    options: &Options,
) -> Result<usize, MigrateError> {
    if files.is_empty() {
        return Ok(0);
    }
    let lock = target.lock(options, &|_| {}).await?;
    let result = async {
        let session = open_session(target, lock.client(), "seed", options).await?;
        for path in files {
            let script = source::read_script(path)?;
            apply_transaction(target, &session, &script, options, None).await?;
        }
        Ok(files.len())
    }
    .await;
    login::finish(target, lock.client()).await;
    let _ = lock.release().await;
    result
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
    pgfleet_pg::backoff::exponential(Duration::from_millis(200), attempt, Duration::from_secs(5))
}

/// Each file starts from the same session state: nothing a previous file `SET` (search_path,
/// role, settings), prepared, listened to, locked or created as temporary is left. This is
/// `DISCARD ALL` but for `DISCARD PLANS`: the plans pgfleet's own functions keep for the
/// session (`pgfleet.record_step`, `pgfleet.new_objects`) stay, and with them a step's cost.
const FRESH_SESSION: &str = "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; DEALLOCATE ALL; \
     UNLISTEN *; SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES";

/// The script and its history row commit together: a crash leaves nothing half-applied.
/// Statements are sent one by one (as `psql -1 -f` does), so a failure is known by statement
/// and reported at its line even when the server gives no position. A `lock_not_available`
/// rolls back and tries again after a pause, so a migration never queues for long behind an
/// application transaction (and never makes traffic queue behind it).
async fn apply_transaction(
    target: &Target,
    session: &Session,
    script: &Script,
    options: &Options,
    record: Option<&(dyn Fn(&str) -> String + Sync)>,
) -> Result<(), MigrateError> {
    let client = &session.client;
    let set_role = session
        .act_as
        .as_deref()
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
        // The fresh-session reset travels in the transaction (each of its commands may run in
        // one), so a step costs one commit, not two.
        let begin = format!(
            "BEGIN; {FRESH_SESSION}; {} {set_role} {}",
            target.session_setup(),
            deadlines(script, options, true)
        );
        let commit = match record {
            // History belongs to pgfleet; the migration login may only add its own service's
            // rows, through pgfleet.record_step. The duration is the server's, from the
            // transaction's start.
            Some(record) => format!(
                "RESET ROLE; {}; COMMIT",
                record("(extract(epoch FROM clock_timestamp() - now()) * 1000)::bigint")
            ),
            None => "COMMIT".to_owned(),
        };
        // Requests: BEGIN with the fresh session, the role and deadlines, every statement, then
        // the history row with COMMIT.
        const SETUP: usize = 1;
        let script_end = SETUP + statements.len();
        let last = script_end;
        let text = |i: usize| -> &str {
            match i {
                0 => &begin,
                i if i < script_end => &script.sql[statements[i - SETUP].clone()],
                _ => &commit,
            }
        };
        let pipeline = async {
            // At most a window of requests is in flight: each holds its encoded text and an
            // answer channel, so sending a large file's every statement at once would take
            // many times its size in memory (docs/PERFORMANCE.md).
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
                        || (in_flight.len() < PIPELINE_REQUESTS
                            && bytes_in_flight < PIPELINE_BYTES))
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
                    result = Err(if i < SETUP {
                        Failure::Setup("starting the migration's transaction", e)
                    } else if i < script_end {
                        Failure::Script(statements[i - SETUP].start, e)
                    } else {
                        Failure::Setup("recording the migration", e)
                    });
                }
            }
            result
        };
        let (result, interrupted) = session.interruptible(options, pipeline).await;
        let rolled_back = || {
            target.interrupted(format!(
                "{} was cancelled and rolled back",
                script.path.display()
            ))
        };
        if interrupted {
            // The pipeline held the COMMIT: success means committed.
            if result.is_ok() {
                return Ok(());
            }
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(rolled_back());
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
                    Failure::Setup(context, e) => target.pg(context, &e),
                });
            }
        }
    }
}

enum Failure {
    /// The script itself failed (in the statement at this byte offset): report it against
    /// the file.
    Script(usize, tokio_postgres::Error),
    /// pgfleet's own statements failed, while doing what the text says.
    Setup(&'static str, tokio_postgres::Error),
}

impl Failure {
    fn error(&self) -> &tokio_postgres::Error {
        match self {
            Failure::Script(_, e) | Failure::Setup(_, e) => e,
        }
    }
}

/// Runs a `no-transaction` script statement by statement. The step is marked dirty first and
/// clean at the end, with the count of finished statements kept as it goes, so a crash leaves
/// a record of exactly how far it got.
async fn apply_statements(
    target: &Target,
    session: &Session,
    migration: &Migration,
    script: &Script,
    direction: StepDirection,
    options: &Options,
    audit: &StepAudit,
) -> Result<(), MigrateError> {
    let client = &session.client;
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
    let record = |action: HistoryAction,
                  state: HistoryState,
                  done: i32,
                  duration: &str,
                  audit: Option<&StepAudit>| {
        record_sql(
            target, session, migration, action, state, done, duration, audit,
        )
    };
    let dirty_hint = |done: usize| {
        format!(
            "{done} statement(s) of this no-transaction file completed and the migration is marked dirty; \
             finish or undo the rest by hand, then run `pgfleet migrate repair {} --dirty applied` (or `--dirty pending`)",
            target.service
        )
    };
    client
        .batch_execute(FRESH_SESSION)
        .await
        .map_err(|e| pg("starting a fresh session", &e))?;
    // Dirty marker: for `up` a new row; for `down` the existing row turns dirty.
    let marker = match direction {
        StepDirection::Up => HistoryAction::Insert,
        StepDirection::Down => HistoryAction::Dirty,
    };
    let marker = record(marker, HistoryState::Dirty, 0, "0", None);
    client
        .batch_execute(&format!(
            "{} {marker}; {}",
            target.session_setup(),
            deadlines(script, options, false)
        ))
        .await
        .map_err(|e| pg("marking the migration dirty", &e))?;
    for (index, range) in statements.iter().enumerate() {
        let (offset, statement) = (&range.start, &script.sql[range.clone()]);
        if options.interrupt.is_raised() {
            return Err(target.interrupted(format!(
                "{} stopped after {index} of its {} statements; it is marked dirty",
                script.path.display(),
                statements.len()
            )));
        }
        if let Some(role) = &session.act_as {
            client
                .batch_execute(&format!("SET ROLE {}", quote_ident(role)))
                .await
                .map_err(|e| pg("switching to the owner role", &e))?;
        }
        let mut attempt = 0;
        loop {
            let (answer, interrupted) = session
                .interruptible(options, client.batch_execute(statement))
                .await;
            match answer {
                Ok(()) => break,
                Err(_) if interrupted => {
                    return Err(target.interrupted(format!(
                        "{} was cancelled after {index} of its {} statements; it is marked dirty",
                        script.path.display(),
                        statements.len()
                    )));
                }
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
                        let dirty = dirty_hint(index);
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
                "RESET ROLE; {}",
                record(
                    HistoryAction::Progress,
                    HistoryState::Dirty,
                    (index + 1) as i32,
                    "0",
                    None
                )
            ))
            .await
            .map_err(|e| pg("recording progress", &e))?;
    }
    let duration = started.elapsed().as_millis().to_string();
    let last = match direction {
        StepDirection::Up => HistoryAction::Applied,
        StepDirection::Down => HistoryAction::Delete,
    };
    let last = record(last, HistoryState::Applied, 0, &duration, Some(audit));
    client
        .batch_execute(&format!(
            "RESET lock_timeout; RESET statement_timeout; {last}"
        ))
        .await
        .map_err(|e| pg("recording the migration", &e))?;
    Ok(())
}

/// What the audit row of one committed step says.
struct StepAudit {
    command: &'static str,
    version_before: Option<i64>,
    version_after: Option<i64>,
    detail: serde_json::Value,
}

/// The call that records a step in the history (and, with `audit`, its audit row) through
/// `pgfleet.record_step`. Plain SQL text rather than a prepared statement, so that it travels
/// with the COMMIT in one round trip; every value is a number or goes through `quote_literal`
/// (the session has standard_conforming_strings on). `duration_ms` is an SQL expression (a
/// number, or the server's clock).
#[allow(clippy::too_many_arguments)]
fn record_sql(
    target: &Target,
    session: &Session,
    migration: &Migration,
    action: HistoryAction,
    state: HistoryState,
    statements_done: i32,
    duration_ms: &str,
    audit: Option<&StepAudit>,
) -> String {
    let mut step = serde_json::json!({
        "version": migration.version,
        "name": migration.name,
        "checksum": migration.up.checksum,
        "down_checksum": migration.down_checksum(),
        "state": state,
        "statements_done": statements_done,
        "applied_by": os_user(),
        "db_role": session.db_role(),
    });
    if let Some(audit) = audit {
        step["audit"] = serde_json::json!({
            "command": audit.command,
            "environment": target.environment,
            "os_user": os_user(),
            "version_before": audit.version_before,
            "version_after": audit.version_after,
            "result": AuditResult::Success,
            "detail": audit.detail,
        });
    }
    let mut value = format!(
        "{}::jsonb || jsonb_build_object('duration_ms', {duration_ms})",
        quote_literal(&step.to_string())
    );
    if audit.is_some() {
        value = format!("jsonb_set({value}, '{{audit,duration_ms}}', to_jsonb({duration_ms}))");
    }
    format!(
        "SELECT pgfleet.record_step({}, {}, {value})",
        quote_literal(&target.service),
        quote_literal(action.as_str())
    )
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
            message: pgfleet_pg::pg_error_text(error),
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
