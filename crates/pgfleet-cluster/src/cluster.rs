//! A local PostgreSQL cluster: data directory + server started with `pg_ctl`.

use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::conf::{self, MANAGED_CONF};
use crate::run_as::{can_traverse, nearest_existing_ancestor, server_user_can_use};
use crate::{ClusterError, PgBinaries, RunAs, process, server_log};

/// Longest unix socket path the kernel accepts (`sizeof(sun_path) - 1` on Linux).
pub const MAX_SOCKET_PATH_LEN: usize = 107;

/// Authentication required for TCP connections (pg_hba `host` lines for 127.0.0.1/32, ::1/128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostAuth {
    /// No password (test clusters, single-user dev machines).
    Trust,
    /// Password required, SCRAM-SHA-256. Set the superuser's password over the socket.
    ScramSha256,
}

impl HostAuth {
    /// The pg_hba method name passed to `initdb --auth-host`.
    pub fn method(self) -> &'static str {
        match self {
            Self::Trust => "trust",
            Self::ScramSha256 => "scram-sha-256",
        }
    }
}

/// Everything needed to create and run a local cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    /// PGDATA. Created (with parents) by [`LocalCluster::init`].
    pub data_dir: PathBuf,
    /// `unix_socket_directories`; created 0700 and owned by the server user. Keep it short:
    /// see [`socket_path_fits`].
    pub socket_dir: PathBuf,
    /// TCP port, also part of the socket file name.
    pub port: u16,
    /// `listen_addresses`: e.g. "127.0.0.1", or "" for unix socket only.
    pub listen_addresses: String,
    /// Bootstrap superuser (`initdb -U`), e.g. "postgres".
    pub superuser: String,
    /// Authentication for TCP. Socket connections are always `trust`: the socket directory
    /// is private to the server user (0700, unix_socket_permissions=0700).
    pub host_auth: HostAuth,
    /// Extra postgresql.conf settings, e.g. `("fsync", "off")`.
    pub settings: Vec<(String, String)>,
}

/// Whether the server's unix socket `<socket_dir>/.s.PGSQL.<port>` fits in a `sockaddr_un`
/// (at most [`MAX_SOCKET_PATH_LEN`] bytes). Deep directories (long project paths, macOS-style
/// temp dirs) overflow it and the server fails to start; callers should then pick a shorter
/// socket directory (e.g. under /tmp). [`LocalCluster::init`]/[`start`](LocalCluster::start)
/// refuse such paths with [`ClusterError::SocketPathTooLong`].
pub fn socket_path_fits(socket_dir: &Path, port: u16) -> bool {
    socket_path_len(socket_dir, port) <= MAX_SOCKET_PATH_LEN
}

fn socket_path_len(socket_dir: &Path, port: u16) -> usize {
    socket_dir.as_os_str().len() + format!("/.s.PGSQL.{port}").len()
}

/// Whether the server is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterStatus {
    /// The data directory has no cluster yet.
    NotInitialized,
    /// Initialised, no live postmaster.
    Stopped,
    /// A live postmaster with this pid owns the data directory.
    Running {
        /// The postmaster's process id.
        pid: u32,
    },
}

/// A PostgreSQL cluster that pgfleet creates and runs itself via initdb/pg_ctl.
#[derive(Debug, Clone)]
pub struct LocalCluster {
    spec: ClusterSpec,
    bins: PgBinaries,
    run_as: RunAs,
}

impl LocalCluster {
    /// Relative `data_dir`/`socket_dir` are made absolute against the current directory,
    /// because child processes run with cwd `/` (the server user may not be able to read
    /// our cwd, e.g. under /root).
    pub fn new(mut spec: ClusterSpec, bins: PgBinaries, run_as: RunAs) -> Self {
        for dir in [&mut spec.data_dir, &mut spec.socket_dir] {
            if let Ok(abs) = std::path::absolute(&*dir) {
                *dir = abs;
            }
        }
        Self { spec, bins, run_as }
    }

    /// The spec, with absolute directories.
    pub fn spec(&self) -> &ClusterSpec {
        &self.spec
    }

    /// The binaries used to run this cluster.
    pub fn bins(&self) -> &PgBinaries {
        &self.bins
    }

    /// Who runs the server.
    pub fn run_as(&self) -> &RunAs {
        &self.run_as
    }

    /// `data_dir/PG_VERSION` exists. `init` builds the cluster in a staging directory and
    /// renames it into place, so this is never true for a half-initialised cluster.
    pub fn is_initialized(&self) -> bool {
        self.spec.data_dir.join("PG_VERSION").is_file()
    }

