//! Issue 14, item 4: a testing environment with local clusters of its own, a CREATEDB-only
//! login for test runners, and `dev template`, a migrated and seeded database to clone.

use crate::context::{TestContext, free_port};

/// One server in both local environments: `notes` and `tags` by schema in the shared
/// database `kb`, `files` in a database of its own; each with a migration and a seed.
pub(crate) fn fleet() -> (TestContext, u16, u16) {
    let (dev_port, test_port) = (free_port(), free_port());
    let mut ctx = TestContext::new(&format!(
        r#"
[fleet]
name = "kb"

[environments.development]
local = true

[environments.testing]
local = true
testing = true

[servers.main]
dev_port = {dev_port}
test_port = {test_port}
database = "kb"

[services.notes]
schema = "notes"

[services.tags]
schema = "tags"

[services.files]
database = "files"
"#
    ));
    ctx.stop_clusters_on_drop = true;
    for (service, table) in [("notes", "notes"), ("tags", "tags"), ("files", "files")] {
        ctx.write(
            &format!("services/{service}/migrations/001_init.up.sql"),
            &format!("CREATE TABLE {table} (id int PRIMARY KEY, name text);\n"),
        );
        ctx.write(
            &format!("services/{service}/seeds/001_rows.sql"),
            &format!("INSERT INTO {table} VALUES (1, '{service}') ON CONFLICT DO NOTHING;\n"),
        );
    }
    (ctx, dev_port, test_port)
}

fn secret(ctx: &TestContext, role: &str) -> String {
    std::fs::read_to_string(
        ctx.dir
            .path()
            .join(format!(".pgfleet/secrets/{role}.password")),
    )
    .unwrap_or_else(|e| panic!("{role}'s password: {e}"))
    .trim_end()
    .to_owned()
}

async fn login(
    port: u16,
    user: &str,
    password: &str,
    database: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(port)
        .user(user)
        .password(password)
        .dbname(database);
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

fn template(ctx: &TestContext, service: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "--env", "testing", "dev", "template", service, "--format", "json",
    ];
    args.extend_from_slice(extra);
    ctx.run(&args).success().json()
}

