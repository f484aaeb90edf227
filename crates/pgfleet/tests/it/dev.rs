//! `pgfleet dev …` with real local clusters on free ports.

use crate::context::{TestContext, free_port};

/// Two servers: `shared` holds two services by schema, `solo` one service by database.
pub(crate) fn two_server_fleet() -> TestContext {
    let mut ctx = TestContext::new(&format!(
        r#"
[fleet]
name = "shop"

[environments.development]
local = true
user = {{ env = "SHOP_DB_USER", default = "shop_user" }}
password = {{ env = "SHOP_DB_PASSWORD" }}

[environments.production]
host = "db.example.com"
user = "shop"

[servers.shared]
dev_port = {shared}
database = "shop"

[servers.solo]
dev_port = {solo}

[services.auth]
server = "shared"
schema = "auth_schema"

[services.users]
server = "shared"
schema = "user_schema"
reads = ["auth"]

[services.billing]
server = "solo"
database = "billing"
"#,
        shared = free_port(),
        solo = free_port(),
    ));
    ctx.stop_clusters_on_drop = true;
    for (service, table) in [
        ("auth", "tokens"),
        ("users", "profiles"),
        ("billing", "invoices"),
    ] {
        ctx.write(
            &format!("services/{service}/migrations/001_init.up.sql"),
            &format!("CREATE TABLE {table} (id int);\n"),
        );
    }
    ctx
}

pub(crate) fn psql(ctx: &TestContext, service: &str, sql: &str) -> String {
    ctx.run(&["dev", "psql", service, "--", "-XtAc", sql])
        .success()
        .stdout
        .trim()
        .to_owned()
}

pub(crate) fn states(ctx: &TestContext) -> Vec<(String, String, bool)> {
    let json = ctx
        .run(&["dev", "status", "--format", "json"])
        .success()
        .json();
    json["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["server"].as_str().unwrap().to_owned(),
                s["state"].as_str().unwrap().to_owned(),
                s["pid"].is_u64(),
            )
        })
        .collect()
}