    /// Server log: `server.log` next to the data directory (outside PGDATA so it survives
    /// re-initialisation and doesn't end up in base backups).
    pub fn log_path(&self) -> PathBuf {
        match self.spec.data_dir.parent() {
            Some(parent) => parent.join("server.log"),
            None => self.spec.data_dir.join("server.log"),
        }
    }

    /// Path of the server's unix socket file.
    pub fn socket_path(&self) -> PathBuf {
        self.spec
            .socket_dir
            .join(format!(".s.PGSQL.{}", self.spec.port))
    }

    /// A command for PostgreSQL tool `tool` (e.g. "psql", "pg_dump") set up to run as the
    /// server user, with cwd `/` and PGHOST/PGPORT/PGUSER/PGDATA pointing at this cluster
    /// (explicit arguments still win), and of our environment only PATH, the locale and the
    /// time zone: no password variable reaches the tool or the server it starts.
    pub fn command(&self, tool: &str) -> Command {
        let mut cmd = process::command(self.bins.tool(tool));
        self.run_as.configure(&mut cmd);
        cmd.current_dir("/")
            .env("PGHOST", &self.spec.socket_dir)
            .env("PGPORT", self.spec.port.to_string())
            .env("PGUSER", &self.spec.superuser)
            .env("PGDATA", &self.spec.data_dir);
        cmd
    }

    /// Creates the cluster (idempotent). initdb runs in a sibling staging directory that is
    /// renamed into place when complete, so an interrupted init leaves no half-made data
    /// directory and simply re-runs. On an existing cluster this only re-applies the spec
    /// (socket directory, managed settings).
    pub fn init(&self) -> Result<(), ClusterError> {
        self.check_socket_path()?;
        let managed_conf = conf::render(&self.spec)?;
        if self.is_initialized() {
            return self.prepare_runtime(&managed_conf);
        }

        let data_dir = &self.spec.data_dir;
        if let RunAs::OsUser { name, .. } = &self.run_as {
            // Fail before creating anything if e.g. the project lives under /root.
            if let Some(ancestor) = nearest_existing_ancestor(data_dir)
                && !can_traverse(&self.run_as, &ancestor)
            {
                return Err(ClusterError::NotAccessible {
                    user: name.clone(),
                    dir: ancestor,
                });
            }
        }
        let parent = data_dir
            .parent()
            .ok_or_else(|| ClusterError::DataDirNotEmpty {
                data_dir: data_dir.clone(),
            })?;
        self.create_traversable_dirs(parent)?;

        let mut target = self.staging_dir();
        if data_dir.exists() {
            let mut entries = fs::read_dir(data_dir).map_err(|e| {
                ClusterError::io(format!("reading data directory {}", data_dir.display()), e)
            })?;
            if entries.next().is_some() {
                return Err(ClusterError::DataDirNotEmpty {
                    data_dir: data_dir.clone(),
                });
            }
            // Empty: remove it so the staged cluster can be renamed into place. If it can't
            // be removed (a mount point), initialise in place instead.
            if fs::remove_dir(data_dir).is_err() {
                target = data_dir.clone();
            }
        }
        if target != *data_dir && target.exists() {
            tracing::debug!(dir = %target.display(), "removing leftover of an interrupted init");
            fs::remove_dir_all(&target).map_err(|e| {
                ClusterError::io(
                    format!("removing stale staging dir {}", target.display()),
                    e,
                )
            })?;
        }
        self.ensure_private_dir(&target)?;

        let mut initdb = self.internal_command("initdb");
        initdb
            .arg("-D")
            .arg(&target)
            .args(["-E", "UTF8", "--locale=C", "-U", &self.spec.superuser])
            .arg("--auth-local=trust")
            .arg(format!("--auth-host={}", self.spec.host_auth.method()));
        if self.setting_is("fsync", "off") {
            // Durability is explicitly off for this cluster, so don't pay for syncing initdb.
            initdb.arg("--no-sync");
        }
        process::run(&mut initdb)?;

        self.write_managed_conf(&target, &managed_conf)?;
        if target != *data_dir {
            fs::rename(&target, data_dir).map_err(|e| {
                ClusterError::io(
                    format!("renaming {} to {}", target.display(), data_dir.display()),
                    e,
                )
            })?;
        }
        self.prepare_runtime(&managed_conf)
    }

