#![allow(clippy::unwrap_used)]

use super::*;
use std::path::Path;

const MANIFEST: &str = r#"
[fleet]
name = "demo"
environment_var = "DEMO_ENV"

[environments.development]
local = true
user = { env = "DEMO_DB_USER", default = "demo_user" }
password = { env = "DEMO_DB_PASSWORD" }

[environments.staging]

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
[servers.billing.environments.production]
host = "billing.internal"

[services.auth]
server = "main"
schema = "auth_schema"

[services.billing]
server = "billing"
database = "billing_db"
"#;

fn manifest() -> Manifest {
    Manifest::parse(MANIFEST, Path::new("/nonexistent/fleet.toml")).unwrap()
}

fn vars(pairs: &[(&str, &str)]) -> Vars {
    pairs.iter().copied().collect()
}

#[test]
fn development_resolves_to_the_local_cluster() {
    let m = manifest();
    let v = vars(&[("DEMO_DB_PASSWORD", "devpw")]);
    let r = Resolver::new(&m, &v);
    let env = r.environment(None).unwrap();
    assert_eq!(env, "development");
    let c = r.resolve_admin("billing", &env).unwrap();
    assert_eq!((c.host.as_str(), c.port), (LOCAL_HOST, 5502));
    assert_eq!(c.user, "demo_user");
    assert_eq!(c.database, "billing_db");
    assert_eq!(c.sslmode, SslMode::Disable);
    assert_eq!(c.password.as_ref().map(Secret::expose), Some("devpw"));
    assert_eq!(
        c.url,
        "postgresql://demo_user:***@127.0.0.1:5502/billing_db?sslmode=disable"
    );
    assert_eq!(
        c.expose_url(),
        "postgresql://demo_user:devpw@127.0.0.1:5502/billing_db?sslmode=disable"
    );
    let auth = r.resolve_admin("auth", &env).unwrap();
    assert_eq!(auth.database, "shared");
    assert_eq!(auth.schema.as_deref(), Some("auth_schema"));
}

#[test]
fn the_selecting_variable_picks_the_environment_case_insensitively() {
    let m = manifest();
    let v = vars(&[("DEMO_ENV", "PRODUCTION")]);
    let r = Resolver::new(&m, &v);
    assert_eq!(r.environment(None).unwrap(), "production");
    assert_eq!(r.environment(Some("staging")).unwrap(), "staging");
    let err = r.environment(Some("prod")).unwrap_err().to_string();
    assert!(
        err.contains("unknown environment `prod` (from --env)"),
        "{err}"
    );
    assert!(err.contains("development, production, staging"), "{err}");
}

#[test]
fn production_lists_every_missing_variable_at_once() {
    let m = manifest();
    let v = vars(&[]);
    let r = Resolver::new(&m, &v);
    let problems = r.check_all(&[], "production");
    let missing = ResolveError { problems }.missing_variables().join(" ");
    // auth needs a host (billing has a literal one); pgfleet needs the user and password of
    // the environment; each service process needs its runtime role's password.
    assert_eq!(
        missing,
        "DEMO_PROD_HOST AUTH_DB_PASSWORD DEMO_DB_USER DEMO_PROD_PASSWORD BILLING_DB_PASSWORD"
    );
}

#[test]
fn production_resolves_from_variables_and_server_overrides() {
    let m = manifest();
    let v = vars(&[
        ("DEMO_PROD_HOST", "db.example.com"),
        ("DEMO_PROD_PORT", "6543"),
        ("DEMO_DB_USER", "app"),
        ("DEMO_PROD_PASSWORD", "p@ss:w/rd"),
    ]);
    let r = Resolver::new(&m, &v);
    let auth = r.resolve_admin("auth", "production").unwrap();
    assert_eq!(
        auth.url,
        "postgresql://app:***@db.example.com:6543/shared?sslmode=require"
    );
    assert_eq!(
        auth.expose_url(),
        "postgresql://app:p%40ss%3Aw%2Frd@db.example.com:6543/shared?sslmode=require"
    );
    let billing = r.resolve_admin("billing", "production").unwrap();
    assert_eq!(billing.host, "billing.internal");
}

