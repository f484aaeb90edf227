//! What users of ripgrep, cargo or kubectl expect of a command line: completions, a man page,
//! a version with its commit, plain output in pipes, JSON logs, progress lines in CI logs,
//! distinct exit codes. Every run here goes through pipes, as in CI.

use crate::context::TestContext;
use crate::dev::{states, two_server_fleet};
use crate::hardening_migrate::{pair, table_row};
use crate::migrate::fleet;
use pgfleet_testkit::TestCluster;

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
