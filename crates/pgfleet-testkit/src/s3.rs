//! A real S3-compatible server for tests: moto's server mode (`python -m moto.server`, pinned
//! in `.ci/requirements.txt`), a process of its own on a free port of 127.0.0.1, run by the
//! Python of `PGFLEET_TEST_PYTHON` (else `python3`). A reaper stops it when the test process
//! exits, however that happens.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::TestkitError;
use crate::reaper::Reaper;
use crate::test_cluster::free_port;

const HOST: &str = "127.0.0.1";
const PORT_ATTEMPTS: u32 = 5;
const START_TIMEOUT: Duration = Duration::from_secs(30);
const REGION: &str = "us-east-1";

/// One moto server. moto checks no signature, so any credentials pass; these are distinctive
/// per process so a test can search output for them.
#[derive(Debug)]
pub struct TestS3 {
    child: Child,
    port: u16,
    reaper: Reaper,
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
}

impl TestS3 {
    /// The test process's server, started on first use.
    pub fn shared() -> &'static TestS3 {
        static SHARED: OnceLock<Result<TestS3, String>> = OnceLock::new();
        match SHARED.get_or_init(|| Self::start().map_err(|e| e.to_string())) {
            Ok(server) => server,
            Err(msg) => panic!("pgfleet-testkit: cannot start the test S3 server: {msg}"),
        }
    }

    /// A server of its own (most tests want [`shared`](Self::shared) and a fresh bucket).
    pub fn start() -> Result<Self, TestkitError> {
        let python = std::env::var("PGFLEET_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        let dir = tempfile::Builder::new()
            .prefix("pgfleet-s3-")
            .tempdir()
            .map_err(|e| TestkitError::io("creating a temporary directory", e))?
            .keep();
        let log = dir.join("moto.log");
        let mut last = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            let log_file = std::fs::File::create(&log)
                .map_err(|e| TestkitError::io(format!("creating {}", log.display()), e))?;
            let log_err = log_file
                .try_clone()
                .map_err(|e| TestkitError::io(format!("opening {}", log.display()), e))?;
            let mut child = Command::new(&python)
                .args(["-m", "moto.server", "-H", HOST, "-p", &port.to_string()])
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(log_file)
                .stderr(log_err)
                .spawn()
                .map_err(|e| TestkitError::io(format!("running {python} -m moto.server"), e))?;
            let reaper = Reaper::spawn_for_own_pid(child.id(), &[dir.as_path()]);
            let mut reaper = match reaper {
                Ok(reaper) => reaper,
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(e);
                }
            };
            match wait_until_up(&mut child, port) {
                Ok(()) => {
                    let unique = unique();
                    return Ok(TestS3 {
                        child,
                        port,
                        reaper,
                        access_key_id: format!("AKIAPGFLEETTEST{unique}"),
                        secret_access_key: format!("pgfleet-test-s3-secret-{unique}"),
                        session_token: format!("pgfleet-test-s3-token-{unique}"),
                    });
                }
                Err(why) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let output = std::fs::read_to_string(&log).unwrap_or_default();
                    reaper.finish();
                    if output.contains("No module named moto") {
                        return Err(TestkitError::S3(format!(
                            "{python} has no moto\n  hint: pip install -r .ci/requirements.txt into the venv of PGFLEET_TEST_PYTHON"
                        )));
                    }
                    last = format!("{why}; its output: {}", output.trim());
                    if !output.contains("Address already in use") {
                        break;
                    }
                    std::fs::create_dir_all(&dir)
                        .map_err(|e| TestkitError::io(format!("creating {}", dir.display()), e))?;
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        Err(TestkitError::S3(last))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{HOST}:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn region(&self) -> &str {
        REGION
    }

    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    pub fn session_token(&self) -> &str {
        &self.session_token
    }

    /// A new, empty bucket of its own for one test.
    pub fn fresh_bucket(&self) -> Result<String, TestkitError> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "pgfleet-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        self.create_bucket(&name)?;
        Ok(name)
    }

    /// `PUT /<bucket>` (moto needs no signature).
    pub fn create_bucket(&self, name: &str) -> Result<(), TestkitError> {
        let status = request(self.port, &format!("PUT /{name} HTTP/1.1"))?;
        if status == 200 {
            Ok(())
        } else {
            Err(TestkitError::S3(format!(
                "creating bucket {name} answered HTTP {status}"
            )))
        }
    }
}

impl Drop for TestS3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reaper.finish();
    }
}

/// Polls until the server answers HTTP, or fails if it exits or takes too long.
fn wait_until_up(child: &mut Child, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("moto exited with {status}"));
        }
        if request(port, "GET / HTTP/1.1").is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("moto did not answer within {START_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One HTTP/1.1 request without a body; its status code.
fn request(port: u16, line: &str) -> Result<u16, TestkitError> {
    let io = |e| TestkitError::io(format!("{line} to the test S3 server"), e);
    let mut stream = TcpStream::connect((HOST, port)).map_err(io)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(io)?;
    write!(
        stream,
        "{line}\r\nHost: {HOST}:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .map_err(io)?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(io)?;
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| TestkitError::S3(format!("{line}: not an HTTP answer")))
}

fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{}X{nanos}", std::process::id())
}
