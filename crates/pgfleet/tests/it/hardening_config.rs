//! Issue 11's attacks on configuration: names a service must not take, secrets in exports,
//! URLs and children's environments, and manifest or `.env` files that are not what they seem.

use crate::context::TestContext;
use pgfleet_testkit::TestCluster;
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A prefix of names no other test uses (roles are cluster-wide).
fn prefix() -> String {
    format!(
        "h{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// `path:line:column` of the value after the first `key = ` in the context's manifest.
fn place(ctx: &TestContext, key: &str) -> String {
    let text = std::fs::read_to_string(&ctx.manifest).unwrap();
    let needle = format!("{key} = ");
    let offset = text
        .find(&needle)
        .unwrap_or_else(|| panic!("{needle} not in\n{text}"))
        + needle.len();
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("{}:{line}:{column}", ctx.manifest.display())
}

#[tokio::test]
async fn a_service_cannot_take_pgfleets_schema_or_the_superuser_role() {
    let cluster = TestCluster::shared();
    let db = cluster.fresh_database().await;
    let p = prefix();
    let ctx = TestContext::on_test_cluster(
        &format!("name = \"{p}\""),
        &format!(
            r#"
[servers.main]
database = "{db}"

[services.{p}_audit]
schema = "pgfleet"

[services.{p}_billing]
schema = "{p}_billing"
[services.{p}_billing.access]
runtime_role = "postgres"
"#,
            db = db.name
        ),
    );
    // What would hand the service pgfleet's history and audit tables, or make pgfleet
    // ALTER the superuser into a service role, is refused before anything connects.
    for args in [&["access", "apply"][..], &["migrate", "up", "--all"][..]] {
        let run = ctx.run(args).failure(3);
        let schema = format!(
            "{}: schema `pgfleet` is pgfleet's own",
            place(&ctx, "schema")
        );
        let role = format!(
            "{}: role `postgres` is PostgreSQL's",
            place(&ctx, "runtime_role")
        );
        assert!(run.stderr.contains(&schema), "{}", run.stderr);
        assert!(run.stderr.contains(&role), "{}", run.stderr);
    }
    let client = db.client().await;
    let roles: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_roles WHERE rolname LIKE $1",
            &[&format!("{p}%")],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(roles, 0, "no service role was created");
    let pgfleet_schema: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'pgfleet'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(pgfleet_schema, 0, "nothing was created in the database");
}

const SMALL_FLEET: &str =
    "[fleet]\nname = \"shop\"\n[servers.main]\ndev_port = 5999\n[services.orders]\n";

fn mkfifo(path: &std::path::Path) {
    let made = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(made.success());
}

#[test]
fn a_manifest_or_dotenv_that_is_a_device_or_fifo_is_refused_at_once() {
    let limit = std::time::Duration::from_secs(20);
    let mut ctx = TestContext::new(SMALL_FLEET);
    // /dev/zero used to be read until memory ran out; a FIFO blocked forever.
    let fifo = ctx.dir.path().join("fleet.fifo");
    mkfifo(&fifo);
    for (path, what) in [
        (std::path::PathBuf::from("/dev/zero"), "a character device"),
        (fifo.clone(), "a FIFO"),
    ] {
        ctx.manifest = path.clone();
        let run = ctx.run_within(&["env", "show"], limit).0.failure(3);
        let expected = format!(
            "could not read manifest {}: is {what}, not a regular file",
            path.display()
        );
        assert!(run.stderr.contains(&expected), "{}", run.stderr);
    }
    ctx.manifest = ctx.dir.path().join("fleet.toml");
    let big = ctx.dir.path().join("big.toml");
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(5 << 20).unwrap();
    ctx.manifest = big;
    let run = ctx.run_within(&["env", "show"], limit).0.failure(3);
    assert!(
        run.stderr.contains("is larger than 4096 KiB"),
        "{}",
        run.stderr
    );
    ctx.manifest = ctx.dir.path().join("fleet.toml");

    // The .env file read before resolving: the same limits.
    let dotenv = ctx.dir.path().join(".env");
    mkfifo(&dotenv);
    let run = ctx.run_within(&["env", "show"], limit).0.failure(4);
    assert!(
        run.stderr.contains(&format!(
            "could not read {}: is a FIFO, not a regular file",
            dotenv.display()
        )),
        "{}",
        run.stderr
    );
    std::fs::remove_file(&dotenv).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &dotenv).unwrap();
    let run = ctx.run_within(&["env", "show"], limit).0.failure(4);
    assert!(
        run.stderr
            .contains("is a character device, not a regular file"),
        "{}",
        run.stderr
    );
}

#[test]
fn invalid_utf8_and_dotenv_syntax_errors_say_where_they_are() {
    let mut ctx = TestContext::new("");
    let mut text = SMALL_FLEET.as_bytes().to_vec();
    text.extend_from_slice(b"database = \"ord\xffers\"\n");
    std::fs::write(&ctx.manifest, &text).unwrap();
    let run = ctx.run(&["env", "show"]).failure(3);
    let expected = format!("{}:6:16: invalid UTF-8 (byte 0xff)", ctx.manifest.display());
    assert!(run.stderr.contains(&expected), "{}", run.stderr);

    ctx.write("fleet.toml", SMALL_FLEET);
    ctx.manifest = ctx.dir.path().join("fleet.toml");
    ctx.write(
        ".env",
        "# local settings\nA=1\n\nORDERS_DB_PASSWORD=\"s3cret\" trailing\n",
    );
    let run = ctx.run(&["env", "show"]).failure(4);
    assert!(
        run.stderr.contains("syntax error at line 4, column"),
        "{}",
        run.stderr
    );
    assert!(!run.all_output().contains("s3cret"), "{}", run.all_output());
    std::fs::write(
        ctx.dir.path().join(".env"),
        b"A=1\nORDERS_DB_PASSWORD=pw\xffSECRETVALUE\n",
    )
    .unwrap();
    let run = ctx.run(&["env", "show"]).failure(4);
    assert!(
        run.stderr.contains("line 2, column 22: invalid UTF-8"),
        "{}",
        run.stderr
    );
    assert!(
        !run.all_output().contains("SECRETVALUE"),
        "{}",
        run.all_output()
    );
}

/// `NAME=value` pairs as the shell left them after sourcing `file` (`env -0`: exact bytes).
fn sourced_by(shell: &str, dir: &std::path::Path, file: &str) -> Vec<(String, String)> {
    let out = std::process::Command::new(shell)
        .arg("-c")
        .arg(format!("set -a; . ./{file}; env -0"))
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{shell}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .split('\0')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// systemd's EnvironmentFile parser (`load_env_file` of libsystemd-shared, called through
/// Python's ctypes), as `KEY -> value`; `None` (with the reason printed) when the library is
/// not installed outside CI.
fn read_by_systemd(file: &std::path::Path) -> Option<std::collections::BTreeMap<String, String>> {
    const SCRIPT: &str = r#"
import ctypes, glob, json, sys
found = glob.glob("/usr/lib/*/systemd/libsystemd-shared-*.so") + glob.glob("/usr/lib/systemd/libsystemd-shared-*.so")
if not found:
    sys.exit(3)
lib = ctypes.CDLL(found[0])
pairs = ctypes.POINTER(ctypes.c_char_p)()
code = lib.load_env_file(None, sys.argv[1].encode(), ctypes.byref(pairs))
if code < 0:
    sys.exit(f"load_env_file failed: {code}")
read, i = {}, 0
while pairs[i] is not None:
    key, _, value = pairs[i].decode().partition("=")
    read[key] = value
    i += 1
json.dump(read, sys.stdout)
"#;
    let python = std::env::var("PGFLEET_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let out = std::process::Command::new(python)
        .args(["-c", SCRIPT])
        .arg(file)
        .output()
        .unwrap();
    if out.status.code() == Some(3) {
        assert!(
            std::env::var_os("CI").is_none(),
            "libsystemd-shared is missing in CI (.ci/run installs the systemd package)"
        );
        eprintln!(
            "SKIPPED systemd's EnvironmentFile parser: no libsystemd-shared (apt install systemd)"
        );
        return None;
    }
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// The Python with python-dotenv to read exports with (`PGFLEET_TEST_PYTHON`, else `python3`),
/// if it has it.
fn python_with_dotenv() -> Option<String> {
    let python = std::env::var("PGFLEET_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let found = std::process::Command::new(&python)
        .args(["-c", "import dotenv"])
        .output()
        .is_ok_and(|o| o.status.success());
    found.then_some(python)
}

#[test]
fn a_dotenv_export_reads_back_exactly_in_sh_bash_python_dotenv_and_systemd_and_runs_nothing() {
    let python = python_with_dotenv();
    if python.is_none() {
        eprintln!(
            "SKIPPED the python-dotenv part: no python-dotenv in $PGFLEET_TEST_PYTHON or python3 \
             (pip install python-dotenv)"
        );
    }
    let accepted = [
        // Single quotes: every special of sh inside, nothing may run.
        "`touch pwned-1` $(touch pwned-2) $HOME \"dq\" #hash sp  ace; touch pwned-3 &",
        // Double quotes: quotes and backslashes, no `$` or backtick.
        "it's \"quoted\" \\ back\\\\slash #x 'y' \\",
    ];
    for password in accepted {
        let mut ctx = TestContext::new(SMALL_FLEET);
        ctx.var("ORDERS_DB_PASSWORD", password);
        let dir = ctx.dir.path().to_path_buf();
        let expected = ctx.exported("orders", true);
        assert_eq!(expected["PGPASSWORD"], password);
        let dotenv = ctx
            .run(&["env", "export", "orders", "--show-secrets"])
            .success()
            .stdout;
        std::fs::write(dir.join("out.env"), &dotenv).unwrap();
        for shell in ["sh", "bash"] {
            let sourced = sourced_by(shell, &dir, "out.env");
            for (key, value) in &expected {
                let got = sourced.iter().find(|(k, _)| k == key).map(|(_, v)| v);
                assert_eq!(got, Some(value), "{shell} read {key} from:\n{dotenv}");
            }
        }
        if let Some(python) = &python {
            let out = std::process::Command::new(python)
                .args([
                    "-c",
                    "import dotenv, json, sys; json.dump(dotenv.dotenv_values('out.env'), sys.stdout)",
                ])
                .current_dir(&dir)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let read: std::collections::BTreeMap<String, String> =
                serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(read, expected, "python-dotenv read:\n{dotenv}");
        }
        // systemd's `EnvironmentFile=`: its own parser (`load_env_file`, what the service
        // manager calls), loaded from libsystemd-shared; no systemd needs to run.
        if let Some(read) = read_by_systemd(&dir.join("out.env")) {
            assert_eq!(read, expected, "systemd's load_env_file read:\n{dotenv}");
        }
        let ran: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("pwned"))
            .collect();
        assert!(ran.is_empty(), "sourcing ran a command: {ran:?}");

        // docker run --env-file takes KEY=value literally: the lines hold the bare values.
        let docker = ctx
            .run(&[
                "env",
                "export",
                "orders",
                "--format",
                "docker",
                "--show-secrets",
            ])
            .success()
            .stdout;
        let lines: std::collections::BTreeMap<String, String> = docker
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(lines, expected, "{docker}");
    }

    // What no quoting carries is refused, naming the variable and never its value.
    for (password, formats) in [
        ("line\nINJECTED=1", &["dotenv", "docker"][..]),
        ("it's `touch pwned`", &["dotenv"][..]),
        ("${HOME}", &["dotenv"][..]),
    ] {
        let mut ctx = TestContext::new(SMALL_FLEET);
        ctx.var("ORDERS_DB_PASSWORD", password);
        for format in formats {
            let run = ctx
                .run(&[
                    "env",
                    "export",
                    "orders",
                    "--format",
                    format,
                    "--show-secrets",
                ])
                .failure(4);
            assert!(
                run.stderr.contains("cannot write PGPASSWORD as"),
                "{}",
                run.stderr
            );
            assert!(run.stdout.is_empty(), "{}", run.stdout);
            assert!(!run.all_output().contains(password), "{}", run.all_output());
        }
    }
}

/// A fleet of one service (`orders`) on a local dev cluster (SCRAM for TCP logins) whose admin
/// password comes from `<P>_ADMIN_PASSWORD`; `dev up` is the caller's to run.
fn dev_fleet(p: &str) -> (TestContext, u16) {
    let port = crate::context::free_port();
    let mut ctx = TestContext::new(&format!(
        r#"[fleet]
name = "{p}"
[environments.development]
local = true
password = {{ env = "{upper}_ADMIN_PASSWORD" }}
[servers.main]
dev_port = {port}
[services.orders]
"#,
        upper = p.to_ascii_uppercase()
    ));
    ctx.stop_clusters_on_drop = true;
    (ctx, port)
}

/// What a prepared command of the context did.
fn run_command(mut cmd: std::process::Command) -> crate::context::Run {
    let out = cmd.output().expect("run pgfleet");
    crate::context::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn a_password_in_the_url_query_is_used_to_log_in_and_never_printed() {
    let p = prefix();
    let (mut ctx, port) = dev_fleet(&p);
    let password = "query-pw-Zq81";
    ctx.var("ORDERS_DB_PASSWORD", password);
    ctx.run(&["dev", "up"]).success();

    let url = |pw: &str, extra: &str| {
        format!(
            "postgresql://orders_app@127.0.0.1:{port}/orders?password={pw}&sslmode=disable{extra}"
        )
    };
    // The runtime role logs in over TCP with SCRAM, with the password from `password=` only.
    let psql = |pw: &str| {
        let mut cmd = ctx.command(&[
            "dev",
            "psql",
            "orders",
            "--",
            "-XtAc",
            "select current_user",
        ]);
        cmd.env_remove("ORDERS_DB_PASSWORD")
            .env("ORDERS_DATABASE_URL", url(pw, ""));
        run_command(cmd)
    };
    let run = psql(password).success();
    assert_eq!(run.stdout.trim(), "orders_app");
    let wrong = psql("not-the-password");
    assert_ne!(wrong.code, 0, "a wrong query password must not log in");

    // Reports and exports without --show-secrets never show it.
    for args in [
        &["env", "show"][..],
        &["env", "show", "--format", "json"][..],
        &["env", "export", "orders"][..],
        &["env", "export", "orders", "--format", "json"][..],
    ] {
        let mut cmd = ctx.command(args);
        cmd.env("ORDERS_DATABASE_URL", url(password, ""));
        let run = run_command(cmd).success();
        assert!(
            !run.all_output().contains(password),
            "{args:?}:\n{}",
            run.all_output()
        );
        assert!(
            run.stdout.contains("orders_app:***@"),
            "{args:?}:\n{}",
            run.stdout
        );
    }
    // What pgfleet cannot honour is refused, without repeating what it held.
    for (extra, expected) in [
        ("&sslpassword=key-pass-Zq81", "has `sslpassword`"),
        ("&options=-c%20password%3Dopt-pass-Zq81", "has `options`"),
    ] {
        let mut cmd = ctx.command(&["env", "show"]);
        cmd.env("ORDERS_DATABASE_URL", url(password, extra));
        let run = run_command(cmd).failure(4);
        assert!(run.stderr.contains(expected), "{}", run.stderr);
        assert!(!run.all_output().contains("Zq81"), "{}", run.all_output());
    }
}

#[test]
fn the_admin_password_reaches_neither_initdb_nor_pg_ctl_nor_the_server() {
    use std::os::unix::fs::PermissionsExt as _;
    let p = prefix();
    let (mut ctx, _) = dev_fleet(&p);
    let admin_password = "admin-pw-Kx93";
    ctx.var(
        &format!("{}_ADMIN_PASSWORD", p.to_ascii_uppercase()),
        admin_password,
    )
    .var("PGPASSWORD", "pgpassword-Kx93")
    .var("ORDERS_DB_PASSWORD", "runtime-pw-Kx93");

    // initdb and pg_ctl are seen through wrappers that record their environment and run the
    // real binaries (as the server's OS user when we are root, hence the open folders).
    let real = pgfleet_cluster::PgBinaries::discover().unwrap();
    let real_dir = real.tool("initdb").parent().unwrap().to_path_buf();
    let wrappers = tempfile::tempdir().unwrap();
    let bin = wrappers.path().join("bin");
    let seen = wrappers.path().join("seen");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&seen).unwrap();
    std::fs::set_permissions(wrappers.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&seen, std::fs::Permissions::from_mode(0o777)).unwrap();
    for entry in std::fs::read_dir(&real_dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let target = bin.join(&name);
        if name == "initdb" || name == "pg_ctl" {
            std::fs::write(
                &target,
                format!(
                    "#!/bin/sh\nenv > '{}/{name}.'$$\nexec '{}' \"$@\"\n",
                    seen.display(),
                    entry.path().display()
                ),
            )
            .unwrap();
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).unwrap();
        } else {
            std::os::unix::fs::symlink(entry.path(), &target).unwrap();
        }
    }
    ctx.var("PGFLEET_PG_BIN", &bin.display().to_string());
    ctx.run(&["dev", "up"]).success();

    let mut environments = Vec::new();
    for entry in std::fs::read_dir(&seen).unwrap() {
        let entry = entry.unwrap();
        environments.push((
            entry.file_name().to_string_lossy().into_owned(),
            std::fs::read(entry.path()).unwrap(),
        ));
    }
    for tool in ["initdb", "pg_ctl"] {
        assert!(
            environments.iter().any(|(name, _)| name.starts_with(tool)),
            "{tool} did not run through its wrapper: {environments:?}"
        );
    }
    let status = ctx
        .run(&["dev", "status", "--format", "json"])
        .success()
        .json();
    let pid = status["servers"][0]["pid"]
        .as_u64()
        .expect("a running postmaster");
    environments.push((
        format!("postmaster {pid}"),
        std::fs::read(format!("/proc/{pid}/environ")).unwrap(),
    ));
    for (who, environ) in &environments {
        let environ = String::from_utf8_lossy(environ);
        assert!(
            !environ.contains("Kx93"),
            "a password reached {who}'s environment:\n{environ}"
        );
        assert!(environ.contains("PATH="), "{who}: {environ}");
    }
}

#[tokio::test]
async fn a_login_from_a_variable_that_names_a_service_role_is_refused_naming_the_variable() {
    let cluster = TestCluster::shared();
    let db = cluster.fresh_database().await;
    let p = prefix();
    let mut ctx = TestContext::new(&format!(
        r#"[fleet]
name = "{p}"
default_environment = "testing"
[environments.testing]
host = {{ env = "IT_HOST" }}
port = {{ env = "IT_PORT" }}
user = {{ env = "IT_USER", default = "{superuser}" }}
sslmode = "disable"
[servers.main]
database = "{db}"
[services.{p}_orders]
schema = "{p}_orders"
"#,
        superuser = cluster.superuser(),
        db = db.name
    ));
    ctx.var("IT_HOST", cluster.host())
        .var("IT_PORT", &cluster.port().to_string())
        .var("IT_USER", &format!("{p}_orders_app"));
    for args in [&["access", "apply"][..], &["env", "check"][..]] {
        let run = ctx.run(args).failure(4);
        let expected =
            format!("{p}_orders: IT_USER names the runtime role of service `{p}_orders`");
        assert!(run.all_output().contains(&expected), "{}", run.all_output());
    }
    let roles: i64 = db
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM pg_roles WHERE rolname LIKE $1",
            &[&format!("{p}%")],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(roles, 0);
}
