//! `pgfleet dev snapshot|restore|snapshots`: a named copy of a service's local data, to try a
//! migration or a seed and go back. A database-placed service's snapshot is a template copy
//! of its database (`<database>__snap_<name>`, closed to connections, described by its
//! COMMENT); a schema-placed service's is a backup part of its schema in a local store under
//! `.pgfleet/snapshots/<service>/`.

use super::dev::{apply_access, bring_up, lock_project, require_local};
use crate::cli::ReportFormat;
use crate::context::Context;
use crate::error::{CliError, Result, pg_error};
use crate::output::{self, Report};
use pgfleet_backup::{Catalog, LocalStore, Store};
use pgfleet_cluster::fleet::{self as local, LocalFleet};
use pgfleet_cluster::{ClusterStatus, LocalCluster};
use pgfleet_core::ident::{MAX_IDENTIFIER_LEN, identifier_problem, quote_ident, quote_literal};
use pgfleet_core::manifest::Service;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// What a snapshot database's COMMENT starts with; its description (JSON) follows.
const COMMENT_PREFIX: &str = "pgfleet dev snapshot ";

/// What a snapshot database's COMMENT says of it.
#[derive(Debug, Serialize, Deserialize)]
struct Description {
    service: String,
    name: String,
    created_at: String,
}

/// What `dev snapshot` or `dev restore` did.
#[derive(Debug, Serialize)]
pub struct SnapshotReport {
    pub environment: String,
    pub service: String,
    pub name: String,
    /// `database` (a template copy) or `dump` (a backup of the service's schema).
    pub kind: &'static str,
    /// The snapshot's database, or its folder.
    pub location: String,
    /// `created`, `replaced` or `restored`.
    pub result: &'static str,
    pub size_bytes: u64,
    pub duration_ms: u64,
}

impl Report for SnapshotReport {
    fn table(&self) -> String {
        let mut table = output::table(&["service", "snapshot", "kind", "where", "result", "time"]);
        table.add_row(vec![
            self.service.clone(),
            self.name.clone(),
            self.kind.to_owned(),
            self.location.clone(),
            self.result.to_owned(),
            format!("{} ms", self.duration_ms),
        ]);
        table.to_string()
    }
}

/// `dev snapshots`: every snapshot of the environment's running servers.
#[derive(Debug, Serialize)]
pub struct SnapshotsReport {
    pub environment: String,
    pub snapshots: Vec<SnapshotEntry>,
    /// Servers whose snapshot databases could not be listed because they are not running.
    pub servers_not_running: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct SnapshotEntry {
    pub name: String,
    pub service: String,
    pub kind: &'static str,
    pub size_bytes: u64,
    pub created_at: String,
    pub location: String,
}

impl Report for SnapshotsReport {
    fn table(&self) -> String {
        let mut table = output::table(&["name", "service", "kind", "size", "created"]);
        for s in &self.snapshots {
            table.add_row(vec![
                s.name.clone(),
                s.service.clone(),
                s.kind.to_owned(),
                output::human_bytes(s.size_bytes),
                s.created_at.clone(),
            ]);
        }
        let mut text = table.to_string();
        if self.snapshots.is_empty() {
            text = "no snapshots".to_owned();
        }
        for server in &self.servers_not_running {
            text.push_str(&format!(
                "\nserver {server} is not running: its snapshots are not listed"
            ));
        }
        text
    }
}

/// A snapshot's name must be an identifier: it is part of a database's name.
fn check_name(name: &str) -> Result<()> {
    match identifier_problem(name) {
        None => Ok(()),
        Some(problem) => Err(CliError::Config(format!(
            "snapshot name `{name}` {problem}\n  hint: use lowercase letters, digits and underscores"
        ))),
    }
}

/// The database holding snapshot `name` of a service whose database is `database`.
fn snapshot_database(database: &str, name: &str) -> Result<String> {
    let snapshot = format!("{database}__snap_{name}");
    if snapshot.len() > MAX_IDENTIFIER_LEN {
        return Err(CliError::Config(format!(
            "snapshot database `{snapshot}` would be {} bytes long; PostgreSQL names are at most {MAX_IDENTIFIER_LEN}\n  hint: choose a shorter snapshot name",
            snapshot.len()
        )));
    }
    Ok(snapshot)
}

/// The service, checked, and its local cluster, started (with the service's roles and
/// database) when it is not running.
async fn service_cluster<'a>(
    ctx: &'a Context,
    service: &str,
) -> Result<(&'a Service, LocalFleet, LocalCluster)> {
    let name = ctx.services(&[service.to_owned()])?.remove(0);
    let config = &ctx.manifest.services[&name];
    let fleet = LocalFleet::new(&ctx.manifest, &ctx.environment)?;
    let cluster = fleet.cluster(&ctx.manifest.servers[&config.server])?;
    if !is_running(&cluster).await? {
        bring_up(ctx, &fleet, &[name]).await?;
    }
    Ok((config, fleet, cluster))
}

