//! `pgfleet backup verify` and `backup restore` against the shared test cluster: a restored
//! service has the schema, grants, rows and migration version it was backed up with, and a
//! damaged backup fails verification naming the file.

use crate::backup::seeded_fleet;
use crate::context::{TestContext, column};
use crate::migrate::{pg_dump_schema, write};
use pgfleet_testkit::TestCluster;
use serde_json::Value;

/// `pg_dump --schema-only` of `database` (only `schema` when given), owners and grants
/// included.
fn schema_dump(database: &str, schema: Option<&str>) -> String {
    match schema {
        Some(schema) => pg_dump_schema(database, &[&format!("--schema={schema}")]),
        None => pg_dump_schema(database, &[]),
    }
}

/// Every service's password variable set, and the manifest's roles and grants applied: the
/// state a backup should bring back.
fn with_access(ctx: &mut TestContext, prefix: &str) {
    for service in ["orders", "users", "auth"] {
        ctx.var(
            &format!(
                "{}_{}_DB_PASSWORD",
                prefix.to_uppercase(),
                service.to_uppercase()
            ),
            "restore-test",
        );
    }
    ctx.run(&["access", "apply"]).success();
}

async fn counts(database: &str, tables: &[(&str, &str)]) -> Vec<i64> {
    let client = TestCluster::shared().connect(database).await;
    let mut counts = Vec::new();
    for (schema, table) in tables {
        counts.extend(
            column::<i64>(
                &client,
                &format!("SELECT count(*) FROM \"{schema}\".\"{table}\""),
            )
            .await,
        );
    }
    counts
}

