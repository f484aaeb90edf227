//! `migrate adopt` (issue 13): another tool's history becomes pgfleet's, then `migrate up` runs
//! only what that tool had not applied; an unfinished or mismatched state is refused; history
//! changes ask first in a protected environment.

use crate::context::{TestContext, column};
use crate::migrate::{fleet, history, versions, write};
use pgfleet_testkit::{TestCluster, TestDatabase};
use std::path::Path;

/// golang-migrate's table, as its postgres driver creates it, at `version`.
async fn golang_migrate_state(db: &TestDatabase, version: i64, dirty: bool) {
    db.client()
        .await
        .batch_execute(&format!(
            "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);
             INSERT INTO schema_migrations VALUES ({version}, {dirty});"
        ))
        .await
        .unwrap();
}

fn three_steps(ctx: &TestContext, service: &str) {
    for (version, name) in [(1, "alpha"), (2, "beta"), (3, "gamma")] {
        write(
            ctx,
            service,
            &format!("{version}_{name}.up.sql"),
            &format!("CREATE TABLE {name} (id int);\n"),
        );
        write(
            ctx,
            service,
            &format!("{version}_{name}.down.sql"),
            &format!("DROP TABLE {name};\n"),
        );
    }
}

async fn tables(db: &TestDatabase) -> Vec<String> {
    column(
        &db.client().await,
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    )
    .await
}

