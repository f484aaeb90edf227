//! sslmode disable / require / verify-ca / verify-full against a server with a certificate from
//! a local CA (`pgfleet_testkit::TlsCluster`).

use pgfleet_client::{Error, FleetPool};
use std::time::Duration;

/// Whether the pool's connection is encrypted, or why it could not connect.
async fn encrypted(host: &str, port: u16, query: &str) -> Result<bool, Error> {
    let url = format!("postgresql://postgres@{host}:{port}/postgres?{query}");
    let pool = FleetPool::builder("tls")
        .url(&url)
        .configure(|c| {
            c.min_idle = 0;
            c.max_size = 1;
            c.connect_timeout = Duration::from_secs(5);
        })
        .build()?;
    let c = pool.get().await?;
    let row = c
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

#[tokio::test]
async fn sslmodes_against_a_local_ca() {
    let server = pgfleet_testkit::TlsCluster::start();
    let port = server.port();
    let ca = format!("sslrootcert={}", server.ca().display());
    let other = format!("sslrootcert={}", server.other_ca().display());

    assert!(
        !encrypted("127.0.0.1", port, "sslmode=disable")
            .await
            .unwrap()
    );
    // require encrypts without judging the certificate.
    assert!(
        encrypted("127.0.0.1", port, "sslmode=require")
            .await
            .unwrap()
    );
    assert!(
        encrypted("127.0.0.1", port, &format!("sslmode=require&{other}"))
            .await
            .unwrap()
    );
    // verify-ca checks the chain, not the name.
    assert!(
        encrypted("127.0.0.1", port, &format!("sslmode=verify-ca&{ca}"))
            .await
            .unwrap()
    );
    let wrong_ca = encrypted("127.0.0.1", port, &format!("sslmode=verify-ca&{other}")).await;
    assert!(matches!(wrong_ca, Err(Error::Connect(_))), "{wrong_ca:?}");
    // verify-full checks both.
    assert!(
        encrypted("localhost", port, &format!("sslmode=verify-full&{ca}"))
            .await
            .unwrap()
    );
    let wrong_name = encrypted("127.0.0.1", port, &format!("sslmode=verify-full&{ca}")).await;
    assert!(
        matches!(wrong_name, Err(Error::Connect(_))),
        "{wrong_name:?}"
    );
    let wrong_ca = encrypted("localhost", port, &format!("sslmode=verify-full&{other}")).await;
    assert!(matches!(wrong_ca, Err(Error::Connect(_))), "{wrong_ca:?}");
}
