//! The fleet's local clusters: where each dev server's cluster lives, and the admin session
//! pgfleet uses to create roles, databases and schemas in it. Behind the `fleet` feature: it
//! needs the manifest and async sessions, which the test harness does without.

use crate::{
    ClusterError, ClusterSpec, HostAuth, LocalCluster, PgBinaries, RunAs, server_user_can_use,
    socket_path_fits,
};
use pgfleet_core::Manifest;
use pgfleet_core::ident::quote_ident;
use pgfleet_core::manifest::Server;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// Binaries, the server user, a cluster that does not start.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// A dev server of the manifest without a `dev_port`.
    #[error("server `{0}` has no dev_port")]
    NoDevPort(String),
    /// A file or folder of the fleet's local state.
    #[error("{0}")]
    Io(String),
    /// The local server could not be reached, or refused a statement (with the context).
    #[error("{0}")]
    Postgres(String),
}

type Result<T, E = FleetError> = std::result::Result<T, E>;

/// A PostgreSQL error of the local server, with `context` before it.
fn pg_error(context: &str, error: &tokio_postgres::Error) -> FleetError {
    FleetError::Postgres(format!("{context}: {}", pgfleet_pg::pg_error_text(error)))
}

/// The bootstrap superuser of local clusters; reached only over the private unix socket.
pub const SUPERUSER: &str = "postgres";
/// How long `dev up` waits for a cluster to accept connections.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Deadline for admin connections and statements in local clusters.
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The binaries, the OS user and the folder of a fleet's local clusters.
#[derive(Debug, Clone)]
pub struct LocalFleet {
    bins: PgBinaries,
    run_as: RunAs,
    /// `.pgfleet/clusters` in the project (`.pgfleet/testing/clusters` for a testing
    /// environment), or a folder the server user can reach.
    clusters_dir: PathBuf,
    /// The clusters of a testing environment: on each server's test_port.
    testing: bool,
}

impl LocalFleet {
    /// The local clusters of `environment` (a local one): development's, or a testing
    /// environment's own, apart from them.
    pub fn new(manifest: &Manifest, environment: &str) -> Result<LocalFleet> {
        let bins = PgBinaries::discover()?;
        let run_as = RunAs::detect()?;
        let testing = manifest.is_testing(environment);
        let state_dir = if testing {
            manifest.state_dir().join("testing")
        } else {
            manifest.state_dir()
        };
        let mut clusters_dir = state_dir.join("clusters");
        if server_user_can_use(&run_as, &clusters_dir) {
            create_owned_by(&run_as, &clusters_dir)?;
        } else {
            // A project under /root (0700) cannot be reached by the `postgres` user that runs
            // the server when we are root: keep the clusters in a folder it can reach.
            clusters_dir = std::env::temp_dir().join("pgfleet").join(format!(
                "{}-{:08x}{}",
                manifest.fleet.name,
                short_hash(&manifest.project_dir),
                if testing { "-testing" } else { "" }
            ));
            tracing::info!(
                dir = %clusters_dir.display(),
                "the server user cannot reach the project folder; keeping clusters elsewhere"
            );
        }
        Ok(LocalFleet {
            bins,
            run_as,
            clusters_dir,
            testing,
        })
    }

    pub fn bins(&self) -> &PgBinaries {
        &self.bins
    }

    /// The local cluster of a dev server.
    pub fn cluster(&self, server: &Server) -> Result<LocalCluster> {
        let port = if self.testing {
            server.test_port
        } else {
            server.dev_port
        }
        .ok_or_else(|| FleetError::NoDevPort(server.name.clone()))?;
        let root = self.clusters_dir.join(&server.name);
        let mut socket_dir = root.join("run");
        if !socket_path_fits(&socket_dir, port) {
            socket_dir = std::env::temp_dir().join(format!("pgfleet-{:08x}", short_hash(&root)));
        }
        let spec = ClusterSpec {
            data_dir: root.join("data"),
            socket_dir,
            port,
            listen_addresses: pgfleet_core::resolve::LOCAL_HOST.to_owned(),
            superuser: SUPERUSER.to_owned(),
            host_auth: HostAuth::ScramSha256,
            // `pgfleet serve` reports each service's statements from pg_stat_statements.
            settings: vec![(
                "shared_preload_libraries".to_owned(),
                "pg_stat_statements".to_owned(),
            )],
        };
        Ok(LocalCluster::new(
            spec,
            self.bins.clone(),
            self.run_as.clone(),
        ))
    }
}

/// Creates `dir` (and its parents) and gives it to the server user, so that later runs find it
/// writable by that user and make the same choice of folder.
fn create_owned_by(run_as: &RunAs, dir: &Path) -> Result<()> {
    let io_error =
        |e: std::io::Error| FleetError::Io(format!("cannot create {}: {e}", dir.display()));
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(io_error)?;
    if let RunAs::OsUser { uid, gid, .. } = run_as {
        std::os::unix::fs::chown(dir, Some(*uid), Some(*gid)).map_err(io_error)?;
    }
    Ok(())
}

