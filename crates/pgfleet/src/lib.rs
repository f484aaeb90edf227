//! pgfleet: the command-line tool. `main` parses arguments, loads the context and runs one
//! command; the capabilities live in `commands` and the shared local-cluster plumbing in
//! `local`. Only `output` prints.

pub mod cli;
pub mod commands;
pub mod context;
pub mod error;
pub mod output;

use clap::Parser as _;
use cli::{
    AccessCommand, BackupCommand, Cli, Command, DevCommand, EnvCommand, MigrateCommand,
    ObserveCommand,
};
use context::Context;
use error::{CliError, exit};
use pgfleet_migrate::Direction;
use std::process::ExitCode;

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help and version to stdout with exit 0, usage errors with exit 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    init_tracing(cli.verbose, cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            output::error(&format!("cannot start the async runtime: {e}"));
            return ExitCode::from(exit::FAILED);
        }
    };
    match runtime.block_on(run(&cli)) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(error) => {
            match &error {
                CliError::Manifest(e) => output::manifest_problems(e),
                other => output::error(&other.to_string()),
            }
            ExitCode::from(error.exit_code())
        }
    }
}

fn init_tracing(verbose: u8, format: cli::LogFormat) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        // tokio-postgres logs statement text at debug, and a role statement carries a password
        // verifier: keep it at info.
        _ => "debug,tokio_postgres=info",
    };
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    if format == cli::LogFormat::Json {
        // Notes and errors are events then (see `output::json_logs`): shown whatever the level,
        // as they are in text.
        output::json_logs();
        if let Ok(directive) = "pgfleet::output=info".parse() {
            filter = filter.add_directive(directive);
        }
    }
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(output::colour(&std::io::stderr()));
    let _ = match format {
        cli::LogFormat::Text => logs.try_init(),
        cli::LogFormat::Json => logs.json().try_init(),
    };
}

async fn run(cli: &Cli) -> Result<(), CliError> {
    // Generated files need no manifest.
    match &cli.command {
        Command::Observe(command) => {
            output::print_text(&match command {
                ObserveCommand::Grafana => {
                    output::json(&pgfleet_serve::observe::grafana_dashboard()) + "\n"
                }
                ObserveCommand::Alerts => pgfleet_serve::observe::alert_rules(),
            });
            return Ok(());
        }
        Command::Completions { shell } => {
            output::print_text(&commands::generate::completions(*shell));
            return Ok(());
        }
        Command::Man => {
            output::print_text(&commands::generate::man_page()?);
            return Ok(());
        }
        _ => {}
    }
    let ctx = Context::load(cli)?;
    match &cli.command {
        Command::Env(EnvCommand::Check(report)) => commands::env::check(&ctx, report.format),
        Command::Env(EnvCommand::Show { services, report }) => {
            commands::env::show(&ctx, services, report.format)
        }
        Command::Env(EnvCommand::Export {
            service,
            format,
            show_secrets,
        }) => commands::env::export(&ctx, service, *format, *show_secrets),
        Command::Env(EnvCommand::Exec { service, command }) => {
            commands::env::exec(&ctx, service, command)
        }
        Command::Dev(DevCommand::Up { services, report }) => {
            commands::dev::up(&ctx, services, report.format).await
        }
        Command::Dev(DevCommand::Down { servers, report }) => {
            commands::dev::down(&ctx, servers, report.format).await
        }
        Command::Dev(DevCommand::Status(report)) => {
            commands::dev::status(&ctx, report.format).await
        }
        Command::Dev(DevCommand::Reset { services, report }) => {
            commands::dev::reset(&ctx, services, report.format).await
        }
        Command::Dev(DevCommand::Seed { services, report }) => {
            commands::dev::seed(&ctx, services, report.format).await
        }
        Command::Dev(DevCommand::Template {
            service,
            force,
            report,
        }) => commands::dev_template::template(&ctx, service, *force, report.format).await,
        Command::Dev(DevCommand::Snapshot {
            service,
            name,
            force,
            report,
        }) => commands::dev_snapshot::snapshot(&ctx, service, name, *force, report.format).await,
        Command::Dev(DevCommand::Restore {
            service,
            name,
            report,
        }) => commands::dev_snapshot::restore(&ctx, service, name, report.format).await,
        Command::Dev(DevCommand::Snapshots { service, report }) => {
            commands::dev_snapshot::list(&ctx, service.as_deref(), report.format).await
        }
        Command::Dev(DevCommand::Psql { service, args }) => {
            commands::dev::psql(&ctx, service, args)
        }
        Command::Migrate(command) => migrate_command(&ctx, command).await,
        Command::Access(AccessCommand::Plan {
            services,
            rotate_passwords,
            report,
        }) => {
            commands::access::plan(&ctx, services, passwords(*rotate_passwords), report.format)
                .await
        }
        Command::Access(AccessCommand::Apply {
            services,
            rotate_passwords,
            yes,
            report,
        }) => {
            commands::access::apply(
                &ctx,
                services,
                passwords(*rotate_passwords),
                *yes,
                report.format,
            )
            .await
        }
        Command::Access(AccessCommand::Check { services, report }) => {
            commands::access::check(&ctx, services, report.format).await
        }
        Command::Backup(BackupCommand::Create { selection, report }) => {
            commands::backup::create(&ctx, selection, report.format).await
        }
        Command::Backup(BackupCommand::List { services, report }) => {
            commands::backup::list(&ctx, services, report.format).await
        }
        Command::Backup(BackupCommand::Verify {
            id,
            latest,
            services,
            report,
        }) => {
            // With --latest every positional names a service.
            let mut services = services.clone();
            let id = match (id, latest) {
                (Some(first), true) => {
                    services.insert(0, first.clone());
                    None
                }
                (id, _) => id.as_deref(),
            };
            commands::backup_restore::verify(&ctx, id, *latest, &services, report.format).await
        }
        Command::Backup(BackupCommand::Restore {
            id,
            service,
            into,
            replace,
            force_older,
            yes,
            report,
        }) => {
            let flags = commands::backup_restore::RestoreFlags {
                replace: *replace,
                force_older: *force_older,
                yes: *yes,
            };
            commands::backup_restore::restore(
                &ctx,
                id,
                service,
                into.as_deref(),
                flags,
                report.format,
            )
            .await
        }
        Command::Backup(BackupCommand::Prune {
            dry_run,
            yes,
            report,
        }) => commands::backup::prune(&ctx, *dry_run, *yes, report.format).await,
        Command::Backup(BackupCommand::Status(report)) => {
            commands::backup::status(&ctx, report.format).await
        }
        Command::Serve(args) => commands::serve::run(ctx, args).await,
        Command::Observe(_) | Command::Completions { .. } | Command::Man => Ok(()),
    }
}