async fn is_running(cluster: &LocalCluster) -> Result<bool> {
    let cluster = cluster.clone();
    Ok(matches!(
        tokio::task::spawn_blocking(move || cluster.status())
            .await
            .map_err(|e| CliError::Failed(e.to_string()))??,
        ClusterStatus::Running { .. }
    ))
}

pub async fn snapshot(
    ctx: &Context,
    service: &str,
    name: &str,
    force: bool,
    format: ReportFormat,
) -> Result<()> {
    require_local(ctx)?;
    check_name(name)?;
    let started = Instant::now();
    let _lock = lock_project(ctx)?;
    let (config, _fleet, cluster) = service_cluster(ctx, service).await?;
    let report = match config.placement.schema() {
        None => snapshot_database_copy(ctx, config, &cluster, name, force, started).await?,
        Some(_) => snapshot_dump(ctx, config, name, force, started).await?,
    };
    output::print_report(&report, format);
    Ok(())
}

/// The COMMENT of each database whose name is given, when it is a snapshot of pgfleet's.
async fn described(
    admin: &tokio_postgres::Client,
    database: &str,
) -> Result<Option<Option<Description>>> {
    Ok(database_comment(admin, database)
        .await?
        .map(|comment| comment.and_then(|c| parse_comment(&c))))
}

/// The COMMENT of `database`: `None` when there is no such database, `Some(None)` when it
/// has none.
pub(crate) async fn database_comment(
    admin: &tokio_postgres::Client,
    database: &str,
) -> Result<Option<Option<String>>> {
    let row = admin
        .query_opt(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            &[&database],
        )
        .await
        .map_err(|e| pg_error(&format!("reading the comment of database {database}"), &e))?;
    Ok(row.map(|row| row.get(0)))
}

fn parse_comment(comment: &str) -> Option<Description> {
    serde_json::from_str(comment.strip_prefix(COMMENT_PREFIX)?).ok()
}

/// `CREATE DATABASE copy TEMPLATE source`, which needs the source alone: its other sessions
/// are ended before each attempt, and a session that comes back in between (a reconnecting
/// service) costs another attempt, not the copy. The source is never closed to connections,
/// so a killed run leaves nothing to reopen.
async fn copy_database(
    admin: &tokio_postgres::Client,
    source: &str,
    copy: &str,
    owner: &str,
) -> Result<()> {
    let sql = format!(
        "CREATE DATABASE {} TEMPLATE {} OWNER {}",
        quote_ident(copy),
        quote_ident(source),
        quote_ident(owner)
    );
    let mut attempts = 0;
    loop {
        admin
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                  WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&source],
            )
            .await
            .map_err(|e| pg_error(&format!("ending the sessions of database {source}"), &e))?;
        match admin.batch_execute(&sql).await {
            Ok(()) => return Ok(()),
            Err(e)
                if e.code() == Some(&tokio_postgres::error::SqlState::OBJECT_IN_USE)
                    && attempts < 50 =>
            {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => {
                return Err(pg_error(
                    &format!("copying database {source} into {copy}"),
                    &e,
                ));
            }
        }
    }
}

