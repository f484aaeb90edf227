//! A child process that cleans up after the test process, however it ends.
//!
//! Rust never drops statics and a test binary can be killed (SIGKILL, timeouts), so the
//! shared cluster can't be stopped from a destructor. Instead a small `sh` script blocks
//! reading a pipe whose write end only the test process holds. When the test process exits
//! for any reason the kernel closes that end, `cat` sees EOF, and the script stops the
//! server and deletes the directories.

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

use pgfleet_cluster::RunAs;

use crate::TestkitError;

/// Waits for EOF on stdin, then `pg_ctl stop -m immediate` (retried while a pid file is
/// still there, in case the server was mid-start) and `rm -rf` of the remaining args.
/// HUP/INT are ignored so a Ctrl-C or closed terminal doesn't kill it before the test
/// process. (If the server was still starting and never got stopped, it notices its
/// deleted data directory lock file within a minute and shuts itself down.)
const SCRIPT: &str = r#"trap '' HUP INT
cat >/dev/null
pg_ctl=$0 data_dir=$1
shift
for attempt in 1 2 3 4 5; do
  "$pg_ctl" stop -D "$data_dir" -m immediate -w >/dev/null 2>&1
  [ -e "$data_dir/postmaster.pid" ] || break
  sleep 1
done
rm -rf "$@"
"#;

/// For a process that is not a cluster (a test PgBouncer): waits for EOF on stdin, then
/// SIGTERM to the pid and `rm -rf` of the remaining args.
const KILL_SCRIPT: &str = r#"trap '' HUP INT
cat >/dev/null
pid=$0
kill "$pid" 2>/dev/null
rm -rf "$@"
"#;

/// The running reaper: dropping [`stdin`](Self::stdin) (or the test process exiting)
/// triggers the cleanup.
#[derive(Debug)]
pub(crate) struct Reaper {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Reaper {
    /// Spawns the reaper as the server user (pg_ctl refuses root, and that user owns the
    /// directories). It gets its own process group so terminal signals aimed at the test
    /// run don't reach it, and /dev/null as stdout/stderr so it never holds the test
    /// harness's output pipes open (which would make `cargo test` wait for it).
    pub(crate) fn spawn(
        run_as: &RunAs,
        pg_ctl: &Path,
        data_dir: &Path,
        remove: &[&Path],
    ) -> Result<Self, TestkitError> {
        let mut args = vec![pg_ctl.as_os_str(), data_dir.as_os_str()];
        args.extend(remove.iter().map(|p| p.as_os_str()));
        Self::spawn_script(Some(run_as), SCRIPT, &args, "the test cluster reaper")
    }

    /// A reaper that stops process `pid` (running as the server user) and deletes `remove`.
    pub(crate) fn spawn_for_pid(
        run_as: &RunAs,
        pid: u32,
        remove: &[&Path],
    ) -> Result<Self, TestkitError> {
        let pid = pid.to_string();
        let mut args = vec![std::ffi::OsStr::new(&pid)];
        args.extend(remove.iter().map(|p| p.as_os_str()));
        Self::spawn_script(Some(run_as), KILL_SCRIPT, &args, "the PgBouncer reaper")
    }

    /// A reaper that stops process `pid` (a child of the test process, running as its user,
    /// such as the test S3 server) and deletes `remove`.
    pub(crate) fn spawn_for_own_pid(pid: u32, remove: &[&Path]) -> Result<Self, TestkitError> {
        let pid = pid.to_string();
        let mut args = vec![std::ffi::OsStr::new(&pid)];
        args.extend(remove.iter().map(|p| p.as_os_str()));
        Self::spawn_script(None, KILL_SCRIPT, &args, "the test S3 server's reaper")
    }

    /// `sh -c script args…` as the server user (or the test process's own, for `None`), in
    /// its own process group (so a Ctrl-C of the test run does not reach it first), with only
    /// its stdin kept: closing it is the signal.
    fn spawn_script(
        run_as: Option<&RunAs>,
        script: &str,
        args: &[&std::ffi::OsStr],
        what: &str,
    ) -> Result<Self, TestkitError> {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(script)
            .args(args)
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        if let Some(run_as) = run_as {
            run_as.configure(&mut cmd);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| TestkitError::io(format!("spawning {what} (/bin/sh)"), e))?;
        let stdin = child.stdin.take();
        Ok(Self { child, stdin })
    }

    /// Triggers the cleanup now and waits for it to finish.
    pub(crate) fn finish(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}
