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
    /// A service's connection does not resolve (configuration).
    #[error(transparent)]
    Resolve(#[from] pgfleet_core::ResolveError),
    /// The PostgreSQL tools are missing or cannot be run.
    #[error(transparent)]
    Tool(#[from] pgfleet_cluster::ClusterError),
    /// A session or a statement failed (the server's message, never a password).
    #[error("{0}")]
    Postgres(String),
    /// What the manifest asks for cannot be done faithfully: refused, never weakened.
    #[error("{0}")]
    Unsupported(String),
    /// Nothing to back up: the command line's fault.
    #[error("{0}")]
    Usage(String),
    /// A task of the run stopped before its work was done.
    #[error("{0}")]
    Task(String),
    #[error(
        "backup `{backup}` has no complete part of service `{service}`\n  hint: `pgfleet backup list {service}` shows its backups"
    )]
    NoPart { backup: String, service: String },
    /// Files missing or changed since the backup was written, each `<path>: <why>`.
    #[error("backup `{backup}` is damaged:\n  {}", problems.join("\n  "))]
    Corrupt {
        backup: String,
        problems: Vec<String>,
    },
    #[error(
        "the backup needs role(s) that server `{server}` does not have: {}\n  hint: run `pgfleet access apply` first (or restore a full backup's roles file)",
        roles.join(", ")
    )]
    MissingRoles { server: String, roles: Vec<String> },
    #[error(
        "the live `{service}` is at migration version {live}, newer than the backup's {backup}\n  hint: pass --force-older to restore the older version over it"
    )]
    NewerLive {
        service: String,
        live: String,
        backup: String,
    },
    /// The target of a restore exists.
    #[error("{0}\n  hint: restore with --into another name, or over it with --replace")]
    Exists(String),
}

impl BackupError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        BackupError::Io {
            what: what.into(),
            source,
        }
    }
}

impl From<pgfleet_pg::PgError> for BackupError {
    fn from(error: pgfleet_pg::PgError) -> Self {
        BackupError::Postgres(error.to_string())
    }
}

impl From<tokio_postgres::Error> for BackupError {
    fn from(error: tokio_postgres::Error) -> Self {
        BackupError::Postgres(pgfleet_pg::pg_error_text(&error))
    }
}
