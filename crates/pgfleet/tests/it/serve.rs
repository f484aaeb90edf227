//! `pgfleet serve` and `pgfleet observe`: the real daemon, scraped over HTTP, against real
//! clusters; promtool and headless Chromium check what it serves.

use crate::context::{TestContext, free_port};
use pgfleet_testkit::{TestCluster, TestDatabase};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The admin password the test manifests declare: trust authentication ignores it, and it
/// must never show up anywhere.
const ADMIN_PASSWORD: &str = "adm1n-S3cret-never-shown";

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// An HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

/// A plain HTTP/1.1 GET (the daemon is the thing under test, not an HTTP client).
pub fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok(Response {
        status,
        headers: head.to_owned(),
        body,
    })
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// A running `pgfleet serve`; killed (SIGKILL) when dropped unless stopped first.
pub struct Daemon {
    child: Option<Child>,
    pub port: u16,
    stderr_path: std::path::PathBuf,
}

impl Daemon {
    pub fn start(ctx: &TestContext, extra: &[&str]) -> Daemon {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let stderr_path = ctx.dir.path().join(format!("serve-{port}.log"));
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut args = vec!["-vv", "serve", "--listen", &listen];
        args.extend_from_slice(extra);
        let child = ctx
            .command(&args)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start pgfleet serve");
        let daemon = Daemon {
            child: Some(child),
            port,
            stderr_path,
        };
        let started = Instant::now();
        while get(port, "/live", &[]).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "serve did not start:\n{}",
                daemon.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        daemon
    }

    pub fn get(&self, path: &str) -> Response {
        get(self.port, path, &[]).expect("request")
    }

