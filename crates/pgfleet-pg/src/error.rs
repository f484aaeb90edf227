//! The errors of this crate, and the text of a PostgreSQL error as a user wants to read it.

use crate::session::OpenError;

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// A statement failed: the server's message, detail and hint.
    #[error("{}", pg_error_text(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// No session on `url` (redacted), within the deadline or at all.
    #[error("cannot connect to {url}: {source}{hint}")]
    Connect {
        url: String,
        source: OpenError,
        /// Empty, or a line starting with `\n  hint:`.
        hint: String,
    },
    /// The TLS settings of the connection cannot be used.
    #[error("cannot connect to {url}: {reason}")]
    Tls { url: String, reason: String },
    /// Setting a password would record its verifier.
    #[error(
        "refusing to set the password of {role}: {why} would record its verifier\n  hint: {hint}"
    )]
    PasswordRecorded {
        role: String,
        why: &'static str,
        hint: &'static str,
    },
}

impl PgError {
    /// The server error this is, if any (to look at its SQLSTATE).
    pub fn as_postgres(&self) -> Option<&tokio_postgres::Error> {
        match self {
            PgError::Postgres(e) => Some(e),
            PgError::Connect {
                source: OpenError::Postgres(e),
                ..
            } => Some(e),
            _ => None,
        }
    }
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
