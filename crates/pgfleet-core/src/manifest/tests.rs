#![allow(clippy::unwrap_used)]

use super::*;

const GOOD: &str = r#"
[fleet]
name = "demo"
environment_var = "DEMO_ENV"

[environments.development]
local = true
user = { env = "DEMO_DB_USER", default = "demo_user" }
password = { env = "DEMO_DB_PASSWORD" }

[environments.production]
host = { env = "DEMO_PROD_HOST" }
port = { env = "DEMO_PROD_PORT", default = 5432 }
user = { env = "DEMO_DB_USER" }
password = { env = "DEMO_PROD_PASSWORD" }
sslmode = "require"

[servers.main]
dev_port = 5501
database = "shared"

[servers.billing]
dev_port = 5502

[services.auth]
server = "main"
schema = "auth_schema"

[services.users]
server = "main"
schema = "user_schema"
reads = ["auth"]
labels = { team = "identity" }

[services.billing]
server = "billing"
database = "billing_db"
[services.billing.pool]
max_size = 20
idle_timeout = "2m"
"#;

fn parse(text: &str) -> Result<Manifest, ManifestError> {
    Manifest::parse(text, Path::new("/project/fleet.toml"))
}

/// Every problem as `line:column: message`.
fn problems(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => panic!("expected the manifest to be rejected"),
        Err(ManifestError::Invalid { problems, .. }) => problems
            .iter()
            .map(|p| {
                let at = line_column(text, p.span.clone().unwrap_or(0..0).start);
                format!("{}:{}: {}", at.line, at.column, p.message)
            })
            .collect(),
        Err(other) => panic!("unexpected error {other}"),
    }
}

#[test]
fn a_valid_manifest_resolves_placements_and_defaults() {
    let m = parse(GOOD).unwrap();
    assert_eq!(m.fleet.name, "demo");
    assert_eq!(m.fleet.environment_var, "DEMO_ENV");
    assert_eq!(m.fleet.default_environment, "development");
    assert_eq!(
        m.services["auth"].placement,
        Placement::Schema {
            database: "shared".into(),
            schema: "auth_schema".into()
        }
    );
    assert_eq!(m.services["billing"].placement.database(), "billing_db");
    assert_eq!(m.services["billing"].pool.max_size, 20);
    assert_eq!(
        m.services["billing"].pool.idle_timeout,
        std::time::Duration::from_secs(120)
    );
    assert_eq!(m.services["users"].reads, ["auth"]);
    assert_eq!(m.services["users"].url_env, "USERS_DATABASE_URL");
    assert_eq!(
        m.services["auth"].migrations,
        Path::new("/project/services/auth/migrations")
    );
    assert!(m.is_local("development"));
    assert!(m.is_protected("production"));
    assert!(!m.is_protected("development"));
}

#[test]
fn a_misspelled_key_names_the_key_line_and_column() {
    let text = GOOD.replace("database = \"billing_db\"", "databse = \"billing_db\"");
    let err = parse(&text).unwrap_err().to_string();
    let line = text.lines().position(|l| l.starts_with("databse")).unwrap() + 1;
    assert!(
        err.starts_with(&format!(
            "/project/fleet.toml:{line}:1: unknown field `databse`"
        )),
        "{err}"
    );
}

#[test]
fn a_wrong_type_is_reported_where_it_is() {
    let text = GOOD.replace("dev_port = 5502", "dev_port = \"5502\"");
    let found = problems(&text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("invalid type"), "{found:?}");
    assert!(found[0].starts_with("23:12:"), "{found:?}");
}

#[test]
fn every_semantic_problem_is_reported_at_once() {
    let text = r#"
[fleet]
name = "Demo"

[environments.development]
local = true

[servers.a]
dev_port = 5501
database = "shared"

[servers.b]
dev_port = 5501

[services.one]
server = "a"
database = "dup"

[services.two]
server = "a"
database = "dup"

[services.three]
server = "a"
schema = "bad-name"
reads = ["nobody", "three"]

[services.four]
server = "nowhere"
"#;
    let found = problems(text);
    let expected = [
        "3:8: fleet name `Demo` must start with a lowercase letter or an underscore",
        "13:12: dev_port 5501 of server `b` is already the dev_port of server `a`",
        "21:12: service `two` uses database `dup` on server `a`, which service `one` already has as its own database",
        "25:10: schema name `bad-name` contains '-'; use lowercase letters, digits and underscores",
        "26:10: service `three` reads `nobody`, which is not a service of this fleet",
        "26:20: service `three` lists itself in reads",
        "29:10: service `four` names server `nowhere`, which is not declared",
    ];
    assert_eq!(found, expected);
}

