//! sslmode as libpq means it, against a real server with a certificate from a local CA.

use pgfleet_core::Connection;
use pgfleet_core::manifest::SslMode;
use pgfleet_core::resolve::Source;
use std::path::Path;
use std::time::Duration;

fn connection(host: &str, port: u16, sslmode: SslMode, root: Option<&Path>) -> Connection {
    Connection {
        service: "tls".into(),
        environment: "testing".into(),
        server: "main".into(),
        source: Source::Manifest,
        local: false,
        host: host.into(),
        port,
        database: "postgres".into(),
        schema: None,
        user: "postgres".into(),
        password: None,
        sslmode,
        params: root
            .map(|r| vec![("sslrootcert".to_owned(), r.display().to_string())])
            .unwrap_or_default(),
        pooler: None,
        url: format!("postgresql://postgres@{host}:{port}/postgres"),
    }
}

async fn encrypted(connection: &Connection) -> Result<bool, String> {
    let client = pgfleet_pg::connect(connection, "tls test", Duration::from_secs(10))
        .await
        .map_err(|e| e.to_string())?;
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.get(0))
}

#[tokio::test]
async fn sslmodes_encrypt_and_verify_like_libpq() {
    let server = pgfleet_testkit::TlsCluster::start();
    let port = server.port();
    let ca = server.ca();
    let other = server.other_ca();

    assert_eq!(
        encrypted(&connection("127.0.0.1", port, SslMode::Disable, None)).await,
        Ok(false)
    );
    assert_eq!(
        encrypted(&connection("127.0.0.1", port, SslMode::Prefer, None)).await,
        Ok(true)
    );
    // require encrypts without judging the certificate.
    assert_eq!(
        encrypted(&connection("127.0.0.1", port, SslMode::Require, None)).await,
        Ok(true)
    );
    // verify-ca checks the chain, not the name.
    assert_eq!(
        encrypted(&connection("127.0.0.1", port, SslMode::VerifyCa, Some(&ca))).await,
        Ok(true)
    );
    let wrong_ca = encrypted(&connection(
        "127.0.0.1",
        port,
        SslMode::VerifyCa,
        Some(&other),
    ))
    .await;
    assert!(wrong_ca.is_err(), "{wrong_ca:?}");
    // verify-full checks both.
    assert_eq!(
        encrypted(&connection(
            "localhost",
            port,
            SslMode::VerifyFull,
            Some(&ca)
        ))
        .await,
        Ok(true)
    );
    let wrong_name = encrypted(&connection(
        "127.0.0.1",
        port,
        SslMode::VerifyFull,
        Some(&ca),
    ))
    .await;
    assert!(wrong_name.is_err(), "{wrong_name:?}");
    let wrong_ca = encrypted(&connection(
        "localhost",
        port,
        SslMode::VerifyFull,
        Some(&other),
    ))
    .await;
    assert!(wrong_ca.is_err(), "{wrong_ca:?}");
}
