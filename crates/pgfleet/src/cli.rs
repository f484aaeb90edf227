//! The command line, declared with clap's derive API.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// A duration that must be more than zero: zero would mean "no limit" to PostgreSQL or "fail
/// at once" to a timer, neither of which such a flag promises.
fn positive_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if duration.is_zero() {
        return Err("must be more than zero".to_owned());
    }
    Ok(duration)
}

/// The crate's version and, when the build had git to ask, its commit (see `build.rs`).
pub const VERSION: &str = env!("PGFLEET_VERSION");

#[derive(Debug, Parser)]
#[command(
    name = "pgfleet",
    version = VERSION,
    about = "Runs the PostgreSQL side of a microservice fleet from one manifest (fleet.toml).",
    after_help = "Exit codes: 0 success, 1 a command or check failed (`backup create`: any part \
                  failed), 2 usage error, \
                  3 invalid or missing manifest, 4 configuration problem (variables, environment), \
                  5 local PostgreSQL problem (binaries, cluster), 6 `access check` found drift, \
                  126/127 `env exec` could not run / found no command, 130 interrupted (a migration run, \
                  `backup create`); \
                  `env exec` otherwise exits with its command's code."
)]
pub struct Cli {
    /// The fleet manifest. Default: $PGFLEET_MANIFEST, else fleet.toml in this folder or the
    /// nearest parent that has one.
    #[arg(long, global = true, env = "PGFLEET_MANIFEST", value_name = "PATH")]
    pub manifest: Option<PathBuf>,

    /// The environment to act on. Default: the manifest's selecting variable (PGFLEET_ENV unless
    /// the manifest names another), else its default environment.
    #[arg(long = "env", global = true, value_name = "NAME")]
    pub environment: Option<String>,

