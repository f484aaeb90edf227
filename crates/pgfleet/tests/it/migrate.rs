//! `pgfleet migrate …` against the shared test cluster, a fresh database per test.

use crate::context::TestContext;
use crate::corpus;
use pgfleet_testkit::{TestCluster, TestDatabase};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A fleet whose `testing` and `production` environments point at the test cluster, with one
/// service per database given.
pub(crate) fn fleet(databases: &[(&str, &TestDatabase)]) -> TestContext {
    let mut services = String::from("[servers.main]\n");
    for (service, db) in databases {
        services.push_str(&format!(
            "\n[services.{service}]\ndatabase = \"{}\"\nmigrations = \"migrations/{service}\"\n",
            db.name
        ));
    }
    TestContext::on_test_cluster("name = \"it\"", &services)
}

fn migrations_dir(ctx: &TestContext, service: &str) -> PathBuf {
    let dir = ctx.dir.path().join("migrations").join(service);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(crate) fn write(ctx: &TestContext, service: &str, file: &str, sql: &str) -> PathBuf {
    let relative = format!("migrations/{service}/{file}");
    ctx.write(&relative, sql);
    ctx.dir.path().join(relative)
}

/// The schema as pg_dump sees it, without pgfleet's own tables (and without the noise that
/// differs between two equal schemas).
pub(crate) fn schema_dump(db: &TestDatabase) -> String {
    pg_dump_schema(
        &db.name,
        &["--no-owner", "--no-privileges", "-N", "pgfleet"],
    )
}

/// `pg_dump --schema-only ARGS DATABASE` on the shared test cluster, without the lines that
/// differ between two dumps of the same schema.
pub(crate) fn pg_dump_schema(database: &str, args: &[&str]) -> String {
    let cluster = TestCluster::shared();
    let out = std::process::Command::new(cluster.bins().tool("pg_dump"))
        .arg("--schema-only")
        .args(args)
        .args([
            "-h",
            cluster.host(),
            "-p",
            &cluster.port().to_string(),
            "-U",
            cluster.superuser(),
        ])
        .arg(database)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            !l.starts_with("--") && !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub(crate) async fn history(db: &TestDatabase, service: &str) -> Vec<(i64, String)> {
    let client = db.client().await;
    let exists: bool = client
        .query_one("SELECT to_regclass('pgfleet.migrations') IS NOT NULL", &[])
        .await
        .unwrap()
        .get(0);
    if !exists {
        return Vec::new();
    }
    client
        .query(
            "SELECT version, state FROM pgfleet.migrations WHERE service = $1 ORDER BY version",
            &[&service],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

pub(crate) fn versions(history: &[(i64, String)]) -> Vec<i64> {
    history.iter().map(|(v, _)| *v).collect()
}

#[tokio::test]
async fn up_down_up_over_a_realistic_corpus_ends_where_it_started() {
    let db = TestCluster::shared().fresh_database().await;
    let ctx = fleet(&[("orders", &db)]);
    corpus::write(&migrations_dir(&ctx, "orders"), 150);
    // The first run hands the schema to the service's owner role: "empty" is after that.
    ctx.run(&["migrate", "up", "orders", "--to", "1"]).success();
    ctx.run(&["migrate", "down", "orders", "--to", "0"])
        .success();
    let empty = schema_dump(&db);

    ctx.run(&["migrate", "up", "orders"]).success();
    let applied = schema_dump(&db);
    assert!(applied.contains("CREATE TABLE public.t145"), "{applied}");
    assert_eq!(
        versions(&history(&db, "orders").await),
        (1..=150).collect::<Vec<_>>()
    );

    ctx.run(&["migrate", "down", "orders", "--to", "0"])
        .success();
    assert_eq!(schema_dump(&db), empty);
    assert!(history(&db, "orders").await.is_empty());

    ctx.run(&["migrate", "up", "orders"]).success();
    assert_eq!(schema_dump(&db), applied);

    // Partial moves: --to and --steps.
    ctx.run(&["migrate", "down", "orders", "--steps", "3"])
        .success();
    assert_eq!(versions(&history(&db, "orders").await).last(), Some(&147));
    ctx.run(&["migrate", "down", "orders", "--to", "100"])
        .success();
    assert_eq!(versions(&history(&db, "orders").await).last(), Some(&100));
    ctx.run(&["migrate", "up", "orders", "--to", "120"])
        .success();
    assert_eq!(versions(&history(&db, "orders").await).last(), Some(&120));
    let json = ctx
        .run(&["migrate", "current", "--format", "json"])
        .success()
        .json();
    assert_eq!(json[0][1], 120);
}

#[tokio::test]
async fn sixteen_concurrent_runners_apply_each_migration_exactly_once() {
    let db = TestCluster::shared().fresh_database().await;
    let ctx = fleet(&[("orders", &db)]);
    write(
        &ctx,
        "orders",
        "001_log.up.sql",
        "CREATE TABLE applied_log (version int NOT NULL);\nINSERT INTO applied_log VALUES (1);\n",
    );
    for v in 2..=40 {
        write(
            &ctx,
            "orders",
            &format!("{v:03}_step.up.sql"),
            &format!("INSERT INTO applied_log VALUES ({v});\nSELECT pg_sleep(0.01);\n"),
        );
    }
    let children: Vec<_> = (0..16)
        .map(|_| {
            ctx.command(&["migrate", "up", "orders", "--lock-wait", "120s"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() || stderr.contains("another runner holds the migration lock"),
            "exit {:?}: {stderr}",
            out.status.code()
        );
    }
    let client = db.client().await;
    let counts = client
        .query(
            "SELECT version, count(*) FROM applied_log GROUP BY version ORDER BY version",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(counts.len(), 40);
    for row in counts {
        assert_eq!(
            row.get::<_, i64>(1),
            1,
            "version {} applied more than once",
            row.get::<_, i32>(0)
        );
    }
    assert_eq!(history(&db, "orders").await.len(), 40);
}

#[tokio::test]
async fn a_runner_killed_at_random_points_recovers_to_the_clean_schema() {
    // The clean reference.
    let clean_db = TestCluster::shared().fresh_database().await;
    let clean = fleet(&[("orders", &clean_db)]);
    corpus::write(&migrations_dir(&clean, "orders"), 60);
    clean.run(&["migrate", "up", "orders"]).success();
    let expected = schema_dump(&clean_db);

    let db = TestCluster::shared().fresh_database().await;
    let ctx = fleet(&[("orders", &db)]);
    corpus::write(&migrations_dir(&ctx, "orders"), 60);
    let mut kills = 0;
    for round in 0..40u64 {
        // A different point in the run each round (a cheap deterministic spread).
        let delay = Duration::from_millis(20 + (round * 37) % 250);
        let mut child = ctx
            .command(&["migrate", "up", "orders"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        let _ = child.wait();
        // History is consistent: applied rows form a prefix; at most one dirty row, the last.
        let rows = history(&db, "orders").await;
        assert_eq!(versions(&rows), (1..=rows.len() as i64).collect::<Vec<_>>());
        if let Some(dirty) = rows.iter().position(|(_, s)| s == "dirty") {
            assert_eq!(dirty, rows.len() - 1, "{rows:?}");
            // The next run refuses and says which file and how far it got …
            let run = ctx.run(&["migrate", "up", "orders"]).failure(1);
            assert!(run.stderr.contains("is dirty"), "{}", run.stderr);
            assert!(
                run.stderr.contains(&format!("{:04}_step_", rows[dirty].0)),
                "{}",
                run.stderr
            );
            assert!(
                run.stderr.contains("migrate repair orders --dirty"),
                "{}",
                run.stderr
            );
            // … and these files are idempotent, so running them again is the repair.
            ctx.run(&["migrate", "repair", "orders", "--dirty", "pending"])
                .success();
        }
        if rows.len() == 60 {
            break;
        }
    }
    assert!(kills > 0, "no run was interrupted: the test proved nothing");
    ctx.run(&["migrate", "up", "orders"]).success();
    assert_eq!(schema_dump(&db), expected);
    assert_eq!(history(&db, "orders").await.len(), 60);
}

#[tokio::test]
async fn create_index_concurrently_runs_while_another_runner_waits_for_the_lock() {
    let db = TestCluster::shared().fresh_database().await;
    let ctx = fleet(&[("orders", &db)]);
    write(
        &ctx,
        "orders",
        "001_table.up.sql",
        "CREATE TABLE big AS SELECT g AS id, md5(g::text) AS tag FROM generate_series(1, 200000) AS g;\n",
    );
    write(
        &ctx,
        "orders",
        "002_index.up.sql",
        "-- pgfleet:no-transaction\nSELECT pg_sleep(1);\nCREATE INDEX CONCURRENTLY big_tag ON big (tag);\n",
    );
    let started = Instant::now();
    let first = ctx
        .command(&["migrate", "up", "orders"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    let second = ctx
        .command(&["migrate", "up", "orders", "--lock-wait", "60s"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    for child in [first, second] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    let client = db.client().await;
    let valid: bool = client
        .query_one(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'big_tag'::regclass",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(valid);
}

#[tokio::test]
async fn a_syntax_error_is_reported_at_its_line_in_the_file() {
    let db = TestCluster::shared().fresh_database().await;
    let ctx = fleet(&[("orders", &db)]);
    let mut sql = String::from("-- a long migration\nCREATE TABLE a (id int);\n");
    while sql.lines().count() < 39 {
        sql.push_str("-- filler comment line; with a semicolon\n");
    }
    sql.push_str("CREATE TABEL b (id int);\n");
    let file = write(&ctx, "orders", "001_long.up.sql", &sql);
    let run = ctx.run(&["migrate", "up", "orders"]).failure(1);
    assert!(
        run.stderr.contains(&format!(
            "{}:40: syntax error at or near \"TABEL\"",
            file.display()
        )),
        "{}",
        run.stderr
    );
    // Nothing of the failed file was kept.
    assert!(history(&db, "orders").await.is_empty());
    assert!(!schema_dump(&db).contains("TABLE public.a"));

    // In a no-transaction file the line is found through the statement's offset.
    let sql = "-- pgfleet:no-transaction\nCREATE TABLE c (id int);\n\n\nCREATE INDEX CONCURRENTLY c_id ON c (idd);\n";
    std::fs::remove_file(&file).unwrap();
    let file = write(&ctx, "orders", "001_long.up.sql", sql);
    let run = ctx.run(&["migrate", "up", "orders"]).failure(1);
    assert!(
        run.stderr.contains(&format!(
            "{}:5: column \"idd\" does not exist",
            file.display()
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("migrate repair orders"),
        "dirty hint missing: {}",
        run.stderr
    );
}

#[tokio::test]
async fn a_failing_down_reports_file_line_and_message_and_keeps_history() {
    let db = TestCluster::shared().fresh_database().await;
    let ctx = fleet(&[("orders", &db)]);
    write(&ctx, "orders", "001_a.up.sql", "CREATE TABLE a (id int);\n");
    write(&ctx, "orders", "001_a.down.sql", "DROP TABLE a;\n");
    write(&ctx, "orders", "002_b.up.sql", "CREATE TABLE b (id int);\n");
    let down = write(
        &ctx,
        "orders",
        "002_b.down.sql",
        "-- undo b\n\nDROP TABLE b_typo;\n",
    );
    ctx.run(&["migrate", "up", "orders"]).success();
    let run = ctx.run(&["migrate", "down", "orders"]).failure(1);
    assert!(
        run.stderr.contains(&format!(
            "{}:3: table \"b_typo\" does not exist",
            down.display()
        )),
        "{}",
        run.stderr
    );
    assert_eq!(versions(&history(&db, "orders").await), [1, 2]);
    assert!(schema_dump(&db).contains("TABLE public.b"));
    // A step without a down file cannot be reverted, and nothing runs.
    std::fs::remove_file(&down).unwrap();
    let run = ctx
        .run(&["migrate", "down", "orders", "--to", "0"])
        .failure(1);
    assert!(run.stderr.contains("has no down file"), "{}", run.stderr);
    assert_eq!(versions(&history(&db, "orders").await), [1, 2]);
}

#[tokio::test]
async fn an_edited_applied_file_stops_the_run_until_repaired() {
    let db = TestCluster::shared().fresh_database().await;
    let ctx = fleet(&[("orders", &db)]);
    let first = write(&ctx, "orders", "001_a.up.sql", "CREATE TABLE a (id int);\n");
    ctx.run(&["migrate", "up", "orders"]).success();
    // CRLF line endings are not an edit.
    std::fs::write(&first, "CREATE TABLE a (id int);\r\n").unwrap();
    ctx.run(&["migrate", "validate"]).success();
    std::fs::write(&first, "CREATE TABLE a (id bigint);\n").unwrap();
    write(&ctx, "orders", "002_b.up.sql", "CREATE TABLE b (id int);\n");
    let run = ctx.run(&["migrate", "up", "orders"]).failure(1);
    assert!(
        run.stderr.contains(&format!(
            "{} was edited after it was applied",
            first.display()
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("recorded checksum"), "{}", run.stderr);
    assert_eq!(
        versions(&history(&db, "orders").await),
        [1],
        "nothing may run"
    );
    ctx.run(&["migrate", "validate"]).failure(1);
    ctx.run(&["migrate", "status", "--check"]).failure(1);

    let repaired = ctx.run(&["migrate", "repair", "orders"]).success();
    assert!(repaired.stdout.contains("checksum"), "{}", repaired.stdout);
    ctx.run(&["migrate", "up", "orders"]).success();
    assert_eq!(versions(&history(&db, "orders").await), [1, 2]);
    ctx.run(&["migrate", "status", "--check"]).success();

    let client = db.client().await;
    let audit: Vec<String> = crate::context::column(
        &client,
        "SELECT command || ':' || result FROM pgfleet.audit_log ORDER BY id",
    )
    .await;
    assert_eq!(
        audit,
        [
            "migrate up:success",
            "migrate repair:success",
            "migrate up:success"
        ]
    );
}

#[tokio::test]
async fn out_of_order_files_are_refused_unless_allowed() {
    let db = TestCluster::shared().fresh_database().await;
    let ctx = fleet(&[("orders", &db)]);
    write(&ctx, "orders", "001_a.up.sql", "CREATE TABLE a (id int);\n");
    write(&ctx, "orders", "003_c.up.sql", "CREATE TABLE c (id int);\n");
    ctx.run(&["migrate", "up", "orders"]).success();
    write(&ctx, "orders", "002_b.up.sql", "CREATE TABLE b (id int);\n");
    let run = ctx.run(&["migrate", "up", "orders"]).failure(1);
    assert!(
        run.stderr.contains("older than the current version 3"),
        "{}",
        run.stderr
    );
    ctx.run(&["migrate", "up", "orders", "--allow-out-of-order"])
        .success();
    assert_eq!(versions(&history(&db, "orders").await), [1, 2, 3]);
}

#[tokio::test]
async fn the_lock_timeout_names_the_holder() {
    let db = TestCluster::shared().fresh_database().await;
    let ctx = fleet(&[("orders", &db)]);
    write(&ctx, "orders", "001_a.up.sql", "CREATE TABLE a (id int);\n");
    let holder = db.client().await;
    holder
        .batch_execute("SET application_name = 'someone-else'")
        .await
        .unwrap();
    let key = pgfleet_migrate::lock::lock_key("it", "orders", &db.name);
    holder
        .query_one("SELECT pg_advisory_lock($1)", &[&key])
        .await
        .unwrap();
    let pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let run = ctx
        .run(&["migrate", "up", "orders", "--lock-wait", "1s"])
        .failure(1);
    assert!(run.stderr.contains(&format!("pid {pid}")), "{}", run.stderr);
    assert!(
        run.stderr.contains("application_name 'someone-else'"),
        "{}",
        run.stderr
    );
    holder
        .query_one("SELECT pg_advisory_unlock($1)", &[&key])
        .await
        .unwrap();
    ctx.run(&["migrate", "up", "orders"]).success();
}

#[tokio::test]
async fn ddl_waits_with_lock_timeout_and_retries_instead_of_queueing() {
    let db = TestCluster::shared().fresh_database().await;
    let ctx = fleet(&[("orders", &db)]);
    write(&ctx, "orders", "001_a.up.sql", "CREATE TABLE a (id int);\n");
    ctx.run(&["migrate", "up", "orders"]).success();
    write(
        &ctx,
        "orders",
        "002_b.up.sql",
        "ALTER TABLE a ADD COLUMN b int;\n",
    );
    // A long application transaction holds a lock on `a`.
    let app = db.client().await;
    app.batch_execute("BEGIN; LOCK TABLE a IN ACCESS SHARE MODE")
        .await
        .unwrap();
    let started = Instant::now();
    let run = ctx.run(&[
        "migrate",
        "up",
        "orders",
        "--lock-timeout",
        "100ms",
        "--lock-retries",
        "2",
    ]);
    let run = run.failure(1);
    assert!(run.stderr.contains("lock timeout"), "{}", run.stderr);
    assert!(started.elapsed() < Duration::from_secs(10));
    // Meanwhile other sessions were never queued behind the migration for long: a reader
    // gets through as soon as the migration backs off.
    app.batch_execute("COMMIT").await.unwrap();
    // With retries, a lock released during the backoff lets the migration through.
    app.batch_execute("BEGIN; LOCK TABLE a IN ACCESS SHARE MODE")
        .await
        .unwrap();
    let child = ctx
        .command(&[
            "migrate",
            "up",
            "orders",
            "--lock-timeout",
            "100ms",
            "--lock-retries",
            "10",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.batch_execute("COMMIT").await.unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(versions(&history(&db, "orders").await), [1, 2]);
}

#[tokio::test]
async fn a_fleet_run_continues_past_a_failing_service_and_reports_each() {
    let cluster = TestCluster::shared();
    let (a, b, c) = (
        cluster.fresh_database().await,
        cluster.fresh_database().await,
        cluster.fresh_database().await,
    );
    let ctx = fleet(&[("alpha", &a), ("beta", &b), ("gamma", &c)]);
    for service in ["alpha", "beta", "gamma"] {
        corpus::write(&migrations_dir(&ctx, service), 12);
    }
    write(&ctx, "beta", "0013_broken.up.sql", "SELECT 1/0;\n");
    let run = ctx.run(&["migrate", "up", "--all", "--jobs", "3", "--format", "json"]);
    let json = run.failure(1).json();
    let outcome = |s: &str| {
        json.as_array()
            .unwrap()
            .iter()
            .find(|o| o["service"] == s)
            .unwrap()
            .clone()
    };
    assert_eq!(outcome("alpha")["ok"], true);
    assert_eq!(outcome("gamma")["ok"], true);
    assert_eq!(outcome("beta")["ok"], false);
    assert_eq!(outcome("beta")["report"]["after"], 12);
    assert!(
        outcome("beta")["error"]
            .as_str()
            .unwrap()
            .contains("division by zero")
    );
    assert_eq!(history(&a, "alpha").await.len(), 12);
    assert_eq!(history(&c, "gamma").await.len(), 12);
    let status = ctx
        .run(&["migrate", "status", "--format", "json"])
        .success()
        .json();
    let pending: Vec<u64> = status
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["pending"].as_u64().unwrap())
        .collect();
    assert_eq!(pending, [0, 1, 0]);
    ctx.run(&["migrate", "up"]).failure(4);
}

#[tokio::test]
async fn dry_run_prints_the_plan_and_touches_nothing() {
    let db = TestCluster::shared().fresh_database().await;
    let ctx = fleet(&[("orders", &db)]);
    write(
        &ctx,
        "orders",
        "001_a.up.sql",
        "CREATE TABLE dry (id int);\n",
    );
    let run = ctx.run(&["migrate", "up", "orders", "--dry-run"]).success();
    assert!(
        run.stdout.contains("CREATE TABLE dry (id int);"),
        "{}",
        run.stdout
    );
    let client = db.client().await;
    let schema: bool = client
        .query_one("SELECT to_regnamespace('pgfleet') IS NOT NULL", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!schema, "--dry-run created pgfleet's schema");
}

#[tokio::test]
async fn production_asks_and_refuses_without_a_terminal_or_yes() {
    let db = TestCluster::shared().fresh_database().await;
    let ctx = fleet(&[("orders", &db)]);
    write(&ctx, "orders", "001_a.up.sql", "CREATE TABLE a (id int);\n");
    let run = ctx
        .run(&["migrate", "up", "orders", "--env", "production"])
        .failure(1);
    assert!(
        run.stderr.contains("orders up 1 a"),
        "the plan is shown: {}",
        run.stderr
    );
    assert!(run.stderr.contains("pass --yes"), "{}", run.stderr);
    assert!(history(&db, "orders").await.is_empty());
    ctx.run(&["migrate", "up", "orders", "--env", "production", "--yes"])
        .success();
    assert_eq!(versions(&history(&db, "orders").await), [1]);
}

#[tokio::test]
async fn baseline_adopts_an_existing_database() {
    let db = TestCluster::shared().fresh_database().await;
    let ctx = fleet(&[("orders", &db)]);
    db.client()
        .await
        .batch_execute("CREATE TABLE legacy (id int)")
        .await
        .unwrap();
    write(
        &ctx,
        "orders",
        "001_legacy.up.sql",
        "CREATE TABLE legacy (id int);\n",
    );
    write(
        &ctx,
        "orders",
        "002_new.up.sql",
        "ALTER TABLE legacy ADD COLUMN name text;\n",
    );
    ctx.run(&["migrate", "baseline", "orders", "--version", "1"])
        .success();
    ctx.run(&["migrate", "up", "orders"]).success();
    assert_eq!(versions(&history(&db, "orders").await), [1, 2]);
    let run = ctx
        .run(&["migrate", "baseline", "orders", "--version", "2"])
        .failure(1);
    assert!(
        run.stderr.contains("already has a history"),
        "{}",
        run.stderr
    );
    let json = ctx
        .run(&["migrate", "history", "--format", "json"])
        .success()
        .json();
    assert_eq!(json[0]["baseline"], true);
    assert_eq!(json[1]["baseline"], false);
}

#[tokio::test]
async fn services_sharing_a_database_keep_separate_histories() {
    let db = TestCluster::shared().fresh_database().await;
    db.client()
        .await
        .batch_execute("CREATE SCHEMA auth_schema; CREATE SCHEMA user_schema;")
        .await
        .unwrap();
    let ctx = TestContext::on_test_cluster(
        "name = \"edu\"",
        &format!(
            r#"
[servers.main]
database = "{db}"
[services.auth]
schema = "auth_schema"
migrations = "migrations/auth"
[services.users]
schema = "user_schema"
migrations = "migrations/users"
"#,
            db = db.name
        ),
    );
    for service in ["auth", "users"] {
        corpus::write(&migrations_dir(&ctx, service), 8);
    }
    ctx.run(&["migrate", "up", "--all", "--jobs", "2"])
        .success();
    // Unqualified names landed in each service's own schema.
    let client = db.client().await;
    let tables: Vec<String> = crate::context::column(
        &client,
        "SELECT schemaname || '.' || tablename FROM pg_tables WHERE tablename = 't1' ORDER BY 1",
    )
    .await;
    assert_eq!(tables, ["auth_schema.t1", "user_schema.t1"]);
    ctx.run(&["migrate", "down", "users", "--to", "0"])
        .success();
    assert_eq!(history(&db, "auth").await.len(), 8);
    assert!(history(&db, "users").await.is_empty());
}

#[test]
fn new_creates_the_next_pair() {
    let ctx = TestContext::new(
        "[fleet]\nname = \"it\"\n[servers.main]\ndev_port = 5999\n[services.orders]\n",
    );
    let run = ctx
        .run(&[
            "migrate",
            "new",
            "orders",
            "Add users table",
            "--sequential",
        ])
        .success();
    assert!(
        run.stdout.contains("001_add_users_table.up.sql"),
        "{}",
        run.stdout
    );
    let run = ctx
        .run(&["migrate", "new", "orders", "second", "--sequential"])
        .success();
    assert!(run.stdout.contains("002_second.down.sql"), "{}", run.stdout);
    // The folder is numbered now: it stays so without the flag.
    let run = ctx.run(&["migrate", "new", "orders", "third"]).success();
    assert!(run.stdout.contains("003_third.up.sql"), "{}", run.stdout);
}
