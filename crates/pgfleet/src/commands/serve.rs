//! `pgfleet serve`: builds the targets and runs the HTTP daemon until SIGTERM or Ctrl-C.

use crate::cli::ServeArgs;
use crate::context::Context;
use crate::error::{CliError, Result};
use crate::output;
use pgfleet_core::Secret;
use pgfleet_serve::collectors::Collectors;
use pgfleet_serve::targets::{Settings, Targets};
use pgfleet_serve::{Daemon, router};
use std::sync::Arc;

/// The bearer token: the file named by `--token-file`, else `$PGFLEET_SERVE_TOKEN`. An empty
/// one (after trimming) is refused: read as "no token" it would silently open the detailed
/// endpoints.
fn token(ctx: &Context, args: &ServeArgs) -> Result<Option<Secret>> {
    if let Some(path) = &args.token_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::Config(format!(
                "cannot read the token file {}: {e}",
                path.display()
            ))
        })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(CliError::Config(format!(
                "the token file {} is empty",
                path.display()
            )));
        }
        return Ok(Some(Secret::new(token)));
    }
    const VAR: &str = "PGFLEET_SERVE_TOKEN";
    match ctx.vars.get(VAR).map(str::trim) {
        Some(token) if !token.is_empty() => Ok(Some(Secret::new(token))),
        _ if ctx.vars.is_set(VAR) => Err(CliError::Config(format!(
            "{VAR} is set but empty\n  hint: set it to the token, or unset it to serve the detailed endpoints without one"
        ))),
        _ => Ok(None),
    }
}

pub async fn run(ctx: Context, args: &ServeArgs) -> Result<()> {
    if args.deadline.is_zero() || args.interval.is_zero() {
        return Err(CliError::Config(
            "--interval and --deadline must be more than zero".to_owned(),
        ));
    }
    let settings = Settings {
        interval: args.interval,
        deadline: args.deadline,
        pool_size: usize::from(args.pool_size),
        top_queries: args.top_queries,
        slow_ttl: args.slow_interval,
        drift_ttl: args.drift_interval,
    };
    let token = token(&ctx, args)?;
    let targets = Arc::new(Targets::build(
        &ctx.manifest,
        &ctx.resolver(),
        &ctx.environment,
        &settings,
    )?);
    let manifest = Arc::new(ctx.manifest.clone());
    let daemon = Arc::new(Daemon::new(
        Collectors::new(targets.clone(), manifest, settings),
        token,
    ));
    // Warm the pools and caches in the background, so the first scrape rarely pays for
    // connecting to every database.
    let warm = daemon.clone();
    tokio::spawn(async move {
        warm.collectors
            .snapshot(pgfleet_serve::collectors::Scope::Everything)
            .await;
    });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| CliError::Config(format!("cannot listen on {}: {e}", args.listen)))?;
    let address = listener
        .local_addr()
        .map_err(|e| CliError::Failed(e.to_string()))?;
    output::note(&format!(
        "pgfleet serve: {} service(s) in {} database(s) on {} server(s) ({}), listening on http://{address}",
        targets.services.len(),
        targets.databases.len(),
        targets.servers.len(),
        ctx.environment,
    ));
    let limits = pgfleet_serve::http::Limits {
        header_read_timeout: args.header_read_timeout,
        max_connections: args.max_connections,
    };
    pgfleet_serve::http::serve(listener, router(daemon), limits, shutdown_signal()).await;
    targets.close();
    output::note("pgfleet serve: stopped");
    Ok(())
}

/// SIGTERM (Kubernetes, systemd) or Ctrl-C: in-flight requests finish, then the pools close.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
