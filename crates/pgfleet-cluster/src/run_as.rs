//! Which OS user runs initdb, pg_ctl and the server.
//!
//! PostgreSQL refuses to run as root. When we are root (containers, CI) we run the server
//! tools as an unprivileged OS user by setting uid/gid on the child process; that needs no
//! sudo/runuser and works in minimal images.

use std::path::Path;
use std::process::{Command, Stdio};

use nix::unistd::{Uid, User};

use crate::ClusterError;

/// Environment variable naming the OS user to run the server as when we are root.
pub const PG_OS_USER_ENV: &str = "PGFLEET_PG_OS_USER";

/// Default OS user when we are root (created by Debian's `postgresql` package).
pub const DEFAULT_PG_OS_USER: &str = "postgres";

/// Who runs the server processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunAs {
    /// The current (non-root) user.
    CurrentUser,
    /// Another OS user; used when we are root because PostgreSQL refuses to run as root.
    OsUser {
        /// User name (for messages and `USER`/`LOGNAME`).
        name: String,
        /// Its uid, set on child processes.
        uid: u32,
        /// Its primary gid, set on child processes.
        gid: u32,
    },
}

impl RunAs {
    /// `CurrentUser` unless the effective uid is 0; then `PGFLEET_PG_OS_USER` or `postgres`.
    pub fn detect() -> Result<Self, ClusterError> {
        if !nix::unistd::geteuid().is_root() {
            return Ok(Self::CurrentUser);
        }
        let name = std::env::var(PG_OS_USER_ENV)
            .ok()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| DEFAULT_PG_OS_USER.to_owned());
        Self::os_user(&name)
    }

    /// Looks up `name` in the user database. Fails if it doesn't exist or is root.
    pub fn os_user(name: &str) -> Result<Self, ClusterError> {
        let user = User::from_name(name)
            .map_err(|e| {
                ClusterError::io(
                    format!("looking up OS user `{name}`"),
                    std::io::Error::from(e),
                )
            })?
            .ok_or_else(|| ClusterError::OsUserNotFound {
                name: name.to_owned(),
            })?;
        if user.uid.is_root() {
            return Err(ClusterError::OsUserIsRoot {
                name: name.to_owned(),
            });
        }
        Ok(Self::OsUser {
            name: name.to_owned(),
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        })
    }

    /// Name of the user the server runs as (for messages).
    pub fn user_name(&self) -> String {
        match self {
            Self::OsUser { name, .. } => name.clone(),
            Self::CurrentUser => User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.name)
                .unwrap_or_else(|| format!("uid {}", nix::unistd::getuid())),
        }
    }

    /// `(uid, gid)` to give files that the server must own; `None` for the current user.
    pub fn owner(&self) -> Option<(u32, u32)> {
        match self {
            Self::CurrentUser => None,
            Self::OsUser { uid, gid, .. } => Some((*uid, *gid)),
        }
    }

    /// Makes `cmd` run as this user: uid/gid on the child (std also clears supplementary
    /// groups when a uid is set, so root's groups don't leak), and HOME/USER/LOGNAME of
    /// that user so tools don't try to read root's home.
    pub fn configure<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        if let Self::OsUser { name, uid, gid } = self {
            use std::os::unix::process::CommandExt as _;
            cmd.uid(*uid)
                .gid(*gid)
                .env("USER", name)
                .env("LOGNAME", name);
            match User::from_uid(Uid::from_raw(*uid)) {
                Ok(Some(user)) => cmd.env("HOME", user.dir),
                _ => cmd.env("HOME", "/"),
            };
        }
        cmd
    }
}

/// Whether the server user can traverse and write `dir` — e.g. to detect a project under
/// /root (mode 0700) that the `postgres` user cannot reach, before anything is created.
///
/// If `dir` doesn't exist yet, this checks its nearest existing ancestor instead: as
/// [`RunAs::CurrentUser`] that ancestor must be writable (we create the directory as
/// ourselves); as [`RunAs::OsUser`] it only has to be traversable, since we create missing
/// directories as root and hand them to the server user.
///
/// Implemented by running `test` as that user, which checks the whole path as the kernel
/// would (every ancestor's x bit, ACLs, ...).
pub fn server_user_can_use(run_as: &RunAs, dir: &Path) -> bool {
    if dir.is_dir() {
        return probe(run_as, dir, "-w");
    }
    let Some(ancestor) = nearest_existing_ancestor(dir) else {
        return false;
    };
    match run_as {
        RunAs::CurrentUser => probe(run_as, &ancestor, "-w"),
        RunAs::OsUser { .. } => probe(run_as, &ancestor, "-x"),
    }
}

/// Whether the server user can traverse `dir` (stat it and look up names inside it).
pub(crate) fn can_traverse(run_as: &RunAs, dir: &Path) -> bool {
    probe(run_as, dir, "-x")
}

/// Runs `test -d dir && test <flag> dir && test -x dir` as `run_as`.
fn probe(run_as: &RunAs, dir: &Path, flag: &str) -> bool {
    let mut cmd = crate::process::command("/bin/sh");
    cmd.arg("-c")
        .arg(format!(
            r#"test -d "$1" && test {flag} "$1" && test -x "$1""#
        ))
        .arg("sh")
        .arg(dir)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    run_as.configure(&mut cmd);
    tracing::debug!(?cmd, "probing directory access");
    cmd.status().is_ok_and(|s| s.success())
}

/// `dir` itself or the closest parent that exists (for an absolute path, at worst `/`).
pub(crate) fn nearest_existing_ancestor(dir: &Path) -> Option<std::path::PathBuf> {
    dir.ancestors()
        .find(|a| !a.as_os_str().is_empty() && a.exists())
        .map(Path::to_path_buf)
}