#[test]
fn an_explicit_url_variable_wins() {
    let m = manifest();
    let v = vars(&[(
        "BILLING_DATABASE_URL",
        "postgresql+asyncpg://u:secret@override:7000/other?sslmode=require&sslrootcert=/etc/ca.pem",
    )]);
    let r = Resolver::new(&m, &v);
    let c = r.resolve_admin("billing", "production").unwrap();
    assert_eq!(
        c.source,
        Source::UrlVariable {
            var: "BILLING_DATABASE_URL".into()
        }
    );
    assert_eq!(
        (c.host.as_str(), c.port, c.database.as_str()),
        ("override", 7000, "other")
    );
    assert_eq!(
        c.url,
        "postgresql://u:***@override:7000/other?sslmode=require&sslrootcert=%2Fetc%2Fca.pem"
    );
    // And it is the only thing that is needed: auth still lacks its variables.
    let problems = r.check_all(&[], "production");
    assert!(
        problems
            .iter()
            .all(|p| matches!(p, Problem::MissingVariable { service, .. } if service == "auth"))
    );
}

#[test]
fn a_bad_url_is_reported_without_repeating_it() {
    let m = manifest();
    let v = vars(&[("BILLING_DATABASE_URL", "mysql://u:topsecret@h/db")]);
    let err = Resolver::new(&m, &v)
        .resolve_admin("billing", "development")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("BILLING_DATABASE_URL has scheme `mysql`"),
        "{err}"
    );
    assert!(!err.contains("topsecret"), "{err}");
}

#[test]
fn secrets_can_come_from_file_variables() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw");
    std::fs::write(&file, "from-file\n").unwrap();
    let m = manifest();
    let v = vars(&[
        ("DEMO_PROD_HOST", "h"),
        ("DEMO_DB_USER", "u"),
        ("DEMO_PROD_PASSWORD_FILE", file.to_str().unwrap()),
    ]);
    let c = Resolver::new(&m, &v)
        .resolve_admin("auth", "production")
        .unwrap();
    assert_eq!(c.password.unwrap().expose(), "from-file");

    let v = vars(&[
        ("DEMO_PROD_HOST", "h"),
        ("DEMO_DB_USER", "u"),
        ("DEMO_PROD_PASSWORD_FILE", "/nonexistent/pw"),
    ]);
    let err = Resolver::new(&m, &v)
        .resolve_admin("auth", "production")
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("DEMO_PROD_PASSWORD_FILE names a file that cannot be read")
    );
}

#[test]
fn an_environment_without_settings_says_what_to_add() {
    let m = manifest();
    let v = vars(&[]);
    let err = Resolver::new(&m, &v)
        .resolve_admin("auth", "staging")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the manifest sets no host for server `main` in staging"),
        "{err}"
    );
    assert!(
        err.contains("the manifest sets no user for server `main` in staging"),
        "{err}"
    );
}

#[test]
fn a_bad_port_names_the_variable_not_the_value() {
    let m = manifest();
    let v = vars(&[
        ("DEMO_PROD_HOST", "h"),
        ("DEMO_DB_USER", "u"),
        ("DEMO_PROD_PASSWORD", "x"),
        ("DEMO_PROD_PORT", "not-a-port"),
    ]);
    let err = Resolver::new(&m, &v)
        .resolve_admin("auth", "production")
        .unwrap_err()
        .to_string();
    assert_eq!(err, "auth: DEMO_PROD_PORT is not a port number (1-65535)");
}

#[test]
fn unknown_services_list_the_known_ones() {
    let m = manifest();
    let v = vars(&[]);
    let err = Resolver::new(&m, &v)
        .resolve_admin("nope", "development")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "unknown service `nope`; the manifest declares: auth, billing"
    );
}

