//! Behind PgBouncer in transaction mode: what the client does so that no session state is
//! needed (statements in transactions of their own, no prepared statement kept across
//! transactions, settings local to a transaction, no startup options).

use crate::{Route, RouteKind};
use pgfleet_client::{Error, Isolation, TxOptions, tokio_postgres};
use std::time::Duration;

/// Concurrent callers outnumber PgBouncer's server sessions (4 against 3), so consecutive
/// statements of one connection run on different server sessions: a statement prepared on one
/// and bound on another would fail with "prepared statement does not exist".
#[tokio::test]
async fn statements_outside_a_transaction_survive_moving_between_server_sessions() {
    let db = pgfleet_testkit::fresh_database().await;
    let route = Route::start(RouteKind::PgBouncer, &["postgres"]);
    let (pool, _) = route.pool(&db, "hopping", |c| c.min_idle = 4);
    let mut tasks = Vec::new();
    for task in 0..4i32 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut backends = std::collections::BTreeSet::new();
            for n in 0..40i32 {
                let c = pool.get().await.unwrap();
                let row = c
                    .query_one("SELECT $1::int + $2::int, pg_backend_pid()", &[&task, &n])
                    .await
                    .unwrap();
                assert_eq!(row.get::<_, i32>(0), task + n);
                backends.insert(row.get::<_, i32>(1));
                c.execute("SELECT $1::text", &[&"x"]).await.unwrap();
                let rows = c
                    .query("SELECT generate_series(1, $1)", &[&3i32])
                    .await
                    .unwrap();
                assert_eq!(rows.len(), 3);
                assert!(
                    c.query_opt("SELECT 1 WHERE false", &[])
                        .await
                        .unwrap()
                        .is_none()
                );
                let logged = c.query_logged("SELECT $1::int", &[&n]).await.unwrap();
                assert_eq!(logged[0].get::<_, i32>(0), n);
                tokio::task::yield_now().await;
            }
            backends
        }));
    }
    let mut backends = std::collections::BTreeSet::new();
    for task in tasks {
        backends.extend(task.await.unwrap());
    }
    assert!(
        backends.len() > 1,
        "the statements ran on more than one server session: {backends:?}"
    );
    // Nothing was left prepared on the server sessions (asked with the simple protocol, which
    // prepares nothing itself), wherever the question lands.
    for _ in 0..6 {
        let c = pool.get().await.unwrap();
        let left = c
            .simple_query("SELECT count(*) FROM pg_prepared_statements")
            .await
            .unwrap()
            .iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                _ => None,
            });
        assert_eq!(left.as_deref(), Some("0"));
    }
}

/// A statement prepared outside a transaction would outlive its server session: refused with a
/// typed error; inside a transaction it is prepared for that transaction only.
#[tokio::test]
async fn a_prepared_statement_outside_a_transaction_is_refused() {
    let db = pgfleet_testkit::fresh_database().await;
    let route = Route::start(RouteKind::PgBouncer, &["postgres"]);
    let (pool, _) = route.pool(&db, "prepared", |_| {});
    let c = pool.get().await.unwrap();
    let err = c.prepare_cached("SELECT 1").await.unwrap_err();
    assert!(matches!(err, Error::PreparedBehindPooler), "{err:?}");
    assert!(err.to_string().contains("hint:"), "{err}");
    assert!(matches!(
        c.prepare("SELECT 1").await.unwrap_err(),
        Error::PreparedBehindPooler
    ));
    drop(c);
    for n in 0..20i32 {
        let got: i32 = pool
            .transaction(Isolation::ReadCommitted, async move |tx| {
                let statement = tx.prepare_cached("SELECT $1::int * 2").await?;
                let row = tx.query_one(&statement, &[&n]).await?;
                Ok(row.get(0))
            })
            .await
            .unwrap();
        assert_eq!(got, n * 2);
    }
    // Directly, the cached statement is still what it was.
    let direct = Route::start(RouteKind::Direct, &[]);
    let (pool, _) = direct.pool(&db, "prepared_direct", |_| {});
    let c = pool.get().await.unwrap();
    let statement = c.prepare_cached("SELECT 1").await.unwrap();
    assert_eq!(
        c.query_one(&statement, &[]).await.unwrap().get::<_, i32>(0),
        1
    );
}

