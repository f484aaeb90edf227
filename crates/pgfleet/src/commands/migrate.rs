//! `pgfleet migrate …`: the CLI over `pgfleet_migrate`, for one service or a whole fleet.

use crate::cli::{DirtyAs, ReportFormat, RunArgs, Selection};
use crate::context::Context;
use crate::error::{CliError, Result};
use crate::output::{self, Report};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use pgfleet_migrate::{
    self as migrate, Direction, Event, MigrateError, Options, RunReport, Target, maintenance,
};
use pgfleet_pg::history::HistoryState;
use serde::Serialize;
use std::collections::BTreeSet;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The migration target of a service in the active environment, through the one resolver.
pub fn target(ctx: &Context, service: &str) -> Result<Target> {
    let connection = ctx.resolver().resolve_admin(service, &ctx.environment)?;
    let config = &ctx.manifest.services[service];
    Ok(Target {
        fleet: ctx.manifest.fleet.name.clone(),
        environment: ctx.environment.clone(),
        service: service.to_owned(),
        migrations_dir: config.migrations.clone(),
        layout: config.layout,
        roles: ctx
            .manifest
            .fleet
            .manage_roles
            .then(|| migrate::login::Roles {
                owner: config.access.owner_role.clone(),
                login: config.access.migration_role.clone(),
                service: config.clone(),
            }),
        connection,
    })
}

/// The selected services; every one when none are named (commands that change things
/// require a name or `--all`, checked here).
fn selected(ctx: &Context, selection: &Selection, changes: bool) -> Result<Vec<String>> {
    if changes && selection.services.is_empty() && !selection.all {
        return Err(CliError::Config(
            "name the services to migrate, or pass --all for every service".to_owned(),
        ));
    }
    ctx.services(&selection.services)
}

/// The options of a command without run flags: the defaults, with the session deadline of
/// `--connect-timeout`.
pub fn base_options(ctx: &Context) -> Options {
    Options {
        connect_timeout: ctx.connect_timeout,
        ..Options::default()
    }
}

fn options(ctx: &Context, run: &RunArgs, allow_out_of_order: bool) -> Options {
    Options {
        lock_wait: run.lock_wait,
        lock_timeout: run.lock_timeout,
        statement_timeout: run.statement_timeout,
        lock_retries: run.lock_retries,
        allow_out_of_order,
        ..base_options(ctx)
    }
}

/// Resolves on the first SIGINT or SIGTERM. From then on pgfleet handles both itself: the
/// run cancels its running statement, awaits and reports the outcome, and audits it.
pub(crate) async fn wait_for_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    Ok(())
}

/// Services migrated at once per server when `--jobs` is not given.
pub const JOBS_PER_SERVER: usize = 4;

/// One service's outcome in a fleet run.
#[derive(Debug, Serialize)]
pub struct Outcome {
    pub service: String,
    pub ok: bool,
    pub report: RunReport,
    pub error: Option<String>,
    /// A signal stopped it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
}

#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct RunSummary(pub Vec<Outcome>);

fn version(v: Option<i64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

impl Report for RunSummary {
    fn table(&self) -> String {
        let mut table = output::table(&["service", "before", "after", "steps", "result"]);
        for o in &self.0 {
            let r = &o.report;
            let (before, after, steps) = (
                version(r.before),
                version(r.after),
                r.steps.len().to_string(),
            );
            let result = match (&o.error, &r.failed) {
                (Some(_), Some(step)) => format!(
                    "failed at {} {} {} (see below)",
                    step.direction, step.version, step.name
                ),
                (Some(_), None) => "failed (see below)".to_owned(),
                (None, _) if r.dry_run => "planned".to_owned(),
                (None, _) if r.steps.is_empty() => "up to date".to_owned(),
                (None, _) => "ok".to_owned(),
            };
            table.add_row(vec![o.service.clone(), before, after, steps, result]);
        }
        table.to_string()
    }
}

/// `migrate up` and `migrate down`, for one service or many at once.
pub async fn run(
    ctx: &Context,
    selection: &Selection,
    direction: Direction,
    run: &RunArgs,
    allow_out_of_order: bool,
) -> Result<()> {
    let services = selected(ctx, selection, true)?;
    let targets = services
        .iter()
        .map(|s| target(ctx, s))
        .collect::<Result<Vec<_>>>()?;
    let mut options = options(ctx, run, allow_out_of_order);
    if !run.dry_run && ctx.manifest.is_protected(&ctx.environment) {
        confirm(ctx, &targets, direction, &options, run.yes).await?;
    }
    let (raise, interrupt) = migrate::Interrupt::channel();
    options.interrupt = interrupt;
    let signals = tokio::spawn(async move {
        if wait_for_signal().await.is_ok() {
            let _ = raise.send(true);
        }
    });
    // Default: up to JOBS_PER_SERVER services at once on each server. One migration session
    // keeps about one core of the server busy with DDL; a few at once use a server well
    // without flooding it (docs/PERFORMANCE.md).
    let jobs = run.jobs.unwrap_or_else(|| {
        let servers = services
            .iter()
            .map(|s| &ctx.manifest.services[s].server)
            .collect::<BTreeSet<_>>()
            .len();
        (servers * JOBS_PER_SERVER).min(services.len())
    });
    let outcomes = run_fleet(targets, direction, options, jobs.max(1), run.dry_run).await;
    signals.abort();
    if run.dry_run && run.report.format == ReportFormat::Table {
        for outcome in outcomes.iter().filter(|o| o.ok) {
            output::print_text(&plan_text(&outcome.report));
        }
    }
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.ok).collect();
    let errors: Vec<String> = failed.iter().filter_map(|o| o.error.clone()).collect();
    let interrupted = failed.iter().any(|o| o.interrupted);
    let summary = RunSummary(outcomes);
    output::print_report(&summary, run.report.format);
    match (errors.is_empty(), interrupted) {
        (true, _) => Ok(()),
        (false, true) => Err(CliError::Interrupted(errors.join("\n"))),
        (false, false) => Err(CliError::Failed(errors.join("\n"))),
    }
}

