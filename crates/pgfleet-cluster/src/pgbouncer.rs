//! A PgBouncer in front of a server: its configuration and auth file written into a folder
//! of its own, the process run in the foreground as the server user (PgBouncer refuses root),
//! and stopped when dropped. Used by the test harness; pgfleet itself never starts one.

use std::fmt;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::{ClusterError, RunAs};

/// Debian's binary, used when `PATH` has none.
pub const PGBOUNCER_BINARY: &str = "/usr/sbin/pgbouncer";

/// One login PgBouncer accepts: a plain password or a SCRAM verifier, written only into the
/// auth file (mode 0600), never into arguments or output.
#[derive(Clone)]
pub struct BouncerUser {
    pub name: String,
    pub password: String,
}

impl fmt::Debug for BouncerUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BouncerUser")
            .field("name", &self.name)
            .field("password", &"***")
            .finish()
    }
}

/// What to run: where, in front of which server, in which pool mode, for whom.
#[derive(Debug, Clone)]
pub struct PgBouncerSpec {
    /// Holds `pgbouncer.ini`, the auth file and the log; must exist, owned by the server user.
    pub dir: PathBuf,
    pub listen_host: String,
    pub listen_port: u16,
    pub server_host: String,
    pub server_port: u16,
    /// PgBouncer's `pool_mode`: `transaction` or `session`.
    pub pool_mode: String,
    /// Server sessions per (database, user): fewer than a client's pool makes transactions
    /// move between server sessions, which is what a test of pooler-safety needs.
    pub server_pool_size: u32,
    pub users: Vec<BouncerUser>,
    /// Users (also in `users`) that may use the `pgbouncer` admin console (`SHOW CLIENTS`).
    pub admin_users: Vec<String>,
}

/// A running PgBouncer; dropping it stops it.
#[derive(Debug)]
pub struct PgBouncer {
    spec: PgBouncerSpec,
    child: Option<Child>,
}