async fn admin(sql: &str) {
    TestCluster::shared()
        .connect("postgres")
        .await
        .batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A table's columns three spaces apart whatever the width of the values filtered out of
/// them (a testkit database's name varies in length).
fn columns(text: &str) -> String {
    regex::Regex::new(" {3,}")
        .unwrap()
        .replace_all(text, "   ")
        .into_owned()
}

/// `backup create ARGS`, which must succeed; the id of its (first) backup.
fn create(ctx: &TestContext, args: &[&str]) -> String {
    let mut command = vec!["backup", "create"];
    command.extend_from_slice(args);
    command.extend_from_slice(&["--format", "json"]);
    let report = ctx.run(&command).success().json();
    report["backups"][0]["id"].as_str().unwrap().to_owned()
}

fn store_dir(ctx: &TestContext) -> std::path::PathBuf {
    ctx.dir.path().join(".pgfleet/backups/testing")
}

#[tokio::test]
async fn backup_drop_restore_gives_the_same_schema_rows_version_and_grants() {
    let (mut ctx, orders_db, shared_db) = seeded_fleet("bkr").await;
    with_access(&mut ctx, "bkr");
    ctx.run(&["access", "check"]).success();
    let orders_tables = [("public", "items"), ("public", "notes")];
    let users_tables = [("bkr_users", "accounts")];
    let orders_schema = schema_dump(&orders_db.name, None);
    let users_schema = schema_dump(&shared_db.name, Some("bkr_users"));
    let orders_rows = counts(&orders_db.name, &orders_tables).await;
    let users_rows = counts(&shared_db.name, &users_tables).await;
    assert_eq!(orders_rows, [3, 2]);
    assert_eq!(users_rows, [5]);
    let id = create(&ctx, &["--all"]);

    // By default a database-placed service goes into a new database beside the live one.
    let beside = ctx
        .run(&["backup", "restore", &id, "bkr_orders", "--format", "json"])
        .success()
        .json();
    let copy = beside["database"].as_str().unwrap().to_owned();
    assert!(
        copy.starts_with(&format!("{}_restore_", orders_db.name)),
        "{beside}"
    );
    assert_eq!(beside["migration_version"], "2");
    assert_eq!(counts(&copy, &orders_tables).await, orders_rows);
    admin(&format!("DROP DATABASE \"{copy}\" WITH (FORCE)")).await;

    // Dropped, then restored under its own name.
    admin(&format!(
        "DROP DATABASE \"{}\" WITH (FORCE)",
        orders_db.name
    ))
    .await;
    ctx.filter(&id, "[BACKUP]");
    let into = ctx
        .run_filtered(&[
            "backup",
            "restore",
            &id,
            "bkr_orders",
            "--into",
            &orders_db.name,
        ])
        .success();
    insta::assert_snapshot!("backup_restore_into", columns(&into.snapshot()));
    assert_eq!(schema_dump(&orders_db.name, None), orders_schema);
    assert_eq!(counts(&orders_db.name, &orders_tables).await, orders_rows);

    // A schema dropped from the shared database comes back with its history rows.
    shared_db
        .client()
        .await
        .batch_execute("DROP SCHEMA bkr_users CASCADE")
        .await
        .unwrap();
    let restored = ctx
        .run(&["backup", "restore", &id, "bkr_users", "--format", "json"])
        .success()
        .json();
    assert_eq!(restored["schema"], "bkr_users");
    assert_eq!(restored["database"], shared_db.name.as_str());
    assert_eq!(
        schema_dump(&shared_db.name, Some("bkr_users")),
        users_schema
    );
    assert_eq!(counts(&shared_db.name, &users_tables).await, users_rows);
    // Restoring it again over itself needs --replace.
    let again = ctx.run(&["backup", "restore", &id, "bkr_users"]).failure(1);
    assert!(
        again.stderr.contains("schema `bkr_users` already exists")
            && again.stderr.contains("--replace"),
        "{}",
        again.stderr
    );

    // Over the live schema with --replace, but not while another schema builds on it.
    let client = shared_db.client().await;
    client
        .batch_execute("CREATE VIEW bkr_auth.emails AS SELECT email FROM bkr_users.accounts")
        .await
        .unwrap();
    let blocked = ctx
        .run(&["backup", "restore", &id, "bkr_users", "--replace"])
        .failure(4);
    assert!(
        blocked.stderr.contains("view bkr_auth.emails"),
        "{}",
        blocked.stderr
    );
    client
        .batch_execute("DROP VIEW bkr_auth.emails; DELETE FROM bkr_users.accounts")
        .await
        .unwrap();
    ctx.run(&["backup", "restore", &id, "bkr_users", "--replace"])
        .success();
    assert_eq!(counts(&shared_db.name, &users_tables).await, users_rows);
    assert_eq!(
        schema_dump(&shared_db.name, Some("bkr_users")),
        users_schema
    );

    // Each service's history is what it was: nothing pending, nothing dirty.
    for service in ["bkr_orders", "bkr_users", "bkr_auth"] {
        ctx.run(&["migrate", "status", service, "--check"])
            .success();
    }
    ctx.run(&["access", "check"]).success();
}

#[tokio::test]
async fn verify_passes_a_good_backup_and_names_a_changed_or_missing_file() {
    let (mut ctx, orders_db, _shared_db) = seeded_fleet("bkv").await;
    let id = create(&ctx, &["--all"]);
    ctx.filter(&id, "[BACKUP]");
    let verified = ctx.run_filtered(&["backup", "verify", &id]).success();
    let stamp = regex::Regex::new(r"_verify_\d{14}").unwrap();
    insta::assert_snapshot!(
        "backup_verify_good",
        columns(&stamp.replace_all(&verified.snapshot(), "_verify_[STAMP]"))
    );
    // The catalog holds the verifications, and `backup list` shows them.
    let catalog: Value = serde_json::from_slice(
        &std::fs::read(store_dir(&ctx).join(&id).join("backup.json")).unwrap(),
    )
    .unwrap();
    let verifications = catalog["verifications"].as_array().unwrap();
    assert_eq!(verifications.len(), 3, "{catalog:#}");
    assert!(verifications.iter().all(|v| v["ok"] == true), "{catalog:#}");
    let listed = ctx
        .run(&["backup", "list", "--format", "json"])
        .success()
        .json();
    let rows = listed.as_array().unwrap();
    assert_eq!(rows.len(), 3, "{listed:#}");
    assert!(rows.iter().all(|r| r["verified"] == true), "{listed:#}");
    // The audit log of each service's database has the verification.
    let orders_audit: Vec<String> = column(
        &orders_db.client().await,
        "SELECT result FROM pgfleet.audit_log WHERE command = 'backup verify'",
    )
    .await;
    assert_eq!(orders_audit, ["success"]);
    // No scratch database is left behind.
    let left: Vec<String> = column(
        &TestCluster::shared().connect("postgres").await,
        "SELECT datname::text FROM pg_database WHERE datname LIKE '%verify%'",
    )
    .await;
    assert!(left.is_empty(), "{left:?}");

    // One byte changed in a file of one part, another part's file removed.
    let backup = store_dir(&ctx).join(&id);
    let toc = backup.join("bkv_orders/dump/toc.dat.zst");
    let mut bytes = std::fs::read(&toc).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&toc, bytes).unwrap();
    let users_files = part_files(&catalog, "bkv_users");
    let removed = users_files
        .iter()
        .find(|f| f.ends_with(".dat.zst") && !f.ends_with("toc.dat.zst"))
        .unwrap();
    std::fs::remove_file(backup.join(removed)).unwrap();
    ctx.filter(removed, "bkv_users/dump/[FILE].dat.zst");
    let failed = ctx.run_filtered(&["backup", "verify", &id, "bkv_orders", "bkv_users"]);
    assert_eq!(failed.code, 1, "{}", failed.snapshot());
    insta::assert_snapshot!("backup_verify_damaged", failed.snapshot());
    // The failures are recorded too.
    let json = ctx
        .run(&["backup", "verify", &id, "bkv_orders", "--format", "json"])
        .failure(1)
        .json();
    assert!(
        json["results"][0]["problems"][0]
            .as_str()
            .unwrap()
            .contains("bkv_orders/dump/toc.dat.zst: changed"),
        "{json:#}"
    );
    // --latest takes each service's newest backup: the untouched part still verifies, and
    // the damaged one's failure shows in `backup list`.
    let latest = ctx
        .run(&[
            "backup", "verify", "--latest", "bkv_auth", "--format", "json",
        ])
        .success()
        .json();
    assert_eq!(latest["results"][0]["backup"], id.as_str());
    assert_eq!(latest["results"][0]["ok"], true);
    let listed = ctx
        .run(&["backup", "list", "bkv_orders", "--format", "json"])
        .success()
        .json();
    assert_eq!(listed[0]["verified"], false, "{listed:#}");
    // A restore of a damaged part is refused before anything changes.
    let refused = ctx.run(&["backup", "restore", &id, "bkv_users"]).failure(1);
    assert!(
        refused.stderr.contains(&format!("{removed}: missing")),
        "{}",
        refused.stderr
    );
}

