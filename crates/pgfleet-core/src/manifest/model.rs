//! The manifest as written in `fleet.toml` (serde types) and as used after validation.
//!
//! The serde types keep `Spanned` positions where validation needs to point at a value; every
//! table denies unknown keys so that a misspelling is an error with a line and column.

use super::setting::Setting;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawManifest {
    /// Optional here so that its absence is a problem of the validator, reported with the rest.
    pub fleet: Option<Spanned<RawFleet>>,
    #[serde(default)]
    pub environments: BTreeMap<Spanned<String>, ConnectionSettings>,
    #[serde(default)]
    pub servers: BTreeMap<Spanned<String>, RawServer>,
    #[serde(default)]
    pub services: BTreeMap<Spanned<String>, RawService>,
    pub backup: Option<RawBackup>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFleet {
    pub name: Option<Spanned<String>>,
    pub environment_var: Option<Spanned<String>>,
    pub default_environment: Option<Spanned<String>>,
    pub dotenv: Option<String>,
    /// pgfleet manages each service's roles and grants (`pgfleet access`); services connect
    /// as their runtime role. Off: services connect as the environment's user.
    pub manage_roles: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    pub dev_port: Option<Spanned<u16>>,
    /// The port of the server's cluster in testing environments (default `dev_port + 100`).
    pub test_port: Option<Spanned<u16>>,
    pub database: Option<Spanned<String>>,
    #[serde(default)]
    pub environments: BTreeMap<Spanned<String>, ConnectionSettings>,
    pub pooler: Option<RawPooler>,
}

/// `[servers.S.pooler]`: a PgBouncer in front of the server that services connect through.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPooler {
    pub mode: PoolerMode,
    #[serde(default)]
    pub environments: BTreeMap<Spanned<String>, PoolerAddress>,
}

/// How PgBouncer hands out server sessions (its `pool_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolerMode {
    /// A server session per transaction: no session state survives a transaction.
    Transaction,
    /// A server session per client session.
    Session,
}

impl PoolerMode {
    /// The manifest's spelling, also the value of `PGFLEET_POOLER`.
    pub fn as_str(self) -> &'static str {
        match self {
            PoolerMode::Transaction => "transaction",
            PoolerMode::Session => "session",
        }
    }
}

impl std::str::FromStr for PoolerMode {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        [PoolerMode::Transaction, PoolerMode::Session]
            .into_iter()
            .find(|mode| mode.as_str() == s)
            .ok_or(())
    }
}

/// `[servers.S.pooler.environments.E]`: where the pooler listens in one environment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolerAddress {
    pub host: Spanned<Setting>,
    /// Default 6432, PgBouncer's.
    pub port: Option<Spanned<Setting>>,
}

/// PgBouncer's default port.
pub const POOLER_DEFAULT_PORT: u16 = 6432;

/// A server's pooler, validated.
#[derive(Debug, Clone)]
pub struct Pooler {
    pub mode: PoolerMode,
    /// The environments where services connect through it, and its address there.
    pub environments: BTreeMap<String, PoolerAddress>,
}

/// `[backup]`: how `pgfleet backup` dumps, where it keeps backups per environment, and how
/// many it keeps.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBackup {
    /// Services dumped at once on one server (a dump must not starve production).
    pub jobs_per_server: Option<Spanned<u32>>,
    /// `pg_dump --jobs` for a database-placed service (its tables dumped in parallel).
    pub dump_jobs: Option<Spanned<u32>>,
    /// zstd's level for every file of a backup (1-19).
    pub zstd_level: Option<Spanned<i32>>,
    /// `observe alerts`' rule fires when a service's newest verified backup is older.
    #[serde(default, with = "humantime_serde::option")]
    pub verified_within: Option<Duration>,
    #[serde(default)]
    pub retention: Retention,
    #[serde(default)]
    pub environments: BTreeMap<Spanned<String>, RawBackupTarget>,
}

/// `[backup.environments.E]`: one of `path` (a local folder) or `s3`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBackupTarget {
    pub path: Option<Spanned<PathBuf>>,
    pub s3: Option<Spanned<S3Storage>>,
    pub encryption: Option<Spanned<BackupEncryption>>,
}