impl PgBouncer {
    /// Writes the configuration and starts PgBouncer, waiting up to `timeout` for it to
    /// accept connections ([`ClusterError::PgBouncerStart`] says whether its port was taken).
    pub fn start(
        spec: PgBouncerSpec,
        run_as: &RunAs,
        timeout: Duration,
    ) -> Result<Self, ClusterError> {
        if !["transaction", "session"].contains(&spec.pool_mode.as_str()) {
            return Err(ClusterError::Unsupported(format!(
                "PgBouncer pool mode `{}` (transaction or session)",
                spec.pool_mode
            )));
        }
        let binary = binary();
        let ini = spec.dir.join("pgbouncer.ini");
        let auth_file = spec.dir.join("userlist.txt");
        let log = spec.dir.join("pgbouncer.log");
        write_private(run_as, &auth_file, &auth_file_text(&spec.users))?;
        write_private(run_as, &ini, &ini_text(&spec, &auth_file, &log))?;
        let _ = std::fs::remove_file(&log);
        let mut cmd = crate::process::command(&binary);
        cmd.arg(&ini)
            .current_dir(&spec.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        run_as.configure(&mut cmd);
        let child = cmd
            .spawn()
            .map_err(|e| ClusterError::io(format!("starting {}", binary.display()), e))?;
        let mut bouncer = PgBouncer {
            spec,
            child: Some(child),
        };
        bouncer.wait_ready(timeout, &log)?;
        Ok(bouncer)
    }

    pub fn spec(&self) -> &PgBouncerSpec {
        &self.spec
    }

    /// The process id (for a reaper that outlives a killed test process).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops PgBouncer (SIGTERM: immediate shutdown) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
            let _ = child.wait();
        }
    }

    fn wait_ready(&mut self, timeout: Duration, log: &Path) -> Result<(), ClusterError> {
        let addr: SocketAddr = format!("{}:{}", self.spec.listen_host, self.spec.listen_port)
            .parse()
            .map_err(|_| {
                ClusterError::Unsupported(format!(
                    "PgBouncer listen address {}:{} (an IP address is needed)",
                    self.spec.listen_host, self.spec.listen_port
                ))
            })?;
        let deadline = Instant::now() + timeout;
        loop {
            let exited = match self.child.as_mut().map(Child::try_wait) {
                Some(Ok(Some(status))) => Some(status.to_string()),
                Some(Ok(None)) => None,
                Some(Err(e)) => Some(e.to_string()),
                None => Some("not running".to_owned()),
            };
            if let Some(status) = exited {
                self.child = None;
                let text = std::fs::read_to_string(log).unwrap_or_default();
                return Err(ClusterError::PgBouncerStart {
                    reason: format!("it exited ({status})"),
                    port_in_use: text.contains("Address already in use"),
                    log_tail: tail(&text),
                });
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.stop();
                let text = std::fs::read_to_string(log).unwrap_or_default();
                return Err(ClusterError::PgBouncerStart {
                    reason: format!("it did not listen on {addr} within {timeout:?}"),
                    port_in_use: false,
                    log_tail: tail(&text),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The pgbouncer binary: on `PATH`, else Debian's.
pub fn binary() -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("pgbouncer"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from(PGBOUNCER_BINARY))
}

/// PgBouncer's auth file: `"name" "password"` per line, `"` doubled inside a value.
fn auth_file_text(users: &[BouncerUser]) -> String {
    users
        .iter()
        .map(|u| {
            format!(
                "\"{}\" \"{}\"\n",
                u.name.replace('"', "\"\""),
                u.password.replace('"', "\"\"")
            )
        })
        .collect()
}

fn ini_text(spec: &PgBouncerSpec, auth_file: &Path, log: &Path) -> String {
    format!(
        "[databases]\n\
         * = host={server_host} port={server_port}\n\
         [pgbouncer]\n\
         listen_addr = {listen_host}\n\
         listen_port = {listen_port}\n\
         unix_socket_dir =\n\
         auth_type = scram-sha-256\n\
         auth_file = {auth_file}\n\
         admin_users = {admins}\n\
         pool_mode = {mode}\n\
         logfile = {log}\n\
         max_client_conn = 500\n\
         default_pool_size = {pool_size}\n",
        pool_size = spec.server_pool_size,
        server_host = spec.server_host,
        server_port = spec.server_port,
        listen_host = spec.listen_host,
        listen_port = spec.listen_port,
        auth_file = auth_file.display(),
        admins = spec.admin_users.join(","),
        mode = spec.pool_mode,
        log = log.display(),
    )
}

/// Writes `text` readable only by the user that runs PgBouncer.
fn write_private(run_as: &RunAs, path: &Path, text: &str) -> Result<(), ClusterError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| ClusterError::io(format!("creating {}", path.display()), e))?;
    file.write_all(text.as_bytes())
        .map_err(|e| ClusterError::io(format!("writing {}", path.display()), e))?;
    if let RunAs::OsUser { uid, gid, name } = run_as {
        std::os::unix::fs::chown(path, Some(*uid), Some(*gid))
            .map_err(|e| ClusterError::io(format!("chown {} to {name}", path.display()), e))?;
    }
    Ok(())
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_go_only_into_the_auth_file() {
        let users = vec![BouncerUser {
            name: "app".to_owned(),
            password: "se\"cret".to_owned(),
        }];
        assert_eq!(auth_file_text(&users), "\"app\" \"se\"\"cret\"\n");
        let spec = PgBouncerSpec {
            dir: PathBuf::from("/tmp/b"),
            listen_host: "127.0.0.1".to_owned(),
            listen_port: 6500,
            server_host: "127.0.0.1".to_owned(),
            server_port: 5500,
            pool_mode: "transaction".to_owned(),
            server_pool_size: 3,
            users,
            admin_users: vec!["admin".to_owned()],
        };
        let ini = ini_text(
            &spec,
            Path::new("/tmp/b/userlist.txt"),
            Path::new("/tmp/b/log"),
        );
        assert!(ini.contains("pool_mode = transaction\n"), "{ini}");
        assert!(ini.contains("* = host=127.0.0.1 port=5500\n"), "{ini}");
        assert!(!ini.contains("cret"), "{ini}");
        assert!(!format!("{spec:?}").contains("cret"));
    }
}
