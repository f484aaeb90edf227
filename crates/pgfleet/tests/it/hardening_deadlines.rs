//! Issue 11's deadlines: no command hangs on a server that never answers, serve refuses an
//! empty token, and serve's HTTP side sheds clients that send half a request.

use crate::context::TestContext;
use crate::serve::Daemon;
use pgfleet_testkit::{TestCluster, TestDatabase};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The password in the URLs pointed at the silent peer: it must never be printed.
const PASSWORD: &str = "s1lent-peer-Secret";

/// A TCP peer on 127.0.0.1 that accepts every connection and never sends a byte (a
/// blackholed proxy, a wedged pooler): the TCP connect succeeds, the startup never ends.
struct SilentPeer {
    port: u16,
    stop: Arc<AtomicBool>,
    accepted: Arc<Mutex<Vec<TcpStream>>>,
}

impl SilentPeer {
    fn start() -> SilentPeer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let (stopping, held) = (stop.clone(), accepted.clone());
        std::thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                match listener.accept() {
                    // Held open, unanswered, until the peer stops.
                    Ok((stream, _)) => held.lock().unwrap().push(stream),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => panic!("silent peer: {e}"),
                }
            }
        });
        SilentPeer {
            port,
            stop,
            accepted,
        }
    }

    fn connections(&self) -> usize {
        self.accepted.lock().unwrap().len()
    }
}

impl Drop for SilentPeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A fleet of one service, `orders`, whose URL variable points at `peer`.
fn fleet_at(peer: &SilentPeer, sslmode: &str) -> TestContext {
    let mut ctx = TestContext::on_test_cluster(
        "name = \"deadlines\"",
        "[servers.main]\n\n[services.orders]\ndatabase = \"orders\"\nmigrations = \"migrations/orders\"\n",
    );
    ctx.write(
        "migrations/orders/001_a.up.sql",
        "CREATE TABLE a (id int);\n",
    );
    ctx.var(
        "ORDERS_DATABASE_URL",
        &format!(
            "postgres://pgfleet:{PASSWORD}@127.0.0.1:{}/orders?sslmode={sslmode}",
            peer.port
        ),
    );
    ctx
}

#[track_caller]
fn assert_timed_out(run: &crate::context::Run, elapsed: Duration, timeout: &str) {
    assert_eq!(run.code, 1, "{}", run.all_output());
    // `migrate status` reports a service's error in its table, the others on stderr.
    let output = run.all_output();
    assert!(
        output.contains("cannot connect to")
            && output.contains(&format!("no session within {timeout}"))
            && output.contains("hint:"),
        "{output}"
    );
    assert!(!run.all_output().contains(PASSWORD), "{}", run.all_output());
    assert!(elapsed < Duration::from_secs(8), "took {elapsed:?}");
}

#[test]
fn every_command_gives_up_on_a_server_that_never_answers() {
    let peer = SilentPeer::start();
    let limit = Duration::from_secs(30);
    for (sslmode, args) in [
        (
            "disable",
            vec!["migrate", "status", "--check", "--connect-timeout", "1s"],
        ),
        (
            "disable",
            vec!["migrate", "history", "--connect-timeout", "1s"],
        ),
        (
            "disable",
            vec!["migrate", "up", "orders", "--connect-timeout", "1s"],
        ),
        (
            "disable",
            vec!["access", "check", "--connect-timeout", "1s"],
        ),
        // With TLS the client waits for the answer to its SSLRequest instead.
        (
            "require",
            vec!["migrate", "up", "orders", "--connect-timeout", "1s"],
        ),
    ] {
        let ctx = fleet_at(&peer, sslmode);
        let before = peer.connections();
        let (run, elapsed) = ctx.run_within(&args, limit);
        assert_timed_out(&run, elapsed, "1s");
        assert!(
            peer.connections() > before,
            "{args:?} never reached the peer"
        );
    }
    // The variable sets it too.
    let mut ctx = fleet_at(&peer, "disable");
    ctx.var("PGFLEET_CONNECT_TIMEOUT", "2s");
    let (run, elapsed) = ctx.run_within(&["migrate", "status", "--check"], limit);
    assert_timed_out(&run, elapsed, "2s");
    assert!(elapsed >= Duration::from_secs(2), "took {elapsed:?}");
}

