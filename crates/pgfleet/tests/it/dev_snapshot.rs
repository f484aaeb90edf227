//! Issue 15, item 6: `dev snapshot` / `dev restore` / `dev snapshots` on real local clusters.

use crate::context::TestContext;
use crate::dev::psql;

/// The testing environment's fleet (`notes` and `tags` by schema in `kb`, `files` in a
/// database of its own, a row each from its seed), up, migrated and seeded in development.
fn seeded() -> TestContext {
    let (ctx, _, _) = crate::testing_env::fleet();
    ctx.run(&["dev", "up"]).success();
    ctx.run(&["migrate", "up", "--all"]).success();
    ctx.run(&["dev", "seed"]).success();
    ctx
}

fn names(ctx: &TestContext, service: &str) -> String {
    psql(
        ctx,
        service,
        &format!("select string_agg(name, ',' order by id) from {service}"),
    )
}

#[test]
fn a_database_snapshot_round_trips_a_seeded_service() {
    let mut ctx = seeded();
    assert_eq!(names(&ctx, "files"), "files");

    let taken = ctx
        .run(&["dev", "snapshot", "files", "before", "--format", "json"])
        .success()
        .json();
    assert_eq!(taken["kind"], "database");
    assert_eq!(taken["location"], "files__snap_before");
    assert_eq!(taken["result"], "created");
    assert!(taken["size_bytes"].as_u64().unwrap() > 0, "{taken}");
    // A second one of the same name is refused unless replaced.
    let again = ctx.run(&["dev", "snapshot", "files", "before"]).failure(1);
    assert!(
        again.stderr.contains("already has a snapshot `before`"),
        "{}",
        again.stderr
    );
    assert!(again.stderr.contains("--force"), "{}", again.stderr);

    // Try something: data and schema change.
    psql(
        &ctx,
        "files",
        "delete from files where id = 1; insert into files values (3, 'three')",
    );
    ctx.write(
        "services/files/migrations/002_more.up.sql",
        "ALTER TABLE files ADD COLUMN size bigint;\n",
    );
    ctx.run(&["migrate", "up", "files"]).success();
    assert_eq!(names(&ctx, "files"), "three");

    let restored = ctx
        .run(&["dev", "restore", "files", "before", "--format", "json"])
        .success()
        .json();
    assert_eq!(restored["result"], "restored");
    // The data and the migration version are back, and the service's role reaches them.
    assert_eq!(names(&ctx, "files"), "files");
    assert_eq!(
        psql(
            &ctx,
            "files",
            "select count(*) from information_schema.columns where table_name = 'files' and column_name = 'size'"
        ),
        "0"
    );
    std::fs::remove_file(
        ctx.dir
            .path()
            .join("services/files/migrations/002_more.up.sql"),
    )
    .unwrap();
    ctx.run(&["migrate", "status", "files", "--check"])
        .success();
    ctx.run(&["access", "check", "files"]).success();
    // The snapshot is kept: a second restore works, and it is listed.
    ctx.run(&["dev", "restore", "files", "before"]).success();
    let listed = ctx
        .run(&["dev", "snapshots", "--format", "json"])
        .success()
        .json();
    let snapshots = listed["snapshots"].as_array().unwrap();
    assert_eq!(snapshots.len(), 1, "{listed}");
    assert_eq!(snapshots[0]["name"], "before");
    assert_eq!(snapshots[0]["service"], "files");
    ctx.filter(snapshots[0]["created_at"].as_str().unwrap(), "[CREATED]");
    let size = snapshots[0]["size_bytes"].as_u64().unwrap();
    ctx.filter(&pgfleet::output::human_bytes(size), "[SIZE]");
    // Columns three spaces apart whatever the width of the size filtered out of them.
    let table = ctx.run_filtered(&["dev", "snapshots"]).snapshot();
    insta::assert_snapshot!(
        "dev_snapshots_table",
        regex::Regex::new(" {3,}")
            .unwrap()
            .replace_all(&table, "   ")
    );
    insta::assert_snapshot!(
        "dev_snapshot_unknown",
        ctx.run_filtered(&["dev", "restore", "files", "nope"])
            .snapshot()
    );
    // --force replaces it with the data as it is now.
    psql(&ctx, "files", "delete from files");
    let replaced = ctx
        .run(&[
            "dev", "snapshot", "files", "before", "--force", "--format", "json",
        ])
        .success()
        .json();
    assert_eq!(replaced["result"], "replaced");
    psql(&ctx, "files", "insert into files values (9, 'nine')");
    ctx.run(&["dev", "restore", "files", "before"]).success();
    assert_eq!(psql(&ctx, "files", "select count(*) from files"), "0");
}

