//! The example fleets of the repository, end to end on local clusters: dev up, migrate up,
//! access apply, dev seed; every migration down and up again with identical catalogs; and
//! the Perses queries on their indexes.

use crate::context::{TestContext, free_port};
use pgfleet_cluster::fleet::LocalFleet;
use pgfleet_core::Manifest;
use std::path::{Path, PathBuf};

/// A copy of `examples/<name>` in a temp folder, its dev ports moved to free ones.
fn example(name: &str) -> TestContext {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    let mut ctx = TestContext::new("");
    copy_dir(&source, ctx.dir.path());
    let manifest = std::fs::read_to_string(ctx.dir.path().join("fleet.toml")).unwrap();
    let moved: Vec<String> = manifest
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("dev_port") {
                format!("dev_port = {}", free_port())
            } else {
                line.to_owned()
            }
        })
        .collect();
    std::fs::write(ctx.dir.path().join("fleet.toml"), moved.join("\n")).unwrap();
    ctx.manifest = ctx.dir.path().join("fleet.toml");
    ctx.stop_clusters_on_drop = true;
    ctx
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == ".pgfleet" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The schema of every service's database as pg_dump prints it (pgfleet's own schema left
/// out), one string per database, run through the local cluster's own binaries.
fn catalog_dumps(ctx: &TestContext) -> Vec<(String, String)> {
    let manifest = Manifest::load(&ctx.manifest).unwrap();
    let fleet = LocalFleet::new(&manifest, "development").unwrap();
    let mut databases: Vec<(String, String)> = manifest
        .services
        .values()
        .map(|s| (s.server.clone(), s.placement.database().to_owned()))
        .collect();
    databases.sort();
    databases.dedup();
    databases
        .into_iter()
        .map(|(server, database)| {
            let cluster = fleet.cluster(&manifest.servers[&server]).unwrap();
            let out = cluster
                .command("pg_dump")
                .args(["--schema-only", "-N", "pgfleet", &database])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let dump = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| {
                    !l.starts_with("--")
                        && !l.starts_with("\\restrict")
                        && !l.starts_with("\\unrestrict")
                })
                .collect::<Vec<_>>()
                .join("\n");
            (database, dump)
        })
        .collect()
}

/// What a newcomer runs (README), then every migration down and up again.
fn full_path(name: &str) -> TestContext {
    let ctx = example(name);
    ctx.run(&["dev", "up"]).success();
    let empty = catalog_dumps(&ctx);
    ctx.run(&["migrate", "up", "--all"]).success();
    ctx.run(&["access", "apply"]).success();
    ctx.run(&["dev", "seed"]).success();
    ctx.run(&["access", "check"]).success();
    ctx.run(&["migrate", "status", "--check"]).success();
    let migrated = catalog_dumps(&ctx);
    assert_ne!(migrated, empty, "{name}: the migrations created nothing");

    ctx.run(&["migrate", "down", "--all", "--to", "0"])
        .success();
    for ((database, before), (_, after)) in empty.iter().zip(catalog_dumps(&ctx)) {
        assert!(
            *before == after,
            "{name}/{database}: down did not return to the empty schema:\n{}",
            diff(before, &after)
        );
    }
    ctx.run(&["migrate", "up", "--all"]).success();
    ctx.run(&["access", "apply"]).success();
    for ((database, before), (_, after)) in migrated.iter().zip(catalog_dumps(&ctx)) {
        assert!(
            *before == after,
            "{name}/{database}: up after down differs:\n{}",
            diff(before, &after)
        );
    }
    ctx.run(&["dev", "seed"]).success();
    ctx
}

fn diff(a: &str, b: &str) -> String {
    let only_a: Vec<&str> = a.lines().filter(|l| !b.contains(l)).take(20).collect();
    let only_b: Vec<&str> = b.lines().filter(|l| !a.contains(l)).take(20).collect();
    format!(
        "only before:\n{}\nonly after:\n{}",
        only_a.join("\n"),
        only_b.join("\n")
    )
}

#[test]
fn huleedu_runs_end_to_end() {
    full_path("huleedu");
}

#[test]
fn edulink_runs_end_to_end() {
    let ctx = full_path("edulink");
    // The notification service reads every other schema.
    let run = ctx.run(&[
        "dev",
        "psql",
        "notification",
        "--",
        "-XtAc",
        "select count(*) from user_schema.profiles_userprofile",
    ]);
    run.success();
}

#[test]
fn perses_runs_end_to_end_and_its_queries_use_their_indexes() {
    let ctx = full_path("perses");
    // The runtime role may append to the audit log but never rewrite it.
    ctx.run(&[
        "dev",
        "psql",
        "dashboard",
        "--",
        "-XtAc",
        "select count(*) from audit_log",
    ])
    .success();
    for sql in [
        "update audit_log set action = action",
        "delete from audit_log",
    ] {
        let run = ctx.run(&["dev", "psql", "dashboard", "--", "-XtAc", sql]);
        assert_ne!(run.code, 0, "{sql} was allowed");
        assert!(
            run.stderr.contains("permission denied"),
            "{sql}: {}",
            run.stderr
        );
    }
    let explain_dir: PathBuf = ctx.dir.path().join("explain");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&explain_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "seed 003 lists five queries");
    for file in files {
        let sql = std::fs::read_to_string(&file).unwrap();
        let index = sql
            .lines()
            .find_map(|l| l.strip_prefix("-- expect-index:"))
            .unwrap_or_else(|| panic!("{}: no expect-index line", file.display()))
            .trim()
            .to_owned();
        let query: String = sql
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        let run = ctx
            .run(&[
                "dev",
                "psql",
                "dashboard",
                "--",
                "-XtAc",
                &format!("EXPLAIN {}", query.trim().trim_end_matches(';')),
            ])
            .success();
        assert!(
            run.stdout.contains(&index),
            "{}: the plan does not use {index}:\n{}",
            file.display(),
            run.stdout
        );
    }
    // `pgfleet serve` on the dev cluster: the service is up, migrated, without drift, and its
    // statements (the seeds and the queries above) are counted from pg_stat_statements.
    let daemon = crate::serve::Daemon::start(&ctx, &[]);
    let scrape = daemon.metrics();
    let dashboard = [("service", "dashboard")];
    use crate::serve::sample;
    assert_eq!(sample(&scrape, "pgfleet_up", &dashboard), Some(1.0));
    assert_eq!(
        sample(&scrape, "pgfleet_migrations_pending", &dashboard),
        Some(0.0)
    );
    assert_eq!(
        sample(&scrape, "pgfleet_access_drift", &dashboard),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &scrape,
            "pgfleet_statements_available",
            &[("server", "main")]
        ),
        Some(1.0)
    );
    let calls = sample(&scrape, "pgfleet_statements_calls_total", &dashboard).unwrap();
    assert!(calls > 0.0, "{scrape}");
}