#[test]
fn services_connect_as_their_runtime_role_with_its_own_password() {
    let m = manifest();
    let v = vars(&[
        ("DEMO_PROD_HOST", "db"),
        ("DEMO_DB_USER", "deployer"),
        ("DEMO_PROD_PASSWORD", "admin-pw"),
        ("AUTH_DB_PASSWORD", "auth-pw"),
    ]);
    let r = Resolver::new(&m, &v);
    let service = r.resolve("auth", "production").unwrap();
    assert_eq!(service.user, "auth_app");
    assert_eq!(service.password.unwrap().expose(), "auth-pw");
    let admin = r.resolve_admin("auth", "production").unwrap();
    assert_eq!(admin.user, "deployer");
    assert_eq!(admin.password.unwrap().expose(), "admin-pw");
    // The service's connection needs neither the deployer's user nor its password.
    let v = vars(&[("DEMO_PROD_HOST", "db"), ("AUTH_DB_PASSWORD", "auth-pw")]);
    assert!(Resolver::new(&m, &v).resolve("auth", "production").is_ok());

    // With roles unmanaged, services use the environment's user, as before pgfleet.
    let text = MANIFEST.replace(
        "environment_var = \"DEMO_ENV\"",
        "environment_var = \"DEMO_ENV\"\nmanage_roles = false",
    );
    let m = Manifest::parse(&text, Path::new("/nonexistent/fleet.toml")).unwrap();
    let v = vars(&[("DEMO_DB_PASSWORD", "devpw")]);
    assert_eq!(
        Resolver::new(&m, &v)
            .resolve("auth", "development")
            .unwrap()
            .user,
        "demo_user"
    );
}

#[test]
fn a_login_or_host_from_a_variable_is_checked_like_a_literal_and_named_by_its_variable() {
    let m = manifest();
    let v = vars(&[
        ("DEMO_PROD_HOST", "db.example.com/evil?x"),
        ("DEMO_DB_USER", "auth_app"),
        ("DEMO_PROD_PASSWORD", "pw"),
    ]);
    let r = Resolver::new(&m, &v);
    let err = r
        .resolve_admin("auth", "production")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("auth: DEMO_PROD_HOST is not a valid host: it contains '/'"),
        "{err}"
    );
    assert!(
        err.contains("auth: DEMO_DB_USER names the runtime role of service `auth`"),
        "{err}"
    );
    let v = vars(&[
        ("DEMO_PROD_HOST", "db.example.com"),
        ("DEMO_DB_USER", "Bad User"),
        ("DEMO_PROD_PASSWORD", "pw"),
    ]);
    let err = Resolver::new(&m, &v)
        .resolve_admin("billing", "production")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("billing: DEMO_DB_USER is not a valid role name"),
        "{err}"
    );
}

#[test]
fn a_password_in_the_query_is_the_connections_secret_and_never_shown() {
    let m = manifest();
    let v = vars(&[(
        "BILLING_DATABASE_URL",
        "postgresql://u@db:5432/billing_db?password=s3cr%26t&sslmode=require",
    )]);
    let c = Resolver::new(&m, &v)
        .resolve("billing", "production")
        .unwrap();
    assert_eq!(c.password.as_ref().map(Secret::expose), Some("s3cr&t"));
    assert_eq!(
        c.url,
        "postgresql://u:***@db:5432/billing_db?sslmode=require"
    );
    assert!(c.params.is_empty());
    assert!(!serde_json::to_string(&c).unwrap().contains("s3cr"));
    assert_eq!(
        c.expose_url(),
        "postgresql://u:s3cr%26t@db:5432/billing_db?sslmode=require"
    );
}

