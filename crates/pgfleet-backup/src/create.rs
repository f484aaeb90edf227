//! `backup create`: every part of a run dumped at once across servers (at most
//! `jobs_per_server` per server, so a backup does not starve production), each file sealed
//! (zstd and SHA-256) in parallel, and each backup published with its catalog last. A part that
//! fails is recorded as failed and its files are dropped; the others go on.

use crate::catalog::{BackupKind, Catalog, FileEntry, PartStatus, RolesPart, ServicePart};
use crate::dump::{self, PartSource};
use crate::owner::{self, Owner};
use crate::{BackupError, BackupId, FULL, Store, seal_file};
use jiff::Timestamp;
use pgfleet_cluster::PgBinaries;
use pgfleet_core::manifest::Placement;
use pgfleet_core::{Connection, Manifest, Resolver};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Which services a run backs up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every service, and each server's roles: one backup, `full_<time>`.
    All,
    /// These services: one backup each, `<service>_<time>` (so an id always names what it
    /// holds, and each service's backups are pruned and restored on their own).
    Services(Vec<String>),
}

/// What a run is asked to do.
#[derive(Debug)]
pub struct CreateRequest<'a> {
    pub manifest: &'a Manifest,
    pub resolver: &'a Resolver<'a>,
    pub environment: &'a str,
    pub selection: Selection,
    /// How long opening a session may take.
    pub connect_timeout: Duration,
}

/// Progress of a run, one event at a time, from any part's task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The part has its server slot and is opening its session.
    Started { backup: String, part: String },
    /// pg_dump has written `bytes` so far.
    Dumping {
        backup: String,
        part: String,
        bytes: u64,
    },
    /// `done` of `total` raw bytes compressed and hashed.
    Sealing {
        backup: String,
        part: String,
        done: u64,
        total: u64,
    },
    /// The part is complete: `bytes` stored.
    Finished {
        backup: String,
        part: String,
        bytes: u64,
    },
    Failed {
        backup: String,
        part: String,
        error: String,
    },
}

/// Where events go.
pub type Progress = Arc<dyn Fn(&Event) + Send + Sync>;

/// The label of a server's roles part in events.
pub fn roles_label(server: &str) -> String {
    format!("roles@{server}")
}

/// A backup of the run before it is published.
#[derive(Debug)]
struct Planned {
    id: String,
    kind: BackupKind,
    staging: PathBuf,
    owner: Owner,
    services: Vec<ServicePart>,
    roles: Vec<RolesPart>,
}

/// What a part's task hands back.
enum Outcome {
    Service(usize, ServicePart),
    Roles(usize, RolesPart),
}

