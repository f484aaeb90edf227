//! Errors of this crate. Every message says what failed and what to do about it,
//! because they end up in front of a developer running `pgfleet dev up`.

use std::path::PathBuf;
use std::process::ExitStatus;

/// Everything that can go wrong while finding, creating, starting or stopping a local cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No usable PostgreSQL server binaries (initdb, pg_ctl, postgres) were found.
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; tried: {}. \
         Install them (Debian/Ubuntu: `apt-get install -y postgresql`) or set PGFLEET_PG_BIN \
         to the directory that contains initdb and pg_ctl",
        tried.join("; ")
    )]
    BinariesNotFound {
        /// One entry per place that was looked at, with the reason it was rejected.
        tried: Vec<String>,
    },

    /// The OS user that should run the server (when we are root) does not exist.
    #[error(
        "OS user `{name}` not found; PostgreSQL refuses to run as root, so pgfleet runs the \
         server as that user. Create it (installing the `postgresql` package creates `postgres`, \
         or `useradd --system --user-group postgres`) or set PGFLEET_PG_OS_USER to another \
         non-root user"
    )]
    OsUserNotFound {
        /// The user name that was looked up.
        name: String,
    },

    /// The configured server user is root (uid 0), which PostgreSQL refuses.
    #[error(
        "OS user `{name}` has uid 0; PostgreSQL refuses to run as root. \
         Set PGFLEET_PG_OS_USER to a non-root user (for example `postgres`)"
    )]
    OsUserIsRoot {
        /// The user name that resolved to uid 0.
        name: String,
    },

    /// A file-system or process-spawning operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing, including the path involved.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A connection setting a PostgreSQL tool cannot be given faithfully (refused, not
    /// dropped).
    #[error("{0}")]
    Unsupported(String),

    /// A PostgreSQL tool exited unsuccessfully.
    #[error("`{command}` failed ({status}):\n{output}")]
    CommandFailed {
        /// The command line that was run.
        command: String,
        /// Its exit status.
        status: ExitStatus,
        /// Its combined stdout/stderr and, for server start-up, the tail of the server log.
        output: String,
    },

    /// The server could not start because its TCP port is taken by another process.
    #[error(
        "cannot start PostgreSQL: port {port} on {address} is already in use by another process \
         (another PostgreSQL server?). Stop that process or choose another port.\n\
         server log (last lines):\n{log_tail}"
    )]
    PortInUse {
        /// The listen address that could not be bound.
        address: String,
        /// The port that could not be bound.
        port: u16,
        /// The last lines the server wrote to its log during this start attempt.
        log_tail: String,
    },

    /// A test PgBouncer did not start (its port may be taken: `port_in_use`).
    #[error("cannot start PgBouncer: {reason}\npgbouncer log (last lines):\n{log_tail}")]
    PgBouncerStart {
        reason: String,
        port_in_use: bool,
        log_tail: String,
    },

    /// `start` was called on a cluster that has not been initialised.
    #[error("no PostgreSQL cluster in {}; run init first", data_dir.display())]
    NotInitialized {
        /// The cluster's data directory.
        data_dir: PathBuf,
    },

    /// The data directory exists, is not empty, and is not a PostgreSQL data directory.
    #[error(
        "{} exists, is not empty and is not a PostgreSQL data directory (no PG_VERSION); \
         refusing to touch it. Remove it or choose another data directory",
        data_dir.display()
    )]
    DataDirNotEmpty {
        /// The offending directory.
        data_dir: PathBuf,
    },

    /// The server user cannot reach a directory (e.g. a project under /root, mode 0700).
    #[error(
        "the PostgreSQL server runs as OS user `{user}`, which cannot access {}: it or one of \
         its parent directories is not traversable/writable by that user (for example a \
         project under /root, which is mode 0700). Choose a directory that user can reach \
         (e.g. under /tmp or /var/lib) or make the parents traversable (chmod o+x)",
        dir.display()
    )]
    NotAccessible {
        /// The server user's name.
        user: String,
        /// The directory it cannot use.
        dir: PathBuf,
    },

    /// The unix socket path would exceed the kernel's limit (sun_path, 107 bytes).
    #[error(
        "unix socket path {}/.s.PGSQL.{port} is {len} bytes, longer than the {max} bytes \
         allowed for unix sockets; choose a shorter socket directory",
        socket_dir.display(),
        max = crate::MAX_SOCKET_PATH_LEN
    )]
    SocketPathTooLong {
        /// The socket directory.
        socket_dir: PathBuf,
        /// The port (part of the socket file name).
        port: u16,
        /// The resulting path length in bytes.
        len: usize,
    },

    /// A setting name or value cannot be written safely into postgresql.conf.
    #[error("invalid PostgreSQL setting {name:?} = {value:?}: {reason}")]
    InvalidSetting {
        /// Setting name.
        name: String,
        /// Setting value.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
}

impl ClusterError {
    /// Wraps an I/O error with a description of what was being done.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}
