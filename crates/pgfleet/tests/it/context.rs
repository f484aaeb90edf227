//! `TestContext`: a throw-away project folder with a manifest, and a way to run the real
//! `pgfleet` binary in it with a controlled environment.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The HuleEdu example manifest of the repository.
pub fn huleedu_manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/huleedu/fleet.toml")
}

pub struct TestContext {
    pub dir: tempfile::TempDir,
    pub manifest: PathBuf,
    vars: Vec<(String, String)>,
    /// Run `dev down` when dropped (only for tests that start clusters).
    pub stop_clusters_on_drop: bool,
}

/// What a run of pgfleet did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Everything it printed, for "never printed" checks.
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    #[track_caller]
    pub fn success(self) -> Run {
        assert_eq!(self.code, 0, "pgfleet failed:\n{}", self.all_output());
        self
    }

    #[track_caller]
    pub fn failure(self, code: i32) -> Run {
        assert_eq!(
            self.code,
            code,
            "unexpected exit code:\n{}",
            self.all_output()
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

impl TestContext {
    /// A project folder with `fleet.toml` holding `manifest`.
    pub fn new(manifest: &str) -> TestContext {
        let dir = tempfile::Builder::new()
            .prefix("pgfleet-it-")
            .tempdir()
            .expect("temp dir");
        let path = dir.path().join("fleet.toml");
        std::fs::write(&path, manifest).expect("write manifest");
        TestContext {
            dir,
            manifest: path,
            vars: Vec::new(),
            stop_clusters_on_drop: false,
        }
    }

    /// A project whose `testing` (default) and `production` environments point at the shared
    /// test cluster as its superuser. `fleet` is the body of `[fleet]` (at least `name`);
    /// `rest` declares servers and services.
    pub fn on_test_cluster(fleet: &str, rest: &str) -> TestContext {
        TestContext::on_test_cluster_as(
            pgfleet_testkit::TestCluster::shared().superuser(),
            fleet,
            rest,
        )
    }

    /// `on_test_cluster`, with `user` as the environments' login (the cluster trusts it).
    pub fn on_test_cluster_as(user: &str, fleet: &str, rest: &str) -> TestContext {
        let cluster = pgfleet_testkit::TestCluster::shared();
        let mut environments = String::new();
        for environment in ["testing", "production"] {
            environments.push_str(&format!(
                "[environments.{environment}]\nhost = {{ env = \"IT_HOST\" }}\nport = {{ env = \"IT_PORT\" }}\n\
                 user = \"{user}\"\nsslmode = \"disable\"\n\n"
            ));
        }
        let mut ctx = TestContext::new(&format!(
            "[fleet]\n{fleet}\ndefault_environment = \"testing\"\n\n{environments}{rest}"
        ));
        ctx.var("IT_HOST", cluster.host())
            .var("IT_PORT", &cluster.port().to_string());
        ctx
    }

    /// A context on an existing manifest (e.g. the examples), run from a temp folder.
    pub fn with_manifest(path: &Path) -> TestContext {
        let mut ctx = TestContext::new("");
        ctx.manifest = path.to_path_buf();
        ctx
    }

    /// Writes `contents` to `relative` in the project folder, creating its folders.
    pub fn write(&self, relative: &str, contents: &str) {
        let path = self.dir.path().join(relative);
        std::fs::create_dir_all(path.parent().expect("a file in a folder")).unwrap();
        std::fs::write(path, contents).unwrap();
    }

    pub fn var(&mut self, key: &str, value: &str) -> &mut Self {
        self.vars.push((key.to_owned(), value.to_owned()));
        self
    }

    /// The command, with an environment that holds nothing of the caller's but PATH and HOME.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgfleet"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", std::env::var("HOME").unwrap_or_else(|_| "/".into()))
            .current_dir(self.dir.path())
            .arg("--manifest")
            .arg(&self.manifest)
            .args(args);
        for (key, value) in &self.vars {
            cmd.env(key, value);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let Output {
            status,
            stdout,
            stderr,
        } = self.command(args).output().expect("run pgfleet");
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }
}

impl TestContext {
    /// `run`, but killed (and the test failed) if pgfleet has not exited within `limit`: for
    /// commands that must not hang. Also returns how long it took.
    #[track_caller]
    pub fn run_within(&self, args: &[&str], limit: Duration) -> (Run, Duration) {
        let started = Instant::now();
        let mut child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run pgfleet");
        fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
            std::thread::spawn(move || {
                let mut text = String::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_string(&mut text);
                }
                text
            })
        }
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for pgfleet") {
                break status;
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "pgfleet {args:?} still running after {limit:?}:\n{}",
                    stderr.join().unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let elapsed = started.elapsed();
        let run = Run {
            code: status.code().unwrap_or(-1),
            stdout: stdout.join().unwrap_or_default(),
            stderr: stderr.join().unwrap_or_default(),
        };
        (run, elapsed)
    }
}

impl Drop for TestContext {
    fn drop(&mut self) {
        if self.stop_clusters_on_drop {
            let _ = self.run(&["dev", "down"]);
        }
    }
}

/// A TCP port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}
