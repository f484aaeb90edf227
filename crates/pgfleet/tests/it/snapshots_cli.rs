//! Snapshots of what the CLI prints, table and JSON, for every command group: a change of
//! output shows up as a diff to read in review. Runs go through pipes, so tables are the
//! plain-column form; `TestContext::run_filtered` replaces what differs between runs (folders,
//! ports, pids, times, versions, generated names). Write them with
//! `INSTA_UPDATE=always cargo test -p pgfleet --test it snapshots_cli` and read every one.

use crate::context::TestContext;
use crate::{access, dev, migrate};
use pgfleet_testkit::TestCluster;

/// Snapshots of a group, in the order they ran, so one file reads as the session did.
struct Session<'a> {
    ctx: &'a TestContext,
    group: &'static str,
    step: usize,
}

impl Session<'_> {
    /// Runs `args` and snapshots what it printed (exit code included) as `<group>_<nn>_<name>`.
    /// No snapshot may show a password.
    #[track_caller]
    fn snap(&mut self, name: &str, args: &[&str]) -> crate::context::Run {
        self.snap_with(name, args, &[])
    }

    /// `snap`, with `extra` (pattern, replacement) filters on stdout for this command only.
    #[track_caller]
    fn snap_with(
        &mut self,
        name: &str,
        args: &[&str],
        extra: &[(&str, &str)],
    ) -> crate::context::Run {
        self.step += 1;
        let raw = self.ctx.run(args);
        // A JSON report is the whole of stdout: no note or progress line mixed in.
        if args.windows(2).any(|w| w == ["--format", "json"]) && !raw.stdout.is_empty() {
            raw.json();
        }
        let mut run = self.ctx.filtered(&raw);
        for (pattern, replacement) in extra {
            let pattern = regex::Regex::new(pattern).unwrap();
            run.stdout = pattern.replace_all(&run.stdout, *replacement).into_owned();
        }
        let shown = run.snapshot();
        for secret in ["runtime-pw", "s3cret-env-pw"] {
            assert!(!shown.contains(secret), "{name} shows a password:\n{shown}");
        }
        insta::assert_snapshot!(
            format!("{}_{:02}_{name}", self.group, self.step),
            shown,
            &self
                .ctx
                .apply_filters(&format!("pgfleet {}", args.join(" ")))
        );
        run
    }
}

fn session<'a>(ctx: &'a TestContext, group: &'static str) -> Session<'a> {
    Session {
        ctx,
        group,
        step: 0,
    }
}

fn env_fleet(passwords: &[&str]) -> TestContext {
    let mut ctx = TestContext::on_test_cluster(
        "name = \"shop\"",
        r#"
[servers.main]

[services.orders]
database = "orders"

[services.users]
database = "shop"
schema = "users"
"#,
    );
    for var in passwords {
        ctx.var(var, "s3cret-env-pw");
    }
    ctx
}

#[test]
fn env_show_check_and_export() {
    let ctx = env_fleet(&["ORDERS_DB_PASSWORD", "USERS_DB_PASSWORD"]);
    let mut s = session(&ctx, "env");
    s.snap("show", &["env", "show"]);
    s.snap("show_json", &["env", "show", "--format", "json"]);
    s.snap("check", &["env", "check"]);
    s.snap("check_json", &["env", "check", "--format", "json"]);
    s.snap("export", &["env", "export", "orders"]);
    s.snap(
        "export_json",
        &["env", "export", "users", "--format", "json"],
    );
    let incomplete = env_fleet(&["ORDERS_DB_PASSWORD"]);
    let mut s = session(&incomplete, "env_incomplete");
    s.snap("show", &["env", "show"]);
    s.snap("check", &["--env", "production", "env", "check"]);
    s.snap(
        "check_json",
        &["--env", "production", "env", "check", "--format", "json"],
    );
}

#[tokio::test]
async fn migrate_status_up_history_current_validate_new_baseline() {
    let cluster = TestCluster::shared();
    let (orders, legacy, adopted) = (
        cluster.fresh_database().await,
        cluster.fresh_database().await,
        cluster.fresh_database().await,
    );
    let mut ctx = migrate::fleet(&[
        ("orders", &orders),
        ("legacy", &legacy),
        ("adopted", &adopted),
    ]);
    // History names who applied a migration: `$USER@host`.
    ctx.var("USER", "tester");
    for service in ["orders", "legacy", "adopted"] {
        migrate::write(
            &ctx,
            service,
            "001_init.up.sql",
            "CREATE TABLE items (id bigint PRIMARY KEY);\n",
        );
        migrate::write(&ctx, service, "001_init.down.sql", "DROP TABLE items;\n");
        migrate::write(
            &ctx,
            service,
            "002_names.up.sql",
            "ALTER TABLE items ADD COLUMN name text;\n",
        );
    }
    let mut s = session(&ctx, "migrate");
    // The host's name sets the width of `applied by`: runs of spaces are made three.
    let history = [
        (r"(?m)(orders_owner +)\d+$", "$1[TIME]"),
        (r"(?m)(\S) {2,}", "$1   "),
    ];
    s.snap("status", &["migrate", "status", "orders"]);
    s.snap(
        "status_json",
        &["migrate", "status", "orders", "--format", "json"],
    );
    s.snap("dry_run", &["migrate", "up", "orders", "--dry-run"]);
    s.snap(
        "dry_run_json",
        &["migrate", "up", "orders", "--dry-run", "--format", "json"],
    );
    s.snap(
        "up_json",
        &["migrate", "up", "orders", "--to", "1", "--format", "json"],
    );
    s.snap("up", &["migrate", "up", "orders"]);
    s.snap_with("history", &["migrate", "history", "orders"], &history);
    s.snap(
        "history_json",
        &["migrate", "history", "orders", "--format", "json"],
    );
    s.snap("current", &["migrate", "current", "orders"]);
    s.snap(
        "current_json",
        &["migrate", "current", "orders", "--format", "json"],
    );
    s.snap("validate", &["migrate", "validate", "orders"]);
    s.snap(
        "validate_json",
        &["migrate", "validate", "orders", "--format", "json"],
    );
    s.snap(
        "baseline",
        &["migrate", "baseline", "legacy", "--version", "1"],
    );
    s.snap(
        "baseline_json",
        &[
            "migrate",
            "baseline",
            "adopted",
            "--version",
            "2",
            "--format",
            "json",
        ],
    );
    s.snap("new", &["migrate", "new", "orders", "add index"]);
    s.snap(
        "new_json",
        &["migrate", "new", "orders", "Add Totals", "--format", "json"],
    );
    s.snap("status_after_new", &["migrate", "status", "--all"]);
}