async fn database_owner(admin: &tokio_postgres::Client, database: &str) -> Result<Option<String>> {
    Ok(admin
        .query_opt(
            "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = $1",
            &[&database],
        )
        .await
        .map_err(|e| pg_error("reading databases", &e))?
        .map(|row| row.get(0)))
}

async fn database_size(admin: &tokio_postgres::Client, database: &str) -> Result<u64> {
    let size: i64 = admin
        .query_one(
            "SELECT pg_database_size(oid) FROM pg_database WHERE datname = $1",
            &[&database],
        )
        .await
        .map_err(|e| pg_error("reading a database's size", &e))?
        .get(0);
    Ok(u64::try_from(size).unwrap_or(0))
}

/// The databases of the manifest's services on `server`: no snapshot may take one's name.
fn check_not_a_service_database(ctx: &Context, server: &str, database: &str) -> Result<()> {
    if let Some(owner) = ctx
        .manifest
        .services
        .values()
        .find(|s| s.server == server && s.placement.database() == database)
    {
        return Err(CliError::Config(format!(
            "database `{database}` is service `{}`'s own, so it cannot hold a snapshot\n  hint: choose another snapshot name",
            owner.name
        )));
    }
    Ok(())
}

async fn snapshot_database_copy(
    ctx: &Context,
    config: &Service,
    cluster: &LocalCluster,
    name: &str,
    force: bool,
    started: Instant,
) -> Result<SnapshotReport> {
    let database = config.placement.database();
    let snapshot = snapshot_database(database, name)?;
    check_not_a_service_database(ctx, &config.server, &snapshot)?;
    let admin = local::admin_session(cluster, "postgres").await?;
    let Some(owner) = database_owner(&admin, database).await? else {
        return Err(CliError::Failed(format!(
            "service `{}` has no database `{database}` to snapshot\n  hint: run `pgfleet dev up {}`",
            config.name, config.name
        )));
    };
    let result = match described(&admin, &snapshot).await? {
        None => "created",
        Some(Some(existing)) if existing.service == config.name => {
            if !force {
                return Err(CliError::Failed(format!(
                    "service `{}` already has a snapshot `{name}` (taken {})\n  hint: pass --force to replace it, or choose another name",
                    config.name, existing.created_at
                )));
            }
            drop_database(&admin, &snapshot).await?;
            "replaced"
        }
        Some(_) => {
            return Err(CliError::Failed(format!(
                "database `{snapshot}` exists and is not a snapshot of service `{}`\n  hint: choose another snapshot name",
                config.name
            )));
        }
    };
    copy_database(&admin, database, &snapshot, &owner).await?;
    let created_at: String = admin
        .query_one(
            "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
            &[],
        )
        .await
        .map_err(|e| pg_error("reading the server's time", &e))?
        .get(0);
    let description = Description {
        service: config.name.clone(),
        name: name.to_owned(),
        created_at,
    };
    let comment = format!(
        "{COMMENT_PREFIX}{}",
        serde_json::to_string(&description).unwrap_or_default()
    );
    // Closed to connections: nobody changes a snapshot by mistake, and a restore's copy of it
    // never waits for a session in it.
    let quoted = quote_ident(&snapshot);
    admin
        .batch_execute(&format!(
            "COMMENT ON DATABASE {quoted} IS {};
             ALTER DATABASE {quoted} WITH ALLOW_CONNECTIONS false",
            quote_literal(&comment)
        ))
        .await
        .map_err(|e| pg_error(&format!("describing snapshot {snapshot}"), &e))?;
    Ok(SnapshotReport {
        environment: ctx.environment.clone(),
        service: config.name.clone(),
        name: name.to_owned(),
        kind: "database",
        size_bytes: database_size(&admin, &snapshot).await?,
        location: snapshot,
        result,
        duration_ms: elapsed_ms(started),
    })
}

