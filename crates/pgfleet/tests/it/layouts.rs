//! Migration folders in other tools' layouts (`layout = "…"` or detected), read as their own
//! tool reads them, against the shared test cluster; dbmate's folder is also applied by the
//! real dbmate, to the same schema.

use crate::context::TestContext;
use crate::corpus;
use crate::migrate::{history, versions};
use pgfleet_testkit::{TestCluster, TestDatabase};
use std::path::{Path, PathBuf};

/// One service `orders` on `db`, its folder `migrations/orders`, with `layout` when given.
pub(crate) fn fleet(db: &TestDatabase, layout: Option<&str>) -> TestContext {
    let layout = layout.map_or_else(String::new, |l| format!("layout = \"{l}\"\n"));
    TestContext::on_test_cluster(
        "name = \"it\"",
        &format!(
            "[servers.main]\n\n[services.orders]\ndatabase = \"{}\"\nmigrations = \"migrations/orders\"\n{layout}",
            db.name
        ),
    )
}

pub(crate) fn dir(ctx: &TestContext) -> PathBuf {
    let dir = ctx.dir.path().join("migrations/orders");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The schema as pg_dump sees it, without pgfleet's and dbmate's bookkeeping (and without
/// blank lines: the two leave different ones where their own objects were).
fn schema_dump(db: &TestDatabase) -> String {
    let cluster = TestCluster::shared();
    let out = std::process::Command::new(cluster.bins().tool("pg_dump"))
        .args(["--schema-only", "--no-owner", "--no-privileges"])
        .args(["-N", "pgfleet", "-T", "public.schema_migrations"])
        .args(["-h", cluster.host(), "-p", &cluster.port().to_string()])
        .args(["-U", cluster.superuser()])
        .arg(&db.name)
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
            !l.trim().is_empty()
                && !l.starts_with("--")
                && !l.starts_with("\\restrict")
                && !l.starts_with("\\unrestrict")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The pgfleet corpus (`corpus::write`) as (version, up, down) texts.
fn corpus_texts(count: usize) -> Vec<(usize, String, String)> {
    let tmp = tempfile::tempdir().unwrap();
    corpus::write(tmp.path(), count);
    (1..=count)
        .map(|i| {
            let read = |d: &str| {
                std::fs::read_to_string(tmp.path().join(format!("{i:04}_step_{i}.{d}.sql")))
                    .unwrap()
            };
            (i, read("up"), read("down"))
        })
        .collect()
}

#[tokio::test]
async fn a_diesel_corpus_applies_up_then_down_as_far_as_its_down_files_allow() {
    let cluster = TestCluster::shared();
    let (db, reference) = (
        cluster.fresh_database().await,
        cluster.fresh_database().await,
    );
    let ctx = fleet(&db, None);
    let root = dir(&ctx);
    // diesel's own first migration, then 260 steps; every 25th holds CREATE INDEX
    // CONCURRENTLY and says run_in_transaction = false.
    write(
        &root.join("00000000000000_diesel_initial_setup/up.sql"),
        "CREATE OR REPLACE FUNCTION diesel_manage_updated_at(_tbl regclass) RETURNS VOID AS $$\n\
         BEGIN\n    EXECUTE format('CREATE TRIGGER set_updated_at BEFORE UPDATE ON %s\n\
         FOR EACH ROW EXECUTE PROCEDURE diesel_set_updated_at()', _tbl);\nEND;\n$$ LANGUAGE plpgsql;\n",
    );
    write(
        &root.join("00000000000000_diesel_initial_setup/down.sql"),
        "DROP FUNCTION IF EXISTS diesel_manage_updated_at(_tbl regclass);\n",
    );
    let count = 260;
    let mut no_transaction = 0;
    for (i, up, down) in corpus_texts(count) {
        let folder = root.join(format!("2024-01-15-{i:06}_step_{i}"));
        write(&folder.join("up.sql"), &up);
        // Version 150's down fails: `down` stops there, naming it.
        let down = if i == 150 {
            format!("DROP TABLE missing_150;\n{down}")
        } else {
            down
        };
        write(&folder.join("down.sql"), &down);
        if up.contains("CONCURRENTLY") {
            write(
                &folder.join("metadata.toml"),
                "run_in_transaction = false\n",
            );
            no_transaction += 1;
        }
    }
    assert!(no_transaction >= 5, "{no_transaction}");
    write(&root.join(".keep"), "");

    let status = ctx
        .run(&["migrate", "status", "--format", "json"])
        .success()
        .json();
    assert_eq!(status[0]["pending"], count + 1, "{status}");
    assert_eq!(status[0]["layout"]["layout"], "diesel");
    assert_eq!(status[0]["layout"]["set"], false);
    let plan = ctx
        .run(&["migrate", "up", "orders", "--dry-run", "--format", "json"])
        .success()
        .json();
    let steps = plan[0]["report"]["steps"].as_array().unwrap();
    assert_eq!(steps[0]["version"], 0);
    assert_eq!(steps[1]["version"], 20240115000001_i64);
    assert_eq!(
        steps.iter().filter(|s| s["no_transaction"] == true).count(),
        no_transaction
    );

    ctx.run(&["migrate", "up", "orders"]).success();
    let applied = versions(&history(&db, "orders").await);
    assert_eq!(applied.len(), count + 1);
    assert_eq!(applied.last(), Some(&20240115000260));
    assert!(schema_dump(&db).contains("CREATE TABLE public.t253"));

    let down = ctx
        .run(&["migrate", "down", "orders", "--to", "0"])
        .failure(1);
    assert!(
        down.stderr.contains(
            "2024-01-15-000150_step_150/down.sql:1: table \"missing_150\" does not exist"
        ),
        "{}",
        down.stderr
    );
    assert_eq!(
        versions(&history(&db, "orders").await).last(),
        Some(&20240115000150)
    );
    // What is left is the schema at version 150, as a run up to it leaves it.
    let reference_ctx = fleet(&reference, None);
    copy_dir(&root, &dir(&reference_ctx));
    reference_ctx
        .run(&["migrate", "up", "orders", "--to", "20240115000150"])
        .success();
    assert_eq!(schema_dump(&db), schema_dump(&reference));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

#[tokio::test]
async fn a_golang_migrate_corpus_applies_up_and_reverts() {
    let db = TestCluster::shared().fresh_database().await;
    let ctx = fleet(&db, Some("golang-migrate"));
    let root = dir(&ctx);
    let count = 60;
    for (i, up, down) in corpus_texts(count) {
        // golang-migrate has no directive: a file of CONCURRENTLY statements only runs
        // outside a transaction by itself.
        let up = up.replace("-- pgfleet:no-transaction\n", "");
        let down = down.replace("-- pgfleet:no-transaction\n", "");
        // Some files carry their own BEGIN/COMMIT, as golang-migrate users write them.
        let up = if i % 7 == 0 && !up.contains("CONCURRENTLY") {
            format!("BEGIN;\n{up}COMMIT;\n")
        } else {
            up
        };
        write(&root.join(format!("V{i:03}_step_{i}.up.sql")), &up);
        write(&root.join(format!("V{i:03}_step_{i}.down.sql")), &down);
    }
    write(&root.join("README.md"), "migrations of orders\n");
    // The first run hands the schema to the service's owner role: "empty" is after that.
    ctx.run(&["migrate", "up", "orders", "--to", "1"]).success();
    ctx.run(&["migrate", "down", "orders", "--to", "0"])
        .success();
    let empty = schema_dump(&db);
    let status = ctx
        .run(&["migrate", "status", "--format", "json"])
        .success()
        .json();
    assert_eq!(status[0]["pending"], count);
    assert_eq!(status[0]["layout"]["set"], true);
    ctx.run(&["migrate", "up", "orders"]).success();
    assert_eq!(
        versions(&history(&db, "orders").await),
        (1..=count as i64).collect::<Vec<_>>()
    );
    let applied = schema_dump(&db);
    assert!(applied.contains("t49_created_50"), "{applied}");
    ctx.run(&["migrate", "down", "orders", "--to", "0"])
        .success();
    assert_eq!(schema_dump(&db), empty);

    // A file mixing CONCURRENTLY with other statements is refused, naming it.
    write(
        &root.join("V061_mixed.up.sql"),
        "CREATE TABLE mixed(x int);\nCREATE INDEX CONCURRENTLY mixed_x ON mixed(x);\n",
    );
    let refused = ctx.run(&["migrate", "up", "orders"]).failure(1);
    assert!(
        refused
            .stderr
            .contains("V061_mixed.up.sql: line 2: CREATE INDEX CONCURRENTLY"),
        "{}",
        refused.stderr
    );
    assert!(history(&db, "orders").await.is_empty());
}

/// A dbmate folder: tables, functions with semicolons in their bodies, views, data, and
/// `transaction:false` sections (one CONCURRENTLY statement each: dbmate sends a section in
/// one Exec).
pub(crate) fn dbmate_corpus(root: &Path, count: usize) {
    for i in 1..=count {
        let table = (i - 1) / 4 * 4 + 1;
        let (up_marker, up, down) = match i % 4 {
            1 => (
                "",
                format!(
                    "CREATE TABLE d{i} (\n    id bigserial PRIMARY KEY,\n    name text NOT NULL,\n    at timestamptz NOT NULL DEFAULT now()\n);\n"
                ),
                format!("DROP TABLE d{i};\n"),
            ),
            2 => (
                "",
                format!(
                    "CREATE FUNCTION f{i}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n    NEW.at := now(); -- ;\n    RETURN NEW;\nEND;\n$$;\n\
                     CREATE TRIGGER f{i} BEFORE UPDATE ON d{table} FOR EACH ROW EXECUTE FUNCTION f{i}();\n\
                     INSERT INTO d{table} (name) SELECT 'n' || g FROM generate_series(1, 50) g;\n"
                ),
                format!(
                    "DELETE FROM d{table};\nDROP TRIGGER f{i} ON d{table};\nDROP FUNCTION f{i}();\n"
                ),
            ),
            3 => (
                " transaction:false",
                format!("CREATE INDEX CONCURRENTLY d{table}_name_{i} ON d{table} (name);\n"),
                format!("DROP INDEX CONCURRENTLY d{table}_name_{i};\n"),
            ),
            _ => (
                "",
                format!("CREATE VIEW v{i} AS SELECT id, upper(name) AS name FROM d{table};\n"),
                format!("DROP VIEW v{i};\n"),
            ),
        };
        let down_marker = if i % 4 == 3 { " transaction:false" } else { "" };
        write(
            &root.join(format!("2024{i:010}_step_{i}.sql")),
            &format!(
                "-- step {i}\n-- migrate:up{up_marker}\n{up}\n-- migrate:down{down_marker}\n{down}"
            ),
        );
    }
}

/// The dbmate binary: `PGFLEET_TEST_DBMATE` (`.ci/run` installs it from npm). In CI its
/// absence is a failure, not a skip.
pub(crate) fn dbmate_binary() -> Option<PathBuf> {
    match std::env::var_os("PGFLEET_TEST_DBMATE").map(PathBuf::from) {
        Some(path) if path.is_file() => Some(path),
        other => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but no dbmate binary at PGFLEET_TEST_DBMATE ({other:?}); .ci/run installs it"
            );
            None
        }
    }
}

#[tokio::test]
async fn a_dbmate_corpus_applies_up_reverts_and_matches_what_dbmate_itself_makes() {
    let cluster = TestCluster::shared();
    let (db, by_dbmate) = (
        cluster.fresh_database().await,
        cluster.fresh_database().await,
    );
    let ctx = fleet(&db, None);
    let root = dir(&ctx);
    let count = 40;
    dbmate_corpus(&root, count);
    ctx.run(&["migrate", "up", "orders", "--to", "20240000000001"])
        .success();
    ctx.run(&["migrate", "down", "orders", "--to", "0"])
        .success();
    let empty = schema_dump(&db);
    write(&root.join("schema.sql"), "-- dbmate dump --\n");
    let status = ctx
        .run(&["migrate", "status", "--format", "json"])
        .success()
        .json();
    assert_eq!(status[0]["layout"]["layout"], "dbmate", "{status}");
    assert_eq!(status[0]["pending"], count);
    assert_eq!(status[0]["ignored"][0]["warning"], true);
    ctx.run(&["migrate", "up", "orders"]).success();
    assert_eq!(history(&db, "orders").await.len(), count);
    let applied = schema_dump(&db);
    assert!(applied.contains("d37_name_39"), "{applied}");

    ctx.run(&["migrate", "down", "orders", "--to", "0"])
        .success();
    assert_eq!(schema_dump(&db), empty);
    ctx.run(&["migrate", "up", "orders"]).success();
    assert_eq!(schema_dump(&db), applied);

    let Some(dbmate) = dbmate_binary() else {
        eprintln!("SKIPPED the dbmate comparison: set PGFLEET_TEST_DBMATE to dbmate's binary");
        return;
    };
    // dbmate takes the same folder (pgfleet's schema handover aside: the dumps leave owners
    // and privileges out).
    let url = format!(
        "postgres://{}@{}:{}/{}?sslmode=disable",
        cluster.superuser(),
        cluster.host(),
        cluster.port(),
        by_dbmate.name
    );
    let out = std::process::Command::new(dbmate)
        .args(["--url", &url, "--migrations-dir"])
        .arg(&root)
        .args(["--no-dump-schema", "up"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dbmate: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(schema_dump(&by_dbmate), applied);
}

#[tokio::test]
async fn sqlx_names_versions_descriptions_and_no_transaction_read_right() {
    let db = TestCluster::shared().fresh_database().await;
    // Up-only files and a pair: detection would take this folder for pgfleet's.
    let ctx = fleet(&db, Some("sqlx"));
    let root = dir(&ctx);
    write(
        &root.join("20240101000000_create_users.sql"),
        "CREATE TABLE users (id bigserial PRIMARY KEY, email text);\n",
    );
    write(
        &root.join("20240102000000_index_email.sql"),
        "-- no-transaction\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n",
    );
    write(
        &root.join("20240103000000_add_name.up.sql"),
        "ALTER TABLE users ADD COLUMN name text;\n",
    );
    write(
        &root.join("20240103000000_add_name.down.sql"),
        "ALTER TABLE users DROP COLUMN name;\n",
    );
    let plan = ctx
        .run(&["migrate", "up", "orders", "--dry-run", "--format", "json"])
        .success()
        .json();
    let steps: Vec<(i64, String, bool)> = plan[0]["report"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["version"].as_i64().unwrap(),
                s["name"].as_str().unwrap().to_owned(),
                s["no_transaction"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            (20240101000000, "create_users".to_owned(), false),
            (20240102000000, "index_email".to_owned(), true),
            (20240103000000, "add_name".to_owned(), false),
        ]
    );
    let status = ctx
        .run(&["migrate", "status", "--format", "json"])
        .success()
        .json();
    assert_eq!(status[0]["layout"]["layout"], "sqlx", "{status}");
    ctx.run(&["migrate", "up", "orders"]).success();
    ctx.run(&["migrate", "down", "orders"]).success();
    // An up-only sqlx step is irreversible.
    let down = ctx.run(&["migrate", "down", "orders"]).failure(1);
    assert!(down.stderr.contains("20240102000000"), "{}", down.stderr);
    // sqlx refuses a file whose prefix is not a number; so does pgfleet.
    write(&root.join("init_schema.sql"), "SELECT 1;\n");
    let refused = ctx.run(&["migrate", "up", "orders"]).failure(1);
    assert!(
        refused
            .stderr
            .contains("init_schema.sql: `init` is not a version number"),
        "{}",
        refused.stderr
    );
}

#[tokio::test]
async fn flyway_versions_undo_and_repeatables_read_right_and_repeatables_rerun_when_changed() {
    let db = TestCluster::shared().fresh_database().await;
    let ctx = fleet(&db, None);
    let root = dir(&ctx);
    write(
        &root.join("V1__create_users.sql"),
        "CREATE TABLE users (id bigserial PRIMARY KEY, email text);\n",
    );
    write(
        &root.join("V1_1__index_email.sql"),
        "CREATE INDEX CONCURRENTLY users_email ON users (email);\n",
    );
    write(
        &root.join("U1_1__index_email.sql"),
        "DROP INDEX CONCURRENTLY users_email;\n",
    );
    write(
        &root.join("V2.0.1__add_name.sql"),
        "ALTER TABLE users ADD COLUMN name text;\n",
    );
    write(
        &root.join("U2.0.1__add_name.sql"),
        "ALTER TABLE users DROP COLUMN name;\n",
    );
    let plan = ctx
        .run(&["migrate", "up", "orders", "--dry-run", "--format", "json"])
        .success()
        .json();
    let steps: Vec<(i64, String, bool)> = plan[0]["report"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["version"].as_i64().unwrap(),
                s["name"].as_str().unwrap().to_owned(),
                s["no_transaction"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            (1_0000_0000_0000, "create_users".to_owned(), false),
            (1_0001_0000_0000, "index_email".to_owned(), true),
            (2_0000_0001_0000, "add_name".to_owned(), false),
        ]
    );
    ctx.run(&["migrate", "up", "orders"]).success();
    // The undo files are the downs: V1 has none, so going below it is refused.
    ctx.run(&["migrate", "down", "orders", "--to", "0"])
        .failure(1);
    ctx.run(&["migrate", "down", "orders", "--to", "1000000000000"])
        .success();
    assert_eq!(versions(&history(&db, "orders").await), [1_0000_0000_0000]);
    ctx.run(&["migrate", "up", "orders"]).success();

    write(
        &root.join("R__users_view.sql"),
        "CREATE OR REPLACE VIEW users_view AS SELECT id FROM users;\n",
    );
    let status = ctx
        .run(&["migrate", "status", "--format", "json"])
        .success()
        .json();
    assert_eq!(
        status[0]["repeatables"][0]["name"], "users_view",
        "{status}"
    );
    assert_eq!(status[0]["pending"], 0);
    // Applied after the versioned steps, then again only when it changes.
    let applied_repeatables = |run: serde_json::Value| run[0]["report"]["repeatables"].clone();
    let run = ctx
        .run(&["migrate", "up", "orders", "--format", "json"])
        .success()
        .json();
    assert_eq!(applied_repeatables(run), serde_json::json!(["users_view"]));
    let run = ctx
        .run(&["migrate", "up", "orders", "--format", "json"])
        .success()
        .json();
    assert!(applied_repeatables(run).is_null(), "unchanged: not run");
    write(
        &root.join("R__users_view.sql"),
        "CREATE OR REPLACE VIEW users_view AS SELECT id, email FROM users;\n",
    );
    let plan = ctx
        .run(&["migrate", "up", "orders", "--dry-run", "--format", "json"])
        .success()
        .json();
    assert_eq!(applied_repeatables(plan), serde_json::json!(["users_view"]));
    ctx.run(&["migrate", "up", "orders"]).success();
    let columns: Vec<String> = crate::context::column(
        &db.client().await,
        "SELECT column_name::text FROM information_schema.columns WHERE table_name = 'users_view' ORDER BY 1",
    )
    .await;
    assert_eq!(columns, ["email", "id"]);
    let recorded: Vec<String> = crate::context::column(
        &db.client().await,
        "SELECT name || ':' || (SELECT count(*) FROM pgfleet.audit_log WHERE detail->>'repeatable' = name)
           FROM pgfleet.repeatables WHERE service = 'orders'",
    )
    .await;
    assert_eq!(recorded, ["users_view:2"], "one row, two audited runs");
    // A version the mapping cannot carry is refused, naming the file.
    std::fs::remove_file(root.join("R__users_view.sql")).unwrap();
    write(&root.join("V20240115093000__stamp.sql"), "SELECT 1;\n");
    let refused = ctx.run(&["migrate", "up", "orders"]).failure(1);
    assert!(
        refused
            .stderr
            .contains("V20240115093000__stamp.sql: version `20240115093000`"),
        "{}",
        refused.stderr
    );
}

#[tokio::test]
async fn a_diesel_folder_read_as_pgfleet_is_an_error_in_status_up_and_check() {
    let db = TestCluster::shared().fresh_database().await;
    let ctx = fleet(&db, Some("pgfleet"));
    let root = dir(&ctx);
    write(
        &root.join("2024-01-15-093000_create_users/up.sql"),
        "CREATE TABLE users (id int);\n",
    );
    write(
        &root.join("2024-01-15-093000_create_users/down.sql"),
        "DROP TABLE users;\n",
    );
    for args in [
        &["migrate", "status"][..],
        &["migrate", "status", "--check"],
        &["migrate", "up", "orders"],
    ] {
        let run = ctx.run(args).failure(1);
        let all = run.all_output();
        assert!(
            all.contains("read in the pgfleet layout (set in the manifest)")
                && all.contains("hint: it looks like the diesel layout")
                && all.contains("layout = \"diesel\""),
            "{args:?}:\n{all}"
        );
    }
    assert!(history(&db, "orders").await.is_empty());
}

#[tokio::test]
async fn status_shows_the_detected_layout_and_what_it_ignores() {
    let db = TestCluster::shared().fresh_database().await;
    let ctx = fleet(&db, None);
    let root = dir(&ctx);
    write(
        &root.join("00000000000000_diesel_initial_setup/up.sql"),
        "SELECT 1;\n",
    );
    write(
        &root.join("2024-01-15-093000_create_users/up.sql"),
        "CREATE TABLE users (id int);\n",
    );
    write(
        &root.join("2024-01-15-093000_create_users/down.sql"),
        "DROP TABLE users;\n",
    );
    write(&root.join("README.md"), "orders' migrations\n");
    write(&root.join("schema.sql"), "CREATE TABLE users (id int);\n");
    let table = ctx.run_filtered(&["migrate", "status", "orders"]);
    insta::assert_snapshot!("layouts_status_detected", table.snapshot());
    let json = ctx.run_filtered(&["migrate", "status", "orders", "--format", "json"]);
    insta::assert_snapshot!("layouts_status_detected_json", json.snapshot());
    assert_eq!(table.code, 0);
}

#[tokio::test]
async fn migrate_new_keeps_golang_migrates_prefix_and_refuses_where_the_tool_writes_its_own() {
    let db = TestCluster::shared().fresh_database().await;
    let ctx = fleet(&db, Some("golang-migrate"));
    let root = dir(&ctx);
    write(&root.join("V001_init.up.sql"), "CREATE TABLE t (x int);\n");
    let created = ctx
        .run(&["migrate", "new", "orders", "add index"])
        .success();
    assert!(
        created.stdout.contains("V002_add_index.up.sql")
            && created.stdout.contains("V002_add_index.down.sql"),
        "{}",
        created.stdout
    );
    let diesel = fleet(&db, Some("diesel"));
    let refused = diesel.run(&["migrate", "new", "orders", "x"]).failure(4);
    assert!(
        refused.stderr.contains("diesel layout")
            && refused.stderr.contains("diesel migration generate"),
        "{}",
        refused.stderr
    );
}