#[test]
fn the_default_connect_timeout_is_ten_seconds() {
    let peer = SilentPeer::start();
    let ctx = fleet_at(&peer, "disable");
    let (run, elapsed) = ctx.run_within(&["migrate", "history"], Duration::from_secs(40));
    assert_eq!(run.code, 1, "{}", run.all_output());
    assert!(
        run.stderr.contains("no session within 10s"),
        "{}",
        run.stderr
    );
    assert!(
        elapsed >= Duration::from_secs(10) && elapsed < Duration::from_secs(20),
        "took {elapsed:?}"
    );
}

#[test]
fn zero_deadlines_are_usage_errors() {
    let peer = SilentPeer::start();
    let ctx = fleet_at(&peer, "disable");
    for args in [
        // PostgreSQL reads lock_timeout = 0 as "wait forever".
        vec!["migrate", "up", "orders", "--lock-timeout", "0s"],
        vec!["migrate", "down", "orders", "--lock-timeout", "0"],
        vec!["migrate", "status", "--connect-timeout", "0s"],
        vec!["serve", "--header-read-timeout", "0s"],
        vec!["serve", "--max-connections", "0"],
    ] {
        let (run, _) = ctx.run_within(&args, Duration::from_secs(20));
        assert_eq!(run.code, 2, "{args:?}: {}", run.all_output());
        assert!(
            run.stderr.contains("must be more than zero") || run.stderr.contains("not in 1.."),
            "{args:?}: {}",
            run.stderr
        );
    }
    assert_eq!(peer.connections(), 0, "a refused command connected");
}

/// `--lock-wait 0s` is defined: take the lock if it is free now, else fail at once.
#[tokio::test]
async fn lock_wait_zero_takes_a_free_lock_and_never_waits_for_a_held_one() {
    let db = TestCluster::shared().fresh_database().await;
    let ctx = TestContext::on_test_cluster(
        "name = \"deadlines\"",
        &format!(
            "[servers.main]\n\n[services.orders]\ndatabase = \"{}\"\nmigrations = \"migrations/orders\"\n",
            db.name
        ),
    );
    ctx.write(
        "migrations/orders/001_a.up.sql",
        "CREATE TABLE a (id int);\n",
    );
    ctx.write(
        "migrations/orders/002_b.up.sql",
        "CREATE TABLE b (id int);\n",
    );
    let holder = db.client().await;
    let key = pgfleet_migrate::lock::lock_key("deadlines", "orders", &db.name);
    holder
        .query_one("SELECT pg_advisory_lock($1)", &[&key])
        .await
        .unwrap();
    let (run, elapsed) = ctx.run_within(
        &["migrate", "up", "orders", "--lock-wait", "0s"],
        Duration::from_secs(30),
    );
    assert_eq!(run.code, 1, "{}", run.all_output());
    assert!(
        run.stderr
            .contains("another runner holds the migration lock"),
        "{}",
        run.stderr
    );
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    holder
        .query_one("SELECT pg_advisory_unlock($1)", &[&key])
        .await
        .unwrap();
    ctx.run(&["migrate", "up", "orders", "--lock-wait", "0s"])
        .success();
    let applied: i64 = db
        .client()
        .await
        .query_one("SELECT count(*) FROM pgfleet.migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(applied, 2);
}

/// A fleet of one service on the shared test cluster, for serve.
fn serve_fleet(db: &TestDatabase) -> TestContext {
    TestContext::on_test_cluster(
        "name = \"deadlines\"",
        &format!(
            "[servers.main]\n\n[services.orders]\ndatabase = \"{}\"\nmigrations = \"migrations/orders\"\n",
            db.name
        ),
    )
}

#[tokio::test]
async fn an_empty_serve_token_is_refused() {
    let db = TestCluster::shared().fresh_database().await;
    for value in ["", "  "] {
        let mut ctx = serve_fleet(&db);
        ctx.var("PGFLEET_SERVE_TOKEN", value);
        // Before the fix serve started with the detailed endpoints open: bounded, not hung.
        let listen = format!("127.0.0.1:{}", crate::context::free_port());
        let (run, _) = ctx.run_within(&["serve", "--listen", &listen], Duration::from_secs(20));
        assert_eq!(run.code, 4, "{value:?}: {}", run.all_output());
        assert!(
            run.stderr.contains("PGFLEET_SERVE_TOKEN is set but empty"),
            "{}",
            run.stderr
        );
    }
    // Unset still means "no token".
    let ctx = serve_fleet(&db);
    let daemon = Daemon::start(&ctx, &[]);
    assert_eq!(daemon.get("/health/detailed").status, 200);
}

/// Sends half a request line and nothing more.
fn half_request(port: u16) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(b"GET /metrics HT").unwrap();
    stream
}