async fn drop_database(admin: &tokio_postgres::Client, database: &str) -> Result<()> {
    admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(database)
        ))
        .await
        .map_err(|e| pg_error(&format!("dropping database {database}"), &e))
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

pub async fn restore(ctx: &Context, service: &str, name: &str, format: ReportFormat) -> Result<()> {
    require_local(ctx)?;
    check_name(name)?;
    let started = Instant::now();
    let _lock = lock_project(ctx)?;
    let (config, fleet, cluster) = service_cluster(ctx, service).await?;
    let report = match config.placement.schema() {
        None => restore_database_copy(ctx, config, &fleet, &cluster, name, started).await?,
        Some(_) => restore_dump(ctx, config, name, started).await?,
    };
    output::print_report(&report, format);
    Ok(())
}

/// The snapshot is copied beside the live database first, so a failed copy leaves the live
/// one as it was; then the live one is dropped (its sessions ended) and the copy renamed.
async fn restore_database_copy(
    ctx: &Context,
    config: &Service,
    fleet: &LocalFleet,
    cluster: &LocalCluster,
    name: &str,
    started: Instant,
) -> Result<SnapshotReport> {
    let database = config.placement.database();
    let snapshot = snapshot_database(database, name)?;
    let admin = local::admin_session(cluster, "postgres").await?;
    match described(&admin, &snapshot).await? {
        Some(Some(description)) if description.service == config.name => {}
        _ => {
            return Err(CliError::Failed(format!(
                "service `{}` has no snapshot `{name}`\n  hint: `pgfleet dev snapshots {}` lists its snapshots",
                config.name, config.name
            )));
        }
    }
    let owner = match database_owner(&admin, database).await? {
        Some(owner) => owner,
        None => {
            ctx.resolver()
                .resolve_admin(&config.name, &ctx.environment)?
                .user
        }
    };
    // A name of pgfleet's own, short whatever the database's length.
    let oid: u32 = admin
        .query_one(
            "SELECT oid FROM pg_database WHERE datname = $1",
            &[&snapshot],
        )
        .await
        .map_err(|e| pg_error("reading databases", &e))?
        .get(0);
    let incoming = format!("pgfleet_restoring_{oid}");
    drop_database(&admin, &incoming).await?;
    copy_database(&admin, &snapshot, &incoming, &owner).await?;
    drop_database(&admin, database).await?;
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {} RENAME TO {}",
            quote_ident(&incoming),
            quote_ident(database)
        ))
        .await
        .map_err(|e| pg_error(&format!("renaming the restored copy to {database}"), &e))?;
    // A copy has the contents, not the database's own grants and settings: those are the
    // manifest's, applied again.
    apply_access(ctx, fleet, std::slice::from_ref(&config.name)).await?;
    Ok(SnapshotReport {
        environment: ctx.environment.clone(),
        service: config.name.clone(),
        name: name.to_owned(),
        kind: "database",
        size_bytes: database_size(&admin, database).await?,
        location: snapshot,
        result: "restored",
        duration_ms: elapsed_ms(started),
    })
}

