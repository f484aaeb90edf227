//! What the store holds, as `backup list` and `backup status` report it (and serve, later):
//! computed from the published catalogs only, so a killed or unfinished backup never shows.

use crate::catalog::{Catalog, PartStatus};
use crate::{BackupError, BackupId, Store};
use jiff::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;

/// Every published catalog, newest first, and the ones that could not be read.
#[derive(Debug)]
pub struct Catalogs {
    pub catalogs: Vec<Catalog>,
    /// A catalog that does not parse: said, never a reason to hide the others.
    pub problems: Vec<String>,
}

pub async fn read_all(store: &Store) -> Result<Catalogs, BackupError> {
    let mut catalogs = Vec::new();
    let mut problems = Vec::new();
    for id in store.list().await? {
        match store.read_catalog(&id).await {
            Ok(catalog) => catalogs.push(catalog),
            Err(BackupError::NotFound(_)) => {}
            Err(e) => problems.push(e.to_string()),
        }
    }
    catalogs.sort_by(|a, b| taken_at(b).cmp(&taken_at(a)).then(b.id.cmp(&a.id)));
    Ok(Catalogs { catalogs, problems })
}

/// When a backup was taken: the time its id names.
pub fn taken_at(catalog: &Catalog) -> Timestamp {
    BackupId::parse(&catalog.id).map_or(catalog.started_at, |id| id.taken_at)
}

fn age_seconds(at: Timestamp, now: Timestamp) -> i64 {
    (now.as_second() - at.as_second()).max(0)
}

/// One (backup, service part) of `backup list`.
#[derive(Debug, Clone, Serialize)]
pub struct ListRow {
    pub id: String,
    pub service: String,
    /// `complete` or `failed`.
    pub status: &'static str,
    /// Why a failed part failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub migration_version: Option<String>,
    /// Bytes as stored.
    pub bytes: u64,
    pub taken_at: Timestamp,
    pub age_seconds: i64,
    /// The result of the part's newest verification; `None` when never verified.
    pub verified: Option<bool>,
    pub verified_at: Option<Timestamp>,
}

/// The rows of `backup list`, newest backup first; only `services` when any are given.
pub fn list_rows(catalogs: &[Catalog], services: &[String], now: Timestamp) -> Vec<ListRow> {
    let mut rows = Vec::new();
    for catalog in catalogs {
        let at = taken_at(catalog);
        for part in &catalog.services {
            if !services.is_empty() && !services.contains(&part.service) {
                continue;
            }
            let (status, error) = match &part.status {
                PartStatus::Complete => ("complete", None),
                PartStatus::Failed { error } => ("failed", Some(error.clone())),
            };
            let verification = catalog.last_verification(&part.service);
            rows.push(ListRow {
                id: catalog.id.clone(),
                service: part.service.clone(),
                status,
                error,
                migration_version: part.migration_version.clone(),
                bytes: part.bytes,
                taken_at: at,
                age_seconds: age_seconds(at, now),
                verified: verification.map(|v| v.ok),
                verified_at: verification.map(|v| v.at),
            });
        }
    }
    rows
}

