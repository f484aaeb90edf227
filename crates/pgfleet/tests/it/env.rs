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

/// A service on a local dev server: it resolves without a running cluster.
const EXEC_FLEET: &str =
    "[fleet]\nname = \"shop\"\n[servers.main]\ndev_port = 5998\n[services.orders]\n";

/// Every file under `dir`, for "nothing was written" checks.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path.clone());
            }
            found.push(path);
        }
    }
    found.sort();
    found
}

#[test]
fn env_exec_hands_the_command_what_export_writes_and_writes_nothing() {
    let mut ctx = TestContext::new(EXEC_FLEET);
    ctx.var("ORDERS_DB_PASSWORD", "pa ss'word$1");
    ctx.var("UNRELATED", "kept");
    let exported = ctx.exported("orders", true);
    let before = files_under(ctx.dir.path());
    let run = ctx
        .run(&["env", "exec", "orders", "--", "env", "-0"])
        .success();
    assert_eq!(files_under(ctx.dir.path()), before, "env exec wrote a file");
    let seen: std::collections::BTreeMap<&str, &str> = run
        .stdout
        .split('\0')
        .filter_map(|pair| pair.split_once('='))
        .collect();
    for (key, value) in &exported {
        assert_eq!(seen.get(key.as_str()), Some(&value.as_str()), "{key}");
    }
    assert!(exported["ORDERS_DATABASE_URL"].contains("pa%20ss%27word%241"));
    // Added to the caller's environment, not in place of it.
    assert_eq!(seen.get("UNRELATED"), Some(&"kept"));
    let run = ctx
        .run(&[
            "env",
            "exec",
            "orders",
            "--",
            "sh",
            "-c",
            "printf %s \"$PGPASSWORD\"",
        ])
        .success();
    assert_eq!(run.stdout, "pa ss'word$1");
}

#[test]
fn env_exec_passes_the_commands_exit_code_and_signal_through() {
    use std::os::unix::process::ExitStatusExt as _;
    let mut ctx = TestContext::new(EXEC_FLEET);
    ctx.var("ORDERS_DB_PASSWORD", "pw");
    ctx.run(&["env", "exec", "orders", "--", "sh", "-c", "exit 7"])
        .failure(7);
    // Killed by a signal: the caller sees the signal (a shell shows 128 + N), as if it had
    // run the command itself.
    let status = ctx
        .command(&["env", "exec", "orders", "--", "sh", "-c", "kill -TERM $$"])
        .status()
        .unwrap();
    assert_eq!(status.signal(), Some(15), "{status:?}");
    let pgfleet = env!("CARGO_BIN_EXE_pgfleet");
    let manifest = ctx.manifest.display().to_string();
    let shell = std::process::Command::new("sh")
        .args([
            "-c",
            "\"$0\" --manifest \"$1\" env exec orders -- sh -c 'kill -TERM $$'; echo $?",
        ])
        .arg(pgfleet)
        .arg(&manifest)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ORDERS_DB_PASSWORD", "pw")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&shell.stdout).trim(), "143");
    // A command that is not there: the shells' 127, with the name and nothing else.
    let run = ctx
        .run(&["env", "exec", "orders", "--", "no-such-command-here", "x"])
        .failure(127);
    assert!(
        run.stderr
            .contains("cannot run `no-such-command-here`: no such command"),
        "{}",
        run.stderr
    );
    ctx.write("not-executable", "echo hi\n");
    let run = ctx
        .run(&["env", "exec", "orders", "--", "./not-executable"])
        .failure(126);
    assert!(
        run.stderr
            .contains("cannot run `./not-executable`: permission denied"),
        "{}",
        run.stderr
    );
}

#[test]
fn env_exec_delivers_sigterm_to_the_command() {
    use std::io::BufRead as _;
    let mut ctx = TestContext::new(EXEC_FLEET);
    ctx.var("ORDERS_DB_PASSWORD", "pw");
    let mut child = ctx
        .command(&[
            "env",
            "exec",
            "orders",
            "--",
            "sh",
            "-c",
            "trap 'exit 42' TERM; echo ready; while :; do sleep 0.1; done",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert_eq!(child.wait().unwrap().code(), Some(42));
}
