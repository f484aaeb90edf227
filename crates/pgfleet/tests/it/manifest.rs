//! Finding the manifest, and what a user sees when it is wrong.

use crate::context::TestContext;

#[test]
fn a_misspelled_key_is_reported_with_file_line_and_column() {
    let ctx = TestContext::new(
        "[fleet]\nname = \"shop\"\n\n[servers.main]\ndev_port = 5999\n\n[services.orders]\ndatabse = \"orders\"\n",
    );
    let run = ctx.run(&["env", "show"]).failure(3);
    let expected = format!("{}:8:1: unknown field `databse`", ctx.manifest.display());
    assert!(run.stderr.contains(&expected), "{}", run.stderr);
    // The snippet shows the offending line.
    assert!(
        run.stderr.contains("databse = \"orders\""),
        "{}",
        run.stderr
    );
}

#[test]
fn every_problem_is_reported_in_one_run() {
    let ctx = TestContext::new(
        r#"[fleet]
name = "shop"
[servers.a]
dev_port = 5999
[servers.b]
dev_port = 5999
[services.orders]
server = "a"
reads = ["payments"]
"#,
    );
    let run = ctx.run(&["env", "show"]).failure(3);
    assert!(
        run.stderr.contains(":6:12: dev_port 5999 of server `b`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(":9:10: service `orders` reads `payments`"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_manifest_is_found_from_a_subfolder_or_the_variable() {
    let ctx = TestContext::new(
        "[fleet]\nname = \"shop\"\n[servers.main]\ndev_port = 5999\n[services.orders]\n",
    );
    let sub = ctx.dir.path().join("services/orders/src");
    std::fs::create_dir_all(&sub).unwrap();
    let mut cmd = ctx.command(&["env", "show", "--format", "json"]);
    // Drop --manifest: build the command again without it.
    let args: Vec<_> = cmd.get_args().skip(2).map(|a| a.to_owned()).collect();
    cmd = std::process::Command::new(cmd.get_program());
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(&sub)
        .args(&args);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"service\": \"orders\""));

    let elsewhere = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pgfleet"))
        .env_clear()
        .env("PGFLEET_MANIFEST", &ctx.manifest)
        .current_dir(elsewhere.path())
        .args(["env", "show"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pgfleet"))
        .env_clear()
        .current_dir(elsewhere.path())
        .args(["env", "show"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no fleet.toml found"));
}

#[test]
fn usage_errors_exit_2() {
    let ctx = TestContext::new("[fleet]\nname = \"shop\"\n");
    ctx.run(&["env", "explode"]).failure(2);
    ctx.run(&["env", "export"]).failure(2);
}