#[tokio::test]
async fn testing_clusters_are_apart_and_their_test_runner_may_only_create_databases() {
    let (ctx, dev_port, test_port) = fleet();
    ctx.run(&["--env", "testing", "dev", "up"]).success();
    let status = ctx
        .run(&["--env", "testing", "dev", "status", "--format", "json"])
        .success()
        .json();
    assert_eq!(status["servers"][0]["port"], test_port);
    assert_eq!(status["servers"][0]["state"], "running");
    assert!(
        status["servers"][0]["data_dir"]
            .as_str()
            .unwrap()
            .contains(".pgfleet/testing/clusters/main"),
        "{status}"
    );
    // Development's cluster is another one, untouched.
    let development = ctx
        .run(&["dev", "status", "--format", "json"])
        .success()
        .json();
    assert_eq!(development["servers"][0]["port"], dev_port);
    assert_eq!(development["servers"][0]["state"], "not initialized");
    // The services resolve to the testing cluster in the testing environment.
    let port = ctx
        .run(&[
            "--env",
            "testing",
            "dev",
            "psql",
            "notes",
            "--",
            "-XtAc",
            "select inet_server_port()",
        ])
        .success()
        .stdout;
    assert_eq!(port.trim(), test_port.to_string());

    let runner = "kb_test_runner";
    let password = secret(&ctx, runner);
    let client = login(test_port, runner, &password, "postgres")
        .await
        .unwrap();
    let attributes = client
        .query_one(
            "SELECT rolcreatedb, rolsuper, rolcreaterole, rolreplication, rolbypassrls,
                    (SELECT count(*) FROM pg_auth_members WHERE member = r.oid)
               FROM pg_roles r WHERE rolname = current_user",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            attributes.get::<_, bool>(0),
            attributes.get::<_, bool>(1),
            attributes.get::<_, bool>(2),
            attributes.get::<_, bool>(3),
            attributes.get::<_, bool>(4),
            attributes.get::<_, i64>(5)
        ),
        (true, false, false, false, false, 0)
    );
    client
        .batch_execute("CREATE DATABASE scratch")
        .await
        .unwrap();
    client.batch_execute("DROP DATABASE scratch").await.unwrap();
    let refused = client
        .batch_execute("CREATE ROLE intruder")
        .await
        .unwrap_err();
    assert_eq!(
        refused.code().map(|c| c.code()),
        Some("42501"),
        "{refused:?}"
    );
    // Nobody else's database is its to drop.
    let refused = client.batch_execute("DROP DATABASE kb").await.unwrap_err();
    assert_eq!(
        refused.code().map(|c| c.code()),
        Some("42501"),
        "{refused:?}"
    );

    // Development's clusters never have the test runner.
    ctx.run(&["dev", "up"]).success();
    let roles = ctx
        .run(&[
            "dev",
            "psql",
            "files",
            "--",
            "-XtAc",
            "select count(*) from pg_roles where rolname = 'kb_test_runner'",
        ])
        .success()
        .stdout;
    assert_eq!(roles.trim(), "0");
    assert!(
        login(dev_port, runner, &password, "postgres")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_template_is_built_once_rebuilt_when_stale_and_cloned_by_the_test_runner() {
    let (ctx, _, test_port) = fleet();
    let built = template(&ctx, "notes", &[]);
    assert_eq!(built["result"], "built", "{built}");
    assert_eq!(built["template"], "kb_template");
    // The template is the whole shared database: every service placed in it.
    assert_eq!(built["services"], serde_json::json!(["notes", "tags"]));
    let fresh = template(&ctx, "tags", &[]);
    assert_eq!(fresh["result"], "fresh", "{fresh}");
    assert_eq!(fresh["digest"], built["digest"]);
    let forced = template(&ctx, "notes", &["--force"]);
    assert_eq!(forced["result"], "rebuilt", "{forced}");

    // A new migration of either service makes it stale.
    ctx.write(
        "services/tags/migrations/002_colour.up.sql",
        "ALTER TABLE tags ADD COLUMN colour text DEFAULT 'red';\n",
    );
    let rebuilt = template(&ctx, "notes", &[]);
    assert_eq!(rebuilt["result"], "rebuilt", "{rebuilt}");
    assert_ne!(rebuilt["digest"], built["digest"]);
    assert_eq!(template(&ctx, "notes", &[])["result"], "fresh");
    assert_eq!(template(&ctx, "files", &[])["result"], "built");
    // So does a change of the manifest: the template carries its access plan (tags now reads
    // notes, a grant the old template lacks).
    let manifest = std::fs::read_to_string(&ctx.manifest).unwrap();
    let reads = manifest.replace(
        "schema = \"tags\"\n",
        "schema = \"tags\"\nreads = [\"notes\"]\n",
    );
    assert_ne!(reads, manifest);
    std::fs::write(&ctx.manifest, reads).unwrap();
    let regranted = template(&ctx, "notes", &[]);
    assert_eq!(regranted["result"], "rebuilt", "{regranted}");

    // The test runner clones it; the services' runtime roles use the clone.
    let runner = login(
        test_port,
        "kb_test_runner",
        &secret(&ctx, "kb_test_runner"),
        "postgres",
    )
    .await
    .unwrap();
    let started = std::time::Instant::now();
    runner
        .batch_execute("CREATE DATABASE kb_run_1 TEMPLATE kb_template")
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(5),
        "a clone took {took:?}"
    );
    let tags = login(test_port, "tags_app", &secret(&ctx, "tags_app"), "kb_run_1")
        .await
        .unwrap();
    // Migrated (002's column), seeded, found unqualified, writable as the runtime role.
    let row = tags
        .query_one("SELECT name, colour FROM tags", &[])
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1)),
        ("tags".to_owned(), "red".to_owned())
    );
    tags.batch_execute("INSERT INTO tags VALUES (2, 'more', 'blue')")
        .await
        .unwrap();
    let notes = login(
        test_port,
        "notes_app",
        &secret(&ctx, "notes_app"),
        "kb_run_1",
    )
    .await
    .unwrap();
    let count: i64 = notes
        .query_one("SELECT count(*) FROM notes", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
    // What the runtime role may not do there, it may not do in the clone either.
    let refused = notes.batch_execute("DROP TABLE notes").await.unwrap_err();
    assert_eq!(
        refused.code().map(|c| c.code()),
        Some("42501"),
        "{refused:?}"
    );
    // Nobody connects to the template itself, so a clone never waits for a session in it.
    let closed = login(
        test_port,
        "notes_app",
        &secret(&ctx, "notes_app"),
        "kb_template",
    )
    .await;
    assert!(closed.is_err());
    drop((tags, notes));
    // Its owner drops it once the sessions are gone (it may not end other roles' sessions,
    // so no FORCE: PostgreSQL waits a few seconds for them to leave).
    runner
        .batch_execute("DROP DATABASE kb_run_1")
        .await
        .unwrap();
    // The clone was the test runner's; development knows nothing of the template.
    let development = ctx
        .run(&["dev", "status", "--format", "json"])
        .success()
        .json();
    assert_eq!(development["servers"][0]["state"], "not initialized");
}

#[test]
fn a_testing_environment_must_be_local_and_its_ports_its_own() {
    let ctx = TestContext::new(
        "[fleet]\nname = \"kb\"\n\n[environments.development]\nlocal = true\n\n\
         [environments.testing]\ntesting = true\n\n[servers.a]\ndev_port = 5501\n\n\
         [servers.b]\ndev_port = 5601\n",
    );
    let run = ctx.run(&["env", "check"]).failure(3);
    for wanted in [
        "environment `testing` is a testing environment but not local",
        "help: add `local = true`",
    ] {
        assert!(
            run.stderr.contains(wanted),
            "`{wanted}` not in:\n{}",
            run.stderr
        );
    }
    let ctx = TestContext::new(
        "[fleet]\nname = \"kb\"\n\n[environments.development]\nlocal = true\n\n\
         [environments.testing]\nlocal = true\ntesting = true\n\n[servers.a]\ndev_port = 5501\n\n\
         [servers.b]\ndev_port = 5601\n\n[servers.c]\ndev_port = 5701\ntest_port = 5501\n",
    );
    let run = ctx.run(&["env", "check"]).failure(3);
    for wanted in [
        "test_port (dev_port + 100) 5601 of server `a` is already the dev_port of server `b`",
        "test_port 5501 of server `c` is already the dev_port of server `a`",
    ] {
        assert!(
            run.stderr.contains(wanted),
            "`{wanted}` not in:\n{}",
            run.stderr
        );
    }
}
