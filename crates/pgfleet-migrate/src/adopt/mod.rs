//! `migrate adopt`: takes over another tool's history. The versions that tool applied are
//! recorded as applied in pgfleet's history, in one transaction with its audit row, after
//! checking that each one is a file on disk (and, where the tool kept a checksum, the same
//! file). The tool's own table stays where it is, untouched.

pub mod foreign;

pub use foreign::Tool;

use tokio_postgres::Client;

use super::maintenance::locked_session;
use super::{MigrateError, Options, Target};
use foreign::Applied;
use pgfleet_pg::history::{self, AuditEntry, AuditResult, os_user};
use serde::Serialize;
use sha2::{Digest, Sha384};
use std::path::PathBuf;
use std::time::Instant;

/// What `adopt` recorded, or would record with `dry_run`.
#[derive(Debug, Serialize)]
pub struct Adoption {
    pub service: String,
    pub from: Tool,
    /// The tool's table, `schema.table`; left in place.
    pub table: String,
    pub dry_run: bool,
    /// Recorded as applied, oldest first.
    pub adopted: Vec<AdoptedStep>,
    /// Files the tool had not applied: `migrate up` runs them.
    pub pending: Vec<i64>,
}

#[derive(Debug, Serialize)]
pub struct AdoptedStep {
    pub version: i64,
    pub name: String,
    pub file: PathBuf,
}

/// Records what `tool` applied to the service's database as pgfleet history, under the
/// service's lock. Refuses, saying why, when pgfleet already has history there, when the
/// tool's state is unfinished (dirty, failed), when a version it applied has no file, or when
/// a file differs from what the tool ran.
pub async fn adopt(
    target: &Target,
    tool: Tool,
    dry_run: bool,
    options: &Options,
) -> Result<Adoption, MigrateError> {
    adopt_found(target, tool, dry_run, options, false)
        .await?
        .ok_or_else(|| target.other(format!("no {} table", tool.table())))
}

/// [`adopt`], but a database without the tool's table (a fresh one) is `Ok(None)`: nothing
/// to take over (`migrate import alembic` on a database Alembic never ran on).
pub async fn adopt_if_there(
    target: &Target,
    tool: Tool,
    options: &Options,
) -> Result<Option<Adoption>, MigrateError> {
    adopt_found(target, tool, false, options, true).await
}

