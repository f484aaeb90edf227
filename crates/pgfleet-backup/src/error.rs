use std::path::PathBuf;

/// What can go wrong in a backup, a verify, a restore or a prune.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("backup `{0}` does not exist")]
    NotFound(String),
    #[error("the catalog file {path} cannot be read: {why}")]
    BadCatalog { path: PathBuf, why: String },
    #[error("`{0}` is not a backup id (expected <name>_YYYYMMDD_HHMMSS)")]
    BadId(String),
}

impl BackupError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        BackupError::Io {
            what: what.into(),
            source,
        }
    }
}
