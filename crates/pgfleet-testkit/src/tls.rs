//! A private cluster that speaks TLS with a certificate from a throw-away local CA, for sslmode
//! tests (made with the `openssl` CLI; `.ci/run` installs it).

use pgfleet_cluster::{ClusterSpec, HostAuth, LocalCluster, PgBinaries, RunAs};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The cluster listens on 127.0.0.1 with `trust` authentication for `postgres`; its
/// certificate names `localhost`. Dropping it stops the server and deletes its folder.
#[derive(Debug)]
pub struct TlsCluster {
    cluster: LocalCluster,
    dir: tempfile::TempDir,
}

impl TlsCluster {
    /// Makes the CAs and the server certificate, then initialises and starts the cluster.
    /// Panics with the tool's message when anything fails (it is test setup).
    pub fn start() -> TlsCluster {
        let run_as = RunAs::detect().expect("the server user");
        let dir = tempfile::Builder::new()
            .prefix("pgfleet-tls-")
            .tempdir()
            .expect("a temporary directory");
        certificates(dir.path());
        if let RunAs::OsUser { uid, gid, .. } = &run_as {
            // The server reads its key as its own user, and insists on 0600.
            for file in ["server.key", "server.pem", "ca.pem"] {
                std::os::unix::fs::chown(dir.path().join(file), Some(*uid), Some(*gid))
                    .expect("chown a certificate file");
            }
            std::os::unix::fs::chown(dir.path(), Some(*uid), Some(*gid)).expect("chown the folder");
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let path = |file: &str| dir.path().join(file).display().to_string();
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
                    ("ssl_cert_file".into(), path("server.pem")),
                    ("ssl_key_file".into(), path("server.key")),
                ],
            },
            PgBinaries::discover().expect("PostgreSQL binaries"),
            run_as,
        );
        cluster.init().expect("initdb");
        cluster.start(Duration::from_secs(60)).expect("start");
        TlsCluster { cluster, dir }
    }

    pub fn port(&self) -> u16 {
        self.cluster.spec().port
    }

    /// The CA that signed the server's certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A CA that has nothing to do with the server.
    pub fn other_ca(&self) -> PathBuf {
        self.dir.path().join("other_ca.pem")
    }
}

impl Drop for TlsCluster {
    fn drop(&mut self) {
        let _ = self.cluster.stop();
    }
}

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
    std::fs::write(dir.join("san.ext"), "subjectAltName = DNS:localhost\n").expect("write san.ext");
    for ca in ["ca", "other_ca"] {
        let subject = format!("/CN=pgfleet test {ca}");
        let (key, pem) = (format!("{ca}.key"), format!("{ca}.pem"));
        openssl(
            dir,
            &[
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", &subject,
                "-keyout", &key, "-out", &pem,
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
