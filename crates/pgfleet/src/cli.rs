//! The command line, declared with clap's derive API.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "pgfleet",
    version,
    about = "Runs the PostgreSQL side of a microservice fleet from one manifest (fleet.toml).",
    after_help = "Exit codes: 0 success, 1 a command or check failed, 2 usage error, \
                  3 invalid or missing manifest, 4 configuration problem (variables, environment), \
                  5 local PostgreSQL problem (binaries, cluster)."
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

    /// More log output on stderr (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

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
}

#[derive(Debug, Subcommand)]
pub enum DevCommand {
    /// Create and start the local clusters, and each service's database or schema.
    Up {
        /// Services to bring up (default: all).
        services: Vec<String>,
    },
    /// Stop every local cluster of the fleet (data is kept).
    Down,
    /// A table of the local clusters: server, port, pid, state, databases.
    Status(ReportArgs),
    /// Drop and recreate the data of these services (default: all), leaving others untouched.
    Reset { services: Vec<String> },
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
    Dotenv,
    Json,
}