fn plan_text(report: &RunReport) -> String {
    let mut text = String::new();
    if report.steps.is_empty() {
        text.push_str(&format!("-- {}: nothing to do\n", report.service));
    }
    for step in &report.steps {
        text.push_str(&format!(
            "-- {}: {} {} {} ({}{})\n{}\n",
            report.service,
            step.direction,
            step.version,
            step.name,
            step.file.display(),
            if step.no_transaction {
                ", no transaction"
            } else {
                ""
            },
            step.sql.trim_end()
        ));
    }
    text
}

/// Progress as lines on stderr, for when it is not a terminal (a CI log, a file): progress
/// bars are invisible there, so each finished step, and then each service, gets a line.
#[derive(Debug)]
struct ProgressLines {
    service: String,
    verb: &'static str,
    /// The step that is running, and since when.
    running: std::sync::Mutex<Option<(i64, String, Instant)>>,
}

impl ProgressLines {
    fn new(service: &str, direction: Direction) -> ProgressLines {
        ProgressLines {
            service: service.to_owned(),
            verb: match direction {
                Direction::Up { .. } => "applied",
                Direction::Down { .. } => "reverted",
            },
            running: std::sync::Mutex::new(None),
        }
    }

    /// A step starts: the one before it has committed (the engine starts the next only then).
    fn started(&self, version: i64, name: &str) {
        let next = Some((version, name.to_owned(), Instant::now()));
        let finished = std::mem::replace(&mut *self.lock(), next);
        self.print_finished(finished);
    }

    /// The run ended: the running step committed if the run succeeded, and the service's line.
    fn ended(&self, result: &std::result::Result<RunReport, migrate::RunFailure>) {
        let running = self.lock().take();
        match result {
            Ok(report) => {
                self.print_finished(running);
                output::note(&format!(
                    "{}: {} ({} ms)",
                    self.service,
                    if report.steps.is_empty() {
                        format!("up to date at {}", version(report.after))
                    } else {
                        format!(
                            "{} step(s), {} -> {}",
                            report.steps.len(),
                            version(report.before),
                            version(report.after)
                        )
                    },
                    report.duration_ms
                ));
            }
            Err(failure) => output::note(&format!(
                "{}: failed{} after {} step(s)",
                self.service,
                failure
                    .report
                    .failed
                    .as_ref()
                    .map(|s| format!(" at {} {} {}", s.direction, s.version, s.name))
                    .unwrap_or_default(),
                failure.report.steps.len()
            )),
        }
    }

