//! What project SQL may do during a run, and what a run does when it is stopped: attacks and
//! faults performed for real against the test cluster.

use crate::access::{assert_plan_is_empty, fleet, refused};
use crate::context::TestContext;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The three ways back to pgfleet's own login that a parser cannot see all of.
const ESCAPES: [&str; 3] = [
    "RESET ROLE;",
    "DO $$ BEGIN EXECUTE 'RESET ROLE'; END $$;",
    "SELECT set_config('role', 'none', false);",
];

async fn scalar(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn a_migration_cannot_leave_its_owner_role() {
    let f = fleet().await;
    let p = &f.p;
    f.ctx.run(&["migrate", "up", "--all"]).success();
    let admin = f.shared.client().await;
    let users_checksum = || async {
        admin
            .query_one(
                &format!("SELECT checksum FROM pgfleet.migrations WHERE service = '{p}_users'"),
                &[],
            )
            .await
            .unwrap()
            .get::<_, String>(0)
    };
    let checksum_before = users_checksum().await;
    let attacks = [
        // Another service's private table (auth does not read users).
        format!("SELECT count(*) FROM {p}_user_schema.profiles;"),
        format!("CREATE ROLE {p}_evil LOGIN;"),
        format!("GRANT {p}_users_owner TO {p}_auth_migrator;"),
        format!("UPDATE pgfleet.migrations SET checksum = 'forged' WHERE service = '{p}_users';"),
        format!("SELECT pgfleet.record_step('{p}_users', 'delete', '{{\"version\": 1}}');"),
    ];
    for escape in ESCAPES {
        for attack in &attacks {
            f.ctx.write(
                "migrations/auth/002_escape.up.sql",
                &format!("{escape}\n{attack}\n"),
            );
            let run = f
                .ctx
                .run(&["migrate", "up", &format!("{p}_auth")])
                .failure(1);
            assert!(
                run.stderr.contains("permission denied")
                    || run.stderr.contains("must have admin option")
                    || run.stderr.contains("may not record"),
                "{escape} {attack}: {}",
                run.stderr
            );
        }
    }
    assert_eq!(
        scalar(
            &admin,
            &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{p}_evil'")
        )
        .await,
        0
    );
    assert_eq!(
        scalar(
            &admin,
            &format!(
                "SELECT count(*) FROM pg_auth_members WHERE member = '{p}_auth_migrator'::regrole \
                 AND roleid <> '{p}_auth_owner'::regrole"
            )
        )
        .await,
        0
    );
    assert_eq!(users_checksum().await, checksum_before);
    assert_eq!(
        scalar(
            &admin,
            &format!("SELECT count(*) FROM pgfleet.migrations WHERE service = '{p}_auth'")
        )
        .await,
        1,
        "no escape may be recorded as applied"
    );
    // History names the role the SQL ran as, and the migration login keeps no password.
    let role: String = admin
        .query_one(
            &format!("SELECT db_role FROM pgfleet.migrations WHERE service = '{p}_auth'"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(role, format!("{p}_auth_owner"));
    assert_eq!(
        scalar(
            &admin,
            &format!(
                "SELECT count(*) FROM pg_authid WHERE rolname = '{p}_auth_migrator' AND rolpassword IS NOT NULL"
            )
        )
        .await,
        0
    );
    // A harmless migration still runs after all of that.
    f.ctx.write(
        "migrations/auth/002_escape.up.sql",
        "CREATE TABLE sessions (id bigint);\n",
    );
    f.ctx
        .run(&["migrate", "up", &format!("{p}_auth")])
        .success();
}

#[tokio::test]
async fn a_migration_login_given_more_than_the_owner_is_refused() {
    let f = fleet().await;
    let p = &f.p;
    f.ctx.run(&["migrate", "up", "--all"]).success();
    let admin = f.shared.client().await;
    admin
        .batch_execute(&format!("GRANT {p}_users_owner TO {p}_auth_migrator"))
        .await
        .unwrap();
    f.ctx.write(
        "migrations/auth/002_more.up.sql",
        "CREATE TABLE more (id int);\n",
    );
    let run = f
        .ctx
        .run(&["migrate", "up", &format!("{p}_auth")])
        .failure(1);
    assert!(
        run.stderr
            .contains("holds more than the owner role's rights")
            && run.stderr.contains(&format!("{p}_users_owner")),
        "{}",
        run.stderr
    );
    f.ctx.run(&["access", "apply"]).success();
    f.ctx
        .run(&["migrate", "up", &format!("{p}_auth")])
        .success();
}

/// A local fleet (dev clusters) with one service, for `dev seed`.
fn local_fleet() -> TestContext {
    let mut ctx = TestContext::new(&format!(
        r#"
[fleet]
name = "seedy"

[environments.development]
local = true

[servers.main]
dev_port = {port}
database = "seedy"

[services.books]
schema = "books"

[services.vault]
schema = "vault"
"#,
        port = crate::context::free_port(),
    ));
    ctx.stop_clusters_on_drop = true;
    ctx.write(
        "services/books/migrations/001_init.up.sql",
        "CREATE TABLE books (id int);\n",
    );
    ctx.write(
        "services/vault/migrations/001_init.up.sql",
        "CREATE TABLE secrets (id int, value text);\nINSERT INTO secrets VALUES (1, 'gold');\n",
    );
    ctx
}

#[test]
fn a_seed_cannot_leave_its_owner_role() {
    let ctx = local_fleet();
    ctx.run(&["dev", "up"]).success();
    ctx.run(&["migrate", "up", "--all"]).success();
    for escape in ESCAPES {
        for attack in [
            "INSERT INTO books.books SELECT count(*) FROM vault.secrets;",
            "CREATE ROLE seedy_evil LOGIN;",
        ] {
            ctx.write(
                "services/books/seeds/01_escape.sql",
                &format!("{escape}\n{attack}\n"),
            );
            let run = ctx.run(&["dev", "seed", "books"]).failure(1);
            assert!(
                run.stderr.contains("permission denied"),
                "{escape} {attack}: {}",
                run.stderr
            );
        }
    }
    let roles = ctx
        .run(&[
            "dev",
            "psql",
            "books",
            "--",
            "-XtAc",
            "select count(*) from pg_roles where rolname = 'seedy_evil'",
        ])
        .success();
    assert_eq!(roles.stdout.trim(), "0");
    // A plain seed works, as the owner.
    ctx.write(
        "services/books/seeds/01_escape.sql",
        "INSERT INTO books SELECT (current_user = 'books_owner')::int;\n",
    );
    ctx.run(&["dev", "seed", "books"]).success();
    let rows = ctx
        .run(&[
            "dev",
            "psql",
            "books",
            "--",
            "-XtAc",
            "select sum(id) from books",
        ])
        .success();
    assert_eq!(rows.stdout.trim(), "1");
}

// Two workers: the probe keeps running while the CLI runs on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_a_migration_creates_are_never_visible_with_more_rights_than_the_manifest_gives() {
    let f = fleet().await;
    let p = f.p.clone();
    f.ctx.run(&["access", "apply"]).success();
    f.ctx.run(&["migrate", "up", "--all"]).success();
    // After a migrate run there is nothing left for `access apply` to do.
    assert_plan_is_empty(&f.ctx);

    // billing: a new append-only partition of the ledger; users: a table under row security is
    // replaced by a new one with rows (the manifest names `profiles`).
    f.ctx.write(
        "migrations/billing/002_partitioned.up.sql",
        "DROP TABLE ledger;\n\
         CREATE TABLE ledger (id bigserial, at date NOT NULL, entry text NOT NULL) PARTITION BY RANGE (at);\n\
         CREATE TABLE ledger_2026 PARTITION OF ledger FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');\n\
         INSERT INTO ledger (at, entry) VALUES ('2026-06-01', 'opening');\n\
         SELECT pg_sleep(0.3);\n",
    );
    f.ctx.write(
        "migrations/billing/003_next_year.up.sql",
        "-- pgfleet:no-transaction\n\
         CREATE TABLE ledger_2027 PARTITION OF ledger FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');\n\
         INSERT INTO ledger (at, entry) VALUES ('2027-06-01', 'next');\n\
         SELECT pg_sleep(0.3);\n",
    );
    f.ctx.write(
        "migrations/users/002_profiles_again.up.sql",
        "DROP TABLE profiles CASCADE;\n\
         CREATE TABLE profiles (id bigserial PRIMARY KEY, user_id bigint NOT NULL, bio text);\n\
         INSERT INTO profiles (user_id, bio) SELECT g, 'private' FROM generate_series(1, 10) g;\n\
         SELECT pg_sleep(0.3);\n",
    );
    let billing = f.runtime("billing", &f.billing).await;
    let users = f.runtime("users", &f.shared).await;
    users
        .batch_execute(&format!("SET search_path = {p}_user_schema"))
        .await
        .unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let probe = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut violations = Vec::new();
            let mut probes = 0;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                for table in ["ledger_2026", "ledger_2027", "ledger"] {
                    for verb in [
                        format!("UPDATE {table} SET entry = entry"),
                        format!("DELETE FROM {table}"),
                    ] {
                        if let Ok(n) = billing.execute(verb.as_str(), &[]).await
                            && n > 0
                        {
                            violations.push(format!("{verb}: {n} rows"));
                        }
                    }
                }
                if let Ok(row) = users.query_one("SELECT count(*) FROM profiles", &[]).await {
                    let n: i64 = row.get(0);
                    if n > 0 {
                        violations.push(format!("read {n} profiles without a user"));
                    }
                }
                probes += 1;
                if finished {
                    return (violations, probes);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let run = f.ctx.run(&["migrate", "up", "--all"]);
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    run.success();
    let (violations, probes) = probe.await.unwrap();
    assert!(probes > 5, "the probe ran {probes} times only");
    assert!(violations.is_empty(), "{violations:?}");

    // What the manifest does give works, with no `access apply` in between.
    let billing = f.runtime("billing", &f.billing).await;
    billing
        .execute(
            "INSERT INTO ledger (at, entry) VALUES ('2026-07-01', 'x')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(scalar(&billing, "SELECT count(*) FROM ledger").await, 3);
    refused(
        billing
            .execute("UPDATE ledger_2027 SET entry = 'y'", &[])
            .await,
        "UPDATE of a new append-only partition",
    );
    let users = f.runtime("users", &f.shared).await;
    users
        .batch_execute(&format!(
            "SET search_path = {p}_user_schema; SET app.current_user_id = '3'"
        ))
        .await
        .unwrap();
    assert_eq!(scalar(&users, "SELECT count(*) FROM profiles").await, 1);
    assert_plan_is_empty(&f.ctx);
}

/// A fresh database on the test cluster and a fleet of one service, `orders`, in it.
async fn one_service() -> (pgfleet_testkit::TestDatabase, TestContext) {
    let db = pgfleet_testkit::TestCluster::shared()
        .fresh_database()
        .await;
    let ctx = TestContext::on_test_cluster(
        "name = \"it\"",
        &format!(
            "[servers.main]\n\n[services.orders]\ndatabase = \"{}\"\nmigrations = \"migrations\"\n",
            db.name
        ),
    );
    (db, ctx)
}

#[tokio::test]
async fn each_file_starts_from_a_fresh_session() {
    let (db, ctx) = one_service().await;
    ctx.write(
        "migrations/001_side.up.sql",
        "CREATE SCHEMA side;\nSET search_path = side, public;\n\
         CREATE TEMPORARY TABLE scratch (id int);\nCREATE TABLE a (id int);\n",
    );
    ctx.write(
        "migrations/002_plain.up.sql",
        "CREATE TEMPORARY TABLE scratch (id int);\nCREATE TABLE b (id int);\nSELECT pg_sleep(0.05);\n",
    );
    ctx.write(
        "migrations/003_notx.up.sql",
        "-- pgfleet:no-transaction\nSET search_path = side;\nCREATE TABLE c (id int);\n",
    );
    ctx.write("migrations/004_plain.up.sql", "CREATE TABLE d (id int);\n");
    ctx.run(&["migrate", "up", "orders"]).success();
    let client = db.client().await;
    let placed: Vec<String> = crate::context::column(&client, "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relname IN ('a', 'b', 'c', 'd') ORDER BY c.relname").await;
    assert_eq!(placed, ["side.a", "public.b", "side.c", "public.d"]);
}

/// Starts `migrate up` in the background with `--format json`.
fn spawn_up(ctx: &TestContext, service: &str) -> std::process::Child {
    ctx.command(&["migrate", "up", service, "--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until a session runs a statement containing `text`.
async fn wait_for_statement(client: &tokio_postgres::Client, text: &str) {
    let started = Instant::now();
    loop {
        let n: i64 = client
            .query_one(
                // This test's database only: the shared cluster runs other tests' sleeps too.
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid() AND datname = current_database()",
                &[&text],
            )
            .await
            .unwrap()
            .get(0);
        if n > 0 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{text} never ran"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn sigterm_cancels_the_running_step_and_reports_and_audits_what_committed() {
    for signal in [
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGINT,
    ] {
        let (db, ctx) = one_service().await;
        ctx.write(
            "migrations/001_first.up.sql",
            "CREATE TABLE first (id int);\n",
        );
        ctx.write(
            "migrations/002_slow.up.sql",
            "CREATE TABLE slow (id int);\nSELECT pg_sleep(60);\n",
        );
        ctx.write(
            "migrations/003_never.up.sql",
            "CREATE TABLE never (id int);\n",
        );
        let client = db.client().await;
        let child = spawn_up(&ctx, "orders");
        wait_for_statement(&client, "pg_sleep(60)").await;
        let stopped = Instant::now();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            stopped.elapsed() < Duration::from_secs(10),
            "{signal}: took {:?}",
            stopped.elapsed()
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(130), "{signal}: {stderr}");
        assert!(
            stderr.contains("interrupted")
                && stderr.contains("002_slow.up.sql was cancelled and rolled back"),
            "{signal}: {stderr}"
        );
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let steps: Vec<i64> = report[0]["report"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["version"].as_i64().unwrap())
            .collect();
        assert_eq!(steps, [1], "{report}");
        let history: Vec<i64> = crate::context::column(
            &client,
            "SELECT version FROM pgfleet.migrations ORDER BY version",
        )
        .await;
        assert_eq!(history, [1]);
        assert_eq!(
            scalar(
                &client,
                "SELECT count(*) FROM pg_class WHERE relname IN ('slow', 'never')"
            )
            .await,
            0
        );
        let audit: Vec<String> = crate::context::column(&client, "SELECT result || ':' || coalesce(version_after::text, '-') FROM pgfleet.audit_log ORDER BY id").await;
        assert_eq!(audit, ["success:1", "interrupted:1"], "{signal}");
        // Nothing is left running on the server.
        assert_eq!(
            scalar(&client, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid() AND datname = current_database()").await,
            0
        );
    }
}

#[tokio::test]
async fn sigterm_in_a_no_transaction_file_leaves_it_dirty_and_says_so() {
    let (db, ctx) = one_service().await;
    ctx.write(
        "migrations/001_notx.up.sql",
        "-- pgfleet:no-transaction\nCREATE TABLE a (id int);\nSELECT pg_sleep(60);\nCREATE TABLE b (id int);\n",
    );
    let client = db.client().await;
    let child = spawn_up(&ctx, "orders");
    wait_for_statement(&client, "pg_sleep(60)").await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("cancelled after 1 of its 3 statements; it is marked dirty"),
        "{stderr}"
    );
    let row = client
        .query_one("SELECT state, statements_done FROM pgfleet.migrations", &[])
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, i32>(1)),
        ("dirty".to_owned(), 1)
    );
    let audit: String = client
        .query_one(
            "SELECT result FROM pgfleet.audit_log ORDER BY id DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(audit, "interrupted");
}

#[tokio::test]
async fn a_failed_no_transaction_migration_is_audited_with_the_servers_reason() {
    let (db, ctx) = one_service().await;
    ctx.write(
        "migrations/001_notx.up.sql",
        "-- pgfleet:no-transaction\nCREATE INDEX CONCURRENTLY missing_idx ON missing_table (id);\n",
    );
    ctx.run(&["migrate", "up", "orders"]).failure(1);
    let row = db
        .client()
        .await
        .query_one(
            "SELECT result, detail->>'error' FROM pgfleet.audit_log",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "failed");
    let reason: String = row.get(1);
    assert!(
        reason.contains("relation \"missing_table\" does not exist"),
        "{reason}"
    );
}

#[tokio::test]
async fn after_sigkill_every_committed_step_has_its_audit_row() {
    let (db, ctx) = one_service().await;
    for version in 1..=30 {
        ctx.write(
            &format!("migrations/{version:03}_t.up.sql"),
            &format!("CREATE TABLE t{version} (id int);\nSELECT pg_sleep(0.02);\n"),
        );
    }
    let client = db.client().await;
    let mut kills = 0;
    for delay_ms in [150, 300, 450, 600] {
        let mut child = spawn_up(&ctx, "orders");
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        let _ = child.wait();
        // The killed session's transaction is gone once its backend notices; wait for that.
        tokio::time::sleep(Duration::from_millis(100)).await;
        // One statement, one snapshot: a COMMIT still in flight lands in both or in neither.
        let row = client
            .query_one(
                "SELECT array(SELECT version FROM pgfleet.migrations ORDER BY 1),
                        array(SELECT (detail->>'version')::bigint FROM pgfleet.audit_log
                               WHERE result = 'success' ORDER BY 1)",
                &[],
            )
            .await
            .unwrap();
        let (history, audited): (Vec<i64>, Vec<i64>) = (row.get(0), row.get(1));
        assert_eq!(history, audited, "after a kill at {delay_ms} ms");
    }
    assert!(kills > 0, "no run was interrupted: the test proved nothing");
}
