//! Against the real PostgreSQL installed on this machine (no mocks).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use pgfleet_testkit::{TestCluster, TestDatabase};
use tokio::sync::Barrier;

/// Names handed out to the two isolation tests, to check they differ.
static NAMES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Lets the two isolation tests overlap: both create their table before either checks.
fn barrier() -> &'static Barrier {
    static BARRIER: OnceLock<Barrier> = OnceLock::new();
    BARRIER.get_or_init(|| Barrier::new(2))
}

/// Creates `items` in a fresh database, waits for the other test to do the same, then
/// checks only its own row is visible.
async fn isolated(marker: &str) {
    let db = TestCluster::shared().fresh_database().await;
    NAMES.lock().unwrap().push(db.name.clone());
    let client = db.client().await;
    client
        .batch_execute("create table items (marker text not null)")
        .await
        .expect("create table in a fresh database");
    client
        .execute("insert into items values ($1)", &[&marker])
        .await
        .unwrap();
    // Under nextest each test is its own process (and cluster): nobody to wait for. If only
    // one of the tests runs (filtering, --test-threads=1), don't wait forever either.
    if std::env::var_os("NEXTEST").is_none() {
        let _ = tokio::time::timeout(Duration::from_secs(20), barrier().wait()).await;
    }
    let rows = client.query("select marker from items", &[]).await.unwrap();
    let markers: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(markers, [marker], "database {} is not isolated", db.name);
    let current: String = client
        .query_one("select current_database()", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(current, db.name);
    let names = NAMES.lock().unwrap().clone();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        names.len(),
        "duplicate database names: {names:?}"
    );
}

#[tokio::test]
async fn parallel_test_a_gets_its_own_database() {
    isolated("from test a").await;
}

#[tokio::test]
async fn parallel_test_b_gets_its_own_database() {
    isolated("from test b").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_socket_and_url_connections_work() {
    let cluster = TestCluster::shared();
    assert_eq!(cluster.host(), "127.0.0.1");
    assert_eq!(cluster.superuser(), "postgres");
    let db = cluster.fresh_database().await;
    assert_eq!(
        db.url(),
        format!(
            "postgresql://postgres@127.0.0.1:{}/{}",
            cluster.port(),
            db.name
        )
    );

    let tcp = db.client().await;
    let addr: Option<String> = tcp
        .query_one("select host(inet_server_addr())", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        addr.as_deref(),
        Some("127.0.0.1"),
        "expected a TCP connection"
    );

    let socket = db.socket_client().await;
    let addr: Option<String> = socket
        .query_one("select host(inet_server_addr())", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(addr, None, "expected a unix-socket connection");
    assert!(
        cluster
            .socket_dir()
            .join(format!(".s.PGSQL.{}", cluster.port()))
            .exists()
    );

    let (by_url, connection) = tokio_postgres::connect(&db.url(), tokio_postgres::NoTls)
        .await
        .expect("connect by url");
    tokio::spawn(connection);
    let one: i32 = by_url.query_one("select 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);

    // The speed settings are applied.
    for (name, value) in [
        ("fsync", "off"),
        ("synchronous_commit", "off"),
        ("full_page_writes", "off"),
        ("max_connections", "200"),
    ] {
        let row = tcp.query_one(&format!("show {name}"), &[]).await.unwrap();
        assert_eq!(row.get::<_, String>(0), value, "{name}");
    }
}

#[tokio::test]
async fn shared_cluster_is_one_per_process() {
    let a: *const TestCluster = TestCluster::shared();
    let b: *const TestCluster = TestCluster::shared();
    assert_eq!(a, b);
    let (x, y): (TestDatabase, TestDatabase) = (
        pgfleet_testkit::fresh_database().await,
        pgfleet_testkit::fresh_database().await,
    );
    assert_ne!(x.name, y.name);
    assert_eq!(x.port(), y.port());
    assert!(
        x.name.ends_with(&format!("_{}", std::process::id())),
        "{}",
        x.name
    );
}

/// Alive and not a zombie (this machine's init may reap orphans lazily).
fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let after_comm = &stat[stat.rfind(')').expect("stat format") + 1..];
            !after_comm.trim_start().starts_with('Z')
        }
        Err(_) => false,
    }
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn private_cluster_is_removed_on_drop() {
    let cluster = TestCluster::start_new().expect("start a private cluster");
    let root = cluster.root_dir().to_path_buf();
    let pid = match cluster.cluster().status().unwrap() {
        pgfleet_testkit::pgfleet_cluster::ClusterStatus::Running { pid } => pid,
        other => panic!("expected Running, got {other:?}"),
    };
    assert!(root.join("data/PG_VERSION").exists());
    assert_ne!(cluster.port(), TestCluster::shared().port());
    drop(cluster);
    // Drop waits for the reaper, so this is immediate.
    assert!(!root.exists(), "{} left behind", root.display());
    assert!(!pid_alive(pid), "postmaster {pid} survived");
}

const CHILD_ENV: &str = "PGFLEET_TESTKIT_REAPER_CHILD";

/// Not a test on its own: run by `reaper_cleans_up_*` in a child process. Starts the shared
/// cluster, reports where it is, then exits normally or hangs until killed.
#[test]
#[ignore = "helper run in a child process by reaper_cleans_up_* tests"]
fn reaper_child() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    let cluster = TestCluster::shared();
    let pgfleet_testkit::pgfleet_cluster::ClusterStatus::Running { pid } =
        cluster.cluster().status().unwrap()
    else {
        panic!("not running");
    };
    // Leading newline: libtest has already printed "test reaper_child ... " on this line.
    println!("\nCLUSTER {pid} {}", cluster.root_dir().display());
    if mode == "hang" {
        loop {
            std::thread::sleep(Duration::from_secs(60));
        }
    }
}

