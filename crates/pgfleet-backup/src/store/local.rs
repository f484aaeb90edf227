//! A local folder: backups are assembled under `.partial/` in the same folder and renamed
//! into place, so publishing is one atomic rename on one filesystem.

use crate::{BackupError, CATALOG_FILE, Catalog};
use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

const PARTIAL: &str = ".partial";

#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    pub fn new(root: PathBuf) -> Self {
        LocalStore { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn staging(&self, id: &str) -> Result<PathBuf, BackupError> {
        let dir = self.root.join(PARTIAL).join(id);
        if dir.exists() {
            fs::remove_dir_all(&dir)
                .map_err(|e| BackupError::io(format!("removing {}", dir.display()), e))?;
        }
        fs::create_dir_all(&dir)
            .map_err(|e| BackupError::io(format!("creating {}", dir.display()), e))?;
        Ok(dir)
    }

    pub(crate) fn publish(
        &self,
        id: &str,
        staging: &Path,
        catalog: &Catalog,
    ) -> Result<(), BackupError> {
        write_synced(&staging.join(CATALOG_FILE), &super::catalog_bytes(catalog))?;
        sync_dir(staging)?;
        let dest = self.root.join(id);
        fs::rename(staging, &dest).map_err(|e| {
            BackupError::io(
                format!("moving {} to {}", staging.display(), dest.display()),
                e,
            )
        })?;
        sync_dir(&self.root)
    }

    pub(crate) fn list(&self) -> Result<Vec<String>, BackupError> {
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(BackupError::io(
                    format!("listing {}", self.root.display()),
                    e,
                ));
            }
        };
        let mut ids: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter(|name| !name.starts_with('.'))
            .filter(|name| self.root.join(name).join(CATALOG_FILE).is_file())
            .collect();
        ids.sort();
        Ok(ids)
    }

    pub(crate) fn read_catalog(&self, id: &str) -> Result<Catalog, BackupError> {
        let path = self.file_path(id, CATALOG_FILE)?;
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BackupError::NotFound(id.to_owned()));
            }
            Err(e) => return Err(BackupError::io(format!("reading {}", path.display()), e)),
        };
        serde_json::from_slice(&bytes).map_err(|e| BackupError::BadCatalog {
            path,
            why: e.to_string(),
        })
    }

    pub(crate) fn write_catalog(&self, id: &str, catalog: &Catalog) -> Result<(), BackupError> {
        let path = self.file_path(id, CATALOG_FILE)?;
        let temp = path.with_extension("json.new");
        write_synced(&temp, &super::catalog_bytes(catalog))?;
        fs::rename(&temp, &path)
            .map_err(|e| BackupError::io(format!("replacing {}", path.display()), e))?;
        sync_dir(path.parent().unwrap_or(&self.root))
    }

    /// The path of `file` in backup `id`; a name that would leave the backup's folder is
    /// refused (a catalog is data read back from storage).
    pub(crate) fn file_path(&self, id: &str, file: &str) -> Result<PathBuf, BackupError> {
        let relative = Path::new(id).join(file);
        if relative
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(BackupError::BadId(relative.display().to_string()));
        }
        Ok(self.root.join(relative))
    }

    pub(crate) fn delete(&self, id: &str) -> Result<(), BackupError> {
        let dir = self.file_path(id, "")?;
        // Out of the listing first (one rename), then the files.
        let doomed = self.root.join(PARTIAL).join(format!("deleting-{id}"));
        fs::create_dir_all(self.root.join(PARTIAL))
            .map_err(|e| BackupError::io(format!("creating {}", self.root.display()), e))?;
        fs::rename(&dir, &doomed)
            .map_err(|e| BackupError::io(format!("removing {}", dir.display()), e))?;
        sync_dir(&self.root)?;
        fs::remove_dir_all(&doomed)
            .map_err(|e| BackupError::io(format!("removing {}", doomed.display()), e))
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    let what = || format!("writing {}", path.display());
    let mut file = fs::File::create(path).map_err(|e| BackupError::io(what(), e))?;
    file.write_all(bytes)
        .map_err(|e| BackupError::io(what(), e))?;
    file.sync_all().map_err(|e| BackupError::io(what(), e))
}

/// A rename or a new file is durable only once its folder is synced.
fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| BackupError::io(format!("syncing {}", dir.display()), e))
}
