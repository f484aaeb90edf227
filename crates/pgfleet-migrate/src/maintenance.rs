//! Reading and settling a service's migration state: status, validate, repair, baseline.

use super::{MigrateError, Options, Target, layout, source};
use pgfleet_pg::history::{self, Applied, AuditEntry, AuditResult, Correction, os_user};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

/// Files and history of one service, side by side.
#[derive(Debug, Clone, Serialize)]
pub struct State {
    pub service: String,
    pub current: Option<i64>,
    pub pending: Vec<i64>,
    pub dirty: Option<i64>,
    pub problems: Vec<String>,
    /// What is worth knowing but not wrong: a schema with tables and no history.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The layout the folder was read in (`None`: it could not be told).
    pub layout: Option<layout::Chosen>,
    /// The folder cannot be read as its layout (a mismatch, or no layout to tell): `status`
    /// fails, `--check` or not.
    pub layout_error: bool,
    pub ignored: Vec<layout::Ignored>,
    pub repeatables: Vec<layout::Repeatable>,
    #[serde(skip)]
    pub history: Vec<Applied>,
}

/// Reads a service's state without writing anything. Files that cannot be read are problems
/// of the state, beside what the history says; only a database that cannot be read is an
/// error.
pub async fn inspect(target: &Target, options: &Options) -> Result<State, MigrateError> {
    let folder = layout::scan(&target.migrations_dir, target.layout);
    let client = target.connect("status", options).await?;
    let history = history::read(&client, &target.service)
        .await
        .map_err(|e| target.pg("reading history", &e))?;
    let mut state = compare_folder(&target.service, &folder, history);
    if state.history.is_empty() {
        state.notes.extend(
            super::adopt::existing_objects_hint(&client, target)
                .await
                .map_err(|e| target.pg("looking for existing tables", &e))?,
        );
    }
    Ok(state)
}

/// A service's files against its history.
pub fn compare(service: &str, migrations: &[source::Migration], history: Vec<Applied>) -> State {
    compare_with(service, migrations, &[], &[], true, history)
}

/// A service's folder, as read with its problems, against its history.
pub fn compare_folder(service: &str, folder: &layout::Folder, history: Vec<Applied>) -> State {
    let mut state = compare_with(
        service,
        &folder.migrations,
        &folder.problems,
        &folder.unreadable,
        folder.complete,
        history,
    );
    state.layout = folder.layout.clone();
    state.layout_error = folder
        .problems
        .iter()
        .any(|p| matches!(p, source::SourceError::Layout { .. }));
    state.ignored = folder.ignored.clone();
    state.repeatables = folder.repeatables.clone();
    state
}

fn compare_with(
    service: &str,
    migrations: &[source::Migration],
    file_problems: &[source::SourceError],
    unreadable: &[i64],
    complete: bool,
    history: Vec<Applied>,
) -> State {
    let current = history.iter().filter(|a| !a.dirty).map(|a| a.version).max();
    let mut problems: Vec<String> = file_problems.iter().map(ToString::to_string).collect();
    for applied in &history {
        match migrations.iter().find(|m| m.version == applied.version) {
            Some(m) if m.name != applied.name => problems.push(format!(
                "{} was renamed after it was applied as version {} `{}`",
                m.up.path.display(),
                applied.version,
                applied.name
            )),
            Some(m) if !m.up.matches(&applied.checksum) => problems.push(format!(
                "{} was edited after it was applied (recorded {}, file {})",
                m.up.path.display(),
                short(&applied.checksum),
                short(&m.up.checksum)
            )),
            Some(m) => match super::down_change(m, applied) {
                Some(super::DownChange::Added(down)) => problems.push(format!(
                    "{} was added after its step was applied",
                    down.path.display()
                )),
                Some(super::DownChange::Edited(down, recorded)) => problems.push(format!(
                    "{} was edited after its step was applied (recorded {}, file {})",
                    down.path.display(),
                    short(recorded),
                    short(&down.checksum)
                )),
                None => {}
            },
            None if applied.baseline || !complete || unreadable.contains(&applied.version) => {}
            None => problems.push(format!(
                "version {} ({}) is applied but its file is missing",
                applied.version, applied.name
            )),
        }
        if applied.dirty {
            problems.push(format!(
                "version {} ({}) is dirty after {} statement(s): see `pgfleet migrate repair {} --dirty …`",
                applied.version, applied.name, applied.statements_done, service
            ));
        }
    }
    // An unreadable file is still a pending migration (it is there, and not applied).
    let mut pending: Vec<i64> = migrations
        .iter()
        .map(|m| m.version)
        .chain(unreadable.iter().copied())
        .filter(|v| !history.iter().any(|a| a.version == *v))
        .collect();
    pending.sort_unstable();
    for version in &pending {
        if current.is_some_and(|c| *version < c) {
            problems.push(format!(
                "version {version} is pending but older than the current version (out of order)"
            ));
        }
    }
    State {
        service: service.to_owned(),
        current,
        pending,
        dirty: history.iter().find(|a| a.dirty).map(|a| a.version),
        problems,
        notes: Vec::new(),
        layout: None,
        layout_error: false,
        ignored: Vec::new(),
        repeatables: Vec::new(),
        history,
    }
}