/// Runs the backups `request` asks for into `store` and returns their catalogs, as published.
/// Failed parts are in them as failed; an error is returned only when nothing could start
/// (configuration, tools, the store).
pub async fn create(
    request: &CreateRequest<'_>,
    store: &Store,
    progress: Progress,
) -> Result<Vec<Catalog>, BackupError> {
    let manifest = request.manifest;
    let settings = &manifest.backup;
    let target = manifest.backup_target(request.environment);
    if target.encryption.is_some() {
        return Err(BackupError::Unsupported(format!(
            "the backups of environment `{}` are to be encrypted, which this build cannot do yet\n  hint: remove [backup.environments.{}.encryption] or use a pgfleet that encrypts",
            request.environment, request.environment
        )));
    }
    let (services, full) = match &request.selection {
        Selection::All => (manifest.services.keys().cloned().collect::<Vec<_>>(), true),
        Selection::Services(names) => {
            if names.is_empty() {
                return Err(BackupError::Usage(
                    "name the services to back up, or pass --all for every service".to_owned(),
                ));
            }
            let unique: BTreeSet<&String> = names.iter().collect();
            (unique.into_iter().cloned().collect(), false)
        }
    };
    // Every connection resolves before anything runs.
    let mut sources = Vec::new();
    for service in &services {
        let config = request.resolver.service(service)?;
        let connection = request
            .resolver
            .resolve_admin(service, request.environment)?;
        let schema = match &config.placement {
            Placement::Schema { schema, .. } => Some(schema.clone()),
            Placement::Database { .. } => None,
        };
        sources.push(PartSource {
            service: service.clone(),
            connection,
            schema,
        });
    }
    // One connection per server for its roles: the first service's (its database exists).
    let mut role_sources: BTreeMap<String, Connection> = BTreeMap::new();
    if full {
        for source in &sources {
            role_sources
                .entry(source.connection.server.clone())
                .or_insert_with(|| source.connection.clone());
        }
    }

    let bins = Arc::new(PgBinaries::discover()?);
    let mut tools = BTreeMap::new();
    tools.insert(
        "pg_dump".to_owned(),
        pgfleet_cluster::dump::tool_version(&bins, "pg_dump")?,
    );
    if full {
        tools.insert(
            "pg_dumpall".to_owned(),
            pgfleet_cluster::dump::tool_version(&bins, "pg_dumpall")?,
        );
    }

    let started_at = Timestamp::now();
    let names: Vec<String> = if full {
        vec![FULL.to_owned()]
    } else {
        services.clone()
    };
    // Killed runs' leftovers go first (their pg_dumps stopped), so none is still writing into
    // a folder this run reuses.
    let partial = staging_root(store)?;
    owner::remove_dead_runs(&partial);
    let taken_at = free_second(store, &partial, &names, started_at).await?;
    let mut planned = Vec::new();
    for name in &names {
        let id = BackupId::new(name, taken_at).to_string();
        let owner = Owner::claim(&partial, &id)?;
        let staging = store.staging(&id)?;
        planned.push(Planned {
            id,
            kind: if full {
                BackupKind::Full
            } else {
                BackupKind::Services
            },
            staging,
            owner,
            services: Vec::new(),
            roles: Vec::new(),
        });
    }
    let index_of = |service: &str| {
        if full {
            0
        } else {
            names.iter().position(|n| n == service).unwrap_or(0)
        }
    };

    let per_server: HashMap<String, Arc<Semaphore>> = sources
        .iter()
        .map(|s| s.connection.server.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|server| {
            (
                server,
                Arc::new(Semaphore::new(settings.jobs_per_server as usize)),
            )
        })
        .collect();
    let sealers = Arc::new(Semaphore::new(
        std::thread::available_parallelism().map_or(2, |n| n.get()),
    ));
    let mut tasks = tokio::task::JoinSet::new();
    let mut labels = HashMap::new();
    for source in sources {
        let index = index_of(&source.service);
        let backup = planned[index].id.clone();
        let dir = planned[index].staging.join(&source.service);
        let slot = per_server[&source.connection.server].clone();
        let job = PartJob {
            bins: bins.clone(),
            owner: planned[index].owner.clone(),
            sealers: sealers.clone(),
            progress: progress.clone(),
            backup: backup.clone(),
            dump_jobs: settings.dump_jobs,
            zstd_level: settings.zstd_level,
            connect_timeout: request.connect_timeout,
        };
        let label = source.service.clone();
        let handle = tasks.spawn(async move {
            let _slot = slot.acquire_owned().await;
            Outcome::Service(index, job.service_part(source, dir).await)
        });
        labels.insert(handle.id(), (index, label, None));
    }
    for (server, connection) in role_sources {
        let staging = planned[0].staging.clone();
        let slot = per_server[&server].clone();
        let job = PartJob {
            bins: bins.clone(),
            owner: planned[0].owner.clone(),
            sealers: sealers.clone(),
            progress: progress.clone(),
            backup: planned[0].id.clone(),
            dump_jobs: settings.dump_jobs,
            zstd_level: settings.zstd_level,
            connect_timeout: request.connect_timeout,
        };
        let label = roles_label(&server);
        let server_name = server.clone();
        let handle = tasks.spawn(async move {
            let _slot = slot.acquire_owned().await;
            Outcome::Roles(0, job.roles_part(&server, &connection, &staging).await)
        });
        labels.insert(handle.id(), (0, label, Some(server_name)));
    }
    while let Some(joined) = tasks.join_next_with_id().await {
        match joined {
            Ok((_, Outcome::Service(index, part))) => planned[index].services.push(part),
            Ok((_, Outcome::Roles(index, part))) => planned[index].roles.push(part),
            // A task that panicked: its part failed, the others go on.
            Err(e) => {
                if let Some((index, label, roles_of)) = labels.remove(&e.id()) {
                    let error = format!("the backup task stopped: {e}");
                    progress(&Event::Failed {
                        backup: planned[index].id.clone(),
                        part: label.clone(),
                        error: error.clone(),
                    });
                    match roles_of {
                        Some(server) => planned[index].roles.push(RolesPart {
                            server,
                            status: PartStatus::Failed { error },
                            file: None,
                        }),
                        None => planned[index].services.push(failed_part(&label, error)),
                    }
                }
            }
        }
    }

    let mut catalogs = Vec::new();
    for mut backup in planned {
        backup.services.sort_by(|a, b| a.service.cmp(&b.service));
        backup.roles.sort_by(|a, b| a.server.cmp(&b.server));
        let catalog = Catalog {
            format: crate::CATALOG_FORMAT,
            id: backup.id.clone(),
            kind: backup.kind,
            fleet: manifest.fleet.name.clone(),
            environment: request.environment.to_owned(),
            started_at,
            finished_at: Timestamp::now(),
            pgfleet_version: env!("CARGO_PKG_VERSION").to_owned(),
            tools: tools.clone(),
            compression: format!("zstd-{}", settings.zstd_level),
            encrypted_for: None,
            services: backup.services,
            roles: backup.roles,
            verifications: Vec::new(),
        };
        store.publish(&backup.id, &backup.staging, &catalog).await?;
        backup.owner.release();
        catalogs.push(catalog);
    }
    Ok(catalogs)
}

