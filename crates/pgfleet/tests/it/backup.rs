//! `pgfleet backup create/list/status` against the shared test cluster: what the catalog says
//! is checked against the database and the files on disk, failed parts and killed runs are
//! never listed as usable.

use crate::context::{TestContext, column};
use crate::migrate::write;
use nix::sys::signal::Signal;
use pgfleet_testkit::{TestCluster, TestDatabase};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A fleet with `<p>_orders` in its own database and `<p>_users` and `<p>_auth` by schema in a
/// shared one, each migrated (`<p>` keeps the roles of parallel tests apart).
pub(crate) async fn seeded_fleet(prefix: &str) -> (TestContext, TestDatabase, TestDatabase) {
    let cluster = TestCluster::shared();
    let (orders_db, shared_db) = (
        cluster.fresh_database().await,
        cluster.fresh_database().await,
    );
    shared_db
        .client()
        .await
        .batch_execute(&format!(
            "CREATE SCHEMA {prefix}_users; CREATE SCHEMA {prefix}_auth; CREATE EXTENSION citext;"
        ))
        .await
        .unwrap();
    let ctx = TestContext::on_test_cluster(
        "name = \"bk\"",
        &format!(
            r#"
[servers.main]
database = "{shared}"

[services.{prefix}_orders]
database = "{orders}"
migrations = "migrations/{prefix}_orders"

[services.{prefix}_users]
schema = "{prefix}_users"
migrations = "migrations/{prefix}_users"

[services.{prefix}_auth]
schema = "{prefix}_auth"
migrations = "migrations/{prefix}_auth"
"#,
            shared = shared_db.name,
            orders = orders_db.name,
        ),
    );
    let orders = format!("{prefix}_orders");
    write(
        &ctx,
        &orders,
        "001_items.up.sql",
        "CREATE TABLE items (id int PRIMARY KEY, name text);\n\
         INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 3) g;\n",
    );
    write(
        &ctx,
        &orders,
        "002_notes.up.sql",
        "CREATE TABLE notes (id int, body text);\n\
         INSERT INTO notes VALUES (1, 'a'), (2, 'b');\n",
    );
    write(
        &ctx,
        &format!("{prefix}_users"),
        "001_accounts.up.sql",
        "CREATE TABLE accounts (id int PRIMARY KEY, email text);\n\
         INSERT INTO accounts SELECT g, g || '@example.org' FROM generate_series(1, 5) g;\n",
    );
    write(
        &ctx,
        &format!("{prefix}_auth"),
        "001_tokens.up.sql",
        "CREATE TABLE tokens (id int);\nINSERT INTO tokens VALUES (1);\n",
    );
    write(
        &ctx,
        &format!("{prefix}_auth"),
        "002_more.up.sql",
        "INSERT INTO tokens VALUES (2);\n",
    );
    ctx.run(&["migrate", "up", "--all"]).success();
    (ctx, orders_db, shared_db)
}

fn store_dir(ctx: &TestContext) -> PathBuf {
    ctx.dir.path().join(".pgfleet/backups/testing")
}

/// `backup list --format json`, which must succeed.
#[track_caller]
fn listed(ctx: &TestContext) -> Value {
    ctx.run(&["backup", "list", "--format", "json"])
        .success()
        .json()
}

/// The stored catalog of backup `id`.
fn catalog_of(ctx: &TestContext, id: &str) -> Value {
    let path = store_dir(ctx).join(id).join("backup.json");
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

fn sha256_hex(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The original bytes of a sealed file.
fn opened(path: &Path) -> String {
    let out = tempfile::NamedTempFile::new().unwrap();
    pgfleet_backup::open_file(path, out.path()).unwrap();
    std::fs::read_to_string(out.path()).unwrap()
}

/// Every file the catalog names has the hash and size it says.
fn assert_files_match(backup: &Path, files: &Value) {
    for file in files.as_array().unwrap() {
        let path = backup.join(file["path"].as_str().unwrap());
        assert_eq!(
            sha256_hex(&path),
            file["sha256"].as_str().unwrap(),
            "{}",
            path.display()
        );
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            file["bytes"].as_u64().unwrap()
        );
    }
}

async fn counts(db: &TestDatabase, tables: &Value) {
    let client = db.client().await;
    for table in tables.as_array().unwrap() {
        let (schema, name) = (
            table["schema"].as_str().unwrap(),
            table["table"].as_str().unwrap(),
        );
        let live: Vec<i64> = column(
            &client,
            &format!("SELECT count(*) FROM \"{schema}\".\"{name}\""),
        )
        .await;
        assert_eq!(
            live[0] as u64,
            table["rows"].as_u64().unwrap(),
            "{schema}.{name}"
        );
    }
}

fn part<'a>(catalog: &'a Value, service: &str) -> &'a Value {
    catalog["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["service"] == service)
        .unwrap_or_else(|| panic!("no part {service} in {catalog:#}"))
}

