//! The S3 store against a real S3-compatible server (moto's server mode, a process of its
//! own started by the testkit): publish, list, read, download and delete; sealed and
//! encrypted files come back byte-identical; credentials and age keys show nowhere.

#![allow(clippy::unwrap_used)]

use age::secrecy::ExposeSecret;
use futures_util::StreamExt;
use jiff::Timestamp;
use object_store::ObjectStore;
use pgfleet_backup::{
    BackupError, BackupKind, CATALOG_FILE, Catalog, FileEntry, S3Store, Store, Verification, crypt,
    hash_file, open_file, seal_file,
};
use pgfleet_core::Vars;
use pgfleet_core::manifest::{BackupEncryption, S3Storage, Setting};
use pgfleet_testkit::TestS3;
use std::path::Path;

fn var(name: &str) -> Option<Setting> {
    Some(Setting::FromEnv {
        var: name.to_owned(),
        default: None,
    })
}

/// A bucket as a manifest spells it: everything but the bucket from variables.
fn settings(bucket: &str) -> S3Storage {
    S3Storage {
        bucket: Setting::Literal(bucket.to_owned()),
        prefix: "/team/backups/".to_owned(),
        region: var("T_S3_REGION"),
        endpoint: var("T_S3_ENDPOINT"),
        access_key_id: var("T_S3_KEY_ID"),
        secret_access_key: var("T_S3_SECRET"),
        session_token: var("T_S3_TOKEN"),
        allow_http: true,
    }
}

fn vars(server: &TestS3) -> Vars {
    [
        ("T_S3_REGION", server.region().to_owned()),
        ("T_S3_ENDPOINT", server.endpoint()),
        ("T_S3_KEY_ID", server.access_key_id().to_owned()),
        ("T_S3_SECRET", server.secret_access_key().to_owned()),
        ("T_S3_TOKEN", server.session_token().to_owned()),
    ]
    .into_iter()
    .collect()
}

fn open(bucket: &str, vars: &Vars, staging: &Path) -> Store {
    Store::S3(S3Store::open(&settings(bucket), vars, staging.to_path_buf()).unwrap())
}

fn catalog(id: &str, files: Vec<FileEntry>, encrypted_for: Option<usize>) -> Catalog {
    let now = Timestamp::now();
    serde_json::from_value(serde_json::json!({
        "format": pgfleet_backup::CATALOG_FORMAT,
        "id": id,
        "kind": BackupKind::Services,
        "fleet": "shop",
        "environment": "production",
        "started_at": now,
        "finished_at": now,
        "pgfleet_version": "test",
        "tools": {},
        "compression": "zstd-3",
        "encrypted_for": encrypted_for,
        "services": [{
            "service": "billing",
            "server": "main",
            "database": "billing",
            "schema": null,
            "postgres_version": "15",
            "migration_version": "002",
            "status": {"state": "complete"},
            "tables": [],
            "bytes": files.iter().map(|f| f.bytes).sum::<u64>(),
            "raw_bytes": 0,
            "duration_ms": 1,
            "files": files,
        }],
    }))
    .unwrap()
}

