//! Running tools and checking processes.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::process::Command;

use crate::ClusterError;

/// What a child of this crate (initdb, pg_ctl and through it the server, the `/bin/sh` probes,
/// `pg_config`) keeps of pgfleet's environment: where programs are, and the locale and time
/// zone initdb and the server take their defaults from. Nothing else: pgfleet's own
/// environment holds passwords (the admin password variable, `PGPASSWORD`, tokens) that the
/// server would otherwise keep in `/proc/<pid>/environ` for as long as it runs.
const INHERITED: [&str; 8] = [
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR",
];

fn inherited(name: &OsStr) -> bool {
    let name = name.to_string_lossy();
    INHERITED.contains(&name.as_ref()) || name.starts_with("LC_")
}

/// A command for `program` with only the [`INHERITED`] variables of our environment; callers
/// add what the child needs (`PGDATA`, `PGPORT`…) explicitly.
pub(crate) fn command(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear();
    let kept: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(name, _)| inherited(name))
        .collect();
    cmd.envs(kept);
    cmd
}

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
    fn children_keep_only_the_allowed_variables() {
        let cmd = command("/bin/true");
        // env_clear() makes every variable explicit: the ones kept are all there is.
        let names: Vec<String> = cmd
            .get_envs()
            .filter(|(_, value)| value.is_some())
            .map(|(name, _)| name.to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| inherited(OsStr::new(n))), "{names:?}");
        assert!(!inherited(OsStr::new("PGPASSWORD")));
        assert!(!inherited(OsStr::new("APP_DB_PASSWORD")));
        assert!(inherited(OsStr::new("LC_ALL")));
    }

    #[test]
    fn own_pid_is_not_postgres() {
        // The test binary is alive but not postgres: a stale pid file pointing at a reused
        // pid must not count as running.
        assert!(!postgres_alive(std::process::id()));
        assert!(!postgres_alive(u32::MAX));
    }
}
