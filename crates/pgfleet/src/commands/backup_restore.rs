//! `pgfleet backup verify` and `pgfleet backup restore`: the CLI over
//! `pgfleet_backup::verify` and `pgfleet_backup::restore`, for the active environment's store.

use crate::cli::ReportFormat;
use crate::context::Context;
use crate::error::{CliError, Result};
use crate::output::{self, Report};
use indicatif::{MultiProgress, ProgressBar};
use pgfleet_backup::restore::{Mode, RestoreEvent, RestoreRequest, Restored, derived_name};
use pgfleet_backup::verify::{Verified, VerifyRequest};
use pgfleet_backup::{BackupId, Catalog, Store};
use pgfleet_cluster::fleet::LocalFleet;
use pgfleet_core::Connection;
use pgfleet_core::ident::identifier_problem;
use pgfleet_core::manifest::SslMode;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn open_store(ctx: &Context) -> Result<Store> {
    Ok(Store::open(&ctx.manifest, &ctx.environment, &ctx.vars)?)
}

/// The session a restore or a verify of `service` runs as: pgfleet's login of the environment,
/// or in a local environment the dev cluster's superuser over its private socket, which may
/// create databases and the extensions a dump holds (`pg_stat_statements` in `pgfleet`).
pub(crate) fn restore_login(ctx: &Context, service: &str) -> Result<Connection> {
    let mut connection = ctx.resolver().resolve_admin(service, &ctx.environment)?;
    if ctx.manifest.is_local(&ctx.environment) {
        let fleet = LocalFleet::new(&ctx.manifest, &ctx.environment)?;
        let cluster = fleet.cluster(&ctx.manifest.servers[&connection.server])?;
        let spec = cluster.spec();
        connection.host = spec.socket_dir.display().to_string();
        connection.port = spec.port;
        connection.user = spec.superuser.clone();
        connection.password = None;
        connection.sslmode = SslMode::Disable;
        connection.params.clear();
    }
    Ok(connection)
}