/// A part that failed before it had anything to say about its source.
fn failed_part(service: &str, error: String) -> ServicePart {
    ServicePart {
        service: service.to_owned(),
        server: String::new(),
        database: String::new(),
        schema: None,
        postgres_version: String::new(),
        migration_version: None,
        status: PartStatus::Failed { error },
        tables: Vec::new(),
        bytes: 0,
        raw_bytes: 0,
        duration_ms: 0,
        files: Vec::new(),
        extensions: Vec::new(),
    }
}

/// What every part's task shares.
struct PartJob {
    bins: Arc<PgBinaries>,
    /// Where the tools it starts are recorded, so a later run can stop them if this one dies.
    owner: Owner,
    sealers: Arc<Semaphore>,
    progress: Progress,
    backup: String,
    dump_jobs: u32,
    zstd_level: i32,
    connect_timeout: Duration,
}

impl PartJob {
    async fn service_part(&self, source: PartSource, dir: PathBuf) -> ServicePart {
        let started = Instant::now();
        let part = source.service.clone();
        (self.progress)(&Event::Started {
            backup: self.backup.clone(),
            part: part.clone(),
        });
        let dumping = |bytes| {
            (self.progress)(&Event::Dumping {
                backup: self.backup.clone(),
                part: part.clone(),
                bytes,
            })
        };
        let result = async {
            let dumped = dump::dump_part(
                &self.bins,
                &source,
                &dir,
                self.dump_jobs,
                self.connect_timeout,
                &|pid| self.owner.child(pid),
                &dumping,
            )
            .await?;
            let files = self
                .seal(&part, &dir, &source.service, &dumped.files)
                .await?;
            Ok::<_, BackupError>((dumped, files))
        }
        .await;
        let connection = &source.connection;
        let mut entry = failed_part(&source.service, String::new());
        entry.server = connection.server.clone();
        entry.database = connection.database.clone();
        entry.schema = source.schema.clone();
        match result {
            Ok((dumped, files)) => {
                entry.status = PartStatus::Complete;
                entry.postgres_version = dumped.postgres_version;
                entry.migration_version = dumped.migration_version;
                entry.tables = dumped.tables;
                entry.extensions = dumped.extensions;
                entry.bytes = files.iter().map(|(f, _)| f.bytes).sum();
                entry.raw_bytes = files.iter().map(|(_, raw)| raw).sum();
                entry.files = files.into_iter().map(|(f, _)| f).collect();
                entry.duration_ms = millis(started.elapsed());
                (self.progress)(&Event::Finished {
                    backup: self.backup.clone(),
                    part,
                    bytes: entry.bytes,
                });
            }
            Err(error) => {
                // Its files are not kept: nothing of a failed part is in the store.
                let _ = std::fs::remove_dir_all(&dir);
                let error = error.to_string();
                entry.status = PartStatus::Failed {
                    error: error.clone(),
                };
                entry.duration_ms = millis(started.elapsed());
                (self.progress)(&Event::Failed {
                    backup: self.backup.clone(),
                    part,
                    error,
                });
            }
        }
        entry
    }

    async fn roles_part(&self, server: &str, connection: &Connection, staging: &Path) -> RolesPart {
        let part = roles_label(server);
        (self.progress)(&Event::Started {
            backup: self.backup.clone(),
            part: part.clone(),
        });
        let name = format!("{server}.sql");
        let raw = staging.join("roles").join(&name);
        let result = async {
            dump::dump_roles(&self.bins, connection, &raw, &|pid| self.owner.child(pid)).await?;
            let mut files = self
                .seal(
                    &part,
                    &staging.join("roles"),
                    "roles",
                    &[PathBuf::from(&name)],
                )
                .await?;
            Ok::<_, BackupError>(files.remove(0).0)
        }
        .await;
        match result {
            Ok(file) => {
                (self.progress)(&Event::Finished {
                    backup: self.backup.clone(),
                    part,
                    bytes: file.bytes,
                });
                RolesPart {
                    server: server.to_owned(),
                    status: PartStatus::Complete,
                    file: Some(file),
                }
            }
            Err(error) => {
                let _ = std::fs::remove_file(&raw);
                let _ = std::fs::remove_file(sealed_name(&raw));
                let error = error.to_string();
                (self.progress)(&Event::Failed {
                    backup: self.backup.clone(),
                    part,
                    error: error.clone(),
                });
                RolesPart {
                    server: server.to_owned(),
                    status: PartStatus::Failed { error },
                    file: None,
                }
            }
        }
    }

