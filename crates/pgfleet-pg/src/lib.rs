//! pgfleet-pg: the async PostgreSQL plumbing every engine shares. Sessions opened under one
//! deadline (`session`), the server's error text (`error`), the one reconnect backoff
//! (`backoff`), SCRAM verifiers and the one password setter (`password`), the one pool builder
//! (`pool`), and the `pgfleet`
//! schema with its history reader and audit writer (`history`). No clap, no pg_query, no
//! printing: it returns values.

pub mod backoff;
pub mod error;
pub mod history;
pub mod password;
pub mod pool;
pub mod session;

pub use error::{PgError, pg_error_text};
pub use session::{OpenError, connect, open};
