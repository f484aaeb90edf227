//! Issue 13, ownership handover: every object of a service's schema belongs to its owner role
//! (types, domains, aggregates, procedures… of an adopted database too), except what belongs
//! to an extension, so the service's migrations can alter all of them.

use crate::access::{Fleet, assert_plan_is_empty, fleet};
use pgfleet_testkit::TestCluster;

/// What a superuser made in `schema` before pgfleet managed it, with each object as `access
/// check` names it.
fn adopted(schema: &str) -> (String, Vec<String>) {
    let s = schema;
    let sql = format!(
        "CREATE TYPE {s}.mood AS ENUM ('sad', 'ok');
         CREATE DOMAIN {s}.positive AS int CHECK (VALUE > 0);
         CREATE TYPE {s}.pair AS (a int, b text);
         CREATE TYPE {s}.span AS RANGE (subtype = float8);
         CREATE AGGREGATE {s}.total(int) (SFUNC = int4pl, STYPE = int);
         CREATE PROCEDURE {s}.touch() LANGUAGE sql AS 'SELECT 1';
         CREATE MATERIALIZED VIEW {s}.token_totals AS SELECT count(*) AS n FROM {s}.tokens;
         CREATE SEQUENCE {s}.counter;
         CREATE TEXT SEARCH CONFIGURATION {s}.plain (COPY = simple);
         CREATE TEXT SEARCH DICTIONARY {s}.plain_dict (TEMPLATE = simple);
         CREATE COLLATION {s}.bytes FROM \"C\";
         CREATE CONVERSION {s}.latin FOR 'LATIN1' TO 'UTF8' FROM iso8859_1_to_utf8;
         CREATE OPERATOR {s}.=== (LEFTARG = int, RIGHTARG = int, FUNCTION = int4eq);
         CREATE OPERATOR CLASS {s}.int_order FOR TYPE int USING btree
             AS OPERATOR 1 <, FUNCTION 1 btint4cmp(int, int);
         CREATE STATISTICS {s}.token_stats (ndistinct) ON id, value FROM {s}.tokens;"
    );
    let objects = [
        "type {s}.mood",
        "domain {s}.positive",
        "type {s}.pair",
        "type {s}.span",
        "aggregate {s}.total(integer)",
        "procedure {s}.touch()",
        "materialized view {s}.token_totals",
        "sequence {s}.counter",
        "text search configuration {s}.plain",
        "text search dictionary {s}.plain_dict",
        "collation {s}.bytes",
        "conversion {s}.latin",
        "operator {s}.===(integer, integer)",
        "operator class {s}.int_order USING btree",
        // Made with the class, owned apart from it.
        "operator family {s}.int_order USING btree",
        "statistics object {s}.token_stats",
    ]
    .iter()
    .map(|o| o.replace("{s}", s))
    .collect();
    (sql, objects)
}

/// A migration of the service that needs to own each adopted object.
const ALTER_ADOPTED: &str = "ALTER TYPE mood ADD VALUE 'happy';
ALTER DOMAIN positive ADD CONSTRAINT small CHECK (VALUE < 1000);
ALTER TYPE pair ADD ATTRIBUTE c int;
ALTER TYPE span RENAME TO float_span;
ALTER AGGREGATE total(int) RENAME TO grand_total;
ALTER PROCEDURE touch() RENAME TO touch_all;
ALTER MATERIALIZED VIEW token_totals RENAME TO token_counts;
ALTER SEQUENCE counter RESTART WITH 10;
ALTER TEXT SEARCH CONFIGURATION plain RENAME TO plain_config;
ALTER TEXT SEARCH DICTIONARY plain_dict RENAME TO plain_dictionary;
ALTER COLLATION bytes RENAME TO raw_bytes;
ALTER CONVERSION latin RENAME TO latin_one;
ALTER OPERATOR === (int, int) SET (RESTRICT = eqsel);
ALTER OPERATOR CLASS int_order USING btree RENAME TO int_ordering;
ALTER OPERATOR FAMILY int_order USING btree RENAME TO int_ordering;
ALTER STATISTICS token_stats RENAME TO token_statistics;
";

async fn managed(f: &Fleet) -> String {
    f.ctx.run(&["migrate", "up", "--all"]).success();
    f.ctx.run(&["access", "apply"]).success();
    f.ctx.run(&["access", "check"]).success();
    format!("{}_auth_schema", f.p)
}

