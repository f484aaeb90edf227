//! Ephemeral PostgreSQL for tests, on the real server binaries (no mocks).
//!
//! One cluster per test process ([`TestCluster::shared`]), started on first use, and a
//! fresh database per test ([`TestCluster::fresh_database`]), so tests can run in parallel
//! threads (`cargo test`) or processes (nextest) without seeing each other's data.
//!
//! Cleanup does not rely on destructors (statics are never dropped and a test binary may
//! be killed): a reaper process waits for the test process to go away and then stops the
//! cluster and deletes its directory. See [`TestCluster::start_new`].
//!
//! ```no_run
//! # async fn example() {
//! let db = pgfleet_testkit::TestCluster::shared().fresh_database().await;
//! let client = db.client().await;
//! client.batch_execute("create table t (id int)").await.expect("create table");
//! # }
//! ```

mod database;
mod error;
mod pgbouncer;
mod reaper;
mod s3;
mod test_cluster;
mod tls;

pub use database::TestDatabase;
pub use error::TestkitError;
pub use pgbouncer::TestPgBouncer;
pub use s3::TestS3;
pub use test_cluster::TestCluster;
pub use tls::TlsCluster;

// Re-exported so tests don't need their own dependency lines to name these types.
pub use pgfleet_cluster;
pub use tokio_postgres;

/// Shorthand for `TestCluster::shared().fresh_database().await`.
pub async fn fresh_database() -> TestDatabase {
    TestCluster::shared().fresh_database().await
}