    fn print_finished(&self, step: Option<(i64, String, Instant)>) {
        if let Some((version, name, since)) = step {
            output::note(&format!(
                "{}: {} {version} {name} ({} ms)",
                self.service,
                self.verb,
                since.elapsed().as_millis()
            ));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(i64, String, Instant)>> {
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Runs every target, at most `jobs` at once, each with its own progress bar (or, when
/// stderr is not a terminal, lines). A failing service does not stop the others.
async fn run_fleet(
    targets: Vec<Target>,
    direction: Direction,
    options: Options,
    jobs: usize,
    dry_run: bool,
) -> Vec<Outcome> {
    let progress = MultiProgress::new();
    let permits = Arc::new(tokio::sync::Semaphore::new(jobs));
    let options = Arc::new(options);
    let mut tasks = tokio::task::JoinSet::new();
    let order: Vec<String> = targets.iter().map(|t| t.service.clone()).collect();
    let width = order.iter().map(String::len).max().unwrap_or(0);
    let lines = !dry_run && !std::io::stderr().is_terminal();
    for target in targets {
        let bar = progress.add(ProgressBar::new(0));
        bar.set_style(
            ProgressStyle::with_template(&format!(
                "{{prefix:<{width}}} [{{bar:30}}] {{pos}}/{{len}} {{msg}}"
            ))
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(target.service.clone());
        bar.set_message("waiting");
        let permits = permits.clone();
        let options = options.clone();
        let progress_lines = lines.then(|| ProgressLines::new(&target.service, direction));
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let events = {
                let bar = bar.clone();
                let progress_lines = &progress_lines;
                move |event: Event| match event {
                    Event::WaitingForLock => bar.set_message("locking"),
                    Event::Planned { total } => bar.set_length(total as u64),
                    Event::Step {
                        index,
                        version,
                        name,
                    } => {
                        if let Some(lines) = progress_lines {
                            lines.started(version, &name);
                        }
                        bar.set_position(index as u64);
                        bar.set_message(format!("{version} {name}"));
                    }
                }
            };
            let result = if dry_run {
                migrate::dry_run(&target, direction, &options)
                    .await
                    .map_err(|error| migrate::RunFailure {
                        report: RunReport {
                            service: target.service.clone(),
                            before: None,
                            after: None,
                            steps: Vec::new(),
                            failed: None,
                            repeatables: Vec::new(),
                            duration_ms: 0,
                            dry_run: true,
                        },
                        error,
                    })
            } else {
                migrate::run(&target, direction, &options, &events).await
            };
            if let Some(lines) = &progress_lines {
                lines.ended(&result);
            }
            match &result {
                Ok(report) => {
                    bar.set_position(report.steps.len() as u64);
                    bar.finish_with_message(if dry_run { "planned" } else { "done" });
                }
                Err(_) => bar.abandon_with_message("failed"),
            }
            (target.service.clone(), result)
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(result) => results.push(result),
            Err(e) => tracing::error!(error = %e, "a migration task panicked"),
        }
    }
    let mut outcomes: Vec<Outcome> = results
        .into_iter()
        .map(|(service, result)| match result {
            Ok(mut report) => {
                if !dry_run {
                    for step in &mut report.steps {
                        step.sql.clear();
                    }
                }
                Outcome {
                    service,
                    ok: true,
                    report,
                    error: None,
                    interrupted: false,
                }
            }
            Err(failure) => Outcome {
                service,
                ok: false,
                interrupted: matches!(failure.error, MigrateError::Interrupted { .. }),
                report: failure.report,
                error: Some(failure.error.to_string()),
            },
        })
        .collect();
    outcomes.sort_by_key(|o| order.iter().position(|s| *s == o.service));
    outcomes
}

/// A protected environment (production) shows the plan and asks; `--yes` answers for the
/// user, and with no terminal to ask on pgfleet refuses.
async fn confirm(
    ctx: &Context,
    targets: &[Target],
    direction: Direction,
    options: &Options,
    yes: bool,
) -> Result<()> {
    let mut plan = String::new();
    let mut total = 0;
    for target in targets {
        let report = migrate::dry_run(target, direction, options).await?;
        total += report.steps.len();
        for step in &report.steps {
            plan.push_str(&format!(
                "  {} {} {} {}\n",
                report.service, step.direction, step.version, step.name
            ));
        }
    }
    if total == 0 {
        return Ok(());
    }
    super::confirm::protected_change(&ctx.environment, &format!("{total} step(s)"), &plan, yes)
}

#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct StatusReport(pub Vec<ServiceStatus>);

#[derive(Debug, Serialize)]
pub struct ServiceStatus {
    pub service: String,
    pub ok: bool,
    /// False when the service's database could not be reached or its history read: then
    /// `current`, `pending` and `dirty` are unknown (null), and `problems` says why.
    pub reachable: bool,
    pub current: Option<i64>,
    pub pending: Option<usize>,
    pub dirty: Option<i64>,
    pub problems: Vec<String>,
    /// Worth knowing, not wrong (a schema with tables and no history: adopt or baseline).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The layout the folder was read in, and whether it was set or detected (and why);
    /// null when it could not be told.
    pub layout: Option<migrate::layout::Chosen>,
    /// Files and folders the layout's tool would not run; `warning` on those that look like
    /// migrations.
    pub ignored: Vec<migrate::layout::Ignored>,
    /// Flyway's repeatable files (`migrate up` refuses them for now).
    pub repeatables: Vec<Repeatable>,
    #[serde(skip)]
    layout_error: bool,
}

/// A repeatable file as status shows it.
#[derive(Debug, Serialize)]
pub struct Repeatable {
    pub name: String,
    pub path: PathBuf,
    pub checksum: String,
}

impl Report for StatusReport {
    fn table(&self) -> String {
        let mut table = output::table(&[
            "service", "layout", "current", "pending", "dirty", "problems",
        ]);
        let mut notes = Vec::new();
        for s in &self.0 {
            let unknown = || "?".to_owned();
            if let Some(chosen) = &s.layout
                && !chosen.set
            {
                notes.push(format!(
                    "{}: {} layout detected: {}",
                    s.service, chosen.layout, chosen.why
                ));
            }
            for ignored in &s.ignored {
                notes.push(format!(
                    "{}: {}ignored {}: {}",
                    s.service,
                    if ignored.warning { "warning: " } else { "" },
                    ignored.path.display(),
                    ignored.why
                ));
            }
            for repeatable in &s.repeatables {
                notes.push(format!(
                    "{}: repeatable {} (not applied: repeatable migrations are not supported yet)",
                    s.service,
                    repeatable.path.display()
                ));
            }
            table.add_row(vec![
                s.service.clone(),
                match &s.layout {
                    Some(chosen) if chosen.set => format!("{} (set)", chosen.layout),
                    Some(chosen) => format!("{} (detected)", chosen.layout),
                    None => unknown(),
                },
                if s.reachable {
                    version(s.current)
                } else {
                    unknown()
                },
                s.pending.map_or_else(unknown, |p| p.to_string()),
                if s.reachable {
                    s.dirty.map(|v| v.to_string()).unwrap_or_default()
                } else {
                    unknown()
                },
                s.problems
                    .iter()
                    .cloned()
                    .chain(s.notes.iter().map(|n| format!("note: {n}")))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ]);
        }
        let mut text = table.to_string();
        for note in notes {
            text.push('\n');
            text.push_str(&note);
        }
        text
    }
}

async fn states(ctx: &Context, selection: &Selection) -> Result<Vec<ServiceStatus>> {
    let services = selected(ctx, selection, false)?;
    let options = base_options(ctx);
    let mut tasks = tokio::task::JoinSet::new();
    for service in &services {
        let target = target(ctx, service)?;
        let options = options.clone();
        tasks.spawn(async move {
            (
                target.service.clone(),
                maintenance::inspect(&target, &options).await,
            )
        });
    }
    let mut statuses = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (service, state) = joined.map_err(|e| CliError::Failed(e.to_string()))?;
        statuses.push(match state {
            Ok(state) => ServiceStatus {
                service,
                ok: state.problems.is_empty(),
                reachable: true,
                current: state.current,
                pending: Some(state.pending.len()),
                dirty: state.dirty,
                problems: state.problems,
                notes: state.notes,
                layout: state.layout,
                ignored: state.ignored,
                repeatables: state
                    .repeatables
                    .into_iter()
                    .map(|r| Repeatable {
                        name: r.name,
                        path: r.script.path,
                        checksum: r.script.checksum,
                    })
                    .collect(),
                layout_error: state.layout_error,
            },
            Err(e) => ServiceStatus {
                service,
                ok: false,
                reachable: false,
                current: None,
                pending: None,
                dirty: None,
                notes: Vec::new(),
                problems: vec![match e {
                    MigrateError::Connect { message, .. } => format!("unreachable: {message}"),
                    other => format!("cannot read its state: {other}"),
                }],
                layout: None,
                ignored: Vec::new(),
                repeatables: Vec::new(),
                layout_error: false,
            },
        });
    }
    statuses.sort_by(|a, b| a.service.cmp(&b.service));
    Ok(statuses)
}

/// A status that could not be read for every service is a failure, `--check` or not: "nothing
/// pending" is not known.
fn unreachable(statuses: &[ServiceStatus]) -> Option<CliError> {
    let count = statuses.iter().filter(|s| !s.reachable).count();
    (count > 0).then(|| {
        CliError::Failed(format!(
            "{count} service(s) could not be reached; their state is unknown"
        ))
    })
}

pub async fn status(
    ctx: &Context,
    selection: &Selection,
    check: bool,
    format: ReportFormat,
) -> Result<()> {
    let statuses = states(ctx, selection).await?;
    let behind = statuses
        .iter()
        .filter(|s| !s.ok || s.pending.unwrap_or(0) > 0 || s.dirty.is_some())
        .count();
    let unreachable = unreachable(&statuses);
    let misread: Vec<String> = statuses
        .iter()
        .filter(|s| s.layout_error)
        .map(|s| s.service.clone())
        .collect();
    output::print_report(&StatusReport(statuses), format);
    if let Some(error) = unreachable {
        return Err(error);
    }
    // "Nothing pending" is not known of a folder its layout does not explain.
    if !misread.is_empty() {
        return Err(CliError::Failed(format!(
            "the migrations folder of {} cannot be read in its layout (see problems)",
            misread.join(", ")
        )));
    }
    if check && behind > 0 {
        return Err(CliError::Failed(format!(
            "{behind} service(s) have pending, dirty or edited migrations"
        )));
    }
    Ok(())
}

pub async fn validate(ctx: &Context, selection: &Selection, format: ReportFormat) -> Result<()> {
    let statuses = states(ctx, selection).await?;
    let bad = statuses.iter().filter(|s| !s.ok).count();
    output::print_report(&StatusReport(statuses), format);
    if bad > 0 {
        return Err(CliError::Failed(format!(
            "{bad} service(s) failed validation"
        )));
    }
    Ok(())
}

#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct CurrentReport(pub Vec<(String, Option<i64>)>);

impl Report for CurrentReport {
    fn table(&self) -> String {
        let mut table = output::table(&["service", "version"]);
        for (service, v) in &self.0 {
            table.add_row(vec![service.clone(), version(*v)]);
        }
        table.to_string()
    }
}

pub async fn current(ctx: &Context, selection: &Selection, format: ReportFormat) -> Result<()> {
    let statuses = states(ctx, selection).await?;
    let failed: Vec<String> = statuses
        .iter()
        .filter(|s| s.current.is_none() && !s.ok)
        .flat_map(|s| s.problems.clone())
        .collect();
    output::print_report(
        &CurrentReport(
            statuses
                .into_iter()
                .map(|s| (s.service, s.current))
                .collect(),
        ),
        format,
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::Failed(failed.join("\n")))
    }
}

#[derive(Debug, Serialize)]
pub struct HistoryRow {
    pub service: String,
    #[serde(flatten)]
    pub applied: pgfleet_pg::history::Applied,
}

#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct HistoryReport(pub Vec<HistoryRow>);

impl Report for HistoryReport {
    fn table(&self) -> String {
        let mut table = output::table(&[
            "service",
            "version",
            "name",
            "state",
            "applied at",
            "applied by",
            "role",
            "ms",
        ]);
        for row in &self.0 {
            let a = &row.applied;
            table.add_row(vec![
                row.service.clone(),
                a.version.to_string(),
                a.name.clone(),
                match a.state() {
                    HistoryState::Applied if a.baseline => "baseline".to_owned(),
                    state => state.as_str().to_owned(),
                },
                a.applied_at.clone(),
                a.applied_by.clone(),
                a.db_role.clone(),
                a.duration_ms.map(|d| d.to_string()).unwrap_or_default(),
            ]);
        }
        table.to_string()
    }
}

pub async fn history(ctx: &Context, selection: &Selection, format: ReportFormat) -> Result<()> {
    let services = selected(ctx, selection, false)?;
    let mut rows = Vec::new();
    for service in &services {
        let target = target(ctx, service)?;
        let state = maintenance::inspect(&target, &base_options(ctx)).await?;
        rows.extend(state.history.into_iter().map(|applied| HistoryRow {
            service: service.clone(),
            applied,
        }));
    }
    output::print_report(&HistoryReport(rows), format);
    Ok(())
}

#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct RepairReport(pub maintenance::Repaired);

impl Report for RepairReport {
    fn table(&self) -> String {
        if self.0.changes.is_empty() {
            return format!("{}: nothing to repair", self.0.service);
        }
        self.0
            .changes
            .iter()
            .map(|c| format!("{}: {c}", self.0.service))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A history change in a protected environment asks first, as a run does.
fn confirm_history_change(ctx: &Context, service: &str, what: &str, yes: bool) -> Result<()> {
    if !ctx.manifest.is_protected(&ctx.environment) {
        return Ok(());
    }
    super::confirm::protected_change(
        &ctx.environment,
        &format!("the migration history of {service}"),
        &format!("  {service}: {what}"),
        yes,
    )
}

pub async fn repair(
    ctx: &Context,
    service: &str,
    dirty: Option<DirtyAs>,
    lock_wait: Duration,
    yes: bool,
    format: ReportFormat,
) -> Result<()> {
    let target = target(ctx, service)?;
    confirm_history_change(
        ctx,
        service,
        "accept edited files' checksums and names, settle a dirty step",
        yes,
    )?;
    let settle = dirty.map(|d| match d {
        DirtyAs::Applied => maintenance::Settle::Applied,
        DirtyAs::Pending => maintenance::Settle::Pending,
    });
    let options = Options {
        lock_wait,
        ..base_options(ctx)
    };
    let repaired = maintenance::repair(&target, settle, &options).await?;
    output::print_report(&RepairReport(repaired), format);
    Ok(())
}

/// What `migrate baseline` recorded.
#[derive(Debug, Serialize)]
pub struct BaselineReport {
    pub service: String,
    pub version: i64,
    /// The versions of the files marked applied without running, oldest first.
    pub marked_applied: Vec<i64>,
}

impl Report for BaselineReport {
    fn table(&self) -> String {
        format!(
            "{}: baselined at version {} ({} file(s) marked applied without running)",
            self.service,
            self.version,
            self.marked_applied.len()
        )
    }
}

pub async fn baseline(
    ctx: &Context,
    service: &str,
    version: i64,
    lock_wait: Duration,
    yes: bool,
    format: ReportFormat,
) -> Result<()> {
    let target = target(ctx, service)?;
    confirm_history_change(
        ctx,
        service,
        &format!("mark every file up to {version} applied without running it"),
        yes,
    )?;
    let options = Options {
        lock_wait,
        ..base_options(ctx)
    };
    let marked_applied = maintenance::baseline(&target, version, &options).await?;
    let report = BaselineReport {
        service: service.to_owned(),
        version,
        marked_applied,
    };
    output::print_outcome(&report, format);
    Ok(())
}

/// What `migrate import alembic` wrote, and what it adopted.
#[derive(Debug, Serialize)]
pub struct ImportReport {
    pub service: String,
    pub project: PathBuf,
    /// The files, one pair per revision, oldest first.
    pub files: Vec<ImportedRevision>,
    /// `false`: the files were there already, as this import writes them.
    pub written: bool,
    /// What was adopted from `alembic_version`; null when the database has none.
    pub adopted: Option<migrate::adopt::Adoption>,
}

#[derive(Debug, Serialize)]
pub struct ImportedRevision {
    pub version: i64,
    pub revision: String,
    pub up: PathBuf,
    pub down: PathBuf,
}

impl Report for ImportReport {
    fn table(&self) -> String {
        let mut out = format!(
            "{}: {} {} revision(s) of {} as migration files",
            self.service,
            if self.written { "wrote" } else { "found" },
            self.files.len(),
            self.project.display()
        );
        for f in &self.files {
            out.push_str(&format!(
                "\n  {} {} {}",
                f.version,
                f.revision,
                f.up.display()
            ));
        }
        match &self.adopted {
            Some(a) => out.push_str(&format!(
                "\n{}: adopted {} version(s) from {}; {} file(s) pending",
                self.service,
                a.adopted.len(),
                a.table,
                a.pending.len()
            )),
            None => out.push_str(&format!(
                "\n{}: no alembic_version in the database: nothing adopted, `migrate up` runs them all",
                self.service
            )),
        }
        out
    }
}

/// Runs the project's own alembic (`alembic -c <project>/alembic.ini …`, in the project) and
/// returns what it printed; its environment is pgfleet's (the project's env.py reads it).
fn alembic(program: &Path, project: &Path, args: &[&str]) -> Result<String> {
    let output = std::process::Command::new(program)
        .arg("-c")
        .arg(project.join("alembic.ini"))
        .args(args)
        .current_dir(project)
        .output()
        .map_err(|e| CliError::Failed(format!("running {}: {e}", program.display())))?;
    if !output.status.success() {
        return Err(CliError::Failed(format!(
            "`{} {}` failed ({}):\n{}",
            program.display(),
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim_end()
        )));
    }
    String::from_utf8(output.stdout).map_err(|_| {
        CliError::Failed(format!(
            "{} printed text that is not UTF-8",
            program.display()
        ))
    })
}

pub async fn import_alembic(
    ctx: &Context,
    service: &str,
    project: &Path,
    program: &Path,
    lock_wait: Duration,
    yes: bool,
    format: ReportFormat,
) -> Result<()> {
    use migrate::alembic;
    let target = target(ctx, service)?;
    let history = alembic(program, project, &["history"])?;
    let heads = alembic(program, project, &["heads"])?;
    let chain = alembic::chain(&history, &heads)
        .map_err(|e| CliError::Failed(format!("{service}: {}: {e}", project.display())))?;
    let width = chain.len().to_string().len().max(3);
    let mut files = Vec::new();
    let mut texts = Vec::new();
    for (index, revision) in chain.iter().enumerate() {
        let before = revision.down.as_deref().unwrap_or("base");
        let up = alembic(
            program,
            project,
            &["upgrade", &format!("{before}:{}", revision.id), "--sql"],
        )?;
        let down = alembic(
            program,
            project,
            &["downgrade", &format!("{}:{before}", revision.id), "--sql"],
        )?;
        let header = |command: &str| {
            format!(
                "-- Alembic revision {} ({}), converted by `pgfleet migrate import alembic`\n-- from `alembic {command} --sql`.\n\n",
                revision.id, revision.message
            )
        };
        let clean = |sql: &str| {
            alembic::without_bookkeeping(sql)
                .map_err(|e| CliError::Failed(format!("{service}: revision {}: {e}", revision.id)))
        };
        let up = header(&format!("upgrade {before}:{}", revision.id)) + &clean(&up)?;
        let down = header(&format!("downgrade {}:{before}", revision.id)) + &clean(&down)?;
        let version = index as i64 + 1;
        let stem = format!("{version:0width$}_{}", alembic::file_name(revision));
        let dir = &target.migrations_dir;
        files.push(ImportedRevision {
            version,
            revision: revision.id.clone(),
            up: dir.join(format!("{stem}.up.sql")),
            down: dir.join(format!("{stem}.down.sql")),
        });
        texts.push((up, down));
    }
    // Written once: a second import (to adopt after Alembic ran again) finds the same files.
    let existing = migrate::layout::load(&target.migrations_dir, target.layout)
        .map(|f| f.migrations)
        .unwrap_or_default();
    let same = |path: &Path, text: &str| std::fs::read_to_string(path).is_ok_and(|t| t == text);
    let written = if existing.is_empty() {
        std::fs::create_dir_all(&target.migrations_dir).map_err(|e| {
            CliError::Failed(format!("creating {}: {e}", target.migrations_dir.display()))
        })?;
        for (file, (up, down)) in files.iter().zip(&texts) {
            for (path, text) in [(&file.up, up), (&file.down, down)] {
                std::fs::write(path, text)
                    .map_err(|e| CliError::Failed(format!("writing {}: {e}", path.display())))?;
            }
        }
        true
    } else if existing.len() == files.len()
        && files
            .iter()
            .zip(&texts)
            .all(|(f, (up, down))| same(&f.up, up) && same(&f.down, down))
    {
        false
    } else {
        return Err(CliError::Failed(format!(
            "{service}: {} already holds other migration files; import alembic writes the first ones\n  \
             hint: import into an empty folder",
            target.migrations_dir.display()
        )));
    };
    confirm_history_change(
        ctx,
        service,
        "adopt what alembic_version says is applied",
        yes,
    )?;
    let options = Options {
        lock_wait,
        ..base_options(ctx)
    };
    let adopted =
        migrate::adopt::adopt_if_there(&target, migrate::adopt::Tool::Alembic, &options).await?;
    output::print_outcome(
        &ImportReport {
            service: service.to_owned(),
            project: project.to_path_buf(),
            files,
            written,
            adopted,
        },
        format,
    );
    Ok(())
}

/// What `migrate baseline --from-live` wrote.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct LiveBaselineReport(pub maintenance::LiveBaseline);

impl Report for LiveBaselineReport {
    fn table(&self) -> String {
        let b = &self.0;
        format!(
            "{}: wrote the live schema to {} ({} bytes) and marked it applied as version {}",
            b.service,
            b.file.display(),
            b.bytes,
            b.version
        )
    }
}

pub async fn baseline_from_live(
    ctx: &Context,
    service: &str,
    version: Option<i64>,
    lock_wait: Duration,
    yes: bool,
    format: ReportFormat,
) -> Result<()> {
    let target = target(ctx, service)?;
    let version = version
        .unwrap_or_else(|| migrate::source::next_version(&[], false, std::time::SystemTime::now()));
    confirm_history_change(
        ctx,
        service,
        &format!("write the live schema as version {version} and mark it applied"),
        yes,
    )?;
    let options = Options {
        lock_wait,
        ..base_options(ctx)
    };
    let bins =
        pgfleet_cluster::PgBinaries::discover().map_err(|e| CliError::Failed(e.to_string()))?;
    let connection = target.connection.clone();
    let schema = connection.schema.as_deref().unwrap_or("public");
    let excluded: Vec<(&str, &str)> = pgfleet_core::foreign_history::TABLES
        .iter()
        .map(|t| (schema, *t))
        .collect();
    let dump = || {
        pgfleet_cluster::dump::schema_only(
            &bins,
            &connection,
            &pgfleet_cluster::dump::DumpScope {
                schema: connection.schema.as_deref(),
                exclude_schemas: &["pgfleet"],
                exclude_tables: &excluded,
            },
        )
        .map_err(|e| e.to_string())
    };
    let written = maintenance::baseline_from_live(&target, version, dump, &options).await?;
    output::print_outcome(&LiveBaselineReport(written), format);
    Ok(())
}

/// What `migrate adopt` recorded (or, with `--dry-run`, would record).
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct AdoptReport(pub migrate::adopt::Adoption);

impl Report for AdoptReport {
    fn table(&self) -> String {
        let a = &self.0;
        let mut out = format!(
            "{}: {} {} version(s) applied by {} ({}); {} file(s) pending",
            a.service,
            if a.dry_run { "would adopt" } else { "adopted" },
            a.adopted.len(),
            a.from.name(),
            a.table,
            a.pending.len()
        );
        for step in &a.adopted {
            out.push_str(&format!("\n  {} {}", step.version, step.name));
        }
        if !a.dry_run {
            out.push_str(&format!(
                "\n{} is left as it was; once nothing reads it, drop it: DROP TABLE {}",
                a.table, a.table
            ));
        }
        out
    }
}

pub async fn adopt(
    ctx: &Context,
    service: &str,
    from: crate::cli::AdoptFrom,
    dry_run: bool,
    lock_wait: Duration,
    yes: bool,
    format: ReportFormat,
) -> Result<()> {
    use crate::cli::AdoptFrom;
    use migrate::adopt::Tool;
    let target = target(ctx, service)?;
    let tool = match from {
        AdoptFrom::GolangMigrate => Tool::GolangMigrate,
        AdoptFrom::Sqlx => Tool::Sqlx,
        AdoptFrom::Diesel => Tool::Diesel,
        AdoptFrom::Dbmate => Tool::Dbmate,
        AdoptFrom::Flyway => Tool::Flyway,
        AdoptFrom::Alembic => Tool::Alembic,
    };
    let options = Options {
        lock_wait,
        ..base_options(ctx)
    };
    if !dry_run {
        confirm_history_change(
            ctx,
            service,
            &format!("record what {} applied as applied", tool.name()),
            yes,
        )?;
    }
    let adoption = migrate::adopt::adopt(&target, tool, dry_run, &options).await?;
    output::print_outcome(&AdoptReport(adoption), format);
    Ok(())
}

/// How a migrations folder numbers its files, as its latest file shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Numbering {
    /// `001_…`, `002_…`: the next number, zero-padded to the same width.
    Sequential { width: usize },
    /// `20251114222509_…` (UTC, to the second).
    Timestamp,
}

impl Numbering {
    /// None for an empty folder. Ten digits or more is a timestamp: no folder numbers that
    /// many files one by one, and every timestamp format in use (dbmate's, sqlx's, goose's,
    /// ours) has at least twelve.
    fn of(existing: &[migrate::source::Migration]) -> Option<Numbering> {
        let latest = existing.iter().max_by_key(|m| m.version)?;
        let digits = latest
            .up
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .map_or(0, |n| {
                n.trim_start_matches('V')
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .count()
            });
        Some(if digits >= 10 {
            Numbering::Timestamp
        } else {
            Numbering::Sequential {
                width: digits.max(1),
            }
        })
    }
}

/// Creates `<version>_<name>.up.sql` and `.down.sql` in the service's migrations folder,
/// numbered as the folder already is (an empty folder: a timestamp, or 001 with
/// `--sequential`).
/// The files `migrate new` created.
#[derive(Debug, Serialize)]
pub struct NewReport {
    pub service: String,
    pub version: i64,
    pub up: PathBuf,
    pub down: PathBuf,
}

impl Report for NewReport {
    // The paths alone, one a line, as before: `$EDITOR $(pgfleet migrate new …)` opens both.
    fn table(&self) -> String {
        format!("{}\n{}", self.up.display(), self.down.display())
    }
}

pub fn new(
    ctx: &Context,
    service: &str,
    name: &str,
    sequential: bool,
    format: ReportFormat,
) -> Result<()> {
    let service_config = ctx.resolver().service(service)?;
    let dir = &service_config.migrations;
    let folder = migrate::layout::load(dir, service_config.layout).map_err(MigrateError::from)?;
    let layout = folder
        .layout
        .as_ref()
        .map_or(migrate::layout::Layout::Pgfleet, |c| c.layout);
    // pgfleet, golang-migrate and sqlx all read `<version>_<name>.up.sql` / `.down.sql`; the
    // other layouts name a migration otherwise, and their own tools write it.
    let tool = match layout {
        migrate::layout::Layout::Diesel => Some("diesel migration generate NAME"),
        migrate::layout::Layout::Dbmate => Some("dbmate new NAME"),
        migrate::layout::Layout::Flyway => Some("a V<version>__<description>.sql file"),
        _ => None,
    };
    if let Some(tool) = tool {
        return Err(CliError::Config(format!(
            "{} is in the {layout} layout, and `migrate new` writes only <version>_<name>.up.sql \
             and .down.sql pairs\n  hint: create it as the {layout} layout names it ({tool})",
            dir.display()
        )));
    }
    // golang-migrate's `V001_…` keeps its prefix.
    let prefix = folder
        .migrations
        .iter()
        .max_by_key(|m| m.version)
        .filter(|m| {
            layout == migrate::layout::Layout::GolangMigrate
                && migrate::layout::file_name(&m.up.path).starts_with('V')
        })
        .map_or("", |_| "V");
    let existing = folder.migrations;
    let slug: String = name
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect::<String>()
        .split('_')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    if slug.is_empty() {
        return Err(CliError::Config(format!(
            "`{name}` has no letters or digits to name a file with"
        )));
    }
    let numbering = match (Numbering::of(&existing), sequential) {
        (Some(Numbering::Timestamp), true) => {
            return Err(CliError::Config(format!(
                "{} numbers its migrations by timestamp, and a sequential number would sort \
                 before them\n  hint: leave out --sequential",
                dir.display()
            )));
        }
        (Some(numbering), _) => numbering,
        (None, true) => Numbering::Sequential { width: 3 },
        (None, false) => Numbering::Timestamp,
    };
    let version = migrate::source::next_version(
        &existing,
        matches!(numbering, Numbering::Sequential { .. }),
        std::time::SystemTime::now(),
    );
    let stem = match numbering {
        Numbering::Sequential { width } => format!("{prefix}{version:0width$}_{slug}"),
        Numbering::Timestamp => format!("{prefix}{version}_{slug}"),
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::Failed(format!("cannot create {}: {e}", dir.display())))?;
    let create = |suffix: &str, body: &str| -> Result<PathBuf> {
        let path = dir.join(format!("{stem}.{suffix}.sql"));
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, body.as_bytes()))
            .map_err(|e| CliError::Failed(format!("cannot create {}: {e}", path.display())))?;
        Ok(path)
    };
    let up = create(
        "up",
        match layout {
            migrate::layout::Layout::Sqlx => {
                "-- Optional: `-- no-transaction` as the first line runs it outside a transaction.\n\n"
            }
            migrate::layout::Layout::GolangMigrate => "",
            _ => {
                "-- Directives (optional): -- pgfleet:no-transaction, -- pgfleet:lock-timeout 2s, -- pgfleet:statement-timeout 5min\n\n"
            }
        },
    )?;
    let down = create(
        "down",
        "-- Reverts the up file. Delete this file to make the step irreversible.\n\n",
    )?;
    let report = NewReport {
        service: service.to_owned(),
        version,
        up,
        down,
    };
    output::print_report(&report, format);
    Ok(())
}
