//! A database created for one test, and connection helpers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_postgres::NoTls;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A database of the shared test cluster that belongs to one test.
#[derive(Debug, Clone)]
pub struct TestDatabase {
    /// Database name, unique within the cluster.
    pub name: String,
    host: String,
    port: u16,
    socket_dir: PathBuf,
    user: String,
}

impl TestDatabase {
    pub(crate) fn new(
        name: String,
        host: String,
        port: u16,
        socket_dir: PathBuf,
        user: String,
    ) -> Self {
        Self {
            name,
            host,
            port,
            socket_dir,
            user,
        }
    }

    /// A new TCP connection as the superuser, its connection task spawned on the current
    /// tokio runtime. Panics with a clear message on failure.
    pub async fn client(&self) -> tokio_postgres::Client {
        connect(&self.config()).await
    }

    /// Like [`client`](Self::client), over the unix socket.
    pub async fn socket_client(&self) -> tokio_postgres::Client {
        connect(&self.socket_config()).await
    }

    /// `postgresql://postgres@127.0.0.1:PORT/NAME` (trust auth: no password).
    pub fn url(&self) -> String {
        format!(
            "postgresql://{}@{}:{}/{}",
            self.user, self.host, self.port, self.name
        )
    }

    /// TCP connection settings.
    pub fn config(&self) -> tokio_postgres::Config {
        tcp_config(&self.host, self.port, &self.user, &self.name)
    }

    /// Unix-socket connection settings.
    pub fn socket_config(&self) -> tokio_postgres::Config {
        socket_config(&self.socket_dir, self.port, &self.user, &self.name)
    }

    /// TCP port of the cluster.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Unix socket directory of the cluster.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }
}

pub(crate) fn tcp_config(
    host: &str,
    port: u16,
    user: &str,
    dbname: &str,
) -> tokio_postgres::Config {
    let mut config = tokio_postgres::Config::new();
    config
        .host(host)
        .port(port)
        .user(user)
        .dbname(dbname)
        .application_name("pgfleet-testkit")
        .connect_timeout(CONNECT_TIMEOUT);
    config
}

pub(crate) fn socket_config(
    socket_dir: &Path,
    port: u16,
    user: &str,
    dbname: &str,
) -> tokio_postgres::Config {
    let mut config = tokio_postgres::Config::new();
    config
        .host_path(socket_dir)
        .port(port)
        .user(user)
        .dbname(dbname)
        .application_name("pgfleet-testkit")
        .connect_timeout(CONNECT_TIMEOUT);
    config
}

/// Connects and spawns the connection future on the current runtime.
pub(crate) async fn connect(config: &tokio_postgres::Config) -> tokio_postgres::Client {
    let (client, connection) = config.connect(NoTls).await.unwrap_or_else(|e| {
        panic!("pgfleet-testkit: cannot connect to the test cluster ({config:?}): {e}")
    });
    // Errors surface on the client's next query; nothing useful to do with them here.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}