#[test]
fn passwords_may_not_be_written_in_the_manifest() {
    let text = GOOD.replace(
        "password = { env = \"DEMO_PROD_PASSWORD\" }",
        "password = \"hunter2\"",
    );
    let err = parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("a password must not be written in the manifest"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn local_environments_need_a_dev_port_and_schemas_need_a_database() {
    let text = r#"
[fleet]
name = "demo"
[servers.a]
[services.s]
schema = "s_schema"
"#;
    let found = problems(text);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].contains("server `a` has no dev_port"), "{found:?}");
    assert!(
        found[1].contains("has a schema but no database"),
        "{found:?}"
    );
}

#[test]
fn pool_limits_and_url_variables_are_checked() {
    let text = r#"
[fleet]
name = "demo"
[servers.a]
dev_port = 5501
[services.s1]
url_env = "SHARED_URL"
pool = { max_size = 2, min_idle = 5 }
[services.s2]
url_env = "SHARED_URL"
"#;
    let found = problems(text);
    assert!(
        found
            .iter()
            .any(|p| p.contains("min_idle (5) is larger than pool.max_size (2)")),
        "{found:?}"
    );
    assert!(
        found.iter().any(|p| p.contains("both use SHARED_URL")),
        "{found:?}"
    );
}

#[test]
fn the_manifest_is_found_upward_like_cargo_finds_cargo_toml() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b");
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::write(dir.path().join(MANIFEST_FILE), GOOD).unwrap();
    assert_eq!(
        locate(None, None, &nested).unwrap(),
        dir.path().join(MANIFEST_FILE)
    );
    assert_eq!(
        locate(None, Some(Path::new("x.toml")), &nested).unwrap(),
        nested.join("x.toml")
    );
    assert_eq!(
        locate(
            Some(Path::new("/y.toml")),
            Some(Path::new("x.toml")),
            &nested
        )
        .unwrap(),
        Path::new("/y.toml")
    );
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        locate(None, None, empty.path()),
        Err(ManifestError::NotFound { .. })
    ));
}

#[test]
fn reads_stay_within_one_server() {
    let text = r#"
[fleet]
name = "demo"
[servers.a]
dev_port = 5501
[servers.b]
dev_port = 5502
[services.one]
server = "a"
[services.two]
server = "b"
reads = ["one"]
"#;
    let found = problems(text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0]
            .starts_with("12:10: service `two` (server `b`) reads `one`, which is on server `a`"),
        "{found:?}"
    );
}

#[test]
fn names_pgfleet_and_postgresql_use_themselves_are_refused_all_at_once() {
    let text = r#"[fleet]
name = "demo"

[environments.development]
local = true
user = { env = "DEMO_DB_USER", default = "demo_admin" }
password = { env = "DEMO_DB_PASSWORD", default = "hunter2" }

[environments.production]
host = "db host"
user = "Admin-User"

[servers.main]
dev_port = 5501
database = "template1"

[services.audit]
server = "main"
database = "shared"
schema = "pgfleet"

[services.catalog]
server = "main"
database = "shared"
schema = "information_schema"

[services.postgres]
server = "main"

[services.billing]
server = "main"
database = "billing"
[services.billing.access]
owner_role = "demo_admin"
runtime_role = "postgres"
readonly_role = "pg_monitor"
connection_limit = -1
password = { env = "BILLING_PW", default = "s3cret" }
"#;
    assert_eq!(
        problems(text),
        [
            "7:12: a password must not have a default in the manifest",
            "10:8: host `db host` contains ' '; a host is a DNS name, an IP address or a socket directory",
            "11:8: user `Admin-User` must start with a lowercase letter or an underscore",
            "15:12: database `template1` is one of PostgreSQL's own (postgres, template0, template1)",
            "20:10: schema `pgfleet` is pgfleet's own (migration history and audit log): a service cannot own it",
            "25:10: schema `information_schema` is PostgreSQL's own: a service cannot own it",
            "27:11: database `postgres` is one of PostgreSQL's own (postgres, template0, template1)",
            "34:14: the owner role `demo_admin` of service `billing` is pgfleet's login in environment `development`",
            "35:16: role `postgres` is PostgreSQL's (its superuser or a reserved name), not a service role",
            "36:17: role name `pg_monitor` starts with `pg_`, which PostgreSQL reserves",
            "37:20: service `billing`: connection_limit -1 is negative (PostgreSQL would read -1 as no limit)",
            "38:12: a password must not have a default in the manifest",
        ]
    );
    let err = parse(text).unwrap_err().to_string();
    assert!(!err.contains("hunter2") && !err.contains("s3cret"), "{err}");
}