/// Reads until the server closes `stream`; how long that took from `since`, or `None` if it
/// was still open at `limit`.
fn closed_by_server(stream: &mut TcpStream, since: Instant, limit: Duration) -> Option<Duration> {
    let mut buffer = [0u8; 1024];
    loop {
        let left = limit.checked_sub(since.elapsed())?;
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match stream.read(&mut buffer) {
            // hyper may answer 408 before closing; EOF or a reset is the close.
            Ok(0) => return Some(since.elapsed()),
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return None;
            }
            Err(_) => return Some(since.elapsed()),
        }
    }
}

#[tokio::test]
async fn serve_closes_connections_that_send_half_a_request() {
    let db = TestCluster::shared().fresh_database().await;
    let ctx = serve_fleet(&db);
    let daemon = Daemon::start(&ctx, &["--header-read-timeout", "2s"]);
    let opened = Instant::now();
    let mut partial: Vec<TcpStream> = (0..100).map(|_| half_request(daemon.port)).collect();
    // The daemon answers while they hang.
    assert_eq!(daemon.get("/live").status, 200);
    let metrics = daemon.get("/metrics");
    assert_eq!(metrics.status, 200, "{}", metrics.body);
    for stream in &mut partial {
        let closed = closed_by_server(stream, opened, Duration::from_secs(10))
            .expect("a connection with half a request was still open after 10 s");
        assert!(
            closed >= Duration::from_millis(1500),
            "closed after {closed:?}"
        );
    }
    assert_eq!(daemon.get("/live").status, 200);
}

#[tokio::test]
async fn serve_holds_connections_beyond_its_limit_until_one_closes() {
    let db = TestCluster::shared().fresh_database().await;
    let ctx = serve_fleet(&db);
    let mut daemon = Daemon::start(
        &ctx,
        &["--max-connections", "8", "--header-read-timeout", "3s"],
    );
    // Daemon::start's probes have closed; fill every slot with half requests.
    let opened = Instant::now();
    let _partial: Vec<TcpStream> = (0..8).map(|_| half_request(daemon.port)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut ninth = TcpStream::connect(("127.0.0.1", daemon.port)).unwrap();
    ninth
        .write_all(b"GET /live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    ninth
        .set_read_timeout(Some(Duration::from_millis(1000)))
        .unwrap();
    let mut first = [0u8; 1];
    let early = ninth.read(&mut first);
    assert!(
        matches!(&early, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "a connection beyond the limit was served at once: {early:?}"
    );
    // Once the header-read timeout frees the slots, it is served.
    ninth
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = Vec::new();
    ninth.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(opened.elapsed() >= Duration::from_millis(2500));
    let metrics = daemon.get("/metrics");
    assert_eq!(metrics.status, 200, "{}", metrics.body);
    assert!(daemon.terminate().success(), "{}", daemon.log());
}
