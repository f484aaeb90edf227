//! `backup verify`: proof that a backup restores. Every file's SHA-256 against the catalog,
//! then a restore into a scratch database on the service's own server, whose row counts per
//! table and migration version are compared with the catalog's; the scratch database is
//! dropped. Each part's result is added to the catalog (`verifications`) and audited in the
//! service's database, as migrate's runs are.

use crate::catalog::{ServicePart, Verification};
use crate::restore::{
    RestoreEvent, Tools, audit_row, derived_name, drop_database_of, fetch_and_open,
    migration_version, part_of, restore_into_new_database,
};
use crate::{BackupError, Store};
use jiff::Timestamp;
use pgfleet_cluster::PgBinaries;
use pgfleet_core::Connection;
use pgfleet_core::ident::quote_ident;
use pgfleet_pg::history::{AuditEntry, AuditResult};
use std::path::Path;
use std::time::{Duration, Instant};

/// What `verify` is asked to check: parts of one backup.
#[derive(Debug)]
pub struct VerifyRequest<'a> {
    pub store: &'a Store,
    pub backup: &'a str,
    /// Each service to verify with pgfleet's connection to its database in this
    /// environment: its server takes the scratch database, its database the audit row.
    pub services: Vec<(String, Connection)>,
    pub environment: &'a str,
    /// `pg_restore --jobs`.
    pub jobs: u32,
    pub connect_timeout: Duration,
    /// A private folder for downloads and opened files, removed by the caller.
    pub scratch: &'a Path,
    /// The environment's age identities, for an encrypted backup.
    pub opener: std::sync::Arc<crate::Opener>,
}

/// The result of one part, and whether its audit row was written.
#[derive(Debug, Clone)]
pub struct Verified {
    pub verification: Verification,
    /// Why no audit row could be written (the service's database is not there), if so.
    pub audit_problem: Option<String>,
}

/// Verifies the request's parts one after the other (a restore is heavy on its server) and
/// records every result in the catalog, failures too.
pub async fn verify(
    request: &VerifyRequest<'_>,
    progress: &(dyn Fn(&str, &RestoreEvent) + Send + Sync),
) -> Result<Vec<Verified>, BackupError> {
    let catalog = request.store.read_catalog(request.backup).await?;
    // Every named part must be there before anything runs.
    for (service, _) in &request.services {
        part_of(&catalog, service)?;
    }
    let bins = PgBinaries::discover()?;
    let mut results = Vec::new();
    for (service, connection) in &request.services {
        let part = part_of(&catalog, service)?;
        let scratch = request.scratch.join(service);
        let on_event = |event: &RestoreEvent| progress(service, event);
        let verification =
            verify_part(&bins, request, part, connection, &scratch, &on_event).await?;
        let audit_problem = audit(request, connection, &verification).await.err();
        results.push(Verified {
            verification,
            audit_problem,
        });
    }
    // Read again: a verify of another part may have finished meanwhile.
    let mut catalog = request.store.read_catalog(request.backup).await?;
    catalog
        .verifications
        .extend(results.iter().map(|r| r.verification.clone()));
    request
        .store
        .write_catalog(request.backup, &catalog)
        .await?;
    Ok(results)
}

async fn verify_part(
    bins: &PgBinaries,
    request: &VerifyRequest<'_>,
    part: &ServicePart,
    connection: &Connection,
    scratch: &Path,
    progress: &(dyn Fn(&RestoreEvent) + Send + Sync),
) -> Result<Verification, BackupError> {
    let started = Instant::now();
    let at = Timestamp::now();
    let stamp = at.strftime("%Y%m%d%H%M%S").to_string();
    let database = derived_name(&part.database, &format!("verify_{stamp}"));
    let restored_on = format!("{}/{database}", connection.server);
    let done = |restored_on: &str, problems: Vec<String>| Verification {
        service: part.service.clone(),
        at,
        ok: problems.is_empty(),
        restored_on: restored_on.to_owned(),
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        problems,
    };
    std::fs::create_dir_all(scratch)
        .map_err(|e| BackupError::io(format!("creating {}", scratch.display()), e))?;
    let (root, problems) = fetch_and_open(
        request.store,
        request.backup,
        part,
        scratch,
        &request.opener,
        progress,
    )
    .await?;
    if !problems.is_empty() {
        // Nothing was restored: the files alone failed.
        return Ok(done("", problems));
    }
    let tools = Tools {
        bins,
        jobs: request.jobs,
        connect_timeout: request.connect_timeout,
    };
    let restored =
        restore_into_new_database(&tools, connection, part, &root, &database, progress).await;
    if let Err(e) = restored {
        return Ok(done(&restored_on, vec![format!("the restore failed: {e}")]));
    }
    progress(&RestoreEvent::Comparing);
    let mut scratch_connection = connection.clone();
    scratch_connection.database = database.clone();
    let compared = compare(&scratch_connection, part, request.connect_timeout).await;
    drop_database_of(connection, &database, request.connect_timeout).await?;
    Ok(done(&restored_on, compared?))
}

/// Row counts and the migration version of the restored copy against the catalog's.
async fn compare(
    scratch: &Connection,
    part: &ServicePart,
    connect_timeout: Duration,
) -> Result<Vec<String>, BackupError> {
    let client = pgfleet_pg::connect(scratch, "verify", connect_timeout).await?;
    let mut problems = Vec::new();
    for table in &part.tables {
        let sql = format!(
            "SELECT count(*) FROM {}.{}",
            quote_ident(&table.schema),
            quote_ident(&table.table)
        );
        match client.query_one(&sql, &[]).await {
            Ok(row) => {
                let rows = u64::try_from(row.get::<_, i64>(0)).unwrap_or(0);
                if rows != table.rows {
                    problems.push(format!(
                        "table {}.{} has {rows} rows, the catalog says {}",
                        table.schema, table.table, table.rows
                    ));
                }
            }
            Err(e) => problems.push(format!(
                "table {}.{}: {}",
                table.schema,
                table.table,
                pgfleet_pg::pg_error_text(&e)
            )),
        }
    }
    let version = migration_version(&client, &part.service)
        .await?
        .map(|v| v.to_string());
    if version != part.migration_version {
        problems.push(format!(
            "the migration version is {}, the catalog says {}",
            version.as_deref().unwrap_or("none"),
            part.migration_version.as_deref().unwrap_or("none")
        ));
    }
    Ok(problems)
}

/// The verification's audit row, in the service's database.
async fn audit(
    request: &VerifyRequest<'_>,
    connection: &Connection,
    verification: &Verification,
) -> Result<(), String> {
    let entry = AuditEntry {
        service: &verification.service,
        command: "backup verify",
        environment: request.environment,
        os_user: pgfleet_pg::history::os_user(),
        version_before: None,
        version_after: None,
        result: if verification.ok {
            AuditResult::Success
        } else {
            AuditResult::Failed
        },
        duration_ms: i64::try_from(verification.duration_ms).unwrap_or(i64::MAX),
        detail: serde_json::json!({
            "backup": request.backup,
            "restored_on": verification.restored_on,
            "problems": verification.problems,
        }),
    };
    audit_row(connection, request.connect_timeout, &entry).await
}
