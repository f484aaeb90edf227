//! The question a protected environment asks before a command changes it.

use crate::error::{CliError, Result};
use crate::output;
use std::io::IsTerminal;

/// A protected environment (production) shows what will change and asks; `--yes` answers for
/// the user, and with no terminal to ask on pgfleet refuses. `what` counts the changes
/// ("3 step(s)"); `plan` lists them, one per line.
pub fn protected_change(environment: &str, what: &str, plan: &str, yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    output::note(&format!(
        "This changes the protected environment `{environment}` ({what}):\n{plan}"
    ));
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Failed(format!(
            "refusing to change `{environment}` without confirmation: there is no terminal to ask on; pass --yes"
        )));
    }
    output::prompt("Type `yes` to continue: ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| CliError::Failed(format!("reading the answer: {e}")))?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(CliError::Failed("cancelled".to_owned()))
    }
}
