//! Errors, and the `kind` label of `database_errors_total`. No error carries a password:
//! configuration errors name variables, never values, and connection errors come from
//! tokio-postgres, which does not repeat credentials.

use std::time::Duration;
use tokio_postgres::error::SqlState;

/// A configuration that cannot be used (see [`crate::config::resolve_env`]).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "{service}: no connection configured: set {url_var} (or DATABASE_URL), or the libpq variables; missing: {}",
        missing.join(", ")
    )]
    Missing {
        service: String,
        url_var: String,
        /// Every missing variable, all at once.
        missing: Vec<String>,
    },
    #[error("{var} {reason}")]
    Invalid { var: String, reason: String },
    #[error(
        "the password in {var} is redacted (***): export it with `pgfleet env export --show-secrets`, or set {password_var} or PGPASSWORD"
    )]
    RedactedPassword { var: String, password_var: String },
    #[error(transparent)]
    Resolve(#[from] pgfleet_core::ResolveError),
    #[error(transparent)]
    Tls(#[from] pgfleet_core::tls::TlsError),
    #[error("pgfleet-client must be used inside a tokio runtime")]
    NoRuntime,
    #[error("invalid pool settings: {0}")]
    Pool(String),
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No connection became free within the acquire timeout (the pool is exhausted).
    #[error("no database connection free after {waited:?} (pool of {max_size} exhausted)")]
    AcquireTimeout { waited: Duration, max_size: usize },
    /// A new connection could not be opened (the database is down or unreachable).
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    /// The pool is closed (shutting down).
    #[error("the database pool is closed")]
    Closed,
    /// An error of the database or of the connection to it.
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
    /// A statement prepared outside a transaction behind a transaction pooler: the next
    /// statement may run on another server session, where it does not exist.
    #[error(
        "a statement cannot be prepared outside a transaction behind a transaction pooler (PGFLEET_POOLER=transaction)\n  hint: run it with query/execute on the connection (each runs in a transaction of its own), or prepare it inside pool.transaction(…)"
    )]
    PreparedBehindPooler,
    /// The application's own error, returned from a closure (rolls a transaction back).
    #[error("{0}")]
    App(Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl Error {
    /// Wraps an application error (e.g. "not found") so a closure can return it.
    pub fn app(error: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        Error::App(error.into())
    }

    /// The SQLSTATE of a database error.
    pub fn code(&self) -> Option<&SqlState> {
        match self {
            Error::Db(e) => e.code(),
            _ => None,
        }
    }

    /// A serialization failure (40001) or deadlock (40P01): the transaction may succeed if run
    /// again.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.code(),
            Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
        )
    }

    /// The `kind` label of `database_errors_total`; `None` for application errors.
    pub fn kind(&self) -> Option<&'static str> {
        Some(match self {
            Error::Config(_) | Error::PreparedBehindPooler => "config",
            Error::AcquireTimeout { .. } => "acquire_timeout",
            Error::Connect(_) => "connect",
            Error::Closed => "pool_closed",
            Error::App(_) => return None,
            Error::Db(e) => match e.code() {
                None => "connection",
                Some(code) => sqlstate_kind(code),
            },
        })
    }
}

/// Every `kind` value, pre-registered at zero so dashboards see the series before the first error.
pub const ERROR_KINDS: &[&str] = &[
    "acquire_timeout",
    "connect",
    "connection",
    "statement_timeout",
    "serialization_failure",
    "deadlock",
    "unique_violation",
    "foreign_key_violation",
    "constraint_violation",
    "permission_denied",
    "syntax",
    "undefined_object",
    "data",
    "resources",
    "other",
];

fn sqlstate_kind(code: &SqlState) -> &'static str {
    if *code == SqlState::QUERY_CANCELED {
        // statement_timeout (or a cancel request).
        return "statement_timeout";
    }
    if *code == SqlState::T_R_SERIALIZATION_FAILURE {
        return "serialization_failure";
    }
    if *code == SqlState::T_R_DEADLOCK_DETECTED {
        return "deadlock";
    }
    if *code == SqlState::UNIQUE_VIOLATION {
        return "unique_violation";
    }
    if *code == SqlState::FOREIGN_KEY_VIOLATION {
        return "foreign_key_violation";
    }
    if *code == SqlState::INSUFFICIENT_PRIVILEGE {
        return "permission_denied";
    }
    let text = code.code();
    match &text[..2] {
        "23" => "constraint_violation",
        "42" if text == "42601" => "syntax",
        "42" => "undefined_object",
        "22" => "data",
        "53" | "54" => "resources",
        "08" | "57" => "connection",
        _ => "other",
    }
}
