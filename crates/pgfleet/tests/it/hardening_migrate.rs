//! Issue 11 (hardening), the migration items: reports of partial runs and of unreachable or
//! unreadable services (16), memory on a large file (18), integrity of applied steps' down files,
//! names and byte order marks (20), and the place of invalid bytes (21). Each test performs
//! the attack or the fault against the shared test cluster.

use crate::context::{TestContext, free_port};
use crate::migrate::{fleet, history, versions, write};
use pgfleet_testkit::{TestCluster, TestDatabase};
use std::process::Stdio;

async fn audit_details(db: &TestDatabase) -> Vec<(String, serde_json::Value)> {
    db.client()
        .await
        .query(
            "SELECT command || ':' || result, coalesce(detail::text, 'null') FROM pgfleet.audit_log ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.get(0),
                serde_json::from_str(r.get::<_, &str>(1)).expect("detail is JSON"),
            )
        })
        .collect()
}

fn step_versions(steps: &serde_json::Value) -> Vec<i64> {
    steps
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["version"].as_i64().expect("version"))
        .collect()
}

/// The row of `service` in a table report, as its cells. Through a pipe a table is plain
/// columns: cells are what two or more spaces separate.
pub(crate) fn table_row(stdout: &str, service: &str) -> Vec<String> {
    let cells = |line: &str| -> Vec<String> {
        line.split("  ")
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .collect()
    };
    stdout
        .lines()
        .map(cells)
        .find(|cells| cells.first().is_some_and(|c| c == service))
        .unwrap_or_else(|| panic!("no row for {service}:\n{stdout}"))
}

pub(crate) fn pair(ctx: &TestContext, service: &str, version: u32, name: &str) {
    write(
        ctx,
        service,
        &format!("{version:03}_{name}.up.sql"),
        &format!("CREATE TABLE {name} (id int);\n"),
    );
    write(
        ctx,
        service,
        &format!("{version:03}_{name}.down.sql"),
        &format!("DROP TABLE {name};\n"),
    );
}

#[tokio::test]
async fn a_run_that_fails_part_way_reports_the_steps_it_took_and_the_one_it_failed() {
    let db = TestCluster::shared().fresh_database().await;
    let ctx = fleet(&[("orders", &db)]);
    for (v, name) in [(1, "t1"), (2, "t2"), (3, "t3"), (4, "t4")] {
        pair(&ctx, "orders", v, name);
    }
    ctx.run(&["migrate", "up", "orders"]).success();
    pair(&ctx, "orders", 5, "t5");
    pair(&ctx, "orders", 6, "t6");
    write(&ctx, "orders", "007_broken.up.sql", "SELECT 1/0;\n");

    let json = ctx
        .run(&["migrate", "up", "orders", "--format", "json"])
        .failure(1)
        .json();
    let report = &json[0]["report"];
    assert_eq!(step_versions(&report["steps"]), [5, 6], "{json}");
    assert_eq!(report["failed"]["version"], 7, "{json}");
    assert_eq!(report["failed"]["direction"], "up", "{json}");
    assert_eq!(
        (report["before"].clone(), report["after"].clone()),
        (4.into(), 6.into())
    );
    assert_eq!(versions(&history(&db, "orders").await), [1, 2, 3, 4, 5, 6]);
    let (outcome, detail) = audit_details(&db).await.pop().expect("an audit row");
    assert_eq!(outcome, "migrate up:failed");
    assert_eq!(step_versions(&detail["steps"]), [5, 6], "{detail}");
    assert_eq!(detail["failed"]["version"], 7, "{detail}");
    assert!(
        detail["error"]
            .as_str()
            .is_some_and(|e| e.contains("division by zero")),
        "{detail}"
    );

    // Down through a failing down file: the steps reverted before it are reported.
    std::fs::remove_file(ctx.dir.path().join("migrations/orders/007_broken.up.sql")).unwrap();
    write(
        &ctx,
        "orders",
        "002_t2.down.sql",
        "DROP TABLE no_such_table;\n",
    );
    // (Accept the edited down file first: it is an edit of an applied step.)
    ctx.run(&["migrate", "repair", "orders"]).success();
    let run = ctx
        .run(&["migrate", "down", "orders", "--to", "0"])
        .failure(1);
    let row = table_row(&run.stdout, "orders");
    assert_eq!(
        row[1..4],
        ["6", "2", "4"],
        "before, after, steps:\n{}",
        run.stdout
    );
    assert!(row[4].contains("failed at down 2 t2"), "{}", run.stdout);
    assert!(
        run.stderr.contains("002_t2.down.sql:1"),
        "the error names the file and line:\n{}",
        run.stderr
    );
    assert_eq!(versions(&history(&db, "orders").await), [1, 2]);
    let (outcome, detail) = audit_details(&db).await.pop().expect("an audit row");
    assert_eq!(outcome, "migrate down:failed");
    assert_eq!(step_versions(&detail["steps"]), [6, 5, 4, 3], "{detail}");
    assert_eq!(detail["failed"]["version"], 2, "{detail}");
}