#[test]
fn query_options_pgfleet_cannot_honour_are_refused_at_once_without_their_values() {
    let m = manifest();
    let v = vars(&[(
        "BILLING_DATABASE_URL",
        "postgresql://u:one@db/billing_db?password=two&sslpassword=keypass&options=-c%20password%3Dthree&application_name=x&hunter2",
    )]);
    let err = Resolver::new(&m, &v)
        .resolve("billing", "production")
        .unwrap_err();
    let text = err.to_string();
    for expected in [
        "billing: BILLING_DATABASE_URL has `sslpassword`: pgfleet does not present client certificates",
        "billing: BILLING_DATABASE_URL has `options`, which pgfleet does not pass on",
        "billing: BILLING_DATABASE_URL has option `application_name`, which pgfleet does not understand\n  hint: ",
        "billing: BILLING_DATABASE_URL has a query parameter that is not a parameter name",
        "billing: BILLING_DATABASE_URL has a password both before the host and in `password=`",
    ] {
        assert!(text.contains(expected), "{expected} not in\n{text}");
    }
    assert_eq!(err.problems.len(), 5, "{text}");
    for secret in ["one", "two", "keypass", "three", "hunter2"] {
        assert!(!text.contains(secret), "{secret} in\n{text}");
    }
}

const POOLED: &str = r#"
[fleet]
name = "demo"

[environments.development]
local = true

[environments.production]
host = { env = "DEMO_PROD_HOST" }
user = "pgfleet"
password = { env = "DEMO_PROD_PASSWORD" }

[servers.main]
dev_port = 5501
[servers.main.pooler]
mode = "transaction"
[servers.main.pooler.environments.production]
host = "bouncer.internal"

[services.auth]
server = "main"
database = "auth"
"#;

#[test]
fn a_service_goes_through_the_pooler_and_pgfleet_goes_direct() {
    let m = Manifest::parse(POOLED, Path::new("/nonexistent/fleet.toml")).unwrap();
    let v = vars(&[
        ("DEMO_PROD_HOST", "db.internal"),
        ("DEMO_PROD_PASSWORD", "admin-pw"),
        ("AUTH_DB_PASSWORD", "app-pw"),
    ]);
    let r = Resolver::new(&m, &v);
    let service = r.resolve("auth", "production").unwrap();
    assert_eq!(
        (service.host.as_str(), service.port),
        ("bouncer.internal", 6432)
    );
    assert_eq!(service.pooler, Some(PoolerMode::Transaction));
    assert_eq!(service.user, "auth_app");
    let admin = r.resolve_admin("auth", "production").unwrap();
    assert_eq!((admin.host.as_str(), admin.port), ("db.internal", 5432));
    assert_eq!(admin.pooler, None);
    // Development has no pooler: direct for everyone.
    let dev = r.resolve("auth", "development").unwrap();
    assert_eq!((dev.pooler, dev.port), (None, 5501));
}

#[test]
fn a_url_at_the_transaction_pooler_is_refused_for_pgfleet_and_kept_for_the_service() {
    let m = Manifest::parse(POOLED, Path::new("/nonexistent/fleet.toml")).unwrap();
    let v = vars(&[
        ("DEMO_PROD_HOST", "db.internal"),
        (
            "AUTH_DATABASE_URL",
            "postgresql://auth_app:pw@bouncer.internal:6432/auth?sslmode=require",
        ),
    ]);
    let r = Resolver::new(&m, &v);
    let service = r.resolve("auth", "production").unwrap();
    assert_eq!(service.pooler, Some(PoolerMode::Transaction));
    let err = r.resolve_admin("auth", "production").unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("AUTH_DATABASE_URL points at the transaction pooler of server `main`"),
        "{text}"
    );
    assert!(
        text.contains("hint:") && text.contains("[environments.production] (DEMO_PROD_HOST)"),
        "{text}"
    );
    assert!(!text.contains("pw@"), "{text}");
    // Pointed at the server itself, the override is pgfleet's too.
    let v = vars(&[(
        "AUTH_DATABASE_URL",
        "postgresql://pgfleet:pw@db.internal:5432/auth?sslmode=require",
    )]);
    let r = Resolver::new(&m, &v);
    assert_eq!(r.resolve_admin("auth", "production").unwrap().pooler, None);
}

