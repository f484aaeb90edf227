//! Run-time resolution from the variables `pgfleet env export` prints.

use pgfleet_client::config::resolve_env;
use pgfleet_client::{ConfigError, Error, FleetPool};
use pgfleet_core::Vars;
use pgfleet_core::manifest::SslMode;
use pgfleet_core::resolve::Source;
use std::time::Duration;

const PASSWORD: &str = "hunter2-Zq9-never-shown";

fn vars(pairs: &[(&str, &str)]) -> Vars {
    pairs.iter().map(|(k, v)| (*k, *v)).collect()
}

/// What `pgfleet --manifest examples/perses/fleet.toml env export dashboard --show-secrets`
/// prints (see crates/pgfleet/src/commands/env.rs), as a dotenv file would give it.
fn exported(show_secrets: bool) -> Vars {
    let password = if show_secrets { PASSWORD } else { "***" };
    let url =
        format!("postgresql://dashboard_app:{password}@127.0.0.1:5460/perses?sslmode=disable");
    let mut v = vec![
        ("DASHBOARD_DATABASE_URL", url.clone()),
        ("DATABASE_URL", url),
        ("PGHOST", "127.0.0.1".to_owned()),
        ("PGPORT", "5460".to_owned()),
        ("PGDATABASE", "perses".to_owned()),
        ("PGUSER", "dashboard_app".to_owned()),
        ("PGSSLMODE", "disable".to_owned()),
        ("PGAPPNAME", "dashboard".to_owned()),
    ];
    if show_secrets {
        v.push(("PGPASSWORD", PASSWORD.to_owned()));
    }
    v.into_iter().collect()
}

#[test]
fn the_exported_variables_are_enough() {
    let resolved = resolve_env("dashboard", &exported(true)).unwrap();
    let c = &resolved.connection;
    assert_eq!(
        c.source,
        Source::UrlVariable {
            var: "DASHBOARD_DATABASE_URL".into()
        }
    );
    assert_eq!(
        (
            c.host.as_str(),
            c.port,
            c.database.as_str(),
            c.user.as_str()
        ),
        ("127.0.0.1", 5460, "perses", "dashboard_app")
    );
    assert_eq!(c.sslmode, SslMode::Disable);
    assert_eq!(c.password.as_ref().unwrap().expose(), PASSWORD);
    assert_eq!(resolved.application_name, "dashboard");
    assert_eq!(
        c.url,
        "postgresql://dashboard_app:***@127.0.0.1:5460/perses?sslmode=disable"
    );
}

#[test]
fn the_service_url_wins_over_database_url_and_libpq_variables() {
    let v = vars(&[
        (
            "CLASS_MANAGEMENT_DATABASE_URL",
            "postgresql://cm_app:pw@db.internal:6432/class_management?sslmode=verify-full&sslrootcert=/etc/ca.pem",
        ),
        ("DATABASE_URL", "postgresql://other@elsewhere/other"),
        ("PGHOST", "ignored"),
    ]);
    let c = resolve_env("class_management", &v).unwrap().connection;
    assert_eq!((c.host.as_str(), c.port), ("db.internal", 6432));
    assert_eq!(c.sslmode, SslMode::VerifyFull);
    assert_eq!(
        c.params,
        [("sslrootcert".to_owned(), "/etc/ca.pem".to_owned())]
    );
    // Without the service's variable, DATABASE_URL.
    let v = vars(&[
        ("DATABASE_URL", "postgresql://other@elsewhere/otherdb"),
        ("PGHOST", "ignored"),
    ]);
    let c = resolve_env("class_management", &v).unwrap().connection;
    assert_eq!(
        (c.host.as_str(), c.database.as_str()),
        ("elsewhere", "otherdb")
    );
    assert_eq!(c.sslmode, SslMode::Prefer, "libpq's default");
}

#[test]
fn a_redacted_url_takes_its_password_from_the_password_variables() {
    // Exported without --show-secrets: the URL says ***.
    let mut v = exported(false);
    let err = resolve_env("dashboard", &v).unwrap_err();
    assert!(
        matches!(&err, Error::Config(ConfigError::RedactedPassword { password_var, .. }) if password_var == "DASHBOARD_DB_PASSWORD"),
        "{err:?}"
    );
    assert!(err.to_string().contains("--show-secrets"), "{err}");

    // The manifest's default password variable of the runtime role.
    v.set("DASHBOARD_DB_PASSWORD", PASSWORD);
    let c = resolve_env("dashboard", &v).unwrap().connection;
    assert_eq!(c.password.unwrap().expose(), PASSWORD);

    // …or its _FILE twin (Docker/Kubernetes secrets), trailing newline dropped.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dashboard_app.password");
    std::fs::write(&file, format!("{PASSWORD}-file\n")).unwrap();
    let mut v = exported(false);
    v.set("DASHBOARD_DB_PASSWORD_FILE", file.display().to_string());
    let c = resolve_env("dashboard", &v).unwrap().connection;
    assert_eq!(c.password.unwrap().expose(), format!("{PASSWORD}-file"));

    // PGPASSWORD comes first.
    v.set("PGPASSWORD", "from-pgpassword");
    let c = resolve_env("dashboard", &v).unwrap().connection;
    assert_eq!(c.password.unwrap().expose(), "from-pgpassword");

    // An unreadable file is named, its content never.
    let mut v = exported(false);
    v.set("DASHBOARD_DB_PASSWORD_FILE", "/nonexistent/pw");
    let err = resolve_env("dashboard", &v).unwrap_err().to_string();
    assert!(err.contains("DASHBOARD_DB_PASSWORD_FILE"), "{err}");
}