#[test]
fn up_status_psql_down_up_keeps_data_and_reset_drops_only_its_service() {
    let ctx = two_server_fleet();
    assert_eq!(
        states(&ctx),
        [
            ("shared".into(), "not initialized".into(), false),
            ("solo".into(), "not initialized".into(), false)
        ]
    );
    ctx.run(&["dev", "up"]).success();
    assert_eq!(
        states(&ctx),
        [
            ("shared".into(), "running".into(), true),
            ("solo".into(), "running".into(), true)
        ]
    );
    // Each service connects as the fleet's role to its database, in its own schema.
    assert_eq!(
        psql(
            &ctx,
            "auth",
            "select current_user || ' ' || current_database() || ' ' || current_schema()"
        ),
        "auth_app shop auth_schema"
    );
    assert_eq!(
        psql(&ctx, "users", "select current_schema()"),
        "user_schema"
    );
    assert_eq!(
        psql(&ctx, "billing", "select current_database()"),
        "billing"
    );
    // pg_stat_statements is in each database (out of the services' schemas), for `pgfleet serve`.
    assert_eq!(
        psql(
            &ctx,
            "billing",
            "select nspname from pg_extension e join pg_namespace n on n.oid = e.extnamespace \
             where extname = 'pg_stat_statements'"
        ),
        "pgfleet"
    );
    let json = ctx
        .run(&["dev", "status", "--format", "json"])
        .success()
        .json();
    for server in json["servers"].as_array().unwrap() {
        for db in server["databases"].as_array().unwrap() {
            assert_eq!(db["exists"], true, "{db}");
        }
    }

    ctx.run(&["migrate", "up", "--all"]).success();
    psql(&ctx, "auth", "insert into tokens values (1)");
    psql(&ctx, "users", "insert into profiles values (2)");
    psql(&ctx, "billing", "insert into invoices values (3)");

    // Idempotent.
    ctx.run(&["dev", "up"]).success();
    ctx.run(&["dev", "down"]).success();
    assert_eq!(
        states(&ctx),
        [
            ("shared".into(), "stopped".into(), false),
            ("solo".into(), "stopped".into(), false)
        ]
    );
    let refused = ctx.run(&["dev", "psql", "billing", "--", "-XtAc", "select 1"]);
    assert_ne!(refused.code, 0, "psql must fail while the cluster is down");
    ctx.run(&["dev", "down"]).success();

    ctx.run(&["dev", "up", "billing"]).success();
    assert_eq!(psql(&ctx, "billing", "select id from invoices"), "3");
    ctx.run(&["dev", "up"]).success();
    assert_eq!(psql(&ctx, "auth", "select id from tokens"), "1");

    // Reset auth: its schema is recreated and migrated, empty; users (same database) and
    // billing keep their data.
    ctx.run(&["dev", "reset", "auth"]).success();
    assert_eq!(psql(&ctx, "auth", "select count(*) from tokens"), "0");
    assert_eq!(psql(&ctx, "users", "select id from profiles"), "2");
    assert_eq!(psql(&ctx, "billing", "select id from invoices"), "3");
    // Reset billing: its database is recreated even with a session open on it.
    let mut open = ctx
        .command(&["dev", "psql", "billing", "--", "-Xq"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    ctx.run(&["dev", "reset", "billing"]).success();
    let _ = open.kill();
    let _ = open.wait();
    assert_eq!(psql(&ctx, "billing", "select count(*) from invoices"), "0");
}

#[test]
fn generated_dev_passwords_are_private_and_needed() {
    let ctx = two_server_fleet();
    ctx.run(&["dev", "up", "billing"]).success();
    // pgfleet's own login and the service's runtime role each get a generated password.
    assert!(
        ctx.dir
            .path()
            .join(".pgfleet/secrets/shop_user.password")
            .is_file()
    );
    let secret = ctx.dir.path().join(".pgfleet/secrets/billing_app.password");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&secret).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let password = std::fs::read_to_string(&secret).unwrap();
    assert!(password.len() >= 32);
    // The password appears in no report.
    for args in [
        &["dev", "status"][..],
        &["dev", "status", "--format", "json"],
        &["env", "show", "--format", "json"],
        &["env", "export", "billing"],
    ] {
        let run = ctx.run(args).success();
        assert!(
            !run.all_output().contains(&password),
            "{args:?} printed the password"
        );
    }
    // TCP logins need it: a wrong one is refused by the server.
    let mut wrong = TestContext::with_manifest(&ctx.manifest);
    wrong.var("BILLING_DB_PASSWORD", "wrong-password");
    let run = wrong.run(&["dev", "psql", "billing", "--", "-XtAc", "select 1"]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("password authentication failed"),
        "{}",
        run.stderr
    );
}

#[test]
fn concurrent_ups_of_one_project_both_succeed() {
    let ctx = two_server_fleet();
    let children: Vec<_> = (0..3)
        .map(|_| {
            ctx.command(&["dev", "up"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(psql(&ctx, "billing", "select 1"), "1");
}

#[test]
fn a_taken_port_is_reported_with_exit_5() {
    let ctx = two_server_fleet();
    let manifest = std::fs::read_to_string(&ctx.manifest).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let solo_port = manifest
        .lines()
        .skip_while(|l| !l.starts_with("[servers.solo]"))
        .nth(1)
        .unwrap()
        .to_owned();
    std::fs::write(
        &ctx.manifest,
        manifest.replace(&solo_port, &format!("dev_port = {port}")),
    )
    .unwrap();
    let run = ctx.run(&["dev", "up", "billing"]).failure(5);
    assert!(
        run.stderr.contains(&format!("port {port}")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("already in use"), "{}", run.stderr);
}

#[test]
fn dev_commands_refuse_a_non_local_environment_and_missing_binaries() {
    let mut ctx = two_server_fleet();
    let run = ctx.run(&["dev", "up", "--env", "production"]).failure(4);
    assert!(
        run.stderr.contains("is not local; use --env development"),
        "{}",
        run.stderr
    );
    ctx.stop_clusters_on_drop = false;
    ctx.var("PGFLEET_PG_BIN", "/nonexistent/bin");
    let run = ctx.run(&["dev", "up"]).failure(5);
    assert!(run.stderr.contains("/nonexistent/bin"), "{}", run.stderr);
}

#[test]
fn seed_loads_data_reruns_cleanly_and_reset_reapplies_it() {
    let ctx = two_server_fleet();
    let seeds = ctx.dir.path().join("services/billing/seeds");
    std::fs::create_dir_all(&seeds).unwrap();
    std::fs::write(
        seeds.join("01_invoices.sql"),
        "INSERT INTO invoices (id) SELECT g FROM generate_series(1, 5) AS g\n\
         WHERE NOT EXISTS (SELECT 1 FROM invoices WHERE id = g);\n",
    )
    .unwrap();
    ctx.run(&["dev", "up"]).success();
    ctx.run(&["migrate", "up", "--all"]).success();
    ctx.run(&["dev", "seed"]).success();
    ctx.run(&["dev", "seed", "billing"]).success();
    assert_eq!(psql(&ctx, "billing", "select count(*) from invoices"), "5");
    psql(&ctx, "billing", "delete from invoices where id > 2");
    ctx.run(&["dev", "reset", "billing"]).success();
    assert_eq!(psql(&ctx, "billing", "select count(*) from invoices"), "5");

    // A broken seed names its file and line, and leaves nothing of itself behind.
    let broken = seeds.join("02_broken.sql");
    std::fs::write(
        &broken,
        "INSERT INTO invoices (id) VALUES (100);\n\nINSERT INTO nowhere VALUES (1);\n",
    )
    .unwrap();
    let run = ctx.run(&["dev", "seed", "billing"]).failure(1);
    assert!(
        run.stderr.contains(&format!(
            "{}:3: relation \"nowhere\" does not exist",
            broken.display()
        )),
        "{}",
        run.stderr
    );
    assert_eq!(
        psql(
            &ctx,
            "billing",
            "select count(*) from invoices where id = 100"
        ),
        "0"
    );
}
