//! sslmode disable / require / verify-ca / verify-full against a server with a certificate from
//! a local CA (made with the openssl CLI, as crates/pgfleet/tests/it/tls.rs does).

use pgfleet_client::{Error, FleetPool};
use pgfleet_testkit::pgfleet_cluster::{ClusterSpec, HostAuth, LocalCluster, PgBinaries, RunAs};
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
    std::fs::write(dir.join("san.ext"), "subjectAltName = DNS:localhost\n").unwrap();
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
                &format!("/CN=pgfleet-client test {ca}"),
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
    let run_as = RunAs::detect().unwrap();
    let dir = tempfile::Builder::new()
        .prefix("pgfleet-client-tls-")
        .tempdir()
        .unwrap();
    certificates(dir.path());
    if let RunAs::OsUser { uid, gid, .. } = &run_as {
        for file in ["server.key", "server.pem", "ca.pem"] {
            std::os::unix::fs::chown(dir.path().join(file), Some(*uid), Some(*gid)).unwrap();
        }
        std::os::unix::fs::chown(dir.path(), Some(*uid), Some(*gid)).unwrap();
    }
    let port = crate::free_port();
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
    let ca = format!("sslrootcert={}", dir.path().join("ca.pem").display());
    let other = format!("sslrootcert={}", dir.path().join("other_ca.pem").display());

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