#[test]
fn libpq_variables_without_a_url() {
    let v = vars(&[
        ("PGHOST", "10.0.0.5"),
        ("PGPORT", "5433"),
        ("PGDATABASE", "huledu"),
        ("PGUSER", "class_management_app"),
        ("PGSSLMODE", "require"),
        ("PGOPTIONS", "-c search_path=class_management"),
        ("PGFLEET_SCHEMA", "class_management"),
        ("CLASS_MANAGEMENT_DB_PASSWORD", PASSWORD),
    ]);
    let r = resolve_env("class_management", &v).unwrap();
    let c = &r.connection;
    assert_eq!(
        (
            c.host.as_str(),
            c.port,
            c.database.as_str(),
            c.user.as_str()
        ),
        ("10.0.0.5", 5433, "huledu", "class_management_app")
    );
    assert_eq!(c.sslmode, SslMode::Require);
    assert_eq!(c.schema.as_deref(), Some("class_management"));
    assert_eq!(
        r.options.as_deref(),
        Some("-c search_path=class_management")
    );
    assert_eq!(r.application_name, "class_management");
    assert_eq!(
        c.url,
        "postgresql://class_management_app:***@10.0.0.5:5433/huledu?sslmode=require"
    );
    assert_eq!(c.password.as_ref().unwrap().expose(), PASSWORD);

    let err = resolve_env(
        "class_management",
        &vars(&[
            ("PGHOST", "h"),
            ("PGDATABASE", "d"),
            ("PGUSER", "u"),
            ("PGPORT", "x"),
        ]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("PGPORT"), "{err}");
}

#[test]
fn missing_variables_are_listed_together() {
    let err = resolve_env("class_management", &vars(&[("PGPORT", "5432")])).unwrap_err();
    let Error::Config(ConfigError::Missing {
        missing, url_var, ..
    }) = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(missing, &["PGHOST", "PGDATABASE", "PGUSER"]);
    assert_eq!(url_var, "CLASS_MANAGEMENT_DATABASE_URL");
    let text = err.to_string();
    for var in [
        "CLASS_MANAGEMENT_DATABASE_URL",
        "DATABASE_URL",
        "PGHOST",
        "PGDATABASE",
        "PGUSER",
    ] {
        assert!(text.contains(var), "{var} not in: {text}");
    }
    // Only what is missing.
    let err = resolve_env("x", &vars(&[("PGHOST", "h")]))
        .unwrap_err()
        .to_string();
    assert!(err.ends_with("missing: PGDATABASE, PGUSER"), "{err}");
}

#[test]
fn invalid_urls_are_reported_without_the_url() {
    let v = vars(&[(
        "DASHBOARD_DATABASE_URL",
        &*format!("mysql://u:{PASSWORD}@h/d"),
    )]);
    let err = resolve_env("dashboard", &v).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("DASHBOARD_DATABASE_URL"), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");
}

/// The password is in none of: Debug of the resolution and of the pool, the pool's URL, the
/// errors of a failed connection, the logs' URL, the health JSON, the metrics.
#[tokio::test]
async fn the_password_is_never_shown() {
    let port = crate::free_port(); // nothing listens there
    let v = vars(&[(
        "DASHBOARD_DATABASE_URL",
        &*format!("postgresql://dashboard_app:{PASSWORD}@127.0.0.1:{port}/perses?sslmode=disable"),
    )]);
    let resolved = resolve_env("dashboard", &v).unwrap();
    let pool = FleetPool::builder("dashboard")
        .vars(v)
        .configure(|c| {
            c.min_idle = 0;
            c.connect_timeout = Duration::from_secs(2);
            c.health_timeout = Duration::from_secs(2);
        })
        .build()
        .unwrap();
    let mut registry = pgfleet_client::prometheus_client::registry::Registry::default();
    pool.register_metrics(&mut registry);
    let err = pool.get().await.unwrap_err();
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
    let detailed = pool.health().detailed().await;
    assert!(!detailed.checks.connectivity.connectivity);
    let texts = [
        format!("{resolved:?}"),
        format!("{:?}", resolved.connection),
        resolved.connection.url.clone(),
        format!("{pool:?}"),
        pool.url().to_owned(),
        format!("{err} {err:?}"),
        serde_json::to_string(&detailed).unwrap(),
        serde_json::to_string(&pool.health().summary().await).unwrap(),
        crate::metrics_text(&registry),
    ];
    for text in texts {
        assert!(!text.contains(PASSWORD), "password shown in: {text}");
    }
    assert!(pool.url().contains(":***@"), "{}", pool.url());
}

#[test]
fn the_exported_pool_table_sizes_the_pool() {
    use pgfleet_client::PoolConfig;
    let mut v = exported(true);
    v.set("PGFLEET_POOL_MAX_SIZE", "7");
    v.set("PGFLEET_POOL_MIN_IDLE", "1");
    v.set("PGFLEET_STATEMENT_TIMEOUT", "12s");
    let config = PoolConfig::from_vars(&v).unwrap();
    assert_eq!(config.max_size, 7);
    assert_eq!(config.min_idle, 1);
    assert_eq!(config.statement_timeout, Duration::from_secs(12));
    // Unset ones keep seed 003's defaults.
    assert_eq!(config.max_lifetime, Duration::from_secs(300));
    assert_eq!(
        PoolConfig::from_vars(&Vars::default()).unwrap().max_size,
        50
    );

    v.set("PGFLEET_POOL_MAX_SIZE", "many");
    v.set("PGFLEET_POOL_IDLE_TIMEOUT", "later");
    let error = PoolConfig::from_vars(&v).unwrap_err().to_string();
    assert!(
        error.contains("PGFLEET_POOL_MAX_SIZE") && error.contains("PGFLEET_POOL_IDLE_TIMEOUT"),
        "{error}"
    );
}

/// What `env export` gives a schema-placed service behind PgBouncer: `PGFLEET_POOLER` makes the
/// pool send no startup options. PgBouncer refuses `options` (the schema's search_path and the
/// statement timeout would be sent there otherwise), which the control without it shows.
#[tokio::test]
async fn the_exported_pooler_mode_keeps_startup_options_away_from_pgbouncer() {
    let db = pgfleet_testkit::fresh_database().await;
    let route = crate::Route::start(crate::RouteKind::PgBouncer, &["postgres"]);
    let url = route.url(&db, "postgres");
    let exported = |pooled: bool| {
        let mut pairs = vec![
            ("POOLED_DATABASE_URL", url.as_str()),
            ("PGFLEET_SCHEMA", "public"),
            ("PGFLEET_STATEMENT_TIMEOUT", "5s"),
            ("PGFLEET_POOL_MIN_IDLE", "0"),
            ("PGFLEET_POOL_CONNECT_TIMEOUT", "5s"),
        ];
        if pooled {
            pairs.push(("PGFLEET_POOLER", "transaction"));
        }
        vars(&pairs)
    };
    let pool = |vars: Vars| {
        FleetPool::builder("pooled")
            .config(pgfleet_client::PoolConfig::from_vars(&vars).unwrap())
            .vars(vars)
            .build()
            .unwrap()
    };
    let pooled = pool(exported(true));
    assert_eq!(
        pooled.config().pooler,
        Some(pgfleet_client::PoolerMode::Transaction)
    );
    let c = pooled.get().await.unwrap();
    let one: i32 = c.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
    drop(c);
    let control = pool(exported(false));
    let err = control.get().await.unwrap_err();
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
}

/// Whatever the service's `driver`, the client reads its exported URL as the same
/// connection, and a redacted one still takes the password from the password variables.
#[test]
fn every_drivers_spelling_of_the_url_resolves_alike() {
    use pgfleet_core::manifest::Driver;
    let base = resolve_env("dashboard", &exported(true))
        .unwrap()
        .connection;
    for driver in Driver::ALL {
        for show_secrets in [true, false] {
            let url = base.driver_url(driver, show_secrets).unwrap();
            let mut v = exported(show_secrets);
            v.set("DASHBOARD_DATABASE_URL", url.clone());
            v.set("DATABASE_URL", url.clone());
            if !show_secrets {
                v.set("DASHBOARD_DB_PASSWORD", PASSWORD);
            }
            let c = resolve_env("dashboard", &v)
                .unwrap_or_else(|e| panic!("{driver}: {e}"))
                .connection;
            assert_eq!(
                (
                    c.host.as_str(),
                    c.port,
                    c.database.as_str(),
                    c.user.as_str(),
                    c.sslmode,
                ),
                (
                    "127.0.0.1",
                    5460,
                    "perses",
                    "dashboard_app",
                    SslMode::Disable
                ),
                "{driver}: {url}"
            );
            assert_eq!(c.password.unwrap().expose(), PASSWORD, "{driver}");
        }
    }
}