#[tokio::test]
async fn access_plan_apply_check() {
    let mut fleet = access::fleet().await;
    let prefix = fleet.p.clone();
    fleet.ctx.filter(&prefix, "[P]");
    let ctx = &fleet.ctx;
    // One service of the three keeps the plans short; the prefix and the generated database
    // names vary in width, so the check tables get runs of spaces made three.
    let billing = format!("{prefix}_billing");
    let billing = billing.as_str();
    let columns = [(r"(?m)(\S) {2,}", "$1   ")];
    let mut s = session(ctx, "access");
    s.snap("plan", &["access", "plan", billing]);
    s.snap(
        "plan_json",
        &["access", "plan", billing, "--format", "json"],
    );
    s.snap_with("check_drift", &["access", "check", billing], &columns);
    s.snap(
        "check_drift_json",
        &["access", "check", billing, "--format", "json"],
    );
    s.snap("apply", &["access", "apply", billing, "--yes"]);
    s.snap("check", &["access", "check", billing]);
    s.snap(
        "check_json",
        &["access", "check", billing, "--format", "json"],
    );
}

/// One local cluster pair for the whole dev session (clusters are slow to create).
#[test]
fn dev_up_status_seed_reset_down() {
    let ctx = dev::two_server_fleet();
    ctx.write(
        "services/billing/seeds/001_plans.sql",
        "CREATE TABLE IF NOT EXISTS plans (name text PRIMARY KEY);\n\
         INSERT INTO plans VALUES ('free') ON CONFLICT DO NOTHING;\n",
    );
    let mut s = session(&ctx, "dev");
    // A pid's width (4 to 7 digits) sets the width of its column: the status tables are shown
    // with runs of spaces made three, so they read the same whatever the pids are.
    let columns = [(r"(?m)(\S) {2,}", "$1   "), (r"(?m)^ {2,}", "   ")];
    s.snap("status_before", &["dev", "status"]);
    s.snap_with("up", &["dev", "up"], &columns);
    s.snap("up_again_json", &["dev", "up", "--format", "json"]);
    s.snap_with("status", &["dev", "status"], &columns);
    s.snap("status_json", &["dev", "status", "--format", "json"]);
    s.snap("seed", &["dev", "seed", "billing"]);
    s.snap("seed_json", &["dev", "seed", "--format", "json"]);
    s.snap("reset", &["dev", "reset", "auth"]);
    s.snap(
        "reset_json",
        &["dev", "reset", "billing", "--format", "json"],
    );
    s.snap(
        "down_one_json",
        &["dev", "down", "solo", "--format", "json"],
    );
    s.snap("down", &["dev", "down"]);
    s.snap("status_after", &["dev", "status", "--format", "json"]);
    // `dev template`: built (the cluster is started for it), then fresh. The digest covers
    // pgfleet's version, so it changes with every release.
    let digest = [(r#""digest": "[0-9a-f]{64}""#, r#""digest": "[DIGEST]""#)];
    s.snap("template", &["dev", "template", "billing"]);
    s.snap_with(
        "template_again_json",
        &["dev", "template", "billing", "--format", "json"],
        &digest,
    );
    s.snap("down_after_template", &["dev", "down", "solo"]);
}

/// The dashboard and rules are large: their outline is the snapshot (titles, names, counts).
#[test]
fn observe_grafana_and_alerts_outline() {
    let ctx = TestContext::new("[fleet]\nname = \"shop\"\n");
    let grafana = ctx.run(&["observe", "grafana"]).success();
    let dashboard: serde_json::Value = grafana.json();
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut outline = format!(
        "title: {}\nuid: {}\npanels: {}\n",
        dashboard["title"],
        dashboard["uid"],
        panels.len()
    );
    for panel in panels {
        outline.push_str(&format!("- {} ({})\n", panel["title"], panel["type"]));
    }
    insta::assert_snapshot!("observe_grafana_outline", outline);
    let alerts = ctx.run_filtered(&["observe", "alerts"]).success().stdout;
    let lines: Vec<&str> = alerts
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            l.starts_with("- alert:") || l.starts_with("groups:") || l.starts_with("- name:")
        })
        .collect();
    insta::assert_snapshot!("observe_alerts_outline", lines.join("\n"));
}
