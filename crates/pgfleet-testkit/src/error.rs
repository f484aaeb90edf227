//! Why a test cluster could not be set up.

use pgfleet_cluster::ClusterError;

/// Errors of [`TestCluster::start_new`](crate::TestCluster::start_new).
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    /// Finding binaries, init or start failed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),

    /// Creating the temporary directory or the reaper process failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The test S3 server (moto) did not start or answer.
    #[error("the test S3 server: {0}")]
    S3(String),

    /// Every attempt to start hit a port that another process grabbed in the meantime.
    #[error("could not find a free TCP port for PostgreSQL after {attempts} attempts: {last}")]
    NoFreePort {
        /// How many ports were tried.
        attempts: u32,
        /// The last start error.
        last: ClusterError,
    },
}

impl TestkitError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}
