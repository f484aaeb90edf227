//! One part of a backup as PostgreSQL sees it: a read-only snapshot in pgfleet's admin session,
//! the row counts and the migration version read in it, and `pg_dump --snapshot` of the part
//! while that transaction stays open, so all three describe the same instant. Also the roles
//! of a server (`pg_dumpall --roles-only --no-role-passwords`).

use crate::BackupError;
use crate::catalog::{Extension, TableRows};
use pgfleet_cluster::PgBinaries;
use pgfleet_cluster::dump::{client_command, quoted_pattern};
use pgfleet_core::Connection;
use pgfleet_core::ident::{quote_ident, quote_literal};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt as _;

/// The folder of a part that holds pg_dump's directory-format output.
pub const DUMP_DIR: &str = "dump";
/// The service's rows of `pgfleet.migrations` (a schema-placed part, whose dump leaves out
/// the shared `pgfleet` schema), COPY text format with the columns of [`HISTORY_COLUMNS`].
pub(crate) const HISTORY_RAW: &str = "history.copy";
/// [`HISTORY_RAW`] as stored in the part's folder: restore it with
/// `COPY pgfleet.migrations (<HISTORY_COLUMNS>) FROM STDIN`.
pub const HISTORY_FILE: &str = "history.copy.zst";
/// The columns of the history COPY, in its order (named, since an upgraded table's column
/// order differs from a new one's).
pub const HISTORY_COLUMNS: &[&str] = &[
    "service",
    "version",
    "name",
    "checksum",
    "down_checksum",
    "state",
    "statements_done",
    "baseline",
    "applied_at",
    "applied_by",
    "db_role",
    "duration_ms",
];

/// How long a dump waits for a lock (a migration holding one) before failing rather than
/// queueing the service's own queries behind it.
const LOCK_WAIT: Duration = Duration::from_secs(60);

/// What the snapshot said, beside the files pg_dump wrote.
#[derive(Debug)]
pub(crate) struct Dumped {
    pub postgres_version: String,
    pub migration_version: Option<String>,
    pub tables: Vec<TableRows>,
    pub extensions: Vec<Extension>,
    /// The raw files written, relative to the part's folder.
    pub files: Vec<PathBuf>,
}

/// A part to dump: the service, pgfleet's connection to it, and its schema when it shares
/// its database.
#[derive(Debug, Clone)]
pub(crate) struct PartSource {
    pub service: String,
    pub connection: Connection,
    pub schema: Option<String>,
}

/// Dumps `part` into `dir` (created), reporting pg_dump's bytes so far to `progress`.
pub(crate) async fn dump_part(
    bins: &PgBinaries,
    part: &PartSource,
    dir: &Path,
    dump_jobs: u32,
    connect_timeout: Duration,
    started: &(dyn Fn(u32) + Send + Sync),
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<Dumped, BackupError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| BackupError::io(format!("creating {}", dir.display()), e))?;
    let client = pgfleet_pg::connect(&part.connection, "backup", connect_timeout).await?;
    client
        .batch_execute(&format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL lock_timeout = '{}ms'",
            LOCK_WAIT.as_millis()
        ))
        .await?;
    let row = client
        .query_one(
            "SELECT pg_export_snapshot(), current_setting('server_version')",
            &[],
        )
        .await?;
    let snapshot: String = row.get(0);
    let postgres_version: String = row.get(1);

    let tables = count_rows(&client, part.schema.as_deref()).await?;
    let history = pgfleet_pg::history::read(&client, &part.service).await?;
    let migration_version = history
        .iter()
        .filter(|a| !a.dirty)
        .map(|a| a.version)
        .max()
        .map(|v| v.to_string());
    let extensions = extensions(&client).await?;
    let mut files = Vec::new();
    if part.schema.is_some() && history_copy(&client, &part.service, &dir.join(HISTORY_RAW)).await?
    {
        files.push(PathBuf::from(HISTORY_RAW));
    }

    let mut args = vec![
        "--format=directory".to_owned(),
        "--compress=0".to_owned(),
        format!("--jobs={dump_jobs}"),
        format!("--snapshot={snapshot}"),
        format!("--lock-wait-timeout={}", LOCK_WAIT.as_millis()),
        format!("--file={}", dir.join(DUMP_DIR).display()),
    ];
    if let Some(schema) = &part.schema {
        args.push(format!("--schema={}", quoted_pattern(schema)));
    }
    let command = client_command(bins, "pg_dump", &part.connection, "pgfleet backup", &args)?;
    run_watched(command, &dir.join(DUMP_DIR), started, progress).await?;
    // The snapshot had to outlive pg_dump's import of it; nothing was written.
    client.batch_execute("ROLLBACK").await?;

    let dump_dir = dir.join(DUMP_DIR);
    let mut names: Vec<String> = std::fs::read_dir(&dump_dir)
        .map_err(|e| BackupError::io(format!("listing {}", dump_dir.display()), e))?
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    names.sort();
    files.extend(names.into_iter().map(|name| Path::new(DUMP_DIR).join(name)));
    Ok(Dumped {
        postgres_version,
        migration_version,
        tables,
        extensions,
        files,
    })
}

/// `pg_dumpall --roles-only --no-role-passwords` of the server `connection` is on, into `file`.
pub(crate) async fn dump_roles(
    bins: &PgBinaries,
    connection: &Connection,
    file: &Path,
    started: &(dyn Fn(u32) + Send + Sync),
) -> Result<(), BackupError> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| BackupError::io(format!("creating {}", dir.display()), e))?;
    }
    let args = vec![
        "--roles-only".to_owned(),
        "--no-role-passwords".to_owned(),
        // pg_dumpall ignores PGDATABASE: the database it reads the catalogs from.
        format!("--database={}", connection.database),
        format!("--file={}", file.display()),
    ];
    let command = client_command(bins, "pg_dumpall", connection, "pgfleet backup", &args)?;
    run_watched(command, file, started, &|_| {}).await
}

