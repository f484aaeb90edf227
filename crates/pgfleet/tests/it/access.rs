//! `pgfleet access …`: tests that attempt what a role must not do and expect PostgreSQL to
//! refuse. Roles are cluster-wide, so each test names its services with its own prefix.

use crate::context::TestContext;
use pgfleet_testkit::{TestCluster, TestDatabase};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Two placements on the shared test cluster: `<p>_auth` and `<p>_users` by schema in one
/// database (users reads auth, RLS on its profiles), `<p>_billing` in a database of its own.
pub(crate) struct Fleet {
    pub ctx: TestContext,
    pub p: String,
    pub shared: TestDatabase,
    pub billing: TestDatabase,
}

/// The login pgfleet acts as.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admin {
    /// The test cluster's superuser.
    Superuser,
    /// `<p>_admin`, LOGIN CREATEROLE and nothing more, owning the databases and schemas it
    /// manages: the login production uses.
    CreateRole,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

pub(crate) async fn fleet() -> Fleet {
    fleet_as(Admin::Superuser).await
}

pub(crate) async fn fleet_as(admin: Admin) -> Fleet {
    let cluster = TestCluster::shared();
    let p = format!(
        "a{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let shared = cluster.fresh_database().await;
    let billing = cluster.fresh_database().await;
    let user = match admin {
        Admin::Superuser => cluster.superuser().to_owned(),
        Admin::CreateRole => {
            let user = format!("{p}_admin");
            shared
                .client()
                .await
                .batch_execute(&format!(
                    "CREATE ROLE {user} LOGIN CREATEROLE;
                     ALTER DATABASE {} OWNER TO {user}; ALTER DATABASE {} OWNER TO {user}",
                    shared.name, billing.name
                ))
                .await
                .unwrap();
            user
        }
    };
    shared
        .client()
        .await
        .batch_execute(&format!(
            "CREATE SCHEMA {p}_auth_schema AUTHORIZATION {user};
             CREATE SCHEMA {p}_user_schema AUTHORIZATION {user};"
        ))
        .await
        .unwrap();
    let mut ctx = TestContext::on_test_cluster_as(
        &user,
        &format!("name = \"{p}\""),
        &format!(
            r#"
[servers.main]
database = "{shared}"

[services.{p}_auth]
schema = "{p}_auth_schema"
migrations = "migrations/auth"

[services.{p}_users]
schema = "{p}_user_schema"
migrations = "migrations/users"
reads = ["{p}_auth"]
[services.{p}_users.access]
rls = [{{ table = "profiles", column = "user_id" }}]

[services.{p}_billing]
database = "{billing}"
migrations = "migrations/billing"
[services.{p}_billing.access]
append_only = ["ledger"]
"#,
            shared = shared.name,
            billing = billing.name,
        ),
    );
    for service in ["auth", "users", "billing"] {
        ctx.var(
            &format!("{p}_{service}_DB_PASSWORD").to_uppercase(),
            "runtime-pw",
        );
    }
    let write = |service: &str, file: &str, sql: &str| {
        ctx.write(&format!("migrations/{service}/{file}"), sql)
    };
    write(
        "auth",
        "001_tokens.up.sql",
        "CREATE TABLE tokens (id bigserial PRIMARY KEY, value text);\nINSERT INTO tokens (value) VALUES ('t');\n",
    );
    write(
        "users",
        "001_profiles.up.sql",
        "CREATE TABLE profiles (id bigserial PRIMARY KEY, user_id bigint NOT NULL, bio text);\n\
         CREATE FUNCTION profile_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM profiles';\n",
    );
    write(
        "billing",
        "001_invoices.up.sql",
        "CREATE TABLE invoices (id bigserial PRIMARY KEY, amount int);\n\
         CREATE TABLE ledger (id bigserial PRIMARY KEY, entry text NOT NULL);\n",
    );
    Fleet {
        ctx,
        p,
        shared,
        billing,
    }
}

impl Fleet {
    /// A session as `role` (the test cluster trusts TCP logins: what is tested is the
    /// authorisation, not the password).
    pub async fn session(
        &self,
        role: &str,
        db: &TestDatabase,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let mut config = db.config();
        config.user(role);
        let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        Ok(client)
    }

    pub async fn runtime(&self, service: &str, db: &TestDatabase) -> tokio_postgres::Client {
        self.session(&format!("{}_{service}_app", self.p), db)
            .await
            .unwrap_or_else(|e| panic!("{service}_app cannot connect: {e}"))
    }
}

/// `access plan` has nothing to do in any scope.
#[track_caller]
pub(crate) fn assert_plan_is_empty(ctx: &TestContext) {
    let plan = ctx
        .run(&["access", "plan", "--format", "json"])
        .success()
        .json();
    for scope in plan.as_array().unwrap() {
        assert_eq!(scope["statements"].as_array().unwrap().len(), 0, "{scope}");
    }
}

#[track_caller]
pub(crate) fn refused<T: std::fmt::Debug>(result: Result<T, tokio_postgres::Error>, what: &str) {
    match result {
        Ok(value) => panic!("{what} was allowed: {value:?}"),
        Err(e) => {
            // insufficient_privilege only: a missing table or a typo must not pass for a refusal.
            let code = e.code().map(|c| c.code().to_owned()).unwrap_or_default();
            let text = format!("{e:?}");
            assert!(
                code == "42501"
                    || text.contains("permission denied")
                    || text.contains("must be owner"),
                "{what}: unexpected error {e:?}"
            );
        }
    }
}

#[tokio::test]
async fn runtime_roles_get_least_privilege_in_both_placements() {
    let f = fleet().await;
    let p = &f.p;
    // Login roles are created with a password verifier that no report or audit row shows.
    let plan = f.ctx.run(&["access", "plan"]).success();
    assert!(
        plan.stdout.contains("LOGIN") && plan.stdout.contains("PASSWORD '***'"),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("SCRAM-SHA-256"), "{}", plan.stdout);
    f.ctx.run(&["access", "apply"]).success();
    let audit: Vec<String> = crate::context::column(
        &f.shared.client().await,
        "SELECT detail::text FROM pgfleet.audit_log",
    )
    .await;
    assert!(
        !audit.is_empty() && audit.iter().all(|d| !d.contains("SCRAM-SHA-256")),
        "{audit:?}"
    );
    f.ctx.run(&["migrate", "up", "--all"]).success();
    // Migrations ran as the owner, and each step settled the grants, row security and
    // policies of what it created before it committed: nothing is left for `access apply`.
    assert_plan_is_empty(&f.ctx);
    f.ctx.run(&["access", "apply"]).success();
    // A second apply finds nothing to do.
    assert_plan_is_empty(&f.ctx);
    f.ctx.run(&["access", "check"]).success();

    let users = f.runtime("users", &f.shared).await;
    let schema = format!("{p}_user_schema");
    users
        .batch_execute(&format!("SET search_path = {schema}"))
        .await
        .unwrap();
    // DML is allowed …
    users
        .batch_execute("SET app.current_user_id = '7'; INSERT INTO profiles (user_id) VALUES (7)")
        .await
        .unwrap();
    users
        .query_one("SELECT profile_count()", &[])
        .await
        .unwrap();
    // … DDL, TRUNCATE and ownership are not.
    refused(
        users.batch_execute("CREATE TABLE sneaky (id int)").await,
        "CREATE TABLE",
    );
    refused(
        users
            .batch_execute("ALTER TABLE profiles ADD COLUMN x int")
            .await,
        "ALTER TABLE",
    );
    refused(
        users.batch_execute("DROP TABLE profiles").await,
        "DROP TABLE",
    );
    refused(users.batch_execute("TRUNCATE profiles").await, "TRUNCATE");
    refused(
        users.batch_execute("CREATE SCHEMA mine").await,
        "CREATE SCHEMA",
    );
    // Reads are granted where the manifest says so, and only there.
    let tokens = users
        .query_one(&format!("SELECT count(*) FROM {p}_auth_schema.tokens"), &[])
        .await
        .unwrap();
    assert_eq!(tokens.get::<_, i64>(0), 1);
    refused(
        users
            .batch_execute(&format!(
                "INSERT INTO {p}_auth_schema.tokens (value) VALUES ('x')"
            ))
            .await,
        "writing another service's table",
    );
    let auth = f.runtime("auth", &f.shared).await;
    refused(
        auth.query_one(
            &format!("SELECT count(*) FROM {p}_user_schema.profiles"),
            &[],
        )
        .await,
        "reading a service that did not grant it",
    );
    // Database per service: other services cannot even connect.
    refused(
        f.session(&format!("{p}_auth_app"), &f.billing)
            .await
            .map(|_| ()),
        "connecting to another service's database",
    );
    refused(
        f.session(&format!("{p}_billing_app"), &f.shared)
            .await
            .map(|_| ()),
        "connecting to the shared database",
    );
    let billing = f.runtime("billing", &f.billing).await;
    billing
        .batch_execute("INSERT INTO invoices (amount) VALUES (3)")
        .await
        .unwrap();
    refused(
        billing
            .batch_execute("CREATE TABLE public.sneaky (id int)")
            .await,
        "CREATE TABLE in public",
    );

    // A table from a later migration is usable at once, without another apply.
    let dir = f.ctx.dir.path().join("migrations/billing");
    std::fs::write(
        dir.join("002_payments.up.sql"),
        "CREATE TABLE payments (id bigserial PRIMARY KEY, invoice_id bigint);\n",
    )
    .unwrap();
    f.ctx
        .run(&["migrate", "up", &format!("{p}_billing")])
        .success();
    billing
        .batch_execute("INSERT INTO payments (invoice_id) VALUES (1); SELECT * FROM payments")
        .await
        .unwrap();
    f.ctx.run(&["access", "check"]).success();

    // A reader's migrations run as its owner, which reads too: a view over the other's table.
    let dir = f.ctx.dir.path().join("migrations/users");
    std::fs::write(
        dir.join("002_token_view.up.sql"),
        format!(
            "CREATE VIEW token_count AS SELECT count(*) AS tokens FROM {p}_auth_schema.tokens;\n"
        ),
    )
    .unwrap();
    f.ctx
        .run(&["migrate", "up", &format!("{p}_users")])
        .success();
    let count: i64 = users
        .query_one("SELECT tokens FROM token_count", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
}

#[tokio::test]
async fn row_level_security_shows_only_the_session_users_rows() {
    let f = fleet().await;
    f.ctx.run(&["migrate", "up", "--all"]).success();
    f.ctx.run(&["access", "apply"]).success();
    let users = f.runtime("users", &f.shared).await;
    users
        .batch_execute(&format!("SET search_path = {}_user_schema", f.p))
        .await
        .unwrap();
    for id in [1, 1, 2] {
        users
            .batch_execute(&format!(
                "SET app.current_user_id = '{id}'; INSERT INTO profiles (user_id) VALUES ({id})"
            ))
            .await
            .unwrap();
    }
    // Another user's row cannot be written either.
    users
        .batch_execute("SET app.current_user_id = '1'")
        .await
        .unwrap();
    refused_rls(
        users
            .batch_execute("INSERT INTO profiles (user_id) VALUES (2)")
            .await,
    );
    assert_eq!(visible(&users).await, 2);
    users
        .batch_execute("SET app.current_user_id = '2'")
        .await
        .unwrap();
    assert_eq!(visible(&users).await, 1);
    users
        .batch_execute("RESET app.current_user_id")
        .await
        .unwrap();
    assert_eq!(visible(&users).await, 0);
    // The owner (migrations, backfills) still sees every row.
    let admin = f.shared.client().await;
    admin
        .batch_execute(&format!("SET ROLE {}_users_owner", f.p))
        .await
        .unwrap();
    let all: i64 = admin
        .query_one(
            &format!("SELECT count(*) FROM {}_user_schema.profiles", f.p),
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .get(0);
    assert_eq!(all, 3);
}

/// The profiles rows the session can see.
async fn visible(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one("SELECT count(*) FROM profiles", &[])
        .await
        .unwrap()
        .get(0)
}

fn refused_rls(result: Result<(), tokio_postgres::Error>) {
    let e = result.expect_err("a row of another user was written");
    assert!(format!("{e:?}").contains("row-level security"), "{e:?}");
}

#[tokio::test]
async fn drift_is_reported_with_exit_2_and_apply_repairs_it() {
    let f = fleet().await;
    let p = &f.p;
    f.ctx.run(&["migrate", "up", "--all"]).success();
    f.ctx.run(&["access", "apply"]).success();
    f.ctx.run(&["access", "check"]).success();

    let admin = f.shared.client().await;
    admin
        .batch_execute(&format!(
            "GRANT ALL ON ALL TABLES IN SCHEMA {p}_auth_schema TO PUBLIC; GRANT {p}_auth_ro TO {p}_billing_app; \
             ALTER ROLE {p}_users_app CREATEDB"
        ))
        .await
        .unwrap();
    let run = f.ctx.run(&["access", "check"]).failure(6);
    assert!(
        run.stdout.contains(&format!(
            "not in the manifest: PUBLIC has SELECT on table {p}_auth_schema.tokens"
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("{p}_billing_app is a member of {p}_auth_ro")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!("role {p}_users_app (LOGIN")),
        "{}",
        run.stdout
    );
    let json = f
        .ctx
        .run(&["access", "check", "--format", "json"])
        .failure(6)
        .json();
    assert_eq!(json["ok"], false);

    let plan = f.ctx.run(&["access", "plan"]).success();
    assert!(
        plan.stdout.contains(&format!(
            "REVOKE SELECT ON TABLE \"{p}_auth_schema\".\"tokens\" FROM PUBLIC"
        )),
        "{}",
        plan.stdout
    );
    f.ctx.run(&["access", "apply"]).success();
    f.ctx.run(&["access", "check"]).success();
    let createdb: bool = admin
        .query_one(
            "SELECT rolcreatedb FROM pg_roles WHERE rolname = $1",
            &[&format!("{p}_users_app")],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!createdb);

    // Every apply is in the audit log of each database it touched.
    let applies: i64 = admin
        .query_one(
            "SELECT count(*) FROM pgfleet.audit_log WHERE command = 'access apply'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        applies, 4,
        "two applies × two services in the shared database"
    );
}
