//! `pgfleet dev up|down|status|reset|psql`: local clusters that replace the per-service
//! docker-compose containers of the seeds.

use crate::cli::ReportFormat;
use crate::context::Context;
use crate::error::{CliError, Result, pg_error};
use crate::output::{self, Report};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use pgfleet_cluster::fleet::{self as local, LocalFleet};
use pgfleet_cluster::{ClusterStatus, LocalCluster};
use pgfleet_core::ident::quote_ident;
use pgfleet_core::manifest::{Placement, Server};
use pgfleet_core::resolve::dev_password_path;
use pgfleet_core::{Connection, Secret};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Dev commands act on a local environment only; anything else is refused before any work.
pub(crate) fn require_local(ctx: &Context) -> Result<()> {
    if ctx.manifest.is_local(&ctx.environment) {
        return Ok(());
    }
    let local: Vec<&String> = ctx
        .manifest
        .environments
        .iter()
        .filter(|(_, e)| e.local == Some(true))
        .map(|(name, _)| name)
        .collect();
    Err(CliError::Config(format!(
        "`dev` commands run local clusters, and environment `{}` (from {}) is not local; {}",
        ctx.environment,
        ctx.environment_source,
        match local.first() {
            Some(name) => format!("use --env {name}"),
            None => "mark an environment `local = true` in the manifest".to_owned(),
        }
    )))
}

/// Serialises dev commands of one project: two `dev up` at once would race on initdb and
/// pg_ctl. The lock is released when the returned file is dropped (or the process dies).
pub(crate) fn lock_project(ctx: &Context) -> Result<std::fs::File> {
    let state_dir = ctx.manifest.state_dir();
    let io_error =
        |e: std::io::Error| CliError::Failed(format!("cannot lock {}: {e}", state_dir.display()));
    std::fs::create_dir_all(&state_dir).map_err(io_error)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(state_dir.join("dev.lock"))
        .map_err(io_error)?;
    file.lock().map_err(io_error)?;
    Ok(file)
}

/// The manifest connection of each service, with a password: the variable's, else one
/// generated once and kept under `.pgfleet/secrets/` (0600).
fn service_connections(ctx: &Context, services: &[String]) -> Result<Vec<Connection>> {
    let resolver = ctx.resolver();
    let mut connections = Vec::new();
    let mut problems = Vec::new();
    for service in services {
        match resolver.resolve_from_manifest(service, &ctx.environment) {
            Ok(connection) if connection.password.is_none() => {
                local::generate_password(&dev_password_path(&ctx.manifest, &connection.user))?;
                connections.push(resolver.resolve_from_manifest(service, &ctx.environment)?);
            }
            Ok(connection) => connections.push(connection),
            Err(e) => problems.extend(e.problems),
        }
    }
    if !problems.is_empty() {
        return Err(pgfleet_core::ResolveError { problems }.into());
    }
    Ok(connections)
}

/// Spinners on stderr, one per server; invisible when stderr is not a terminal.
pub(crate) fn spinner(progress: &MultiProgress, server: &str) -> ProgressBar {
    let bar = progress.add(ProgressBar::new_spinner());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix:<24} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_prefix(server.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Starts the clusters of `services` and creates their roles, databases and schemas.
/// Returns the connections, grouped by server.
pub(crate) async fn bring_up(
    ctx: &Context,
    fleet: &LocalFleet,
    services: &[String],
) -> Result<BTreeMap<String, Vec<Connection>>> {
    let connections = service_connections(ctx, services)?;
    let mut by_server: BTreeMap<String, Vec<Connection>> = BTreeMap::new();
    for connection in connections {
        by_server
            .entry(connection.server.clone())
            .or_default()
            .push(connection);
    }
    let test_runner = test_runner(ctx)?;
    let progress = MultiProgress::new();
    let mut tasks = tokio::task::JoinSet::new();
    for (server_name, connections) in &by_server {
        let cluster = fleet.cluster(&ctx.manifest.servers[server_name])?;
        let bar = spinner(&progress, server_name);
        let connections = connections.clone();
        let server_name = server_name.clone();
        let test_runner = test_runner.clone();
        tasks.spawn(async move {
            let result = bring_up_server(&cluster, &connections, test_runner.as_ref(), &bar).await;
            match &result {
                Ok(()) => bar.finish_with_message(format!("ready on port {}", cluster.spec().port)),
                Err(e) => bar.finish_with_message(format!("failed: {e}")),
            }
            (server_name, result)
        });
    }
    let mut failures = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((_, Ok(()))) => {}
            Ok((server, Err(e))) => failures.push((server, e)),
            Err(e) => failures.push(("?".to_owned(), CliError::Failed(e.to_string()))),
        }
    }
    match failures.len() {
        0 => Ok(by_server),
        1 => Err(failures.remove(0).1),
        _ => Err(CliError::Failed(
            failures
                .into_iter()
                .map(|(server, e)| format!("server {server}: {e}"))
                .collect::<Vec<_>>()
                .join("\n"),
        )),
    }
}