#[test]
fn a_local_login_defaults_to_the_fleet_name_and_may_not_be_a_service_role() {
    let text = r#"[fleet]
name = "shop"
[environments.development]
local = true
[servers.main]
dev_port = 5501
[services.orders]
[services.orders.access]
runtime_role = "shop"
"#;
    assert_eq!(
        problems(text),
        [
            "9:16: the runtime role `shop` of service `orders` is pgfleet's login in environment `development`"
        ]
    );
}

#[test]
fn every_key_and_type_problem_is_reported_at_once_and_validation_runs_after_unknown_keys() {
    let text = r#"[fleet]
name = "demo"
colour = "blue"
[servers.main]
dev_port = 5501
size = "large"
[servers.other]
dev_port = 5501
[services.auth]
server = "main"
databse = "auth"
[services.auth.pool]
max_connections = 3
"#;
    assert_eq!(
        problems(text),
        [
            "3:1: unknown field `colour`, expected one of `name`, `environment_var`, `default_environment`, `dotenv`, `manage_roles`",
            "6:1: unknown field `size`, expected one of `dev_port`, `test_port`, `database`, `environments`, `pooler`",
            "8:12: dev_port 5501 of server `other` is already the dev_port of server `main`",
            "11:1: unknown field `databse`, expected one of `server`, `database`, `schema`, `migrations`, `layout`, `driver`, `seeds`, `reads`, `labels`, `pool`, `url_env`, `access`",
            "13:1: unknown field `max_connections`, expected one of `max_size`, `min_idle`, `max_lifetime`, `idle_timeout`, `connect_timeout`, `acquire_timeout`, `statement_timeout`, `idle_in_transaction_session_timeout`, `lock_timeout`",
        ]
    );
}

#[test]
fn after_a_wrong_value_only_key_and_type_problems_are_reported() {
    // Without `server = 5` the service would seem to name no server, a problem nobody wrote.
    let text = r#"[fleet]
name = "demo"
[servers.main]
dev_port = "5501"
[servers.other]
dev_port = 5502
[services.auth]
server = 5
reads = ["users", 7]
"#;
    assert_eq!(
        problems(text),
        [
            "4:12: invalid type: string \"5501\", expected a port number (1-65535)",
            "8:10: invalid type: integer `5`, expected a string",
            "9:19: invalid type: integer `7`, expected a string",
        ]
    );
}

#[test]
fn a_table_defined_twice_is_one_problem() {
    let text =
        "[fleet]\nname = \"demo\"\n[servers.main]\ndev_port = 1\n[servers.main]\ndev_port = 2\n";
    assert_eq!(
        problems(text),
        ["5:10: table [servers.main] is defined twice"]
    );
}

#[test]
fn a_flood_of_bad_keys_stops_at_a_bound() {
    // Each problem costs a pass over the document, so a file of thousands stays fast.
    let mut text = String::from("[fleet]\nname = \"demo\"\n");
    for i in 0..2000 {
        text.push_str(&format!("bad_{i} = 1\n"));
    }
    let found = problems(&text);
    assert_eq!(found.len(), 51, "{}", found.len());
    assert!(
        found[50].ends_with("stopped after 50 problems"),
        "{found:?}"
    );
}

#[test]
fn a_driver_is_one_of_the_known_ones_and_defaults_to_libpq() {
    let text = GOOD.replace(
        "database = \"billing_db\"",
        "database = \"billing_db\"\ndriver = \"sqlalchemy+asyncpg\"",
    );
    let m = parse(&text).unwrap();
    assert_eq!(
        m.services["billing"].driver,
        crate::manifest::Driver::SqlalchemyAsyncpg
    );
    assert_eq!(m.services["auth"].driver, crate::manifest::Driver::Libpq);
    let text = GOOD.replace(
        "database = \"billing_db\"",
        "database = \"billing_db\"\ndriver = \"psycopg2\"",
    );
    let found = problems(&text);
    let line = text.lines().position(|l| l.starts_with("driver")).unwrap() + 1;
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with(&format!("{line}:10: unknown variant `psycopg2`")),
        "{found:?}"
    );
    for accepted in crate::manifest::Driver::ALL {
        assert!(found[0].contains(&format!("`{accepted}`")), "{found:?}");
    }
}