#[tokio::test]
async fn status_of_unreachable_databases_says_so_and_fails() {
    let cluster = TestCluster::shared();
    let (a, b) = (
        cluster.fresh_database().await,
        cluster.fresh_database().await,
    );
    let mut ctx = fleet(&[("alpha", &a), ("beta", &b)]);
    pair(&ctx, "alpha", 1, "t1");
    pair(&ctx, "beta", 1, "t1");
    pair(&ctx, "beta", 2, "t2");

    // Nobody listens on the port: every database is unreachable.
    ctx.var("IT_PORT", &free_port().to_string());
    for args in [
        &["migrate", "status"][..],
        &["migrate", "status", "--check"],
        &["migrate", "validate"],
    ] {
        let run = ctx.run(args).failure(1);
        for service in ["alpha", "beta"] {
            let row = table_row(&run.stdout, service);
            assert_eq!(
                row[1..3],
                ["?", "?"],
                "current and pending are unknown:\n{}",
                run.stdout
            );
            assert!(
                row.last().unwrap().contains("unreachable"),
                "{}",
                run.stdout
            );
        }
    }
    let run = ctx
        .run(&["migrate", "status", "--format", "json"])
        .failure(1);
    assert!(
        run.stderr.contains("2 service(s) could not be reached"),
        "{}",
        run.stderr
    );
    for status in run.json().as_array().unwrap() {
        assert_eq!(status["reachable"], false, "{status}");
        assert_eq!(status["ok"], false, "{status}");
        assert!(status["pending"].is_null(), "never `pending 0`: {status}");
        let problem = status["problems"][0].as_str().unwrap();
        assert!(problem.starts_with("unreachable: "), "{problem}");
        assert!(problem.contains("connect"), "with the reason: {problem}");
    }
}

#[tokio::test]
async fn one_unreachable_service_fails_status_and_the_others_are_shown() {
    let cluster = TestCluster::shared();
    let reachable = cluster.fresh_database().await;
    let ctx = TestContext::on_test_cluster(
        "name = \"it\"",
        &format!(
            "[servers.main]\n[servers.gone.environments.testing]\nport = {}\n\n\
             [services.alpha]\nserver = \"main\"\ndatabase = \"{}\"\nmigrations = \"migrations/alpha\"\n\n\
             [services.beta]\nserver = \"gone\"\ndatabase = \"beta\"\nmigrations = \"migrations/beta\"\n",
            free_port(),
            reachable.name
        ),
    );
    pair(&ctx, "alpha", 1, "t1");
    let json = ctx
        .run(&["migrate", "status", "--format", "json"])
        .failure(1)
        .json();
    let by = |s: &str| {
        json.as_array()
            .unwrap()
            .iter()
            .find(|o| o["service"] == s)
            .unwrap()
            .clone()
    };
    assert_eq!(by("alpha")["reachable"], true);
    assert_eq!(by("alpha")["pending"], 1);
    assert_eq!(by("beta")["reachable"], false);
}

