//! `pgfleet completions SHELL` and `pgfleet man`: texts generated from the command line's
//! own declaration, so they never fall behind it.

use crate::cli::Cli;
use crate::error::{CliError, Result};
use clap::CommandFactory as _;

pub fn completions(shell: clap_complete::Shell) -> String {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "pgfleet", &mut script);
    String::from_utf8_lossy(&script).into_owned()
}

pub fn man_page() -> Result<String> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .map_err(|e| CliError::Failed(format!("cannot render the manual page: {e}")))?;
    Ok(String::from_utf8_lossy(&page).into_owned())
}
