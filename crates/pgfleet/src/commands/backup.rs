//! `pgfleet backup …`: the CLI over `pgfleet_backup`, for the active environment's store.

use crate::cli::{ReportFormat, Selection};
use crate::context::Context;
use crate::error::{CliError, Result};
use crate::output::{self, Report, human_age, human_bytes};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use pgfleet_backup::status::{ListRow, StatusReport};
use pgfleet_backup::{Catalog, Event, PartStatus, Store};
use serde::Serialize;
use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::sync::{Arc, Mutex};

fn open_store(ctx: &Context) -> Result<Store> {
    Ok(Store::open(&ctx.manifest, &ctx.environment, &ctx.vars)?)
}

/// `backup create`: each named service its own backup, or `--all` as one `full_…` backup
/// with the servers' roles. Exits 1 when any part failed (the report lists it).
pub async fn create(ctx: &Context, selection: &Selection, format: ReportFormat) -> Result<()> {
    let store = open_store(ctx)?;
    let resolver = ctx.resolver();
    let request = pgfleet_backup::CreateRequest {
        manifest: &ctx.manifest,
        resolver: &resolver,
        environment: &ctx.environment,
        selection: if selection.all {
            pgfleet_backup::Selection::All
        } else if selection.services.is_empty() {
            return Err(CliError::Config(
                "name the services to back up, or pass --all for every service".to_owned(),
            ));
        } else {
            pgfleet_backup::Selection::Services(ctx.services(&selection.services)?)
        },
        connect_timeout: ctx.connect_timeout,
    };
    let bars = Bars::new();
    let progress: pgfleet_backup::Progress = {
        let bars = bars.clone();
        Arc::new(move |event: &Event| bars.show(event))
    };
    // On SIGINT or SIGTERM the run is dropped: its pg_dumps are stopped with it, and what it
    // staged is never published (the next run removes it).
    let catalogs = tokio::select! {
        catalogs = pgfleet_backup::create(&request, &store, progress) => catalogs?,
        _ = async {
            // Signals that cannot be watched never stop the run.
            if super::migrate::wait_for_signal().await.is_err() {
                std::future::pending::<()>().await;
            }
        } => {
            bars.clear();
            return Err(CliError::Interrupted(
                "backup create stopped by a signal; nothing of this run is listed".to_owned(),
            ));
        }
    };
    bars.clear();
    let report = CreateReport {
        store: store.describe(),
        backups: catalogs,
    };
    output::print_report(&report, format);
    let failed: Vec<String> = report
        .backups
        .iter()
        .flat_map(|c| {
            c.services
                .iter()
                .filter(|p| p.status != PartStatus::Complete)
                .map(|p| p.service.clone())
                .chain(
                    c.roles
                        .iter()
                        .filter(|r| r.status != PartStatus::Complete)
                        .map(|r| pgfleet_backup::create::roles_label(&r.server)),
                )
        })
        .collect();
    if !failed.is_empty() {
        return Err(CliError::Failed(format!(
            "{} part(s) failed: {}; the others are complete\n  hint: `pgfleet backup list` shows why",
            failed.len(),
            failed.join(", ")
        )));
    }
    Ok(())
}

/// A bar per part on a terminal; elsewhere a line per part as it starts and ends.
#[derive(Clone)]
struct Bars {
    terminal: bool,
    multi: MultiProgress,
    bars: Arc<Mutex<HashMap<String, ProgressBar>>>,
}