pub async fn list(ctx: &Context, service: Option<&str>, format: ReportFormat) -> Result<()> {
    require_local(ctx)?;
    let only = match service {
        Some(service) => Some(ctx.services(&[service.to_owned()])?.remove(0)),
        None => None,
    };
    let fleet = LocalFleet::new(&ctx.manifest, &ctx.environment)?;
    let mut report = SnapshotsReport {
        environment: ctx.environment.clone(),
        snapshots: Vec::new(),
        servers_not_running: Vec::new(),
    };
    let servers: Vec<&String> = {
        let mut servers: Vec<&String> = ctx
            .manifest
            .services
            .values()
            .filter(|s| only.as_ref().is_none_or(|o| *o == s.name))
            .filter(|s| s.placement.schema().is_none())
            .map(|s| &s.server)
            .collect();
        servers.sort();
        servers.dedup();
        servers
    };
    for server in servers {
        let cluster = fleet.cluster(&ctx.manifest.servers[server])?;
        if !is_running(&cluster).await? {
            report.servers_not_running.push(server.clone());
            continue;
        }
        let admin = local::admin_session(&cluster, "postgres").await?;
        let rows = admin
            .query(
                "SELECT datname::text, shobj_description(oid, 'pg_database'), pg_database_size(oid)
                   FROM pg_database
                  WHERE shobj_description(oid, 'pg_database') LIKE $1
                  ORDER BY datname",
                &[&format!("{COMMENT_PREFIX}%")],
            )
            .await
            .map_err(|e| pg_error("listing snapshot databases", &e))?;
        for row in rows {
            let Some(description) = row
                .get::<_, Option<String>>(1)
                .and_then(|c| parse_comment(&c))
            else {
                continue;
            };
            let Some(owner) = ctx.manifest.services.get(&description.service) else {
                continue;
            };
            if owner.server != *server || only.as_ref().is_some_and(|o| *o != owner.name) {
                continue;
            }
            report.snapshots.push(SnapshotEntry {
                name: description.name,
                service: description.service,
                kind: "database",
                size_bytes: u64::try_from(row.get::<_, i64>(2)).unwrap_or(0),
                created_at: description.created_at,
                location: row.get(0),
            });
        }
    }
    for config in
        ctx.manifest.services.values().filter(|s| {
            s.placement.schema().is_some() && only.as_ref().is_none_or(|o| *o == s.name)
        })
    {
        report
            .snapshots
            .extend(dump_snapshots(ctx, &config.name).await?);
    }
    report
        .snapshots
        .sort_by(|a, b| (&a.service, &a.name).cmp(&(&b.service, &b.name)));
    output::print_report(&report, format);
    Ok(())
}

/// Where the dump snapshots of `service` live: `.pgfleet/snapshots/<service>/<name>/`, each a
/// local backup store holding one backup of the service (a testing environment's under
/// `.pgfleet/testing/`, beside its clusters).
fn dump_snapshots_dir(ctx: &Context, service: &str) -> std::path::PathBuf {
    let state = ctx.manifest.state_dir();
    let base = if ctx.manifest.is_testing(&ctx.environment) {
        state.join("testing")
    } else {
        state
    };
    base.join("snapshots").join(service)
}

/// The one backup of the dump snapshot in `dir`, if there is one.
async fn dump_snapshot_catalog(dir: &std::path::Path) -> Result<Option<(Store, Catalog)>> {
    let store = Store::Local(LocalStore::new(dir.to_path_buf()));
    let Some(id) = store.list().await?.pop() else {
        return Ok(None);
    };
    let catalog = store.read_catalog(&id).await?;
    Ok(Some((store, catalog)))
}

async fn snapshot_dump(
    ctx: &Context,
    config: &Service,
    name: &str,
    force: bool,
    started: Instant,
) -> Result<SnapshotReport> {
    let dir = dump_snapshots_dir(ctx, &config.name);
    let final_dir = dir.join(name);
    let existing = dump_snapshot_catalog(&final_dir).await?;
    if let Some((_, catalog)) = &existing
        && !force
    {
        return Err(CliError::Failed(format!(
            "service `{}` already has a snapshot `{name}` (taken {})\n  hint: pass --force to replace it, or choose another name",
            config.name,
            catalog.finished_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        )));
    }
    // Written beside the old one, which is replaced only once the new one is complete.
    let incoming = dir.join(format!(".{name}.incoming"));
    let _ = std::fs::remove_dir_all(&incoming);
    let store = Store::Local(LocalStore::new(incoming.clone()));
    let resolver = ctx.resolver();
    let request = pgfleet_backup::CreateRequest {
        manifest: &ctx.manifest,
        resolver: &resolver,
        environment: &ctx.environment,
        selection: pgfleet_backup::Selection::Services(vec![config.name.clone()]),
        connect_timeout: ctx.connect_timeout,
    };
    let catalogs = pgfleet_backup::create(&request, &store, std::sync::Arc::new(|_| {})).await?;
    let part = catalogs
        .first()
        .and_then(|c| c.services.first())
        .cloned()
        .ok_or_else(|| CliError::Failed("the snapshot's dump wrote nothing".to_owned()))?;
    if let pgfleet_backup::PartStatus::Failed { error } = &part.status {
        let _ = std::fs::remove_dir_all(&incoming);
        return Err(CliError::Failed(format!(
            "the snapshot of `{}` failed: {error}",
            config.name
        )));
    }
    let io = |e: std::io::Error| {
        CliError::Failed(format!("cannot replace {}: {e}", final_dir.display()))
    };
    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir).map_err(io)?;
    }
    std::fs::rename(&incoming, &final_dir).map_err(io)?;
    Ok(SnapshotReport {
        environment: ctx.environment.clone(),
        service: config.name.clone(),
        name: name.to_owned(),
        kind: "dump",
        location: final_dir.display().to_string(),
        result: if existing.is_some() {
            "replaced"
        } else {
            "created"
        },
        size_bytes: part.bytes,
        duration_ms: elapsed_ms(started),
    })
}

