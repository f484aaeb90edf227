//! Where backups are kept. Every store has the same shape: `<id>/backup.json` beside
//! `<id>/<service>/…`, and a backup exists for readers only once its `backup.json` does.
//! A backup is assembled in a local staging folder first (`staging`), then `publish`ed.

pub mod local;
pub mod s3;

use crate::{BackupError, Catalog};
use pgfleet_core::manifest::BackupStorage;
use pgfleet_core::{Manifest, Vars};
use std::path::{Path, PathBuf};

/// A backup store of one environment.
#[derive(Debug)]
pub enum Store {
    Local(local::LocalStore),
    S3(s3::S3Store),
}

impl Store {
    /// The store of `environment` as the manifest's `[backup]` table sets it (a local folder
    /// under `.pgfleet/backups/` by default); `vars` holds what a bucket's settings name.
    pub fn open(manifest: &Manifest, environment: &str, vars: &Vars) -> Result<Store, BackupError> {
        match manifest.backup_target(environment).storage {
            BackupStorage::Local { path } => Ok(Store::Local(local::LocalStore::new(path))),
            // Assembled locally first, beside the default local folders.
            BackupStorage::S3(s3) => Ok(Store::S3(s3::S3Store::open(
                &s3,
                vars,
                manifest
                    .state_dir()
                    .join("backups")
                    .join(".s3-staging")
                    .join(environment),
            )?)),
        }
    }

    /// Where it is, as messages and the catalog show it (never a credential).
    pub fn describe(&self) -> String {
        match self {
            Store::Local(store) => store.root().display().to_string(),
            Store::S3(store) => store.describe(),
        }
    }

    /// A fresh, empty local folder to assemble backup `id` in.
    pub fn staging(&self, id: &str) -> Result<PathBuf, BackupError> {
        match self {
            Store::Local(store) => store.staging(id),
            Store::S3(store) => store.staging(id),
        }
    }

    /// Makes the backup assembled in `staging` visible, `catalog` last: until then no
    /// reader lists it.
    pub async fn publish(
        &self,
        id: &str,
        staging: &Path,
        catalog: &Catalog,
    ) -> Result<(), BackupError> {
        match self {
            Store::Local(store) => store.publish(id, staging, catalog),
            Store::S3(store) => store.publish(id, staging, catalog).await,
        }
    }

    /// The ids of published backups, sorted.
    pub async fn list(&self) -> Result<Vec<String>, BackupError> {
        match self {
            Store::Local(store) => store.list(),
            Store::S3(store) => store.list().await,
        }
    }

    pub async fn read_catalog(&self, id: &str) -> Result<Catalog, BackupError> {
        match self {
            Store::Local(store) => store.read_catalog(id),
            Store::S3(store) => store.read_catalog(id).await,
        }
    }

    /// Replaces a published backup's catalog (to add a verification) in one step.
    pub async fn write_catalog(&self, id: &str, catalog: &Catalog) -> Result<(), BackupError> {
        match self {
            Store::Local(store) => store.write_catalog(id, catalog),
            Store::S3(store) => store.write_catalog(id, catalog).await,
        }
    }

    /// A local path holding the stored bytes of `file` of backup `id`: the file itself in a
    /// local store, a download into `scratch` otherwise.
    pub async fn local_copy(
        &self,
        id: &str,
        file: &str,
        scratch: &Path,
    ) -> Result<PathBuf, BackupError> {
        match self {
            Store::Local(store) => store.file_path(id, file),
            Store::S3(store) => store.local_copy(id, file, scratch).await,
        }
    }

    /// Backups whose upload was interrupted: files in the store and no catalog. A local
    /// store has none (it assembles under `.partial/`, which `create` cleans up).
    pub async fn incomplete(&self) -> Result<Vec<String>, BackupError> {
        match self {
            Store::Local(_) => Ok(Vec::new()),
            Store::S3(store) => store.incomplete().await,
        }
    }

    /// Removes a published backup: its catalog first, so a crash part-way leaves no listed
    /// backup with missing files.
    pub async fn delete(&self, id: &str) -> Result<(), BackupError> {
        match self {
            Store::Local(store) => store.delete(id),
            Store::S3(store) => store.delete(id).await,
        }
    }
}

/// Catalog bytes as stored: pretty JSON with a final newline.
pub(crate) fn catalog_bytes(catalog: &Catalog) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(catalog).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}
