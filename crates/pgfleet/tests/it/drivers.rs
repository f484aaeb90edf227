//! Every `driver` of the manifest against the real driver: `env export --show-secrets` hands a
//! service its URL in the driver's spelling, and the driver (psql for libpq, psycopg, asyncpg,
//! SQLAlchemy on both, Django with dj-database-url, pgjdbc, pgx) connects with exactly that,
//! as the runtime role, without TLS and with `verify-full` against the testkit's CA.
//!
//! A client whose toolchain is missing is skipped with its reason outside CI; in CI
//! (`CI` set) it fails: `.ci/run` installs them all.

use crate::context::TestContext;
use pgfleet_testkit::{TestCluster, TlsCluster};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How a client program is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Psql,
    Python,
    Java,
    Go,
}

/// One program that connects, and the manifest's `driver` whose URL it reads.
#[derive(Debug, Clone, Copy)]
struct Client {
    name: &'static str,
    driver: &'static str,
    kind: Kind,
}

const CLIENTS: [Client; 8] = [
    Client {
        name: "psql",
        driver: "libpq",
        kind: Kind::Psql,
    },
    // Django's settings from dj-database-url read libpq's URL.
    Client {
        name: "django",
        driver: "libpq",
        kind: Kind::Python,
    },
    Client {
        name: "psycopg",
        driver: "psycopg",
        kind: Kind::Python,
    },
    Client {
        name: "asyncpg",
        driver: "asyncpg",
        kind: Kind::Python,
    },
    Client {
        name: "sqlalchemy+asyncpg",
        driver: "sqlalchemy+asyncpg",
        kind: Kind::Python,
    },
    Client {
        name: "sqlalchemy+psycopg",
        driver: "sqlalchemy+psycopg",
        kind: Kind::Python,
    },
    Client {
        name: "jdbc",
        driver: "jdbc",
        kind: Kind::Java,
    },
    Client {
        name: "go-pgx",
        driver: "go-pgx",
        kind: Kind::Go,
    },
];

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/drivers")
}

/// `reason` skips outside CI and fails in CI.
#[track_caller]
fn missing(reason: String) -> Option<String> {
    assert!(
        std::env::var_os("CI").is_none(),
        "{reason} (in CI every driver must be there: see .ci/run)"
    );
    Some(reason)
}

const PGJDBC: &str = "/usr/share/java/postgresql.jar";
const GOPATH: &str = "/usr/share/gocode";

fn python() -> String {
    std::env::var("PGFLEET_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Why `client` cannot run here, if it cannot.
fn unavailable(client: &Client) -> Option<String> {
    match client.kind {
        Kind::Psql => None,
        Kind::Python => {
            let module = match client.name {
                "django" => "django, dj_database_url, psycopg",
                "sqlalchemy+asyncpg" => "sqlalchemy, asyncpg",
                "sqlalchemy+psycopg" => "sqlalchemy, psycopg",
                other => other,
            };
            let found = Command::new(python())
                .args(["-c", &format!("import {module}")])
                .output()
                .is_ok_and(|o| o.status.success());
            (!found).then(|| {
                missing(format!(
                    "no {module} in $PGFLEET_TEST_PYTHON (pip install -r .ci/requirements.txt)"
                ))
            })?
        }
        Kind::Java => {
            let java = Command::new("java").arg("-version").output().is_ok();
            (!java || !Path::new(PGJDBC).exists()).then(|| {
                missing(
                    "no java or pgjdbc (apt install default-jdk-headless libpostgresql-jdbc-java)"
                        .to_owned(),
                )
            })?
        }
        Kind::Go => go_client().as_ref().err().map(|e| missing(e.clone()))?,
    }
}

/// The pgx program, built once per test run from Debian's packaged sources (offline:
/// GOPATH mode, no module download).
fn go_client() -> &'static Result<PathBuf, String> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT.get_or_init(|| {
        if !Path::new(GOPATH)
            .join("src/github.com/jackc/pgx/v4")
            .exists()
        {
            return Err(
                "no pgx sources (apt install golang-go golang-github-jackc-pgx-v4-dev)".to_owned(),
            );
        }
        let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-pgx");
        let binary = out_dir.join("connect");
        let built = Command::new("go")
            .args(["build", "-o"])
            .arg(&binary)
            .arg(scripts().join("connect.go"))
            .env("GO111MODULE", "off")
            .env("GOPATH", GOPATH)
            .env("GOCACHE", out_dir.join("cache"))
            .env("GOFLAGS", "")
            .output()
            .map_err(|e| format!("no go toolchain ({e}): apt install golang-go"))?;
        if !built.status.success() {
            return Err(format!(
                "go build failed: {}",
                String::from_utf8_lossy(&built.stderr)
            ));
        }
        Ok(binary)
    })
}

