//! Local PostgreSQL clusters that pgfleet creates and runs itself (`pgfleet dev up/down/
//! status`, and the test harness in `pgfleet-testkit`): discovering the server binaries,
//! choosing the OS user that runs them (PostgreSQL refuses root), `initdb`, and
//! `pg_ctl start/stop/status`.
//!
//! Synchronous and `std::process` based on purpose: these are a handful of short-lived
//! tool invocations, and the test harness needs them before any async runtime exists.

mod binaries;
mod cluster;
mod conf;
#[cfg(feature = "fleet")]
pub mod dump;
mod error;
#[cfg(feature = "fleet")]
pub mod fleet;
mod pgbouncer;
mod process;
mod run_as;
mod server_log;

pub use binaries::{PG_BIN_ENV, PgBinaries};
pub use cluster::{
    ClusterSpec, ClusterStatus, HostAuth, LocalCluster, MAX_SOCKET_PATH_LEN, socket_path_fits,
};
pub use conf::MANAGED_CONF;
pub use error::ClusterError;
pub use pgbouncer::{BouncerUser, PGBOUNCER_BINARY, PgBouncer, PgBouncerSpec};
pub use run_as::{DEFAULT_PG_OS_USER, PG_OS_USER_ENV, RunAs, server_user_can_use};
