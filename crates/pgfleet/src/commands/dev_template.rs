//! `pgfleet dev template SERVICE`: a migrated, seeded template database on the local
//! cluster, which a test suite clones per run (`CREATE DATABASE x TEMPLATE <db>_template`)
//! instead of migrating and seeding a database of its own.

use super::dev::{apply_access, bring_up, lock_project, require_local};
use crate::cli::ReportFormat;
use crate::context::Context;
use crate::error::{CliError, Result, pg_error};
use crate::output::{self, Report};
use pgfleet_cluster::ClusterStatus;
use pgfleet_cluster::LocalCluster;
use pgfleet_cluster::fleet::{self as local, LocalFleet};
use pgfleet_core::ident::{quote_ident, quote_literal};
use pgfleet_core::manifest::Service;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use std::path::Path;
use std::time::Instant;

/// What the database's COMMENT starts with; the digest of what built it follows.
const COMMENT_PREFIX: &str = "pgfleet dev template sha256:";

/// What `dev template` did.
#[derive(Debug, Serialize)]
pub struct TemplateReport {
    pub environment: String,
    pub service: String,
    pub server: String,
    pub port: u16,
    /// `<database>_template`.
    pub template: String,
    /// The services whose migrations and seeds it holds: every one placed in the database.
    pub services: Vec<String>,
    /// `fresh` (up to date, untouched), `built` (new) or `rebuilt` (stale or `--force`).
    pub result: &'static str,
    /// SHA-256 over pgfleet's version and the services' migration and seed files.
    pub digest: String,
    pub duration_ms: u64,
}

impl Report for TemplateReport {
    fn table(&self) -> String {
        let mut table =
            output::table(&["template", "server", "port", "services", "result", "time"]);
        table.add_row(vec![
            self.template.clone(),
            self.server.clone(),
            self.port.to_string(),
            self.services.join("\n"),
            self.result.to_owned(),
            format!("{} ms", self.duration_ms),
        ]);
        table.to_string()
    }
}

pub async fn template(
    ctx: &Context,
    service: &str,
    force: bool,
    format: ReportFormat,
) -> Result<()> {
    require_local(ctx)?;
    let started = Instant::now();
    let _lock = lock_project(ctx)?;
    let name = ctx.services(&[service.to_owned()])?.remove(0);
    let config = &ctx.manifest.services[&name];
    let database = config.placement.database().to_owned();
    let template = format!("{database}_template");
    // The template is a whole database: every service that lives in it.
    let in_database: Vec<&Service> = ctx
        .manifest
        .services
        .values()
        .filter(|s| s.server == config.server && s.placement.database() == database)
        .collect();
    let names: Vec<String> = in_database.iter().map(|s| s.name.clone()).collect();
    if let Some(owner) = ctx
        .manifest
        .services
        .values()
        .find(|s| s.server == config.server && s.placement.database() == template)
    {
        return Err(CliError::Config(format!(
            "database `{template}` is service `{}`'s own, so it cannot be the template of `{database}`\n  hint: give one of the two databases another name",
            owner.name
        )));
    }
    let digest = digest(&ctx.manifest.path, &in_database)?;
    let fleet = LocalFleet::new(&ctx.manifest, &ctx.environment)?;
    let cluster = fleet.cluster(&ctx.manifest.servers[&config.server])?;

    let running = {
        let cluster = cluster.clone();
        matches!(
            tokio::task::spawn_blocking(move || cluster.status())
                .await
                .map_err(|e| CliError::Failed(e.to_string()))??,
            ClusterStatus::Running { .. }
        )
    };
    if !running {
        bring_up(ctx, &fleet, &names).await?;
    }
    let recorded = recorded_digest(&cluster, &template).await?;
    let result = match &recorded {
        Some(Some(recorded)) if *recorded == digest && !force => "fresh",
        Some(_) => "rebuilt",
        None => "built",
    };
    if result != "fresh" {
        build(
            ctx,
            &fleet,
            &cluster,
            &in_database,
            &names,
            &template,
            &digest,
        )
        .await?;
    }
    let report = TemplateReport {
        environment: ctx.environment.clone(),
        service: name.clone(),
        server: config.server.clone(),
        port: cluster.spec().port,
        template,
        services: names,
        result,
        digest,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    output::print_report(&report, format);
    Ok(())
}

/// The digest in the template's COMMENT: `None` when there is no such database,
/// `Some(None)` when it has no digest of pgfleet's (made by hand: rebuilt).
async fn recorded_digest(cluster: &LocalCluster, template: &str) -> Result<Option<Option<String>>> {
    let admin = local::admin_session(cluster, "postgres").await?;
    let comment = super::dev_snapshot::database_comment(&admin, template).await?;
    Ok(comment
        .map(|comment| comment.and_then(|c| c.strip_prefix(COMMENT_PREFIX).map(str::to_owned))))
}

/// Drops the old template, then builds it again as `dev reset` builds a service's database:
/// roles and grants, the services' migrations (the migrate engine, as the migration login),
/// their seeds, and the grants on what they created; then closes it to connections and marks
/// it a template.
async fn build(
    ctx: &Context,
    fleet: &LocalFleet,
    cluster: &LocalCluster,
    services: &[&Service],
    names: &[String],
    template: &str,
    digest: &str,
) -> Result<()> {
    // The cluster, the service's roles and its ordinary database, as `dev up` leaves them.
    bring_up(ctx, fleet, names).await?;
    apply_access(ctx, fleet, names).await?;
    let admin_connection = ctx.resolver().resolve_admin(&names[0], &ctx.environment)?;
    let admin = local::admin_session(cluster, "postgres").await?;
    let quoted = quote_ident(template);
    if local::database_exists(&admin, template).await? {
        // A template may not be dropped; DROP DATABASE runs alone (no transaction block).
        for sql in [
            format!("ALTER DATABASE {quoted} WITH IS_TEMPLATE false"),
            format!("DROP DATABASE {quoted} WITH (FORCE)"),
        ] {
            admin
                .batch_execute(&sql)
                .await
                .map_err(|e| pg_error(&format!("dropping template {template}"), &e))?;
        }
    }
    local::ensure_database(&admin, template, &admin_connection.user).await?;
    local::ensure_statement_stats(cluster, template, &admin_connection.user).await?;
    for service in services {
        if let Some(schema) = service.placement.schema() {
            let db = local::admin_session(cluster, template).await?;
            local::ensure_schema(&db, schema, &admin_connection.user).await?;
        }
    }

    let options = crate::commands::migrate::base_options(ctx);
    for service in services {
        let mut target = crate::commands::migrate::target(ctx, &service.name)?;
        target.connection.database = template.to_owned();
        pgfleet_migrate::run(
            &target,
            pgfleet_migrate::Direction::Up { to: None },
            &options,
            &|_| {},
        )
        .await
        .map_err(|failure| CliError::from(failure.error))?;
        let files = pgfleet_migrate::source::sql_files(&service.seeds)
            .map_err(pgfleet_migrate::MigrateError::from)?;
        pgfleet_migrate::seed(&target, &files, &options).await?;
    }

    // The database's own grants and what the seeds created, as in the services' database.
    let mut template_connection = admin_connection.clone();
    template_connection.database = template.to_owned();
    {
        let client =
            pgfleet_pg::connect(&template_connection, "dev template", ctx.connect_timeout).await?;
        let plan =
            pgfleet_access::plan_database(&template_connection.server, template, services, &client)
                .await
                .map_err(|e| {
                    pg_error(
                        &format!("reading the catalogs of database {template}"),
                        &e.into_postgres(),
                    )
                })?;
        let failures = pgfleet_access::apply(&client, &plan)
            .await
            .map_err(|e| pg_error("granting in the template", &e.into_postgres()))?;
        if let Some(failure) = failures.first() {
            return Err(CliError::Failed(format!(
                "granting in template {template} failed: {}: {}",
                failure.sql, failure.error
            )));
        }
    }

    // Closed to connections, so that a clone never waits for (or fails on) a session in it.
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {quoted} WITH ALLOW_CONNECTIONS false;
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE datname = {literal} AND pid <> pg_backend_pid();
             COMMENT ON DATABASE {quoted} IS {comment};
             ALTER DATABASE {quoted} WITH IS_TEMPLATE true",
            literal = quote_literal(template),
            comment = quote_literal(&format!("{COMMENT_PREFIX}{digest}")),
        ))
        .await
        .map_err(|e| pg_error(&format!("marking {template} a template"), &e))?;
    Ok(())
}