/// The service's lock, a session, and its history read under the lock.
pub(crate) async fn locked_session(
    target: &Target,
    purpose: &str,
    options: &Options,
) -> Result<
    (
        super::lock::MigrationLock,
        tokio_postgres::Client,
        Vec<Applied>,
    ),
    MigrateError,
> {
    let lock = target.lock(options, &|_| {}).await?;
    let client = target.connect(purpose, options).await?;
    history::ensure_tables(&client)
        .await
        .map_err(|e| target.pg("creating the pgfleet history tables", &e))?;
    let applied = history::read(&client, &target.service)
        .await
        .map_err(|e| target.pg("reading history", &e))?;
    Ok((lock, client, applied))
}

fn short(checksum: &str) -> &str {
    &checksum[..checksum.len().min(12)]
}

/// How to settle a dirty migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Its statements were finished by hand: mark it applied.
    Applied,
    /// It was undone by hand: forget it, so `up` runs it again.
    Pending,
}

/// What `repair` changed.
#[derive(Debug, Clone, Serialize)]
pub struct Repaired {
    pub service: String,
    pub changes: Vec<String>,
}

/// Accepts the checksums of edited files and settles a dirty step, under the service's lock,
/// and records it in the audit log.
pub async fn repair(
    target: &Target,
    settle: Option<Settle>,
    options: &Options,
) -> Result<Repaired, MigrateError> {
    let started = Instant::now();
    let migrations = layout::load(&target.migrations_dir, target.layout)?.migrations;
    let (lock, client, applied) = locked_session(target, "repair", options).await?;
    let before = applied.iter().filter(|a| !a.dirty).map(|a| a.version).max();
    let mut changes = Vec::new();
    for row in &applied {
        if row.dirty {
            match settle {
                None => {
                    return Err(target.other(format!(
                        "version {} ({}) is dirty after {} statement(s); say what it is now: \
                         --dirty applied (finished by hand) or --dirty pending (undone by hand)",
                        row.version, row.name, row.statements_done
                    )));
                }
                Some(Settle::Applied) => {
                    history::correct(&client, &target.service, row.version, Correction::Applied)
                        .await
                        .map_err(|e| target.pg("settling the dirty migration", &e))?;
                    changes.push(format!("version {} marked applied", row.version));
                }
                Some(Settle::Pending) => {
                    history::correct(&client, &target.service, row.version, Correction::Pending)
                        .await
                        .map_err(|e| target.pg("settling the dirty migration", &e))?;
                    changes.push(format!("version {} marked pending", row.version));
                    continue;
                }
            }
        }
        let Some(m) = migrations.iter().find(|m| m.version == row.version) else {
            continue;
        };
        if m.name != row.name {
            history::correct(
                &client,
                &target.service,
                row.version,
                Correction::Name(&m.name),
            )
            .await
            .map_err(|e| target.pg("updating a name", &e))?;
            changes.push(format!(
                "{}: name `{}` accepted (was `{}`)",
                m.up.path.display(),
                m.name,
                row.name
            ));
        }
        if !m.up.matches(&row.checksum) {
            history::correct(
                &client,
                &target.service,
                row.version,
                Correction::Checksum(&m.up.checksum),
            )
            .await
            .map_err(|e| target.pg("updating a checksum", &e))?;
            changes.push(format!(
                "{}: checksum {} accepted (was {})",
                m.up.path.display(),
                short(&m.up.checksum),
                short(&row.checksum)
            ));
        }
        // The down file as it is now is accepted too, and recorded where it was not yet, so
        // that from now on an edit of it is seen.
        let down_now = m.down_checksum();
        if row.down_checksum.is_none() || super::down_change(m, row).is_some() {
            history::correct(
                &client,
                &target.service,
                row.version,
                Correction::DownChecksum(&down_now),
            )
            .await
            .map_err(|e| target.pg("updating a down checksum", &e))?;
            let what = match &m.down {
                Some(down) => format!(
                    "{}: down checksum {}",
                    down.path.display(),
                    short(&down_now)
                ),
                None => format!("version {}: no down file", row.version),
            };
            changes.push(match &row.down_checksum {
                None => format!("{what} recorded"),
                Some(was) if was.is_empty() => format!("{what} accepted (had none)"),
                Some(was) => format!("{what} accepted (was {})", short(was)),
            });
        }
    }
    if !changes.is_empty() {
        let after = history::read(&client, &target.service)
            .await
            .map_err(|e| target.pg("reading history", &e))?
            .iter()
            .filter(|a| !a.dirty)
            .map(|a| a.version)
            .max();
        history::audit(
            &client,
            &AuditEntry {
                service: &target.service,
                command: "migrate repair",
                environment: &target.environment,
                os_user: os_user(),
                version_before: before,
                version_after: after,
                result: AuditResult::Success,
                duration_ms: started.elapsed().as_millis() as i64,
                detail: serde_json::json!({ "changes": changes }),
            },
        )
        .await
        .map_err(|e| target.pg("writing the audit row", &e))?;
    }
    let _ = lock.release().await;
    Ok(Repaired {
        service: target.service.clone(),
        changes,
    })
}

