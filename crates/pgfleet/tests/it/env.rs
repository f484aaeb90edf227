//! `pgfleet env check|show|export` on the HuleEdu example and on small manifests.

use crate::context::{TestContext, huleedu_manifest};
use pgfleet_testkit::TestCluster;

/// pgfleet's own login in production …
const PROD_VARS: [&str; 3] = [
    "HULEEDU_PROD_DB_HOST",
    "HULEEDU_DB_USER",
    "HULEEDU_PROD_DB_PASSWORD",
];

/// … and each service's runtime role.
const SERVICES: [&str; 8] = [
    "BATCH_ORCHESTRATOR_SERVICE",
    "CJ_ASSESSMENT_SERVICE",
    "CLASS_MANAGEMENT_SERVICE",
    "ESSAY_LIFECYCLE_SERVICE",
    "FILE_SERVICE",
    "NLP_SERVICE",
    "RESULT_AGGREGATOR_SERVICE",
    "SPELLCHECKER_SERVICE",
];

fn service_password_vars() -> Vec<String> {
    SERVICES
        .iter()
        .map(|s| format!("{s}_DB_PASSWORD"))
        .collect()
}

#[test]
fn production_check_lists_every_missing_variable_at_once() {
    let ctx = TestContext::with_manifest(&huleedu_manifest());
    let run = ctx.run(&["env", "check", "--env", "production"]).failure(4);
    for var in PROD_VARS {
        assert!(
            run.stdout.contains(var),
            "{var} missing from:\n{}",
            run.stdout
        );
    }
    // The port has a default, so it is not missing.
    assert!(
        !run.stdout.contains("HULEEDU_PROD_DB_PORT"),
        "{}",
        run.stdout
    );

    let json = ctx
        .run(&["env", "check", "--env", "production", "--format", "json"])
        .failure(4)
        .json();
    let mut missing: Vec<&str> = json["missing_variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["var"].as_str().unwrap())
        .collect();
    missing.sort_unstable();
    let passwords = service_password_vars();
    let mut expected: Vec<&str> = PROD_VARS.to_vec();
    expected.extend(passwords.iter().map(String::as_str));
    expected.sort_unstable();
    assert_eq!(missing, expected);
    assert_eq!(json["ok"], false);
}

#[test]
fn the_environment_variable_of_the_manifest_selects_production() {
    let mut ctx = TestContext::with_manifest(&huleedu_manifest());
    ctx.var("HULEEDU_ENVIRONMENT", "production")
        .var("HULEEDU_PROD_DB_HOST", "db.example.com")
        .var("HULEEDU_DB_USER", "huleedu")
        .var("HULEEDU_PROD_DB_PASSWORD", "pw");
    for var in service_password_vars() {
        ctx.var(&var, "service-pw");
    }
    let json = ctx
        .run(&["env", "check", "--format", "json"])
        .success()
        .json();
    assert_eq!(json["environment"], "production");
    assert_eq!(json["environment_source"], "HULEEDU_ENVIRONMENT");
    assert_eq!(json["services"].as_array().unwrap().len(), 8);

    ctx.var("HULEEDU_ENVIRONMENT", "prod");
    let run = ctx.run(&["env", "check"]).failure(4);
    assert!(
        run.stderr
            .contains("unknown environment `prod` (from HULEEDU_ENVIRONMENT)"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_service_url_variable_wins() {
    let mut ctx = TestContext::with_manifest(&huleedu_manifest());
    ctx.var(
        "CLASS_MANAGEMENT_SERVICE_DATABASE_URL",
        "postgresql://cm:cm-pw@cm-db.internal:6432/classes?sslmode=require",
    );
    let json = ctx
        .run(&[
            "env",
            "show",
            "class_management_service",
            "--env",
            "production",
            "--format",
            "json",
        ])
        .success()
        .json();
    let c = &json[0];
    assert_eq!(c["host"], "cm-db.internal");
    assert_eq!(c["port"], 6432);
    assert_eq!(c["database"], "classes");
    assert_eq!(c["source"]["var"], "CLASS_MANAGEMENT_SERVICE_DATABASE_URL");
    // The other services still need their variables.
    let run = ctx.run(&["env", "check", "--env", "production", "--format", "json"]);
    let json = run.failure(4).json();
    let ok: Vec<&str> = json["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["ok"] == true)
        .map(|s| s["service"].as_str().unwrap())
        .collect();
    assert_eq!(ok, ["class_management_service"]);
}

#[test]
fn passwords_never_reach_output_unless_asked_for() {
    const PASSWORD: &str = "Sup3r-Secret-Pw";
    let mut ctx = TestContext::with_manifest(&huleedu_manifest());
    ctx.var("HULEEDU_PROD_DB_HOST", "db.example.com")
        .var("HULEEDU_DB_USER", "huleedu")
        .var("HULEEDU_PROD_DB_PASSWORD", PASSWORD)
        .var("HULEEDU_DB_PASSWORD", PASSWORD)
        .var(
            "NLP_SERVICE_DATABASE_URL",
            &format!("postgresql://nlp:{PASSWORD}@nlp-db:5432/nlp"),
        );
    for var in service_password_vars() {
        ctx.var(&var, PASSWORD);
    }
    let runs = [
        ctx.run(&["env", "show", "--env", "production"]),
        ctx.run(&["env", "show", "--env", "production", "--format", "json"]),
        ctx.run(&["env", "show", "--env", "development", "--format", "json"]),
        ctx.run(&["env", "check", "--env", "production"]),
        ctx.run(&["env", "check", "--env", "production", "--format", "json"]),
        ctx.run(&["env", "export", "nlp_service", "--env", "production"]),
        ctx.run(&[
            "env",
            "export",
            "file_service",
            "--env",
            "production",
            "--format",
            "json",
        ]),
        ctx.run(&["-vv", "env", "show", "--env", "production"]),
        // Errors: an unknown service, a bad URL holding the password.
        ctx.run(&["env", "show", "nobody", "--env", "production"]),
    ];
    for run in &runs {
        assert!(
            !run.all_output().contains(PASSWORD),
            "password printed:\n{}",
            run.all_output()
        );
    }
    assert!(
        runs[1].stdout.contains("\"password\": \"***\""),
        "{}",
        runs[1].stdout
    );

    ctx.var(
        "NLP_SERVICE_DATABASE_URL",
        &format!("mysql://nlp:{PASSWORD}@x/y"),
    );
    let run = ctx.run(&["env", "check", "--env", "production"]).failure(4);
    assert!(
        run.stdout
            .contains("NLP_SERVICE_DATABASE_URL has scheme `mysql`"),
        "{}",
        run.stdout
    );
    assert!(!run.all_output().contains(PASSWORD), "{}", run.all_output());

    let shown = ctx.run(&[
        "env",
        "export",
        "file_service",
        "--env",
        "production",
        "--show-secrets",
    ]);
    assert!(
        shown
            .success()
            .stdout
            .contains(&format!("PGPASSWORD='{PASSWORD}'")),
        "--show-secrets must hand the password on"
    );
}

#[test]
fn a_dotenv_file_beside_the_manifest_is_read_and_the_process_wins() {
    let mut ctx = TestContext::new(
        r#"
[fleet]
name = "shop"
manage_roles = false
[environments.production]
host = { env = "SHOP_HOST" }
user = { env = "SHOP_USER" }
password = { env = "SHOP_PASSWORD" }
[servers.main]
[services.orders]
"#,
    );
    std::fs::write(
        ctx.dir.path().join(".env"),
        "SHOP_HOST=from-dotenv\nSHOP_USER=orders\n",
    )
    .unwrap();
    ctx.var("SHOP_HOST", "from-process");
    let run = ctx.run(&["env", "check", "--env", "production", "--format", "json"]);
    let json = run.failure(4).json();
    let missing: Vec<&str> = json["missing_variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["var"].as_str().unwrap())
        .collect();
    assert_eq!(missing, ["SHOP_PASSWORD"]);
    ctx.var("SHOP_PASSWORD", "x");
    let json = ctx
        .run(&["env", "show", "--env", "production", "--format", "json"])
        .success()
        .json();
    assert_eq!(json[0]["host"], "from-process");
    assert_eq!(json[0]["user"], "orders");
}

/// What `env export` prints is enough for another program to connect: resolution and export
/// end to end against a real server.
#[tokio::test]
async fn an_exported_environment_connects() {
    let cluster = TestCluster::shared();
    let db = cluster.fresh_database().await;
    let mut ctx = TestContext::new(&format!(
        r#"
[fleet]
name = "shop"
manage_roles = false
[environments.staging]
host = {{ env = "SHOP_HOST" }}
port = {{ env = "SHOP_PORT" }}
user = "{user}"
sslmode = "disable"
[servers.main]
[services.orders]
database = "{database}"
[services.orders.pool]
max_size = 7
statement_timeout = "12s"
"#,
        user = cluster.superuser(),
        database = db.name,
    ));
    ctx.var("SHOP_HOST", cluster.host())
        .var("SHOP_PORT", &cluster.port().to_string());
    let run = ctx
        .run(&[
            "env",
            "export",
            "orders",
            "--env",
            "staging",
            "--show-secrets",
        ])
        .success();
    // The pool table travels too, for pgfleet-client.
    for line in [
        "PGFLEET_POOL_MAX_SIZE='7'",
        "PGFLEET_STATEMENT_TIMEOUT='12s'",
        "PGFLEET_POOL_MAX_LIFETIME='5m'",
    ] {
        assert!(run.stdout.contains(line), "{line} missing:\n{}", run.stdout);
    }
    let env_file = ctx.dir.path().join("orders.env");
    std::fs::write(&env_file, &run.stdout).unwrap();
    let psql = cluster.bins().tool("psql");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "set -a; . '{}'; '{}' -XtAc 'select current_database()'",
            env_file.display(),
            psql.display()
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), db.name);
}
