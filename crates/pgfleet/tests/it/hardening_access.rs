//! Issue 11 (hardening), access as code: drift that `check` missed, a refused statement that
//! undid every other fix, a pool change a CREATEROLE admin could not apply, passwords that did
//! not follow their variables, verifiers in pg_stat_statements, production applied unasked.

use crate::access::{Admin, Fleet, fleet_as, refused};
use crate::context::{TestContext, free_port};

fn check_output(f: &Fleet) -> String {
    f.ctx.run(&["access", "check"]).failure(6).stdout
}

#[track_caller]
fn assert_lists(text: &str, wanted: &str) {
    assert!(text.contains(wanted), "`{wanted}` not in:\n{text}");
}

async fn visible_profiles(f: &Fleet, user: i64) -> i64 {
    let users = f.runtime("users", &f.shared).await;
    users
        .batch_execute(&format!(
            "SET search_path = {}_user_schema; SET app.current_user_id = '{user}'",
            f.p
        ))
        .await
        .unwrap();
    users
        .query_one("SELECT count(*) FROM profiles", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn an_altered_or_an_extra_permissive_policy_is_drift_and_apply_restores_the_manifests() {
    let f = fleet_as(Admin::Superuser).await;
    let p = &f.p;
    f.ctx.run(&["migrate", "up", "--all"]).success();
    f.ctx.run(&["access", "apply"]).success();
    f.ctx.run(&["access", "check"]).success();
    let admin = f.shared.client().await;
    admin
        .batch_execute(&format!(
            "INSERT INTO {p}_user_schema.profiles (user_id) VALUES (1), (2), (2)"
        ))
        .await
        .unwrap();
    assert_eq!(visible_profiles(&f, 1).await, 1);

    // The runtime policy altered to let every row through.
    admin
        .batch_execute(&format!(
            "ALTER POLICY pgfleet_{p}_users_app ON {p}_user_schema.profiles USING (true)"
        ))
        .await
        .unwrap();
    assert_eq!(visible_profiles(&f, 1).await, 3, "the attack works");
    let drift = check_output(&f);
    assert_lists(&drift, &format!("policy pgfleet_{p}_users_app on"));
    f.ctx.run(&["access", "apply"]).success();
    f.ctx.run(&["access", "check"]).success();
    assert_eq!(visible_profiles(&f, 1).await, 1);

    // An extra permissive policy beside pgfleet's.
    admin
        .batch_execute(&format!(
            "CREATE POLICY everything ON {p}_user_schema.profiles FOR SELECT TO PUBLIC USING (true)"
        ))
        .await
        .unwrap();
    assert_eq!(visible_profiles(&f, 1).await, 3, "the attack works");
    let drift = check_output(&f);
    assert_lists(&drift, "not in the manifest: policy everything on");
    f.ctx.run(&["access", "apply"]).success();
    f.ctx.run(&["access", "check"]).success();
    assert_eq!(visible_profiles(&f, 1).await, 1);

    // A restrictive policy only narrows what the others allow: the service's own business.
    admin
        .batch_execute(&format!(
            "CREATE POLICY narrower ON {p}_user_schema.profiles AS RESTRICTIVE FOR SELECT USING (user_id > 0)"
        ))
        .await
        .unwrap();
    f.ctx.run(&["access", "check"]).success();
}

#[tokio::test]
async fn rights_on_the_pgfleet_schema_a_runtime_roles_schema_and_role_settings_are_drift() {
    let f = fleet_as(Admin::Superuser).await;
    let p = &f.p;
    f.ctx.run(&["migrate", "up", "--all"]).success();
    f.ctx.run(&["access", "apply"]).success();
    let admin = f.shared.client().await;
    admin
        .batch_execute(&format!(
            "GRANT USAGE ON SCHEMA pgfleet TO {p}_auth_app;
             GRANT UPDATE, DELETE ON pgfleet.audit_log TO {p}_auth_app;
             CREATE SCHEMA {p}_rogue AUTHORIZATION {p}_auth_app;
             ALTER ROLE {p}_auth_app SET statement_timeout = 0;
             ALTER ROLE {p}_users_app IN DATABASE {db} SET role = '{p}_auth_ro'",
            db = f.shared.name
        ))
        .await
        .unwrap();
    // The runtime role runs DDL in its own schema, and could rewrite the audit log.
    let auth = f.runtime("auth", &f.shared).await;
    auth.batch_execute(&format!("CREATE TABLE {p}_rogue.mine (id int)"))
        .await
        .unwrap();
    auth.batch_execute("DELETE FROM pgfleet.audit_log WHERE false")
        .await
        .unwrap();

    let drift = check_output(&f);
    for wanted in [
        format!("{p}_auth_app has USAGE on schema pgfleet"),
        format!("{p}_auth_app has DELETE on table pgfleet.audit_log"),
        format!("schema {p}_rogue is owned by {p}_auth_app"),
        format!("table {p}_rogue.mine is owned by {p}_auth_app"),
        format!("role {p}_auth_app sets statement_timeout = 0, but the manifest says 30s"),
        format!(
            "role {p}_users_app sets role = {p}_auth_ro in database {}",
            f.shared.name
        ),
    ] {
        assert_lists(&drift, &wanted);
    }
    f.ctx.run(&["access", "apply"]).success();
    f.ctx.run(&["access", "check"]).success();

    let auth = f.runtime("auth", &f.shared).await;
    refused(
        auth.batch_execute(&format!("DROP TABLE {p}_rogue.mine"))
            .await,
        "DDL on a table it made in its own schema",
    );
    refused(
        auth.batch_execute(&format!("CREATE TABLE {p}_rogue.more (id int)"))
            .await,
        "CREATE in a schema it owned",
    );
    refused(
        auth.batch_execute("DELETE FROM pgfleet.audit_log WHERE false")
            .await,
        "rewriting the audit log",
    );
    // What remains are the manifest's settings of the runtime roles, role-wide: the one in
    // a database is gone, and statement_timeout is set over rather than reset.
    let settings: Vec<String> = crate::context::column(
        &admin,
        &format!(
            "SELECT r.rolname || coalesce(' in ' || d.datname, '') || ': ' || array_to_string(ARRAY(SELECT unnest(s.setconfig) ORDER BY 1), ' ')
               FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
               LEFT JOIN pg_database d ON d.oid = s.setdatabase
              WHERE r.rolname LIKE '{p}\\_%' ORDER BY 1"
        ),
    )
    .await;
    assert_eq!(
        settings,
        [
            format!(
                "{p}_auth_app: idle_in_transaction_session_timeout=1min search_path={p}_auth_schema, public statement_timeout=30s"
            ),
            format!(
                "{p}_billing_app: idle_in_transaction_session_timeout=1min statement_timeout=30s"
            ),
            format!(
                "{p}_users_app: idle_in_transaction_session_timeout=1min search_path={p}_user_schema, public statement_timeout=30s"
            ),
        ]
    );
}

#[tokio::test]
async fn default_privileges_a_runtime_role_sets_are_drift_and_a_refused_fix_undoes_no_other() {
    // pgfleet as production runs it: LOGIN CREATEROLE, not a superuser. It acts for a runtime
    // role (its default privileges, what it owns) by granting itself membership for the
    // statement; what only a superuser may do (NOBYPASSRLS) is refused, and undoes nothing else.
    let f = fleet_as(Admin::CreateRole).await;
    let p = &f.p;
    f.ctx.run(&["migrate", "up", "--all"]).success();
    f.ctx.run(&["access", "apply"]).success();
    f.ctx.run(&["access", "check"]).success();
    let auth = f.runtime("auth", &f.shared).await;
    auth.batch_execute(&format!(
        "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO {p}_billing_app;
         ALTER DEFAULT PRIVILEGES IN SCHEMA {p}_auth_schema GRANT SELECT ON TABLES TO {p}_billing_app"
    ))
    .await
    .unwrap();
    let superuser = f.shared.client().await;
    superuser
        .batch_execute(&format!(
            "GRANT SELECT ON {p}_auth_schema.tokens TO PUBLIC;
             CREATE SCHEMA {p}_rogue AUTHORIZATION {p}_auth_app;
             ALTER ROLE {p}_auth_app BYPASSRLS"
        ))
        .await
        .unwrap();

    let drift = check_output(&f);
    assert_lists(
        &drift,
        &format!("{p}_billing_app gets SELECT on new tables of {p}_auth_app in every schema"),
    );
    assert_lists(
        &drift,
        &format!(
            "{p}_billing_app gets SELECT on new tables of {p}_auth_app in schema {p}_auth_schema"
        ),
    );
    let run = f.ctx.run(&["access", "apply"]).failure(1);
    assert_lists(&run.stderr, "1 statement(s) failed");
    assert_lists(
        &run.stderr,
        &format!("ALTER ROLE \"{p}_auth_app\" NOBYPASSRLS"),
    );
    assert_lists(&run.stderr, "must be superuser");
    // Every fix it could make was made: only the attribute is left.
    let json = f
        .ctx
        .run(&["access", "check", "--format", "json"])
        .failure(6)
        .json();
    let left: Vec<&str> = json["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["fact"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(left, ["role"], "{json}");
    let row = superuser
        .query_one(
            &format!(
                "SELECT has_table_privilege('public', '{p}_auth_schema.tokens', 'SELECT'),
                        (SELECT pg_get_userbyid(nspowner)::text FROM pg_namespace WHERE nspname = '{p}_rogue'),
                        pg_has_role('{p}_admin', '{p}_auth_app', 'USAGE')"
            ),
            &[],
        )
        .await
        .unwrap();
    assert!(!row.get::<_, bool>(0));
    assert_eq!(row.get::<_, String>(1), format!("{p}_auth_owner"));
    assert!(
        !row.get::<_, bool>(2),
        "the borrowed membership is given back"
    );
    // And the run is audited as failed, with the refused statement.
    let audit: String = superuser
        .query_one(
            "SELECT detail->>'failed' FROM pgfleet.audit_log
              WHERE command = 'access apply' AND result = 'failed' ORDER BY id DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_lists(&audit, "must be superuser");
}

#[tokio::test]
async fn a_createrole_admin_applies_a_raised_pool_size_with_only_the_clause_that_differs() {
    let f = fleet_as(Admin::CreateRole).await;
    let p = &f.p;
    f.ctx.run(&["access", "apply"]).success();
    let manifest = std::fs::read_to_string(&f.ctx.manifest).unwrap();
    std::fs::write(
        &f.ctx.manifest,
        format!("{manifest}\n[services.{p}_billing.pool]\nmax_size = 30\n"),
    )
    .unwrap();
    let plan = f.ctx.run(&["access", "plan"]).success().stdout;
    assert_lists(
        &plan,
        &format!("ALTER ROLE \"{p}_billing_app\" CONNECTION LIMIT 35;"),
    );
    assert!(!plan.contains("NOSUPERUSER"), "{plan}");
    f.ctx.run(&["access", "apply"]).success();
    f.ctx.run(&["access", "check"]).success();
    let limit: i32 = f
        .shared
        .client()
        .await
        .query_one(
            "SELECT rolconnlimit FROM pg_roles WHERE rolname = $1",
            &[&format!("{p}_billing_app")],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(limit, 35);
}

#[tokio::test]
async fn apply_in_production_shows_the_plan_and_refuses_without_a_terminal_or_yes() {
    let f = fleet_as(Admin::Superuser).await;
    let p = &f.p;
    let run = f
        .ctx
        .run(&["access", "apply", "--env", "production"])
        .failure(1);
    assert_lists(&run.stderr, &format!("CREATE ROLE \"{p}_auth_app\""));
    assert_lists(&run.stderr, "pass --yes");
    let roles = || async {
        f.shared
            .client()
            .await
            .query_one(
                "SELECT count(*) FROM pg_roles WHERE rolname LIKE $1",
                &[&format!("{p}\\_%")],
            )
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    assert_eq!(roles().await, 0, "nothing was applied");
    f.ctx
        .run(&["access", "apply", "--env", "production", "--yes"])
        .success();
    // Three services, each with its owner, runtime, read-only and migration roles.
    assert_eq!(roles().await, 12);
}

/// One dev server with one service (`notes`, database of its own) on a real cluster with
/// SCRAM logins; pgfleet logs in as `admin` (created by `dev up`).
fn dev_fleet(admin: &str) -> TestContext {
    let mut ctx = TestContext::new(&format!(
        r#"
[fleet]
name = "rotation"

[environments.development]
local = true
user = "{admin}"
password = {{ env = "ROTATION_DB_PASSWORD" }}

[servers.main]
dev_port = {port}

[services.notes]
database = "notes"
"#,
        port = free_port(),
    ));
    ctx.stop_clusters_on_drop = true;
    ctx
}

/// A login as the service's runtime role with the password its variable gives now.
fn runtime_login(ctx: &TestContext) -> crate::context::Run {
    ctx.run(&["dev", "psql", "notes", "--", "-XtAc", "select 1"])
}

/// A session on the dev cluster as pgfleet's login, with its generated password.
async fn admin_session(ctx: &TestContext, admin: &str) -> tokio_postgres::Client {
    let port = std::fs::read_to_string(&ctx.manifest)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("dev_port = ").map(str::to_owned))
        .unwrap();
    let password = std::fs::read_to_string(
        ctx.dir
            .path()
            .join(format!(".pgfleet/secrets/{admin}.password")),
    )
    .unwrap();
    let (client, connection) = tokio_postgres::Config::new()
        .host("127.0.0.1")
        .port(port.parse().unwrap())
        .user(admin)
        .password(password)
        .dbname("notes")
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// No statement pg_stat_statements kept and no line of the server log holds a verifier; the
/// password path itself was taken (its call is there, with its parameters as `$n`).
async fn assert_no_verifier_recorded(ctx: &TestContext, admin: &str) {
    let client = admin_session(ctx, admin).await;
    let recorded: Vec<String> = crate::context::column(
        &client,
        "SELECT query FROM pgfleet.pg_stat_statements
              WHERE query LIKE '%SCRAM-SHA-256$%' OR query LIKE '%pgfleet_set_password(%'",
    )
    .await;
    assert!(
        recorded.iter().all(|q| !q.contains("SCRAM-SHA-256$")),
        "{recorded:?}"
    );
    assert!(
        recorded
            .iter()
            .any(|q| q.contains("pgfleet_set_password($1, $2)")),
        "{recorded:?}"
    );
    let data_dir: String = client
        .query_one("SHOW data_directory", &[])
        .await
        .unwrap()
        .get(0);
    let log = std::path::Path::new(&data_dir)
        .parent()
        .unwrap()
        .join("server.log");
    let log = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    assert!(!log.contains("SCRAM-SHA-256$"), "{log}");
}

#[tokio::test]
async fn a_createrole_admin_rotates_passwords_with_the_flag_and_records_no_verifier() {
    let mut ctx = dev_fleet("rotation_admin");
    ctx.run(&["dev", "up"]).success();
    runtime_login(&ctx).success();
    // The variable changes: env export hands the new password out, logins fail.
    ctx.var("NOTES_DB_PASSWORD", "the-rotated-password");
    let run = runtime_login(&ctx);
    assert!(
        run.stderr.contains("password authentication failed"),
        "{}",
        run.all_output()
    );
    // A CREATEROLE admin cannot read the stored verifiers; the flag sets them all.
    let plan = ctx
        .run(&["access", "plan", "--rotate-passwords"])
        .success()
        .stdout;
    assert_lists(&plan, "ALTER ROLE \"notes_app\" PASSWORD '***'");
    assert!(!plan.contains("SCRAM-SHA-256"), "{plan}");
    ctx.run(&["access", "apply", "--rotate-passwords"])
        .success();
    runtime_login(&ctx).success();
    assert_no_verifier_recorded(&ctx, "rotation_admin").await;
}

#[tokio::test]
async fn a_superuser_admin_sees_a_changed_password_as_drift_and_apply_sets_it() {
    let mut ctx = dev_fleet("postgres");
    ctx.run(&["dev", "up"]).success();
    ctx.run(&["access", "check"]).success();
    ctx.var("NOTES_DB_PASSWORD", "the-rotated-password");
    assert_ne!(runtime_login(&ctx).code, 0);
    let drift = ctx.run(&["access", "check"]).failure(6).stdout;
    assert_lists(
        &drift,
        "the password of notes_app is not the one its variable gives",
    );
    let plan = ctx.run(&["access", "plan"]).success().stdout;
    assert_lists(&plan, "ALTER ROLE \"notes_app\" PASSWORD '***'");
    ctx.run(&["access", "apply"]).success();
    runtime_login(&ctx).success();
    ctx.run(&["access", "check"]).success();
    assert_no_verifier_recorded(&ctx, "postgres").await;

    // pg_stat_statements.track = all would record the nested ALTER ROLE: refused.
    let client = admin_session(&ctx, "postgres").await;
    for sql in [
        "ALTER SYSTEM SET pg_stat_statements.track = 'all'",
        "SELECT pg_reload_conf()",
    ] {
        client.batch_execute(sql).await.unwrap();
    }
    ctx.var("NOTES_DB_PASSWORD", "another-password");
    let run = ctx.run(&["access", "apply"]).failure(1);
    assert_lists(&run.stderr, "pg_stat_statements.track = all");
    assert_no_verifier_recorded(&ctx, "postgres").await;
}