/// Marks every migration up to `version` as applied without running it: adopting a database
/// whose schema already exists. Only on a service with no history.
pub async fn baseline(
    target: &Target,
    version: i64,
    options: &Options,
) -> Result<Vec<i64>, MigrateError> {
    let started = Instant::now();
    let migrations = layout::load(&target.migrations_dir, target.layout)?.migrations;
    let (lock, client, applied) = locked_session(target, "baseline", options).await?;
    if let Some(last) = applied.last() {
        return Err(target.other(format!(
            "already has a history (current version {}); baseline adopts a database with none",
            last.version
        )));
    }
    let covered: Vec<&source::Migration> =
        migrations.iter().filter(|m| m.version <= version).collect();
    let user = os_user();
    let down_checksums: Vec<String> = covered.iter().map(|m| m.down_checksum()).collect();
    let mut steps: Vec<history::Recorded> = covered
        .iter()
        .zip(&down_checksums)
        .map(|(m, down)| history::Recorded {
            version: m.version,
            name: &m.name,
            checksum: &m.up.checksum,
            down_checksum: Some(down),
        })
        .collect();
    if !covered.iter().any(|m| m.version == version) {
        // A marker row: the database is at `version` even though no file has that number.
        steps.push(history::Recorded {
            version,
            name: "baseline",
            checksum: "",
            down_checksum: None,
        });
    }
    history::record_baseline_audited(
        &client,
        &target.service,
        &steps,
        &AuditEntry {
            service: &target.service,
            command: "migrate baseline",
            environment: &target.environment,
            os_user: user,
            version_before: None,
            version_after: Some(version),
            result: AuditResult::Success,
            duration_ms: started.elapsed().as_millis() as i64,
            detail: serde_json::json!({ "versions": covered.iter().map(|m| m.version).collect::<Vec<_>>() }),
        },
    )
    .await
    .map_err(|e| target.pg("baseline", &e))?;
    let _ = lock.release().await;
    Ok(covered.iter().map(|m| m.version).collect())
}

/// What `migrate baseline --from-live` wrote and recorded.
#[derive(Debug, Serialize)]
pub struct LiveBaseline {
    pub service: String,
    pub version: i64,
    pub file: PathBuf,
    pub bytes: usize,
}