/// Retention for `backup prune`, per service: a backup is kept when any rule keeps it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// The newest N complete backups.
    pub keep_last: Option<u32>,
    /// The newest backup of each of the last N days that have one.
    pub keep_daily: Option<u32>,
    /// The newest backup of each of the last N ISO weeks that have one.
    pub keep_weekly: Option<u32>,
    /// The newest backup of each of the last N months that have one.
    pub keep_monthly: Option<u32>,
}

/// An S3-compatible bucket. Credentials are variables, never literals; without them the
/// object store's own chain (instance metadata, `AWS_*` variables) applies.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Storage {
    pub bucket: Setting,
    /// Key prefix under which this environment's backups live.
    #[serde(default)]
    pub prefix: String,
    pub region: Option<Setting>,
    /// An S3-compatible server's URL (MinIO, Ceph, moto); AWS when absent.
    pub endpoint: Option<Setting>,
    pub access_key_id: Option<Setting>,
    pub secret_access_key: Option<Setting>,
    pub session_token: Option<Setting>,
    /// Allow an `http://` endpoint (a local test server); refused otherwise.
    #[serde(default)]
    pub allow_http: bool,
}

/// age encryption of every file of a backup.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupEncryption {
    /// age recipients (`age1…` public keys, literal or from variables): who can decrypt.
    pub recipients: Vec<Setting>,
    /// The variable holding an age identity (`AGE-SECRET-KEY-1…`) for verify and restore.
    pub identity: Option<Setting>,
    /// A file holding age identities, for verify and restore.
    pub identity_file: Option<Setting>,
}

/// Where an environment's backups are kept.
#[derive(Debug, Clone)]
pub enum BackupStorage {
    /// A local folder (absolute).
    Local {
        path: PathBuf,
    },
    S3(Box<S3Storage>),
}

/// One environment's backup target.
#[derive(Debug, Clone)]
pub struct BackupTarget {
    pub storage: BackupStorage,
    pub encryption: Option<BackupEncryption>,
}

/// `[backup]`, validated and defaulted.
#[derive(Debug, Clone)]
pub struct BackupSettings {
    pub jobs_per_server: u32,
    pub dump_jobs: u32,
    pub zstd_level: i32,
    pub verified_within: Duration,
    pub retention: Retention,
    /// Environments with a table of their own; the others keep theirs under
    /// `.pgfleet/backups/<environment>/` (see `Manifest::backup_target`).
    pub environments: BTreeMap<String, BackupTarget>,
}

impl Default for BackupSettings {
    fn default() -> Self {
        BackupSettings {
            jobs_per_server: 2,
            dump_jobs: 2,
            zstd_level: 3,
            verified_within: Duration::from_secs(48 * 3600),
            retention: Retention::default(),
            environments: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    pub server: Option<Spanned<String>>,
    pub database: Option<Spanned<String>>,
    pub schema: Option<Spanned<String>>,
    pub migrations: Option<PathBuf>,
    /// Whose naming the migrations folder follows; detected from the folder when absent.
    pub layout: Option<Layout>,
    /// The driver the service connects with: how its exported URL is spelled.
    pub driver: Option<Driver>,
    pub seeds: Option<PathBuf>,
    #[serde(default)]
    pub reads: Vec<Spanned<String>>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub pool: PoolSettings,
    pub url_env: Option<Spanned<String>>,
    #[serde(default)]
    pub access: RawAccess,
}

/// `[services.NAME.access]`: the service's roles and what they may do.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAccess {
    pub owner_role: Option<Spanned<String>>,
    pub runtime_role: Option<Spanned<String>>,
    pub readonly_role: Option<Spanned<String>>,
    /// The login that runs the service's migrations and seeds (default `<NAME>_migrator`).
    pub migration_role: Option<Spanned<String>>,
    /// CONNECTION LIMIT of the runtime role (default: the pool's max_size plus headroom).
    pub connection_limit: Option<Spanned<i32>>,
    /// Grant TRUNCATE to the runtime role.
    #[serde(default)]
    pub truncate: bool,
    /// Tables the runtime role may read and append to, never UPDATE or DELETE (audit logs).
    #[serde(default)]
    pub append_only: Vec<Spanned<String>>,
    /// The runtime role's password (default `{ env = "<NAME>_DB_PASSWORD" }`).
    pub password: Option<Spanned<Setting>>,
    #[serde(default)]
    pub rls: Vec<RawRls>,
}

/// A table whose rows the runtime role sees only when they belong to the session's user.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRls {
    pub table: Spanned<String>,
    pub column: Spanned<String>,
    pub setting: Option<Spanned<String>>,
    /// What services that read this one see: `session` (the rows of the session's user, as
    /// the runtime role) or `all`.
    pub readers: Option<Spanned<String>>,
}