impl Bars {
    fn new() -> Bars {
        Bars {
            terminal: std::io::stderr().is_terminal(),
            multi: MultiProgress::new(),
            bars: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn bar(&self, part: &str) -> ProgressBar {
        let mut bars = self
            .bars
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        bars.entry(part.to_owned())
            .or_insert_with(|| {
                // Empty while pg_dump runs (its total is not known), then the compression's share.
                let bar = self.multi.add(ProgressBar::new(1));
                bar.set_style(
                    ProgressStyle::with_template("{prefix:<24} [{bar:30}] {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
                bar.set_prefix(part.to_owned());
                bar
            })
            .clone()
    }

    fn show(&self, event: &Event) {
        if !self.terminal {
            match event {
                Event::Started { backup, part } => {
                    output::note(&format!("{part}: dumping ({backup})"))
                }
                Event::Finished { part, bytes, .. } => {
                    output::note(&format!("{part}: complete, {}", human_bytes(*bytes)))
                }
                Event::Failed { part, error, .. } => {
                    output::note(&format!("{part}: failed: {error}"))
                }
                Event::Dumping { .. } | Event::Sealing { .. } => {}
            }
            return;
        }
        match event {
            Event::Started { part, .. } => self.bar(part).set_message("dumping"),
            // pg_dump's total is not known beforehand: its bytes so far.
            Event::Dumping { part, bytes, .. } => self
                .bar(part)
                .set_message(format!("dumping, {}", human_bytes(*bytes))),
            Event::Sealing {
                part, done, total, ..
            } => {
                let bar = self.bar(part);
                bar.set_length(*total);
                bar.set_position(*done);
                bar.set_message(format!(
                    "compressing, {} of {}",
                    human_bytes(*done),
                    human_bytes(*total)
                ));
            }
            Event::Finished { part, bytes, .. } => self
                .bar(part)
                .finish_with_message(format!("complete, {} stored", human_bytes(*bytes))),
            Event::Failed { part, .. } => self.bar(part).abandon_with_message("failed"),
        }
    }

    fn clear(&self) {
        let _ = self.multi.clear();
    }
}

/// What `backup create` published.
#[derive(Debug, Serialize)]
pub struct CreateReport {
    /// Where the backups are (never a credential).
    pub store: String,
    pub backups: Vec<Catalog>,
}

impl Report for CreateReport {
    fn table(&self) -> String {
        let mut table = output::table(&[
            "BACKUP", "PART", "STATUS", "VERSION", "TABLES", "ROWS", "SIZE", "DURATION",
        ]);
        for catalog in &self.backups {
            for part in &catalog.services {
                table.add_row(vec![
                    catalog.id.clone(),
                    part.service.clone(),
                    status_text(&part.status),
                    part.migration_version.clone().unwrap_or_else(|| "-".into()),
                    part.tables.len().to_string(),
                    part.tables.iter().map(|t| t.rows).sum::<u64>().to_string(),
                    human_bytes(part.bytes),
                    format!("{} ms", part.duration_ms),
                ]);
            }
            for roles in &catalog.roles {
                table.add_row(vec![
                    catalog.id.clone(),
                    pgfleet_backup::create::roles_label(&roles.server),
                    status_text(&roles.status),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    human_bytes(roles.file.as_ref().map_or(0, |f| f.bytes)),
                    "-".into(),
                ]);
            }
        }
        format!("{table}\nstored in {}", self.store)
    }
}

fn status_text(status: &PartStatus) -> String {
    match status {
        PartStatus::Complete => "complete".to_owned(),
        PartStatus::Failed { error } => {
            format!("failed: {}", error.lines().next().unwrap_or_default())
        }
    }
}

/// `backup list`.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct ListReport(pub Vec<ListRow>);

impl Report for ListReport {
    fn table(&self) -> String {
        let mut table = output::table(&[
            "ID", "SERVICE", "STATUS", "VERSION", "SIZE", "AGE", "VERIFIED",
        ]);
        for row in &self.0 {
            table.add_row(vec![
                row.id.clone(),
                row.service.clone(),
                row.status.to_owned(),
                row.migration_version.clone().unwrap_or_else(|| "-".into()),
                human_bytes(row.bytes),
                human_age(row.age_seconds),
                match row.verified {
                    None => "no".to_owned(),
                    Some(true) => "ok".to_owned(),
                    Some(false) => "FAILED".to_owned(),
                },
            ]);
        }
        if self.0.is_empty() {
            return "no backups".to_owned();
        }
        table.to_string()
    }
}

pub async fn list(ctx: &Context, services: &[String], format: ReportFormat) -> Result<()> {
    let services = if services.is_empty() {
        Vec::new()
    } else {
        ctx.services(services)?
    };
    let store = open_store(ctx)?;
    let read = pgfleet_backup::status::read_all(&store).await?;
    for problem in &read.problems {
        output::note(&format!("warning: {problem}"));
    }
    let rows = pgfleet_backup::status::list_rows(&read.catalogs, &services, jiff::Timestamp::now());
    output::print_report(&ListReport(rows), format);
    Ok(())
}

/// `backup status`.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct BackupStatusReport(pub StatusReport);

impl Report for BackupStatusReport {
    fn table(&self) -> String {
        let report = &self.0;
        let mut table = output::table(&[
            "SERVICE",
            "LATEST",
            "AGE",
            "SIZE",
            "VERSION",
            "VERIFIED",
            "VERIFIED AGE",
            "RESULT",
        ]);
        for service in &report.services {
            let (latest, age, size, version) = match &service.latest {
                Some(b) => (
                    b.id.clone(),
                    human_age(b.age_seconds),
                    human_bytes(b.bytes),
                    b.migration_version.clone().unwrap_or_else(|| "-".into()),
                ),
                None => ("none".into(), "-".into(), "-".into(), "-".into()),
            };
            let (verified, verified_age, result) = match &service.latest_verified {
                Some(v) => (
                    v.id.clone(),
                    human_age(v.age_seconds),
                    if v.ok { "ok" } else { "FAILED" }.to_owned(),
                ),
                None => ("none".into(), "-".into(), "-".into()),
            };
            table.add_row(vec![
                service.service.clone(),
                latest,
                age,
                size,
                version,
                verified,
                verified_age,
                result,
            ]);
        }
        format!(
            "{} backup(s), {} stored\n{table}",
            report.backups,
            human_bytes(report.bytes)
        )
    }
}

pub async fn status(ctx: &Context, format: ReportFormat) -> Result<()> {
    let store = open_store(ctx)?;
    let read = pgfleet_backup::status::read_all(&store).await?;
    for problem in &read.problems {
        output::note(&format!("warning: {problem}"));
    }
    let services: Vec<String> = ctx.manifest.services.keys().cloned().collect();
    let report = pgfleet_backup::status::status(&read.catalogs, &services, jiff::Timestamp::now());
    output::print_report(&BackupStatusReport(report), format);
    Ok(())
}