use crate::manifest::Driver;

/// A connection as a service gets it from the manifest, verified against a CA file.
fn verified_connection() -> Connection {
    let m = manifest();
    let v = vars(&[(
        "BILLING_DATABASE_URL",
        "postgresql://billing_app:p%40ss+w%2Frd@db.example.com:6543/billing_db?sslmode=verify-full&sslrootcert=/etc/ssl/ca%20file.pem",
    )]);
    Resolver::new(&m, &v)
        .resolve("billing", "production")
        .unwrap()
}

#[test]
fn each_driver_gets_its_own_spelling_of_the_url() {
    let c = verified_connection();
    let expected = [
        (
            Driver::Libpq,
            "postgresql://billing_app:p%40ss%2Bw%2Frd@db.example.com:6543/billing_db?sslmode=verify-full&sslrootcert=%2Fetc%2Fssl%2Fca%20file.pem",
        ),
        (
            Driver::Asyncpg,
            "postgresql://billing_app:p%40ss%2Bw%2Frd@db.example.com:6543/billing_db?sslmode=verify-full&sslrootcert=%2Fetc%2Fssl%2Fca%20file.pem",
        ),
        (
            Driver::Psycopg,
            "postgresql://billing_app:p%40ss%2Bw%2Frd@db.example.com:6543/billing_db?sslmode=verify-full&sslrootcert=%2Fetc%2Fssl%2Fca%20file.pem",
        ),
        (
            Driver::GoPgx,
            "postgresql://billing_app:p%40ss%2Bw%2Frd@db.example.com:6543/billing_db?sslmode=verify-full&sslrootcert=%2Fetc%2Fssl%2Fca%20file.pem",
        ),
        (
            Driver::SqlalchemyAsyncpg,
            "postgresql+asyncpg://billing_app:p%40ss%2Bw%2Frd@db.example.com:6543/billing_db?ssl=verify-full",
        ),
        (
            Driver::SqlalchemyPsycopg,
            "postgresql+psycopg://billing_app:p%40ss%2Bw%2Frd@db.example.com:6543/billing_db?sslmode=verify-full&sslrootcert=%2Fetc%2Fssl%2Fca%20file.pem",
        ),
        (
            Driver::Jdbc,
            "jdbc:postgresql://db.example.com:6543/billing_db?user=billing_app&password=p%40ss%2Bw%2Frd&sslmode=verify-full&sslrootcert=%2Fetc%2Fssl%2Fca%20file.pem",
        ),
    ];
    for (driver, url) in expected {
        assert_eq!(c.driver_url(driver, true).unwrap(), url, "{driver}");
        let redacted = c.driver_url(driver, false).unwrap();
        assert!(!redacted.contains("p%40ss"), "{redacted}");
        assert!(
            redacted.contains(":***@") || redacted.contains("password=***&"),
            "{redacted}"
        );
    }
    assert_eq!(c.sslrootcert(), Some("/etc/ssl/ca file.pem"));
}

#[test]
fn every_drivers_spelling_reads_back_as_the_same_connection() {
    let c = verified_connection();
    for driver in Driver::ALL {
        let url = c.driver_url(driver, true).unwrap();
        let back = connection_from_url("billing", "BILLING_DATABASE_URL", &url).unwrap();
        assert_eq!(
            (
                back.host.as_str(),
                back.port,
                back.database.as_str(),
                back.user.as_str(),
                back.password.as_ref().map(Secret::expose),
                back.sslmode,
            ),
            (
                "db.example.com",
                6543,
                "billing_db",
                "billing_app",
                Some("p@ss+w/rd"),
                SslMode::VerifyFull
            ),
            "{driver}: {url}"
        );
        // The one spelling without the CA file hands it over as PGSSLROOTCERT.
        if driver != Driver::SqlalchemyAsyncpg {
            assert_eq!(back.sslrootcert(), Some("/etc/ssl/ca file.pem"), "{driver}");
        }
        // A redacted export reads back with the marker, which pgfleet-client replaces.
        let redacted = c.driver_url(driver, false).unwrap();
        let back = connection_from_url("billing", "BILLING_DATABASE_URL", &redacted).unwrap();
        assert_eq!(
            back.password.as_ref().map(Secret::expose),
            Some(crate::secret::REDACTED),
            "{driver}"
        );
    }
}

