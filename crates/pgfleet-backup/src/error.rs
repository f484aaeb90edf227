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
    /// A setting of the backup table that cannot be used: an unset variable (named, never a
    /// value), a key that does not parse.
    #[error("{0}")]
    Config(String),
    /// Object storage refused or failed (its message names the bucket and key, never a
    /// credential).
    #[error("{what}: {message}")]
    Storage { what: String, message: String },
    #[error("backup encryption failed: {0}")]
    Encrypt(String),
    #[error("{file} cannot be opened: {why}")]
    Decrypt { file: String, why: String },
}

impl BackupError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        BackupError::Io {
            what: what.into(),
            source,
        }
    }
}
