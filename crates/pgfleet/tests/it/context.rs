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
    /// Literal text of this test's own that snapshots replace (`filter`).
    filters: Vec<(String, String)>,
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

    /// The run as a snapshot reads it: exit code, stdout and stderr, each under a header.
    pub fn snapshot(&self) -> String {
        format!(
            "exit_code: {}\n----- stdout -----\n{}\n----- stderr -----\n{}",
            self.code,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
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
            filters: Vec::new(),
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

    /// `env export SERVICE --format json` (with `--show-secrets` when asked), which must
    /// succeed, as variable → value.
    #[track_caller]
    pub fn exported(
        &self,
        service: &str,
        show_secrets: bool,
    ) -> std::collections::BTreeMap<String, String> {
        let mut args = vec!["env", "export", service, "--format", "json"];
        if show_secrets {
            args.push("--show-secrets");
        }
        serde_json::from_value(self.run(&args).success().json()).expect("variable → value")
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

/// What a snapshot may not hold, the patterns that find it, and what stands in its place:
/// values that differ between runs or machines. Applied after the context's own literals
/// (its folder, its ports), in this order.
fn pattern_filters() -> &'static [(regex::Regex, &'static str)] {
    static FILTERS: std::sync::OnceLock<Vec<(regex::Regex, &'static str)>> =
        std::sync::OnceLock::new();
    FILTERS.get_or_init(|| {
        [
            // The testkit's databases: pgfleet_test_<n>_<pid>.
            (r"pgfleet_test_\d+_\d+", "[DB]"),
            (
                r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}(:?\d{2})?)?",
                "[TIMESTAMP]",
            ),
            // JSON durations and pids are numbers: the whole value goes.
            (r#""(\w*duration\w*|\w+_ms)": \d+"#, r#""$1": "[TIME]""#),
            (r#""pid": \d+"#, r#""pid": "[PID]""#),
            // Measured durations (`12 ms`, `1.2s`); a setting such as `10s` is not one.
            (r"\b\d+(\.\d+)? ?(ns|µs|us|ms)\b", "[TIME]"),
            (r"\b\d+\.\d+ ?s\b", "[TIME]"),
        ]
        .into_iter()
        .map(|(pattern, replacement)| (regex::Regex::new(pattern).unwrap(), replacement))
        .collect()
    })
}

/// `pgfleet --version`'s text after the name: the crate's version and the build's commit.
fn version_text() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        let out = Command::new(env!("CARGO_BIN_EXE_pgfleet"))
            .arg("--version")
            .output()
            .expect("pgfleet --version");
        let text = String::from_utf8_lossy(&out.stdout);
        text.trim().trim_start_matches("pgfleet").trim().to_owned()
    })
}

impl TestContext {
    /// Snapshots show `text` as `replacement` (a name of this test's own, a generated value).
    pub fn filter(&mut self, text: &str, replacement: &str) -> &mut Self {
        self.filters.push((text.to_owned(), replacement.to_owned()));
        self
    }

    /// `run`, with stdout and stderr filtered for a snapshot: the project folder is
    /// `[PROJECT]`, the temp folder `[TMP]`, the test cluster's and the manifest's ports
    /// `[PORT]`, running clusters' pids `[PID]`, durations `[TIME]`, timestamps
    /// `[TIMESTAMP]`, the version and commit `[VERSION]`, the testkit's databases `[DB]`.
    pub fn run_filtered(&self, args: &[&str]) -> Run {
        self.filtered(&self.run(args))
    }

    /// `run` with the filters of `run_filtered` applied.
    pub fn filtered(&self, run: &Run) -> Run {
        Run {
            code: run.code,
            stdout: self.apply_filters(&run.stdout),
            stderr: self.apply_filters(&run.stderr),
        }
    }

    /// The literal replacements of this context: its own, its folders, ports and pids.
    fn literal_filters(&self) -> Vec<(String, String)> {
        let mut literals = self.filters.clone();
        let project = self.dir.path();
        for path in [project.canonicalize().ok(), Some(project.to_path_buf())]
            .into_iter()
            .flatten()
        {
            literals.push((path.display().to_string(), "[PROJECT]".to_owned()));
        }
        let temp = std::env::temp_dir();
        for path in [temp.canonicalize().ok(), Some(temp)].into_iter().flatten() {
            let text = path.display().to_string();
            literals.push((text.trim_end_matches('/').to_owned(), "[TMP]".to_owned()));
        }
        // Who applied a migration is `user@host`: this machine's name goes.
        if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
            literals.push((format!("@{}", host.trim()), "@[HOST]".to_owned()));
        }
        literals.push((version_text().to_owned(), "[VERSION]".to_owned()));
        literals.push((env!("CARGO_PKG_VERSION").to_owned(), "[VERSION]".to_owned()));
        literals
    }

    /// Numbers that are this run's: the test cluster's port, the manifest's ports, and the
    /// pids of the project's running clusters (their `postmaster.pid`).
    fn number_filters(&self) -> Vec<(String, &'static str)> {
        let mut numbers = Vec::new();
        for (key, value) in &self.vars {
            if key.ends_with("PORT") {
                numbers.push((value.clone(), "[PORT]"));
            }
        }
        let manifest = std::fs::read_to_string(&self.manifest).unwrap_or_default();
        let port = regex::Regex::new(r"(?m)^\s*(dev_|test_)?port\s*=\s*(\d+)").unwrap();
        for captures in port.captures_iter(&manifest) {
            numbers.push((captures[2].to_owned(), "[PORT]"));
        }
        let mut folders = vec![self.dir.path().join(".pgfleet")];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    folders.push(path);
                } else if path.file_name().is_some_and(|n| n == "postmaster.pid") {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    if let Some(pid) = text.lines().next().filter(|l| !l.is_empty()) {
                        numbers.push((pid.trim().to_owned(), "[PID]"));
                    }
                }
            }
        }
        numbers
    }

    /// `text` with the filters of `run_filtered` applied.
    pub fn apply_filters(&self, text: &str) -> String {
        let mut text = text.to_owned();
        let mut literals = self.literal_filters();
        // The longest first: a folder before the temp folder that holds it.
        literals.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
        for (from, to) in literals {
            if !from.is_empty() {
                text = text.replace(&from, &to);
            }
        }
        for (number, to) in self.number_filters() {
            let pattern = regex::Regex::new(&format!(r"\b{}\b", regex::escape(&number))).unwrap();
            text = pattern.replace_all(&text, to).into_owned();
        }
        for (pattern, to) in pattern_filters() {
            text = pattern.replace_all(&text, *to).into_owned();
        }
        text
    }
}

impl Drop for TestContext {
    fn drop(&mut self) {
        if self.stop_clusters_on_drop {
            let _ = self.run(&["dev", "down"]);
            // A testing environment's clusters are its own (the tests name it `testing`).
            if self.dir.path().join(".pgfleet/testing").is_dir() {
                let _ = self.run(&["--env", "testing", "dev", "down"]);
            }
        }
    }
}

/// A TCP port nobody listens on right now.
/// A port nothing listens on now, and one this test process has not handed out before: the
/// kernel may offer a just-released port again, and two tests' clusters would then race for it.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// The first column of every row `sql` returns.
pub async fn column<T>(client: &tokio_postgres::Client, sql: &str) -> Vec<T>
where
    T: for<'a> tokio_postgres::types::FromSql<'a>,
{
    client
        .query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|row| row.get(0))
        .collect()
}
