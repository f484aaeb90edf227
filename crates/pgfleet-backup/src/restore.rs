//! Restoring one service part of a backup: every file fetched and checked against its
//! SHA-256, opened into a scratch folder, the roles it names checked on the target server,
//! then `pg_restore` (directory format, parallel jobs) into the target database, owners and
//! privileges kept. A database-placed part gets a database of its own (its database-level
//! grants and settings too); a schema-placed part goes into a database with the extensions
//! its catalog lists, followed by the service's rows of the migration history.

use crate::catalog::{Catalog, FileEntry, ServicePart};
use crate::dump::{DUMP_DIR, HISTORY_COLUMNS, HISTORY_FILE};
use crate::{BackupError, Opener, Store, open_file_checked};
use pgfleet_cluster::PgBinaries;
use pgfleet_cluster::dump::client_command;
use pgfleet_core::Connection;
use pgfleet_core::ident::{MAX_IDENTIFIER_LEN, quote_ident};
use pgfleet_pg::history::{AuditEntry, AuditResult};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The database a restore connects to for `CREATE DATABASE` and `DROP DATABASE`.
const MAINTENANCE_DATABASE: &str = "postgres";

/// What a restore does to what is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Into a database (or schema) that does not exist yet.
    New,
    /// Over the live database or schema: refused when the live migration version is newer
    /// than the backup's, unless `allow_older`.
    Replace { allow_older: bool },
}

/// What `restore` is asked to do.
#[derive(Debug)]
pub struct RestoreRequest<'a> {
    pub store: &'a Store,
    pub catalog: &'a Catalog,
    pub service: &'a str,
    /// The environment, for the audit row.
    pub environment: &'a str,
    /// pgfleet's login on the target server; its `database` is the database to restore into.
    pub target: Connection,
    pub mode: Mode,
    /// Roles whose sessions in the target are ended before a replace (the service's logins).
    pub session_roles: Vec<String>,
    /// `pg_restore --jobs`.
    pub jobs: u32,
    pub connect_timeout: Duration,
    /// A private folder for the opened files, removed by the caller.
    pub scratch: &'a Path,
    /// The environment's age identities, for an encrypted backup.
    pub opener: Arc<Opener>,
}

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub backup: String,
    pub service: String,
    pub server: String,
    pub database: String,
    pub schema: Option<String>,
    /// The backup's migration version of the service.
    pub migration_version: Option<String>,
    /// The live version a replace restored over (`None`: nothing was there).
    pub replaced_version: Option<String>,
    pub replaced: bool,
    pub duration_ms: u64,
    /// Why the audit row could not be written, if so.
    pub audit_problem: Option<String>,
}

/// Progress of a restore or a verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RestoreEvent {
    /// `done` of `total` files fetched and checked.
    Checking { done: usize, total: usize },
    /// pg_restore is running.
    Restoring { into: String },
    /// Counting rows and reading the version of the restored copy (verify).
    Comparing,
}

/// The service's complete part of `catalog`, or why there is none (or why it cannot be read).
pub fn part_of<'a>(catalog: &'a Catalog, service: &str) -> Result<&'a ServicePart, BackupError> {
    catalog
        .usable_parts()
        .find(|p| p.service == service)
        .ok_or_else(|| BackupError::NoPart {
            backup: catalog.id.clone(),
            service: service.to_owned(),
        })
}

/// Every file of `part` fetched, checked against the catalog and opened into `scratch/open/`
/// as pg_dump wrote it, in one pass over its bytes, several files at once; returns that folder
/// and every file that is missing or whose bytes are not the ones the catalog hashed
/// (`<path>: <why>`).
pub async fn fetch_and_open(
    store: &Store,
    backup: &str,
    part: &ServicePart,
    scratch: &Path,
    opener: &Arc<Opener>,
    progress: &(dyn Fn(&RestoreEvent) + Send + Sync),
) -> Result<(PathBuf, Vec<String>), BackupError> {
    use futures_util::StreamExt as _;
    let root = scratch.join("open");
    let total = part.files.len();
    let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
    progress(&RestoreEvent::Checking { done: 0, total });
    let mut checks = futures_util::stream::iter(part.files.iter())
        .map(|file| check_and_open(store, backup, file, scratch, &root, opener.clone()))
        .buffer_unordered(parallel);
    let mut problems = Vec::new();
    let mut done = 0;
    while let Some(checked) = checks.next().await {
        if let Some(problem) = checked? {
            problems.push(problem);
        }
        done += 1;
        progress(&RestoreEvent::Checking { done, total });
    }
    drop(checks);
    problems.sort();
    Ok((root, problems))
}