#[tokio::test]
async fn unreadable_files_are_all_listed_beside_the_current_version() {
    let db = TestCluster::shared().fresh_database().await;
    let ctx = fleet(&[("orders", &db)]);
    pair(&ctx, "orders", 1, "t1");
    pair(&ctx, "orders", 2, "t2");
    ctx.run(&["migrate", "up", "orders"]).success();
    // Two pending files that cannot be read, and a misnamed one.
    let dir = ctx.dir.path().join("migrations/orders");
    std::fs::write(
        dir.join("003_latin1.up.sql"),
        b"-- caf\xc3\xa9\nINSERT INTO t1 VALUES (1);\nCOMMENT ON TABLE t1 IS 'caf\xe9';\n",
    )
    .unwrap();
    std::fs::write(dir.join("004_nul.up.sql"), b"SELECT 1;\n\0").unwrap();
    write(&ctx, "orders", "5_no_direction.sql", "SELECT 1;\n");

    let status = ctx
        .run(&["migrate", "status", "--format", "json"])
        .success()
        .json();
    let status = &status[0];
    assert_eq!(status["current"], 2, "{status}");
    assert_eq!(status["reachable"], true, "{status}");
    assert_eq!(status["pending"], 2, "{status}");
    let problems: Vec<&str> = status["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    let latin1 = format!(
        "{}:3:28: invalid UTF-8 (byte 0xe9)",
        dir.join("003_latin1.up.sql").display()
    );
    let nul = format!("{}:2:1: a NUL byte", dir.join("004_nul.up.sql").display());
    assert!(
        problems.iter().any(|p| p.starts_with(&latin1)),
        "{problems:?}"
    );
    assert!(problems.iter().any(|p| p.starts_with(&nul)), "{problems:?}");
    assert!(
        problems.iter().any(|p| p.contains("5_no_direction.sql")),
        "{problems:?}"
    );
    assert!(
        !problems.iter().any(|p| p.contains("missing")),
        "{problems:?}"
    );
    ctx.run(&["migrate", "status", "--check"]).failure(1);

    // A run refuses with every problem, each at its place, and runs nothing.
    let run = ctx.run(&["migrate", "up", "orders"]).failure(1);
    assert!(run.stderr.contains(&latin1), "{}", run.stderr);
    assert!(run.stderr.contains(&nul), "{}", run.stderr);
    assert!(
        run.stderr.contains("hint: save the file as UTF-8"),
        "{}",
        run.stderr
    );
    assert_eq!(versions(&history(&db, "orders").await), [1, 2]);
}

#[tokio::test]
async fn an_edited_or_added_down_of_an_applied_step_is_refused_until_repaired() {
    let db = TestCluster::shared().fresh_database().await;
    let ctx = fleet(&[("orders", &db)]);
    pair(&ctx, "orders", 1, "t1");
    write(
        &ctx,
        "orders",
        "002_t2.up.sql",
        "CREATE TABLE t2 (id int);\n",
    );
    ctx.run(&["migrate", "up", "orders"]).success();
    let sentinel = "CREATE TABLE keep (id int);\n";
    write(&ctx, "orders", "003_keep.up.sql", sentinel);
    ctx.run(&["migrate", "up", "orders"]).success();

    // The attack: an applied step's down replaced by something destructive.
    let down = write(
        &ctx,
        "orders",
        "001_t1.down.sql",
        "DROP SCHEMA public CASCADE;\n",
    );
    let run = ctx.run(&["migrate", "validate"]).failure(1);
    assert!(
        run.stdout.contains(&format!(
            "{} was edited after its step was applied",
            down.display()
        )),
        "{}",
        run.stdout
    );
    ctx.run(&["migrate", "status", "--check"]).failure(1);
    let run = ctx
        .run(&["migrate", "down", "orders", "--to", "0"])
        .failure(1);
    assert!(
        run.stderr.contains(&format!(
            "{} was edited after it was applied",
            down.display()
        )),
        "{}",
        run.stderr
    );
    write(
        &ctx,
        "orders",
        "004_t4.up.sql",
        "CREATE TABLE t4 (id int);\n",
    );
    ctx.run(&["migrate", "up", "orders"]).failure(1);
    assert_eq!(
        versions(&history(&db, "orders").await),
        [1, 2, 3],
        "nothing ran"
    );
    let keep: i64 = db
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename IN ('t1', 't2', 'keep')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(keep, 3);

    // A down file that appears for a step applied without one is an edit too.
    let added = write(
        &ctx,
        "orders",
        "002_t2.down.sql",
        "DROP SCHEMA public CASCADE;\n",
    );
    write(&ctx, "orders", "001_t1.down.sql", "DROP TABLE t1;\n");
    let run = ctx.run(&["migrate", "validate"]).failure(1);
    assert!(
        run.stdout.contains(&format!(
            "{} was added after its step was applied",
            added.display()
        )),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("001_t1.down.sql"),
        "restored: {}",
        run.stdout
    );

    // repair accepts it (audited), and then it counts as the recorded down.
    write(&ctx, "orders", "002_t2.down.sql", "DROP TABLE t2;\n");
    let repaired = ctx.run(&["migrate", "repair", "orders"]).success();
    assert!(
        repaired.stdout.contains("002_t2.down.sql: down checksum"),
        "{}",
        repaired.stdout
    );
    ctx.run(&["migrate", "validate"]).success();
    ctx.run(&["migrate", "up", "orders"]).success();
    assert_eq!(versions(&history(&db, "orders").await), [1, 2, 3, 4]);
}