/// Runs `client` with `vars` as its whole environment (plus PATH and an empty HOME, so no
/// `~/.postgresql/root.crt` helps it) and returns what it printed, or its error output.
fn connect(
    client: &Client,
    vars: &BTreeMap<String, String>,
    query: &str,
) -> Result<String, String> {
    let home = tempfile::tempdir().unwrap();
    let url = &vars["DATABASE_URL"];
    let mut command = match client.kind {
        Kind::Psql => {
            let mut c = Command::new(TestCluster::shared().bins().tool("psql"));
            c.args(["-X", "-A", "-t", "-d", url, "-c", query]);
            c
        }
        Kind::Python => {
            let mut c = Command::new(python());
            c.arg(scripts().join("connect.py"))
                .args([client.name, query]);
            c
        }
        Kind::Java => {
            let mut c = Command::new("java");
            c.args(["-cp", PGJDBC])
                .arg(scripts().join("Connect.java"))
                .arg(query);
            c
        }
        Kind::Go => {
            let Ok(binary) = go_client() else {
                unreachable!("checked by unavailable()")
            };
            let mut c = Command::new(binary);
            c.arg(query);
            c
        }
    };
    let out = command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .envs(vars)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A fleet of two services whose tables hold one row each: `<p>_orders` in a database of its
/// own and `<p>_profiles` by schema in a shared one, on the shared test cluster or on a
/// private TLS one (`verify-full` against its CA, the CA file as `PGSSLROOTCERT`).
struct DriverFleet {
    ctx: TestContext,
    p: String,
    /// The manifest with `@DRIVER@` where each service's driver goes.
    template: String,
    tls: Option<TlsCluster>,
}

const SERVICES: [&str; 2] = ["orders", "profiles"];

/// The profiles service's pool table.
const POOL: &str = "statement_timeout = \"7s\"\n";

/// … with the limits its runtime role's settings carry (helper A's keys: the lead adjusts
/// them at merge if they are spelled otherwise).
const LIMITS: &str = "statement_timeout = \"7s\"\nidle_in_transaction_session_timeout = \"11s\"\n";

async fn driver_fleet(tls: bool, pool: &str) -> DriverFleet {
    let p = format!(
        "d{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let (tls, host, port, superuser, sslmode) = if tls {
        let server = TlsCluster::start();
        let port = server.port();
        (
            Some(server),
            "localhost".to_owned(),
            port,
            "postgres".to_owned(),
            "verify-full",
        )
    } else {
        let cluster = TestCluster::shared();
        (
            None,
            cluster.host().to_owned(),
            cluster.port(),
            cluster.superuser().to_owned(),
            "disable",
        )
    };
    let (own, shared) = (format!("{p}_orders_db"), format!("{p}_shared_db"));
    let admin = |dbname: &str| {
        let mut config = tokio_postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(port)
            .user(&superuser)
            .dbname(dbname);
        config
    };
    // CREATE DATABASE runs alone: not in a batch, which is one transaction.
    for database in [&own, &shared] {
        execute(admin("postgres"), &format!("CREATE DATABASE {database}")).await;
    }
    execute(
        admin(&shared),
        &format!("CREATE SCHEMA {p}_profiles_schema"),
    )
    .await;

    let template = format!(
        r#"[fleet]
name = "{p}"
default_environment = "testing"

[environments.testing]
host = "{host}"
port = {{ env = "IT_PORT" }}
user = "{superuser}"
sslmode = "{sslmode}"

[servers.main]
database = "{shared}"

[services.{p}_orders]
database = "{own}"
driver = "@DRIVER@"
migrations = "migrations/orders"

[services.{p}_profiles]
schema = "{p}_profiles_schema"
driver = "@DRIVER@"
migrations = "migrations/profiles"
[services.{p}_profiles.pool]
{pool}"#
    );
    let mut ctx = TestContext::new(&template.replace("@DRIVER@", "libpq"));
    ctx.var("IT_PORT", &port.to_string());
    if let Some(server) = &tls {
        ctx.var("PGSSLROOTCERT", &server.ca().display().to_string());
    }
    for service in SERVICES {
        ctx.var(
            &format!("{p}_{service}_DB_PASSWORD").to_uppercase(),
            "runtime pw+&/",
        );
        ctx.write(
            &format!("migrations/{service}/001_{service}.up.sql"),
            &format!(
                "CREATE TABLE {service} (id int PRIMARY KEY);\nINSERT INTO {service} VALUES (1);\n"
            ),
        );
    }
    ctx.run(&["access", "apply"]).success();
    ctx.run(&["migrate", "up", "--all"]).success();
    DriverFleet {
        ctx,
        p,
        template,
        tls,
    }
}

/// Runs `sql` on a session of its own.
async fn execute(config: tokio_postgres::Config, sql: &str) {
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    let task = tokio::spawn(connection);
    client.batch_execute(sql).await.unwrap();
    drop(client);
    let _ = task.await;
}

impl DriverFleet {
    /// The service's variables as `env export --format json --show-secrets` prints them with
    /// every service on `driver`.
    fn export(&self, service: &str, driver: &str) -> BTreeMap<String, String> {
        std::fs::write(
            &self.ctx.manifest,
            self.template.replace("@DRIVER@", driver),
        )
        .unwrap();
        self.ctx.exported(&format!("{}_{service}", self.p), true)
    }

    fn url_var(&self, service: &str) -> String {
        format!("{}_{service}_DATABASE_URL", self.p).to_uppercase()
    }
}

/// Who the session is, whether it is encrypted, and the row count of `table`.
fn who_query(table: &str) -> String {
    format!(
        "SELECT json_build_array(current_user, \
         (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), \
         (SELECT count(*) FROM {table}))::text"
    )
}

async fn every_driver_connects_with_its_exported_url(tls: bool) {
    let fleet = driver_fleet(tls, POOL).await;
    let p = &fleet.p;
    let mut skipped = Vec::new();
    for client in &CLIENTS {
        if let Some(reason) = unavailable(client) {
            eprintln!("SKIPPED {}: {reason}", client.name);
            skipped.push(client.name);
            continue;
        }
        for service in SERVICES {
            let vars = fleet.export(service, client.driver);
            let url = &vars["DATABASE_URL"];
            assert_eq!(&vars[&fleet.url_var(service)], url);
            let table = match service {
                "profiles" => format!("{p}_profiles_schema.profiles"),
                _ => service.to_owned(),
            };
            let got = connect(client, &vars, &who_query(&table))
                .unwrap_or_else(|e| panic!("{} could not use {url}:\n{e}", client.name));
            let expected = serde_json::json!([format!("{p}_{service}_app"), tls, 1]);
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&got).unwrap(),
                expected,
                "{} with {url}",
                client.name
            );
            if let Some(server) = &fleet.tls {
                let ca = server.ca().display().to_string();
                assert_eq!(vars["PGSSLMODE"], "verify-full");
                assert_eq!(vars["PGSSLROOTCERT"], ca);
                // The mode in the driver's own spelling; the CA file beside it where the URL
                // can name it.
                if client.driver == "sqlalchemy+asyncpg" {
                    assert!(url.ends_with("?ssl=verify-full"), "{url}");
                } else {
                    assert!(url.contains("sslmode=verify-full&sslrootcert="), "{url}");
                }
                // And the driver really verifies: against another CA it refuses.
                let other = server.other_ca().display().to_string();
                let encoded = |path: &str| path.replace('/', "%2F");
                let wrong: BTreeMap<String, String> = vars
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.replace(&ca, &other)
                                .replace(&encoded(&ca), &encoded(&other)),
                        )
                    })
                    .collect();
                if service == "orders" {
                    let refused = connect(client, &wrong, &who_query(&table));
                    assert!(
                        refused.is_err(),
                        "{} connected with the wrong CA: {refused:?}",
                        client.name
                    );
                }
            }
        }
    }
    assert!(
        skipped.len() < CLIENTS.len(),
        "no driver could run at all: {skipped:?}"
    );
}

