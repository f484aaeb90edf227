//! Issue 14, item 1: the pool table's limits and a schema-placed service's search_path are
//! settings of the runtime role (`ALTER ROLE … SET`), so any client — psql, Django, asyncpg,
//! Go — gets them without startup options; planned, applied, audited and drift-checked.

use crate::context::TestContext;
use pgfleet_testkit::{TestCluster, TestDatabase};
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// `<p>_notes` by schema in a shared database (its own limits, a lock_timeout) and
/// `<p>_ledger` in a database of its own (the pool table's defaults).
struct Fleet {
    ctx: TestContext,
    p: String,
    shared: TestDatabase,
    ledger: TestDatabase,
}

async fn fleet() -> Fleet {
    let cluster = TestCluster::shared();
    let p = format!(
        "rs{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let shared = cluster.fresh_database().await;
    let ledger = cluster.fresh_database().await;
    shared
        .client()
        .await
        .batch_execute(&format!(
            "CREATE SCHEMA {p}_notes_schema AUTHORIZATION {}",
            cluster.superuser()
        ))
        .await
        .unwrap();
    let mut ctx = TestContext::on_test_cluster_as(
        cluster.superuser(),
        &format!("name = \"{p}\""),
        &format!(
            r#"
[servers.main]
database = "{shared}"

[services.{p}_notes]
schema = "{p}_notes_schema"
migrations = "migrations/notes"
[services.{p}_notes.pool]
statement_timeout = "12s"
idle_in_transaction_session_timeout = "0s"
lock_timeout = "1500ms"

[services.{p}_ledger]
database = "{ledger}"
migrations = "migrations/ledger"
"#,
            shared = shared.name,
            ledger = ledger.name,
        ),
    );
    for service in ["notes", "ledger"] {
        ctx.var(&format!("{p}_{service}_DB_PASSWORD").to_uppercase(), "pw");
    }
    ctx.write(
        "migrations/notes/001_notes.up.sql",
        "CREATE TABLE notes (id bigserial PRIMARY KEY, body text);\nINSERT INTO notes (body) VALUES ('hello');\n",
    );
    ctx.write(
        "migrations/ledger/001_entries.up.sql",
        "CREATE TABLE entries (id bigserial PRIMARY KEY);\n",
    );
    Fleet {
        ctx,
        p,
        shared,
        ledger,
    }
}

impl Fleet {
    /// A session as the runtime role with no startup options: what the server gives it.
    async fn runtime(&self, service: &str, db: &TestDatabase) -> tokio_postgres::Client {
        let mut config = db.config();
        config.user(format!("{}_{service}_app", self.p));
        let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client
    }

    async fn admin(&self) -> tokio_postgres::Client {
        self.shared.client().await
    }
}

async fn show(client: &tokio_postgres::Client, setting: &str) -> String {
    client
        .query_one(&format!("SHOW {setting}"), &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_runtime_session_has_the_manifests_limits_and_search_path_without_options() {
    let f = fleet().await;
    let p = &f.p;
    let plan = f.ctx.run(&["access", "plan"]).success().stdout;
    for wanted in [
        format!("ALTER ROLE \"{p}_notes_app\" SET \"statement_timeout\" = '12s'"),
        format!("ALTER ROLE \"{p}_notes_app\" SET \"idle_in_transaction_session_timeout\" = '0'"),
        format!("ALTER ROLE \"{p}_notes_app\" SET \"lock_timeout\" = '1500ms'"),
        format!("ALTER ROLE \"{p}_notes_app\" SET \"search_path\" = {p}_notes_schema, public"),
        format!("ALTER ROLE \"{p}_ledger_app\" SET \"statement_timeout\" = '30s'"),
        format!(
            "ALTER ROLE \"{p}_ledger_app\" SET \"idle_in_transaction_session_timeout\" = '1min'"
        ),
    ] {
        assert!(plan.contains(&wanted), "`{wanted}` not in:\n{plan}");
    }
    // No lock_timeout in the pool table: none on the role; the other roles get nothing.
    assert!(
        !plan.contains(&format!("\"{p}_ledger_app\" SET \"lock_timeout\"")),
        "{plan}"
    );
    assert!(
        !plan.contains(&format!("\"{p}_ledger_app\" SET \"search_path\"")),
        "{plan}"
    );
    assert!(
        !plan.contains(&format!("\"{p}_notes_owner\" SET")),
        "{plan}"
    );
    f.ctx.run(&["access", "apply"]).success();
    f.ctx.run(&["migrate", "up", "--all"]).success();
    f.ctx.run(&["access", "check"]).success();

    let notes = f.runtime("notes", &f.shared).await;
    assert_eq!(show(&notes, "statement_timeout").await, "12s");
    assert_eq!(
        show(&notes, "idle_in_transaction_session_timeout").await,
        "0"
    );
    assert_eq!(show(&notes, "lock_timeout").await, "1500ms");
    assert_eq!(
        show(&notes, "search_path").await,
        format!("{p}_notes_schema, public")
    );
    // The schema-placed service's tables are found unqualified.
    let body: String = notes
        .query_one("SELECT body FROM notes", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(body, "hello");
    // The limit is the server's: a statement past it is cancelled.
    notes
        .batch_execute("SET statement_timeout = '200ms'")
        .await
        .unwrap();
    let slow = notes.batch_execute("SELECT pg_sleep(2)").await.unwrap_err();
    assert_eq!(slow.code().map(|c| c.code()), Some("57014"), "{slow:?}");

    let ledger = f.runtime("ledger", &f.ledger).await;
    assert_eq!(show(&ledger, "statement_timeout").await, "30s");
    assert_eq!(
        show(&ledger, "idle_in_transaction_session_timeout").await,
        "1min"
    );
    assert_eq!(show(&ledger, "lock_timeout").await, "0");
    ledger
        .query_one("SELECT count(*) FROM entries", &[])
        .await
        .unwrap();
}

#[tokio::test]
async fn a_setting_changed_by_hand_is_drift_and_apply_sets_it_back() {
    let f = fleet().await;
    let p = &f.p;
    f.ctx.run(&["access", "apply"]).success();
    let admin = f.admin().await;
    // Equal in meaning is no drift: `12000ms` is the manifest's 12s, the list spelled apart
    // is the same search_path.
    admin
        .batch_execute(&format!(
            "ALTER ROLE {p}_notes_app SET statement_timeout = '12000ms';
             ALTER ROLE {p}_notes_app SET search_path = \"{p}_notes_schema\",public;
             ALTER ROLE {p}_ledger_app SET idle_in_transaction_session_timeout = 60000"
        ))
        .await
        .unwrap();
    f.ctx.run(&["access", "check"]).success();

    admin
        .batch_execute(&format!(
            "ALTER ROLE {p}_notes_app SET statement_timeout = 0;
             ALTER ROLE {p}_ledger_app SET work_mem = '1MB';
             ALTER ROLE {p}_ledger_app RESET idle_in_transaction_session_timeout"
        ))
        .await
        .unwrap();
    let drift = f.ctx.run(&["access", "check"]).failure(6).stdout;
    for wanted in [
        format!("role {p}_notes_app sets statement_timeout = 0, but the manifest says 12s"),
        format!("not in the manifest: role {p}_ledger_app sets work_mem = 1MB"),
        format!("missing: role {p}_ledger_app sets idle_in_transaction_session_timeout = 1min"),
    ] {
        assert!(drift.contains(&wanted), "`{wanted}` not in:\n{drift}");
    }
    let plan = f.ctx.run(&["access", "plan"]).success().stdout;
    // A wrong value is set over, not reset first.
    assert!(
        !plan.contains(&format!("\"{p}_notes_app\" RESET")),
        "{plan}"
    );
    for wanted in [
        format!("ALTER ROLE \"{p}_notes_app\" SET \"statement_timeout\" = '12s'"),
        format!("ALTER ROLE \"{p}_ledger_app\" RESET \"work_mem\""),
        format!(
            "ALTER ROLE \"{p}_ledger_app\" SET \"idle_in_transaction_session_timeout\" = '1min'"
        ),
    ] {
        assert!(plan.contains(&wanted), "`{wanted}` not in:\n{plan}");
    }
    f.ctx.run(&["access", "apply"]).success();
    f.ctx.run(&["access", "check"]).success();
    let notes = f.runtime("notes", &f.shared).await;
    assert_eq!(show(&notes, "statement_timeout").await, "12s");
    let ledger = f.runtime("ledger", &f.ledger).await;
    assert_eq!(show(&ledger, "work_mem").await, "4MB");
    assert_eq!(
        show(&ledger, "idle_in_transaction_session_timeout").await,
        "1min"
    );

    // The audit row of that apply lists the statements.
    let audit: Vec<String> = crate::context::column(
        &admin,
        "SELECT detail::text FROM pgfleet.audit_log WHERE command = 'access apply' ORDER BY id DESC LIMIT 1",
    )
    .await;
    for wanted in [
        format!("ALTER ROLE \\\"{p}_notes_app\\\" SET \\\"statement_timeout\\\" = '12s'"),
        format!("ALTER ROLE \\\"{p}_ledger_app\\\" RESET \\\"work_mem\\\""),
    ] {
        assert!(audit[0].contains(&wanted), "`{wanted}` not in {audit:?}");
    }
}
