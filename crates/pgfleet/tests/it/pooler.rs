//! A server with a PgBouncer in front (Debian's, started by the test in transaction mode):
//! the service is handed the pooler's address, pgfleet's own sessions go to the server.

use crate::context::TestContext;
use pgfleet_testkit::{TestCluster, TestPgBouncer};
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);
const RUNTIME_PASSWORD: &str = "runtime-pw";

struct Pooled {
    ctx: TestContext,
    bouncer: TestPgBouncer,
    prefix: String,
    service: String,
    database: String,
}

/// A database-placed and a schema-placed service on a server whose `testing` pooler is a
/// PgBouncer that knows only the runtime roles: a session of pgfleet's own login
/// (`postgres`) through it would fail to authenticate, so a command that succeeds went direct.
async fn pooled() -> Pooled {
    let cluster = TestCluster::shared();
    let p = format!(
        "pl{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let db = cluster.fresh_database().await;
    let shared = cluster.fresh_database().await;
    // The schema-placed service's schema is there before access runs.
    shared
        .client()
        .await
        .batch_execute(&format!("CREATE SCHEMA {p}_notes"))
        .await
        .unwrap();
    let service = format!("{p}_orders");
    let runtime = format!("{service}_app");
    let bouncer = TestPgBouncer::start(cluster, &[(runtime.as_str(), RUNTIME_PASSWORD)]).unwrap();
    let mut ctx = TestContext::on_test_cluster(
        &format!("name = \"{p}\""),
        &format!(
            r#"
[servers.main]
database = "{shared}"
[servers.main.pooler]
mode = "transaction"
[servers.main.pooler.environments.testing]
host = {{ env = "IT_POOLER_HOST" }}
port = {{ env = "IT_POOLER_PORT" }}

[services.{service}]
database = "{db}"
migrations = "migrations/orders"

[services.{p}_notes]
schema = "{p}_notes"
migrations = "migrations/notes"
"#,
            db = db.name,
            shared = shared.name,
        ),
    );
    ctx.var("IT_POOLER_HOST", bouncer.host())
        .var("IT_POOLER_PORT", &bouncer.port().to_string())
        .var(
            &format!("{service}_DB_PASSWORD").to_uppercase(),
            RUNTIME_PASSWORD,
        )
        .var(
            &format!("{p}_notes_DB_PASSWORD").to_uppercase(),
            RUNTIME_PASSWORD,
        );
    ctx.write(
        "migrations/orders/001_orders.up.sql",
        "CREATE TABLE orders (id bigserial PRIMARY KEY, item text NOT NULL);\n\
         INSERT INTO orders (item) VALUES ('first');\n",
    );
    Pooled {
        ctx,
        bouncer,
        prefix: p,
        service,
        database: db.name,
    }
}

#[tokio::test]
async fn the_service_gets_the_pooler_and_pgfleet_goes_direct() {
    let f = pooled().await;
    // pgfleet's own sessions: PgBouncer does not know its login, so these only succeed direct.
    f.ctx.run(&["access", "apply"]).success();
    f.ctx.run(&["migrate", "up", &f.service]).success();
    assert!(f.bouncer.clients().await.is_empty());

    let vars = f
        .ctx
        .run(&[
            "env",
            "export",
            &f.service,
            "--format",
            "json",
            "--show-secrets",
        ])
        .success()
        .json();
    let port = f.bouncer.port().to_string();
    assert_eq!(vars["PGPORT"], port.as_str(), "{vars}");
    assert_eq!(vars["PGHOST"], "127.0.0.1");
    assert_eq!(vars["PGFLEET_POOLER"], "transaction");
    let url_var = format!("{}_DATABASE_URL", f.service.to_uppercase());
    let url = vars[&url_var].as_str().unwrap();
    assert!(url.contains(&format!("@127.0.0.1:{port}/")), "{url}");
    assert!(vars.get("PGOPTIONS").is_none(), "{vars}");

    // The service's session, with exactly what the export hands it, is a client of PgBouncer.
    let mut config: tokio_postgres::Config = url.parse().unwrap();
    config.application_name(&f.service);
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let item: String = client
        .simple_query("SELECT item FROM orders")
        .await
        .unwrap()
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
        .unwrap();
    assert_eq!(item, "first");
    let runtime = format!("{}_app", f.service);
    assert_eq!(
        f.bouncer.clients().await,
        [(runtime.clone(), f.database.clone())]
    );
    // pgfleet's commands still go direct while the service is connected through it.
    f.ctx.run(&["access", "check"]).success();
    f.ctx.run(&["migrate", "status", &f.service]).success();
    assert_eq!(f.bouncer.clients().await, [(runtime, f.database.clone())]);

    // A schema-placed service behind the pooler gets no startup options.
    let notes = f
        .ctx
        .run(&[
            "env",
            "export",
            &format!("{}_notes", f.prefix),
            "--format",
            "json",
        ])
        .success()
        .json();
    assert!(notes.get("PGOPTIONS").is_none(), "{notes}");
    assert_eq!(notes["PGFLEET_POOLER"], "transaction");
    assert!(notes["PGFLEET_SCHEMA"].is_string(), "{notes}");
}

#[tokio::test]
async fn migrate_up_refuses_a_url_at_the_transaction_pooler() {
    let mut f = pooled().await;
    let url_var = format!("{}_DATABASE_URL", f.service.to_uppercase());
    let url = f
        .bouncer
        .url(&format!("{}_app", f.service), RUNTIME_PASSWORD, &f.database);
    f.ctx.var(&url_var, &url);
    let run = f.ctx.run(&["migrate", "up", &f.service]).failure(4);
    let text = run.all_output();
    assert!(
        text.contains(&format!(
            "{url_var} points at the transaction pooler of server `main` in testing"
        )),
        "{text}"
    );
    assert!(
        text.contains("hint:") && text.contains("[environments.testing] (IT_HOST)"),
        "{text}"
    );
    assert!(!text.contains(RUNTIME_PASSWORD), "{text}");
    assert!(f.bouncer.clients().await.is_empty(), "nothing connected");
    // The service itself simply uses the override, told that it is pooled.
    let vars = f
        .ctx
        .run(&["env", "export", &f.service, "--format", "json"])
        .success()
        .json();
    assert_eq!(vars["PGFLEET_POOLER"], "transaction");
    assert_eq!(vars["PGPORT"], f.bouncer.port().to_string().as_str());
}