/// A private folder for a run's downloads and opened files, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(ctx: &Context, what: &str) -> Result<Scratch> {
        let dir = ctx
            .manifest
            .state_dir()
            .join("scratch")
            .join(format!("{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| CliError::Failed(format!("cannot create {}: {e}", dir.display())))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A spinner on stderr while a step runs (`dev`'s); invisible when stderr is not a terminal.
fn spinner() -> ProgressBar {
    super::dev::spinner(&MultiProgress::new(), "")
}

fn show(bar: &ProgressBar, service: &str, event: &RestoreEvent) {
    bar.set_prefix(service.to_owned());
    bar.set_message(match event {
        RestoreEvent::Checking { done, total } => format!("checking files {done}/{total}"),
        RestoreEvent::Restoring { into } => format!("restoring into {into}"),
        RestoreEvent::Comparing => "comparing row counts and version".to_owned(),
    });
}

/// What `backup verify` found, per part.
#[derive(Debug, Serialize)]
pub struct VerifyReport {
    pub environment: String,
    pub store: String,
    pub results: Vec<PartVerified>,
}

#[derive(Debug, Serialize)]
pub struct PartVerified {
    pub backup: String,
    pub service: String,
    pub ok: bool,
    pub restored_on: String,
    pub duration_ms: u64,
    pub problems: Vec<String>,
    /// Why the audit row could not be written, if so.
    pub audit_problem: Option<String>,
}

impl Report for VerifyReport {
    fn table(&self) -> String {
        let mut table = output::table(&["backup", "service", "result", "restored on", "time"]);
        for r in &self.results {
            table.add_row(vec![
                r.backup.clone(),
                r.service.clone(),
                if r.ok { "verified" } else { "FAILED" }.to_owned(),
                r.restored_on.clone(),
                format!("{} ms", r.duration_ms),
            ]);
        }
        let mut text = table.to_string();
        for r in &self.results {
            for problem in &r.problems {
                text.push_str(&format!("\n{} {}: {problem}", r.backup, r.service));
            }
            if let Some(problem) = &r.audit_problem {
                text.push_str(&format!(
                    "\n{} {}: no audit row: {problem}",
                    r.backup, r.service
                ));
            }
        }
        text
    }
}

/// The complete backups of the store, newest first.
async fn catalogs(store: &Store) -> Result<Vec<Catalog>> {
    let mut catalogs = Vec::new();
    for id in store.list().await? {
        catalogs.push(store.read_catalog(&id).await?);
    }
    catalogs.sort_by_key(|c| std::cmp::Reverse(c.finished_at));
    Ok(catalogs)
}

/// `backup verify [ID|--latest] [SERVICE…]`: the named backup's parts (default: all of them),
/// or each service's newest backup. Exits 1 when any part fails.
pub async fn verify(
    ctx: &Context,
    id: Option<&str>,
    latest: bool,
    services: &[String],
    format: ReportFormat,
) -> Result<()> {
    let store = open_store(ctx)?;
    let named = ctx.services(services)?;
    // Backup id → the services to verify in it.
    let mut plan: BTreeMap<String, Vec<String>> = BTreeMap::new();
    match (id, latest) {
        (Some(id), false) => {
            BackupId::parse(id)?;
            let catalog = store.read_catalog(id).await?;
            let wanted: Vec<String> = if services.is_empty() {
                catalog
                    .usable_parts()
                    .map(|p| p.service.clone())
                    .filter(|s| ctx.manifest.services.contains_key(s))
                    .collect()
            } else {
                named
            };
            if wanted.is_empty() {
                return Err(CliError::Failed(format!(
                    "backup `{id}` has no complete part of a service of this manifest"
                )));
            }
            plan.insert(id.to_owned(), wanted);
        }
        (None, true) => {
            let all = catalogs(&store).await?;
            for service in &named {
                let newest = all
                    .iter()
                    .find(|c| c.usable_parts().any(|p| p.service == *service));
                match newest {
                    Some(catalog) => plan
                        .entry(catalog.id.clone())
                        .or_default()
                        .push(service.clone()),
                    None if !services.is_empty() => {
                        return Err(CliError::Failed(format!(
                            "service `{service}` has no complete backup in {}\n  hint: `pgfleet backup create {service}`",
                            store.describe()
                        )));
                    }
                    None => {}
                }
            }
            if plan.is_empty() {
                return Err(CliError::Failed(format!(
                    "there is no complete backup in {}\n  hint: `pgfleet backup create --all`",
                    store.describe()
                )));
            }
        }
        _ => {
            return Err(CliError::Config(
                "name the backup to verify, or pass --latest\n  hint: `pgfleet backup list` shows the backups".to_owned(),
            ));
        }
    }
    let scratch = Scratch::new(ctx, "verify")?;
    let bar = spinner();
    let mut report = VerifyReport {
        environment: ctx.environment.clone(),
        store: store.describe(),
        results: Vec::new(),
    };
    let opener = std::sync::Arc::new(pgfleet_backup::crypt::environment_opener(
        &ctx.manifest,
        &ctx.environment,
        &ctx.vars,
    )?);
    for (backup, services) in &plan {
        let mut targets = Vec::new();
        for service in services {
            targets.push((service.clone(), restore_login(ctx, service)?));
        }
        let request = VerifyRequest {
            store: &store,
            backup,
            services: targets,
            environment: &ctx.environment,
            jobs: ctx.manifest.backup.dump_jobs,
            connect_timeout: ctx.connect_timeout,
            scratch: &scratch.0,
            opener: opener.clone(),
        };
        let on_event = |service: &str, event: &RestoreEvent| show(&bar, service, event);
        let verified = pgfleet_backup::verify::verify(&request, &on_event).await;
        let verified = match verified {
            Ok(verified) => verified,
            Err(e) => {
                bar.finish_and_clear();
                return Err(e.into());
            }
        };
        report.results.extend(verified.into_iter().map(
            |Verified {
                 verification,
                 audit_problem,
             }| {
                PartVerified {
                    backup: backup.clone(),
                    service: verification.service,
                    ok: verification.ok,
                    restored_on: verification.restored_on,
                    duration_ms: verification.duration_ms,
                    problems: verification.problems,
                    audit_problem,
                }
            },
        ));
    }
    bar.finish_and_clear();
    output::print_report(&report, format);
    let failed: Vec<String> = report
        .results
        .iter()
        .filter(|r| !r.ok)
        .map(|r| format!("{} of {}", r.service, r.backup))
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::Failed(format!(
            "{} part(s) failed verification: {}",
            failed.len(),
            failed.join(", ")
        )))
    }
}