#[tokio::test]
async fn every_driver_connects_with_its_exported_url_without_tls() {
    every_driver_connects_with_its_exported_url(false).await;
}

#[tokio::test]
async fn every_driver_connects_with_its_exported_url_verifying_the_server() {
    every_driver_connects_with_its_exported_url(true).await;
}

#[tokio::test]
async fn every_driver_session_has_the_manifests_limits_and_search_path() {
    let fleet = driver_fleet(false, LIMITS).await;
    for client in &CLIENTS {
        if let Some(reason) = unavailable(client) {
            eprintln!("SKIPPED {}: {reason}", client.name);
            continue;
        }
        let mut vars = fleet.export("profiles", client.driver);
        // Only the server's role settings may give the session its path and limits.
        vars.remove("PGOPTIONS");
        let got = connect(
            client,
            &vars,
            "SELECT json_build_array(current_setting('statement_timeout'), \
             current_setting('idle_in_transaction_session_timeout'), \
             (SELECT count(*) FROM profiles))::text",
        )
        .unwrap_or_else(|e| panic!("{}: {e}", client.name));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&got).unwrap(),
            serde_json::json!(["7s", "11s", 1]),
            "{}",
            client.name
        );
    }
}

/// A service whose URL is an override: exported in any driver's spelling, its TLS mode is
/// never weaker than the one asked for; what pgfleet does not understand is refused by the
/// variable's name, never repeating the URL.
#[test]
fn an_override_keeps_its_tls_mode_in_every_spelling_and_an_unknown_option_is_refused() {
    let manifest = |driver: &str| {
        format!(
            "[fleet]\nname = \"huleedu\"\n[servers.main]\ndev_port = 5999\n\
             [services.spellchecker_service]\ndriver = \"{driver}\"\n"
        )
    };
    let var = "SPELLCHECKER_SERVICE_DATABASE_URL";
    for (url, mode) in [
        (
            "postgresql+asyncpg://spell:s3cret@db.internal:5432/spell?ssl=require",
            "require",
        ),
        (
            "postgresql://spell:s3cret@db.internal/spell?sslmode=verify-full&sslrootcert=/etc/ca.pem",
            "verify-full",
        ),
        (
            "jdbc:postgresql://db.internal/spell?user=spell&password=s3cret&sslmode=verify-full",
            "verify-full",
        ),
    ] {
        for client in &CLIENTS {
            let mut ctx = TestContext::new(&manifest(client.driver));
            ctx.var(var, url);
            let vars = ctx.exported("spellchecker_service", false);
            let exported = &vars[var];
            assert_eq!(vars["PGSSLMODE"], mode, "{url}");
            let key = if client.driver == "sqlalchemy+asyncpg" {
                "ssl"
            } else {
                "sslmode"
            };
            assert!(
                exported.contains(&format!("{key}={mode}")) && !exported.contains("prefer"),
                "{}: {url} became {exported}",
                client.driver
            );
            assert!(!exported.contains("s3cret"), "{exported}");
        }
    }
    let mut ctx = TestContext::new(&manifest("sqlalchemy+asyncpg"));
    ctx.var(
        var,
        "postgresql+asyncpg://spell:s3cret@db.internal/spell?ssl=require&foo=bar",
    );
    let run = ctx
        .run(&["env", "export", "spellchecker_service"])
        .failure(4);
    assert!(
        run.stderr.contains(&format!(
            "spellchecker_service: {var} has option `foo`, which pgfleet does not understand"
        )) && run.stderr.contains("hint: "),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    for secret in ["s3cret", "bar", "db.internal"] {
        assert!(!run.all_output().contains(secret), "{}", run.all_output());
    }
}

/// `env exec` hands a real driver the service's URL: psycopg connects as the runtime role.
#[tokio::test]
async fn a_driver_connects_through_env_exec() {
    let psycopg = CLIENTS[2];
    if let Some(reason) = unavailable(&psycopg) {
        eprintln!("SKIPPED: {reason}");
        return;
    }
    let fleet = driver_fleet(false, POOL).await;
    let service = format!("{}_orders", fleet.p);
    let run = fleet
        .ctx
        .run(&[
            "env",
            "exec",
            &service,
            "--",
            &python(),
            "-c",
            "import os, psycopg; print(psycopg.connect(os.environ['DATABASE_URL']).execute('SELECT current_user').fetchone()[0])",
        ])
        .success();
    assert_eq!(run.stdout.trim(), format!("{service}_app"));
}
