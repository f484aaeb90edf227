//! Issue 11 (hardening), the migration items: memory on a large file (18), integrity of
//! applied steps' down files, names and byte order marks (20). Each test performs the attack
//! or the fault against the shared test cluster.

use crate::context::TestContext;
use crate::migrate::{fleet, history, versions, write};
use pgfleet_testkit::TestCluster;
use std::process::Stdio;

fn pair(ctx: &TestContext, service: &str, version: u32, name: &str) {
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
    let recorded: Vec<Option<String>> = client
        .query(
            "SELECT down_checksum FROM pgfleet.migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
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