/// One file: `None` when it is what the catalog says, else why not.
async fn check_and_open(
    store: &Store,
    backup: &str,
    file: &FileEntry,
    scratch: &Path,
    root: &Path,
    opener: Arc<Opener>,
) -> Result<Option<String>, BackupError> {
    let missing = || Ok(Some(format!("{}: missing", file.path)));
    let stored = match store.local_copy(backup, &file.path, scratch).await {
        Ok(path) => path,
        Err(BackupError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return missing();
        }
        Err(e) => return Err(e),
    };
    let relative = file.path.strip_suffix(".zst").unwrap_or(&file.path);
    let dest = root.join(relative);
    let checked = tokio::task::spawn_blocking(move || {
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| BackupError::io(format!("creating {}", dir.display()), e))?;
        }
        open_file_checked(&stored, &dest, &opener)
    })
    .await
    .map_err(|e| BackupError::Task(format!("opening the backup's files stopped: {e}")))?;
    match checked {
        Ok((bytes, _, _)) if bytes != file.bytes => Ok(Some(format!(
            "{}: changed ({bytes} bytes, the catalog says {})",
            file.path, file.bytes
        ))),
        Ok((_, sha256, _)) if sha256 != file.sha256 => Ok(Some(format!(
            "{}: changed (its SHA-256 is not the catalog's)",
            file.path
        ))),
        // The stored bytes are the catalog's: a key that does not open them is no damage.
        Ok((_, _, Err(e @ BackupError::Decrypt { .. }))) => Err(e),
        Ok((_, _, Err(why))) => Ok(Some(format!("{}: does not open: {why}", file.path))),
        Ok((_, _, Ok(_))) => Ok(None),
        Err(BackupError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            missing()
        }
        Err(e) => Err(e),
    }
}

/// What the dump's SQL says of the roles and the database.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct DumpScript {
    /// Every role the dump names as an owner or a grantee.
    pub roles: BTreeSet<String>,
    /// The database-level statements (`ALTER DATABASE`, `COMMENT ON DATABASE`, grants on the
    /// database, `ALTER ROLE … IN DATABASE`), as pg_dump wrote them for `database`.
    pub database_statements: Vec<String>,
}

/// Reads `pg_restore --create --schema-only` output (no server involved).
pub(crate) fn read_script(script: &str) -> DumpScript {
    let mut out = DumpScript::default();
    for line in script.lines() {
        let line = line.trim_end();
        if line.starts_with("--") || line.starts_with('\\') || !line.ends_with(';') {
            continue;
        }
        let body = &line[..line.len() - 1];
        if let Some((_, owner)) = body.rsplit_once(" OWNER TO ") {
            out.roles.extend(identifiers(owner));
        }
        let grant = body.starts_with("GRANT ")
            || body.starts_with("ALTER DEFAULT PRIVILEGES ") && body.contains(" GRANT ");
        if grant && let Some((_, grantees)) = body.rsplit_once(" TO ") {
            let grantees = grantees
                .split(" WITH GRANT OPTION")
                .next()
                .unwrap_or(grantees);
            let grantees = grantees.split(" GRANTED BY ").next().unwrap_or(grantees);
            out.roles.extend(identifiers(grantees));
        }
        if let Some(rest) = body.strip_prefix("ALTER DEFAULT PRIVILEGES FOR ROLE ") {
            out.roles
                .extend(identifiers(rest.split(' ').next().unwrap_or_default()));
        }
        let on_database = body.starts_with("ALTER DATABASE ")
            || body.starts_with("COMMENT ON DATABASE ")
            || body.starts_with("SECURITY LABEL ") && body.contains(" ON DATABASE ")
            || (body.starts_with("GRANT ") || body.starts_with("REVOKE "))
                && body.contains(" ON DATABASE ")
            || body.starts_with("ALTER ROLE ") && body.contains(" IN DATABASE ");
        if on_database && !body.contains("CREATE DATABASE") {
            out.database_statements.push(line.to_owned());
        }
        if let Some(rest) = body.strip_prefix("ALTER ROLE ")
            && body.contains(" IN DATABASE ")
        {
            out.roles
                .extend(identifiers(rest.split(' ').next().unwrap_or_default()));
        }
    }
    out.roles.remove("PUBLIC");
    out
}

