//! Against the real PostgreSQL installed on this machine (no mocks).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsStr;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pgfleet_cluster::{
    ClusterError, ClusterSpec, ClusterStatus, HostAuth, LocalCluster, PgBinaries, RunAs,
    server_user_can_use,
};

const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Stops the cluster on drop so a failing test doesn't leave a server behind, then the
/// tempdir (declared after) is removed.
struct Fixture {
    cluster: LocalCluster,
    _dir: tempfile::TempDir,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.cluster.stop();
    }
}

/// A tempdir the server user can traverse: when we are root, 0755 so that directories we
/// create below it as root are reachable by `postgres` (the layout `pgfleet dev up` sees
/// when root runs it in a project directory).
fn tempdir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("pgfleet-cluster-test-")
        .tempdir()
        .expect("create tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod tempdir");
    dir
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind an ephemeral port")
        .local_addr()
        .expect("local addr")
        .port()
}

fn spec(root: &Path, port: u16) -> ClusterSpec {
    ClusterSpec {
        // Deeper than needed on purpose: init must create missing parents.
        data_dir: root.join("project/.pgfleet/dev/data"),
        socket_dir: root.join("sock"),
        port,
        listen_addresses: "127.0.0.1".to_owned(),
        superuser: "postgres".to_owned(),
        host_auth: HostAuth::ScramSha256,
        settings: vec![
            ("fsync".to_owned(), "off".to_owned()),
            ("cluster_name".to_owned(), "it's pgfleet".to_owned()),
        ],
    }
}

fn fixture(port: u16) -> Fixture {
    let dir = tempdir();
    let cluster = LocalCluster::new(
        spec(dir.path(), port),
        PgBinaries::discover().expect("PostgreSQL binaries"),
        RunAs::detect().expect("server OS user"),
    );
    Fixture { cluster, _dir: dir }
}

/// Runs psql over the unix socket as the server user; returns trimmed stdout.
fn psql(cluster: &LocalCluster, sql: &str) -> String {
    let spec = cluster.spec();
    let output = cluster
        .command("psql")
        .arg("-h")
        .arg(&spec.socket_dir)
        .args([
            "-p",
            &spec.port.to_string(),
            "-U",
            "postgres",
            "-d",
            "postgres",
        ])
        .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("spawn psql");
    assert!(
        output.status.success(),
        "psql {sql:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf8")
        .trim()
        .to_owned()
}

/// Alive and not a zombie (this machine's init reaps orphans lazily, so a stopped
/// postmaster can linger as a zombie for a moment).
fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let after_comm = &stat[stat.rfind(')').expect("stat format") + 1..];
            !after_comm.trim_start().starts_with('Z')
        }
        Err(_) => false,
    }
}

#[test]
fn lifecycle_init_start_stop_restart() {
    let fx = fixture(free_port());
    let c = &fx.cluster;

    assert!(!c.is_initialized());
    assert_eq!(c.status().unwrap(), ClusterStatus::NotInitialized);
    assert!(matches!(
        c.start(START_TIMEOUT),
        Err(ClusterError::NotInitialized { .. })
    ));

    c.init().expect("init");
    assert!(c.is_initialized());
    assert_eq!(c.status().unwrap(), ClusterStatus::Stopped);

    // Data and socket dirs belong to the server user and are private.
    for dir in [&c.spec().data_dir, &c.spec().socket_dir] {
        let meta = std::fs::metadata(dir).unwrap();
        assert_eq!(
            meta.permissions().mode() & 0o777,
            0o700,
            "{}",
            dir.display()
        );
        if let RunAs::OsUser { uid, .. } = c.run_as() {
            use std::os::unix::fs::MetadataExt as _;
            assert_eq!(meta.uid(), *uid, "{} owner", dir.display());
        }
    }

    c.start(START_TIMEOUT).expect("start");
    assert_eq!(psql(c, "select 1"), "1");
    // Extra settings (with a quote in the value) reached the server.
    assert_eq!(psql(c, "show fsync"), "off");
    assert_eq!(psql(c, "show cluster_name"), "it's pgfleet");
    assert_eq!(psql(c, "show unix_socket_permissions"), "0700");
    let ClusterStatus::Running { pid } = c.status().unwrap() else {
        panic!("expected Running");
    };
    assert!(pid_alive(pid), "postmaster {pid} not alive");
    assert!(c.socket_path().exists());

    // Idempotent start.
    c.start(START_TIMEOUT).expect("second start");
    assert_eq!(c.status().unwrap(), ClusterStatus::Running { pid });

    psql(c, "create table kept (v int); insert into kept values (42)");

    c.stop().expect("stop");
    assert_eq!(c.status().unwrap(), ClusterStatus::Stopped);
    assert!(!pid_alive(pid), "postmaster {pid} survived stop");
    c.stop().expect("stop when stopped");

    // init on an initialised cluster is a no-op: data survives it and a restart.
    c.init().expect("re-init");
    c.start(START_TIMEOUT).expect("restart");
    assert_eq!(psql(c, "select v from kept"), "42");
    // Settings written by init survive restarts (they live in the data directory).
    assert_eq!(psql(c, "show port"), c.spec().port.to_string());

    // The server log is where log_path() says.
    let log = std::fs::read_to_string(c.log_path()).unwrap();
    assert!(
        log.contains("database system is ready to accept connections"),
        "{log}"
    );
    c.stop().expect("final stop");
}