async fn migrate_command(ctx: &Context, command: &MigrateCommand) -> Result<(), CliError> {
    use commands::migrate as m;
    match command {
        MigrateCommand::Up {
            selection,
            to,
            allow_out_of_order,
            run,
        } => {
            m::run(
                ctx,
                selection,
                Direction::Up { to: *to },
                run,
                *allow_out_of_order,
            )
            .await
        }
        MigrateCommand::Down {
            selection,
            steps,
            to,
            run,
        } => {
            let direction = Direction::Down {
                steps: steps.unwrap_or(1),
                to: *to,
            };
            m::run(ctx, selection, direction, run, false).await
        }
        MigrateCommand::Status {
            selection,
            check,
            report,
        } => m::status(ctx, selection, *check, report.format).await,
        MigrateCommand::History { selection, report } => {
            m::history(ctx, selection, report.format).await
        }
        MigrateCommand::Current { selection, report } => {
            m::current(ctx, selection, report.format).await
        }
        MigrateCommand::Validate { selection, report } => {
            m::validate(ctx, selection, report.format).await
        }
        MigrateCommand::Repair {
            service,
            dirty,
            lock_wait,
            yes,
            report,
        } => m::repair(ctx, service, *dirty, *lock_wait, *yes, report.format).await,
        MigrateCommand::Baseline {
            service,
            version,
            from_live,
            lock_wait,
            yes,
            report,
        } => match (version, from_live) {
            (version, true) => {
                m::baseline_from_live(ctx, service, *version, *lock_wait, *yes, report.format).await
            }
            (Some(version), false) => {
                m::baseline(ctx, service, *version, *lock_wait, *yes, report.format).await
            }
            (None, false) => unreachable!("clap requires --version without --from-live"),
        },
        MigrateCommand::Import {
            tool: crate::cli::ImportFrom::Alembic,
            service,
            project,
            alembic,
            lock_wait,
            yes,
            report,
        } => {
            m::import_alembic(
                ctx,
                service,
                project,
                alembic,
                *lock_wait,
                *yes,
                report.format,
            )
            .await
        }
        MigrateCommand::Adopt {
            service,
            from,
            dry_run,
            lock_wait,
            yes,
            report,
        } => {
            m::adopt(
                ctx,
                service,
                *from,
                *dry_run,
                *lock_wait,
                *yes,
                report.format,
            )
            .await
        }
        MigrateCommand::New {
            service,
            name,
            sequential,
            report,
        } => m::new(ctx, service, name, *sequential, report.format),
    }
}

/// `--rotate-passwords` as the access module's mode.
fn passwords(rotate: bool) -> pgfleet_access::Passwords {
    if rotate {
        pgfleet_access::Passwords::Rotate
    } else {
        pgfleet_access::Passwords::Verify
    }
}