/// The identifiers of a comma-separated list as pg_dump writes them (quoted when needed).
fn identifiers(list: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = list.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                current.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => names.push(std::mem::take(&mut current)),
            ' ' if !quoted => {}
            other => current.push(other),
        }
    }
    names.push(current);
    names.retain(|n| !n.is_empty());
    names
}

/// `statement` (for database `from`) made to act on database `to`.
fn retarget(statement: &str, from: &str, to: &str) -> String {
    let target = format!(" DATABASE {}", quote_ident(to));
    for spelled in [quote_ident(from), from.to_owned()] {
        for end in [" ", ";"] {
            let needle = format!(" DATABASE {spelled}{end}");
            if let Some(at) = statement.find(&needle) {
                return format!(
                    "{}{target}{end}{}",
                    &statement[..at],
                    &statement[at + needle.len()..]
                );
            }
        }
    }
    statement.to_owned()
}

/// The SQL of the part's dump, as pg_restore would run it with `--create`, schema only.
async fn dump_script(
    bins: &PgBinaries,
    connection: &Connection,
    dump_dir: &Path,
) -> Result<DumpScript, BackupError> {
    let args = vec![
        "--create".to_owned(),
        "--schema-only".to_owned(),
        "--file=-".to_owned(),
        dump_dir.display().to_string(),
    ];
    let command = client_command(bins, "pg_restore", connection, "pgfleet restore", &args)?;
    let stdout = tokio::task::spawn_blocking(move || command.output())
        .await
        .map_err(|e| BackupError::Task(format!("pg_restore stopped: {e}")))??;
    Ok(read_script(&String::from_utf8_lossy(&stdout)))
}

/// The roles the dump names that the target server does not have.
async fn missing_roles(
    client: &tokio_postgres::Client,
    script: &DumpScript,
) -> Result<Vec<String>, BackupError> {
    let wanted: Vec<String> = script.roles.iter().cloned().collect();
    let rows = client
        .query(
            "SELECT w FROM unnest($1::text[]) AS w
              WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = w) ORDER BY 1",
            &[&wanted],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The service's migration version in the database `client` is on (`None`: no history).
pub(crate) async fn migration_version(
    client: &tokio_postgres::Client,
    service: &str,
) -> Result<Option<i64>, BackupError> {
    Ok(pgfleet_pg::history::read(client, service)
        .await?
        .iter()
        .filter(|a| !a.dirty)
        .map(|a| a.version)
        .max())
}

/// `pg_restore` of the part's dump into `connection`'s database, stopping at the first error.
async fn run_pg_restore(
    bins: &PgBinaries,
    connection: &Connection,
    dump_dir: &Path,
    jobs: u32,
) -> Result<(), BackupError> {
    let args = vec![
        "--format=directory".to_owned(),
        format!("--jobs={}", jobs.max(1)),
        "--exit-on-error".to_owned(),
        format!("--dbname={}", connection.database),
        dump_dir.display().to_string(),
    ];
    let command = client_command(bins, "pg_restore", connection, "pgfleet restore", &args)?;
    tokio::task::spawn_blocking(move || command.output())
        .await
        .map_err(|e| BackupError::Task(format!("pg_restore stopped: {e}")))??;
    Ok(())
}

fn with_database(connection: &Connection, database: &str) -> Connection {
    let mut connection = connection.clone();
    connection.database = database.to_owned();
    connection
}

/// A database name for a copy: `<database>_<suffix>`, the database's part shortened so the
/// whole fits PostgreSQL's limit.
pub fn derived_name(database: &str, suffix: &str) -> String {
    let room = MAX_IDENTIFIER_LEN.saturating_sub(suffix.len() + 1);
    let mut base = database.to_owned();
    while base.len() > room {
        base.pop();
    }
    format!("{base}_{suffix}")
}

async fn database_exists(
    client: &tokio_postgres::Client,
    database: &str,
) -> Result<bool, BackupError> {
    Ok(client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&database])
        .await?
        .is_some())
}

