//! `migrate import alembic` (issue 13) against a real Alembic project of six revisions (an enum
//! type and a data migration among them), run by the real alembic: the converted files rebuild
//! the schema Alembic builds, and a database Alembic migrated half-way is adopted and finished.

use crate::context::column;
use crate::migrate::{fleet, history, schema_dump, versions};
use pgfleet_testkit::{TestCluster, TestDatabase};
use std::path::{Path, PathBuf};

/// The venv's alembic (.ci/run exports it); a run outside CI without it skips.
fn alembic_program() -> Option<PathBuf> {
    match std::env::var_os("PGFLEET_TEST_ALEMBIC") {
        Some(path) => Some(PathBuf::from(path)),
        None if std::env::var_os("CI").is_some() => {
            panic!("PGFLEET_TEST_ALEMBIC is not set: .ci/run installs alembic")
        }
        None => None,
    }
}

fn url(db: &TestDatabase) -> String {
    let cluster = TestCluster::shared();
    format!(
        "postgresql+psycopg://{}@{}:{}/{}",
        cluster.superuser(),
        cluster.host(),
        cluster.port(),
        db.name
    )
}

/// Alembic itself, online, on `db`.
fn alembic_upgrade(program: &Path, project: &Path, db: &TestDatabase, to: &str) {
    let out = std::process::Command::new(program)
        .args(["-c", "alembic.ini", "upgrade", to])
        .current_dir(project)
        .env("ALEMBIC_URL", url(db))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "__pycache__") {
                continue;
            }
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// The schema, blank lines and Alembic's own table aside.
async fn schema(db: &TestDatabase) -> Vec<String> {
    db.client()
        .await
        .batch_execute("DROP TABLE IF EXISTS alembic_version")
        .await
        .unwrap();
    schema_dump(db)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn an_alembic_project_becomes_files_that_rebuild_alembics_schema_and_is_adopted() {
    let Some(program) = alembic_program() else {
        return;
    };
    let by_alembic = pgfleet_testkit::fresh_database().await;
    let by_pgfleet = pgfleet_testkit::fresh_database().await;
    let half = pgfleet_testkit::fresh_database().await;
    let mut ctx = fleet(&[("conv", &by_pgfleet), ("half", &half)]);
    let project = ctx.dir.path().join("alembic-project");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/alembic/project"),
        &project,
    );
    // Offline mode connects nowhere, but the project's env.py reads its URL all the same.
    ctx.var("ALEMBIC_URL", &url(&by_pgfleet));
    let program_arg = program.to_str().unwrap().to_owned();
    let project_arg = project.to_str().unwrap().to_owned();
    let import = |service: &str| {
        ctx.run(&[
            "migrate",
            "import",
            "alembic",
            service,
            "--project",
            &project_arg,
            "--alembic",
            &program_arg,
            "--format",
            "json",
        ])
        .success()
        .json()
    };

    alembic_upgrade(&program, &project, &by_alembic, "head");

    let report = import("conv");
    assert_eq!(report["written"], true);
    assert_eq!(report["files"].as_array().unwrap().len(), 6);
    assert!(report["adopted"].is_null(), "{report}");
    let first = std::fs::read_to_string(report["files"][0]["up"].as_str().unwrap()).unwrap();
    assert!(first.contains("CREATE TABLE users"), "{first}");
    for absent in ["alembic_version", "BEGIN;", "COMMIT;"] {
        assert!(!first.contains(absent), "{absent}:\n{first}");
    }
    ctx.run(&["migrate", "up", "conv"]).success();
    assert_eq!(schema(&by_alembic).await, schema(&by_pgfleet).await);
    let admin: Vec<String> = column(
        &by_pgfleet.client().await,
        "SELECT email || ':' || mood FROM users",
    )
    .await;
    assert_eq!(admin, ["admin@example.com:happy"], "the data migration ran");
    // The converted down files take it all back.
    ctx.run(&["migrate", "down", "conv", "--to", "0"]).success();
    let left: Vec<String> = column(
        &by_pgfleet.client().await,
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'
         UNION ALL SELECT typname::text FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
          WHERE n.nspname = 'public' AND t.typtype = 'e'",
    )
    .await;
    assert!(left.is_empty(), "{left:?}");

    // A database Alembic took half-way: adopted at its revision, then finished by pgfleet.
    alembic_upgrade(&program, &project, &half, "c3f0c0de0003");
    let report = import("half");
    let adopted: Vec<i64> = report["adopted"]["adopted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["version"].as_i64().unwrap())
        .collect();
    assert_eq!(adopted, [1, 2, 3]);
    assert_eq!(report["adopted"]["pending"], serde_json::json!([4, 5, 6]));
    ctx.run(&["migrate", "up", "half"]).success();
    assert_eq!(versions(&history(&half, "half").await), [1, 2, 3, 4, 5, 6]);
    let rebuilt = pgfleet_testkit::fresh_database().await;
    alembic_upgrade(&program, &project, &rebuilt, "head");
    assert_eq!(schema(&half).await, schema(&rebuilt).await);

    // A second head is refused, naming both.
    std::fs::write(
        project.join("migrations/versions/99f0c0de0099_other_head.py"),
        "revision = \"99f0c0de0099\"\ndown_revision = \"e5f0c0de0005\"\n\n\ndef upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n",
    )
    .unwrap();
    let other = pgfleet_testkit::fresh_database().await;
    let ctx = fleet(&[("branched", &other)]);
    let mut ctx = ctx;
    ctx.var("ALEMBIC_URL", &url(&other));
    let run = ctx
        .run(&[
            "migrate",
            "import",
            "alembic",
            "branched",
            "--project",
            &project_arg,
            "--alembic",
            &program_arg,
        ])
        .failure(1);
    assert!(run.stderr.contains("2 heads"), "{}", run.stderr);
    assert!(
        !ctx.dir.path().join("migrations/branched").exists(),
        "nothing written"
    );
}