/// A testing environment's login for test runners, with its password (generated once and
/// kept under `.pgfleet/secrets/` like the other local passwords); `None` elsewhere.
fn test_runner(ctx: &Context) -> Result<Option<(String, Secret)>> {
    if !ctx.manifest.is_testing(&ctx.environment) {
        return Ok(None);
    }
    let role = ctx.manifest.test_runner_role();
    let path = dev_password_path(&ctx.manifest, &role);
    local::generate_password(&path)?;
    let password = std::fs::read_to_string(&path)
        .map_err(|e| CliError::Failed(format!("cannot read {}: {e}", path.display())))?;
    Ok(Some((role, Secret::new(password.trim_end()))))
}

async fn bring_up_server(
    cluster: &LocalCluster,
    connections: &[Connection],
    test_runner: Option<&(String, Secret)>,
    bar: &ProgressBar,
) -> Result<()> {
    if !cluster.is_initialized() {
        bar.set_message("initdb");
    }
    let blocking = cluster.clone();
    let status_bar = bar.clone();
    tokio::task::spawn_blocking(move || -> Result<()> {
        blocking.init()?;
        status_bar.set_message("starting");
        blocking.start(local::START_TIMEOUT)?;
        Ok(())
    })
    .await
    .map_err(|e| CliError::Failed(e.to_string()))??;
    bar.set_message("creating roles and databases");
    let admin = local::admin_session(cluster, "postgres").await?;
    let mut roles_done = Vec::new();
    for connection in connections {
        if !roles_done.contains(&connection.user) {
            let password = connection
                .password
                .clone()
                .unwrap_or_else(|| Secret::new(""));
            // pgfleet's own login creates the services' roles (`access apply`).
            local::ensure_login_role(&admin, &connection.user, &password, "CREATEROLE").await?;
            // `pgfleet serve` logs in as it: pg_monitor lets it see every session's state and
            // every statement in pg_stat_statements.
            admin
                .batch_execute(&format!(
                    "GRANT pg_monitor TO {}",
                    pgfleet_core::ident::quote_ident(&connection.user)
                ))
                .await
                .map_err(|e| {
                    pg_error(&format!("granting pg_monitor to {}", connection.user), &e)
                })?;
            roles_done.push(connection.user.clone());
        }
        // A test suite's throw-away databases (Django's test runner, pytest-postgresql,
        // clones of `dev template`): CREATEDB and no other right, its own databases only.
        if let Some((role, password)) = test_runner
            && !roles_done.contains(role)
        {
            local::ensure_login_role(
                &admin,
                role,
                password,
                "CREATEDB NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS",
            )
            .await?;
            roles_done.push(role.clone());
        }
        local::ensure_database(&admin, &connection.database, &connection.user).await?;
        local::ensure_statement_stats(cluster, &connection.database, &connection.user).await?;
        if let Some(schema) = &connection.schema {
            let db = local::admin_session(cluster, &connection.database).await?;
            local::ensure_schema(&db, schema, &connection.user).await?;
        }
    }
    Ok(())
}

/// The services' roles and grants, and their runtime passwords kept in line with the
/// variables (or the generated files).
pub(crate) async fn apply_access(
    ctx: &Context,
    fleet: &LocalFleet,
    services: &[String],
) -> Result<()> {
    if !ctx.manifest.fleet.manage_roles {
        return Ok(());
    }
    crate::commands::access::apply_quietly(ctx, services).await?;
    let resolver = ctx.resolver();
    for service in services {
        let connection = resolver.resolve_service_from_manifest(service, &ctx.environment)?;
        let Some(password) = &connection.password else {
            continue;
        };
        let cluster = fleet.cluster(&ctx.manifest.servers[&connection.server])?;
        let admin = local::admin_session(&cluster, "postgres").await?;
        local::ensure_login_role(&admin, &connection.user, password, "").await?;
    }
    Ok(())
}

pub async fn up(ctx: &Context, services: &[String], format: ReportFormat) -> Result<()> {
    require_local(ctx)?;
    let _lock = lock_project(ctx)?;
    let services = ctx.services(services)?;
    let fleet = LocalFleet::new(&ctx.manifest, &ctx.environment)?;
    bring_up(ctx, &fleet, &services).await?;
    apply_access(ctx, &fleet, &services).await?;
    let report = status_report(ctx, &fleet).await?;
    output::print_report(&report, format);
    Ok(())
}