/// Drops `database` of `connection`'s server (its sessions ended), through the maintenance
/// database.
pub(crate) async fn drop_database_of(
    connection: &Connection,
    database: &str,
    connect_timeout: Duration,
) -> Result<(), BackupError> {
    let maintenance = with_database(connection, MAINTENANCE_DATABASE);
    let client = pgfleet_pg::connect(&maintenance, "restore", connect_timeout).await?;
    drop_database(&client, database).await
}

async fn drop_database(client: &tokio_postgres::Client, database: &str) -> Result<(), BackupError> {
    client
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(database)
        ))
        .await?;
    Ok(())
}

/// How restores run the tools.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tools<'a> {
    pub bins: &'a PgBinaries,
    /// `pg_restore --jobs`.
    pub jobs: u32,
    pub connect_timeout: Duration,
}

/// The part restored into database `database` (created here, dropped again if anything
/// fails), with the dump's database-level statements.
pub(crate) async fn restore_into_new_database(
    tools: &Tools<'_>,
    admin: &Connection,
    part: &ServicePart,
    dump_root: &Path,
    database: &str,
    progress: &(dyn Fn(&RestoreEvent) + Send + Sync),
) -> Result<(), BackupError> {
    let Tools {
        bins,
        jobs,
        connect_timeout,
    } = *tools;
    let maintenance = with_database(admin, MAINTENANCE_DATABASE);
    let server = pgfleet_pg::connect(&maintenance, "restore", connect_timeout).await?;
    let dump_dir = dump_root.join(&part.service).join(DUMP_DIR);
    let script = dump_script(bins, &maintenance, &dump_dir).await?;
    let missing = missing_roles(&server, &script).await?;
    if !missing.is_empty() {
        return Err(BackupError::MissingRoles {
            server: admin.server.clone(),
            roles: missing,
        });
    }
    if database_exists(&server, database).await? {
        return Err(BackupError::Exists(format!(
            "database `{database}` already exists on server `{}`",
            admin.server
        )));
    }
    server
        .batch_execute(&format!(
            "CREATE DATABASE {} TEMPLATE template0",
            quote_ident(database)
        ))
        .await?;
    let target = with_database(admin, database);
    let result = async {
        progress(&RestoreEvent::Restoring {
            into: database.to_owned(),
        });
        match &part.schema {
            None => {
                run_pg_restore(bins, &target, &dump_dir, jobs).await?;
                for statement in &script.database_statements {
                    server
                        .batch_execute(&retarget(statement, &part.database, database))
                        .await?;
                }
            }
            Some(_) => {
                restore_schema_part(bins, &target, part, dump_root, jobs, connect_timeout).await?;
            }
        }
        Ok::<_, BackupError>(())
    }
    .await;
    if result.is_err() {
        let _ = drop_database(&server, database).await;
    }
    result
}

/// A schema-placed part into `target`'s database, which exists: the catalog's extensions,
/// the schema (which must not exist), then the service's history rows in place of any it has.
async fn restore_schema_part(
    bins: &PgBinaries,
    target: &Connection,
    part: &ServicePart,
    dump_root: &Path,
    jobs: u32,
    connect_timeout: Duration,
) -> Result<(), BackupError> {
    let Some(schema) = &part.schema else {
        return Err(BackupError::Unsupported(format!(
            "the part of `{}` holds a whole database, not a schema",
            part.service
        )));
    };
    let client = pgfleet_pg::connect(target, "restore", connect_timeout).await?;
    let exists = client
        .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[schema])
        .await?
        .is_some();
    if exists {
        return Err(BackupError::Exists(format!(
            "schema `{schema}` already exists in database `{}`",
            target.database
        )));
    }
    for extension in &part.extensions {
        if extension.schema == *schema {
            return Err(BackupError::Unsupported(format!(
                "extension `{}` lives in the service's own schema `{schema}`, which a schema backup cannot recreate it in",
                extension.name
            )));
        }
        client
            .batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {s}; CREATE EXTENSION IF NOT EXISTS {e} SCHEMA {s}",
                s = quote_ident(&extension.schema),
                e = quote_ident(&extension.name),
            ))
            .await?;
    }
    let dump_dir = dump_root.join(&part.service).join(DUMP_DIR);
    run_pg_restore(bins, target, &dump_dir, jobs).await?;
    let history = dump_root
        .join(&part.service)
        .join(HISTORY_FILE.strip_suffix(".zst").unwrap_or(HISTORY_FILE));
    put_history(&client, &part.service, &history).await
}