    /// How long opening a database session may take, TCP connect, TLS and authentication
    /// included (`serve` uses its --deadline instead).
    #[arg(
        long,
        global = true,
        env = "PGFLEET_CONNECT_TIMEOUT",
        value_name = "DURATION",
        default_value = "10s",
        value_parser = positive_duration
    )]
    pub connect_timeout: Duration,

    /// More log output on stderr (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// How logs on stderr are written: text for people, json (one object a line) for log
    /// collectors.
    #[arg(
        long,
        global = true,
        env = "PGFLEET_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        value_name = "FORMAT"
    )]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Connection resolution: check, show and export each service's connection.
    #[command(subcommand)]
    Env(EnvCommand),
    /// Local development clusters that pgfleet creates and runs itself.
    #[command(subcommand)]
    Dev(DevCommand),
    /// Versioned up/down SQL migrations per service.
    #[command(subcommand)]
    Migrate(MigrateCommand),
    /// Roles and grants as code: least privilege per service, cross-service reads, RLS.
    #[command(subcommand)]
    Access(AccessCommand),
    /// Per-service logical backups (pg_dump) with a catalog of hashes, row counts and versions.
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Prometheus metrics, health probes and a status page for every service database.
    Serve(ServeArgs),
    /// Dashboards and alert rules for the metrics `pgfleet serve` emits.
    #[command(subcommand)]
    Observe(ObserveCommand),
    /// A shell's completion script on stdout, e.g. `pgfleet completions bash >
    /// /etc/bash_completion.d/pgfleet`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// The manual page (roff) on stdout: `pgfleet man | man -l -`.
    Man,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (postgres_exporter's port by default).
    #[arg(long, default_value = "127.0.0.1:9187", value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
    /// Freshness of probes, sessions and database statistics; `/ready` runs at most one
    /// query per database per interval, and a database that went away reconnects within it.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub interval: std::time::Duration,
    /// How long a scrape or probe waits; a database slower than this reports down and the
    /// rest report normally.
    #[arg(long, default_value = "4s", value_parser = humantime::parse_duration)]
    pub deadline: std::time::Duration,
    /// Freshness of sizes, migration state and statement statistics.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub slow_interval: std::time::Duration,
    /// Freshness of access drift.
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    pub drift_interval: std::time::Duration,
    /// Connections kept per database.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub pool_size: u16,
    /// Statements per service reported by `pgfleet_top_query_*`.
    #[arg(long, default_value_t = 10)]
    pub top_queries: usize,
    /// How long a client may take to send a request's headers; a connection that has not
    /// sent them by then (idle keep-alive ones too) is closed.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = positive_duration)]
    pub header_read_timeout: std::time::Duration,
    /// HTTP connections served at once; further clients wait until one closes.
    #[arg(long, value_name = "N", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub max_connections: u32,
    /// A file holding the bearer token that /health/detailed and /health/SERVICE require
    /// (or set PGFLEET_SERVE_TOKEN).
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Back up services: each named service as its own backup (`<service>_<time>`), or with
    /// --all every service and each server's roles as one (`full_<time>`). Exit 1 if any
    /// part failed (the others are kept).
    Create {
        #[command(flatten)]
        selection: Selection,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// One row per backup and service: status, migration version, size, age, verified.
    List {
        /// Only these services (default: all).
        services: Vec<String>,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Totals, and per service its newest complete and newest verified backup.
    Status(ReportArgs),
    /// Prove backups restore: every file's SHA-256 against the catalog, a restore into a
    /// scratch database on the service's server, row counts per table and the migration
    /// version compared with the catalog. Recorded in the catalog and the audit log; exit 1
    /// when any part fails.
    Verify {
        /// The backup (see `backup list`); with --latest, the first service.
        id: Option<String>,
        /// Each service's newest complete backup.
        #[arg(long)]
        latest: bool,
        /// Services (default: every part of the backup, or every service with --latest).
        services: Vec<String>,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Restore one service of a backup: into a new database by default (a schema-placed
    /// service into its shared database), over the live one only with --replace.
    Restore {
        id: String,
        service: String,
        /// The database to restore into (created for a database-placed service).
        #[arg(long, value_name = "DATABASE", conflicts_with = "replace")]
        into: Option<String>,
        /// Restore over the live database or schema (its sessions are ended).
        #[arg(long)]
        replace: bool,
        /// With --replace: go ahead when the live migration version is newer than the
        /// backup's.
        #[arg(long, requires = "replace")]
        force_older: bool,
        /// Do not ask for confirmation in a protected environment (production).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        report: ReportArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ObserveCommand {
    /// A Grafana dashboard (JSON) for pgfleet serve's metrics.
    Grafana,
    /// Prometheus alert rules (YAML) for pgfleet serve's metrics.
    Alerts,
}

#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// The SQL that would bring the databases in line with the manifest, each with its reason.
    Plan {
        /// Services (default: all).
        services: Vec<String>,
        /// Also set every managed login's password from its variable.
        #[arg(long)]
        rotate_passwords: bool,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Run the plan (idempotent: a plan right after is empty); recorded in the audit log.
    Apply {
        services: Vec<String>,
        /// Set every managed login's password from its variable (an admin that is not a
        /// superuser cannot compare them with the stored ones).
        #[arg(long)]
        rotate_passwords: bool,
        /// Do not ask for confirmation in a protected environment (production).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Compare the live catalogs with the manifest; exit 6 on any drift.
    Check {
        services: Vec<String>,
        #[command(flatten)]
        report: ReportArgs,
    },
}

/// Which services a command acts on.
#[derive(Debug, Clone, Args)]
pub struct Selection {
    /// Services to act on.
    pub services: Vec<String>,
    /// Every service of the fleet.
    #[arg(long, conflicts_with = "services")]
    pub all: bool,
}

/// How a migration run behaves.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Print the plan and its SQL; touch nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation in a protected environment (production).
    #[arg(long)]
    pub yes: bool,
    /// Services migrated at once (default: up to 4 per server).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// How long to wait for another runner of the same service; 0s takes the lock only if
    /// it is free right now.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub lock_wait: std::time::Duration,
    /// lock_timeout for migration statements, more than zero (a file's
    /// `-- pgfleet:lock-timeout` wins).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = positive_duration)]
    pub lock_timeout: std::time::Duration,
    /// statement_timeout for migration statements; 0 for none (a file's directive wins).
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = humantime::parse_duration)]
    pub statement_timeout: std::time::Duration,
    /// Retries of a statement that hit lock_timeout, with backoff.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub lock_retries: u32,
    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Apply pending migrations.
    Up {
        #[command(flatten)]
        selection: Selection,
        /// Stop after this version.
        #[arg(long, value_name = "VERSION")]
        to: Option<i64>,
        /// Apply files older than the current version that were never applied.
        #[arg(long)]
        allow_out_of_order: bool,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Revert applied migrations (default: the last one).
    Down {
        #[command(flatten)]
        selection: Selection,
        /// How many migrations to revert.
        #[arg(long, value_name = "N", conflicts_with = "to")]
        steps: Option<u32>,
        /// Revert every migration above this version (0: all of them).
        #[arg(long, value_name = "VERSION")]
        to: Option<i64>,
        #[command(flatten)]
        run: RunArgs,
    },
    /// A table: service, current version, pending, dirty.
    Status {
        #[command(flatten)]
        selection: Selection,
        /// Exit 1 when anything is pending, dirty or edited (for CI).
        #[arg(long)]
        check: bool,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// The applied migrations of services, oldest first.
    History {
        #[command(flatten)]
        selection: Selection,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// The current version of each service.
    Current {
        #[command(flatten)]
        selection: Selection,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Check applied files against their recorded checksums (exit 1 on any problem).
    Validate {
        #[command(flatten)]
        selection: Selection,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Accept edited checksums, or settle a dirty migration; recorded in the audit log.
    Repair {
        service: String,
        /// What a dirty migration is now: `applied` (its statements are done) or `pending`
        /// (undone; run it again).
        #[arg(long, value_enum)]
        dirty: Option<DirtyAs>,
        #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
        lock_wait: std::time::Duration,
        /// Do not ask for confirmation in a protected environment (production).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Mark every migration up to VERSION as applied without running it (adopt a database).
    Baseline {
        service: String,
        /// Mark the files up to VERSION applied; with --from-live, the version of the file
        /// it writes (default: now, as a UTC timestamp).
        #[arg(long, value_name = "VERSION", required_unless_present = "from_live")]
        version: Option<i64>,
        /// Write the service's live schema (pg_dump --schema-only) as its first migration
        /// file and mark it applied.
        #[arg(long)]
        from_live: bool,
        #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
        lock_wait: std::time::Duration,
        /// Do not ask for confirmation in a protected environment (production).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Convert another tool's project into migration files, then adopt its history (today:
    /// `alembic`, through the project's own `alembic upgrade A:B --sql`).
    Import {
        #[arg(value_enum)]
        tool: ImportFrom,
        service: String,
        /// The project folder (where its alembic.ini is).
        #[arg(long, value_name = "DIR")]
        project: std::path::PathBuf,
        /// The alembic program to run (default: `alembic` on PATH).
        #[arg(long, value_name = "PATH", default_value = "alembic")]
        alembic: std::path::PathBuf,
        #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
        lock_wait: std::time::Duration,
        /// Do not ask for confirmation in a protected environment (production).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Take over another tool's history: record what it applied as applied (its table stays).
    Adopt {
        service: String,
        /// The tool whose history table to read.
        #[arg(long, value_enum, value_name = "TOOL")]
        from: AdoptFrom,
        /// Show what would be recorded; record nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
        lock_wait: std::time::Duration,
        /// Do not ask for confirmation in a protected environment (production).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Create the up and down files of a new migration.
    New {
        service: String,
        name: String,
        /// In a folder with no migrations yet, number it 001 instead of a UTC timestamp
        /// (a folder that has some keeps its numbering: `003_…` is followed by `004_…`).
        #[arg(long)]
        sequential: bool,
        #[command(flatten)]
        report: ReportArgs,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AdoptFrom {
    GolangMigrate,
    Sqlx,
    Diesel,
    Dbmate,
    Flyway,
    Alembic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportFrom {
    Alembic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DirtyAs {
    Applied,
    Pending,
}

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// Resolve every service's connection and list every problem at once.
    Check(ReportArgs),
    /// The resolved connection of each service (passwords redacted).
    Show {
        /// Services to show (default: all).
        services: Vec<String>,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// The variables a service process needs, for services in any language.
    Export {
        service: String,
        #[arg(long, value_enum, default_value_t = ExportFormat::Dotenv)]
        format: ExportFormat,
        /// Include the password (the only command that ever prints one).
        #[arg(long)]
        show_secrets: bool,
    },
    /// Run a command with the service's variables (as `export --show-secrets` writes them)
    /// added to this environment, writing nothing to disk; its exit code is passed through.
    Exec {
        service: String,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum DevCommand {
    /// Create and start the local clusters, and each service's database or schema.
    Up {
        /// Services to bring up (default: all).
        services: Vec<String>,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Stop the local clusters of these servers (default: every one); data is kept.
    Down {
        /// Dev servers to stop (default: all).
        servers: Vec<String>,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// A table of the local clusters: server, port, pid, state, databases.
    Status(ReportArgs),
    /// Drop and recreate the data of these services (default: all), leaving others untouched.
    Reset {
        services: Vec<String>,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Load each service's seed data (services/<name>/seeds/*.sql, in name order).
    Seed {
        /// Services to seed (default: all).
        services: Vec<String>,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Keep `<database>_template`: the service's database migrated and seeded, for test suites
    /// to clone (`CREATE DATABASE x TEMPLATE …`); rebuilt only when its files changed.
    Template {
        service: String,
        /// Rebuild even when it is fresh.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Keep a named copy of a service's local data (a template copy of its database, or a
    /// dump of its schema), to try a migration or a seed and go back with `dev restore`.
    Snapshot {
        service: String,
        /// The snapshot's name (lowercase letters, digits and underscores).
        name: String,
        /// Replace the service's snapshot of that name.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Put a service's local data back as snapshot NAME holds it (the snapshot is kept).
    Restore {
        service: String,
        name: String,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// The snapshots of a service (default: every service): name, kind, size, when taken.
    Snapshots {
        service: Option<String>,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Open psql on a service's database, as the service's role.
    Psql {
        service: String,
        /// Arguments passed to psql, after `--`.
        #[arg(last = true)]
        args: Vec<String>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// How the report is printed: a table for people, or JSON (shapes in the README).
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// For sh/bash `.`, python-dotenv and dotenvy: quoted so each reads back the same bytes.
    Dotenv,
    /// For `docker run --env-file`, which takes each value literally: `KEY=value`, no quotes.
    Docker,
    Json,
}