/// Writes the service's live schema, as `dump` gives it (pg_dump's plain output), as its first
/// migration file `<version>_baseline.up.sql`, and records that file as applied: adopting a
/// database whose schema no file describes. Only on a service with neither files nor history;
/// under the service's lock, so the schema cannot change between the dump and the record.
pub async fn baseline_from_live(
    target: &Target,
    version: i64,
    dump: impl FnOnce() -> Result<String, String>,
    options: &Options,
) -> Result<LiveBaseline, MigrateError> {
    let started = Instant::now();
    let migrations = super::layout::load(&target.migrations_dir, target.layout)?.migrations;
    if let Some(first) = migrations.first() {
        return Err(target.other(format!(
            "{} already holds migration files ({} first); --from-live writes the first one. \
             To mark existing files applied, use `pgfleet migrate baseline {} --version N`",
            target.migrations_dir.display(),
            first.up.path.display(),
            target.service
        )));
    }
    let (lock, client, applied) = locked_session(target, "baseline", options).await?;
    if let Some(last) = applied.last() {
        return Err(target.other(format!(
            "already has a history (current version {}); baseline adopts a database with none",
            last.version
        )));
    }
    let dumped = dump().map_err(|e| target.other(format!("dumping the live schema: {e}")))?;
    let sql = baseline_text(target, &dumped);
    std::fs::create_dir_all(&target.migrations_dir).map_err(|source| {
        MigrateError::Source(source::SourceError::Read {
            path: target.migrations_dir.clone(),
            source,
        })
    })?;
    let file = target
        .migrations_dir
        .join(format!("{version}_baseline.up.sql"));
    std::fs::write(&file, &sql).map_err(|source| {
        MigrateError::Source(source::SourceError::Read {
            path: file.clone(),
            source,
        })
    })?;
    let script = source::read_script(&file)?;
    let user = os_user();
    let recorded = history::record_baseline_audited(
        &client,
        &target.service,
        &[history::Recorded {
            version,
            name: "baseline",
            checksum: &script.checksum,
            down_checksum: Some(""),
        }],
        &AuditEntry {
            service: &target.service,
            command: "migrate baseline",
            environment: &target.environment,
            os_user: user,
            version_before: None,
            version_after: Some(version),
            result: AuditResult::Success,
            duration_ms: started.elapsed().as_millis() as i64,
            detail: serde_json::json!({ "from_live": true, "file": file.display().to_string() }),
        },
    )
    .await;
    if let Err(e) = recorded {
        // Nothing is half-done: the file goes with the record it was written for.
        let _ = std::fs::remove_file(&file);
        return Err(target.pg("baseline", &e));
    }
    let _ = lock.release().await;
    Ok(LiveBaseline {
        service: target.service.clone(),
        version,
        file,
        bytes: sql.len(),
    })
}

/// pg_dump's text as a migration: without its psql meta-commands (`\restrict`), without the
/// settings that would lift pgfleet's deadlines for the rest of the file, and without the
/// `CREATE SCHEMA` of the service's own schema (pgfleet creates it, owned by the owner role).
fn baseline_text(target: &Target, dumped: &str) -> String {
    let own_schema = target
        .connection
        .schema
        .as_deref()
        .map(|s| format!("CREATE SCHEMA {};", pgfleet_core::ident::quote_ident(s)));
    let bare_schema = target
        .connection
        .schema
        .as_deref()
        .map(|s| format!("CREATE SCHEMA {s};"));
    let mut out = format!(
        "-- The schema of {} as it was when pgfleet adopted it (`pgfleet migrate baseline {} --from-live`,\n\
         -- pg_dump --schema-only --no-owner --no-privileges): owners and grants are access-as-code's.\n",
        target.connection.database, target.service
    );
    for line in dumped.lines() {
        let dropped = line.starts_with("\\restrict ")
            || line.starts_with("\\unrestrict ")
            || matches!(
                line,
                "SET statement_timeout = 0;"
                    | "SET lock_timeout = 0;"
                    | "SET idle_in_transaction_session_timeout = 0;"
            )
            || own_schema.as_deref() == Some(line)
            || bare_schema.as_deref() == Some(line);
        if !dropped {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}
