//! Issue 11's attacks on configuration: names a service must not take, secrets in exports,
//! URLs and children's environments, and manifest or `.env` files that are not what they seem.

use crate::context::TestContext;
use pgfleet_testkit::TestCluster;
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A prefix of names no other test uses (roles are cluster-wide).
fn prefix() -> String {
    format!(
        "h{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// `path:line:column` of the value after the first `key = ` in the context's manifest.
fn place(ctx: &TestContext, key: &str) -> String {
    let text = std::fs::read_to_string(&ctx.manifest).unwrap();
    let needle = format!("{key} = ");
    let offset = text
        .find(&needle)
        .unwrap_or_else(|| panic!("{needle} not in\n{text}"))
        + needle.len();
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("{}:{line}:{column}", ctx.manifest.display())
}

#[tokio::test]
async fn a_service_cannot_take_pgfleets_schema_or_the_superuser_role() {
    let cluster = TestCluster::shared();
    let db = cluster.fresh_database().await;
    let p = prefix();
    let ctx = TestContext::on_test_cluster(
        &format!("name = \"{p}\""),
        &format!(
            r#"
[servers.main]
database = "{db}"

[services.{p}_audit]
schema = "pgfleet"

[services.{p}_billing]
schema = "{p}_billing"
[services.{p}_billing.access]
runtime_role = "postgres"
"#,
            db = db.name
        ),
    );
    // What would hand the service pgfleet's history and audit tables, or make pgfleet
    // ALTER the superuser into a service role, is refused before anything connects.
    for args in [&["access", "apply"][..], &["migrate", "up", "--all"][..]] {
        let run = ctx.run(args).failure(3);
        let schema = format!(
            "{}: schema `pgfleet` is pgfleet's own",
            place(&ctx, "schema")
        );
        let role = format!(
            "{}: role `postgres` is PostgreSQL's",
            place(&ctx, "runtime_role")
        );
        assert!(run.stderr.contains(&schema), "{}", run.stderr);
        assert!(run.stderr.contains(&role), "{}", run.stderr);
    }
    let client = db.client().await;
    let roles: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_roles WHERE rolname LIKE $1",
            &[&format!("{p}%")],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(roles, 0, "no service role was created");
    let pgfleet_schema: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'pgfleet'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(pgfleet_schema, 0, "nothing was created in the database");
}