/// How to reach a server in one environment. Set for a whole environment under
/// `[environments.NAME]` and overridden per server under `[servers.S.environments.NAME]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSettings {
    /// The servers are local clusters that pgfleet creates and runs (`pgfleet dev up`).
    pub local: Option<bool>,
    /// Local clusters of the environment's own (`.pgfleet/testing/`, each server's
    /// `test_port`), apart from development's, with a CREATEDB login for test runners. Only
    /// with `local = true`, and only on the environment itself.
    pub testing: Option<Spanned<bool>>,
    /// Guarded environment: mutating commands ask for confirmation. Defaults to true for
    /// `production`.
    pub protected: Option<bool>,
    pub host: Option<Spanned<Setting>>,
    pub port: Option<Spanned<Setting>>,
    pub user: Option<Spanned<Setting>>,
    /// Always `{ env = "VAR" }`: a password is never written in the manifest itself.
    pub password: Option<Spanned<Setting>>,
    pub sslmode: Option<SslMode>,
}

impl ConnectionSettings {
    /// `self` with every unset field taken from `base`.
    pub fn or(&self, base: &ConnectionSettings) -> ConnectionSettings {
        ConnectionSettings {
            local: self.local.or(base.local),
            testing: self.testing.clone().or_else(|| base.testing.clone()),
            protected: self.protected.or(base.protected),
            host: self.host.clone().or_else(|| base.host.clone()),
            port: self.port.clone().or_else(|| base.port.clone()),
            user: self.user.clone().or_else(|| base.user.clone()),
            password: self.password.clone().or_else(|| base.password.clone()),
            sslmode: self.sslmode.or(base.sslmode),
        }
    }
}

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl std::str::FromStr for SslMode {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        [
            SslMode::Disable,
            SslMode::Allow,
            SslMode::Prefer,
            SslMode::Require,
            SslMode::VerifyCa,
            SslMode::VerifyFull,
        ]
        .into_iter()
        .find(|mode| mode.as_str() == s)
        .ok_or(())
    }
}

impl SslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// The migration tool whose folder layout a service's migrations follow (`layout = "…"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    Pgfleet,
    GolangMigrate,
    Sqlx,
    Diesel,
    Dbmate,
    Flyway,
}

impl Layout {
    pub const ALL: [Layout; 6] = [
        Layout::Pgfleet,
        Layout::GolangMigrate,
        Layout::Sqlx,
        Layout::Diesel,
        Layout::Dbmate,
        Layout::Flyway,
    ];

    /// The manifest's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Pgfleet => "pgfleet",
            Layout::GolangMigrate => "golang-migrate",
            Layout::Sqlx => "sqlx",
            Layout::Diesel => "diesel",
            Layout::Dbmate => "dbmate",
            Layout::Flyway => "flyway",
        }
    }
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The driver (or ORM and driver) a service connects with (`driver = "…"`): it decides how
/// `env export` spells the service's URL (see `resolve::Connection::driver_url`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
pub enum Driver {
    /// libpq and everything that reads its URLs (psql, psycopg2, Django, most tools).
    #[default]
    #[serde(rename = "libpq")]
    Libpq,
    #[serde(rename = "asyncpg")]
    Asyncpg,
    /// psycopg 3.
    #[serde(rename = "psycopg")]
    Psycopg,
    #[serde(rename = "sqlalchemy+asyncpg")]
    SqlalchemyAsyncpg,
    #[serde(rename = "sqlalchemy+psycopg")]
    SqlalchemyPsycopg,
    /// pgjdbc, the PostgreSQL JDBC driver.
    #[serde(rename = "jdbc")]
    Jdbc,
    #[serde(rename = "go-pgx")]
    GoPgx,
}