/// Seed 004's `get_backup_status`: totals, and per service its newest complete and newest
/// verified backups.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub backups: usize,
    /// Bytes of every published backup, as stored.
    pub bytes: u64,
    pub services: Vec<ServiceStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceStatus {
    pub service: String,
    /// The newest complete backup of the service.
    pub latest: Option<BackupSummary>,
    /// The newest backup of the service that was verified, and how its last verify went.
    pub latest_verified: Option<VerifiedSummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackupSummary {
    pub id: String,
    pub taken_at: Timestamp,
    pub age_seconds: i64,
    pub bytes: u64,
    pub migration_version: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifiedSummary {
    pub id: String,
    pub taken_at: Timestamp,
    pub age_seconds: i64,
    pub verified_at: Timestamp,
    pub ok: bool,
    pub problems: Vec<String>,
}

/// The status of `services` (the manifest's: a service with no backup is listed too) and of
/// any other service the catalogs hold. `catalogs` newest first, as `read_all` gives them.
pub fn status(catalogs: &[Catalog], services: &[String], now: Timestamp) -> StatusReport {
    let mut per_service: BTreeMap<String, ServiceStatus> = services
        .iter()
        .map(|s| {
            (
                s.clone(),
                ServiceStatus {
                    service: s.clone(),
                    latest: None,
                    latest_verified: None,
                },
            )
        })
        .collect();
    let mut bytes = 0;
    for catalog in catalogs {
        let at = taken_at(catalog);
        bytes += catalog.services.iter().map(|p| p.bytes).sum::<u64>();
        bytes += catalog
            .roles
            .iter()
            .filter_map(|r| r.file.as_ref())
            .map(|f| f.bytes)
            .sum::<u64>();
        for part in catalog.usable_parts() {
            let entry = per_service
                .entry(part.service.clone())
                .or_insert_with(|| ServiceStatus {
                    service: part.service.clone(),
                    latest: None,
                    latest_verified: None,
                });
            if entry.latest.is_none() {
                entry.latest = Some(BackupSummary {
                    id: catalog.id.clone(),
                    taken_at: at,
                    age_seconds: age_seconds(at, now),
                    bytes: part.bytes,
                    migration_version: part.migration_version.clone(),
                });
            }
            if entry.latest_verified.is_none()
                && let Some(v) = catalog.last_verification(&part.service)
            {
                entry.latest_verified = Some(VerifiedSummary {
                    id: catalog.id.clone(),
                    taken_at: at,
                    age_seconds: age_seconds(at, now),
                    verified_at: v.at,
                    ok: v.ok,
                    problems: v.problems.clone(),
                });
            }
        }
    }
    StatusReport {
        backups: catalogs.len(),
        bytes,
        services: per_service.into_values().collect(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::catalog::{BackupKind, ServicePart, Verification};

    fn part(service: &str, status: PartStatus, bytes: u64) -> ServicePart {
        ServicePart {
            service: service.to_owned(),
            server: "main".to_owned(),
            database: "db".to_owned(),
            schema: None,
            postgres_version: "15".to_owned(),
            migration_version: Some("2".to_owned()),
            status,
            tables: Vec::new(),
            bytes,
            raw_bytes: bytes * 3,
            duration_ms: 1,
            files: Vec::new(),
            extensions: Vec::new(),
        }
    }

    fn catalog(id: &str, parts: Vec<ServicePart>, verifications: Vec<Verification>) -> Catalog {
        let at = BackupId::parse(id).unwrap().taken_at;
        Catalog {
            format: crate::CATALOG_FORMAT,
            id: id.to_owned(),
            kind: BackupKind::Full,
            fleet: "f".to_owned(),
            environment: "e".to_owned(),
            started_at: at,
            finished_at: at,
            pgfleet_version: "0".to_owned(),
            tools: BTreeMap::new(),
            compression: "zstd-3".to_owned(),
            encrypted_for: None,
            services: parts,
            roles: Vec::new(),
            verifications,
        }
    }

    #[test]
    fn status_takes_the_newest_complete_and_the_newest_verified_per_service() {
        let verified = |service: &str, ok: bool| Verification {
            service: service.to_owned(),
            at: "2024-01-03T00:00:00Z".parse().unwrap(),
            ok,
            restored_on: "main/scratch".to_owned(),
            duration_ms: 1,
            problems: Vec::new(),
        };
        // Newest first, as read_all sorts them.
        let catalogs = vec![
            catalog(
                "full_20240103_000000",
                vec![
                    part("a", PartStatus::Failed { error: "x".into() }, 0),
                    part("b", PartStatus::Complete, 30),
                ],
                Vec::new(),
            ),
            catalog(
                "full_20240102_000000",
                vec![part("a", PartStatus::Complete, 20)],
                vec![verified("a", false)],
            ),
            catalog(
                "full_20240101_000000",
                vec![part("a", PartStatus::Complete, 10)],
                vec![verified("a", true)],
            ),
        ];
        let now: Timestamp = "2024-01-03T01:00:00Z".parse().unwrap();
        let report = status(&catalogs, &["a".into(), "b".into(), "c".into()], now);
        assert_eq!((report.backups, report.bytes), (3, 60));
        let a = &report.services[0];
        assert_eq!(a.latest.as_ref().unwrap().id, "full_20240102_000000");
        let v = a.latest_verified.as_ref().unwrap();
        assert_eq!((v.id.as_str(), v.ok), ("full_20240102_000000", false));
        let b = &report.services[1];
        assert_eq!(b.latest.as_ref().unwrap().age_seconds, 3600);
        assert!(b.latest_verified.is_none());
        assert!(report.services[2].latest.is_none());

        let rows = list_rows(&catalogs, &["a".into()], now);
        assert_eq!(rows.len(), 3);
        assert_eq!((rows[0].status, rows[0].verified), ("failed", None));
        assert_eq!(rows[1].verified, Some(false));
    }
}