/// Runs a client tool to its end, telling `started` its pid and reporting the bytes under
/// `output` every quarter second. The tool and its workers die with the future.
async fn run_watched(
    command: pgfleet_cluster::dump::ClientCommand,
    output: &Path,
    started: &(dyn Fn(u32) + Send + Sync),
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<(), BackupError> {
    let pgfleet_cluster::dump::ClientCommand {
        command: std_command,
        shown,
    } = command;
    let mut std_command = std_command;
    // Its own process group: pg_dump --jobs forks workers that write the data files, and a
    // group is how all of them are stopped at once (here when the run is dropped, or by a
    // later run when this one was killed).
    std::os::unix::process::CommandExt::process_group(&mut std_command, 0);
    let mut child = tokio::process::Command::from(std_command)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| BackupError::io(format!("running {shown}"), e))?;
    let mut group = None;
    if let Some(pid) = child.id() {
        started(pid);
        group = Some(crate::owner::Group::new(pid));
    }
    let mut stderr = child.stderr.take();
    let read_stderr = async {
        let mut text = Vec::new();
        if let Some(pipe) = stderr.as_mut() {
            let _ = pipe.read_to_end(&mut text).await;
        }
        text
    };
    let wait = async {
        let mut ticker = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                status = child.wait() => break status,
                _ = ticker.tick() => progress(bytes_under(output)),
            }
        }
    };
    let (status, text) = tokio::join!(wait, read_stderr);
    // It ended by itself (pg_dump stops its workers when it fails).
    if let Some(group) = group.as_mut() {
        group.ended();
    }
    let status = status.map_err(|e| BackupError::io(format!("running {shown}"), e))?;
    if !status.success() {
        return Err(BackupError::Tool(
            pgfleet_cluster::ClusterError::CommandFailed {
                command: shown,
                status,
                output: String::from_utf8_lossy(&text).trim_end().to_owned(),
            },
        ));
    }
    progress(bytes_under(output));
    Ok(())
}

/// The size of a file, or of the files of a folder (one level: pg_dump's directory format).
fn bytes_under(path: &Path) -> u64 {
    match std::fs::read_dir(path) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum(),
        Err(_) => std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
    }
}

/// Exact row counts of every table of the part, in the snapshot: the schema's tables for a
/// schema-placed part (pgfleet's own schema is not in it), every user table otherwise.
/// Extension members are left out (pg_dump does not dump their rows).
async fn count_rows(
    client: &tokio_postgres::Client,
    schema: Option<&str>,
) -> Result<Vec<TableRows>, BackupError> {
    let rows = client
        .query(
            "SELECT n.nspname::text, c.relname::text
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind = 'r' AND c.relpersistence <> 't'
                AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
                AND ($1::text IS NULL OR n.nspname = $1)
                AND NOT EXISTS (SELECT FROM pg_depend d
                                 WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                   AND d.deptype = 'e')
              ORDER BY 1, 2",
            &[&schema],
        )
        .await?;
    let mut tables = Vec::with_capacity(rows.len());
    for row in rows {
        let (schema, table): (String, String) = (row.get(0), row.get(1));
        let count: i64 = client
            .query_one(
                &format!(
                    "SELECT count(*) FROM {}.{}",
                    quote_ident(&schema),
                    quote_ident(&table)
                ),
                &[],
            )
            .await?
            .get(0);
        tables.push(TableRows {
            schema,
            table,
            rows: u64::try_from(count).unwrap_or(0),
        });
    }
    Ok(tables)
}

/// The database's extensions (plpgsql is always there), for a restore into a clean database.
async fn extensions(client: &tokio_postgres::Client) -> Result<Vec<Extension>, BackupError> {
    let rows = client
        .query(
            "SELECT e.extname::text, e.extversion, n.nspname::text
               FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
              WHERE e.extname <> 'plpgsql' ORDER BY 1",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Extension {
            name: r.get(0),
            version: r.get(1),
            schema: r.get(2),
        })
        .collect())
}

/// The service's own rows of `pgfleet.migrations` (never another service's) into `file`;
/// false when the database has no history table.
async fn history_copy(
    client: &tokio_postgres::Client,
    service: &str,
    file: &Path,
) -> Result<bool, BackupError> {
    let Some(down_checksum) = pgfleet_pg::history::down_checksum_column(client).await? else {
        return Ok(false);
    };
    let columns: Vec<&str> = HISTORY_COLUMNS
        .iter()
        .map(|c| match *c {
            "down_checksum" => down_checksum,
            other => other,
        })
        .collect();
    let sql = format!(
        "COPY (SELECT {} FROM pgfleet.migrations WHERE service = {} ORDER BY version) TO STDOUT",
        columns.join(", "),
        quote_literal(service)
    );
    let stream = client.copy_out(sql.as_str()).await?;
    let what = || format!("writing {}", file.display());
    let mut out = std::fs::File::create(file).map_err(|e| BackupError::io(what(), e))?;
    use futures_util::StreamExt as _;
    use std::io::Write as _;
    let mut stream = std::pin::pin!(stream);
    while let Some(chunk) = stream.next().await {
        out.write_all(&chunk?)
            .map_err(|e| BackupError::io(what(), e))?;
    }
    Ok(true)
}
