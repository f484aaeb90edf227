//! Running tools and checking processes.

use std::fs;
use std::process::Command;

use crate::ClusterError;

/// Runs `cmd`, capturing output; a non-zero exit becomes [`ClusterError::CommandFailed`].
pub(crate) fn run(cmd: &mut Command) -> Result<String, ClusterError> {
    let command = format!("{cmd:?}");
    tracing::debug!(%command, "running");
    let output = cmd
        .output()
        .map_err(|e| ClusterError::io(format!("running {command}"), e))?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    if output.status.success() {
        Ok(text)
    } else {
        Err(ClusterError::CommandFailed {
            command,
            status: output.status,
            output: text.trim_end().to_owned(),
        })
    }
}

/// Whether `pid` is a live (non-zombie) postgres process. On Linux `/proc/<pid>/stat` also
/// guards against a stale postmaster.pid whose pid was reused by an unrelated process.
pub(crate) fn postgres_alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    if let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) {
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            return false;
        };
        let comm = &stat[open + 1..close];
        let state = stat[close + 1..].trim_start().chars().next();
        return state != Some('Z') && (comm.starts_with("postgres") || comm == "postmaster");
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None) {
        Ok(()) | Err(nix::errno::Errno::EPERM) => true,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_pid_is_not_postgres() {
        // The test binary is alive but not postgres: a stale pid file pointing at a reused
        // pid must not count as running.
        assert!(!postgres_alive(std::process::id()));
        assert!(!postgres_alive(u32::MAX));
    }
}