/// The service's history rows as the backup holds them, in place of the database's, in one
/// transaction (none when the backup has no history file).
async fn put_history(
    client: &tokio_postgres::Client,
    service: &str,
    file: &Path,
) -> Result<(), BackupError> {
    use futures_util::SinkExt as _;
    pgfleet_pg::history::ensure_tables(client).await?;
    let rows = match std::fs::read(file) {
        Ok(rows) => Some(rows),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(BackupError::io(format!("reading {}", file.display()), e)),
    };
    client.batch_execute("BEGIN").await?;
    let result = async {
        for table in ["pgfleet.migrations", "pgfleet.repeatables"] {
            client
                .execute(
                    &format!("DELETE FROM {table} WHERE service = $1"),
                    &[&service],
                )
                .await?;
        }
        if let Some(rows) = rows {
            let sql = format!(
                "COPY pgfleet.migrations ({}) FROM STDIN",
                HISTORY_COLUMNS.join(", ")
            );
            let sink = client
                .copy_in::<_, std::io::Cursor<Vec<u8>>>(sql.as_str())
                .await?;
            let mut sink = std::pin::pin!(sink);
            sink.send(std::io::Cursor::new(rows)).await?;
            sink.as_mut().finish().await?;
        }
        Ok::<_, BackupError>(())
    }
    .await;
    match result {
        Ok(()) => {
            client.batch_execute("COMMIT").await?;
            Ok(())
        }
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

/// Fetches, checks and opens the part's files: a missing or changed file fails, naming each.
async fn fetch_part(
    request: &RestoreRequest<'_>,
    part: &ServicePart,
    progress: &(dyn Fn(&RestoreEvent) + Send + Sync),
) -> Result<PathBuf, BackupError> {
    let (root, problems) = fetch_and_open(
        request.store,
        &request.catalog.id,
        part,
        request.scratch,
        &request.opener,
        progress,
    )
    .await?;
    if !problems.is_empty() {
        return Err(BackupError::Corrupt {
            backup: request.catalog.id.clone(),
            problems,
        });
    }
    Ok(root)
}

/// Restores the request's service. The files are checked before anything on the server
/// changes; a replace proves the backup restores beside the live data before it takes its
/// place.
pub async fn restore(
    request: &RestoreRequest<'_>,
    progress: &(dyn Fn(&RestoreEvent) + Send + Sync),
) -> Result<Restored, BackupError> {
    let started = Instant::now();
    let part = part_of(request.catalog, request.service)?;
    let bins = PgBinaries::discover()?;
    let tools = Tools {
        bins: &bins,
        jobs: request.jobs,
        connect_timeout: request.connect_timeout,
    };
    let target = &request.target;
    let backup_version = part
        .migration_version
        .as_deref()
        .and_then(|v| v.parse::<i64>().ok());
    let maintenance = with_database(target, MAINTENANCE_DATABASE);
    let server = pgfleet_pg::connect(&maintenance, "restore", request.connect_timeout).await?;
    let live_exists = database_exists(&server, &target.database).await?;

    // What is live, and whether a replace may go over it.
    let mut replaced_version = None;
    if let Mode::Replace { allow_older } = request.mode
        && live_exists
    {
        let live = pgfleet_pg::connect(target, "restore", request.connect_timeout).await?;
        let schema_there = match &part.schema {
            Some(schema) => live
                .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[schema])
                .await?
                .is_some(),
            None => true,
        };
        if schema_there {
            let version = migration_version(&live, request.service).await?;
            if let Some(live_version) = version
                && backup_version.is_none_or(|b| live_version > b)
                && !allow_older
            {
                return Err(BackupError::NewerLive {
                    service: request.service.to_owned(),
                    live: live_version.to_string(),
                    backup: part
                        .migration_version
                        .clone()
                        .unwrap_or_else(|| "none".to_owned()),
                });
            }
            replaced_version = Some(version.map_or_else(|| "none".to_owned(), |v| v.to_string()));
        }
    }
    let replacing = replaced_version.is_some();

    let dump_root = fetch_part(request, part, progress).await?;
    match (&part.schema, replacing) {
        (None, false) => {
            restore_into_new_database(&tools, target, part, &dump_root, &target.database, progress)
                .await?;
        }
        (None, true) => {
            // Restored beside the live database first; only then does it take its place.
            let stamp = jiff::Timestamp::now().strftime("%Y%m%d%H%M%S").to_string();
            let incoming = derived_name(&target.database, &format!("incoming_{stamp}"));
            restore_into_new_database(&tools, target, part, &dump_root, &incoming, progress)
                .await?;
            // The dump's database-level statements named the incoming copy; the renamed
            // database keeps them. The live audit log outlives the data it describes.
            carry_audit_log(target, &incoming, request.connect_timeout).await?;
            drop_database(&server, &target.database).await?;
            server
                .batch_execute(&format!(
                    "ALTER DATABASE {} RENAME TO {}",
                    quote_ident(&incoming),
                    quote_ident(&target.database)
                ))
                .await?;
        }
        (Some(schema), replacing) => {
            // The roles first: a database created for nothing would be left behind.
            let script = dump_script(
                &bins,
                &maintenance,
                &dump_root.join(&part.service).join(DUMP_DIR),
            )
            .await?;
            let missing = missing_roles(&server, &script).await?;
            if !missing.is_empty() {
                return Err(BackupError::MissingRoles {
                    server: target.server.clone(),
                    roles: missing,
                });
            }
            if !live_exists {
                server
                    .batch_execute(&format!(
                        "CREATE DATABASE {} OWNER {}",
                        quote_ident(&target.database),
                        quote_ident(&target.user)
                    ))
                    .await?;
            }
            let client = pgfleet_pg::connect(target, "restore", request.connect_timeout).await?;
            progress(&RestoreEvent::Restoring {
                into: format!("{}.{schema}", target.database),
            });
            if replacing {
                replace_schema(&bins, request, part, &dump_root, &client, schema).await?;
            } else {
                restore_schema_part(
                    &bins,
                    target,
                    part,
                    &dump_root,
                    request.jobs,
                    request.connect_timeout,
                )
                .await?;
            }
        }
    }
    let restored = Restored {
        backup: request.catalog.id.clone(),
        service: request.service.to_owned(),
        server: target.server.clone(),
        database: target.database.clone(),
        schema: part.schema.clone(),
        migration_version: part.migration_version.clone(),
        replaced_version,
        replaced: replacing,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        audit_problem: None,
    };
    let entry = AuditEntry {
        service: request.service,
        command: "backup restore",
        environment: request.environment,
        os_user: pgfleet_pg::history::os_user(),
        version_before: restored
            .replaced_version
            .as_deref()
            .and_then(|v| v.parse().ok()),
        version_after: backup_version,
        result: AuditResult::Success,
        duration_ms: i64::try_from(restored.duration_ms).unwrap_or(i64::MAX),
        detail: serde_json::json!({
            "backup": restored.backup,
            "database": restored.database,
            "schema": restored.schema,
            "replaced": restored.replaced,
        }),
    };
    let audit_problem = audit_row(target, request.connect_timeout, &entry)
        .await
        .err();
    Ok(Restored {
        audit_problem,
        ..restored
    })
}

/// The live database's audit rows written since the backup (ids above the restored copy's
/// newest), added to the copy that replaces it.
async fn carry_audit_log(
    live: &Connection,
    incoming: &str,
    connect_timeout: Duration,
) -> Result<(), BackupError> {
    let live_client = pgfleet_pg::connect(live, "restore", connect_timeout).await?;
    let copy_client =
        pgfleet_pg::connect(&with_database(live, incoming), "restore", connect_timeout).await?;
    let has_log = "SELECT to_regclass('pgfleet.audit_log') IS NOT NULL";
    if !live_client.query_one(has_log, &[]).await?.get::<_, bool>(0) {
        return Ok(());
    }
    pgfleet_pg::history::ensure_tables(&copy_client).await?;
    let newest: i64 = copy_client
        .query_one("SELECT coalesce(max(id), 0) FROM pgfleet.audit_log", &[])
        .await?
        .get(0);
    let rows: Option<String> = live_client
        .query_one(
            "SELECT json_agg(a ORDER BY id)::text FROM pgfleet.audit_log a WHERE id > $1",
            &[&newest],
        )
        .await?
        .get(0);
    if let Some(rows) = rows {
        copy_client
            .execute(
                "INSERT INTO pgfleet.audit_log
                 SELECT * FROM json_populate_recordset(NULL::pgfleet.audit_log, $1::text::json)",
                &[&rows],
            )
            .await?;
        copy_client
            .batch_execute(
                "SELECT setval(pg_get_serial_sequence('pgfleet.audit_log', 'id'),
                               (SELECT max(id) FROM pgfleet.audit_log))",
            )
            .await?;
    }
    Ok(())
}