/// The dump put back over the service's schema (its history rows with it), whatever its
/// migration version: going back is what a snapshot is for.
async fn restore_dump(
    ctx: &Context,
    config: &Service,
    name: &str,
    started: Instant,
) -> Result<SnapshotReport> {
    let dir = dump_snapshots_dir(ctx, &config.name).join(name);
    let Some((store, catalog)) = dump_snapshot_catalog(&dir).await? else {
        return Err(CliError::Failed(format!(
            "service `{}` has no snapshot `{name}`\n  hint: `pgfleet dev snapshots {}` lists its snapshots",
            config.name, config.name
        )));
    };
    let scratch = dir.join(".scratch");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)
        .map_err(|e| CliError::Failed(format!("cannot create {}: {e}", scratch.display())))?;
    let request = pgfleet_backup::restore::RestoreRequest {
        store: &store,
        catalog: &catalog,
        service: &config.name,
        environment: &ctx.environment,
        target: super::backup_restore::restore_login(ctx, &config.name)?,
        mode: pgfleet_backup::restore::Mode::Replace { allow_older: true },
        session_roles: vec![
            config.access.runtime_role.clone(),
            config.access.migration_role.clone(),
        ],
        jobs: ctx.manifest.backup.dump_jobs,
        connect_timeout: ctx.connect_timeout,
        scratch: &scratch,
        // A dev snapshot is never encrypted.
        opener: std::sync::Arc::new(pgfleet_backup::Opener::plain()),
    };
    let restored = pgfleet_backup::restore::restore(&request, &|_| {}).await;
    let _ = std::fs::remove_dir_all(&scratch);
    restored?;
    let size_bytes = pgfleet_backup::restore::part_of(&catalog, &config.name)?.bytes;
    Ok(SnapshotReport {
        environment: ctx.environment.clone(),
        service: config.name.clone(),
        name: name.to_owned(),
        kind: "dump",
        location: dir.display().to_string(),
        result: "restored",
        size_bytes,
        duration_ms: elapsed_ms(started),
    })
}

async fn dump_snapshots(ctx: &Context, service: &str) -> Result<Vec<SnapshotEntry>> {
    let dir = dump_snapshots_dir(ctx, service);
    let mut entries = Vec::new();
    let Ok(names) = std::fs::read_dir(&dir) else {
        return Ok(entries);
    };
    for entry in names.filter_map(|e| e.ok()) {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let Some((_, catalog)) = dump_snapshot_catalog(&entry.path()).await? else {
            continue;
        };
        let Ok(part) = pgfleet_backup::restore::part_of(&catalog, service) else {
            continue;
        };
        entries.push(SnapshotEntry {
            name,
            service: service.to_owned(),
            kind: "dump",
            size_bytes: part.bytes,
            created_at: catalog
                .finished_at
                .strftime("%Y-%m-%dT%H:%M:%SZ")
                .to_string(),
            location: entry.path().display().to_string(),
        });
    }
    Ok(entries)
}