#[tokio::test]
async fn a_renamed_applied_file_is_refused_until_repaired() {
    let db = TestCluster::shared().fresh_database().await;
    let ctx = fleet(&[("orders", &db)]);
    pair(&ctx, "orders", 1, "users");
    ctx.run(&["migrate", "up", "orders"]).success();
    let dir = ctx.dir.path().join("migrations/orders");
    for direction in ["up", "down"] {
        std::fs::rename(
            dir.join(format!("001_users.{direction}.sql")),
            dir.join(format!("001_accounts.{direction}.sql")),
        )
        .unwrap();
    }
    let renamed = dir.join("001_accounts.up.sql");
    let run = ctx.run(&["migrate", "validate"]).failure(1);
    assert!(
        run.stdout.contains(&format!(
            "{} was renamed after it was applied as version 1 `users`",
            renamed.display()
        )),
        "{}",
        run.stdout
    );
    write(
        &ctx,
        "orders",
        "002_t2.up.sql",
        "CREATE TABLE t2 (id int);\n",
    );
    let run = ctx.run(&["migrate", "up", "orders"]).failure(1);
    assert!(run.stderr.contains("was renamed"), "{}", run.stderr);
    ctx.run(&["migrate", "down", "orders"]).failure(1);
    assert_eq!(versions(&history(&db, "orders").await), [1]);

    let repaired = ctx.run(&["migrate", "repair", "orders"]).success();
    assert!(
        repaired
            .stdout
            .contains("name `accounts` accepted (was `users`)"),
        "{}",
        repaired.stdout
    );
    ctx.run(&["migrate", "up", "orders"]).success();
    let name: String = db
        .client()
        .await
        .query_one("SELECT name FROM pgfleet.migrations WHERE version = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(name, "accounts");
}

#[tokio::test]
async fn a_byte_order_mark_is_neither_sent_nor_an_edit() {
    let db = TestCluster::shared().fresh_database().await;
    let ctx = fleet(&[("orders", &db)]);
    // The server would reject a BOM before CREATE: applying proves it is not sent.
    let up = write(
        &ctx,
        "orders",
        "001_a.up.sql",
        "\u{feff}CREATE TABLE a (id int);\n",
    );
    let down = write(&ctx, "orders", "001_a.down.sql", "\u{feff}DROP TABLE a;\n");
    ctx.run(&["migrate", "up", "orders"]).success();
    // Removing the BOMs is no edit, and neither is adding one to another file.
    std::fs::write(&up, "CREATE TABLE a (id int);\n").unwrap();
    std::fs::write(&down, "DROP TABLE a;\n").unwrap();
    ctx.run(&["migrate", "validate"]).success();
    write(&ctx, "orders", "002_b.down.sql", "DROP TABLE b;\n");
    write(&ctx, "orders", "002_b.up.sql", "CREATE TABLE b (id int);\n");
    ctx.run(&["migrate", "up", "orders"]).success();
    write(
        &ctx,
        "orders",
        "002_b.up.sql",
        "\u{feff}CREATE TABLE b (id int);\r\n",
    );
    ctx.run(&["migrate", "validate"]).success();
    ctx.run(&["migrate", "down", "orders", "--to", "0"])
        .success();
    assert!(history(&db, "orders").await.is_empty());

    // A row an earlier pgfleet wrote for a file with a BOM hashed the BOM: still no edit.
    ctx.run(&["migrate", "up", "orders"]).success();
    let client = db.client().await;
    let legacy = {
        use std::fmt::Write as _;
        let digest = sha256(b"\xef\xbb\xbfCREATE TABLE b (id int);\n");
        digest.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    };
    client
        .execute(
            "UPDATE pgfleet.migrations SET checksum = $1 WHERE version = 2",
            &[&legacy],
        )
        .await
        .unwrap();
    ctx.run(&["migrate", "validate"]).success();
    write(
        &ctx,
        "orders",
        "002_b.up.sql",
        "CREATE TABLE b (id bigint);\n",
    );
    ctx.run(&["migrate", "validate"]).failure(1);
}

/// SHA-256 through the server (the tests have no hashing crate of their own).
fn sha256(bytes: &[u8]) -> Vec<u8> {
    let cluster = TestCluster::shared();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let out = std::process::Command::new(cluster.bins().tool("psql"))
        .args([
            "-X",
            "-A",
            "-t",
            "-h",
            cluster.host(),
            "-p",
            &cluster.port().to_string(),
        ])
        .args(["-U", cluster.superuser(), "-d", "postgres", "-c"])
        .arg(format!("SELECT encode(sha256('\\x{hex}'::bytea), 'hex')"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    (0..64)
        .step_by(2)
        .map(|i| u8::from_str_radix(&text.trim()[i..i + 2], 16).unwrap())
        .collect()
}

#[tokio::test]
async fn a_history_table_from_before_down_checksums_is_upgraded_in_place() {
    let db = TestCluster::shared().fresh_database().await;
    let ctx = fleet(&[("orders", &db)]);
    pair(&ctx, "orders", 1, "t1");
    ctx.run(&["migrate", "up", "orders"]).success();
    // The tables as an earlier pgfleet created them: no down_checksum column.
    let client = db.client().await;
    client
        .batch_execute("ALTER TABLE pgfleet.migrations DROP COLUMN down_checksum")
        .await
        .unwrap();
    let has_column = || async {
        db.client()
            .await
            .query_one(
                "SELECT count(*) FROM pg_attribute WHERE attrelid = 'pgfleet.migrations'::regclass
                   AND attname = 'down_checksum' AND NOT attisdropped",
                &[],
            )
            .await
            .unwrap()
            .get::<_, i64>(0)
            == 1
    };
    // Reading touches nothing, and an old row is "not recorded": not an edit.
    write(
        &ctx,
        "orders",
        "001_t1.down.sql",
        "DROP TABLE t1 CASCADE;\n",
    );
    ctx.run(&["migrate", "validate"]).success();
    ctx.run(&["migrate", "status"]).success();
    assert!(!has_column().await, "status must not alter the table");

    pair(&ctx, "orders", 2, "t2");
    ctx.run(&["migrate", "up", "orders"]).success();
    assert!(has_column().await, "a run upgrades the table");
    let recorded: Vec<Option<String>> = crate::context::column(
        &client,
        "SELECT down_checksum FROM pgfleet.migrations ORDER BY version",
    )
    .await;
    assert!(
        recorded[0].is_none() && recorded[1].is_some(),
        "{recorded:?}"
    );
    // repair records the old row's down file; from then on an edit of it is seen.
    let repaired = ctx.run(&["migrate", "repair", "orders"]).success();
    assert!(
        repaired.stdout.contains("001_t1.down.sql: down checksum"),
        "{}",
        repaired.stdout
    );
    write(
        &ctx,
        "orders",
        "001_t1.down.sql",
        "DROP SCHEMA public CASCADE;\n",
    );
    ctx.run(&["migrate", "validate"]).failure(1);
}

/// Peak resident memory of a child, in bytes, from `/usr/bin/time` (GNU time: %M is kB).
fn peak_rss(command: std::process::Command) -> (crate::context::Run, u64) {
    let report = tempfile::NamedTempFile::new().unwrap();
    let mut timed = std::process::Command::new("/usr/bin/time");
    timed
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(report.path())
        .arg(command.get_program())
        .args(command.get_args())
        .env_clear();
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            timed.env(key, value);
        }
    }
    if let Some(dir) = command.get_current_dir() {
        timed.current_dir(dir);
    }
    let out = timed.stdin(Stdio::null()).output().unwrap();
    let kb: u64 = std::fs::read_to_string(report.path())
        .unwrap()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .expect("GNU time's report");
    (
        crate::context::Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        kb * 1024,
    )
}

#[tokio::test]
async fn a_large_migration_runs_in_a_small_multiple_of_its_size() {
    if !std::path::Path::new("/usr/bin/time").exists() {
        panic!("this test measures memory with GNU time: apt-get install time");
    }
    let db = TestCluster::shared().fresh_database().await;
    let ctx = fleet(&[("big", &db)]);
    // 20 MB of single-row INSERTs (with semicolons in strings), as a data migration is.
    let mut sql = String::from("CREATE TABLE big (id bigint PRIMARY KEY, note text);\n");
    let mut rows = 0;
    while sql.len() < 20 << 20 {
        rows += 1;
        sql.push_str(&format!(
            "INSERT INTO big (id, note) VALUES ({rows}, 'row {rows}; a note of some length to be realistic');\n"
        ));
    }
    write(&ctx, "big", "001_big.up.sql", &sql);
    let size = sql.len() as u64;
    drop(sql);
    let (run, peak) = peak_rss(ctx.command(&["migrate", "up", "big"]));
    let run = run.success();
    let count: i64 = db
        .client()
        .await
        .query_one("SELECT count(*) FROM big", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, rows, "{}", run.all_output());
    // Before the fix: about 90 times the file. Now: the file once, plus the process itself.
    assert!(
        peak < 4 * size + (64 << 20),
        "peak RSS {} MB for a {} MB file",
        peak >> 20,
        size >> 20
    );
}