#[tokio::test]
async fn golang_migrate_history_is_adopted_then_only_later_files_run() {
    let db = pgfleet_testkit::fresh_database().await;
    let mut ctx = fleet(&[("gm", &db)]);
    ctx.var("GM_DB_PASSWORD", "a-runtime-password");
    three_steps(&ctx, "gm");
    // What golang-migrate left: the first two files applied, its table at version 2.
    db.client()
        .await
        .batch_execute("CREATE TABLE alpha (id int); CREATE TABLE beta (id int);")
        .await
        .unwrap();
    golang_migrate_state(&db, 2, false).await;

    let plan = ctx
        .run(&[
            "migrate",
            "adopt",
            "gm",
            "--from",
            "golang-migrate",
            "--dry-run",
            "--format",
            "json",
        ])
        .success()
        .json();
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["table"], "public.schema_migrations");
    let adopted: Vec<i64> = plan["adopted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["version"].as_i64().unwrap())
        .collect();
    assert_eq!(adopted, [1, 2]);
    assert_eq!(plan["pending"], serde_json::json!([3]));
    assert!(
        history(&db, "gm").await.is_empty(),
        "a dry run records nothing"
    );

    let run = ctx
        .run(&["migrate", "adopt", "gm", "--from", "golang-migrate"])
        .success();
    assert!(
        run.stderr.contains("adopted 2 version(s)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("DROP TABLE public.schema_migrations"),
        "{}",
        run.stderr
    );
    assert_eq!(versions(&history(&db, "gm").await), [1, 2]);
    let audit: Vec<String> = column(
        &db.client().await,
        "SELECT command || ':' || result || ':' || (detail->>'from') FROM pgfleet.audit_log",
    )
    .await;
    assert_eq!(audit, ["migrate adopt:success:golang-migrate"]);

    ctx.run(&["migrate", "up", "gm"]).success();
    assert_eq!(versions(&history(&db, "gm").await), [1, 2, 3]);
    assert_eq!(
        tables(&db).await,
        ["alpha", "beta", "gamma", "schema_migrations"]
    );
    // Neither the run's grants on what it found new nor `access apply` give it to a service
    // role: it stays the owner's alone.
    ctx.run(&["access", "apply"]).success();
    let granted: Vec<i64> = column(
        &db.client().await,
        "SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a
          WHERE c.relname = 'schema_migrations' AND a.grantee <> c.relowner",
    )
    .await;
    assert_eq!(granted, [0]);
    let granted_beta: Vec<i64> = column(
        &db.client().await,
        "SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a
          WHERE c.relname = 'beta' AND a.grantee <> c.relowner",
    )
    .await;
    assert!(granted_beta[0] > 0, "the service's own tables are granted");
    // The other tool's table is left as it was.
    let left: Vec<String> = column(
        &db.client().await,
        "SELECT version || ':' || dirty FROM schema_migrations",
    )
    .await;
    assert_eq!(left, ["2:false"]);

    let again = ctx
        .run(&["migrate", "adopt", "gm", "--from", "golang-migrate"])
        .failure(1);
    assert!(
        again.stderr.contains("already has pgfleet history"),
        "{}",
        again.stderr
    );
}

#[tokio::test]
async fn a_dirty_or_unknown_golang_migrate_version_is_refused_and_nothing_recorded() {
    let dirty = pgfleet_testkit::fresh_database().await;
    let unknown = pgfleet_testkit::fresh_database().await;
    let ctx = fleet(&[("dirty", &dirty), ("unknown", &unknown)]);
    three_steps(&ctx, "dirty");
    three_steps(&ctx, "unknown");
    golang_migrate_state(&dirty, 2, true).await;
    golang_migrate_state(&unknown, 7, false).await;

    let run = ctx
        .run(&["migrate", "adopt", "dirty", "--from", "golang-migrate"])
        .failure(1);
    assert!(run.stderr.contains("version 2 dirty"), "{}", run.stderr);
    let run = ctx
        .run(&["migrate", "adopt", "unknown", "--from", "golang-migrate"])
        .failure(1);
    assert!(
        run.stderr
            .contains("applied up to version 7, which no file in"),
        "{}",
        run.stderr
    );
    // golang-migrate's table is not dbmate's, though both are `schema_migrations`.
    let run = ctx
        .run(&["migrate", "adopt", "unknown", "--from", "dbmate"])
        .failure(1);
    assert!(
        run.stderr
            .contains("public.schema_migrations is not dbmate's"),
        "{}",
        run.stderr
    );
    assert!(history(&dirty, "dirty").await.is_empty());
    assert!(history(&unknown, "unknown").await.is_empty());
    // Nothing to adopt at all is said as such.
    let none = pgfleet_testkit::fresh_database().await;
    let ctx = fleet(&[("none", &none)]);
    let run = ctx
        .run(&["migrate", "adopt", "none", "--from", "dbmate"])
        .failure(1);
    assert!(
        run.stderr.contains("no schema_migrations table"),
        "{}",
        run.stderr
    );
}

/// The database sqlx-cli 0.9 left after `sqlx migrate run` of the fixture's files (restored
/// from its dump), and those files in the service's folder.
fn restore_sqlx_fixture(ctx: &TestContext, service: &str, db: &TestDatabase) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/adopt/sqlx");
    for entry in std::fs::read_dir(fixture.join("migrations")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        write(
            ctx,
            service,
            &name,
            &std::fs::read_to_string(&path).unwrap(),
        );
    }
    let cluster = TestCluster::shared();
    let out = std::process::Command::new(cluster.bins().tool("psql"))
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", cluster.host()])
        .args(["-p", &cluster.port().to_string(), "-U", cluster.superuser()])
        .args(["-d", &db.name, "-f"])
        .arg(fixture.join("database.sql"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_real_sqlx_history_is_adopted_with_its_checksums_checked() {
    let db = pgfleet_testkit::fresh_database().await;
    let edited = pgfleet_testkit::fresh_database().await;
    let failed = pgfleet_testkit::fresh_database().await;
    let ctx = fleet(&[("sq", &db), ("edited", &edited), ("failed", &failed)]);
    for (service, database) in [("sq", &db), ("edited", &edited), ("failed", &failed)] {
        restore_sqlx_fixture(&ctx, service, database);
    }
    write(
        &ctx,
        "sq",
        "20240101000003_add_index.up.sql",
        "CREATE INDEX account_mood ON account (mood);\n",
    );
    let run = ctx
        .run(&[
            "migrate", "adopt", "sq", "--from", "sqlx", "--format", "json",
        ])
        .success()
        .json();
    assert_eq!(run["pending"], serde_json::json!([20240101000003_i64]));
    ctx.run(&["migrate", "up", "sq"]).success();
    assert_eq!(
        versions(&history(&db, "sq").await),
        [20240101000001, 20240101000002, 20240101000003]
    );
    // The enum the adopted step made is altered by the next one, as the owner role.
    write(
        &ctx,
        "sq",
        "20240101000004_more_moods.up.sql",
        "ALTER TYPE mood ADD VALUE 'sad';\n",
    );
    ctx.run(&["migrate", "up", "sq"]).success();

    // A file edited after sqlx ran it: its checksum is not the one sqlx kept.
    let path = ctx
        .dir
        .path()
        .join("migrations/edited/20240101000002_add_mood.up.sql");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}-- edited\n")).unwrap();
    let run = ctx
        .run(&["migrate", "adopt", "edited", "--from", "sqlx"])
        .failure(1);
    assert!(
        run.stderr
            .contains("20240101000002_add_mood.up.sql differs from what sqlx applied"),
        "{}",
        run.stderr
    );
    assert!(history(&edited, "edited").await.is_empty());

    // sqlx's record of a no-transaction migration that stopped part-way.
    failed
        .client()
        .await
        .batch_execute("UPDATE _sqlx_migrations SET success = false WHERE version = 20240101000002")
        .await
        .unwrap();
    let run = ctx
        .run(&["migrate", "adopt", "failed", "--from", "sqlx"])
        .failure(1);
    assert!(run.stderr.contains("as failed"), "{}", run.stderr);
    assert!(history(&failed, "failed").await.is_empty());
}

#[tokio::test]
async fn diesel_and_dbmate_tables_list_each_applied_version() {
    let diesel = pgfleet_testkit::fresh_database().await;
    let dbmate = pgfleet_testkit::fresh_database().await;
    let ctx = fleet(&[("di", &diesel), ("db", &dbmate)]);
    for service in ["di", "db"] {
        for (version, name) in [(20240115093000_i64, "one"), (20240116093000, "two")] {
            write(
                &ctx,
                service,
                &format!("{version}_{name}.up.sql"),
                &format!("CREATE TABLE {name} (id int);\n"),
            );
        }
    }
    // diesel's own table (its migration harness creates it so), with the first version run.
    diesel
        .client()
        .await
        .batch_execute(
            "CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL,
                                                      run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP);
             INSERT INTO __diesel_schema_migrations (version) VALUES ('20240115093000');
             CREATE TABLE one (id int);",
        )
        .await
        .unwrap();
    // dbmate's, with both run.
    dbmate
        .client()
        .await
        .batch_execute(
            "CREATE TABLE schema_migrations (version character varying(128) NOT NULL PRIMARY KEY);
             INSERT INTO schema_migrations VALUES ('20240115093000'), ('20240116093000');
             CREATE TABLE one (id int); CREATE TABLE two (id int);",
        )
        .await
        .unwrap();
    ctx.run(&["migrate", "adopt", "di", "--from", "diesel"])
        .success();
    ctx.run(&["migrate", "adopt", "db", "--from", "dbmate"])
        .success();
    assert_eq!(versions(&history(&diesel, "di").await), [20240115093000]);
    assert_eq!(
        versions(&history(&dbmate, "db").await),
        [20240115093000, 20240116093000]
    );
    ctx.run(&["migrate", "up", "di"]).success();
    ctx.run(&["migrate", "up", "db"]).success();
    assert_eq!(
        versions(&history(&diesel, "di").await),
        [20240115093000, 20240116093000]
    );
}

#[tokio::test]
async fn history_changes_ask_in_a_protected_environment() {
    let db = pgfleet_testkit::fresh_database().await;
    let ctx = fleet(&[("prot", &db)]);
    three_steps(&ctx, "prot");
    golang_migrate_state(&db, 1, false).await;
    for args in [
        &["migrate", "adopt", "prot", "--from", "golang-migrate"][..],
        &["migrate", "baseline", "prot", "--version", "2"],
        &["migrate", "repair", "prot"],
    ] {
        let mut args = args.to_vec();
        args.extend(["--env", "production"]);
        let run = ctx.run(&args).failure(1);
        assert!(
            run.stderr.contains("pass --yes"),
            "{args:?}: {}",
            run.stderr
        );
    }
    assert!(history(&db, "prot").await.is_empty());
    ctx.run(&[
        "migrate",
        "adopt",
        "prot",
        "--from",
        "golang-migrate",
        "--env",
        "production",
        "--yes",
    ])
    .success();
    assert_eq!(versions(&history(&db, "prot").await), [1]);
}

#[tokio::test]
async fn status_and_up_on_existing_tables_without_history_point_to_adopt_or_baseline() {
    let db = pgfleet_testkit::fresh_database().await;
    let bare = pgfleet_testkit::fresh_database().await;
    let ctx = fleet(&[("gm", &db), ("bare", &bare)]);
    three_steps(&ctx, "gm");
    three_steps(&ctx, "bare");
    for database in [&db, &bare] {
        database
            .client()
            .await
            .batch_execute("CREATE TABLE alpha (id int)")
            .await
            .unwrap();
    }
    golang_migrate_state(&db, 1, false).await;

    let status = ctx
        .run(&["migrate", "status", "gm", "--format", "json"])
        .success()
        .json();
    let notes = status[0]["notes"].to_string();
    assert!(
        notes.contains("pgfleet migrate adopt gm --from golang-migrate"),
        "{status}"
    );
    let status = ctx
        .run(&["migrate", "status", "bare", "--format", "json"])
        .success()
        .json();
    assert!(
        status[0]["notes"]
            .to_string()
            .contains("pgfleet migrate baseline bare --version N"),
        "{status}"
    );

    let run = ctx.run(&["migrate", "up", "gm"]).failure(1);
    assert!(run.stderr.contains("already exists"), "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "hint: take its history over with `pgfleet migrate adopt gm --from golang-migrate`"
        ) || run
            .stderr
            .contains("pgfleet migrate adopt gm --from golang-migrate"),
        "{}",
        run.stderr
    );
    let run = ctx.run(&["migrate", "up", "bare"]).failure(1);
    assert!(
        run.stderr.contains("pgfleet migrate baseline bare"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn baseline_from_live_writes_a_first_file_that_rebuilds_the_schema() {
    let live = pgfleet_testkit::fresh_database().await;
    let rebuilt = pgfleet_testkit::fresh_database().await;
    let mut services = String::from("[servers.main]\n");
    for (service, db) in [("live", &live), ("rebuilt", &rebuilt)] {
        services.push_str(&format!(
            "\n[services.{service}]\ndatabase = \"{}\"\nmigrations = \"migrations/live\"\n",
            db.name
        ));
    }
    let ctx = TestContext::on_test_cluster("name = \"it\"", &services);
    live.client()
        .await
        .batch_execute(
            "CREATE TYPE mood AS ENUM ('ok', 'happy');
             CREATE DOMAIN email AS text CHECK (VALUE LIKE '%@%');
             CREATE TABLE account (id bigserial PRIMARY KEY, address email NOT NULL UNIQUE, mood mood);
             CREATE TABLE entry (id bigserial PRIMARY KEY, account bigint REFERENCES account ON DELETE CASCADE);
             CREATE INDEX entry_account ON entry (account);
             CREATE FUNCTION entries(bigint) RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM entry WHERE account = $1';
             CREATE VIEW busy AS SELECT a.id, entries(a.id) AS n FROM account a;
             CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);",
        )
        .await
        .unwrap();
    let run = ctx
        .run(&[
            "migrate",
            "baseline",
            "live",
            "--from-live",
            "--version",
            "1",
            "--format",
            "json",
        ])
        .success()
        .json();
    let file = std::path::PathBuf::from(run["file"].as_str().unwrap());
    assert!(file.ends_with("migrations/live/1_baseline.up.sql"), "{run}");
    let text = std::fs::read_to_string(&file).unwrap();
    for absent in [
        "\\restrict",
        "schema_migrations",
        "OWNER TO",
        "GRANT ",
        "pgfleet.",
    ] {
        assert!(!text.contains(absent), "{absent} in:\n{text}");
    }
    assert_eq!(history(&live, "live").await, [(1, "applied".to_owned())]);
    // The file rebuilds the same schema on an empty database, through pgfleet.
    ctx.run(&["migrate", "up", "rebuilt"]).success();
    live.client()
        .await
        .batch_execute("DROP TABLE schema_migrations")
        .await
        .unwrap();
    // Blank lines aside (the dump of each leaves different gaps where its filters cut).
    let lines = |db: &TestDatabase| -> Vec<String> {
        crate::migrate::schema_dump(db)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(lines(&live), lines(&rebuilt));
    // The files are there now: --from-live writes only the first.
    let again = ctx
        .run(&["migrate", "baseline", "live", "--from-live"])
        .failure(1);
    assert!(
        again.stderr.contains("already holds migration files"),
        "{}",
        again.stderr
    );
}

#[tokio::test]
async fn a_database_the_real_dbmate_migrated_is_adopted_then_only_newer_files_run() {
    let Some(dbmate) = crate::layouts::dbmate_binary() else {
        eprintln!("SKIPPED: set PGFLEET_TEST_DBMATE to dbmate's binary");
        return;
    };
    let db = pgfleet_testkit::fresh_database().await;
    let ctx = crate::layouts::fleet(&db, None);
    let root = crate::layouts::dir(&ctx);
    crate::layouts::dbmate_corpus(&root, 8);
    let cluster = TestCluster::shared();
    let url = format!(
        "postgres://{}@{}:{}/{}?sslmode=disable",
        cluster.superuser(),
        cluster.host(),
        cluster.port(),
        db.name
    );
    let out = std::process::Command::new(dbmate)
        .args(["--url", &url, "--migrations-dir"])
        .arg(&root)
        .args(["--no-dump-schema", "up"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Four more files, written after dbmate ran.
    crate::layouts::dbmate_corpus(&root, 12);
    let report = ctx
        .run(&[
            "migrate", "adopt", "orders", "--from", "dbmate", "--format", "json",
        ])
        .success()
        .json();
    assert_eq!(report["adopted"].as_array().unwrap().len(), 8, "{report}");
    assert_eq!(report["pending"].as_array().unwrap().len(), 4, "{report}");
    ctx.run(&["migrate", "up", "orders"]).success();
    assert_eq!(history(&db, "orders").await.len(), 12);
}

/// Flyway's table as Flyway 10 creates it on PostgreSQL, with a row per run.
async fn flyway_state(db: &TestDatabase, rows: &[(i32, &str, &str, &str, bool)]) {
    let client = db.client().await;
    client
        .batch_execute(
            "CREATE TABLE flyway_schema_history (
                 installed_rank integer NOT NULL PRIMARY KEY, version varchar(50),
                 description varchar(200) NOT NULL, type varchar(20) NOT NULL,
                 script varchar(1000) NOT NULL, checksum integer, installed_by varchar(100) NOT NULL,
                 installed_on timestamp NOT NULL DEFAULT now(), execution_time integer NOT NULL,
                 success boolean NOT NULL)",
        )
        .await
        .unwrap();
    for (rank, version, kind, text, success) in rows {
        client
            .execute(
                "INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success)
                 VALUES ($1, $2::text, 'step', $3, 'V' || $2::text || '__step.sql', $4, 'flyway', 1, $5)",
                &[
                    rank,
                    version,
                    kind,
                    &pgfleet_migrate::adopt::foreign::flyway_checksum(text),
                    success,
                ],
            )
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn flyway_history_is_adopted_with_its_checksums_and_a_failed_run_refused() {
    let db = pgfleet_testkit::fresh_database().await;
    let failed = pgfleet_testkit::fresh_database().await;
    let mut services = String::from("[servers.main]\n");
    let based = pgfleet_testkit::fresh_database().await;
    for (service, database) in [("fw", &db), ("fwfail", &failed), ("fwbase", &based)] {
        services.push_str(&format!(
            "\n[services.{service}]\ndatabase = \"{}\"\nmigrations = \"migrations/{service}\"\nlayout = \"flyway\"\n",
            database.name
        ));
    }
    let ctx = TestContext::on_test_cluster("name = \"it\"", &services);
    let steps = [
        ("1", "CREATE TABLE one (id int);\r\n"),
        ("1.1", "CREATE TABLE two (id int);\n-- second line\n"),
        ("2", "CREATE TABLE three (id int);\n"),
    ];
    for service in ["fw", "fwfail", "fwbase"] {
        for (version, text) in steps {
            write(&ctx, service, &format!("V{version}__step.sql"), text);
        }
    }
    db.client()
        .await
        .batch_execute("CREATE TABLE one (id int); CREATE TABLE two (id int);")
        .await
        .unwrap();
    flyway_state(
        &db,
        &[
            (1, "1", "SQL", steps[0].1, true),
            (2, "1.1", "SQL", steps[1].1, true),
        ],
    )
    .await;
    let report = ctx
        .run(&[
            "migrate", "adopt", "fw", "--from", "flyway", "--format", "json",
        ])
        .success()
        .json();
    assert_eq!(report["adopted"].as_array().unwrap().len(), 2, "{report}");
    ctx.run(&["migrate", "up", "fw"]).success();
    assert_eq!(history(&db, "fw").await.len(), 3);

    // A failed run, and (on its own) a file edited since Flyway ran it, are refused.
    flyway_state(
        &failed,
        &[
            (1, "1", "SQL", steps[0].1, true),
            (2, "1.1", "SQL", "CREATE TABLE two (id bigint);\n", true),
            (3, "2", "SQL", steps[2].1, false),
        ],
    )
    .await;
    let run = ctx
        .run(&["migrate", "adopt", "fwfail", "--from", "flyway"])
        .failure(1);
    assert!(run.stderr.contains("as failed"), "{}", run.stderr);
    failed
        .client()
        .await
        .batch_execute("DELETE FROM flyway_schema_history WHERE installed_rank = 3")
        .await
        .unwrap();
    let run = ctx
        .run(&["migrate", "adopt", "fwfail", "--from", "flyway"])
        .failure(1);
    assert!(
        run.stderr
            .contains("V1.1__step.sql differs from what Flyway applied"),
        "{}",
        run.stderr
    );
    assert!(history(&failed, "fwfail").await.is_empty());

    // A baseline row covers the files below it; an undo run takes its version back.
    based
        .client()
        .await
        .batch_execute("CREATE TABLE one (id int); CREATE TABLE two (id int);")
        .await
        .unwrap();
    flyway_state(
        &based,
        &[
            (1, "1", "BASELINE", "", true),
            (2, "1.1", "SQL", steps[1].1, true),
            (3, "2", "SQL", steps[2].1, true),
            (4, "2", "UNDO_SQL", "DROP TABLE three;\n", true),
        ],
    )
    .await;
    let report = ctx
        .run(&[
            "migrate", "adopt", "fwbase", "--from", "flyway", "--format", "json",
        ])
        .success()
        .json();
    let adopted: Vec<i64> = report["adopted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["version"].as_i64().unwrap())
        .collect();
    assert_eq!(adopted, [1_0000_0000_0000, 1_0001_0000_0000], "{report}");
    assert_eq!(report["pending"], serde_json::json!([2_0000_0000_0000_i64]));
}

#[tokio::test]
async fn baseline_from_live_of_a_schema_in_a_shared_database_leaves_the_schema_to_pgfleet() {
    let live = pgfleet_testkit::fresh_database().await;
    let rebuilt = pgfleet_testkit::fresh_database().await;
    let ctx = TestContext::on_test_cluster(
        "name = \"it\"",
        &format!(
            "[servers.main]\ndatabase = \"{}\"\n\n[servers.copy]\ndatabase = \"{}\"\n\n\
             [services.ledger]\nserver = \"main\"\nschema = \"ledger\"\nmigrations = \"migrations/ledger\"\n\n\
             [services.ledger_copy]\nserver = \"copy\"\nschema = \"ledger\"\nmigrations = \"migrations/ledger\"\n",
            live.name, rebuilt.name
        ),
    );
    live.client()
        .await
        .batch_execute(
            "CREATE SCHEMA ledger;
             CREATE TABLE ledger.entry (id bigserial PRIMARY KEY, amount numeric NOT NULL CHECK (amount <> 0));
             CREATE TABLE public.unrelated (id int);",
        )
        .await
        .unwrap();
    let run = ctx
        .run(&[
            "migrate",
            "baseline",
            "ledger",
            "--from-live",
            "--version",
            "1",
            "--format",
            "json",
        ])
        .success()
        .json();
    let text = std::fs::read_to_string(run["file"].as_str().unwrap()).unwrap();
    assert!(text.contains("CREATE TABLE ledger.entry"), "{text}");
    for absent in ["CREATE SCHEMA", "unrelated", "pgfleet."] {
        assert!(!text.contains(absent), "{absent} in:\n{text}");
    }
    // The schema comes from pgfleet's own setup (here, by hand: access apply would need the
    // runtime passwords); the file brings what is in it.
    rebuilt
        .client()
        .await
        .batch_execute("CREATE SCHEMA ledger")
        .await
        .unwrap();
    ctx.run(&["migrate", "up", "ledger_copy"]).success();
    let columns = "SELECT column_name || ' ' || data_type FROM information_schema.columns
                    WHERE table_schema = 'ledger' ORDER BY ordinal_position";
    let live_columns: Vec<String> = column(&live.client().await, columns).await;
    let rebuilt_columns: Vec<String> = column(&rebuilt.client().await, columns).await;
    assert!(!live_columns.is_empty());
    assert_eq!(live_columns, rebuilt_columns);
}
