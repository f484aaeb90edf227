//! Issue 13: what the migration analyser refuses in a transactional file is what PostgreSQL
//! itself refuses in a transaction block, and its look-alikes run there. The refusals come
//! from the analyser's own table (`pgfleet_migrate::analyze::NO_TRANSACTION`), so a kind added
//! there is held against the server here.

use pgfleet_migrate::analyze::{NO_TRANSACTION, check_transactional};
use pgfleet_testkit::TestCluster;
use tokio_postgres::error::SqlState;

/// What the examples of `NO_TRANSACTION` and `ACCEPTED` name.
const SETUP: &[&str] = &[
    "CREATE TABLE t (c int)",
    "CREATE INDEX i ON t (c)",
    "CREATE TABLE parted (c int) PARTITION BY RANGE (c)",
    "CREATE TABLE part PARTITION OF parted FOR VALUES FROM (0) TO (10)",
    "CREATE TYPE e AS ENUM ('a')",
    // Not connecting keeps its slot name; enabled, so that a refresh gets as far as the
    // transaction check (its worker only fails to reach the publisher meanwhile).
    "CREATE SUBSCRIPTION pgfleet_sub CONNECTION 'host=/nonexistent dbname=none' \
     PUBLICATION p1, p2 WITH (connect = false)",
    "ALTER SUBSCRIPTION pgfleet_sub ENABLE",
];

const CLEANUP: &[&str] = &[
    "ALTER SUBSCRIPTION pgfleet_sub DISABLE",
    "ALTER SUBSCRIPTION pgfleet_sub SET (slot_name = NONE)",
    "DROP SUBSCRIPTION pgfleet_sub",
];

/// Statements that look like refused ones and run in a transaction block.
const ACCEPTED: &[&str] = &[
    "ANALYZE",
    "ANALYZE t",
    "ANALYZE t (c)",
    "CLUSTER t USING i",
    "REINDEX TABLE t",
    "REINDEX INDEX i",
    "REINDEX (CONCURRENTLY false) TABLE t",
    "ALTER TYPE e ADD VALUE 'x'",
    "CREATE INDEX i2 ON t (c)",
    "DROP INDEX i",
    "ALTER TABLE parted DETACH PARTITION part",
    "DISCARD PLANS",
    "DISCARD TEMP",
    "DISCARD SEQUENCES",
    "CREATE SUBSCRIPTION pgfleet_new CONNECTION 'host=/nonexistent' PUBLICATION p1 \
     WITH (connect = false)",
    "ALTER SUBSCRIPTION pgfleet_sub ADD PUBLICATION p3 WITH (refresh = false)",
];

#[tokio::test]
async fn the_analysers_refusals_are_the_servers_and_its_look_alikes_run_in_a_transaction() {
    let db = TestCluster::shared().fresh_database().await;
    let client = db.client().await;
    for sql in SETUP {
        client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let mut failures = Vec::new();
    let mut refused = 0;
    for kind in NO_TRANSACTION {
        assert!(!kind.examples.is_empty(), "{} has no example", kind.what);
        for sql in kind.examples {
            refused += 1;
            match check_transactional(sql) {
                Err((_, message)) if message.starts_with(&format!("{} cannot", kind.what)) => {}
                other => failures.push(format!("analyser on `{sql}`: {other:?}")),
            }
            client.batch_execute("BEGIN").await.unwrap();
            let result = client.batch_execute(sql).await;
            client.batch_execute("ROLLBACK").await.unwrap();
            let wanted = format!("{} cannot run inside a transaction block", kind.what);
            match result {
                Err(e)
                    if e.code() == Some(&SqlState::ACTIVE_SQL_TRANSACTION)
                        && e.as_db_error().is_some_and(|db| db.message() == wanted) => {}
                Err(e) => failures.push(format!(
                    "server on `{sql}`: {:?} {e}, wanted 25001 `{wanted}`",
                    e.code()
                )),
                Ok(()) => failures.push(format!("server ran `{sql}` in a transaction")),
            }
        }
    }
    for sql in ACCEPTED {
        if let Err(refusal) = check_transactional(sql) {
            failures.push(format!("analyser refused `{sql}`: {refusal:?}"));
        }
        client.batch_execute("BEGIN").await.unwrap();
        let result = client.batch_execute(sql).await;
        client.batch_execute("ROLLBACK").await.unwrap();
        if let Err(e) = result {
            failures.push(format!("server refused `{sql}` in a transaction: {e}"));
        }
    }
    for sql in CLEANUP {
        client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(refused >= 30, "only {refused} refused examples");
}