async fn adopt_found(
    target: &Target,
    tool: Tool,
    dry_run: bool,
    options: &Options,
    missing_ok: bool,
) -> Result<Option<Adoption>, MigrateError> {
    let started = Instant::now();
    let migrations = super::layout::load(&target.migrations_dir, target.layout)?.migrations;
    let (lock, client, applied) = locked_session(target, "adopt", options).await?;
    if let Some(last) = applied.last() {
        return Err(target.other(format!(
            "already has pgfleet history (current version {}); adopt takes over a database with none",
            last.version
        )));
    }
    let mut schemas: Vec<String> = target.connection.schema.iter().cloned().collect();
    schemas.push("public".to_owned());
    let found = foreign::read(&client, tool, &schemas)
        .await
        .map_err(|e| target.other(format!("reading {}'s history: {e}", tool.name())))?;
    let Some(found) = found else {
        if missing_ok {
            let _ = lock.release().await;
            return Ok(None);
        }
        return Err(target.other(format!(
            "no {} table in {} (looked in {}): nothing of {}'s to adopt",
            tool.table(),
            target.connection.database,
            schemas.join(", "),
            tool.name()
        )));
    };
    if let Some(reason) = &found.unfinished {
        return Err(target.other(format!("{}: {reason}", found.table)));
    }
    let by_version = |version: i64| migrations.iter().find(|m| m.version == version);
    let mut problems = Vec::new();
    let mut adopted = Vec::new();
    match &found.applied {
        Applied::UpTo(version) => {
            if by_version(*version).is_none() {
                problems.push(format!(
                    "{} applied up to version {version}, which no file in {} has",
                    tool.name(),
                    target.migrations_dir.display()
                ));
            }
            adopted.extend(migrations.iter().filter(|m| m.version <= *version));
        }
        Applied::UpToRevision(revision) => {
            match migrations
                .iter()
                .find(|m| super::alembic::revision_of(&m.name) == revision)
            {
                Some(last) => {
                    adopted.extend(migrations.iter().filter(|m| m.version <= last.version));
                }
                None => problems.push(format!(
                    "the database is at Alembic revision {revision}, which no file in {} comes from \
                     (files named <version>_<revision>_<name>, as `pgfleet migrate import alembic` writes them)",
                    target.migrations_dir.display()
                )),
            }
        }
        Applied::Each(steps) | Applied::Flyway { steps, .. } => {
            if let Applied::Flyway {
                baseline: Some(baseline),
                ..
            } = &found.applied
            {
                adopted.extend(migrations.iter().filter(|m| m.version <= *baseline));
            }
            for step in steps {
                let Some(m) = by_version(step.version) else {
                    problems.push(format!(
                        "{} applied version {}, which no file in {} has",
                        tool.name(),
                        step.version,
                        target.migrations_dir.display()
                    ));
                    continue;
                };
                if let Some(recorded) = &step.sha384 {
                    let actual = Sha384::digest(m.up.sql.as_bytes());
                    if actual.as_slice() != recorded.as_slice() {
                        problems.push(format!(
                            "{} differs from what {} applied as version {} (its checksum is not the one in {})",
                            m.up.path.display(),
                            tool.name(),
                            m.version,
                            found.table
                        ));
                        continue;
                    }
                }
                if let Some(recorded) = step.crc32
                    && foreign::flyway_checksum(&m.up.sql) != recorded
                {
                    problems.push(format!(
                        "{} differs from what Flyway applied as version {} (checksum {recorded} in {}, {} now)",
                        m.up.path.display(),
                        m.version,
                        found.table,
                        foreign::flyway_checksum(&m.up.sql)
                    ));
                    continue;
                }
                if !adopted.iter().any(|a| a.version == m.version) {
                    adopted.push(m);
                }
            }
        }
    }
    if !problems.is_empty() {
        let _ = lock.release().await;
        return Err(target.other(format!(
            "cannot adopt {}'s history:\n  {}",
            tool.name(),
            problems.join("\n  ")
        )));
    }
    adopted.sort_by_key(|m| m.version);
    let adoption = Adoption {
        service: target.service.clone(),
        from: tool,
        table: found.table.clone(),
        dry_run,
        adopted: adopted
            .iter()
            .map(|m| AdoptedStep {
                version: m.version,
                name: m.name.clone(),
                file: m.up.path.clone(),
            })
            .collect(),
        pending: migrations
            .iter()
            .filter(|m| !adopted.iter().any(|a| a.version == m.version))
            .map(|m| m.version)
            .collect(),
    };
    if dry_run {
        let _ = lock.release().await;
        return Ok(Some(adoption));
    }
    let down_checksums: Vec<String> = adopted.iter().map(|m| m.down_checksum()).collect();
    let steps: Vec<history::Recorded> = adopted
        .iter()
        .zip(&down_checksums)
        .map(|(m, down)| history::Recorded {
            version: m.version,
            name: &m.name,
            checksum: &m.up.checksum,
            down_checksum: Some(down),
        })
        .collect();
    let user = os_user();
    history::record_baseline_audited(
        &client,
        &target.service,
        &steps,
        &AuditEntry {
            service: &target.service,
            command: "migrate adopt",
            environment: &target.environment,
            os_user: user,
            version_before: None,
            version_after: adopted.last().map(|m| m.version),
            result: AuditResult::Success,
            duration_ms: started.elapsed().as_millis() as i64,
            detail: serde_json::json!({
                "from": tool.name(),
                "table": found.table,
                "versions": adopted.iter().map(|m| m.version).collect::<Vec<_>>(),
            }),
        },
    )
    .await
    .map_err(|e| target.pg("adopt", &e))?;
    let _ = lock.release().await;
    Ok(Some(adoption))
}

/// For a service with no pgfleet history: when its schema already holds tables, what to do
/// about them (adopt the tool whose history table is there, or baseline), else `None`.
pub async fn existing_objects_hint(
    client: &Client,
    target: &Target,
) -> Result<Option<String>, tokio_postgres::Error> {
    let schema = target
        .connection
        .schema
        .clone()
        .unwrap_or_else(|| "public".to_owned());
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm')",
            &[&schema],
        )
        .await?
        .get(0);
    if tables == 0 {
        return Ok(None);
    }
    let mut schemas = vec![schema.clone()];
    if schema != "public" {
        schemas.push("public".to_owned());
    }
    let mut tools = Vec::new();
    for tool in [
        Tool::GolangMigrate,
        Tool::Dbmate,
        Tool::Sqlx,
        Tool::Diesel,
        Tool::Flyway,
        Tool::Alembic,
    ] {
        // A table that is not the tool's (or cannot be read as it) names no tool.
        if let Some(found) = foreign::read(client, tool, &schemas).await.ok().flatten() {
            tools.push((tool, found.table));
        }
    }
    let service = &target.service;
    Ok(Some(match tools.first() {
        Some((tool, table)) => format!(
            "{schema} already holds {tables} table(s) or view(s) and no pgfleet history; {table} is {}'s: \
             take its history over with `pgfleet migrate adopt {service} --from {}`",
            tool.name(),
            tool.name()
        ),
        None => format!(
            "{schema} already holds {tables} table(s) or view(s) and no pgfleet history: \
             if the files describe them, mark them applied with `pgfleet migrate baseline {service} --version N`"
        ),
    }))
}