/// An audit row in the `pgfleet` schema of `connection`'s database, through the one audit
/// writer; why it could not be written, if so.
pub(crate) async fn audit_row(
    connection: &Connection,
    connect_timeout: Duration,
    entry: &AuditEntry<'_>,
) -> Result<(), String> {
    let client = pgfleet_pg::connect(connection, "audit", connect_timeout)
        .await
        .map_err(|e| e.to_string())?;
    pgfleet_pg::history::ensure_tables(&client)
        .await
        .map_err(|e| pgfleet_pg::pg_error_text(&e))?;
    pgfleet_pg::history::audit(&client, entry)
        .await
        .map_err(|e| pgfleet_pg::pg_error_text(&e))
}

/// What lives outside schema `$1` (an oid) and depends on something in it: views and rules,
/// constraints, defaults, relations and routines of other schemas.
const OUTSIDE_DEPENDENTS: &str = "
WITH inside AS (
    SELECT 'pg_class'::regclass AS classid, oid FROM pg_class WHERE relnamespace = $1
    UNION ALL SELECT 'pg_type'::regclass, oid FROM pg_type WHERE typnamespace = $1
    UNION ALL SELECT 'pg_proc'::regclass, oid FROM pg_proc WHERE pronamespace = $1
)
SELECT DISTINCT pg_describe_object(d.classid, d.objid, 0)
  FROM pg_depend d
  JOIN inside i ON d.refclassid = i.classid AND d.refobjid = i.oid
 WHERE d.deptype = 'n'
   AND CASE d.classid
         WHEN 'pg_rewrite'::regclass THEN (SELECT c.relnamespace FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class WHERE r.oid = d.objid)
         WHEN 'pg_constraint'::regclass THEN (SELECT coalesce(c.relnamespace, t.typnamespace) FROM pg_constraint k
                                                LEFT JOIN pg_class c ON c.oid = k.conrelid
                                                LEFT JOIN pg_type t ON t.oid = k.contypid WHERE k.oid = d.objid)
         WHEN 'pg_attrdef'::regclass THEN (SELECT c.relnamespace FROM pg_attrdef a JOIN pg_class c ON c.oid = a.adrelid WHERE a.oid = d.objid)
         WHEN 'pg_class'::regclass THEN (SELECT relnamespace FROM pg_class WHERE oid = d.objid)
         WHEN 'pg_proc'::regclass THEN (SELECT pronamespace FROM pg_proc WHERE oid = d.objid)
         WHEN 'pg_type'::regclass THEN (SELECT typnamespace FROM pg_type WHERE oid = d.objid)
         ELSE $1
       END <> $1
 ORDER BY 1";