#[test]
fn overrides_in_any_drivers_spelling_keep_their_tls_mode_in_every_spelling() {
    let m = manifest();
    for (url, mode) in [
        (
            "postgresql+asyncpg://spell:pw@db:5432/billing_db?ssl=require",
            SslMode::Require,
        ),
        (
            "postgresql://spell:pw@db:5432/billing_db?sslmode=verify-full&sslrootcert=/ca.pem",
            SslMode::VerifyFull,
        ),
        (
            "postgresql+psycopg://spell:pw@db/billing_db?sslmode=verify-ca&sslrootcert=/ca.pem",
            SslMode::VerifyCa,
        ),
        (
            "jdbc:postgresql://db:5432/billing_db?user=spell&password=pw&sslmode=require",
            SslMode::Require,
        ),
        (
            "postgresql://spell:pw@db/billing_db?ssl=verify-full&sslmode=verify-full&sslrootcert=/ca.pem",
            SslMode::VerifyFull,
        ),
    ] {
        let v = vars(&[("BILLING_DATABASE_URL", url)]);
        let c = Resolver::new(&m, &v)
            .resolve("billing", "production")
            .unwrap();
        assert_eq!(c.sslmode, mode, "{url}");
        assert_eq!((c.user.as_str(), c.host.as_str()), ("spell", "db"), "{url}");
        for driver in Driver::ALL {
            let exported = c.driver_url(driver, true).unwrap();
            let key = if driver == Driver::SqlalchemyAsyncpg {
                "ssl"
            } else {
                "sslmode"
            };
            assert!(
                exported.contains(&format!("{key}={}", mode.as_str())),
                "{driver}: {exported}"
            );
            // Never a second, weaker mode beside it.
            assert_eq!(
                exported.matches("ssl").count() - exported.matches("sslrootcert").count(),
                1,
                "{exported}"
            );
        }
    }
}

#[test]
fn a_tls_mode_given_twice_must_agree_and_ssl_takes_only_modes() {
    let m = manifest();
    let v = vars(&[(
        "BILLING_DATABASE_URL",
        "postgresql+asyncpg://u:hunter2@db/billing_db?ssl=require&sslmode=prefer",
    )]);
    let err = Resolver::new(&m, &v)
        .resolve("billing", "production")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "billing: BILLING_DATABASE_URL has `sslmode=prefer` and `ssl=require`, which disagree"
        ),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    for value in ["true", "false", "1", "verify_full"] {
        let url = format!("postgresql+asyncpg://u@db/billing_db?ssl={value}");
        let v = vars(&[("BILLING_DATABASE_URL", url.as_str())]);
        let err = Resolver::new(&m, &v)
            .resolve("billing", "production")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("BILLING_DATABASE_URL has an `ssl` value that is not a TLS mode\n  hint: the TLS mode is one of disable, allow, prefer, require, verify-ca, verify-full"),
            "{value}: {err}"
        );
    }
}

#[test]
fn an_unknown_option_is_refused_with_the_variables_name_in_any_spelling() {
    let m = manifest();
    for url in [
        "postgresql+asyncpg://u:hunter2@db/billing_db?ssl=require&foo=bar",
        "jdbc:postgresql://db/billing_db?user=u&password=hunter2&foo=bar",
        "postgresql://u:hunter2@db/billing_db?foo=bar",
    ] {
        let v = vars(&[("BILLING_DATABASE_URL", url)]);
        let err = Resolver::new(&m, &v)
            .resolve("billing", "production")
            .unwrap_err();
        assert_eq!(err.problems.len(), 1, "{err}");
        let text = err.to_string();
        assert!(
            text.starts_with(
                "billing: BILLING_DATABASE_URL has option `foo`, which pgfleet does not understand\n  hint: "
            ),
            "{text}"
        );
        assert!(!text.contains("hunter2") && !text.contains("bar"), "{text}");
    }
}