/// One server session shared by every transaction: what one transaction sets is gone for the
/// next (the user context is `set_config(…, true)`), and the pool sends no startup options
/// (PgBouncer would refuse `options`), so the session keeps the server's own timeout.
#[tokio::test]
async fn session_state_does_not_leak_across_transactions_behind_the_pooler() {
    let db = pgfleet_testkit::fresh_database().await;
    let route = Route::start(RouteKind::PgBouncer, &["postgres"]);
    let (pool, _) = route.pool(&db, "leak", |c| {
        c.max_size = 2;
        c.min_idle = 0;
        c.statement_timeout = Duration::from_secs(7);
    });
    let seen = pool
        .transaction_with(
            TxOptions::new(Isolation::ReadCommitted).user("alice"),
            async move |tx| {
                tx.set_local("app.other", "kept-in-tx").await?;
                let row = tx
                    .query_one(
                        "SELECT current_setting('app.current_user_id'), current_setting('app.other'), pg_backend_pid()",
                        &[],
                    )
                    .await?;
                Ok((row.get::<_, String>(0), row.get::<_, String>(1), row.get::<_, i32>(2)))
            },
        )
        .await
        .unwrap();
    assert_eq!((seen.0.as_str(), seen.1.as_str()), ("alice", "kept-in-tx"));
    // Another client of the pool, and the same one again: wherever they land, nothing is left.
    for _ in 0..5 {
        let c = pool.get().await.unwrap();
        let row = c
            .query_one(
                "SELECT nullif(current_setting('app.current_user_id', true), ''),
                        nullif(current_setting('app.other', true), ''),
                        current_setting('statement_timeout')",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, Option<String>>(0), None);
        assert_eq!(row.get::<_, Option<String>>(1), None);
        assert_ne!(
            row.get::<_, String>(2),
            "7s",
            "no statement_timeout startup option behind the pooler"
        );
    }
    let reused = pool
        .as_user("bob")
        .transaction(Isolation::ReadCommitted, async move |tx| {
            Ok(tx
                .query_one("SELECT current_setting('app.current_user_id')", &[])
                .await?
                .get::<_, String>(0))
        })
        .await
        .unwrap();
    assert_eq!(reused, "bob");
}

/// A caller that stops waiting for a statement (its future dropped mid-way) leaves no open
/// transaction behind: the server session goes back to idle, not "idle in transaction".
#[tokio::test]
async fn an_interrupted_statement_leaves_no_transaction_open() {
    let db = pgfleet_testkit::fresh_database().await;
    let route = Route::start(RouteKind::PgBouncer, &["postgres"]);
    let (pool, _) = route.pool(&db, "interrupted_statement", |c| {
        c.max_size = 1;
        c.min_idle = 0;
    });
    let c = pool.get().await.unwrap();
    let interrupted = tokio::time::timeout(
        Duration::from_millis(200),
        c.query_one("SELECT pg_sleep(1)::text", &[]),
    )
    .await;
    assert!(interrupted.is_err(), "timed out");
    drop(c);
    let admin = db.client().await;
    assert!(
        crate::eventually(Duration::from_secs(10), async || {
            let busy: i64 = admin
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'interrupted_statement' AND state <> 'idle'",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            busy == 0
        })
        .await,
        "the server session is out of the transaction"
    );
    let c = pool.get().await.unwrap();
    assert_eq!(
        c.query_one("SELECT 1", &[]).await.unwrap().get::<_, i32>(0),
        1
    );
}
