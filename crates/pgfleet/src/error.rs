//! The errors commands return, and the documented exit code of each kind.

use pgfleet_cluster::ClusterError;
use pgfleet_core::{ManifestError, ResolveError};

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
    Migrate(Box<crate::migrate::MigrateError>),
    #[error("{0}")]
    Failed(String),
    /// `access check` found differences (listed on stdout).
    #[error("{0} difference(s) between the manifest and the database")]
    Drift(usize),
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
        }
    }
}

impl From<crate::migrate::MigrateError> for CliError {
    fn from(error: crate::migrate::MigrateError) -> Self {
        CliError::Migrate(Box::new(error))
    }
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;

/// A PostgreSQL error as a user wants to read it, with `context` before it.
pub fn pg_error(context: &str, error: &tokio_postgres::Error) -> CliError {
    CliError::Failed(format!("{context}: {}", pg_error_text(error)))
}

/// The server's message, detail and hint; or the client's error and its cause.
pub fn pg_error_text(error: &tokio_postgres::Error) -> String {
    let mut text = String::new();
    match error.as_db_error() {
        Some(db) => {
            text.push_str(db.message());
            if let Some(detail) = db.detail() {
                text.push_str(&format!("\n  detail: {detail}"));
            }
            if let Some(hint) = db.hint() {
                text.push_str(&format!("\n  hint: {hint}"));
            }
        }
        None => {
            text.push_str(&error.to_string());
            if let Some(source) = std::error::Error::source(error) {
                text.push_str(&format!(": {source}"));
            }
        }
    }
    text
}