impl Driver {
    pub const ALL: [Driver; 7] = [
        Driver::Libpq,
        Driver::Asyncpg,
        Driver::Psycopg,
        Driver::SqlalchemyAsyncpg,
        Driver::SqlalchemyPsycopg,
        Driver::Jdbc,
        Driver::GoPgx,
    ];

    /// The manifest's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Libpq => "libpq",
            Driver::Asyncpg => "asyncpg",
            Driver::Psycopg => "psycopg",
            Driver::SqlalchemyAsyncpg => "sqlalchemy+asyncpg",
            Driver::SqlalchemyPsycopg => "sqlalchemy+psycopg",
            Driver::Jdbc => "jdbc",
            Driver::GoPgx => "go-pgx",
        }
    }
}

impl std::fmt::Display for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Connection pool settings for a service (the defaults follow the production pool of seed 003,
/// scaled to one service).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolSettings {
    pub max_size: u32,
    pub min_idle: u32,
    #[serde(with = "humantime_serde")]
    pub max_lifetime: Duration,
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// How long a caller waits for a free connection before failing.
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
    /// The runtime role's `statement_timeout` (set on the role, so every client gets it) and
    /// pgfleet-client's session option; zero: no limit, still set explicitly.
    #[serde(with = "humantime_serde")]
    pub statement_timeout: Duration,
    /// The runtime role's `idle_in_transaction_session_timeout`; zero: no limit.
    #[serde(with = "humantime_serde")]
    pub idle_in_transaction_session_timeout: Duration,
    /// The runtime role's `lock_timeout`; absent: the role sets none (the server's default).
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub lock_timeout: Option<Duration>,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_size: 10,
            min_idle: 2,
            max_lifetime: Duration::from_secs(300),
            idle_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            acquire_timeout: Duration::from_secs(30),
            statement_timeout: Duration::from_secs(30),
            // Seed 003's pool closes a connection idle for a minute; a transaction left open
            // that long holds its locks and snapshot for nothing, so the server ends it then.
            idle_in_transaction_session_timeout: Duration::from_secs(60),
            lock_timeout: None,
        }
    }
}

/// The fleet-wide settings of `[fleet]`.
#[derive(Debug, Clone, Serialize)]
pub struct Fleet {
    pub name: String,
    /// The variable that selects the active environment.
    pub environment_var: String,
    pub default_environment: String,
    /// The `.env` file read before resolving variables (absolute).
    pub dotenv: PathBuf,
    pub manage_roles: bool,
}

/// A PostgreSQL cluster that services live on.
#[derive(Debug, Clone)]
pub struct Server {
    pub name: String,
    /// The port of the local cluster in local environments.
    pub dev_port: Option<u16>,
    /// The port of the local cluster in testing environments (`dev_port + 100` unless set).
    pub test_port: Option<u16>,
    /// The shared database of services placed by schema.
    pub database: Option<String>,
    pub environments: BTreeMap<String, ConnectionSettings>,
    /// The PgBouncer services connect through (pgfleet's own sessions never do).
    pub pooler: Option<Pooler>,
}

/// Where a service's data lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Placement {
    /// The service owns a whole database.
    Database { database: String },
    /// The service owns one schema in a database shared with other services.
    Schema { database: String, schema: String },
}

impl Placement {
    pub fn database(&self) -> &str {
        match self {
            Placement::Database { database } | Placement::Schema { database, .. } => database,
        }
    }