/// The live schema is set aside (renamed) with the service's sessions ended, the backup's
/// restored in its place, and the old one dropped; if the restore fails, the old one is put
/// back.
async fn replace_schema(
    bins: &PgBinaries,
    request: &RestoreRequest<'_>,
    part: &ServicePart,
    dump_root: &Path,
    client: &tokio_postgres::Client,
    schema: &str,
) -> Result<(), BackupError> {
    let oid: u32 = client
        .query_one(
            "SELECT oid FROM pg_namespace WHERE nspname = $1",
            &[&schema],
        )
        .await?
        .get(0);
    // Dropping the old schema would take with it what other schemas built on it (a view, a
    // foreign key, a default): refused, naming them, before anything changes.
    let dependents: Vec<String> = client
        .query(OUTSIDE_DEPENDENTS, &[&oid])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if !dependents.is_empty() {
        return Err(BackupError::Unsupported(format!(
            "objects outside schema `{schema}` depend on it and would be dropped with it: {}\n  hint: restore with --into another database, or drop those first",
            dependents.join(", ")
        )));
    }
    let aside = format!("pgfleet_replaced_{oid}");
    client
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE datname = current_database() AND pid <> pg_backend_pid()
                AND usename = ANY($1)",
            &[&request.session_roles],
        )
        .await?;
    client
        .batch_execute(&format!(
            "ALTER SCHEMA {} RENAME TO {}",
            quote_ident(schema),
            quote_ident(&aside)
        ))
        .await?;
    let restored = restore_schema_part(
        bins,
        &request.target,
        part,
        dump_root,
        request.jobs,
        request.connect_timeout,
    )
    .await;
    match restored {
        Ok(()) => {
            client
                .batch_execute(&format!("DROP SCHEMA {} CASCADE", quote_ident(&aside)))
                .await?;
            Ok(())
        }
        Err(e) => {
            let _ = client
                .batch_execute(&format!(
                    "DROP SCHEMA IF EXISTS {s} CASCADE; ALTER SCHEMA {a} RENAME TO {s}",
                    s = quote_ident(schema),
                    a = quote_ident(&aside)
                ))
                .await;
            Err(e)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_script_names_owners_grantees_and_the_database_statements() {
        let script = r#"
CREATE DATABASE files WITH TEMPLATE = template0 ENCODING = 'UTF8';
ALTER DATABASE files OWNER TO kb_admin;
\connect files
COMMENT ON DATABASE files IS 'hi';
ALTER DATABASE files SET work_mem TO '5MB';
ALTER ROLE files_app IN DATABASE files SET search_path TO 'public';
CREATE TABLE public.t (
    id integer
);
ALTER TABLE public.t OWNER TO files_owner;
REVOKE CONNECT,TEMPORARY ON DATABASE files FROM PUBLIC;
GRANT CONNECT ON DATABASE files TO files_app;
GRANT SELECT ON TABLE public.t TO files_app, "Odd ""one""" WITH GRANT OPTION;
ALTER DEFAULT PRIVILEGES FOR ROLE files_owner IN SCHEMA public GRANT SELECT ON TABLES TO reader;
GRANT ALL ON SCHEMA public TO PUBLIC;
"#;
        let read = read_script(script);
        assert_eq!(
            read.roles.into_iter().collect::<Vec<_>>(),
            [
                "Odd \"one\"",
                "files_app",
                "files_owner",
                "kb_admin",
                "reader"
            ]
        );
        assert_eq!(
            read.database_statements,
            [
                "ALTER DATABASE files OWNER TO kb_admin;",
                "COMMENT ON DATABASE files IS 'hi';",
                "ALTER DATABASE files SET work_mem TO '5MB';",
                "ALTER ROLE files_app IN DATABASE files SET search_path TO 'public';",
                "REVOKE CONNECT,TEMPORARY ON DATABASE files FROM PUBLIC;",
                "GRANT CONNECT ON DATABASE files TO files_app;",
            ]
        );
        assert_eq!(
            retarget(
                "GRANT CONNECT ON DATABASE files TO files_app;",
                "files",
                "files_restore"
            ),
            "GRANT CONNECT ON DATABASE \"files_restore\" TO files_app;"
        );
        assert_eq!(
            retarget("COMMENT ON DATABASE files IS 'x';", "files", "b"),
            "COMMENT ON DATABASE \"b\" IS 'x';"
        );
    }

    #[test]
    fn derived_names_fit_the_identifier_limit() {
        assert_eq!(derived_name("files", "restore_1"), "files_restore_1");
        let long = "d".repeat(63);
        let name = derived_name(&long, "restore_20240115_143022");
        assert_eq!(name.len(), 63);
        assert!(name.ends_with("_restore_20240115_143022"));
    }
}