#[test]
fn a_layout_is_one_of_the_known_tools_or_absent() {
    let text = GOOD.replace(
        "database = \"billing_db\"",
        "database = \"billing_db\"\nlayout = \"golang-migrate\"",
    );
    let m = parse(&text).unwrap();
    assert_eq!(
        m.services["billing"].layout,
        Some(crate::manifest::Layout::GolangMigrate)
    );
    assert_eq!(m.services["auth"].layout, None);
    let text = GOOD.replace(
        "database = \"billing_db\"",
        "database = \"billing_db\"\nlayout = \"goose\"",
    );
    let found = problems(&text);
    let line = text.lines().position(|l| l.starts_with("layout")).unwrap() + 1;
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with(&format!("{line}:10: unknown variant `goose`")),
        "{found:?}"
    );
    assert!(found[0].contains("`golang-migrate`"), "{found:?}");
}

#[test]
fn a_pooler_names_declared_environments_that_are_not_local() {
    let text = r#"
[fleet]
name = "demo"

[environments.development]
local = true

[environments.production]
host = "db.internal"
user = "pgfleet"

[servers.main]
dev_port = 5501
[servers.main.pooler]
mode = "transaction"
[servers.main.pooler.environments.development]
host = "127.0.0.1"
[servers.main.pooler.environments.staging]
host = "bouncer"
[servers.main.pooler.environments.production]
host = "bouncer.internal"
port = "none"

[services.auth]
server = "main"
database = "auth"
"#;
    let found = problems(text);
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(
        found[0]
            .contains("the pooler of server `main` is set for `development`, a local environment"),
        "{found:?}"
    );
    assert!(
        found[1].contains("names environment `staging`, which is not declared"),
        "{found:?}"
    );
    assert!(
        found[2].contains("port `none` is not a port number"),
        "{found:?}"
    );
    let good = text
        .replace(
            "[servers.main.pooler.environments.development]\nhost = \"127.0.0.1\"\n",
            "",
        )
        .replace(
            "[servers.main.pooler.environments.staging]\nhost = \"bouncer\"\n",
            "",
        )
        .replace("port = \"none\"\n", "");
    let m = parse(&good).unwrap();
    let pooler = m.servers["main"].pooler.as_ref().unwrap();
    assert_eq!(pooler.mode, PoolerMode::Transaction);
    assert!(pooler.environments.contains_key("production"));
    let unknown = problems(&good.replace("\"transaction\"", "\"statement\""));
    assert!(
        unknown
            .iter()
            .any(|p| p.contains("unknown variant `statement`")),
        "{unknown:?}"
    );
}

#[test]
fn the_runtime_roles_limits_default_and_are_bounded_by_postgresql() {
    let manifest = parse(GOOD).unwrap();
    let pool = &manifest.services["billing"].pool;
    assert_eq!(
        pool.idle_in_transaction_session_timeout,
        std::time::Duration::from_secs(60)
    );
    assert_eq!(pool.lock_timeout, None);
    let text = GOOD.replace(
        "idle_timeout = \"2m\"",
        "idle_timeout = \"2m\"\nlock_timeout = \"3s\"\nidle_in_transaction_session_timeout = \"0s\"",
    );
    let pool = parse(&text).unwrap().services["billing"].pool.clone();
    assert_eq!(pool.lock_timeout, Some(std::time::Duration::from_secs(3)));
    assert_eq!(
        pool.idle_in_transaction_session_timeout,
        std::time::Duration::ZERO
    );

    let text = GOOD.replace("idle_timeout = \"2m\"", "lock_timeout = \"30days\"");
    let found = problems(&text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with(
            "35:11: service `billing`: pool.lock_timeout (30days) is longer than PostgreSQL allows"
        ),
        "{found:?}"
    );
    let text = GOOD.replace("idle_timeout = \"2m\"", "lock_timeout = \"soon\"");
    let found = problems(&text);
    assert_eq!(
        found,
        ["40:16: invalid value: string \"soon\", expected a duration"]
    );
}