    pub fn schema(&self) -> Option<&str> {
        match self {
            Placement::Database { .. } => None,
            Placement::Schema { schema, .. } => Some(schema),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    pub server: String,
    pub placement: Placement,
    /// Absolute path of the migrations folder.
    pub migrations: PathBuf,
    /// The layout of the migrations folder as the manifest sets it (`None`: detected).
    pub layout: Option<Layout>,
    /// The driver the service connects with (default libpq).
    pub driver: Driver,
    /// Absolute path of the seed-data folder.
    pub seeds: PathBuf,
    pub reads: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub pool: PoolSettings,
    /// The variable whose URL, when set, overrides everything else (`<NAME>_DATABASE_URL`).
    pub url_env: String,
    pub access: ServiceAccess,
}

/// A service's roles (names already defaulted and validated).
#[derive(Debug, Clone, Serialize)]
pub struct ServiceAccess {
    /// NOLOGIN; owns the schema and everything in it; migrations run as it.
    pub owner_role: String,
    /// LOGIN; what the service process connects as.
    pub runtime_role: String,
    /// NOLOGIN; SELECT only; granted to the runtime roles of services that read this one.
    pub readonly_role: String,
    /// LOGIN NOINHERIT, a member of the owner role and nothing else: the only login that runs
    /// the service's SQL (migrations, seeds), so that `RESET ROLE` leads back to no rights.
    /// Its password is a random one set by pgfleet for each run, under the migration lock.
    pub migration_role: String,
    pub connection_limit: i32,
    pub truncate: bool,
    /// Tables the runtime role may only SELECT and INSERT.
    pub append_only: Vec<String>,
    #[serde(skip)]
    pub password: Setting,
    pub rls: Vec<RlsPolicy>,
}

/// Row level security on one table, keyed by a session setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RlsPolicy {
    pub table: String,
    pub column: String,
    /// e.g. `app.current_user_id` (seed 004).
    pub setting: String,
    /// Readers see every row (`readers = "all"`) rather than the session user's.
    pub readers_see_all: bool,
}

/// A validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The manifest file (absolute).
    pub path: PathBuf,
    /// The folder the manifest is in; relative paths and `.pgfleet/` are under it.
    pub project_dir: PathBuf,
    pub fleet: Fleet,
    pub environments: BTreeMap<String, ConnectionSettings>,
    pub servers: BTreeMap<String, Server>,
    pub services: BTreeMap<String, Service>,
    pub backup: BackupSettings,
}

impl Manifest {
    /// Where `environment`'s backups are kept: its `[backup.environments.E]` table, else the
    /// local folder `.pgfleet/backups/<environment>/`.
    pub fn backup_target(&self, environment: &str) -> BackupTarget {
        self.backup
            .environments
            .get(environment)
            .cloned()
            .unwrap_or_else(|| BackupTarget {
                storage: BackupStorage::Local {
                    path: self.state_dir().join("backups").join(environment),
                },
                encryption: None,
            })
    }

    /// Settings for `server` in `environment`: the server's own override over the environment's.
    pub fn settings(&self, server: &Server, environment: &str) -> Option<ConnectionSettings> {
        let base = self.environments.get(environment)?;
        Some(match server.environments.get(environment) {
            Some(own) => own.or(base),
            None => base.clone(),
        })
    }

    pub fn is_local(&self, environment: &str) -> bool {
        self.environments
            .get(environment)
            .and_then(|e| e.local)
            .unwrap_or(false)
    }

    /// A local environment with clusters of its own for test suites (`testing = true`).
    pub fn is_testing(&self, environment: &str) -> bool {
        self.is_local(environment)
            && self
                .environments
                .get(environment)
                .and_then(|e| e.testing.as_ref())
                .is_some_and(|t| *t.get_ref())
    }

    /// The login of a testing environment's test runners (CREATEDB only): `<fleet>_test_runner`.
    pub fn test_runner_role(&self) -> String {
        format!("{}_test_runner", self.fleet.name)
    }

    /// The port `server`'s local cluster listens on in `environment` (a local one).
    pub fn local_port(&self, server: &Server, environment: &str) -> Option<u16> {
        if self.is_testing(environment) {
            server.test_port
        } else {
            server.dev_port
        }
    }

    pub fn is_protected(&self, environment: &str) -> bool {
        self.environments
            .get(environment)
            .and_then(|e| e.protected)
            .unwrap_or(environment == "production")
    }

    /// Where pgfleet keeps local state (clusters, generated dev passwords).
    pub fn state_dir(&self) -> PathBuf {
        self.project_dir.join(".pgfleet")
    }
}
