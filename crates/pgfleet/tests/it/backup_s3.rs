//! `pgfleet backup` to S3-compatible object storage (a real moto server the testkit starts),
//! encrypted with age: create and list through the CLI, then the backup downloaded from the
//! bucket restores with pg_restore to the same rows; no credential or key shows in output or
//! catalog. And `backup prune`: plan, delete, and the confirmation of a protected
//! environment.

use crate::context::{TestContext, column};
use crate::migrate::write;
use age::secrecy::ExposeSecret;
use pgfleet_backup::{Store, crypt, hash_file, open_file};
use pgfleet_core::Vars;
use pgfleet_testkit::{TestCluster, TestDatabase, TestS3};
use serde_json::Value;

struct S3Fleet {
    ctx: TestContext,
    db: TestDatabase,
    service: String,
    bucket: String,
    /// The variables the manifest names, as the test sets them.
    vars: Vec<(&'static str, String)>,
}

/// One database-placed service, migrated, whose `testing` backups go to a fresh bucket,
/// encrypted to a fresh age key.
async fn s3_fleet(prefix: &str) -> S3Fleet {
    let server = TestS3::shared();
    let bucket = server.fresh_bucket().unwrap();
    let db = TestCluster::shared().fresh_database().await;
    let service = format!("{prefix}_orders");
    let identity = age::x25519::Identity::generate();
    let vars = vec![
        ("T_S3_ENDPOINT", server.endpoint()),
        ("T_S3_REGION", server.region().to_owned()),
        ("T_S3_KEY_ID", server.access_key_id().to_owned()),
        ("T_S3_SECRET", server.secret_access_key().to_owned()),
        ("T_S3_TOKEN", server.session_token().to_owned()),
        ("T_AGE_RECIPIENT", identity.to_public().to_string()),
        ("T_AGE_KEY", identity.to_string().expose_secret().to_owned()),
    ];
    let mut ctx = TestContext::on_test_cluster(
        "name = \"bk3\"",
        &format!(
            r#"
[servers.main]
database = "{db}"

[services.{service}]
database = "{db}"
migrations = "migrations/{service}"

[backup.retention]
keep_last = 1

[backup.environments.testing]
s3 = {{ bucket = "{bucket}", prefix = "fleet/backups", endpoint = {{ env = "T_S3_ENDPOINT" }}, region = {{ env = "T_S3_REGION" }}, access_key_id = {{ env = "T_S3_KEY_ID" }}, secret_access_key = {{ env = "T_S3_SECRET" }}, session_token = {{ env = "T_S3_TOKEN" }}, allow_http = true }}
encryption = {{ recipients = [{{ env = "T_AGE_RECIPIENT" }}], identity = {{ env = "T_AGE_KEY" }} }}
"#,
            db = db.name,
        ),
    );
    for (key, value) in &vars {
        ctx.var(key, value);
    }
    write(
        &ctx,
        &service,
        "001_items.up.sql",
        "CREATE TABLE items (id int PRIMARY KEY, name text);\n\
         INSERT INTO items SELECT g, repeat('item ', g % 50) FROM generate_series(1, 2000) g;\n\
         CREATE TABLE notes (id int, body text);\n\
         INSERT INTO notes VALUES (1, 'a'), (2, 'b');\n",
    );
    ctx.run(&["migrate", "up", "--all"]).success();
    S3Fleet {
        ctx,
        db,
        service,
        bucket,
        vars,
    }
}

impl S3Fleet {
    fn secrets(&self) -> Vec<&str> {
        self.vars
            .iter()
            .filter(|(key, _)| ["T_S3_SECRET", "T_S3_TOKEN", "T_AGE_KEY"].contains(key))
            .map(|(_, value)| value.as_str())
            .collect()
    }

    #[track_caller]
    fn assert_no_secret(&self, text: &str) {
        for secret in self.secrets() {
            assert!(!text.contains(secret), "a secret shows in:\n{text}");
        }
    }

    fn snapshot(&self) -> Vars {
        self.vars.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }

    /// The environment's bucket as the manifest names it, opened by the test itself.
    fn store(&self) -> Store {
        let manifest = pgfleet_core::Manifest::load(&self.ctx.manifest).unwrap();
        Store::open(&manifest, "testing", &self.snapshot()).unwrap()
    }
}

#[tokio::test]
async fn a_backup_to_s3_is_listed_restores_from_the_bucket_and_shows_no_secret() {
    let mut fleet = s3_fleet("bk3s").await;
    let ctx = &fleet.ctx;
    let run = ctx
        .run(&["backup", "create", &fleet.service, "--format", "json"])
        .success();
    fleet.assert_no_secret(&run.all_output());
    let report = run.json();
    let id = report["backups"][0]["id"].as_str().unwrap().to_owned();
    assert!(
        report["store"].as_str().unwrap().starts_with(&format!(
            "s3://{}/fleet/backups at http://127.0.0.1:",
            fleet.bucket
        )),
        "{report:#}"
    );
    assert_eq!(report["backups"][0]["encrypted_for"], 1);
    // Nothing is left in the local staging folder once uploaded.
    let staging = ctx.dir.path().join(".pgfleet/backups/.s3-staging/testing");
    let left: Vec<_> = std::fs::read_dir(&staging)
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");

    let list = ctx.run(&["backup", "list", "--format", "json"]).success();
    fleet.assert_no_secret(&list.all_output());
    let rows = list.json();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows:#}");
    assert_eq!(rows[0]["id"], id.as_str());
    assert_eq!(rows[0]["status"], "complete");
    let table = ctx.run(&["backup", "list"]).success();
    assert!(table.stdout.contains(&id), "{}", table.stdout);
    fleet.assert_no_secret(&ctx.run(&["backup", "status"]).success().all_output());

    // From the bucket: every file's hash as the catalog says, opened with the identity, and
    // pg_restore of the dump gives the same rows in a new database.
    let scratch = tempfile::tempdir().unwrap();
    let store = fleet.store();
    assert_eq!(store.list().await.unwrap(), [id.as_str()]);
    let catalog = store.read_catalog(&id).await.unwrap();
    let stored = serde_json::to_string(&catalog).unwrap();
    fleet.assert_no_secret(&stored);
    let part = &catalog.services[0];
    assert_eq!(part.migration_version.as_deref(), Some("1"));
    let manifest = pgfleet_core::Manifest::load(&ctx.manifest).unwrap();
    let opener = crypt::environment_opener(&manifest, "testing", &fleet.snapshot()).unwrap();
    let opened = scratch.path().join("opened");
    for file in &part.files {
        let copy = store
            .local_copy(&id, &file.path, &scratch.path().join("download"))
            .await
            .unwrap();
        assert_eq!(
            hash_file(&copy).unwrap(),
            (file.bytes, file.sha256.clone()),
            "{}",
            file.path
        );
        let bytes = std::fs::read(&copy).unwrap();
        assert!(bytes.starts_with(b"age-encryption.org/"), "{}", file.path);
        let dest = opened.join(file.path.strip_suffix(".zst").unwrap_or(&file.path));
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        open_file(&copy, &dest, &opener).unwrap();
    }
    let restored = TestCluster::shared().fresh_database().await;
    let cluster = TestCluster::shared();
    let out = std::process::Command::new(cluster.bins().tool("pg_restore"))
        .arg("--no-owner")
        .arg("--no-acl")
        .args(["-h", cluster.host(), "-p", &cluster.port().to_string()])
        .args(["-U", cluster.superuser(), "-d", &restored.name])
        .arg(opened.join(&fleet.service).join("dump"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_restore: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for table in &part.tables {
        if table.schema != "public" {
            continue;
        }
        let sql = format!("SELECT count(*) FROM public.{}", table.table);
        let live: Vec<i64> = column(&fleet.db.client().await, &sql).await;
        let back: Vec<i64> = column(&restored.client().await, &sql).await;
        assert_eq!(back, live, "{}", table.table);
        assert_eq!(back[0] as u64, table.rows, "{}", table.table);
    }
    let items: Vec<i64> = column(&restored.client().await, "SELECT count(*) FROM items").await;
    assert_eq!(items, [2000]);

    // pgfleet's own verify and restore read the bucket and decrypt with the environment's
    // identity; neither shows a secret.
    let verified = ctx
        .run(&["backup", "verify", &id, "--format", "json"])
        .success();
    fleet.assert_no_secret(&verified.all_output());
    let listed = ctx
        .run(&["backup", "list", "--format", "json"])
        .success()
        .json();
    assert_eq!(listed[0]["verified"], true, "{listed:#}");
    let into = format!("{}_from_s3", restored.name);
    let back = ctx
        .run(&["backup", "restore", &id, &fleet.service, "--into", &into])
        .success();
    fleet.assert_no_secret(&back.all_output());
    let admin = TestCluster::shared().connect(&into).await;
    let items: Vec<i64> = column(&admin, "SELECT count(*) FROM items").await;
    assert_eq!(items, [2000]);
    drop(admin);
    TestCluster::shared()
        .connect("postgres")
        .await
        .batch_execute(&format!("DROP DATABASE \"{into}\" WITH (FORCE)"))
        .await
        .unwrap();

    // Nor in the most verbose log, the HTTP client's included.
    fleet.ctx.var("RUST_LOG", "trace");
    let traced = fleet
        .ctx
        .run(&["backup", "create", &fleet.service])
        .success();
    assert!(traced.stderr.contains("TRACE"), "{}", traced.stderr);
    fleet.assert_no_secret(&traced.all_output());
    fleet.assert_no_secret(&fleet.ctx.run(&["backup", "list"]).success().all_output());
}

#[tokio::test]
async fn an_unset_credential_variable_is_named_and_nothing_is_written() {
    let mut fleet = s3_fleet("bk3u").await;
    // Empty is unset (the last value of a variable wins).
    fleet.ctx.var("T_S3_SECRET", "");
    let run = fleet
        .ctx
        .run(&["backup", "create", &fleet.service])
        .failure(4);
    assert!(
        run.stderr
            .contains("the s3 credential variable T_S3_SECRET is not set"),
        "{}",
        run.stderr
    );
    fleet.assert_no_secret(&run.all_output());
}

#[tokio::test]
async fn prune_shows_its_plan_then_deletes_and_asks_in_a_protected_environment() {
    let fleet = s3_fleet("bk3p").await;
    let ctx = &fleet.ctx;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let run = ctx
            .run(&["backup", "create", &fleet.service, "--format", "json"])
            .success();
        ids.push(run.json()["backups"][0]["id"].as_str().unwrap().to_owned());
    }
    // keep_last = 1: the newest stays, the two older go.
    let plan = ctx
        .run(&["backup", "prune", "--dry-run", "--format", "json"])
        .success()
        .json();
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["deleted"], Value::Array(Vec::new()));
    let decisions = plan["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 3, "{plan:#}");
    assert_eq!(decisions[0]["id"], ids[2].as_str());
    assert_eq!(
        decisions[0]["kept_for"],
        serde_json::json!([
            {"service": &fleet.service, "rule": "last"},
            {"service": &fleet.service, "rule": "newest_complete"},
        ])
    );
    assert_eq!(decisions[1]["kept_for"], Value::Array(Vec::new()));
    let table = ctx.run(&["backup", "prune", "--dry-run"]).success();
    assert!(
        table
            .stdout
            .contains("1 kept, 2 to delete (dry run: nothing deleted)"),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("would delete"), "{}", table.stdout);
    assert_eq!(
        ctx.run(&["backup", "list", "--format", "json"])
            .success()
            .json()
            .as_array()
            .unwrap()
            .len(),
        3
    );

    let done = ctx
        .run(&["backup", "prune", "--format", "json"])
        .success()
        .json();
    let mut deleted: Vec<String> = serde_json::from_value(done["deleted"].clone()).unwrap();
    deleted.sort();
    assert_eq!(deleted, [ids[0].clone(), ids[1].clone()]);
    let left = ctx
        .run(&["backup", "list", "--format", "json"])
        .success()
        .json();
    assert_eq!(left.as_array().unwrap().len(), 1);
    assert_eq!(left[0]["id"], ids[2].as_str());

    // An interrupted upload (files, no catalog) is removed once a day old, not before: a
    // younger one may be a run still uploading. (pgfleet's store first: it installs the TLS
    // provider the raw client needs too.)
    let store = fleet.store();
    let raw = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(&fleet.bucket)
        .with_region(TestS3::shared().region())
        .with_endpoint(TestS3::shared().endpoint())
        .with_allow_http(true)
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .build()
        .unwrap();
    // An hour old: no backup of this test has that second (a run may take a later one).
    let recent = pgfleet_backup::BackupId::new(
        &fleet.service,
        jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1),
    )
    .to_string();
    let old = format!("{}_20200101_000000", fleet.service);
    for id in [&old, &recent] {
        let key = format!("fleet/backups/{id}/{}/dump/toc.dat.zst", fleet.service);
        object_store::ObjectStoreExt::put(&raw, &key.as_str().into(), b"x".to_vec().into())
            .await
            .unwrap();
    }
    let plan = ctx
        .run(&["backup", "prune", "--dry-run", "--format", "json"])
        .success()
        .json();
    assert_eq!(plan["incomplete"], serde_json::json!([&old]), "{plan:#}");
    let done = ctx
        .run(&["backup", "prune", "--format", "json"])
        .success()
        .json();
    assert_eq!(done["incomplete"], serde_json::json!([&old]));
    assert_eq!(done["deleted"], Value::Array(Vec::new()));
    assert_eq!(store.incomplete().await.unwrap(), [recent.as_str()]);
    assert_eq!(store.list().await.unwrap(), [ids[2].as_str()]);

    // production (protected, local folder): no terminal to ask on, so no delete without --yes.
    for _ in 0..2 {
        ctx.run(&["--env", "production", "backup", "create", &fleet.service])
            .success();
    }
    let refused = ctx
        .run(&["--env", "production", "backup", "prune"])
        .failure(1);
    assert!(
        refused
            .stderr
            .contains("refusing to change `production` without confirmation"),
        "{}",
        refused.stderr
    );
    let list = |ctx: &TestContext| {
        ctx.run(&["--env", "production", "backup", "list", "--format", "json"])
            .success()
            .json()
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(list(ctx), 2);
    ctx.run(&["--env", "production", "backup", "prune", "--yes"])
        .success();
    assert_eq!(list(ctx), 1);
}

#[test]
fn prune_without_a_policy_says_how_to_set_one() {
    let ctx = TestContext::on_test_cluster(
        "name = \"p\"",
        "[servers.main]\n\n[services.a]\ndatabase = \"a\"\n",
    );
    let run = ctx.run(&["backup", "prune"]).failure(4);
    assert!(
        run.stderr.contains("there is no retention policy")
            && run.stderr.contains("hint: set keep_last"),
        "{}",
        run.stderr
    );
}

/// `backup prune`'s table and JSON, on a local store (ids and times filtered).
#[tokio::test]
async fn prune_snapshots() {
    let db = TestCluster::shared().fresh_database().await;
    let ctx = TestContext::on_test_cluster(
        "name = \"bkn\"",
        &format!(
            "[servers.main]\ndatabase = \"{db}\"\n\n[services.bkn_orders]\ndatabase = \"{db}\"\n\
             migrations = \"migrations/bkn_orders\"\n\n[backup.retention]\nkeep_last = 1\nkeep_daily = 1\n",
            db = db.name
        ),
    );
    write(
        &ctx,
        "bkn_orders",
        "001_items.up.sql",
        "CREATE TABLE items (id int);\n",
    );
    ctx.run(&["migrate", "up", "--all"]).success();
    for _ in 0..2 {
        ctx.run(&["backup", "create", "bkn_orders"]).success();
    }
    let filters: Vec<(regex::Regex, &str)> = [
        (r"_\d{8}_\d{6}\b", "_[STAMP]"),
        (r"\b\d{4}-\d{2}-\d{2}\b", "[DATE]"),
        (r"\b\d{4}-W\d{2}\b", "[WEEK]"),
    ]
    .into_iter()
    .map(|(pattern, replacement)| (regex::Regex::new(pattern).unwrap(), replacement))
    .collect();
    let columns = regex::Regex::new(r"[ ]{2,}").unwrap();
    for (name, args) in [
        (
            "backup_prune_01_dry_run",
            &["backup", "prune", "--dry-run"][..],
        ),
        (
            "backup_prune_02_dry_run_json",
            &["backup", "prune", "--dry-run", "--format", "json"][..],
        ),
        ("backup_prune_03_delete", &["backup", "prune"][..]),
    ] {
        let mut text = ctx.run_filtered(args).snapshot();
        for (pattern, replacement) in &filters {
            text = pattern.replace_all(&text, *replacement).into_owned();
        }
        if !args.contains(&"json") {
            text = columns.replace_all(&text, "   ").into_owned();
        }
        insta::assert_snapshot!(name, text, &format!("pgfleet {}", args.join(" ")));
    }
}
