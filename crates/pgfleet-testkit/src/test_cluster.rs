//! The per-process test cluster.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use pgfleet_cluster::{
    ClusterError, ClusterSpec, HostAuth, LocalCluster, PgBinaries, RunAs, socket_path_fits,
};

use crate::reaper::Reaper;
use crate::{TestDatabase, TestkitError};

const HOST: &str = "127.0.0.1";
const SUPERUSER: &str = "postgres";
/// Ports picked by binding port 0 can be taken by someone else before the server binds.
const PORT_ATTEMPTS: u32 = 5;
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Settings for speed over durability; a test cluster is thrown away anyway.
const SETTINGS: [(&str, &str); 5] = [
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
    ("max_connections", "200"),
    // As in pgfleet's dev clusters, for `pgfleet serve`'s statement metrics.
    ("shared_preload_libraries", "pg_stat_statements"),
];

/// A throw-away PostgreSQL cluster in a temporary directory, listening on 127.0.0.1 (a free
/// port) and on a unix socket, with `trust` authentication for the superuser `postgres`.
#[derive(Debug)]
pub struct TestCluster {
    cluster: LocalCluster,
    root: PathBuf,
    reaper: Reaper,
}

impl TestCluster {
    /// The cluster shared by every test of this process, started on first use.
    ///
    /// Panics (it's test code) with the reason if the cluster cannot be started; later
    /// callers get the same message instead of retrying a slow initdb.
    pub fn shared() -> &'static TestCluster {
        static SHARED: OnceLock<Result<TestCluster, String>> = OnceLock::new();
        match SHARED.get_or_init(|| Self::start_new().map_err(|e| e.to_string())) {
            Ok(cluster) => cluster,
            Err(msg) => panic!("pgfleet-testkit: cannot start the test PostgreSQL cluster: {msg}"),
        }
    }

    /// Creates and starts a new private cluster; most tests want [`shared`](Self::shared).
    /// Useful for tests that stop or reconfigure the server. Dropping it stops the server and
    /// deletes its directory; if it is never dropped, the reaper does that at process exit.
    pub fn start_new() -> Result<Self, TestkitError> {
        let bins = PgBinaries::discover()?;
        let run_as = RunAs::detect()?;

        // Keep the directory (no TempDir guard): its removal is the reaper's job, which also
        // covers the process being killed.
        let root = tempfile::Builder::new()
            .prefix("pgfleet-test-")
            .tempdir()
            .map_err(|e| TestkitError::io("creating a temporary directory", e))?
            .keep();
        let data_dir = root.join("data");
        let mut socket_dir = root.join("sock");
        let mut remove = vec![root.clone()];
        let prepared = (|| {
            // The server user must own the root so it can create files there and the
            // reaper (running as that user) can delete it.
            chown_to_server(&run_as, &root)?;
            if !socket_path_fits(&socket_dir, u16::MAX) {
                // A long TMPDIR would overflow the unix socket path limit.
                let short = tempfile::Builder::new()
                    .prefix("pgfleet-sock-")
                    .tempdir_in("/tmp")
                    .map_err(|e| TestkitError::io("creating a socket directory in /tmp", e))?
                    .keep();
                remove.push(short.clone());
                socket_dir = short.join("s");
                chown_to_server(&run_as, &short)?;
            }
            let remove_refs: Vec<&Path> = remove.iter().map(PathBuf::as_path).collect();
            Reaper::spawn(&run_as, &bins.tool("pg_ctl"), &data_dir, &remove_refs)
        })();
        let mut reaper = match prepared {
            Ok(reaper) => reaper,
            Err(e) => {
                for dir in &remove {
                    let _ = std::fs::remove_dir_all(dir);
                }
                return Err(e);
            }
        };

        let mut spec = ClusterSpec {
            data_dir,
            socket_dir,
            port: 0,
            listen_addresses: HOST.to_owned(),
            superuser: SUPERUSER.to_owned(),
            host_auth: HostAuth::Trust,
            settings: SETTINGS
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        let mut last = None;
        for _ in 0..PORT_ATTEMPTS {
            spec.port = match free_port() {
                Ok(port) => port,
                Err(e) => {
                    reaper.finish();
                    return Err(e);
                }
            };
            let cluster = LocalCluster::new(spec.clone(), bins.clone(), run_as.clone());
            // init is idempotent: the first attempt creates the cluster, later ones only
            // rewrite the port.
            match cluster.init().and_then(|()| cluster.start(START_TIMEOUT)) {
                Ok(()) => {
                    return Ok(Self {
                        cluster,
                        root,
                        reaper,
                    });
                }
                Err(e @ ClusterError::PortInUse { .. }) => last = Some(e),
                Err(e) => {
                    reaper.finish();
                    return Err(e.into());
                }
            }
        }
        reaper.finish();
        Err(match last {
            Some(last) => TestkitError::NoFreePort {
                attempts: PORT_ATTEMPTS,
                last,
            },
            None => TestkitError::io(
                "starting the test cluster",
                std::io::Error::other("no start attempt was made"),
            ),
        })
    }

    /// TCP port on [`host`](Self::host).
    pub fn port(&self) -> u16 {
        self.cluster.spec().port
    }

    /// Always "127.0.0.1".
    pub fn host(&self) -> &str {
        HOST
    }

    /// Directory of the unix socket (for `host_path`, `psql -h`).
    pub fn socket_dir(&self) -> &Path {
        &self.cluster.spec().socket_dir
    }

    /// The superuser, "postgres" (trust authentication, no password).
    pub fn superuser(&self) -> &str {
        SUPERUSER
    }

    /// The server binaries in use (for running psql/pg_dump in tests).
    pub fn bins(&self) -> &PgBinaries {
        self.cluster.bins()
    }

    /// The underlying cluster, e.g. for `command("pg_dump")` as the server user.
    pub fn cluster(&self) -> &LocalCluster {
        &self.cluster
    }

    /// The temporary directory holding data, socket and log; deleted at process exit.
    pub fn root_dir(&self) -> &Path {
        &self.root
    }

    /// Creates a database with a unique name (`pgfleet_test_<counter>_<pid>`) owned by
    /// the superuser. It is not dropped after the test: the whole cluster goes at exit.
    pub async fn fresh_database(&self) -> TestDatabase {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("pgfleet_test_{n}_{}", std::process::id());
        let admin = self.connect("postgres").await;
        admin
            .batch_execute(&format!(
                r#"CREATE DATABASE "{name}" OWNER "{}""#,
                self.superuser()
            ))
            .await
            .unwrap_or_else(|e| panic!("pgfleet-testkit: CREATE DATABASE {name} failed: {e}"));
        TestDatabase::new(
            name,
            HOST.to_owned(),
            self.port(),
            self.socket_dir().to_path_buf(),
            SUPERUSER.to_owned(),
        )
    }

    /// Connects to `dbname` over TCP as the superuser, spawning the connection task on the
    /// current tokio runtime. Panics with a clear message on failure.
    pub async fn connect(&self, dbname: &str) -> tokio_postgres::Client {
        crate::database::connect(&self.config(dbname)).await
    }

    /// Like [`connect`](Self::connect), over the unix socket.
    pub async fn connect_socket(&self, dbname: &str) -> tokio_postgres::Client {
        crate::database::connect(&self.socket_config(dbname)).await
    }

    /// TCP connection settings for `dbname`.
    pub fn config(&self, dbname: &str) -> tokio_postgres::Config {
        crate::database::tcp_config(HOST, self.port(), SUPERUSER, dbname)
    }

    /// Unix-socket connection settings for `dbname`.
    pub fn socket_config(&self, dbname: &str) -> tokio_postgres::Config {
        crate::database::socket_config(self.socket_dir(), self.port(), SUPERUSER, dbname)
    }
}

impl Drop for TestCluster {
    /// Only runs for clusters from [`start_new`](Self::start_new) (statics are never
    /// dropped): stop the server and delete the directory now, via the reaper.
    fn drop(&mut self) {
        self.reaper.finish();
    }
}

fn chown_to_server(run_as: &RunAs, dir: &Path) -> Result<(), TestkitError> {
    if let RunAs::OsUser { uid, gid, name } = run_as {
        std::os::unix::fs::chown(dir, Some(*uid), Some(*gid))
            .map_err(|e| TestkitError::io(format!("chown {} to {name}", dir.display()), e))?;
    }
    Ok(())
}

/// Asks the kernel for a free port by binding port 0 (then releases it for the server).
pub(crate) fn free_port() -> Result<u16, TestkitError> {
    TcpListener::bind((HOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| TestkitError::io("finding a free TCP port on 127.0.0.1", e))
}