/// `pipe:[inode]` of one end of a pipe we hold.
fn pipe_id(end: &impl std::os::fd::AsRawFd) -> String {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", end.as_raw_fd())).unwrap();
    link.to_string_lossy().into_owned()
}

/// Other processes that have an end of `pipe` open (those whose fds we may read).
fn pipe_holders(pipe: &str) -> Vec<u32> {
    let me = std::process::id();
    let mut holders = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let holds = fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == pipe));
        if holds && pid != me {
            holders.push(pid);
        }
    }
    holders
}

/// Kills the child if the test fails before it is done with it, so no test process (and
/// cluster) outlives a failed run.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `reaper_child` in a child test process; `kill` = SIGKILL it once the cluster is up.
/// Checks that no process but the child holds its stdout pipe, then returns the postmaster
/// pid and cluster directory once the child's stdout reached EOF.
fn run_child(mode: &str, kill: bool) -> (u32, PathBuf) {
    let mut child = KillOnDrop(
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "reaper_child", "--ignored", "--nocapture"])
            .args(["--test-threads", "1"])
            .env(CHILD_ENV, mode)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let stdout_pipe = pipe_id(&stdout);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if let Some((pid, dir)) = line
                .trim()
                .split_once("CLUSTER ")
                .map(|(_, rest)| rest)
                .and_then(|r| r.split_once(' '))
            {
                let _ = tx.send(Some((pid.parse::<u32>().unwrap(), PathBuf::from(dir))));
            }
            line.clear();
        }
        let _ = reader.read_to_string(&mut line);
        let _ = tx.send(None); // EOF
    });
    let (pid, root) = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("child reported its cluster")
        .expect("child printed the CLUSTER line before exiting");
    assert!(root.join("data/PG_VERSION").exists());
    // Only the child itself may hold its stdout: not the reaper, not the server (either
    // would keep the harness's output pipe open after the test process is gone).
    // (In "exit" mode the child may already be gone; in "hang" mode it is still there.)
    let holders = pipe_holders(&stdout_pipe);
    assert!(
        holders.iter().all(|&p| p == child.0.id()),
        "processes other than the test process {} hold its stdout pipe: {holders:?}",
        child.0.id()
    );
    if kill {
        assert!(pid_alive(pid), "child's postmaster {pid} not running");
        child.0.kill().unwrap(); // SIGKILL: no destructors, no atexit
    }
    let status = child.0.wait().unwrap();
    assert!(kill || status.success(), "child failed: {status}");
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(30)),
        Ok(None),
        "child's stdout was kept open after it exited"
    );
    (pid, root)
}

fn assert_cleaned_up(pid: u32, root: &Path) {
    wait_until(
        "the child's postmaster is gone",
        Duration::from_secs(30),
        || !pid_alive(pid),
    );
    wait_until(
        "the child's cluster directory is gone",
        Duration::from_secs(30),
        || !root.exists(),
    );
}

#[test]
fn reaper_cleans_up_after_normal_exit() {
    let (pid, root) = run_child("exit", false);
    assert_cleaned_up(pid, &root);
}

#[test]
fn reaper_cleans_up_after_sigkill() {
    let (pid, root) = run_child("hang", true);
    assert_cleaned_up(pid, &root);
}