/// Bytes that do not compress (a multipart upload needs more than one 8 MiB part).
fn noise(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// A client of the test's own, around pgfleet's store.
fn raw_client(server: &TestS3, bucket: &str) -> object_store::aws::AmazonS3 {
    // As `S3Store::open` does: reqwest's rustls needs a provider installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(server.region())
        .with_endpoint(server.endpoint())
        .with_allow_http(true)
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .build()
        .unwrap()
}

/// The keys under `prefix` in `bucket`, read with a client of the test's own.
async fn keys(server: &TestS3, bucket: &str, prefix: &str) -> Vec<String> {
    let raw = raw_client(server, bucket);
    let prefix = object_store::path::Path::from(prefix);
    let mut listed = raw.list(Some(&prefix));
    let mut keys = Vec::new();
    while let Some(object) = listed.next().await {
        keys.push(object.unwrap().location.to_string());
    }
    keys.sort();
    keys
}

#[tokio::test]
async fn a_backup_published_to_s3_is_listed_read_downloaded_and_deleted() {
    let server = TestS3::shared();
    let bucket = server.fresh_bucket().unwrap();
    let vars = vars(server);
    let staging_root = tempfile::tempdir().unwrap();
    let store = open(&bucket, &vars, staging_root.path());
    assert!(store.list().await.unwrap().is_empty());

    let id = "billing_20240115_143022";
    let staging = store.staging(id).unwrap();
    assert!(staging.starts_with(staging_root.path()));
    std::fs::create_dir_all(staging.join("billing/dump")).unwrap();
    let small = b"toc".to_vec();
    let big = noise(20 << 20);
    std::fs::write(staging.join("billing/dump/toc.dat"), &small).unwrap();
    std::fs::write(staging.join("billing/dump/3001.dat"), &big).unwrap();
    let entry = |path: &str, bytes: &[u8]| FileEntry {
        path: path.to_owned(),
        bytes: bytes.len() as u64,
        sha256: String::new(),
    };
    let mut written = catalog(
        id,
        vec![
            entry("billing/dump/toc.dat", &small),
            entry("billing/dump/3001.dat", &big),
        ],
        None,
    );
    // A deleted backup leaves nothing behind.
    let gone = "billing_20240114_000000";
    let gone_staging = store.staging(gone).unwrap();
    std::fs::write(gone_staging.join("partial.dat"), b"half").unwrap();
    store
        .publish(gone, &gone_staging, &catalog(gone, Vec::new(), None))
        .await
        .unwrap();
    assert_eq!(store.list().await.unwrap(), [gone]);
    store.delete(gone).await.unwrap();

    store.publish(id, &staging, &written).await.unwrap();
    assert!(
        !staging.exists(),
        "the staging folder is removed once uploaded"
    );
    assert_eq!(store.list().await.unwrap(), [id]);
    assert_eq!(
        keys(server, &bucket, "team/backups").await,
        [
            format!("team/backups/{id}/backup.json"),
            format!("team/backups/{id}/billing/dump/3001.dat"),
            format!("team/backups/{id}/billing/dump/toc.dat"),
        ]
    );
    let read = store.read_catalog(id).await.unwrap();
    assert_eq!(read.id, id);
    assert_eq!(read.services[0].files, written.services[0].files);

    let scratch = tempfile::tempdir().unwrap();
    for (file, bytes) in [
        ("billing/dump/3001.dat", &big),
        ("billing/dump/toc.dat", &small),
    ] {
        let copy = store.local_copy(id, file, scratch.path()).await.unwrap();
        assert!(copy.starts_with(scratch.path()));
        assert!(std::fs::read(&copy).unwrap() == *bytes, "{file} differs");
    }
    assert!(matches!(
        store
            .local_copy(id, "../elsewhere/backup.json", scratch.path())
            .await,
        Err(BackupError::BadId(_))
    ));

    written.verifications.push(Verification {
        service: "billing".into(),
        at: Timestamp::now(),
        ok: true,
        restored_on: "main/scratch".into(),
        duration_ms: 5,
        problems: Vec::new(),
    });
    store.write_catalog(id, &written).await.unwrap();
    assert!(
        store
            .read_catalog(id)
            .await
            .unwrap()
            .last_verification("billing")
            .unwrap()
            .ok
    );

    store.delete(id).await.unwrap();
    assert!(store.list().await.unwrap().is_empty());
    assert!(keys(server, &bucket, "team/backups").await.is_empty());
    assert!(matches!(
        store.read_catalog(id).await,
        Err(BackupError::NotFound(_))
    ));
}

/// Files uploaded without their `backup.json` (a run killed during its upload) are no backup,
/// only an interrupted upload that can be removed.
#[tokio::test]
async fn objects_without_a_catalog_are_not_listed_but_found_as_interrupted_uploads() {
    let server = TestS3::shared();
    let bucket = server.fresh_bucket().unwrap();
    let vars = vars(server);
    let staging_root = tempfile::tempdir().unwrap();
    let store = open(&bucket, &vars, staging_root.path());
    let raw = raw_client(server, &bucket);
    use object_store::ObjectStoreExt;
    for key in [
        "team/backups/billing_20240115_000000/billing/toc.dat.zst",
        // A catalog deeper than a backup's own is a file of a service, not a backup.
        "team/backups/billing_20240115_000001/billing/backup.json",
        "elsewhere/billing_20240115_000002/backup.json",
        // Not named like a backup: never taken for one.
        "team/backups/notes/readme.txt",
    ] {
        raw.put(&key.into(), b"x".to_vec().into()).await.unwrap();
    }
    assert!(store.list().await.unwrap().is_empty());
    assert_eq!(
        store.incomplete().await.unwrap(),
        ["billing_20240115_000000", "billing_20240115_000001"]
    );
    store.delete("billing_20240115_000000").await.unwrap();
    assert_eq!(
        keys(server, &bucket, "team/backups").await,
        [
            "team/backups/billing_20240115_000001/billing/backup.json",
            "team/backups/notes/readme.txt",
        ]
    );
}

#[tokio::test]
async fn sealed_and_encrypted_files_come_back_from_s3_byte_identical() {
    let server = TestS3::shared();
    let bucket = server.fresh_bucket().unwrap();
    let identity = age::x25519::Identity::generate();
    let secret_key = identity.to_string().expose_secret().to_owned();
    let mut vars = vars(server);
    vars.set("T_AGE_RECIPIENT", identity.to_public().to_string());
    vars.set("T_AGE_KEY", &secret_key);
    let encryption = BackupEncryption {
        recipients: vec![var("T_AGE_RECIPIENT").unwrap()],
        identity: var("T_AGE_KEY"),
        identity_file: None,
    };
    let staging_root = tempfile::tempdir().unwrap();
    let store = open(&bucket, &vars, staging_root.path());
    let sealer = crypt::sealer(3, Some(&encryption), &vars).unwrap();

    let id = "billing_20240116_010203";
    let staging = store.staging(id).unwrap();
    let originals = tempfile::tempdir().unwrap();
    let texts = [
        ("toc.dat", "a table of contents\n".repeat(50)),
        ("3001.dat", "1\tsome row\n".repeat(300_000)),
    ];
    std::fs::create_dir_all(staging.join("billing")).unwrap();
    let mut files = Vec::new();
    for (name, text) in &texts {
        let original = originals.path().join(name);
        std::fs::write(&original, text).unwrap();
        let path = format!("billing/{name}.zst");
        let sealed = seal_file(&original, &staging.join(&path), &sealer).unwrap();
        files.push(FileEntry {
            path,
            bytes: sealed.bytes,
            sha256: sealed.sha256,
        });
    }
    let written = catalog(id, files.clone(), sealer.encrypted_for());
    store.publish(id, &staging, &written).await.unwrap();

    let opener = crypt::opener(Some(&encryption), &vars, Path::new("/")).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let back = scratch.path().join("back");
    for ((_, text), file) in texts.iter().zip(&files) {
        let copy = store
            .local_copy(id, &file.path, scratch.path())
            .await
            .unwrap();
        assert_eq!(hash_file(&copy).unwrap(), (file.bytes, file.sha256.clone()));
        open_file(&copy, &back, &opener).unwrap();
        assert!(
            std::fs::read_to_string(&back).unwrap() == *text,
            "{}",
            file.path
        );
    }

    // The wrong identity fails naming the file and the fix; no identity says it is needed.
    let copy = store
        .local_copy(id, &files[0].path, scratch.path())
        .await
        .unwrap();
    let mut wrong = vars.clone();
    wrong.set(
        "T_AGE_KEY",
        age::x25519::Identity::generate()
            .to_string()
            .expose_secret()
            .to_owned(),
    );
    let wrong = crypt::opener(Some(&encryption), &wrong, Path::new("/")).unwrap();
    let err = open_file(&copy, &back, &wrong).unwrap_err().to_string();
    assert!(
        err.contains(
            "toc.dat.zst cannot be opened: none of the configured age identities is one of its recipients"
        ),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    let err = open_file(&copy, &back, &pgfleet_backup::Opener::plain())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("age-encrypted and no identity is configured"),
        "{err}"
    );

    // The catalog as stored says how many recipients, never a key.
    let stored = store
        .local_copy(id, CATALOG_FILE, scratch.path())
        .await
        .unwrap();
    let stored = std::fs::read_to_string(stored).unwrap();
    assert!(stored.contains("\"encrypted_for\": 1"), "{stored}");
    for secret in secrets(server).iter().chain([&secret_key]) {
        assert!(
            !stored.contains(secret.as_str()),
            "the catalog holds a secret"
        );
    }
}

fn secrets(server: &TestS3) -> Vec<String> {
    vec![
        server.secret_access_key().to_owned(),
        server.session_token().to_owned(),
    ]
}

fn assert_no_secret(server: &TestS3, text: &str) {
    for secret in secrets(server) {
        assert!(!text.contains(&secret), "a credential shows in: {text}");
    }
}

#[tokio::test]
async fn credentials_show_in_no_error_or_debug_output() {
    let server = TestS3::shared();
    let vars = vars(server);
    let staging_root = tempfile::tempdir().unwrap();
    let store = open("no-such-bucket-pgfleet", &vars, staging_root.path());
    assert_no_secret(server, &format!("{store:?}"));
    assert_no_secret(server, &store.describe());
    assert!(
        store
            .describe()
            .starts_with("s3://no-such-bucket-pgfleet/team/backups at http://127.0.0.1:"),
        "{}",
        store.describe()
    );

    let err = store.list().await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(
        text.contains("listing s3://no-such-bucket-pgfleet"),
        "{text}"
    );
    assert_no_secret(server, &text);
    let err = store
        .read_catalog("billing_20240115_143022")
        .await
        .unwrap_err();
    assert_no_secret(server, &format!("{err} {err:?}"));

    // An unset variable is named, and no value shows.
    let mut missing = vars.clone();
    missing.set("T_S3_SECRET", "");
    let err = S3Store::open(&settings("b"), &missing, staging_root.path().to_path_buf())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the s3 credential variable T_S3_SECRET is not set"),
        "{err}"
    );
    assert_no_secret(server, &err);
    // `<VAR>_FILE` holds a secret as Docker and Kubernetes mount it.
    let secret_file = staging_root.path().join("s3-secret");
    std::fs::write(&secret_file, format!("{}\n", server.secret_access_key())).unwrap();
    missing.set("T_S3_SECRET_FILE", secret_file.display().to_string());
    let bucket = server.fresh_bucket().unwrap();
    let from_file = S3Store::open(
        &settings(&bucket),
        &missing,
        staging_root.path().to_path_buf(),
    )
    .unwrap();
    let from_file = Store::S3(from_file);
    assert!(from_file.list().await.unwrap().is_empty());
    let mut plain_http = settings("b");
    plain_http.allow_http = false;
    let err = S3Store::open(&plain_http, &vars, staging_root.path().to_path_buf())
        .unwrap_err()
        .to_string();
    assert!(err.contains("is plain HTTP"), "{err}");
}
