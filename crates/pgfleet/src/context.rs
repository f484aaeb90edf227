//! What every command starts from: the manifest, the variables and the active environment.

use crate::cli::Cli;
use crate::error::{CliError, Result};
use pgfleet_core::{Manifest, Resolver, Vars, manifest};

#[derive(Debug)]
pub struct Context {
    pub manifest: Manifest,
    pub vars: Vars,
    /// The active environment.
    pub environment: String,
    /// Where the environment's name came from, for reports.
    pub environment_source: String,
    /// How long opening a session may take (`--connect-timeout`).
    pub connect_timeout: std::time::Duration,
}

impl Context {
    pub fn load(cli: &Cli) -> Result<Context> {
        let cwd = std::env::current_dir()
            .map_err(|e| CliError::Failed(format!("cannot read the current folder: {e}")))?;
        // clap already folds $PGFLEET_MANIFEST into `--manifest`.
        let path = manifest::locate(cli.manifest.as_deref(), None, &cwd)?;
        let manifest = Manifest::load(&path)?;
        let vars = Vars::from_process()
            .with_dotenv(&manifest.fleet.dotenv)
            .map_err(|e| CliError::Config(e.to_string()))?;
        let environment =
            Resolver::new(&manifest, &vars).environment(cli.environment.as_deref())?;
        let environment_source = if cli.environment.is_some() {
            "--env".to_owned()
        } else if vars.get(&manifest.fleet.environment_var).is_some() {
            manifest.fleet.environment_var.clone()
        } else {
            "the manifest's default".to_owned()
        };
        Ok(Context {
            manifest,
            vars,
            environment,
            environment_source,
            connect_timeout: cli.connect_timeout,
        })
    }

    pub fn resolver(&self) -> Resolver<'_> {
        Resolver::new(&self.manifest, &self.vars)
    }

    /// The services named on the command line, checked; all services when none are named.
    pub fn services(&self, names: &[String]) -> Result<Vec<String>> {
        if names.is_empty() {
            return Ok(self.manifest.services.keys().cloned().collect());
        }
        for name in names {
            self.resolver().service(name)?;
        }
        Ok(names.to_vec())
    }
}