    /// Starts the server and waits until it accepts connections (idempotent). On failure
    /// the error carries the tail of the server log from this attempt, and a port clash is
    /// reported as [`ClusterError::PortInUse`].
    pub fn start(&self, timeout: Duration) -> Result<(), ClusterError> {
        if let ClusterStatus::Running { .. } = self.status()? {
            return Ok(());
        }
        if !self.is_initialized() {
            return Err(ClusterError::NotInitialized {
                data_dir: self.spec.data_dir.clone(),
            });
        }
        self.check_socket_path()?;
        let managed_conf = conf::render(&self.spec)?;
        self.prepare_runtime(&managed_conf)?;

        let log_path = self.log_path();
        let log_offset = fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
        // pg_ctl takes whole seconds: round up, at least 1.
        let secs = (timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0)).max(1);
        let mut pg_ctl = self.internal_command("pg_ctl");
        pg_ctl
            .arg("start")
            .arg("-D")
            .arg(&self.spec.data_dir)
            .arg("-l")
            .arg(&log_path)
            .args(["-w", "-t", &secs.to_string()]);
        let Err(err) = process::run(&mut pg_ctl) else {
            return Ok(());
        };
        let ClusterError::CommandFailed {
            command,
            status,
            mut output,
        } = err
        else {
            return Err(err);
        };
        let log_tail = server_log::read_log_tail(&log_path, log_offset);
        if let Some(address) = server_log::address_in_use(&log_tail) {
            return Err(ClusterError::PortInUse {
                address,
                port: self.spec.port,
                log_tail,
            });
        }
        let _ = write!(
            output,
            "\nserver log {} (last lines of this attempt):\n{log_tail}",
            log_path.display()
        );
        Err(ClusterError::CommandFailed {
            command,
            status,
            output,
        })
    }

    /// Stops the server with `pg_ctl stop -m fast -w` (idempotent: not running => Ok).
    pub fn stop(&self) -> Result<(), ClusterError> {
        if !matches!(self.status()?, ClusterStatus::Running { .. }) {
            return Ok(());
        }
        let mut pg_ctl = self.internal_command("pg_ctl");
        pg_ctl
            .arg("stop")
            .arg("-D")
            .arg(&self.spec.data_dir)
            .args(["-m", "fast", "-w"]);
        match process::run(&mut pg_ctl) {
            Ok(_) => Ok(()),
            // It may have stopped on its own between our check and pg_ctl's.
            Err(_) if !matches!(self.status()?, ClusterStatus::Running { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Reads `postmaster.pid` and checks that the process is a live postgres.
    pub fn status(&self) -> Result<ClusterStatus, ClusterError> {
        if !self.is_initialized() {
            return Ok(ClusterStatus::NotInitialized);
        }
        let pid_file = self.spec.data_dir.join("postmaster.pid");
        let contents = match fs::read_to_string(&pid_file) {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ClusterStatus::Stopped);
            }
            Err(e) => {
                return Err(ClusterError::io(
                    format!("reading {}", pid_file.display()),
                    e,
                ));
            }
        };
        let pid = contents
            .lines()
            .next()
            .and_then(|l| l.trim().parse::<u32>().ok());
        Ok(match pid {
            Some(pid) if process::postgres_alive(pid) => ClusterStatus::Running { pid },
            _ => ClusterStatus::Stopped,
        })
    }

    // ---- helpers ----

    /// A server-user command for internal use: no stdin, C messages (we match log text).
    fn internal_command(&self, tool: &str) -> Command {
        let mut cmd = self.command(tool);
        cmd.env("LC_ALL", "C").stdin(Stdio::null());
        cmd
    }

    fn staging_dir(&self) -> PathBuf {
        let name = self
            .spec
            .data_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "data".to_owned());
        self.spec
            .data_dir
            .with_file_name(format!(".{name}.pgfleet-initdb"))
    }

    fn setting_is(&self, name: &str, value: &str) -> bool {
        self.spec
            .settings
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .is_some_and(|(_, v)| v.eq_ignore_ascii_case(value))
    }

    fn check_socket_path(&self) -> Result<(), ClusterError> {
        if socket_path_fits(&self.spec.socket_dir, self.spec.port) {
            Ok(())
        } else {
            Err(ClusterError::SocketPathTooLong {
                socket_dir: self.spec.socket_dir.clone(),
                port: self.spec.port,
                len: socket_path_len(&self.spec.socket_dir, self.spec.port),
            })
        }
    }

    /// Things a start needs besides the data dir: socket dir, managed config, log file.
    fn prepare_runtime(&self, managed_conf: &str) -> Result<(), ClusterError> {
        let socket_dir = &self.spec.socket_dir;
        if socket_dir.exists() {
            // Existing directory: don't change its mode (it may be shared, like /tmp),
            // just make sure the server can create its socket there.
            if !server_user_can_use(&self.run_as, socket_dir) {
                return Err(ClusterError::NotAccessible {
                    user: self.run_as.user_name(),
                    dir: socket_dir.clone(),
                });
            }
        } else {
            if let Some(parent) = socket_dir.parent() {
                self.create_traversable_dirs(parent)?;
            }
            self.ensure_private_dir(socket_dir)?;
        }
        self.write_managed_conf(&self.spec.data_dir, managed_conf)?;
        self.ensure_log_file()
    }

    /// Creates `dir` and missing parents. When the server runs as another user, the
    /// directories we create get o+x so it can traverse them whatever our umask is.
    fn create_traversable_dirs(&self, dir: &Path) -> Result<(), ClusterError> {
        let missing: Vec<&Path> = dir.ancestors().take_while(|a| !a.exists()).collect();
        for d in missing.into_iter().rev() {
            fs::DirBuilder::new()
                .mode(0o755)
                .create(d)
                .or_else(|e| {
                    if e.kind() == std::io::ErrorKind::AlreadyExists {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })
                .map_err(|e| ClusterError::io(format!("creating {}", d.display()), e))?;
            if self.run_as.owner().is_some() {
                let meta = fs::metadata(d)
                    .map_err(|e| ClusterError::io(format!("inspecting {}", d.display()), e))?;
                let mode = meta.permissions().mode() & 0o7777;
                if mode & 0o001 == 0 {
                    set_mode(d, mode | 0o011)?;
                }
            }
        }
        Ok(())
    }

    /// Creates `dir` (parents too) as a 0700 directory owned by the server user, as initdb
    /// and the socket directory require.
    fn ensure_private_dir(&self, dir: &Path) -> Result<(), ClusterError> {
        if let Some(parent) = dir.parent() {
            self.create_traversable_dirs(parent)?;
        }
        match fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(ClusterError::io(format!("creating {}", dir.display()), e)),
        }
        self.chown_to_server(dir)?;
        set_mode(dir, 0o700)?;
        if !can_traverse(&self.run_as, dir) {
            return Err(ClusterError::NotAccessible {
                user: self.run_as.user_name(),
                dir: dir.to_path_buf(),
            });
        }
        Ok(())
    }

    fn chown_to_server(&self, path: &Path) -> Result<(), ClusterError> {
        if let Some((uid, gid)) = self.run_as.owner() {
            std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|e| {
                ClusterError::io(
                    format!(
                        "changing owner of {} to {}",
                        path.display(),
                        self.run_as.user_name()
                    ),
                    e,
                )
            })?;
        }
        Ok(())
    }

    /// The server appends to the log as the server user; it may not be allowed to create
    /// files next to the data dir (a root-owned parent), so we create it for it.
    fn ensure_log_file(&self) -> Result<(), ClusterError> {
        let path = self.log_path();
        OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| ClusterError::io(format!("creating log file {}", path.display()), e))?;
        self.chown_to_server(&path)
    }

    /// Writes [`MANAGED_CONF`] into `data_dir` (only if changed) and makes sure
    /// postgresql.conf includes it, so the settings survive restarts and plain `pg_ctl`.
    fn write_managed_conf(&self, data_dir: &Path, contents: &str) -> Result<(), ClusterError> {
        let path = data_dir.join(MANAGED_CONF);
        if fs::read_to_string(&path).ok().as_deref() != Some(contents) {
            write_file(&path, contents)?;
        }
        self.chown_to_server(&path)?;

        let main_conf = data_dir.join("postgresql.conf");
        let existing = fs::read_to_string(&main_conf)
            .map_err(|e| ClusterError::io(format!("reading {}", main_conf.display()), e))?;
        let include = format!("include '{MANAGED_CONF}'");
        if !existing.lines().any(|l| l.trim() == include) {
            let mut file = OpenOptions::new()
                .append(true)
                .open(&main_conf)
                .map_err(|e| ClusterError::io(format!("opening {}", main_conf.display()), e))?;
            writeln!(
                file,
                "\n# Added by pgfleet: settings it manages (port, sockets, ...).\n{include}"
            )
            .map_err(|e| ClusterError::io(format!("writing {}", main_conf.display()), e))?;
        }
        Ok(())
    }
}

fn write_file(path: &Path, contents: &str) -> Result<(), ClusterError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| ClusterError::io(format!("creating {}", path.display()), e))?;
    file.write_all(contents.as_bytes())
        .map_err(|e| ClusterError::io(format!("writing {}", path.display()), e))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), ClusterError> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| ClusterError::io(format!("chmod {mode:o} {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn socket_path_limit() {
        assert!(socket_path_fits(Path::new("/tmp/pgfleet"), 5432));
        let long = format!("/{}", "a".repeat(95));
        // 96 + "/.s.PGSQL.5432" (14) = 110 > 107
        assert!(!socket_path_fits(Path::new(&long), 5432));
        let exact = format!("/{}", "a".repeat(MAX_SOCKET_PATH_LEN - 15));
        assert_eq!(
            socket_path_len(Path::new(&exact), 5432),
            MAX_SOCKET_PATH_LEN
        );
        assert!(socket_path_fits(Path::new(&exact), 5432));
        assert!(!socket_path_fits(Path::new(&exact), 54321));
    }
}