/// What `backup restore` did.
#[derive(Debug, Serialize)]
pub struct RestoreReport {
    pub environment: String,
    #[serde(flatten)]
    pub restored: Restored,
}

impl Report for RestoreReport {
    fn table(&self) -> String {
        let r = &self.restored;
        let mut table = output::table(&["backup", "service", "into", "version", "result", "time"]);
        table.add_row(vec![
            r.backup.clone(),
            r.service.clone(),
            match &r.schema {
                Some(schema) => format!("{}.{schema}", r.database),
                None => r.database.clone(),
            },
            r.migration_version
                .clone()
                .unwrap_or_else(|| "none".to_owned()),
            match &r.replaced_version {
                Some(version) => format!("replaced (was {version})"),
                None => "restored".to_owned(),
            },
            format!("{} ms", r.duration_ms),
        ]);
        let mut text = table.to_string();
        if let Some(problem) = &r.audit_problem {
            text.push_str(&format!("\nno audit row: {problem}"));
        }
        text
    }
}

/// How `backup restore` was asked to treat what is there.
#[derive(Debug, Clone, Copy)]
pub struct RestoreFlags {
    pub replace: bool,
    pub force_older: bool,
    pub yes: bool,
}

/// `backup restore ID SERVICE [--into DATABASE] [--replace]`.
pub async fn restore(
    ctx: &Context,
    id: &str,
    service: &str,
    into: Option<&str>,
    flags: RestoreFlags,
    format: ReportFormat,
) -> Result<()> {
    BackupId::parse(id)?;
    let service = ctx.services(&[service.to_owned()])?.remove(0);
    if let Some(into) = into
        && let Some(problem) = identifier_problem(into)
    {
        return Err(CliError::Config(format!("--into `{into}` {problem}")));
    }
    let store = open_store(ctx)?;
    let catalog = store.read_catalog(id).await?;
    let part = pgfleet_backup::restore::part_of(&catalog, &service)?;
    let mut target = restore_login(ctx, &service)?;
    let live = target.database.clone();
    target.database = match (into, flags.replace, &part.schema) {
        (Some(into), _, _) => into.to_owned(),
        (None, true, _) | (None, false, Some(_)) => live.clone(),
        (None, false, None) => {
            let stamp = jiff::Timestamp::now().strftime("%Y%m%d_%H%M%S").to_string();
            derived_name(&part.database, &format!("restore_{stamp}"))
        }
    };
    if flags.replace && ctx.manifest.is_protected(&ctx.environment) {
        let what = match &part.schema {
            Some(schema) => format!("schema {schema} in database {}", target.database),
            None => format!("database {}", target.database),
        };
        super::confirm::protected_change(
            &ctx.environment,
            "a restore over live data",
            &format!(
                "  replace {what} with service {service}'s part of backup {id} (migration version {})",
                part.migration_version.as_deref().unwrap_or("none")
            ),
            flags.yes,
        )?;
    }
    let config = &ctx.manifest.services[&service];
    let scratch = Scratch::new(ctx, "restore")?;
    let request = RestoreRequest {
        store: &store,
        catalog: &catalog,
        service: &service,
        environment: &ctx.environment,
        target,
        mode: if flags.replace {
            Mode::Replace {
                allow_older: flags.force_older,
            }
        } else {
            Mode::New
        },
        session_roles: vec![
            config.access.runtime_role.clone(),
            config.access.migration_role.clone(),
        ],
        jobs: ctx.manifest.backup.dump_jobs,
        connect_timeout: ctx.connect_timeout,
        scratch: &scratch.0,
        opener: std::sync::Arc::new(pgfleet_backup::crypt::environment_opener(
            &ctx.manifest,
            &ctx.environment,
            &ctx.vars,
        )?),
    };
    let bar = spinner();
    let restored =
        pgfleet_backup::restore::restore(&request, &|event| show(&bar, &service, event)).await;
    bar.finish_and_clear();
    let restored = restored?;
    output::print_report(
        &RestoreReport {
            environment: ctx.environment.clone(),
            restored,
        },
        format,
    );
    Ok(())
}