#[test]
fn snapshots_refuse_bad_names_and_other_environments() {
    let ctx = crate::dev::two_server_fleet();
    let bad = ctx
        .run(&["dev", "snapshot", "billing", "Before-1"])
        .failure(4);
    assert!(
        bad.stderr.contains("snapshot name `Before-1`"),
        "{}",
        bad.stderr
    );
    let long = "x".repeat(60);
    let too_long = ctx.run(&["dev", "snapshot", "billing", &long]).failure(4);
    assert!(
        too_long.stderr.contains("at most 63"),
        "{}",
        too_long.stderr
    );
    let elsewhere = ctx
        .run(&["--env", "production", "dev", "snapshot", "billing", "x"])
        .failure(4);
    assert!(
        elsewhere.stderr.contains("is not local"),
        "{}",
        elsewhere.stderr
    );
    ctx.run(&["--env", "production", "dev", "snapshots"])
        .failure(4);
}

#[test]
fn a_dump_snapshot_round_trips_a_seeded_schema_placed_service() {
    let ctx = seeded();
    let taken = ctx
        .run(&["dev", "snapshot", "notes", "seeded", "--format", "json"])
        .success()
        .json();
    assert_eq!(taken["kind"], "dump");
    assert_eq!(taken["result"], "created");
    assert!(
        taken["location"]
            .as_str()
            .unwrap()
            .ends_with(".pgfleet/snapshots/notes/seeded"),
        "{taken}"
    );

    psql(
        &ctx,
        "notes",
        "delete from notes where id = 1; insert into notes values (7, 'seven')",
    );
    ctx.write(
        "services/notes/migrations/002_more.up.sql",
        "ALTER TABLE notes ADD COLUMN tag text;\n",
    );
    ctx.run(&["migrate", "up", "notes"]).success();
    // Another service changes too, and is left alone.
    psql(&ctx, "files", "insert into files values (5, 'five')");

    let restored = ctx
        .run(&["dev", "restore", "notes", "seeded", "--format", "json"])
        .success()
        .json();
    assert_eq!(restored["result"], "restored");
    assert_eq!(names(&ctx, "notes"), "notes");
    assert_eq!(
        psql(
            &ctx,
            "notes",
            "select count(*) from information_schema.columns where table_name = 'notes' and column_name = 'tag'"
        ),
        "0"
    );
    assert_eq!(psql(&ctx, "files", "select count(*) from files"), "2");
    std::fs::remove_file(
        ctx.dir
            .path()
            .join("services/notes/migrations/002_more.up.sql"),
    )
    .unwrap();
    ctx.run(&["migrate", "status", "notes", "--check"])
        .success();
    ctx.run(&["access", "check"]).success();
    let listed = ctx
        .run(&["dev", "snapshots", "notes", "--format", "json"])
        .success()
        .json();
    assert_eq!(listed["snapshots"][0]["name"], "seeded");
    assert_eq!(listed["snapshots"][0]["kind"], "dump");

    // In a local environment a backup is verified and restored on the dev server.
    let created = ctx
        .run(&["backup", "create", "--all", "--format", "json"])
        .success()
        .json();
    let id = created["backups"][0]["id"].as_str().unwrap();
    psql(&ctx, "files", "delete from files");
    let restored = ctx
        .run(&[
            "backup",
            "restore",
            id,
            "files",
            "--replace",
            "--format",
            "json",
        ])
        .success()
        .json();
    assert_eq!(restored["database"], "files", "{restored:#}");
    assert_eq!(psql(&ctx, "files", "select count(*) from files"), "2");
    let verified = ctx
        .run(&["backup", "verify", "--latest", "--format", "json"])
        .success()
        .json();
    let results = verified["results"].as_array().unwrap();
    assert_eq!(results.len(), 3, "{verified:#}");
    for result in results {
        assert_eq!(result["ok"], true, "{verified:#}");
        assert!(
            result["restored_on"].as_str().unwrap().starts_with("main/"),
            "{verified:#}"
        );
    }
}