    pub fn metrics(&self) -> String {
        let response = self.get("/metrics");
        assert_eq!(response.status, 200, "{}", response.body);
        response.body
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "serve ignored SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The value of the first sample of `name` whose labels contain every `(key, value)`.
pub fn sample(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find(|line| {
            let (series, _) = line.rsplit_once(' ').unwrap_or((line, ""));
            let metric = series.split('{').next().unwrap_or("");
            metric == name
                && labels
                    .iter()
                    .all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|line| line.rsplit_once(' '))
        .and_then(|(_, value)| value.parse().ok())
}

/// A manifest on the shared test cluster with an admin password, and `rest` for servers and
/// services.
/// `fleet` is the body of `[fleet]` (at least `name = "…"`).
fn fleet_manifest(fleet: &str, server_port: u16, rest: &str) -> TestContext {
    let cluster = TestCluster::shared();
    let mut ctx = TestContext::new(&format!(
        "[fleet]\n{fleet}\ndefault_environment = \"testing\"\n\n\
         [environments.testing]\nhost = \"{}\"\nport = {server_port}\nuser = \"{}\"\n\
         password = {{ env = \"IT_ADMIN_PASSWORD\" }}\nsslmode = \"disable\"\n\n{rest}",
        cluster.host(),
        cluster.superuser()
    ));
    ctx.var("IT_ADMIN_PASSWORD", ADMIN_PASSWORD);
    ctx
}

/// Two services by schema in one database (`<p>_catalog`, `<p>_orders`) and one in a
/// database of its own (`<p>_billing`), migrated and with access applied.
struct Fleet {
    ctx: TestContext,
    p: String,
    shared: TestDatabase,
    billing: TestDatabase,
}

async fn fleet() -> Fleet {
    let cluster = TestCluster::shared();
    let p = format!(
        "s{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let shared = cluster.fresh_database().await;
    let billing = cluster.fresh_database().await;
    let mut ctx = fleet_manifest(
        &format!("name = \"{p}\""),
        cluster.port(),
        &format!(
            r#"[servers.main]
database = "{shared}"

[services.{p}_catalog]
schema = "{p}_catalog"
migrations = "migrations/catalog"
[services.{p}_catalog.pool]
max_size = 2

[services.{p}_orders]
schema = "{p}_orders"
migrations = "migrations/orders"
reads = ["{p}_catalog"]

[services.{p}_billing]
database = "{billing}"
migrations = "migrations/billing"
"#,
            shared = shared.name,
            billing = billing.name,
        ),
    );
    for service in ["catalog", "orders", "billing"] {
        ctx.var(
            &format!("{p}_{service}_DB_PASSWORD").to_uppercase(),
            "runtime-pw",
        );
    }
    let write = |service: &str, file: &str, sql: &str| {
        ctx.write(&format!("migrations/{service}/{file}"), sql)
    };
    write(
        "catalog",
        "001_items.up.sql",
        "CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL);\n\
         INSERT INTO items (name) SELECT 'item ' || g FROM generate_series(1, 500) g;\n",
    );
    write(
        "catalog",
        "002_prices.up.sql",
        "ALTER TABLE items ADD COLUMN price int NOT NULL DEFAULT 0;\n",
    );
    write(
        "orders",
        "001_orders.up.sql",
        "CREATE TABLE orders (id bigserial PRIMARY KEY, item_id bigint NOT NULL);\n",
    );
    write(
        "billing",
        "001_invoices.up.sql",
        "CREATE TABLE invoices (id bigserial PRIMARY KEY, amount int);\n",
    );
    shared
        .client()
        .await
        .batch_execute(&format!(
            "CREATE SCHEMA {p}_catalog; CREATE SCHEMA {p}_orders;"
        ))
        .await
        .unwrap();
    for db in [&shared, &billing] {
        // The view is read from any one database of the server.
        db.client()
            .await
            .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .await
            .unwrap();
    }
    ctx.run(&["access", "apply"]).success();
    ctx.run(&["migrate", "up", "--all"]).success();
    ctx.run(&["access", "apply"]).success();
    Fleet {
        ctx,
        p,
        shared,
        billing,
    }
}

impl Fleet {
    async fn runtime(&self, service: &str, db: &TestDatabase) -> tokio_postgres::Client {
        let mut config = db.config();
        config.user(format!("{}_{service}_app", self.p));
        let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client
    }
}

/// Every metric name in a scrape: TYPE lines and sample names.
fn names_in(scrape: &str) -> Vec<String> {
    let mut names: Vec<String> = scrape
        .lines()
        .filter_map(|l| {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                rest.split_whitespace().next().map(str::to_owned)
            } else if l.starts_with('#') {
                None
            } else {
                l.split(['{', ' ']).next().map(str::to_owned)
            }
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

fn promtool(args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's `prometheus` package; .ci/run installs it)");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_cover_every_service_and_pass_promtool() {
    let fleet = fleet().await;
    let p = &fleet.p;
    // Work for the statement metrics, a password change that pg_stat_statements records
    // verbatim, and two open sessions of catalog (pool of 2: over 80%).
    let catalog = fleet.runtime("catalog", &fleet.shared).await;
    for id in 1..=30i64 {
        catalog
            .query(
                // pg_sleep makes it the top statement by total time.
                &format!("SELECT name, pg_sleep(0.01) FROM {p}_catalog.items WHERE id = $1"),
                &[&id],
            )
            .await
            .unwrap();
    }
    let leaked = "leak-me-Pw-123";
    catalog
        .batch_execute(&format!("ALTER ROLE {p}_catalog_app PASSWORD '{leaked}'"))
        .await
        .unwrap();
    let _second = fleet.runtime("catalog", &fleet.shared).await;
    // A backup of one service: serve reads the environment's store.
    fleet
        .ctx
        .run(&["backup", "create", &format!("{p}_catalog")])
        .success();
    fleet
        .ctx
        .run(&["backup", "verify", "--latest", &format!("{p}_catalog")])
        .success();

    let mut daemon = Daemon::start(&fleet.ctx, &["--top-queries", "3"]);
    let scrape = daemon.metrics();
    let backed_up = [("service", format!("{p}_catalog"))];
    let backed_up: Vec<(&str, &str)> = backed_up.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let age = sample(
        &scrape,
        "pgfleet_backup_last_complete_age_seconds",
        &backed_up,
    )
    .expect("the backup's age");
    assert!((0.0..600.0).contains(&age), "{age}");
    assert!(
        sample(&scrape, "pgfleet_backup_last_complete_bytes", &backed_up).unwrap() > 0.0,
        "{scrape}"
    );
    let verified_age = sample(
        &scrape,
        "pgfleet_backup_last_verified_age_seconds",
        &backed_up,
    )
    .expect("the verified backup's age");
    assert!((0.0..600.0).contains(&verified_age), "{verified_age}");
    assert_eq!(
        sample(&scrape, "pgfleet_backup_last_verify_success", &backed_up),
        Some(1.0)
    );
    let orders = [("service", format!("{p}_orders"))];
    let orders: Vec<(&str, &str)> = orders.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        sample(&scrape, "pgfleet_backup_last_complete_age_seconds", &orders),
        None
    );
    assert_eq!(
        sample(&scrape, "pgfleet_backup_last_verified_age_seconds", &orders),
        None,
        "never verified: no age, and the alert's `unless` fires"
    );
    assert_eq!(
        sample(&scrape, "pgfleet_backup_verified_within_seconds", &orders),
        Some(48.0 * 3600.0)
    );
    let labels = |service: &str| vec![("service", format!("{p}_{service}"))];
    for service in ["catalog", "orders", "billing"] {
        let l = labels(service);
        let l: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(sample(&scrape, "pgfleet_up", &l), Some(1.0), "{service}");
        assert_eq!(
            sample(&scrape, "pgfleet_migrations_pending", &l),
            Some(0.0),
            "{service}"
        );
        assert_eq!(sample(&scrape, "pgfleet_migration_dirty", &l), Some(0.0));
        assert_eq!(
            sample(&scrape, "pgfleet_access_drift", &l),
            Some(0.0),
            "{service} drift:\n{scrape}"
        );
        assert!(sample(&scrape, "pgfleet_service_size_bytes", &l).unwrap() > 0.0);
        assert!(
            sample(
                &scrape,
                "pgfleet_migration_last_applied_timestamp_seconds",
                &l
            )
            .is_some()
        );
    }
    let catalog_labels = [
        ("service", format!("{p}_catalog")),
        ("schema", format!("{p}_catalog")),
        ("database", fleet.shared.name.clone()),
    ];
    let cl: Vec<(&str, &str)> = catalog_labels
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    assert_eq!(sample(&scrape, "pgfleet_migration_version", &cl), Some(2.0));
    assert_eq!(
        sample(
            &scrape,
            "pgfleet_migration_version",
            &[("service", &format!("{p}_billing")), ("schema", "")]
        ),
        Some(1.0)
    );
    // Sessions of the catalog's roles: the two runtime sessions, idle.
    assert_eq!(
        sample(&scrape, "pgfleet_connections_open", &cl),
        Some(2.0),
        "{scrape}"
    );
    assert_eq!(
        sample(&scrape, "pgfleet_pool_utilization_ratio", &cl),
        Some(1.0)
    );
    // Statements: the 30 point reads, grouped by the service's roles, in the histogram and
    // the top-3 label set; never the literal password.
    let calls = sample(&scrape, "pgfleet_statements_calls_total", &cl).unwrap();
    assert!(calls >= 30.0, "calls {calls}");
    let count = sample(&scrape, "pgfleet_query_duration_seconds_count", &cl).unwrap();
    assert_eq!(count, calls);
    let top: Vec<&str> = scrape
        .lines()
        .filter(|l| {
            l.starts_with("pgfleet_top_query_calls_total{")
                && l.contains(&format!("service=\"{p}_catalog\""))
        })
        .collect();
    assert_eq!(top.len(), 3, "the top-3 label set: {top:?}");
    assert!(
        top.iter()
            .any(|l| l.contains("items WHERE id = $1") && l.ends_with(" 30.0")),
        "{top:?}"
    );
    assert!(scrape.contains("pgfleet_statements_available{server=\"main\"} 1"));
    assert!(!scrape.contains(leaked), "a password reached the metrics");
    assert!(!scrape.contains(ADMIN_PASSWORD));

    // Health: catalog's pool is over 80% in use (degraded, still 200); everything reachable.
    let healthz = daemon.get("/healthz");
    assert_eq!(healthz.status, 200);
    let body: serde_json::Value = serde_json::from_str(&healthz.body).unwrap();
    assert_eq!(body["status"], "degraded", "{body:#}");
    let catalog_health = body["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == format!("{p}_catalog"))
        .unwrap();
    assert_eq!(catalog_health["status"], "degraded");
    assert_eq!(catalog_health["pool_utilization_percent"], 100.0);
    let ready = daemon.get("/ready");
    assert_eq!(ready.status, 200);
    assert!(ready.headers.contains("application/health+json"));
    let detailed = daemon.get(&format!("/health/{p}_billing"));
    assert_eq!(detailed.status, 200, "{}", detailed.body);
    let detailed: serde_json::Value = serde_json::from_str(&detailed.body).unwrap();
    assert_eq!(detailed["overall_status"], "healthy");
    assert!(detailed["checks"]["database_resources"]["database_size"].is_string());
    assert_eq!(daemon.get("/health/nope").status, 404);

    // The classic text format passes promtool's linter; OpenMetrics is there when asked for.
    let check = promtool(&["check", "metrics"], Some(&scrape));
    assert!(
        check.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let openmetrics = get(
        daemon.port,
        "/metrics",
        &[("Accept", "application/openmetrics-text; version=1.0.0")],
    )
    .unwrap();
    assert!(openmetrics.headers.contains("application/openmetrics-text"));
    assert!(openmetrics.body.trim_end().ends_with("# EOF"));

    // The dashboard and the rules name only metrics this scrape has.
    let scraped = names_in(&scrape);
    let dashboard = fleet.ctx.run(&["observe", "grafana"]).success().json();
    assert!(dashboard["panels"].as_array().unwrap().len() >= 8);
    for name in pgfleet_serve::observe::referenced_metrics() {
        assert!(
            scraped.contains(&name),
            "the dashboard or rules use {name}, which serve does not emit"
        );
    }

    let page = daemon.get("/");
    assert!(page.body.contains(&format!("{p}_billing")));
    for text in [&scrape, &healthz.body, &page.body, &daemon.log()] {
        assert!(!text.contains(ADMIN_PASSWORD), "the admin password leaked");
        assert!(!text.contains(leaked), "a role password leaked");
    }
    assert!(daemon.terminate().success(), "SIGTERM exits 0");
    drop(catalog);
}

#[test]
fn alert_rules_pass_promtool_check_and_unit_tests() {
    let ctx = TestContext::new("");
    let rules = ctx.run(&["observe", "alerts"]).success().stdout;
    let dir = ctx.dir.path();
    std::fs::write(dir.join("rules.yml"), &rules).unwrap();
    let check = promtool(
        &["check", "rules", dir.join("rules.yml").to_str().unwrap()],
        None,
    );
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    // Series as serve emits them: one service down, one over its pool, one with a dirty
    // migration, a replica lagging; the others fine.
    let tests = r#"rule_files:
  - rules.yml
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'pgfleet_up{service="orders",database="shop",schema="orders"}'
        values: '1 0 0 0 0'
      - series: 'pgfleet_up{service="billing",database="billing",schema=""}'
        values: '1 1 1 1 1'
      - series: 'pgfleet_pool_utilization_ratio{service="billing",database="billing",schema=""}'
        values: '0.9x10'
      - series: 'pgfleet_migration_dirty{service="billing",database="billing",schema=""}'
        values: '0 1 1'
      - series: 'pgfleet_migration_problems{service="billing",database="billing",schema=""}'
        values: '0 0 0'
      - series: 'pgfleet_replication_lag_seconds{server="replica"}'
        values: '0 120x10'
      - series: 'pgfleet_access_drift{service="billing",database="billing",schema=""}'
        values: '0x20'
      # Backups: orders' verified backup ages past its 2 h threshold at minute 5 (its age
      # grows 1800 s a step); billing has never been verified; shop's verify failed.
      - series: 'pgfleet_backup_verified_within_seconds{service="orders",database="shop",schema="orders"}'
        values: '7200x40'
      - series: 'pgfleet_backup_last_verified_age_seconds{service="orders",database="shop",schema="orders"}'
        values: '0+1800x40'
      - series: 'pgfleet_backup_last_verify_success{service="orders",database="shop",schema="orders"}'
        values: '1x40'
      - series: 'pgfleet_backup_verified_within_seconds{service="billing",database="billing",schema=""}'
        values: '7200x40'
      - series: 'pgfleet_backup_verified_within_seconds{service="shop",database="shop",schema="shop"}'
        values: '7200x40'
      - series: 'pgfleet_backup_last_verified_age_seconds{service="shop",database="shop",schema="shop"}'
        values: '60x40'
      - series: 'pgfleet_backup_last_verify_success{service="shop",database="shop",schema="shop"}'
        values: '1 1 0x40'
    alert_rule_test:
      - eval_time: 10m
        alertname: PgfleetNoVerifiedBackup
        exp_alerts: []
      - eval_time: 30m
        alertname: PgfleetNoVerifiedBackup
        exp_alerts:
          - exp_labels: {severity: warning, service: billing, database: billing}
            exp_annotations:
              summary: "billing: no verified backup within its verified_within"
              description: "No backup of billing young enough has been proven to restore: run pgfleet backup create, then pgfleet backup verify."
          - exp_labels: {severity: warning, service: orders, database: shop, schema: orders}
            exp_annotations:
              summary: "orders: no verified backup within its verified_within"
              description: "No backup of orders young enough has been proven to restore: run pgfleet backup create, then pgfleet backup verify."
      - eval_time: 1m
        alertname: PgfleetBackupVerifyFailed
        exp_alerts: []
      - eval_time: 3m
        alertname: PgfleetBackupVerifyFailed
        exp_alerts:
          - exp_labels: {severity: critical, service: shop, database: shop, schema: shop}
            exp_annotations:
              summary: "shop: its newest verified backup failed to verify"
              description: "pgfleet backup verify found a missing or changed file, a failed restore or different row counts: see pgfleet backup list shop."

      - eval_time: 4m
        alertname: PgfleetDatabaseDown
        exp_alerts:
          - exp_labels: {severity: critical, service: orders, database: shop, schema: orders}
            exp_annotations:
              summary: "orders: its database is unreachable"
              description: "pgfleet serve cannot run SELECT 1 on shop for service orders."
      - eval_time: 8m
        alertname: PgfleetPoolUtilizationHigh
        exp_alerts:
          - exp_labels: {severity: warning, service: billing, database: billing}
            exp_annotations:
              summary: "billing: over 80% of its pool in use"
              description: "Sessions of billing use 90% of its pool size (seed 003's degraded threshold)."
      - eval_time: 2m
        alertname: PgfleetMigrationDirty
        exp_alerts:
          - exp_labels: {severity: critical, service: billing, database: billing}
            exp_annotations:
              summary: "billing: a migration is dirty, edited or missing"
              description: "See pgfleet migrate status billing; a dirty step needs pgfleet migrate repair."
      - eval_time: 8m
        alertname: PgfleetReplicationLag
        exp_alerts:
          - exp_labels: {severity: warning, server: replica}
            exp_annotations:
              summary: "replica replica is 2m 0s behind"
              description: "The replica's replay lags its primary by more than a minute."
      - eval_time: 20m
        alertname: PgfleetAccessDrift
        exp_alerts: []
"#;
    std::fs::write(dir.join("rules_test.yml"), tests).unwrap();
    let test = promtool(
        &[
            "test",
            "rules",
            dir.join("rules_test.yml").to_str().unwrap(),
        ],
        None,
    );
    assert!(
        test.status.success(),
        "promtool test rules:\n{}{}",
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr)
    );
    for name in [
        "PgfleetDatabaseDown",
        "PgfleetReplicationLag",
        "PgfleetAccessDrift",
    ] {
        assert!(rules.contains(name));
    }
}

/// A fleet of one service on a private cluster (which the test stops) and one on the shared
/// cluster (which must keep reporting).
#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_cluster_reports_down_within_an_interval_and_recovers() {
    let private = TestCluster::start_new().expect("private cluster");
    let shared = TestCluster::shared();
    let steady = shared.fresh_database().await;
    let p = format!(
        "d{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    private
        .connect("postgres")
        .await
        .batch_execute("CREATE DATABASE flaky")
        .await
        .unwrap();
    let ctx = fleet_manifest(
        &format!("name = \"{p}\""),
        shared.port(),
        &format!(
            r#"[servers.private]
[servers.private.environments.testing]
port = {private_port}

[servers.shared]

[services.{p}_flaky]
server = "private"
database = "flaky"

[services.{p}_steady]
server = "shared"
database = "{steady}"
"#,
            private_port = private.port(),
            steady = steady.name
        ),
    );
    let flaky = [("service", format!("{p}_flaky"))];
    let flaky: Vec<(&str, &str)> = flaky.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let steady_labels = [("service", format!("{p}_steady"))];
    let steady_labels: Vec<(&str, &str)> = steady_labels
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .collect();

    // The daemon starts while a database is down, reports it, and connects once it is up.
    private.cluster().stop().unwrap();
    let daemon = Daemon::start(&ctx, &["--interval", "1s", "--deadline", "1s"]);
    assert_eq!(daemon.get("/ready").status, 503);
    let scrape = daemon.metrics();
    assert_eq!(sample(&scrape, "pgfleet_up", &flaky), Some(0.0));
    assert_eq!(sample(&scrape, "pgfleet_up", &steady_labels), Some(1.0));
    private.cluster().start(Duration::from_secs(30)).unwrap();
    let started = Instant::now();
    while daemon.get("/ready").status != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never connected"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(sample(&daemon.metrics(), "pgfleet_up", &flaky), Some(1.0));

    private.cluster().stop().unwrap();
    let stopped = Instant::now();
    // Within one interval (1 s) plus the deadline: down, and not ready.
    loop {
        let ready = daemon.get("/ready");
        let scrape = daemon.metrics();
        if ready.status == 503 && sample(&scrape, "pgfleet_up", &flaky) == Some(0.0) {
            assert_eq!(sample(&scrape, "pgfleet_up", &steady_labels), Some(1.0));
            assert!(ready.body.contains("\"status\":\"fail\""), "{}", ready.body);
            break;
        }
        assert!(
            stopped.elapsed() < Duration::from_millis(2500),
            "still up {:?} after the stop",
            stopped.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        daemon.get("/live").status,
        200,
        "/live never asks a database"
    );

    private.cluster().start(Duration::from_secs(30)).unwrap();
    let restarted = Instant::now();
    loop {
        if daemon.get("/ready").status == 200
            && sample(&daemon.metrics(), "pgfleet_up", &flaky) == Some(1.0)
        {
            break;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(10),
            "no recovery:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sessions pgfleet serve holds in the fleet's two (fresh, so only this test's) databases.
async fn serve_sessions(admin: &tokio_postgres::Client, fleet: &Fleet) -> i64 {
    admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity
              WHERE application_name = 'pgfleet serve' AND datname = ANY($1)",
            &[&vec![fleet.shared.name.clone(), fleet.billing.name.clone()]],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_scrapes_keep_the_connection_count_flat() {
    let fleet = fleet().await;
    let admin = TestCluster::shared().connect("postgres").await;
    // Tiny TTLs: every scrape refreshes (almost) every collector.
    let daemon = Daemon::start(
        &fleet.ctx,
        &[
            "--interval",
            "1ms",
            "--slow-interval",
            "1ms",
            "--drift-interval",
            "1ms",
            "--pool-size",
            "2",
        ],
    );
    daemon.metrics();
    let before = serve_sessions(&admin, &fleet).await;
    let port = daemon.port;
    let workers: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                for _ in 0..250 {
                    let r = get(port, "/metrics", &[]).unwrap();
                    assert_eq!(r.status, 200);
                }
            })
        })
        .collect();
    let mut peak = before;
    while workers.iter().any(|w| !w.is_finished()) {
        peak = peak.max(serve_sessions(&admin, &fleet).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for w in workers {
        w.join().unwrap();
    }
    let after = serve_sessions(&admin, &fleet).await;
    // Two databases with two sessions each at most, and the server's own session.
    assert!((3..=5).contains(&before), "before: {before}");
    assert!(
        peak <= 5,
        "peak {peak} sessions for 2 databases x pool 2 + 1"
    );
    assert!(after <= 5, "sessions grew from {before} to {after}");
    let scrape = daemon.metrics();
    let scrapes = sample(&scrape, "pgfleet_scrapes_total", &[]).unwrap();
    // Every /metrics request, this one included; the warm-up at start is not a scrape.
    assert_eq!(scrapes, 1002.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn ready_asks_each_database_at_most_once_per_interval() {
    let fleet = fleet().await;
    let daemon = Daemon::start(&fleet.ctx, &["--interval", "2s"]);
    let refreshes = |d: &Daemon| {
        sample(
            &d.metrics(),
            "pgfleet_collector_refreshes_total",
            &[("collector", "probe")],
        )
        .unwrap()
    };
    let before = refreshes(&daemon);
    let started = Instant::now();
    let mut answered = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        assert_eq!(daemon.get("/ready").status, 200);
        answered += 1;
    }
    let after = refreshes(&daemon);
    let intervals = (started.elapsed().as_secs_f64() / 2.0).ceil() + 1.0;
    // Two databases.
    assert!(answered > 100, "only {answered} probes answered");
    assert!(
        after - before <= 2.0 * intervals,
        "{} probe refreshes for {answered} /ready calls",
        after - before
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_locked_table_degrades_only_its_database_within_the_deadline() {
    let fleet = fleet().await;
    let p = &fleet.p;
    let locker = fleet.shared.client().await;
    locker
        .batch_execute(&format!(
            "BEGIN; LOCK TABLE {p}_catalog.items IN ACCESS EXCLUSIVE MODE"
        ))
        .await
        .unwrap();
    let daemon = Daemon::start(&fleet.ctx, &["--deadline", "2s"]);
    let started = Instant::now();
    let scrape = daemon.metrics();
    let took = started.elapsed();
    assert!(took < Duration::from_millis(3000), "scrape took {took:?}");
    let shared_target = format!("main/{}", fleet.shared.name);
    let billing_target = format!("main/{}", fleet.billing.name);
    assert_eq!(
        sample(
            &scrape,
            "pgfleet_collector_success",
            &[("collector", "sizes"), ("target", &shared_target)]
        ),
        Some(0.0),
        "{scrape}"
    );
    assert_eq!(
        sample(
            &scrape,
            "pgfleet_collector_success",
            &[("collector", "sizes"), ("target", &billing_target)]
        ),
        Some(1.0)
    );
    for service in ["catalog", "orders", "billing"] {
        assert_eq!(
            sample(
                &scrape,
                "pgfleet_up",
                &[("service", &format!("{p}_{service}"))]
            ),
            Some(1.0)
        );
    }
    assert!(
        sample(
            &scrape,
            "pgfleet_service_size_bytes",
            &[("service", &format!("{p}_billing"))]
        )
        .is_some()
    );
    assert!(
        sample(
            &scrape,
            "pgfleet_service_size_bytes",
            &[("service", &format!("{p}_catalog"))]
        )
        .is_none()
    );
    // The lock goes: the next scrape after the retry interval has the sizes again.
    locker.batch_execute("COMMIT").await.unwrap();
    let released = Instant::now();
    loop {
        let scrape = daemon.metrics();
        if sample(
            &scrape,
            "pgfleet_service_size_bytes",
            &[("service", &format!("{p}_catalog"))],
        )
        .is_some()
        {
            break;
        }
        assert!(
            released.elapsed() < Duration::from_secs(15),
            "sizes never came back"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn detailed_endpoints_require_the_bearer_token() {
    let fleet = fleet().await;
    let token_file = fleet.ctx.dir.path().join("token");
    std::fs::write(&token_file, "s3cr3t-token\n").unwrap();
    let daemon = Daemon::start(&fleet.ctx, &["--token-file", token_file.to_str().unwrap()]);
    assert_eq!(daemon.get("/health/detailed").status, 401);
    assert_eq!(
        daemon.get(&format!("/health/{}_billing", fleet.p)).status,
        401
    );
    let wrong = get(
        daemon.port,
        "/health/detailed",
        &[("Authorization", "Bearer nope")],
    )
    .unwrap();
    assert_eq!(wrong.status, 401);
    let right = get(
        daemon.port,
        "/health/detailed",
        &[("Authorization", "Bearer s3cr3t-token")],
    )
    .unwrap();
    assert_eq!(right.status, 200, "{}", right.body);
    let body: serde_json::Value = serde_json::from_str(&right.body).unwrap();
    assert_eq!(body["services"].as_array().unwrap().len(), 3);
    assert_eq!(daemon.get("/healthz").status, 200, "the summary stays open");
    assert!(!daemon.log().contains("s3cr3t-token"));
}

/// The status page in headless Chromium: the DOM has every service, and the screenshot shows
/// a rendered page with the healthy badges' green.
#[tokio::test(flavor = "multi_thread")]
async fn the_status_page_renders_in_chromium() {
    let fleet = fleet().await;
    let daemon = Daemon::start(&fleet.ctx, &[]);
    let url = format!("http://127.0.0.1:{}/", daemon.port);
    let dir = fleet.ctx.dir.path();
    let chromium = |extra: &[&str]| {
        let output = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--window-size=1280,800",
            ])
            .arg(format!(
                "--user-data-dir={}",
                dir.join("chromium").display()
            ))
            .args(extra)
            .arg(&url)
            .output()
            .expect("chromium (Debian's `chromium` package; .ci/run installs it)");
        assert!(
            output.status.success(),
            "chromium failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    };
    let dom = String::from_utf8(chromium(&["--dump-dom"]).stdout).unwrap();
    for service in ["catalog", "orders", "billing"] {
        assert!(dom.contains(&format!("{}_{service}", fleet.p)), "{dom}");
    }
    assert!(dom.contains("healthy"));
    let shot = dir.join("status.png");
    chromium(&[&format!("--screenshot={}", shot.display())]);
    let (width, height, pixels) = decode_png(&shot);
    assert_eq!((width, height), (1280, 800));
    // The healthy badge colour (#1f8f4e) covers a visible area; the page is not blank.
    let green = pixels
        .chunks(4)
        .filter(|px| {
            px[0].abs_diff(0x1f) < 12 && px[1].abs_diff(0x8f) < 12 && px[2].abs_diff(0x4e) < 12
        })
        .count();
    assert!(
        green > 200,
        "{green} green pixels: no healthy badge rendered"
    );
    let distinct: std::collections::HashSet<&[u8]> = pixels.chunks(4).collect();
    assert!(distinct.len() > 20, "a blank screenshot");
}

fn decode_png(path: &Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut decoder = decoder;
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::ALPHA);
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buffer).unwrap();
    buffer.truncate(info.buffer_size());
    (info.width, info.height, buffer)
}

/// A streaming replica of a private cluster: serve reports it in recovery, with its lag.
#[tokio::test(flavor = "multi_thread")]
async fn a_replica_reports_recovery_and_replication_lag() {
    use pgfleet_testkit::pgfleet_cluster::LocalCluster;
    let primary = TestCluster::start_new().expect("primary");
    primary
        .connect("postgres")
        .await
        .batch_execute("CREATE DATABASE app")
        .await
        .unwrap();
    let replica_dir = primary.root_dir().join("replica");
    let port = primary.port().to_string();
    let output = primary
        .cluster()
        .command("pg_basebackup")
        .args(["-h", "127.0.0.1", "-p", &port, "-U", primary.superuser()])
        .args(["--checkpoint=fast", "-X", "stream", "-R", "-D"])
        .arg(&replica_dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut spec = primary.cluster().spec().clone();
    spec.data_dir = replica_dir;
    spec.socket_dir = primary.root_dir().join("rsock");
    spec.port = free_port();
    let replica = LocalCluster::new(
        spec,
        primary.cluster().bins().clone(),
        primary.cluster().run_as().clone(),
    );
    struct StopOnDrop(LocalCluster);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            let _ = self.0.stop();
        }
    }
    replica.start(Duration::from_secs(30)).unwrap();
    let replica = StopOnDrop(replica);

    let p = format!(
        "r{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let ctx = fleet_manifest(
        // No roles on a replica to manage: no drift collector either.
        &format!("name = \"{p}\"\nmanage_roles = false"),
        replica.0.spec().port,
        &format!(
            "[servers.replica]\n\n[services.{p}_reports]\nserver = \"replica\"\ndatabase = \"app\"\n"
        ),
    );
    let daemon = Daemon::start(&ctx, &["--interval", "1s"]);
    let scrape = daemon.metrics();
    assert_eq!(
        sample(
            &scrape,
            "pgfleet_server_in_recovery",
            &[("server", "replica")]
        ),
        Some(1.0),
        "{scrape}"
    );
    let lag = sample(
        &scrape,
        "pgfleet_replication_lag_seconds",
        &[("server", "replica")],
    )
    .expect("a replica reports its lag");
    assert!(lag >= 0.0);
    assert_eq!(
        sample(
            &scrape,
            "pgfleet_up",
            &[("service", &format!("{p}_reports"))]
        ),
        Some(1.0)
    );
    assert!(
        !scrape.contains("pgfleet_access_drift{")
            && !scrape.contains("collector=\"drift\",target="),
        "drift reported for a fleet that does not manage roles:\n{scrape}"
    );
    drop(daemon);
    drop(replica);
}

/// Drift and migration state follow the databases and the files while the daemon runs.
#[tokio::test(flavor = "multi_thread")]
async fn drift_and_pending_migrations_are_counted_per_service() {
    let fleet = fleet().await;
    let p = &fleet.p;
    let daemon = Daemon::start(
        &fleet.ctx,
        &["--slow-interval", "200ms", "--drift-interval", "200ms"],
    );
    let service = |name: &str| format!("{p}_{name}");
    let value = |scrape: &str, metric: &str, name: &str| {
        sample(scrape, metric, &[("service", &service(name))]).unwrap()
    };
    let scrape = daemon.metrics();
    for name in ["catalog", "orders", "billing"] {
        assert_eq!(value(&scrape, "pgfleet_access_drift", name), 0.0);
        assert_eq!(value(&scrape, "pgfleet_migrations_pending", name), 0.0);
    }
    // A grant revoked by hand, and a migration file shipped but not applied.
    fleet
        .shared
        .client()
        .await
        .batch_execute(&format!(
            "REVOKE SELECT ON {p}_catalog.items FROM {p}_catalog_app"
        ))
        .await
        .unwrap();
    std::fs::write(
        fleet
            .ctx
            .dir
            .path()
            .join("migrations/billing/002_refunds.up.sql"),
        "CREATE TABLE refunds (id bigserial PRIMARY KEY);\n",
    )
    .unwrap();
    let started = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let scrape = daemon.metrics();
        if value(&scrape, "pgfleet_access_drift", "catalog") >= 1.0
            && value(&scrape, "pgfleet_migrations_pending", "billing") == 1.0
        {
            assert_eq!(value(&scrape, "pgfleet_access_drift", "orders"), 0.0);
            assert_eq!(value(&scrape, "pgfleet_access_drift", "billing"), 0.0);
            assert_eq!(value(&scrape, "pgfleet_migrations_pending", "catalog"), 0.0);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "drift or pending never showed:\n{scrape}"
        );
    }
    // access apply repairs it; the metric follows.
    fleet.ctx.run(&["access", "apply"]).success();
    let repaired = Instant::now();
    while value(&daemon.metrics(), "pgfleet_access_drift", "catalog") != 0.0 {
        assert!(repaired.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(300));
    }
}
