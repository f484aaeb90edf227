//! The errors commands return, and the documented exit code of each kind.

use pgfleet_cluster::ClusterError;
use pgfleet_core::{ManifestError, ResolveError};
use pgfleet_pg::{PgError, pg_error_text};

/// Exit codes, documented in the README and in `pgfleet --help`.
pub mod exit {
    pub const OK: u8 = 0;
    /// A command or a check failed (a server error, `env check` found problems…).
    pub const FAILED: u8 = 1;
    /// The command line was wrong (clap's own code).
    pub const USAGE: u8 = 2;
    /// The manifest is missing or invalid.
    pub const MANIFEST: u8 = 3;
    /// Configuration: unset variables, unknown environment or service.
    pub const CONFIG: u8 = 4;
    /// Local PostgreSQL: binaries not found, a cluster that does not start.
    pub const LOCAL: u8 = 5;
    /// `access check` found drift: its own code, so a script can tell "the database differs"
    /// from "the command line was wrong" (clap's 2).
    pub const DRIFT: u8 = 6;
    /// `env exec`: the command was found but could not be run (env(1)'s and the shells' code).
    pub const NOT_RUNNABLE: u8 = 126;
    /// `env exec`: no such command (env(1)'s and the shells' code).
    pub const NOT_FOUND: u8 = 127;
    /// SIGINT or SIGTERM stopped a run; what it did is reported and audited (128 + SIGINT,
    /// the shells' convention).
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Migrate(Box<pgfleet_migrate::MigrateError>),
    #[error("{0}")]
    Failed(String),
    /// `access check` found differences (listed on stdout).
    #[error("{0} difference(s) between the manifest and the database")]
    Drift(usize),
    /// `env exec` could not start its command (`code`: 126 or 127).
    #[error("{message}")]
    NotRun { message: String, code: u8 },
    /// A signal stopped the run (the report says how far it got).
    #[error("{0}")]
    Interrupted(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Manifest(_) => exit::MANIFEST,
            CliError::Resolve(_) | CliError::Config(_) => exit::CONFIG,
            CliError::Cluster(_) => exit::LOCAL,
            CliError::Failed(_) | CliError::Migrate(_) => exit::FAILED,
            CliError::Drift(_) => exit::DRIFT,
            CliError::Interrupted(_) => exit::INTERRUPTED,
            CliError::NotRun { code, .. } => *code,
        }
    }
}

impl From<pgfleet_migrate::MigrateError> for CliError {
    fn from(error: pgfleet_migrate::MigrateError) -> Self {
        CliError::Migrate(Box::new(error))
    }
}

/// Targets of `serve` that do not resolve or cannot be pooled: configuration, as before serve
/// had its own crate; a pool that cannot be built is a failure.
impl From<pgfleet_serve::ServeError> for CliError {
    fn from(error: pgfleet_serve::ServeError) -> Self {
        use pgfleet_serve::ServeError;
        match error {
            ServeError::Resolve(e) => CliError::Resolve(e),
            ServeError::Tls { .. } => CliError::Config(error.to_string()),
            ServeError::Pool { .. } => CliError::Failed(error.to_string()),
        }
    }
}

/// The local clusters of `dev`: a cluster problem keeps its own exit code, a dev server
/// without a port is configuration, the rest is a failure.
impl From<pgfleet_cluster::fleet::FleetError> for CliError {
    fn from(error: pgfleet_cluster::fleet::FleetError) -> Self {
        use pgfleet_cluster::fleet::FleetError;
        match error {
            FleetError::Cluster(e) => CliError::Cluster(e),
            FleetError::NoDevPort(_) => CliError::Config(error.to_string()),
            FleetError::Io(text) | FleetError::Postgres(text) => CliError::Failed(text),
        }
    }
}

/// Backups: configuration stays configuration, missing tools are local PostgreSQL's code, the
/// rest (a server, the store) a failure.
impl From<pgfleet_backup::BackupError> for CliError {
    fn from(error: pgfleet_backup::BackupError) -> Self {
        use pgfleet_backup::BackupError;
        match error {
            BackupError::Resolve(e) => CliError::Resolve(e),
            BackupError::Tool(e) => CliError::Cluster(e),
            BackupError::Usage(_)
            | BackupError::Unsupported(_)
            | BackupError::BadId(_)
            | BackupError::Config(_) => CliError::Config(error.to_string()),
            other => CliError::Failed(other.to_string()),
        }
    }
}

/// A session that could not be opened, a statement that failed: a failure of the command.
impl From<PgError> for CliError {
    fn from(error: PgError) -> Self {
        CliError::Failed(error.to_string())
    }
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;

/// A PostgreSQL error as a user wants to read it, with `context` before it.
pub fn pg_error(context: &str, error: &tokio_postgres::Error) -> CliError {
    CliError::Failed(format!("{context}: {}", pg_error_text(error)))
}