/// The dev servers named on the command line (every one when none are named); every unknown
/// name is reported at once, with the names the manifest has.
fn dev_servers<'a>(ctx: &'a Context, names: &[String]) -> Result<Vec<&'a Server>> {
    let known: Vec<&Server> = ctx
        .manifest
        .servers
        .values()
        .filter(|s| ctx.manifest.local_port(s, &ctx.environment).is_some())
        .collect();
    if names.is_empty() {
        return Ok(known);
    }
    let unknown: Vec<String> = names
        .iter()
        .filter(|n| !known.iter().any(|s| &s.name == *n))
        .map(|n| format!("`{n}`"))
        .collect();
    if !unknown.is_empty() {
        return Err(CliError::Config(format!(
            "unknown dev server {}; the manifest's dev servers are: {}",
            unknown.join(", "),
            known
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(known
        .into_iter()
        .filter(|s| names.contains(&s.name))
        .collect())
}

/// What `dev down` did to each server it was asked to stop.
#[derive(Debug, Serialize)]
pub struct DownReport {
    pub environment: String,
    pub servers: Vec<ServerStopped>,
}

#[derive(Debug, Serialize)]
pub struct ServerStopped {
    pub server: String,
    /// `stopped` (it was running) or `not running`.
    pub result: &'static str,
}

impl Report for DownReport {
    fn table(&self) -> String {
        self.servers
            .iter()
            .map(|s| format!("{}: {}", s.server, s.result))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

pub async fn down(ctx: &Context, servers: &[String], format: ReportFormat) -> Result<()> {
    require_local(ctx)?;
    let servers = dev_servers(ctx, servers)?;
    let _lock = lock_project(ctx)?;
    let fleet = LocalFleet::new(&ctx.manifest, &ctx.environment)?;
    let mut tasks = tokio::task::JoinSet::new();
    for server in servers {
        let cluster = fleet.cluster(server)?;
        let name = server.name.clone();
        tasks.spawn_blocking(move || {
            let was = cluster.status();
            let stopped = cluster.stop();
            (name, was, stopped)
        });
    }
    let mut failures = Vec::new();
    let mut report = DownReport {
        environment: ctx.environment.clone(),
        servers: Vec::new(),
    };
    while let Some(joined) = tasks.join_next().await {
        let (name, was, stopped) = joined.map_err(|e| CliError::Failed(e.to_string()))?;
        let result = match (was, stopped) {
            (_, Err(e)) => {
                failures.push(format!("server {name}: {e}"));
                continue;
            }
            (Ok(ClusterStatus::Running { .. }), Ok(())) => "stopped",
            _ => "not running",
        };
        report.servers.push(ServerStopped {
            server: name,
            result,
        });
    }
    // The servers stop in parallel; the report lists them by name, the same every run.
    report.servers.sort_by(|a, b| a.server.cmp(&b.server));
    output::print_outcome(&report, format);
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::Failed(failures.join("\n")))
    }
}

#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub environment: String,
    pub servers: Vec<ServerStatus>,
}

#[derive(Debug, Serialize)]
pub struct ServerStatus {
    pub server: String,
    pub port: u16,
    pub pid: Option<u32>,
    /// `running`, `stopped` or `not initialized`.
    pub state: String,
    pub data_dir: String,
    pub databases: Vec<DatabaseStatus>,
}

#[derive(Debug, Serialize)]
pub struct DatabaseStatus {
    pub service: String,
    /// `database` or `database.schema`.
    pub name: String,
    /// Whether it exists; unknown (null) while the server is not running.
    pub exists: Option<bool>,
}

impl Report for StatusReport {
    fn table(&self) -> String {
        let mut table = output::table(&["server", "port", "pid", "state", "databases"]);
        for s in &self.servers {
            table.add_row(vec![
                s.server.clone(),
                s.port.to_string(),
                s.pid.map(|p| p.to_string()).unwrap_or_default(),
                s.state.clone(),
                s.databases
                    .iter()
                    .map(|d| match d.exists {
                        Some(false) => format!("{} (missing)", d.name),
                        _ => d.name.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            ]);
        }
        table.to_string()
    }
}

async fn status_report(ctx: &Context, fleet: &LocalFleet) -> Result<StatusReport> {
    let mut servers = Vec::new();
    for server in ctx
        .manifest
        .servers
        .values()
        .filter(|s| ctx.manifest.local_port(s, &ctx.environment).is_some())
    {
        let cluster = fleet.cluster(server)?;
        let status = {
            let cluster = cluster.clone();
            tokio::task::spawn_blocking(move || cluster.status())
                .await
                .map_err(|e| CliError::Failed(e.to_string()))??
        };
        let placements: Vec<(&String, &Placement)> = ctx
            .manifest
            .services
            .values()
            .filter(|s| s.server == server.name)
            .map(|s| (&s.name, &s.placement))
            .collect();
        let existing = match status {
            ClusterStatus::Running { .. } => Some(existing_placements(&cluster).await?),
            _ => None,
        };
        servers.push(ServerStatus {
            server: server.name.clone(),
            port: cluster.spec().port,
            pid: match status {
                ClusterStatus::Running { pid } => Some(pid),
                _ => None,
            },
            state: match status {
                ClusterStatus::Running { .. } => "running",
                ClusterStatus::Stopped => "stopped",
                ClusterStatus::NotInitialized => "not initialized",
            }
            .to_owned(),
            data_dir: cluster.spec().data_dir.display().to_string(),
            databases: placements
                .into_iter()
                .map(|(service, placement)| {
                    let name = match placement.schema() {
                        Some(schema) => format!("{}.{schema}", placement.database()),
                        None => placement.database().to_owned(),
                    };
                    DatabaseStatus {
                        service: service.clone(),
                        exists: existing.as_ref().map(|e| e.contains(&name)),
                        name,
                    }
                })
                .collect(),
        });
    }
    Ok(StatusReport {
        environment: ctx.environment.clone(),
        servers,
    })
}

/// Every `database` and `database.schema` of a running cluster.
async fn existing_placements(cluster: &LocalCluster) -> Result<Vec<String>> {
    let admin = local::admin_session(cluster, "postgres").await?;
    let rows = admin
        .query(
            "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate",
            &[],
        )
        .await
        .map_err(|e| pg_error("listing databases", &e))?;
    let mut names = Vec::new();
    for row in rows {
        let database: String = row.get(0);
        let session = local::admin_session(cluster, &database).await?;
        let schemas = session
            .query(
                "SELECT nspname FROM pg_namespace WHERE nspname !~ '^pg_' AND nspname <> 'information_schema'",
                &[],
            )
            .await
            .map_err(|e| pg_error("listing schemas", &e))?;
        names.extend(
            schemas
                .iter()
                .map(|r| format!("{database}.{}", r.get::<_, String>(0))),
        );
        names.push(database);
    }
    Ok(names)
}

pub async fn status(ctx: &Context, format: ReportFormat) -> Result<()> {
    require_local(ctx)?;
    let fleet = LocalFleet::new(&ctx.manifest, &ctx.environment)?;
    let report = status_report(ctx, &fleet).await?;
    output::print_report(&report, format);
    Ok(())
}

/// Drops and recreates the data of `services` only: a service's database, or its schema in
/// a shared database. Other services' data is untouched.
/// What `dev reset` redid for each service.
#[derive(Debug, Serialize)]
pub struct ResetReport {
    pub environment: String,
    pub services: Vec<ServiceReset>,
}

#[derive(Debug, Serialize)]
pub struct ServiceReset {
    pub service: String,
    /// Migrations applied to the recreated database or schema.
    pub migrations: usize,
    pub seed_files: usize,
}

impl Report for ResetReport {
    fn table(&self) -> String {
        self.services
            .iter()
            .map(|s| {
                format!(
                    "{}: reset, {} migration(s) and {} seed file(s) applied",
                    s.service, s.migrations, s.seed_files
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

pub async fn reset(ctx: &Context, services: &[String], format: ReportFormat) -> Result<()> {
    require_local(ctx)?;
    let _lock = lock_project(ctx)?;
    let services = ctx.services(services)?;
    let fleet = LocalFleet::new(&ctx.manifest, &ctx.environment)?;
    let by_server = bring_up(ctx, &fleet, &services).await?;
    for (server, connections) in by_server {
        let cluster = fleet.cluster(&ctx.manifest.servers[&server])?;
        let admin = local::admin_session(&cluster, "postgres").await?;
        for connection in connections {
            match &connection.schema {
                None => {
                    admin
                        .batch_execute(&format!(
                            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                            quote_ident(&connection.database)
                        ))
                        .await
                        .map_err(|e| {
                            pg_error(&format!("dropping database {}", connection.database), &e)
                        })?;
                    local::ensure_database(&admin, &connection.database, &connection.user).await?;
                    local::ensure_statement_stats(&cluster, &connection.database, &connection.user)
                        .await?;
                }
                Some(schema) => {
                    let db = local::admin_session(&cluster, &connection.database).await?;
                    db.batch_execute(&format!(
                        "DROP SCHEMA IF EXISTS {} CASCADE",
                        quote_ident(schema)
                    ))
                    .await
                    .map_err(|e| pg_error(&format!("dropping schema {schema}"), &e))?;
                    // The shared database keeps every service's history: forget this one's.
                    pgfleet_pg::history::forget(&db, &connection.service)
                        .await
                        .map_err(|e| pg_error("forgetting the service's migration history", &e))?;
                    local::ensure_schema(&db, schema, &connection.user).await?;
                }
            }
        }
    }
    // Recreated databases get the service's roles, grants and migrations again.
    apply_access(ctx, &fleet, &services).await?;
    let mut failures = Vec::new();
    let mut report = ResetReport {
        environment: ctx.environment.clone(),
        services: Vec::new(),
    };
    for service in &services {
        let target = crate::commands::migrate::target(ctx, service)?;
        let options = crate::commands::migrate::base_options(ctx);
        match pgfleet_migrate::run(
            &target,
            pgfleet_migrate::Direction::Up { to: None },
            &options,
            &|_| {},
        )
        .await
        {
            Ok(run) => match seed_service(ctx, service).await {
                Ok(seed_files) => report.services.push(ServiceReset {
                    service: service.clone(),
                    migrations: run.steps.len(),
                    seed_files,
                }),
                Err(e) => failures.push(e.to_string()),
            },
            Err(failure) => failures.push(failure.error.to_string()),
        }
    }
    // What the migrations created gets its grants, RLS and append-only rules.
    if failures.is_empty() {
        apply_access(ctx, &fleet, &services).await?;
    }
    output::print_outcome(&report, format);
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::Failed(failures.join("\n")))
    }
}

async fn seed_service(ctx: &Context, service: &str) -> Result<usize> {
    let target = crate::commands::migrate::target(ctx, service)?;
    let files = pgfleet_migrate::source::sql_files(&ctx.manifest.services[service].seeds)
        .map_err(pgfleet_migrate::MigrateError::from)?;
    Ok(pgfleet_migrate::seed(
        &target,
        &files,
        &crate::commands::migrate::base_options(ctx),
    )
    .await?)
}

/// `dev seed`: each service's seed files, in name order, each in one transaction as the
/// service's owner. Seed files are written to be re-runnable (ON CONFLICT DO NOTHING…).
pub async fn seed(ctx: &Context, services: &[String], format: ReportFormat) -> Result<()> {
    require_local(ctx)?;
    let services = ctx.services(services)?;
    let mut report = SeedReport {
        environment: ctx.environment.clone(),
        services: Vec::new(),
    };
    for service in &services {
        match seed_service(ctx, service).await {
            Ok(seed_files) => report.services.push(ServiceSeeded {
                service: service.clone(),
                seed_files,
            }),
            Err(e) => {
                // The services seeded before the failure are still reported.
                output::print_outcome(&report, format);
                return Err(e);
            }
        }
    }
    output::print_outcome(&report, format);
    Ok(())
}

/// What `dev seed` loaded for each service.
#[derive(Debug, Serialize)]
pub struct SeedReport {
    pub environment: String,
    pub services: Vec<ServiceSeeded>,
}

#[derive(Debug, Serialize)]
pub struct ServiceSeeded {
    pub service: String,
    pub seed_files: usize,
}

impl Report for SeedReport {
    fn table(&self) -> String {
        self.services
            .iter()
            .map(|s| format!("{}: {} seed file(s) applied", s.service, s.seed_files))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Replaces this process with psql connected as the service (its exit code becomes ours).
pub fn psql(ctx: &Context, service: &str, args: &[String]) -> Result<()> {
    require_local(ctx)?;
    let connection = ctx.resolver().resolve(service, &ctx.environment)?;
    let fleet = LocalFleet::new(&ctx.manifest, &ctx.environment)?;
    let mut command = std::process::Command::new(fleet.bins().tool("psql"));
    let config = &ctx.manifest.services[service];
    for (key, mut value) in crate::commands::env::export_vars(&connection, config, true)? {
        if key == "PGOPTIONS" {
            // The caller's own options (e.g. -c app.current_user_id=…) come along.
            if let Ok(theirs) = std::env::var("PGOPTIONS") {
                value = format!("{value} {theirs}");
            }
        }
        if key.starts_with("PG") {
            command.env(key, value);
        }
    }
    command.args(args);
    use std::os::unix::process::CommandExt as _;
    let error = command.exec();
    Err(CliError::Failed(format!("could not run psql: {error}")))
}
