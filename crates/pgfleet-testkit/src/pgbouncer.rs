//! Debian's PgBouncer in transaction mode in front of a test cluster, for the tests of
//! pgfleet-client and of the CLI's pooler settings (the process itself is run by
//! `pgfleet_cluster::PgBouncer`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use pgfleet_cluster::{BouncerUser, ClusterError, PgBouncer, PgBouncerSpec, RunAs};

use crate::reaper::Reaper;
use crate::test_cluster::free_port;
use crate::{TestCluster, TestkitError};

const HOST: &str = "127.0.0.1";
const PORT_ATTEMPTS: u32 = 5;
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Server sessions per (database, user): fewer than the client tests' pools (4), so that
/// consecutive transactions of one client land on different server sessions.
const SERVER_POOL_SIZE: u32 = 3;
/// The login of the admin console (`SHOW CLIENTS`), known to PgBouncer only.
const ADMIN_USER: &str = "pgbouncer_admin";

/// A PgBouncer of its own for one test: transaction mode, a free port on 127.0.0.1, SCRAM
/// authentication of the logins it was given (their passwords only in its auth file, in its
/// temporary folder). Dropping it stops it; if the test process dies, a reaper does.
#[derive(Debug)]
pub struct TestPgBouncer {
    bouncer: PgBouncer,
    reaper: Reaper,
    admin_password: String,
}

impl TestPgBouncer {
    /// PgBouncer in transaction mode in front of `cluster` for `users` (name, password). The
    /// cluster trusts its TCP clients, so PgBouncer logs in to it without a password.
    pub fn start(cluster: &TestCluster, users: &[(&str, &str)]) -> Result<Self, TestkitError> {
        Self::start_with_mode(cluster, users, "transaction")
    }

    /// Like [`start`](Self::start) in another pool mode (`session`).
    pub fn start_with_mode(
        cluster: &TestCluster,
        users: &[(&str, &str)],
        pool_mode: &str,
    ) -> Result<Self, TestkitError> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let run_as = RunAs::detect()?;
        let dir = tempfile::Builder::new()
            .prefix("pgfleet-pgbouncer-")
            .tempdir()
            .map_err(|e| TestkitError::io("creating a temporary directory", e))?
            .keep();
        let cleanup = |dir: &PathBuf| {
            let _ = std::fs::remove_dir_all(dir);
        };
        if let RunAs::OsUser { uid, gid, name } = &run_as
            && let Err(e) = std::os::unix::fs::chown(&dir, Some(*uid), Some(*gid))
        {
            cleanup(&dir);
            return Err(TestkitError::io(
                format!("chown {} to {name}", dir.display()),
                e,
            ));
        }
        let admin_password = format!(
            "admin-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut logins: Vec<BouncerUser> = users
            .iter()
            .map(|(name, password)| BouncerUser {
                name: (*name).to_owned(),
                password: (*password).to_owned(),
            })
            .collect();
        logins.push(BouncerUser {
            name: ADMIN_USER.to_owned(),
            password: admin_password.clone(),
        });
        let mut last = None;
        for _ in 0..PORT_ATTEMPTS {
            let port = match free_port() {
                Ok(port) => port,
                Err(e) => {
                    cleanup(&dir);
                    return Err(e);
                }
            };
            let spec = PgBouncerSpec {
                dir: dir.clone(),
                listen_host: HOST.to_owned(),
                listen_port: port,
                server_host: cluster.host().to_owned(),
                server_port: cluster.port(),
                pool_mode: pool_mode.to_owned(),
                server_pool_size: SERVER_POOL_SIZE,
                users: logins.clone(),
                admin_users: vec![ADMIN_USER.to_owned()],
            };
            match PgBouncer::start(spec, &run_as, START_TIMEOUT) {
                Ok(bouncer) => {
                    let pid = bouncer.pid().unwrap_or_default();
                    let reaper = match Reaper::spawn_for_pid(&run_as, pid, &[dir.as_path()]) {
                        Ok(reaper) => reaper,
                        Err(e) => {
                            drop(bouncer);
                            cleanup(&dir);
                            return Err(e);
                        }
                    };
                    return Ok(Self {
                        bouncer,
                        reaper,
                        admin_password,
                    });
                }
                Err(
                    e @ ClusterError::PgBouncerStart {
                        port_in_use: true, ..
                    },
                ) => last = Some(e),
                Err(e) => {
                    cleanup(&dir);
                    return Err(e.into());
                }
            }
        }
        cleanup(&dir);
        Err(match last {
            Some(last) => TestkitError::NoFreePort {
                attempts: PORT_ATTEMPTS,
                last,
            },
            None => TestkitError::io(
                "starting PgBouncer",
                std::io::Error::other("no start attempt was made"),
            ),
        })
    }

    /// Always "127.0.0.1".
    pub fn host(&self) -> &str {
        HOST
    }

    pub fn port(&self) -> u16 {
        self.bouncer.spec().listen_port
    }

    /// `postgresql://USER:PASSWORD@127.0.0.1:PORT/DATABASE?sslmode=disable`.
    pub fn url(&self, user: &str, password: &str, database: &str) -> String {
        format!(
            "postgresql://{user}:{password}@{HOST}:{}/{database}?sslmode=disable",
            self.port()
        )
    }

    /// The clients connected now, as (user, database), from the admin console's
    /// `SHOW CLIENTS` (the console's own session left out).
    pub async fn clients(&self) -> Vec<(String, String)> {
        let mut config = tokio_postgres::Config::new();
        config
            .host(HOST)
            .port(self.port())
            .user(ADMIN_USER)
            .password(&self.admin_password)
            .dbname("pgbouncer")
            .connect_timeout(START_TIMEOUT);
        let client = crate::database::connect(&config).await;
        let messages = client
            .simple_query("SHOW CLIENTS")
            .await
            .unwrap_or_else(|e| panic!("pgfleet-testkit: SHOW CLIENTS failed: {e}"));
        messages
            .iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => Some((
                    row.get("user").unwrap_or_default().to_owned(),
                    row.get("database").unwrap_or_default().to_owned(),
                )),
                _ => None,
            })
            .filter(|(_, database)| database != "pgbouncer")
            .collect()
    }
}

impl Drop for TestPgBouncer {
    fn drop(&mut self) {
        self.bouncer.stop();
        self.reaper.finish();
    }
}