#[tokio::test]
async fn create_all_records_counts_versions_hashes_and_roles_without_passwords() {
    let (ctx, orders_db, shared_db) = seeded_fleet("bka").await;
    let run = ctx
        .run(&["backup", "create", "--all", "--format", "json"])
        .success();
    let report = run.json();
    let backups = report["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 1, "{report:#}");
    let id = backups[0]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("full_"), "{id}");
    let backup = store_dir(&ctx).join(&id);
    let catalog = catalog_of(&ctx, &id);
    assert_eq!(catalog["kind"], "full");
    assert_eq!(catalog["fleet"], "bk");
    assert_eq!(catalog["environment"], "testing");
    assert!(
        catalog["tools"]["pg_dump"]
            .as_str()
            .unwrap()
            .starts_with("pg_dump (PostgreSQL)")
    );

    let orders = part(&catalog, "bka_orders");
    assert_eq!(orders["status"]["state"], "complete");
    assert_eq!(orders["migration_version"], "2");
    assert_eq!(orders["database"], orders_db.name.as_str());
    assert!(
        orders["postgres_version"]
            .as_str()
            .unwrap()
            .starts_with("15")
    );
    let tables: Vec<String> = orders["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| format!("{}.{}={}", t["schema"], t["table"], t["rows"]).replace('"', ""))
        .collect();
    for expected in ["public.items=3", "public.notes=2"] {
        assert!(tables.contains(&expected.to_owned()), "{tables:?}");
    }
    counts(&orders_db, &orders["tables"]).await;
    assert!(
        orders["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["path"] == "bka_orders/dump/toc.dat.zst")
    );
    assert_files_match(&backup, &orders["files"]);
    // Opened again, the part is a directory-format dump pg_restore reads.
    let restored = tempfile::tempdir().unwrap();
    for file in orders["files"].as_array().unwrap() {
        let path = file["path"].as_str().unwrap();
        let name = Path::new(path).file_name().unwrap().to_str().unwrap();
        pgfleet_backup::open_file(
            &backup.join(path),
            &restored.path().join(name.trim_end_matches(".zst")),
        )
        .unwrap();
    }
    let listing = std::process::Command::new(TestCluster::shared().bins().tool("pg_restore"))
        .arg("--list")
        .arg(restored.path())
        .output()
        .unwrap();
    assert!(
        listing.status.success(),
        "{}",
        String::from_utf8_lossy(&listing.stderr)
    );
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.contains("TABLE DATA public items"), "{listing}");

    let users = part(&catalog, "bka_users");
    assert_eq!(users["status"]["state"], "complete");
    assert_eq!(users["migration_version"], "1");
    assert_eq!(users["schema"], "bka_users");
    // Only its own schema: neither the neighbour's tables nor pgfleet's.
    let tables: Vec<String> = users["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| format!("{}.{}={}", t["schema"], t["table"], t["rows"]).replace('"', ""))
        .collect();
    assert_eq!(tables, ["bka_users.accounts=5"]);
    counts(&shared_db, &users["tables"]).await;
    assert_files_match(&backup, &users["files"]);
    // Its own history rows, never the neighbour's.
    let history = opened(&backup.join("bka_users/history.copy.zst"));
    assert_eq!(history.lines().count(), 1, "{history}");
    assert!(history.starts_with("bka_users\t1\t"), "{history}");
    // What its schema's dump lacks for a clean database: the database's extensions.
    let extensions: Vec<&str> = users["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(extensions, ["citext"], "{users:#}");
    assert!(
        users["extensions"][0]["version"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
    );
    assert_eq!(part(&catalog, "bka_auth")["migration_version"], "2");

    // The server's roles, without a password or a verifier.
    let roles = catalog["roles"].as_array().unwrap();
    assert_eq!(roles.len(), 1, "{catalog:#}");
    assert_eq!(roles[0]["status"]["state"], "complete");
    let file = &roles[0]["file"];
    assert_eq!(file["path"], "roles/main.sql.zst");
    assert_files_match(&backup, &Value::Array(vec![file.clone()]));
    let sql = opened(&backup.join("roles/main.sql.zst"));
    assert!(sql.contains("CREATE ROLE bka_orders_owner"), "{sql}");
    for secret in ["PASSWORD", "SCRAM-SHA-256", "md5"] {
        assert!(
            !sql.contains(secret),
            "the roles file holds {secret}:\n{sql}"
        );
    }

    // Listed, one row per part; nothing left in staging.
    let list = listed(&ctx);
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 3, "{list:#}");
    assert!(
        rows.iter()
            .all(|r| r["id"] == id.as_str() && r["status"] == "complete")
    );
    let leftovers: Vec<_> = std::fs::read_dir(store_dir(&ctx).join(".partial"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn named_services_get_a_backup_each_and_a_failed_part_does_not_stop_the_others() {
    let cluster = TestCluster::shared();
    let good = cluster.fresh_database().await;
    good.client()
        .await
        .batch_execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2);")
        .await
        .unwrap();
    let ctx = TestContext::on_test_cluster(
        "name = \"bk\"\nmanage_roles = false",
        &format!(
            r#"
[servers.main]

[services.bkf_good]
database = "{good}"

[services.bkf_gone]
database = "bkf_dropped_before_the_run"
"#,
            good = good.name
        ),
    );
    let run = ctx
        .run(&[
            "backup", "create", "bkf_good", "bkf_gone", "--format", "json",
        ])
        .failure(1);
    assert!(
        run.stderr.contains("1 part(s) failed: bkf_gone"),
        "{}",
        run.stderr
    );
    let report = run.json();
    let backups = report["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 2, "{report:#}");
    let gone = backups
        .iter()
        .find(|b| b["id"].as_str().unwrap().starts_with("bkf_gone_"))
        .unwrap();
    let error = gone["services"][0]["status"]["error"].as_str().unwrap();
    assert!(error.contains("bkf_dropped_before_the_run"), "{error}");
    // Its files are not kept.
    let gone_dir = store_dir(&ctx).join(gone["id"].as_str().unwrap());
    assert!(!gone_dir.join("bkf_gone").exists());

    let list = listed(&ctx);
    let status: Vec<(String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["service"].as_str().unwrap().to_owned(),
                r["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        status
            .iter()
            .filter(|(s, _)| s == "bkf_good")
            .collect::<Vec<_>>(),
        [&("bkf_good".to_owned(), "complete".to_owned())]
    );
    assert_eq!(
        status
            .iter()
            .filter(|(s, _)| s == "bkf_gone")
            .collect::<Vec<_>>(),
        [&("bkf_gone".to_owned(), "failed".to_owned())]
    );
    let status = ctx
        .run(&["backup", "status", "--format", "json"])
        .success()
        .json();
    // Sorted by name: the failed service has no usable backup.
    let services = status["services"].as_array().unwrap();
    assert_eq!(services[0]["service"], "bkf_gone");
    assert!(services[0]["latest"].is_null(), "{status:#}");
    assert!(
        services[1]["latest"]["id"]
            .as_str()
            .unwrap()
            .starts_with("bkf_good_")
    );

    // Neither a name nor --all, or a service the manifest does not have: refused.
    ctx.run(&["backup", "create"]).failure(4);
    let run = ctx.run(&["backup", "create", "bkf_nope"]).failure(4);
    assert!(run.stderr.contains("bkf_nope"), "{}", run.stderr);
    ctx.run(&["backup", "list", "bkf_nope"]).failure(4);
}

#[tokio::test]
async fn a_full_backup_with_a_server_down_records_its_parts_and_roles_as_failed() {
    let good = TestCluster::shared().fresh_database().await;
    let down_port = crate::context::free_port();
    let ctx = TestContext::on_test_cluster(
        "name = \"bk\"\nmanage_roles = false",
        &format!(
            r#"
[servers.main]

[servers.down.environments.testing]
port = {down_port}

[services.bkd_good]
server = "main"
database = "{good}"

[services.bkd_far]
server = "down"
database = "far"
"#,
            good = good.name
        ),
    );
    let run = ctx
        .run(&["backup", "create", "--all", "--format", "json"])
        .failure(1);
    assert!(
        run.stderr.contains("2 part(s) failed: bkd_far, roles@down"),
        "{}",
        run.stderr
    );
    let catalog = &run.json()["backups"][0];
    assert_eq!(part(catalog, "bkd_good")["status"]["state"], "complete");
    let far = &part(catalog, "bkd_far")["status"];
    assert_eq!(far["state"], "failed");
    let error = far["error"].as_str().unwrap();
    assert!(
        error.starts_with("cannot connect to postgresql://"),
        "{error}"
    );
    let roles: Vec<(String, String)> = catalog["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["server"].as_str().unwrap().to_owned(),
                r["status"]["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        [
            ("down".to_owned(), "failed".to_owned()),
            ("main".to_owned(), "complete".to_owned())
        ]
    );
    let backup = store_dir(&ctx).join(catalog["id"].as_str().unwrap());
    assert!(backup.join("roles/main.sql.zst").is_file());
    assert!(!backup.join("roles/down.sql").exists() && !backup.join("roles/down.sql.zst").exists());
    assert!(!backup.join("bkd_far").exists());
}

/// The folder a running `backup create` assembles in, once it exists.
fn staging(ctx: &TestContext) -> Option<PathBuf> {
    std::fs::read_dir(store_dir(ctx).join(".partial"))
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.is_dir())
}

/// Whether any file under `dir` has a name ending in `suffix`.
fn has_file(dir: &Path, suffix: &str) -> bool {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(suffix) {
                return true;
            }
        }
    }
    false
}

#[tokio::test]
async fn a_killed_or_stopped_create_is_never_listed_and_the_next_one_succeeds() {
    let db = TestCluster::shared().fresh_database().await;
    // About 50 MB, so the dump and its sealing each take a moment.
    db.client()
        .await
        .batch_execute(
            "CREATE TABLE big AS SELECT g AS id, md5(g::text) || md5((g + 1)::text) AS t
               FROM generate_series(1, 600000) g;
             CREATE TABLE big2 AS SELECT * FROM big;",
        )
        .await
        .unwrap();
    let ctx = TestContext::on_test_cluster(
        "name = \"bk\"\nmanage_roles = false",
        &format!(
            "[servers.main]\n\n[services.bkk_big]\ndatabase = \"{}\"\n",
            db.name
        ),
    );
    type Moment = fn(&TestContext) -> bool;
    let moments: [(&str, Moment, Signal); 4] = [
        ("right after start", |_| true, Signal::SIGKILL),
        (
            "during the dump",
            |ctx| staging(ctx).is_some_and(|s| has_file(&s, ".dat")),
            Signal::SIGKILL,
        ),
        (
            "during sealing",
            |ctx| staging(ctx).is_some_and(|s| has_file(&s, ".dat.zst")),
            Signal::SIGKILL,
        ),
        (
            "during the dump, by SIGTERM",
            |ctx| staging(ctx).is_some_and(|s| has_file(&s, ".dat")),
            Signal::SIGTERM,
        ),
    ];
    let mut published = Vec::new();
    for (moment, reached, signal) in moments {
        let mut child = ctx
            .command(&["backup", "create", "bkk_big"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while !reached(&ctx) {
            assert!(
                child.try_wait().unwrap().is_none(),
                "backup create ended before {moment}"
            );
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{moment} never came"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
        let status = child.wait().unwrap();
        if signal == Signal::SIGTERM {
            // pgfleet stops its pg_dumps itself and says so.
            assert_eq!(status.code(), Some(130), "{moment}: {status:?}");
            no_dump_sessions(&db).await;
        }
        let ids: Vec<String> = listed(&ctx)
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids, published, "killed {moment}");

        // The next run succeeds, is listed, and removed what the killed one left.
        let run = ctx
            .run(&["backup", "create", "bkk_big", "--format", "json"])
            .success();
        let id = run.json()["backups"][0]["id"].as_str().unwrap().to_owned();
        published.insert(0, id.clone());
        let rows = listed(&ctx);
        let listed_ids: Vec<&str> = rows
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(listed_ids, published, "after {moment}");
        assert!(
            rows.as_array()
                .unwrap()
                .iter()
                .all(|r| r["status"] == "complete")
        );
        let left: Vec<_> = std::fs::read_dir(store_dir(&ctx).join(".partial"))
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "after {moment}: {left:?}");
        let catalog = catalog_of(&ctx, &id);
        assert_eq!(catalog["services"][0]["tables"][0]["rows"], 600000);
        assert_files_match(&store_dir(&ctx).join(&id), &catalog["services"][0]["files"]);
        // No pg_dump of a killed run is left loading the server.
        no_dump_sessions(&db).await;
    }
}

/// Waits (up to 10 s) until no pg_dump of pgfleet's is connected to `db`.
async fn no_dump_sessions(db: &TestDatabase) {
    let client = db.client().await;
    let started = Instant::now();
    loop {
        let sessions: Vec<i64> = column(
            &client,
            &format!(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND application_name = 'pgfleet backup'",
                db.name
            ),
        )
        .await;
        if sessions[0] == 0 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{} pg_dump session(s) left",
            sessions[0]
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A snapshot of a run's output with what differs between runs replaced: backup ids' times,
/// sizes, ages (and, in tables, the padding they changed), progress lines sorted.
fn snapshot(ctx: &TestContext, name: &str, args: &[&str]) {
    let mut run = ctx.run_filtered(args);
    // Parts run at once: their progress lines come in any order.
    let mut lines: Vec<&str> = run.stderr.lines().collect();
    lines.sort();
    run.stderr = lines.join("\n");
    let json = args.contains(&"json");
    let mut text = run.snapshot();
    for (pattern, replacement) in [
        (r"_\d{8}_\d{6}\b", "_[STAMP]"),
        (r#""(bytes|raw_bytes|age_seconds)": \d+"#, r#""$1": "[N]""#),
        (r"\b\d+(\.\d+)? (B|kB|MB|GB)\b", "[SIZE]"),
        (r"\b\d+[smhd]\b", "[AGE]"),
    ] {
        text = regex::Regex::new(pattern)
            .unwrap()
            .replace_all(&text, replacement)
            .into_owned();
    }
    if !json {
        text = regex::Regex::new(r"[ ]{2,}")
            .unwrap()
            .replace_all(&text, "   ")
            .into_owned();
    }
    insta::assert_snapshot!(name, text, &format!("pgfleet {}", args.join(" ")));
}

#[tokio::test]
async fn list_and_status_snapshots() {
    let (ctx, _orders, _shared) = seeded_fleet("bks").await;
    let empty = |name, args: &[&str]| snapshot(&ctx, name, args);
    empty("backup_01_list_empty", &["backup", "list"]);
    empty("backup_02_status_empty", &["backup", "status"]);
    snapshot(&ctx, "backup_03_create", &["backup", "create", "--all"]);
    let first = listed(&ctx);
    let id = first[0]["id"].as_str().unwrap().to_owned();
    // A verification as `backup verify` records it, so the columns show one.
    let path = store_dir(&ctx).join(&id).join("backup.json");
    let mut catalog = catalog_of(&ctx, &id);
    catalog["verifications"] = serde_json::json!([{
        "service": "bks_orders",
        "at": catalog["finished_at"],
        "ok": true,
        "restored_on": "main/scratch",
        "duration_ms": 5,
        "problems": []
    }]);
    std::fs::write(&path, serde_json::to_vec_pretty(&catalog).unwrap()).unwrap();
    // A second second, so the newest backup is not the verified one.
    std::thread::sleep(Duration::from_millis(1100));
    ctx.run(&["backup", "create", "bks_users"]).success();
    snapshot(&ctx, "backup_04_list", &["backup", "list"]);
    snapshot(
        &ctx,
        "backup_05_list_json",
        &["backup", "list", "bks_users", "--format", "json"],
    );
    snapshot(&ctx, "backup_06_status", &["backup", "status"]);
    snapshot(
        &ctx,
        "backup_07_status_json",
        &["backup", "status", "--format", "json"],
    );
}

#[tokio::test]
async fn parts_of_one_server_run_at_most_jobs_per_server_at_once() {
    let cluster = TestCluster::shared();
    let mut services = String::from("[backup]\njobs_per_server = 1\n\n[servers.main]\n");
    let mut databases = Vec::new();
    for n in 1..=3 {
        let db = cluster.fresh_database().await;
        services.push_str(&format!(
            "\n[services.bkj_{n}]\ndatabase = \"{}\"\n",
            db.name
        ));
        databases.push(db);
    }
    let ctx = TestContext::on_test_cluster("name = \"bk\"\nmanage_roles = false", &services);
    let run = ctx.run(&["backup", "create", "--all"]).success();
    // Through a pipe a line per part as it starts and ends: with one slot, each part ends
    // before the next starts (the server's roles take a slot too).
    let mut running: Option<String> = None;
    let mut ended = 0;
    for line in run.stderr.lines() {
        let (part, what) = line.split_once(": ").unwrap();
        if what.starts_with("dumping") {
            assert!(
                running.is_none(),
                "{part} started beside {running:?}:\n{}",
                run.stderr
            );
            running = Some(part.to_owned());
        } else {
            assert_eq!(running.as_deref(), Some(part), "{}", run.stderr);
            assert!(what.starts_with("complete"), "{line}");
            running = None;
            ended += 1;
        }
    }
    assert_eq!(ended, 4, "{}", run.stderr);
}
