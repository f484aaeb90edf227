//! sslmode as libpq means it, against a real server with a certificate from a local CA.

use crate::context::free_port;
use pgfleet_cluster::{ClusterSpec, HostAuth, LocalCluster, PgBinaries, RunAs};
use pgfleet_core::Connection;
use pgfleet_core::manifest::SslMode;
use pgfleet_core::resolve::Source;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for `localhost` signed by it, and an unrelated CA.
fn certificates(dir: &Path) {
    let ext = dir.join("san.ext");
    std::fs::write(&ext, "subjectAltName = DNS:localhost\n").unwrap();
    for ca in ["ca", "other_ca"] {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN=pgfleet test {ca}"),
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.pem"),
            ],
        );
    }
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.pem",
        ],
    );
}

struct Stop(LocalCluster);

impl Drop for Stop {
    fn drop(&mut self) {
        let _ = self.0.stop();
    }
}

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
        url: format!("postgresql://postgres@{host}:{port}/postgres"),
    }
}

async fn encrypted(connection: &Connection) -> Result<bool, String> {
    let client = pgfleet::db::connect(connection, "tls test", Duration::from_secs(10)).await?;
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
    let run_as = RunAs::detect().unwrap();
    let dir = tempfile::Builder::new()
        .prefix("pgfleet-tls-")
        .tempdir()
        .unwrap();
    certificates(dir.path());
    if let RunAs::OsUser { uid, gid, .. } = &run_as {
        // The server reads its key as its own user, and insists on 0600.
        for file in ["server.key", "server.pem", "ca.pem"] {
            std::os::unix::fs::chown(dir.path().join(file), Some(*uid), Some(*gid)).unwrap();
        }
        std::os::unix::fs::chown(dir.path(), Some(*uid), Some(*gid)).unwrap();
    }
    let port = free_port();
    let cluster = LocalCluster::new(
        ClusterSpec {
            data_dir: dir.path().join("data"),
            socket_dir: dir.path().join("run"),
            port,
            listen_addresses: "127.0.0.1".into(),
            superuser: "postgres".into(),
            host_auth: HostAuth::Trust,
            settings: vec![
                ("fsync".into(), "off".into()),
                ("ssl".into(), "on".into()),
                (
                    "ssl_cert_file".into(),
                    dir.path().join("server.pem").display().to_string(),
                ),
                (
                    "ssl_key_file".into(),
                    dir.path().join("server.key").display().to_string(),
                ),
            ],
        },
        PgBinaries::discover().unwrap(),
        run_as,
    );
    cluster.init().unwrap();
    cluster.start(Duration::from_secs(60)).unwrap();
    let _stop = Stop(cluster);
    let ca = dir.path().join("ca.pem");
    let other = dir.path().join("other_ca.pem");

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