fn part_files(catalog: &Value, service: &str) -> Vec<String> {
    catalog["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["service"] == service)
        .unwrap()["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_restore_over_a_newer_live_version_is_refused_unless_forced() {
    let (mut ctx, orders_db, _shared_db) = seeded_fleet("bkn").await;
    with_access(&mut ctx, "bkn");
    let id = create(&ctx, &["bkn_orders"]);
    ctx.filter(&id, "[BACKUP]");
    write(
        &ctx,
        "bkn_orders",
        "003_more.up.sql",
        "INSERT INTO items VALUES (4, 'four');\n",
    );
    ctx.run(&["migrate", "up", "bkn_orders"]).success();
    let refused = ctx.run_filtered(&["backup", "restore", &id, "bkn_orders", "--replace"]);
    insta::assert_snapshot!("backup_restore_newer_live", refused.snapshot());
    assert_eq!(counts(&orders_db.name, &[("public", "items")]).await, [4]);

    let forced = ctx
        .run(&[
            "backup",
            "restore",
            &id,
            "bkn_orders",
            "--replace",
            "--force-older",
            "--format",
            "json",
        ])
        .success()
        .json();
    assert_eq!(forced["replaced_version"], "3");
    assert_eq!(forced["database"], orders_db.name.as_str());
    assert_eq!(counts(&orders_db.name, &[("public", "items")]).await, [3]);
    let history: Vec<i64> = column(
        &orders_db.client().await,
        "SELECT max(version) FROM pgfleet.migrations WHERE service = 'bkn_orders'",
    )
    .await;
    assert_eq!(history, [2]);
    ctx.run(&["access", "check", "bkn_orders"]).success();
    // The same backup over the same version needs no force, and each restore is audited.
    let again = ctx
        .run_filtered(&[
            "backup",
            "restore",
            &id,
            "bkn_orders",
            "--replace",
            "--format",
            "json",
        ])
        .success();
    insta::assert_snapshot!("backup_restore_replace_json", again.snapshot());
    let audited: Vec<String> = column(
        &orders_db.client().await,
        "SELECT coalesce(version_before::text, '-') || '>' || version_after FROM pgfleet.audit_log
          WHERE command = 'backup restore' ORDER BY id",
    )
    .await;
    // The live audit log is carried over the restores that replace its database.
    assert_eq!(audited, ["3>2", "2>2"]);

    // A protected environment asks first; with no terminal to ask on, it refuses.
    let production = create(&ctx, &["bkn_orders", "--env", "production"]);
    let over_production = [
        "--env",
        "production",
        "backup",
        "restore",
        &production,
        "bkn_orders",
        "--replace",
    ];
    let asked = ctx.run(&over_production).failure(1);
    assert!(
        asked.stderr.contains("without confirmation") && asked.stderr.contains("--yes"),
        "{}",
        asked.stderr
    );
    ctx.run(&[&over_production[..], &["--yes"]].concat())
        .success();
}

#[tokio::test]
async fn a_restore_names_the_roles_the_server_lacks() {
    let (mut ctx, _orders_db, shared_db) = seeded_fleet("bkm").await;
    with_access(&mut ctx, "bkm");
    let id = create(&ctx, &["bkm_users"]);
    // The service's read-only role is gone from the server (its grants with it).
    shared_db
        .client()
        .await
        .batch_execute("DROP OWNED BY bkm_users_ro; DROP ROLE bkm_users_ro")
        .await
        .unwrap();
    let into = format!("{}_elsewhere", shared_db.name);
    let refused = ctx
        .run(&["backup", "restore", &id, "bkm_users", "--into", &into])
        .failure(1);
    assert!(
        refused.stderr.contains("does not have: bkm_users_ro")
            && refused.stderr.contains("pgfleet access apply"),
        "{}",
        refused.stderr
    );
    // Nothing was created for the refused restore.
    let created: Vec<String> = column(
        &TestCluster::shared().connect("postgres").await,
        &format!("SELECT datname::text FROM pg_database WHERE datname = '{into}'"),
    )
    .await;
    assert!(created.is_empty(), "{created:?}");
    ctx.run(&["access", "apply"]).success();
    ctx.run(&["backup", "restore", &id, "bkm_users", "--into", &into])
        .success();
    assert_eq!(counts(&into, &[("bkm_users", "accounts")]).await, [5]);
    admin(&format!("DROP DATABASE \"{into}\" WITH (FORCE)")).await;
}