#[test]
fn jdbc_urls_are_read_and_what_they_cannot_say_is_refused() {
    let m = manifest();
    let v = vars(&[(
        "BILLING_DATABASE_URL",
        "jdbc:postgresql://[::1]:7000/billing_db?user=u&password=s%2Bcret&sslmode=verify-full",
    )]);
    let c = Resolver::new(&m, &v)
        .resolve("billing", "production")
        .unwrap();
    assert_eq!(
        (c.host.as_str(), c.port, c.user.as_str()),
        ("::1", 7000, "u")
    );
    assert_eq!(c.password.as_ref().map(Secret::expose), Some("s+cret"));
    assert_eq!(
        c.driver_url(Driver::Jdbc, true).unwrap(),
        "jdbc:postgresql://[::1]:7000/billing_db?user=u&password=s%2Bcret&sslmode=verify-full"
    );
    assert_eq!(
        c.url,
        "postgresql://u:***@[::1]:7000/billing_db?sslmode=verify-full"
    );
    for (url, expected) in [
        (
            "jdbc:mysql://db/billing_db",
            "has scheme `jdbc:mysql`; expected postgresql://, postgresql+DRIVER:// or jdbc:postgresql://",
        ),
        (
            "jdbc:postgresql://u@db/billing_db?user=v",
            "has a user both before the host and in `user=`",
        ),
        ("jdbc:postgresql:billing_db", "has no host"),
    ] {
        let v = vars(&[("BILLING_DATABASE_URL", url)]);
        let err = Resolver::new(&m, &v)
            .resolve("billing", "production")
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{url}: {err}");
    }
    // pgjdbc speaks TCP only: a socket directory is refused, not dropped.
    let v = vars(&[(
        "BILLING_DATABASE_URL",
        "postgresql:///billing_db?host=/run/postgresql&user=u",
    )]);
    let c = Resolver::new(&m, &v)
        .resolve("billing", "production")
        .unwrap();
    assert_eq!(
        c.driver_url(Driver::Jdbc, false).unwrap_err().to_string(),
        c.driver_url(Driver::Jdbc, true).unwrap_err().to_string()
    );
    let err = c.driver_url(Driver::Jdbc, true).unwrap_err().to_string();
    assert!(
        err.starts_with("billing: a jdbc URL cannot carry a unix socket"),
        "{err}"
    );
    assert_eq!(
        c.driver_url(Driver::SqlalchemyAsyncpg, true).unwrap(),
        "postgresql+asyncpg://u@:5432/billing_db?ssl=prefer&host=%2Frun%2Fpostgresql"
    );
}

#[test]
fn the_ca_file_pgfleet_verifies_with_is_the_services_too() {
    let m = manifest();
    let v = vars(&[
        ("DEMO_PROD_HOST", "db.example.com"),
        ("BILLING_DB_PASSWORD", "pw"),
        ("PGSSLROOTCERT", "/etc/ssl/fleet-ca.pem"),
    ]);
    let r = Resolver::new(&m, &v);
    let c = r.resolve("billing", "production").unwrap();
    assert_eq!(c.sslrootcert(), Some("/etc/ssl/fleet-ca.pem"));
    assert_eq!(
        c.url,
        "postgresql://billing_app:***@billing.internal:5432/billing_db?sslmode=require&sslrootcert=%2Fetc%2Fssl%2Ffleet-ca.pem"
    );
    // Not where nothing is encrypted.
    let c = r.resolve("billing", "development").unwrap();
    assert_eq!(c.sslrootcert(), None);
}
