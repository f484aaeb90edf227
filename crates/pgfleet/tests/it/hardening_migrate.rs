//! Issue 11 (hardening), the migration items. Each test performs the attack or the fault
//! against the shared test cluster.

use crate::migrate::{fleet, write};
use pgfleet_testkit::TestCluster;
use std::process::Stdio;

/// Peak resident memory of a child, in bytes, from `/usr/bin/time` (GNU time: %M is kB).
fn peak_rss(command: std::process::Command) -> (crate::context::Run, u64) {
    let report = tempfile::NamedTempFile::new().unwrap();
    let mut timed = std::process::Command::new("/usr/bin/time");
    timed
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(report.path())
        .arg(command.get_program())
        .args(command.get_args())
        .env_clear();
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            timed.env(key, value);
        }
    }
    if let Some(dir) = command.get_current_dir() {
        timed.current_dir(dir);
    }
    let out = timed.stdin(Stdio::null()).output().unwrap();
    let kb: u64 = std::fs::read_to_string(report.path())
        .unwrap()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .expect("GNU time's report");
    (
        crate::context::Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        kb * 1024,
    )
}

#[tokio::test]
async fn a_large_migration_runs_in_a_small_multiple_of_its_size() {
    if !std::path::Path::new("/usr/bin/time").exists() {
        panic!("this test measures memory with GNU time: apt-get install time");
    }
    let db = TestCluster::shared().fresh_database().await;
    let ctx = fleet(&[("big", &db)]);
    // 20 MB of single-row INSERTs (with semicolons in strings), as a data migration is.
    let mut sql = String::from("CREATE TABLE big (id bigint PRIMARY KEY, note text);\n");
    let mut rows = 0;
    while sql.len() < 20 << 20 {
        rows += 1;
        sql.push_str(&format!(
            "INSERT INTO big (id, note) VALUES ({rows}, 'row {rows}; a note of some length to be realistic');\n"
        ));
    }
    write(&ctx, "big", "001_big.up.sql", &sql);
    let size = sql.len() as u64;
    drop(sql);
    let (run, peak) = peak_rss(ctx.command(&["migrate", "up", "big"]));
    let run = run.success();
    let count: i64 = db
        .client()
        .await
        .query_one("SELECT count(*) FROM big", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, rows, "{}", run.all_output());
    // Before the fix: about 90 times the file. Now: the file once, plus the process itself.
    assert!(
        peak < 4 * size + (64 << 20),
        "peak RSS {} MB for a {} MB file",
        peak >> 20,
        size >> 20
    );
}