#[tokio::test]
async fn adopted_types_domains_routines_and_the_rest_are_drift_until_the_owner_owns_them() {
    let f = fleet().await;
    let p = &f.p;
    let schema = managed(&f).await;
    let superuser = TestCluster::shared().superuser();
    let (sql, objects) = adopted(&schema);
    f.shared.client().await.batch_execute(&sql).await.unwrap();

    let drift = f.ctx.run(&["access", "check"]).failure(6).stdout;
    for object in &objects {
        let wanted =
            format!("{object} is owned by {superuser}, but the manifest says {p}_auth_owner");
        assert!(drift.contains(&wanted), "`{wanted}` not in:\n{drift}");
    }
    let plan = f.ctx.run(&["access", "plan"]).success().stdout;
    for statement in [
        format!("ALTER TYPE \"{schema}\".\"mood\" OWNER TO \"{p}_auth_owner\""),
        format!("ALTER DOMAIN \"{schema}\".\"positive\" OWNER TO \"{p}_auth_owner\""),
        format!("ALTER AGGREGATE \"{schema}\".\"total\"(integer) OWNER TO \"{p}_auth_owner\""),
        format!("ALTER PROCEDURE \"{schema}\".\"touch\"() OWNER TO \"{p}_auth_owner\""),
        format!(
            "ALTER MATERIALIZED VIEW \"{schema}\".\"token_totals\" OWNER TO \"{p}_auth_owner\""
        ),
        format!("ALTER OPERATOR \"{schema}\".===(integer, integer) OWNER TO \"{p}_auth_owner\""),
        format!(
            "ALTER OPERATOR CLASS \"{schema}\".\"int_order\" USING btree OWNER TO \"{p}_auth_owner\""
        ),
    ] {
        assert!(plan.contains(&statement), "`{statement}` not in:\n{plan}");
    }

    f.ctx.run(&["access", "apply"]).success();
    f.ctx.run(&["access", "check"]).success();
    f.ctx
        .write("migrations/auth/002_alter_adopted.up.sql", ALTER_ADOPTED);
    f.ctx
        .run(&["migrate", "up", &format!("{p}_auth")])
        .success();
    f.ctx.run(&["access", "check"]).success();
}

#[tokio::test]
async fn a_migration_run_hands_adopted_objects_to_the_owner_before_it_starts() {
    // No `access apply` in between: the run's own handover (the same listing) must do.
    let f = fleet().await;
    let p = &f.p;
    let schema = managed(&f).await;
    let (sql, _) = adopted(&schema);
    f.shared.client().await.batch_execute(&sql).await.unwrap();
    f.ctx
        .write("migrations/auth/002_alter_adopted.up.sql", ALTER_ADOPTED);
    f.ctx
        .run(&["migrate", "up", &format!("{p}_auth")])
        .success();
    let check = f.ctx.run(&["access", "check"]);
    assert!(
        !check.stdout.contains(" is owned by "),
        "{}",
        check.all_output()
    );
}

#[tokio::test]
async fn an_extensions_objects_are_neither_drift_nor_handed_over() {
    let f = fleet().await;
    let p = &f.p;
    let schema = managed(&f).await;
    let admin = f.shared.client().await;
    admin
        .batch_execute(&format!(
            "CREATE EXTENSION citext SCHEMA {schema}; CREATE EXTENSION pg_trgm SCHEMA {schema}"
        ))
        .await
        .unwrap();
    f.ctx.run(&["access", "check"]).success();
    assert_plan_is_empty(&f.ctx);
    f.ctx.run(&["access", "apply"]).success();
    f.ctx.write(
        "migrations/auth/002_citext.up.sql",
        "CREATE TABLE names (name citext, CHECK (similarity(name::text, 'x') >= 0));\n",
    );
    f.ctx
        .run(&["migrate", "up", &format!("{p}_auth")])
        .success();
    f.ctx.run(&["access", "check"]).success();
    // Still the extensions' creator's, every one of them.
    let owned_by_the_service: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_depend d
               JOIN pg_extension x ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = x.oid
              WHERE d.deptype = 'e' AND x.extname IN ('citext', 'pg_trgm')
                AND EXISTS (
                    SELECT FROM pg_type t WHERE d.classid = 'pg_type'::regclass AND t.oid = d.objid
                       AND pg_get_userbyid(t.typowner) = $1
                    UNION ALL
                    SELECT FROM pg_proc r WHERE d.classid = 'pg_proc'::regclass AND r.oid = d.objid
                       AND pg_get_userbyid(r.proowner) = $1
                    UNION ALL
                    SELECT FROM pg_operator o WHERE d.classid = 'pg_operator'::regclass AND o.oid = d.objid
                       AND pg_get_userbyid(o.oprowner) = $1
                    UNION ALL
                    SELECT FROM pg_opclass c WHERE d.classid = 'pg_opclass'::regclass AND c.oid = d.objid
                       AND pg_get_userbyid(c.opcowner) = $1
                    UNION ALL
                    SELECT FROM pg_opfamily o WHERE d.classid = 'pg_opfamily'::regclass AND o.oid = d.objid
                       AND pg_get_userbyid(o.opfowner) = $1)",
            &[&format!("{p}_auth_owner")],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(owned_by_the_service, 0);
    let members: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_depend d JOIN pg_extension x ON d.refobjid = x.oid
              WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
                AND x.extname IN ('citext', 'pg_trgm')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(members > 50, "only {members} extension members");
}