    /// Seals `files` (relative to `dir`) into `<file>.zst` beside them, in parallel, each raw
    /// file removed once sealed; entries are named `<prefix>/<file>.zst`, with raw sizes.
    async fn seal(
        &self,
        part: &str,
        dir: &Path,
        prefix: &str,
        files: &[PathBuf],
    ) -> Result<Vec<(FileEntry, u64)>, BackupError> {
        let total: u64 = files
            .iter()
            .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
            .map(|m| m.len())
            .sum();
        let mut tasks = tokio::task::JoinSet::new();
        for (n, file) in files.iter().enumerate() {
            let raw = dir.join(file);
            let sealed = sealed_name(&raw);
            let level = self.zstd_level;
            let sealers = self.sealers.clone();
            tasks.spawn(async move {
                let _permit = sealers.acquire_owned().await;
                let result = tokio::task::spawn_blocking(move || {
                    let sealed_file = seal_file(&raw, &sealed, level)?;
                    std::fs::remove_file(&raw)
                        .map_err(|e| BackupError::io(format!("removing {}", raw.display()), e))?;
                    Ok::<_, BackupError>(sealed_file)
                })
                .await
                .map_err(|e| BackupError::Task(format!("compressing stopped: {e}")))?;
                result.map(|sealed| (n, sealed))
            });
        }
        let mut sealed = vec![None; files.len()];
        let mut done = 0;
        while let Some(joined) = tasks.join_next().await {
            let (n, file) =
                joined.map_err(|e| BackupError::Task(format!("compressing stopped: {e}")))??;
            done += file.raw_bytes;
            (self.progress)(&Event::Sealing {
                backup: self.backup.clone(),
                part: part.to_owned(),
                done,
                total,
            });
            sealed[n] = Some(file);
        }
        Ok(files
            .iter()
            .zip(sealed)
            .filter_map(|(file, sealed)| {
                let sealed = sealed?;
                let path = Path::new(prefix).join(file);
                Some((
                    FileEntry {
                        path: format!("{}.zst", path.display()),
                        bytes: sealed.bytes,
                        sha256: sealed.sha256,
                    },
                    sealed.raw_bytes,
                ))
            })
            .collect())
    }
}

fn sealed_name(raw: &Path) -> PathBuf {
    let mut name = raw.as_os_str().to_owned();
    name.push(".zst");
    PathBuf::from(name)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The folder staging folders are made in: the parent of a probe's, which is removed again.
fn staging_root(store: &Store) -> Result<PathBuf, BackupError> {
    let probe = store.staging(&format!("{}{}", owner::PROBE, std::process::id()))?;
    let _ = std::fs::remove_dir(&probe);
    Ok(probe
        .parent()
        .map_or_else(|| probe.clone(), Path::to_path_buf))
}

/// The first second from `now` at which none of `names` has a backup yet, published or being
/// assembled: ids name a second, and a second run within one must not collide with the first.
async fn free_second(
    store: &Store,
    partial: &Path,
    names: &[String],
    now: Timestamp,
) -> Result<Timestamp, BackupError> {
    let published: BTreeSet<String> = store.list().await?.into_iter().collect();
    let mut at = now;
    for _ in 0..10 {
        // Published, or being assembled by a run that is still alive.
        let taken = names.iter().any(|name| {
            let id = BackupId::new(name, at).to_string();
            published.contains(&id) || partial.join(format!("{id}.pid")).exists()
        });
        if !taken {
            if at != now {
                // The id names this second: do not publish it before the second has come.
                let wait = at.as_millisecond() - Timestamp::now().as_millisecond();
                if wait > 0 {
                    tokio::time::sleep(Duration::from_millis(wait.unsigned_abs())).await;
                }
            }
            return Ok(at);
        }
        at = Timestamp::from_second(at.as_second() + 1).unwrap_or(at);
    }
    Err(BackupError::Usage(
        "a backup of these services already exists for each of the next ten seconds".to_owned(),
    ))
}