#[test]
fn tcp_with_scram_requires_password() {
    let fx = fixture(free_port());
    let c = &fx.cluster;
    c.init().unwrap();
    c.start(START_TIMEOUT).unwrap();
    // Socket: trust. TCP: scram-sha-256, so a password-less login over TCP is refused...
    let tcp = |password: Option<&str>| {
        let mut cmd = c.command("psql");
        cmd.args(["-h", "127.0.0.1", "-p", &c.spec().port.to_string()])
            .args([
                "-U", "postgres", "-d", "postgres", "-X", "-w", "-Atc", "select 7",
            ]);
        if let Some(p) = password {
            cmd.env("PGPASSWORD", p);
        }
        cmd.output().unwrap()
    };
    let out = tcp(None);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("password"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ...and accepted once the superuser has a password.
    psql(c, "alter role postgres password 's3cret'");
    let out = tcp(Some("s3cret"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "7");
}

#[test]
fn start_reports_port_in_use() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let fx = fixture(port);
    let c = &fx.cluster;
    c.init().unwrap();
    let err = c.start(START_TIMEOUT).expect_err("port is taken");
    let msg = err.to_string();
    assert!(
        matches!(err, ClusterError::PortInUse { port: p, .. } if p == port),
        "{msg}"
    );
    assert!(msg.contains(&format!("port {port}")), "{msg}");
    assert!(msg.contains("already in use"), "{msg}");
    // The server's own words from the log are included.
    assert!(
        msg.contains("could not bind IPv4 address \"127.0.0.1\": Address already in use"),
        "{msg}"
    );
    assert_eq!(c.status().unwrap(), ClusterStatus::Stopped);

    // Once the port is free, the same cluster starts.
    drop(listener);
    c.start(START_TIMEOUT).expect("start after port freed");
    assert_eq!(psql(c, "select 1"), "1");

    // A socket-only cluster sharing the socket directory and port clashes on the socket.
    let dir = tempdir();
    let mut spec = spec(dir.path(), port);
    spec.listen_addresses = String::new();
    spec.socket_dir = c.spec().socket_dir.clone();
    let other = LocalCluster::new(spec, c.bins().clone(), c.run_as().clone());
    let _stop_other = Fixture {
        cluster: other.clone(),
        _dir: dir,
    };
    other.init().unwrap();
    let err = other.start(START_TIMEOUT).expect_err("socket is taken");
    let msg = err.to_string();
    assert!(matches!(err, ClusterError::PortInUse { .. }), "{msg}");
    assert!(
        msg.contains(&format!("unix socket {}", c.socket_path().display())),
        "{msg}"
    );
}

#[test]
fn init_recovers_from_interrupted_init_and_refuses_foreign_dirs() {
    let fx = fixture(free_port());
    let c = &fx.cluster;
    let data_dir = &c.spec().data_dir;
    let parent = data_dir.parent().unwrap();

    // Leftovers of an init killed midway: a half-filled staging dir and an empty data dir.
    let staging = parent.join(".data.pgfleet-initdb");
    std::fs::create_dir_all(staging.join("base")).unwrap();
    std::fs::write(staging.join("PG_VERSION"), "15\n").unwrap();
    std::fs::create_dir_all(data_dir).unwrap();
    c.init().expect("init after interrupted init");
    assert!(c.is_initialized());
    assert!(!staging.exists(), "staging dir left behind");
    c.start(START_TIMEOUT).unwrap();
    assert_eq!(psql(c, "select 1"), "1");
    c.stop().unwrap();

    // A non-empty directory that is not a cluster is never deleted.
    let foreign = tempdir();
    std::fs::write(foreign.path().join("important.txt"), "keep me").unwrap();
    let mut spec = c.spec().clone();
    spec.data_dir = foreign.path().to_path_buf();
    let other = LocalCluster::new(spec, c.bins().clone(), c.run_as().clone());
    let err = other.init().expect_err("must refuse");
    assert!(matches!(err, ClusterError::DataDirNotEmpty { .. }), "{err}");
    assert!(foreign.path().join("important.txt").exists());
}

#[test]
fn unreachable_directory_is_reported() {
    let run_as = RunAs::detect().unwrap();
    if run_as == RunAs::CurrentUser {
        // Only meaningful when the server runs as another user (we are root).
        return;
    }
    // Like a project under /root: a 0700 root-owned directory.
    let private = tempfile::tempdir().unwrap();
    std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(!server_user_can_use(&run_as, private.path()));
    assert!(!server_user_can_use(
        &run_as,
        &private.path().join("not/yet")
    ));
    let open = tempdir();
    assert!(server_user_can_use(&run_as, &open.path().join("not/yet")));
    assert!(
        !server_user_can_use(&run_as, open.path()),
        "0755 root-owned is not writable"
    );

    let cluster = LocalCluster::new(
        spec(private.path(), free_port()),
        PgBinaries::discover().unwrap(),
        run_as,
    );
    let err = cluster.init().expect_err("postgres cannot reach it");
    let msg = err.to_string();
    assert!(matches!(err, ClusterError::NotAccessible { .. }), "{msg}");
    assert!(msg.contains("postgres"), "{msg}");
    // Nothing was created.
    assert!(!private.path().join("project").exists());
}

#[test]
fn current_user_can_use_own_tempdir() {
    let dir = tempfile::tempdir().unwrap();
    assert!(server_user_can_use(&RunAs::CurrentUser, dir.path()));
}

#[test]
fn discover_finds_installed_binaries_and_rejects_bogus_env_dir() {
    let bins = PgBinaries::discover_from(None).expect("installed PostgreSQL");
    assert!(bins.tool("initdb").is_file());
    assert!(bins.major_version >= 10, "{bins:?}");
    assert_eq!(bins.tool("psql"), bins.bin_dir.join("psql"));

    let bogus = PathBuf::from("/nonexistent/pgfleet/bin");
    let err = PgBinaries::discover_from(Some(OsStr::new(bogus.as_os_str()))).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, ClusterError::BinariesNotFound { .. }),
        "{msg}"
    );
    assert!(msg.contains("/nonexistent/pgfleet/bin"), "{msg}");
    assert!(msg.contains("PGFLEET_PG_BIN"), "{msg}");
    assert!(msg.contains("apt-get install -y postgresql"), "{msg}");
}

#[test]
fn rejects_overlong_socket_path() {
    let dir = tempdir();
    let mut spec = spec(dir.path(), 5432);
    spec.socket_dir = dir.path().join("s".repeat(120));
    let cluster = LocalCluster::new(
        spec,
        PgBinaries::discover().unwrap(),
        RunAs::detect().unwrap(),
    );
    let err = cluster.init().expect_err("too long");
    assert!(
        matches!(err, ClusterError::SocketPathTooLong { .. }),
        "{err}"
    );
}