#[test]
fn a_testing_environment_is_local_and_its_ports_are_its_own() {
    let testing = "[environments.testing]\nlocal = true\ntesting = true\n\n[servers.main]";
    let manifest = parse(&GOOD.replace("[servers.main]", testing)).unwrap();
    assert!(manifest.is_testing("testing"));
    assert!(!manifest.is_testing("development"));
    let main = &manifest.servers["main"];
    assert_eq!(main.test_port, Some(5601));
    assert_eq!(manifest.local_port(main, "testing"), Some(5601));
    assert_eq!(manifest.local_port(main, "development"), Some(5501));
    assert_eq!(manifest.test_runner_role(), "demo_test_runner");

    let text = GOOD.replace(
        "[servers.main]",
        "[environments.testing]\ntesting = true\n\n[servers.main]",
    );
    assert_eq!(
        problems(&text),
        ["19:11: environment `testing` is a testing environment but not local"]
    );
    let text = GOOD
        .replace("[servers.main]", testing)
        .replace("dev_port = 5502", "dev_port = 5502\ntest_port = 5501");
    assert_eq!(
        problems(&text),
        ["28:13: test_port 5501 of server `billing` is already the dev_port of server `main`"]
    );
    // Without a testing environment, test ports are not checked (nor used).
    parse(&GOOD.replace("dev_port = 5502", "dev_port = 5502\ntest_port = 5501")).unwrap();
    let text = GOOD
        .replace("[servers.main]", testing)
        .replace("dev_port = 5502", "dev_port = 5601");
    assert_eq!(
        problems(&text),
        [
            "23:12: test_port (dev_port + 100) 5601 of server `main` is already the dev_port of server `billing`"
        ]
    );
}

#[test]
fn backups_default_to_a_local_folder_per_environment() {
    let manifest = parse(GOOD).unwrap();
    assert_eq!(manifest.backup.jobs_per_server, 2);
    match manifest.backup_target("production").storage {
        BackupStorage::Local { path } => {
            assert_eq!(path, Path::new("/project/.pgfleet/backups/production"))
        }
        other => panic!("expected a local folder, got {other:?}"),
    }
    let text = format!(
        "{GOOD}\n[backup]\nzstd_level = 6\nretention = {{ keep_last = 3, keep_weekly = 4 }}\n\
         [backup.environments.production]\n\
         s3 = {{ bucket = \"b\", prefix = \"p\", endpoint = {{ env = \"S3_URL\" }}, \
         access_key_id = {{ env = \"S3_KEY\" }}, secret_access_key = {{ env = \"S3_SECRET\" }} }}\n\
         encryption = {{ recipients = [\"age1abc\"], identity = {{ env = \"AGE_KEY\" }} }}\n"
    );
    let manifest = parse(&text).unwrap();
    assert_eq!(manifest.backup.zstd_level, 6);
    assert_eq!(manifest.backup.retention.keep_last, Some(3));
    let target = manifest.backup_target("production");
    assert!(matches!(&target.storage, BackupStorage::S3(s3) if s3.prefix == "p"));
    assert!(target.encryption.is_some());
}

#[test]
fn backup_secrets_come_from_variables_and_every_problem_is_listed() {
    let text = format!(
        "{GOOD}\n[backup]\njobs_per_server = 0\nzstd_level = 30\n\
         [backup.environments.staging]\npath = \"b\"\n\
         [backup.environments.production]\n\
         s3 = {{ bucket = \"b\", endpoint = \"http://127.0.0.1:9000\", secret_access_key = \"hunter2\" }}\n\
         encryption = {{ recipients = [\"not-a-key\"], identity = \"AGE-SECRET-KEY-1X\" }}\n"
    );
    let found = problems(&text);
    let messages: Vec<&str> = found
        .iter()
        .map(|p| p.splitn(3, ':').nth(2).unwrap().trim())
        .collect();
    assert_eq!(
        messages,
        [
            "jobs_per_server must be at least 1",
            "zstd_level 30 is not a level of 1-19",
            "[backup] names environment `staging`, which is not declared",
            "`secret_access_key` must not be written in the manifest",
            "the s3 endpoint `http://127.0.0.1:9000` is plain HTTP",
            "backup recipient `not-a-key` is not an age public key (age1…)",
            "`identity` must not be written in the manifest",
        ],
        "{found:#?}"
    );
    assert!(
        !found
            .iter()
            .any(|p| p.contains("hunter2") || p.contains("SECRET-KEY")),
        "a secret written in the manifest is never repeated: {found:#?}"
    );
}

#[test]
fn names_pgfleet_derives_are_held_to_the_identifier_limit() {
    let long_db = "d".repeat(60);
    let long_fleet = "f".repeat(55);
    let text = GOOD
        .replace("name = \"demo\"", &format!("name = \"{long_fleet}\""))
        .replace(
            "database = \"billing_db\"",
            &format!("database = \"{long_db}\""),
        )
        .replace(
            "[environments.production]",
            "[environments.testing]\nlocal = true\ntesting = true\n\n[environments.production]",
        );
    let found = problems(&text);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found[0].contains(&format!(
            "the testing environment's login `{long_fleet}_test_runner` is 67 bytes long"
        )),
        "{found:#?}"
    );
    assert!(
        found[1].contains(&format!("database `{long_db}_template` is 69 bytes long")),
        "{found:#?}"
    );
}
