//! Transactions: commit/rollback, retries of serialization failures and deadlocks, RLS context.

use crate::{metric, pool_on};
use pgfleet_client::{Error, Isolation, RetryPolicy, TxOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

on_both_routes! {
async fn err_rolls_back_and_ok_commits(route) {
    let route = crate::Route::start(route, &["postgres"]);
    let db = pgfleet_testkit::fresh_database().await;
    db.client()
        .await
        .batch_execute("CREATE TABLE item (id int PRIMARY KEY)")
        .await
        .unwrap();
    let (pool, registry) = route.pool(&db, "txs", |_| {});
    let count = async || -> i64 {
        let c = pool.get().await.unwrap();
        c.query_one("SELECT count(*) FROM item", &[])
            .await
            .unwrap()
            .get(0)
    };
    let err = pool
        .transaction(Isolation::ReadCommitted, async move |tx| {
            tx.execute("INSERT INTO item VALUES (1), (2)", &[]).await?;
            Err::<(), _>(Error::app("validation failed after the insert"))
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::App(_)));
    assert_eq!(count().await, 0, "the closure's Err left no rows");
    // A database error in the middle rolls back what came before it.
    let err = pool
        .transaction(Isolation::ReadCommitted, async move |tx| {
            tx.execute("INSERT INTO item VALUES (3)", &[]).await?;
            tx.execute("INSERT INTO item VALUES (3)", &[]).await?;
            Ok(())
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some("unique_violation"));
    assert_eq!(count().await, 0);
    pool.transaction(Isolation::RepeatableRead, async move |tx| {
        tx.track("insert", "item", "insert_items", async {
            Ok(tx.execute("INSERT INTO item VALUES (4), (5)", &[]).await?)
        })
        .await?;
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(count().await, 2);
    let s = ("service", "txs");
    assert_eq!(
        metric(
            &registry,
            "database_transactions_total",
            &[s, ("result", "rollback")]
        ),
        2.0
    );
    assert_eq!(
        metric(
            &registry,
            "database_transactions_total",
            &[s, ("result", "commit")]
        ),
        1.0
    );
    assert_eq!(
        metric(
            &registry,
            "database_transaction_duration_seconds_count",
            &[s, ("result", "commit")]
        ),
        1.0
    );
    assert_eq!(
        metric(
            &registry,
            "database_query_duration_seconds_count",
            &[("name", "insert_items")]
        ),
        1.0
    );
    // Every connection went back clean (not left inside a transaction).
    let in_tx: i64 = db
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'txs' AND state <> 'idle'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(in_tx, 0);
}
}

on_both_routes! {
/// Write skew under SERIALIZABLE: each transaction reads the sum of both rows and writes sum + 1
/// into its own row. Serially the results are 1 and 2; run together, one must fail with 40001
/// and, retried, see the other's write.
async fn the_loser_of_a_serialization_conflict_is_retried(route) {
    let route = crate::Route::start(route, &["postgres"]);
    let db = pgfleet_testkit::fresh_database().await;
    db.client()
        .await
        .batch_execute("CREATE TABLE slot (id int PRIMARY KEY, v int NOT NULL); INSERT INTO slot VALUES (1, 0), (2, 0)")
        .await
        .unwrap();
    let (pool, registry) = route.pool(&db, "ssi", |_| {});
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let attempts = Arc::new(AtomicU32::new(0));
    let run = |id: i32| {
        let pool = pool.clone();
        let barrier = barrier.clone();
        let attempts = attempts.clone();
        tokio::spawn(async move {
            pool.transaction(Isolation::Serializable, async move |tx| {
                attempts.fetch_add(1, Ordering::SeqCst);
                let sum: i64 = tx.query_one("SELECT sum(v) FROM slot", &[]).await?.get(0);
                if tx.attempt() == 1 {
                    // Both have read before either writes.
                    barrier.wait().await;
                }
                tx.execute(
                    "UPDATE slot SET v = $1 WHERE id = $2",
                    &[&(sum as i32 + 1), &id],
                )
                .await?;
                Ok(tx.attempt())
            })
            .await
        })
    };
    let (a, b) = (run(1), run(2));
    let (a, b) = (a.await.unwrap().unwrap(), b.await.unwrap().unwrap());
    let mut last_attempts = [a, b];
    last_attempts.sort();
    assert_eq!(
        last_attempts,
        [1, 2],
        "one committed first time, the other on its retry"
    );
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    let c = pool.get().await.unwrap();
    let mut values: Vec<i32> = c
        .query("SELECT v FROM slot", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    values.sort();
    assert_eq!(values, [1, 2], "both effects, as if serial");
    assert_eq!(
        metric(
            &registry,
            "database_transactions_total",
            &[("result", "retry")]
        ),
        1.0
    );
    assert_eq!(
        metric(
            &registry,
            "database_transactions_total",
            &[("result", "commit")]
        ),
        2.0
    );
    assert_eq!(
        metric(
            &registry,
            "database_errors_total",
            &[("kind", "serialization_failure")]
        ),
        1.0
    );
}
}

on_both_routes! {
async fn a_deadlock_victim_is_retried(route) {
    let route = crate::Route::start(route, &["postgres"]);
    let db = pgfleet_testkit::fresh_database().await;
    db.client()
        .await
        .batch_execute("CREATE TABLE acct (id int PRIMARY KEY, n int NOT NULL); INSERT INTO acct VALUES (1, 0), (2, 0)")
        .await
        .unwrap();
    let (pool, registry) = route.pool(&db, "deadlock", |_| {});
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let run = |first: i32, second: i32| {
        let pool = pool.clone();
        let barrier = barrier.clone();
        tokio::spawn(async move {
            pool.transaction(Isolation::ReadCommitted, async move |tx| {
                tx.execute("UPDATE acct SET n = n + 1 WHERE id = $1", &[&first])
                    .await?;
                if tx.attempt() == 1 {
                    barrier.wait().await;
                }
                tx.execute("UPDATE acct SET n = n + 1 WHERE id = $1", &[&second])
                    .await?;
                Ok(tx.attempt())
            })
            .await
        })
    };
    let (a, b) = (run(1, 2), run(2, 1));
    let mut attempts = [a.await.unwrap().unwrap(), b.await.unwrap().unwrap()];
    attempts.sort();
    assert_eq!(attempts, [1, 2]);
    let c = pool.get().await.unwrap();
    let total: i64 = c
        .query_one("SELECT sum(n) FROM acct", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(total, 4, "both transactions' two updates");
    assert_eq!(
        metric(&registry, "database_errors_total", &[("kind", "deadlock")]),
        1.0
    );
    assert_eq!(
        metric(
            &registry,
            "database_transactions_total",
            &[("result", "retry")]
        ),
        1.0
    );
}
}

on_both_routes! {
async fn retries_are_bounded(route) {
    let route = crate::Route::start(route, &["postgres"]);
    let db = pgfleet_testkit::fresh_database().await;
    let (pool, registry) = route.pool(&db, "bounded", |_| {});
    let calls = Arc::new(AtomicU32::new(0));
    let options = TxOptions::new(Isolation::Serializable).retry(RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    });
    let err = pool
        .transaction_with(options, {
            let calls = calls.clone();
            async move |tx| {
                calls.fetch_add(1, Ordering::SeqCst);
                tx.batch_execute(
                    "DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = 'serialization_failure'; END $$",
                )
                .await?;
                Ok(())
            }
        })
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(
        metric(
            &registry,
            "database_transactions_total",
            &[("result", "retry")]
        ),
        2.0
    );
    assert_eq!(
        metric(
            &registry,
            "database_transactions_total",
            &[("result", "rollback")]
        ),
        1.0
    );
    // Other errors are never retried.
    let calls = Arc::new(AtomicU32::new(0));
    let c2 = calls.clone();
    let err = pool
        .transaction(Isolation::Serializable, async move |tx| {
            c2.fetch_add(1, Ordering::SeqCst);
            tx.batch_execute("SELECT 1/0").await?;
            Ok(())
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some("data"));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
}

on_both_routes! {
/// Row level security keyed by app.current_user_id. The pool logs in as a plain role: superusers
/// and table owners bypass RLS.
async fn a_user_context_sees_only_its_rows(route) {
    let db = pgfleet_testkit::fresh_database().await;
    let role = format!("{}_app", db.name);
    let route = crate::Route::start(route, &["postgres", &role]);
    db.client()
        .await
        .batch_execute(&format!(
            r#"CREATE ROLE "{role}" LOGIN;
               CREATE TABLE note (id serial PRIMARY KEY, owner text NOT NULL, body text NOT NULL);
               ALTER TABLE note ENABLE ROW LEVEL SECURITY;
               CREATE POLICY note_owner ON note
                   USING (owner = current_setting('app.current_user_id', true))
                   WITH CHECK (owner = current_setting('app.current_user_id', true));
               GRANT SELECT, INSERT ON note TO "{role}";
               GRANT USAGE ON SEQUENCE note_id_seq TO "{role}";
               INSERT INTO note (owner, body) VALUES ('alice', 'a1'), ('alice', 'a2'), ('bob', 'b1');"#
        ))
        .await
        .unwrap();
    let (pool, registry) = route.pool_as(&db, &role, "notes", |_| {});
    let bodies = async |user: Option<&str>| -> Vec<String> {
        let f = async |c: &pgfleet_client::Tx| {
            let rows = c.query("SELECT body FROM note ORDER BY body", &[]).await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        };
        match user {
            Some(user) => pool
                .as_user(user)
                .track("select", "note", "list_notes", f)
                .await
                .unwrap(),
            None => pool
                .track("select", "note", "list_notes", async |c| {
                    let rows = c.query("SELECT body FROM note ORDER BY body", &[]).await?;
                    Ok(rows.iter().map(|r| r.get(0)).collect())
                })
                .await
                .unwrap(),
        }
    };
    assert_eq!(bodies(Some("alice")).await, ["a1", "a2"]);
    assert_eq!(bodies(Some("bob")).await, ["b1"]);
    assert!(bodies(None).await.is_empty(), "no user: no rows");
    assert_eq!(
        metric(
            &registry,
            "database_query_duration_seconds_count",
            &[("name", "list_notes")]
        ),
        3.0
    );
    // The setting is local to the transaction: the connection does not keep it.
    let c = pool.get().await.unwrap();
    let leftover: Option<String> = c
        .query_one(
            "SELECT nullif(current_setting('app.current_user_id', true), '')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(leftover, None);
    drop(c);
    // Writes under a user: WITH CHECK admits their own rows only.
    pool.transaction_with(
        TxOptions::new(Isolation::ReadCommitted).user("bob"),
        async move |tx| {
            tx.execute("INSERT INTO note (owner, body) VALUES ('bob', 'b2')", &[])
                .await?;
            Ok(())
        },
    )
    .await
    .unwrap();
    let err = pool
        .as_user("bob")
        .transaction(Isolation::ReadCommitted, async move |tx| {
            tx.execute(
                "INSERT INTO note (owner, body) VALUES ('alice', 'forged')",
                &[],
            )
            .await?;
            Ok(())
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some("permission_denied"), "{err:?}");
    // set_user inside a transaction does the same.
    let n: i64 = pool
        .transaction(Isolation::ReadCommitted, async move |tx| {
            tx.set_user("bob").await?;
            Ok(tx.query_one("SELECT count(*) FROM note", &[]).await?.get(0))
        })
        .await
        .unwrap();
    assert_eq!(n, 2);
}
}

/// A transaction whose future is dropped mid-way (a client hung up, a timeout) must not hand its
/// connection, still inside the transaction, to the next caller: it is closed instead.
#[tokio::test]
async fn an_interrupted_transaction_discards_its_connection() {
    let db = pgfleet_testkit::fresh_database().await;
    db.client()
        .await
        .batch_execute("CREATE TABLE item (id int PRIMARY KEY)")
        .await
        .unwrap();
    let (pool, _) = pool_on(&db, "interrupted", |c| {
        c.max_size = 1;
        c.min_idle = 0;
    });
    async fn pid(c: &pgfleet_client::PooledClient) -> i32 {
        c.query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0)
    }
    let first = pid(&pool.get().await.unwrap()).await;
    let interrupted = tokio::time::timeout(
        Duration::from_millis(300),
        pool.transaction(Isolation::ReadCommitted, async move |tx| {
            tx.execute("INSERT INTO item VALUES (1)", &[]).await?;
            std::future::pending::<()>().await;
            Ok(())
        }),
    )
    .await;
    assert!(interrupted.is_err(), "timed out");
    let c = pool.get().await.unwrap();
    assert_ne!(
        pid(&c).await,
        first,
        "a new connection, not the one inside the transaction"
    );
    let n: i64 = c
        .query_one("SELECT count(*) FROM item", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    drop(c);
    let admin = db.client().await;
    assert!(
        crate::eventually(Duration::from_secs(5), async || {
            let n: i64 = admin
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'interrupted' AND state = 'idle in transaction'",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            n == 0
        })
        .await
    );
}
