//! What users of ripgrep, cargo or kubectl expect of a command line: completions, a man page,
//! a version with its commit, plain output in pipes, JSON logs, progress lines in CI logs,
//! distinct exit codes. Every run here goes through pipes, as in CI.

use crate::context::{TestContext, free_port};
use crate::dev::{states, two_server_fleet};
use crate::hardening_migrate::{pair, table_row};
use crate::migrate::{fleet, write};
use crate::serve::Daemon;
use pgfleet_testkit::TestCluster;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Box-drawing characters comfy-table draws on a terminal.
const BOX: [char; 6] = ['│', '┆', '┌', '─', '╞', '═'];

#[track_caller]
fn assert_plain(text: &str) {
    assert!(
        !text.contains("\x1b["),
        "an ANSI escape in a pipe:\n{text:?}"
    );
    assert!(!text.contains(BOX), "box drawing in a pipe:\n{text}");
}

/// `program` with `args`, `stdin` fed in; None when the program is not installed.
fn pipe_through(program: &str, args: &[&str], stdin: &str) -> Option<std::process::Output> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    Some(child.wait_with_output().expect("wait"))
}

#[test]
fn completions_man_page_and_version_with_the_commit() {
    // Generated texts need no manifest.
    let ctx = TestContext::new("");
    let version = ctx.run(&["--version"]).success().stdout;
    assert!(
        version.starts_with(&format!("pgfleet {}", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    let head = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success());
    if let Some(head) = head {
        let commit = String::from_utf8_lossy(&head.stdout).trim().to_owned();
        assert!(version.contains(&format!("({commit})")), "{version}");
    }

    let bash = ctx.run(&["completions", "bash"]).success().stdout;
    let syntax = pipe_through("bash", &["-n"], &bash).expect("bash");
    assert!(
        syntax.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    // And it completes, called as bash calls it (command, word, previous word): `pgfleet
    // mig<TAB>` and `pgfleet migrate up --dr<TAB>`.
    let complete = |words: &str| {
        let script = format!(
            "{bash}\nCOMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             COMP_LINE=\"{words}\"; COMP_POINT=${{#COMP_LINE}}; \
             _pgfleet pgfleet \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\""
        );
        let out = pipe_through("bash", &[], &script).expect("bash");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(complete("pgfleet mig").trim(), "migrate");
    assert!(
        complete("pgfleet migrate up --dr")
            .lines()
            .any(|l| l == "--dry-run"),
        "{}",
        complete("pgfleet migrate up --dr")
    );
    for (shell, marker) in [
        ("zsh", "#compdef pgfleet"),
        ("fish", "complete -c pgfleet"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let script = ctx.run(&["completions", shell]).success().stdout;
        assert!(script.contains(marker), "{shell}:\n{script}");
        assert!(script.contains("migrate"), "{shell}:\n{script}");
    }
    ctx.run(&["completions", "tcsh"]).failure(2);

    let page = ctx.run(&["man"]).success().stdout;
    assert!(page.contains(".TH pgfleet 1"), "{page}");
    assert!(page.contains(".SH SYNOPSIS"), "{page}");
    if let Some(rendered) = pipe_through("man", &["-P", "cat", "-l", "-"], &page) {
        let text = String::from_utf8_lossy(&rendered.stdout);
        assert!(rendered.status.success(), "man -l -: {rendered:?}");
        for part in [
            "NAME",
            "SYNOPSIS",
            "--connect-timeout",
            "migrate",
            "completions",
        ] {
            assert!(text.contains(part), "{part} missing from the page:\n{text}");
        }
    }
}

#[tokio::test]
async fn tables_in_a_pipe_are_plain_columns() {
    let cluster = TestCluster::shared();
    let (orders_db, billing_db) = (
        cluster.fresh_database().await,
        cluster.fresh_database().await,
    );
    let ctx = fleet(&[("orders", &orders_db), ("billing_service", &billing_db)]);
    pair(&ctx, "orders", 1, "t1");
    let status = ctx.run(&["migrate", "status"]).success();
    assert_plain(&status.all_output());
    let header = status.stdout.lines().next().unwrap_or_default();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        [
            "service", "layout", "current", "pending", "dirty", "problems"
        ],
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.lines().all(|l| l == l.trim_end()),
        "no line ends in spaces:\n{:?}",
        status.stdout
    );
    // Columns line up: each header starts where its cells start.
    let at = |line: &str, cell: &str| line.find(cell).expect("a cell");
    let orders = status
        .stdout
        .lines()
        .find(|l| l.starts_with("orders"))
        .expect("orders");
    assert_eq!(at(header, "pending"), at(orders, "1"), "{}", status.stdout);
    assert_eq!(
        table_row(&status.stdout, "orders")[1..4],
        ["pgfleet (detected)", "-", "1"]
    );
    assert_eq!(
        table_row(&status.stdout, "billing_service")[1..4],
        ["pgfleet (detected)", "-", "0"]
    );
}

/// A daemon whose only database is nowhere: it logs `target unreachable` at once.
fn unreachable_fleet() -> TestContext {
    TestContext::new(&format!(
        "[fleet]\nname = \"logs\"\ndefault_environment = \"testing\"\n\
         [environments.testing]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"nobody\"\n\
         sslmode = \"disable\"\n[servers.main]\n[services.orders]\ndatabase = \"orders\"\n",
        free_port()
    ))
}

fn log_when(daemon: &Daemon, what: &str) -> String {
    let started = Instant::now();
    loop {
        let log = daemon.log();
        if log.contains(what) {
            return log;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no `{what}` in the log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn logs_in_a_file_have_no_colour_and_json_lines_parse() {
    let ctx = unreachable_fleet();
    // `Daemon` runs `pgfleet -vv serve` with stderr into a file.
    let text = Daemon::start(&ctx, &[]);
    let log = log_when(&text, "target unreachable");
    assert_plain(&log);
    assert!(log.contains(" WARN "), "{log}");
    drop(text);

    let json = Daemon::start(&ctx, &["--log-format", "json"]);
    let log = log_when(&json, "target unreachable");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let warning = lines
        .iter()
        .find(|l| l["fields"]["message"] == "target unreachable")
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(warning["level"], "WARN", "{warning}");
    assert_eq!(warning["fields"]["database"], "orders", "{warning}");
    assert!(warning["timestamp"].is_string(), "{warning}");
    ctx.run(&["--log-format", "yaml", "env", "show"]).failure(2);

    // Errors too, manifest problems included: stderr stays JSON lines only.
    let bad = TestContext::new("[fleet]\nname = 3\nnot_a_key = 1\n");
    let run = bad.run(&["--log-format", "json", "env", "show"]).failure(3);
    let errors: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(!errors.is_empty(), "{}", run.stderr);
    assert!(
        errors.iter().all(|e| e["level"] == "ERROR"
            && e["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("fleet.toml:"))),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn a_run_in_a_pipe_prints_a_line_per_step_and_per_service() {
    let cluster = TestCluster::shared();
    let (orders_db, billing_db) = (
        cluster.fresh_database().await,
        cluster.fresh_database().await,
    );
    let ctx = fleet(&[("orders", &orders_db), ("billing", &billing_db)]);
    pair(&ctx, "orders", 1, "create_items");
    pair(&ctx, "orders", 2, "add_price");
    pair(&ctx, "billing", 1, "invoices");
    let run = ctx.run(&["migrate", "up", "--all"]).success();
    assert_plain(&run.all_output());
    let lines: Vec<&str> = run.stderr.lines().collect();
    let position = |prefix: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(prefix) && l.ends_with(" ms)"))
            .unwrap_or_else(|| panic!("no line `{prefix}… ms)`:\n{}", run.stderr))
    };
    let first = position("orders: applied 1 create_items (");
    let second = position("orders: applied 2 add_price (");
    let done = position("orders: 2 step(s), - -> 2 (");
    assert!(first < second && second < done, "{}", run.stderr);
    position("billing: applied 1 invoices (");
    position("billing: 1 step(s), - -> 1 (");

    let again = ctx.run(&["migrate", "up", "--all"]).success();
    assert!(
        again.stderr.contains("orders: up to date at 2 (")
            && again.stderr.contains("billing: up to date at 1 ("),
        "{}",
        again.stderr
    );
    assert!(!again.stderr.contains("applied"), "{}", again.stderr);

    let down = ctx.run(&["migrate", "down", "orders"]).success();
    assert!(
        down.stderr.contains("orders: reverted 2 add_price ("),
        "{}",
        down.stderr
    );
    write(&ctx, "billing", "002_broken.up.sql", "SELECT 1/0;\n");
    let failed = ctx.run(&["migrate", "up", "billing"]).failure(1);
    assert!(
        failed
            .stderr
            .contains("billing: failed at up 2 broken after 0 step(s)"),
        "{}",
        failed.stderr
    );
    assert!(!failed.stderr.contains("applied 2"), "{}", failed.stderr);
    // JSON on stdout stays JSON: the lines are on stderr.
    let json = ctx
        .run(&["migrate", "up", "orders", "--format", "json"])
        .success();
    assert_eq!(json.json()[0]["report"]["after"], 2);
    assert!(
        json.stderr.contains("orders: applied 2 add_price ("),
        "{}",
        json.stderr
    );
}

#[tokio::test]
async fn dry_run_after_is_the_version_the_plan_reaches() {
    let db = TestCluster::shared().fresh_database().await;
    let ctx = fleet(&[("orders", &db)]);
    for (version, name) in [(1, "t1"), (2, "t2"), (3, "t3")] {
        pair(&ctx, "orders", version, name);
    }
    let plan = |args: &[&str]| {
        let mut all = vec!["migrate"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["orders", "--dry-run"]);
        let table = ctx.run(&all).success().stdout;
        all.extend_from_slice(&["--format", "json"]);
        let json = ctx.run(&all).success().json();
        let row = table_row(&table, "orders");
        (row[1..3].to_vec(), json[0]["report"]["after"].clone())
    };
    assert_eq!(plan(&["up"]), (vec!["-".into(), "3".into()], 3.into()));
    assert_eq!(
        plan(&["up", "--to", "2"]),
        (vec!["-".into(), "2".into()], 2.into())
    );
    ctx.run(&["migrate", "up", "orders"]).success();
    assert_eq!(plan(&["down"]), (vec!["3".into(), "2".into()], 2.into()));
    assert_eq!(
        plan(&["down", "--steps", "2"]),
        (vec!["3".into(), "1".into()], 1.into())
    );
    assert_eq!(
        plan(&["down", "--to", "0"]),
        (vec!["3".into(), "-".into()], serde_json::Value::Null)
    );
    assert_eq!(plan(&["up"]), (vec!["3".into(), "3".into()], 3.into()));
}

#[test]
fn migrate_new_follows_the_folders_numbering() {
    let ctx = TestContext::new(
        "[fleet]\nname = \"it\"\n[servers.main]\ndev_port = 5999\n\
         [services.padded]\n[services.bare]\n[services.stamped]\n[services.fresh]\n\
         [services.counted]\n",
    );
    for file in ["001_a", "002_b", "003_c"] {
        ctx.write(&format!("services/padded/migrations/{file}.up.sql"), "");
    }
    ctx.write("services/bare/migrations/9_a.up.sql", "");
    ctx.write("services/stamped/migrations/20200101000000_a.up.sql", "");
    let created = |service: &str, extra: &[&str]| -> String {
        let mut args = vec!["migrate", "new", service, "Next step"];
        args.extend_from_slice(extra);
        let run = ctx.run(&args).success();
        let up = run.stdout.lines().next().expect("a file");
        let name = std::path::Path::new(up).file_name().expect("a name");
        name.to_string_lossy().into_owned()
    };
    assert_eq!(created("padded", &[]), "004_next_step.up.sql");
    assert_eq!(created("padded", &["--sequential"]), "005_next_step.up.sql");
    assert_eq!(created("bare", &[]), "10_next_step.up.sql");
    let stamp = created("stamped", &[]);
    assert!(
        stamp.len() == "20251114222509_next_step.up.sql".len() && stamp.as_str() > "2025",
        "{stamp}"
    );
    // A timestamp folder cannot be numbered one by one: 21 would sort first.
    let refused = ctx
        .run(&["migrate", "new", "stamped", "x", "--sequential"])
        .failure(4);
    assert!(
        refused
            .stderr
            .contains("numbers its migrations by timestamp")
            && refused.stderr.contains("hint: leave out --sequential"),
        "{}",
        refused.stderr
    );
    // An empty folder: a timestamp, or 001 when asked.
    assert!(created("fresh", &[]).starts_with("20"));
    assert_eq!(
        created("counted", &["--sequential"]),
        "001_next_step.up.sql"
    );
    assert_eq!(created("counted", &[]), "002_next_step.up.sql");
}

#[test]
fn dev_down_stops_only_the_named_servers() {
    let ctx = two_server_fleet();
    ctx.run(&["dev", "up"]).success();
    let unknown = ctx
        .run(&["dev", "down", "solo", "nope", "other"])
        .failure(4);
    assert!(
        unknown.stderr.contains(
            "unknown dev server `nope`, `other`; the manifest's dev servers are: shared, solo"
        ),
        "{}",
        unknown.stderr
    );
    let both_running = [
        ("shared".into(), "running".into(), true),
        ("solo".into(), "running".into(), true),
    ];
    assert_eq!(states(&ctx), both_running, "a refused down stopped nothing");
    let down = ctx.run(&["dev", "down", "solo"]).success();
    assert_eq!(down.stderr.trim(), "solo: stopped");
    assert_eq!(
        states(&ctx),
        [
            ("shared".into(), "running".into(), true),
            ("solo".into(), "stopped".into(), false),
        ]
    );
    ctx.run(&["dev", "up"]).success();
    assert_eq!(states(&ctx), both_running);
}

#[tokio::test]
async fn drift_and_usage_errors_have_distinct_exit_codes() {
    let f = crate::access::fleet().await;
    // Nothing applied yet: every role is missing.
    let drift = f.ctx.run(&["access", "check"]).failure(6);
    assert!(drift.stderr.contains("difference(s)"), "{}", drift.stderr);
    f.ctx.run(&["access", "check", "--no-such-flag"]).failure(2);
    f.ctx.run(&["access", "apply"]).success();
    f.ctx.run(&["access", "check"]).success();
    let help = f.ctx.run(&["--help"]).success().stdout;
    assert!(help.contains("6 `access check` found drift"), "{help}");
}

/// `args` with stdout a pipe whose reader is already gone, as `pgfleet … | head` ends up.
fn run_into_closed_pipe(ctx: &TestContext, args: &[&str]) -> (i32, String) {
    let (read, write) = nix::unistd::pipe().expect("pipe");
    drop(read);
    let out = ctx
        .command(args)
        .stdout(Stdio::from(write))
        .stderr(Stdio::piped())
        .output()
        .expect("run pgfleet");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_pipe_ends_output_quietly_and_keeps_the_exit_code() {
    let ctx = TestContext::with_manifest(&crate::context::huleedu_manifest());
    for args in [
        &["observe", "grafana"][..],
        &["env", "show"],
        &["env", "show", "--format", "json"],
    ] {
        let (code, stderr) = run_into_closed_pipe(&ctx, args);
        assert_eq!((code, stderr.as_str()), (0, ""), "{args:?}");
    }
    // A failing command still fails: its report was dropped, not its exit code.
    let (code, stderr) = run_into_closed_pipe(&ctx, &["env", "check", "--env", "production"]);
    assert_eq!(code, 4, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