/// SHA-256 over pgfleet's version, the manifest (the template gets its access plan and
/// layouts) and, per service, every file of its migrations and seeds folders (relative path
/// and bytes, in name order): any change to what built the template makes it stale.
fn digest(manifest: &Path, services: &[&Service]) -> Result<String> {
    let mut hasher = Sha256::new();
    hasher.update(format!("pgfleet {}\n", env!("CARGO_PKG_VERSION")));
    let text = std::fs::read(manifest)
        .map_err(|e| CliError::Failed(format!("cannot read {}: {e}", manifest.display())))?;
    hasher.update(format!("manifest {}\n", text.len()));
    hasher.update(&text);
    for service in services {
        for (kind, dir) in [
            ("migrations", &service.migrations),
            ("seeds", &service.seeds),
        ] {
            hasher.update(format!("{} {kind}\n", service.name));
            hash_folder(&mut hasher, dir, dir)?;
        }
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn hash_folder(hasher: &mut Sha256, root: &Path, dir: &Path) -> Result<()> {
    let io_error = |path: &Path, e: std::io::Error| {
        CliError::Failed(format!("cannot read {}: {e}", path.display()))
    };
    let mut entries: Vec<_> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(|e| io_error(dir, e))?,
        // A service without seeds (or migrations yet) hashes as an empty folder.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error(dir, e)),
    };
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        // Editors' and tools' hidden files are not migrations.
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let kind = entry.file_type().map_err(|e| io_error(&path, e))?;
        if kind.is_dir() {
            hash_folder(hasher, root, &path)?;
        } else if kind.is_file() {
            let relative = path.strip_prefix(root).unwrap_or(&path);
            let mut file = std::fs::File::open(&path).map_err(|e| io_error(&path, e))?;
            hasher.update(format!("{}\n", relative.display()));
            let length = std::io::copy(&mut file, hasher).map_err(|e| io_error(&path, e))?;
            hasher.update(format!("\n{length}\n"));
        }
    }
    Ok(())
}
