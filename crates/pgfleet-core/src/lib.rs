//! The parts of pgfleet every other part builds on: the fleet manifest, connection resolution,
//! the [`Secret`] type and SQL identifier helpers. No async runtime, no I/O beyond reading the
//! manifest, `.env` and secret files.

pub mod foreign_history;
pub mod health;
pub mod ident;
pub mod manifest;
pub mod metric_names;
pub mod pool_vars;
pub mod resolve;
pub mod secret;
pub mod statement;
pub mod text_file;
#[cfg(feature = "tokio-postgres")]
pub mod tls;
pub mod vars;

pub use manifest::{Manifest, ManifestError};
pub use resolve::{Connection, ResolveError, Resolver};
pub use secret::Secret;
pub use vars::Vars;