fn short_hash(path: &Path) -> u32 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut hasher);
    hasher.finish() as u32
}

/// An admin session on a local cluster: the superuser over the private socket.
pub async fn admin_session(
    cluster: &LocalCluster,
    database: &str,
) -> Result<tokio_postgres::Client> {
    let spec = cluster.spec();
    let mut config = tokio_postgres::Config::new();
    config
        .host_path(&spec.socket_dir)
        .port(spec.port)
        .user(&spec.superuser)
        .dbname(database)
        .application_name("pgfleet")
        .connect_timeout(ADMIN_TIMEOUT);
    let client = pgfleet_pg::open(&config, tokio_postgres::NoTls, ADMIN_TIMEOUT)
        .await
        .map_err(|e| {
            FleetError::Postgres(format!(
                "cannot connect to the local server on port {}: {e}",
                spec.port
            ))
        })?;
    client
        .batch_execute(&format!(
            "SET statement_timeout = {ms}; SET lock_timeout = {ms}",
            ms = ADMIN_TIMEOUT.as_millis()
        ))
        .await
        .map_err(|e| pg_error("configuring the admin session", &e))?;
    Ok(client)
}

/// Creates the login role, or brings its password in line. The password is sent as a SCRAM
/// verifier computed here, so the plain text never reaches the server, and through a bound
/// parameter (`pgfleet_pg::password::set`), so the verifier stays out of pg_stat_statements.
/// `attributes` are added to LOGIN (e.g. CREATEROLE for pgfleet's own login in dev).
pub async fn ensure_login_role(
    client: &tokio_postgres::Client,
    role: &str,
    password: &pgfleet_core::Secret,
    attributes: &str,
) -> Result<()> {
    let exists = client
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
        .await
        .map_err(|e| pg_error("reading roles", &e))?
        .is_some();
    let verb = if exists { "ALTER" } else { "CREATE" };
    client
        .batch_execute(&format!(
            "{verb} ROLE {} LOGIN {attributes}",
            quote_ident(role)
        ))
        .await
        .map_err(|e| pg_error(&format!("creating role {role}"), &e))?;
    pgfleet_pg::password::set(client, role, &pgfleet_pg::password::verifier(password))
        .await
        .map_err(|e| FleetError::Postgres(format!("setting the password of role {role}: {e}")))
}

pub async fn database_exists(client: &tokio_postgres::Client, database: &str) -> Result<bool> {
    Ok(client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&database])
        .await
        .map_err(|e| pg_error("reading databases", &e))?
        .is_some())
}

pub async fn ensure_database(
    client: &tokio_postgres::Client,
    database: &str,
    owner: &str,
) -> Result<()> {
    if database_exists(client, database).await? {
        return Ok(());
    }
    let sql = format!(
        "CREATE DATABASE {} OWNER {}",
        quote_ident(database),
        quote_ident(owner)
    );
    match client.batch_execute(&sql).await {
        Ok(()) => Ok(()),
        // Another pgfleet created it between our check and our CREATE: that is the goal.
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) => Ok(()),
        Err(e) => Err(pg_error(&format!("creating database {database}"), &e)),
    }
}

pub async fn ensure_schema(
    client: &tokio_postgres::Client,
    schema: &str,
    owner: &str,
) -> Result<()> {
    let sql = format!(
        "CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}",
        quote_ident(schema),
        quote_ident(owner)
    );
    client
        .batch_execute(&sql)
        .await
        .map_err(|e| pg_error(&format!("creating schema {schema}"), &e))
}

/// Creates a random password file (0600, in a 0700 folder) unless one exists: the password
/// of a local role that no variable provides.
pub fn generate_password(path: &std::path::Path) -> Result<()> {
    use rand::Rng as _;
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    if path.exists() {
        return Ok(());
    }
    let io_error =
        |e: std::io::Error| FleetError::Io(format!("cannot write {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        // Only the secrets folder is private: the state folder above it must stay reachable
        // for the server user, whose clusters live beside it.
        if let Some(state_dir) = dir.parent() {
            std::fs::create_dir_all(state_dir).map_err(io_error)?;
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_error)?;
    }
    let password: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => file.write_all(password.as_bytes()).map_err(io_error),
        // Another pgfleet wrote it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_error(e)),
    }
}

/// pg_stat_statements in a dev database (the cluster preloads it), for `pgfleet serve`'s
/// statement metrics. It goes in the `pgfleet` schema, owned by pgfleet's login like the
/// migration history, so the services' own schemas stay exactly what their migrations make.
pub async fn ensure_statement_stats(
    cluster: &LocalCluster,
    database: &str,
    admin_user: &str,
) -> Result<()> {
    let db = admin_session(cluster, database).await?;
    let sql = format!(
        "CREATE SCHEMA IF NOT EXISTS pgfleet AUTHORIZATION {};
         CREATE EXTENSION IF NOT EXISTS pg_stat_statements SCHEMA pgfleet",
        quote_ident(admin_user)
    );
    db.batch_execute(&sql)
        .await
        .map_err(|e| pg_error(&format!("creating pg_stat_statements in {database}"), &e))
}
