//! The bad manifests of `tests/fixtures/manifests/`, one per kind of problem, each run through
//! the real binary: its stderr must match the snapshot in `snapshots/`, which says what is
//! wrong, where, and each problem once. A new fixture file is picked up by itself; write its
//! snapshot with `INSTA_UPDATE=always cargo test -p pgfleet --test it manifest_fixtures` and
//! read it before committing.

use crate::context::TestContext;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/manifests")
}

/// The diagnostics `env show` prints for the manifest at `path`, which must be refused with the
/// configuration exit code; `folder` (where the file is) is shown as `label`.
fn diagnostics(path: &Path, folder: &Path, label: &str) -> String {
    let run = TestContext::with_manifest(path)
        .run(&["env", "show"])
        .failure(3);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    run.stderr.replace(&folder.display().to_string(), label)
}

#[test]
fn every_bad_manifest_reports_each_of_its_problems_once() {
    let folder = fixtures();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 25, "{} fixtures", files.len());
    for path in files {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let stderr = diagnostics(&path, &folder, "[FIXTURES]");
        // Each problem's `error:` line appears once (no problem reported twice).
        let mut lines: Vec<_> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        let count = lines.len();
        lines.sort_unstable();
        lines.dedup();
        assert_eq!(lines.len(), count, "{name} repeats a problem:\n{stderr}");
        insta::assert_snapshot!(format!("manifest_{name}"), stderr);
    }
}

#[test]
fn a_manifest_over_the_size_limit_is_refused_before_it_is_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.toml");
    let limit = usize::try_from(pgfleet_core::text_file::MAX_MANIFEST_BYTES).unwrap();
    // A valid start, then comments past the limit: only the size can be the problem.
    let mut text = String::from("[fleet]\nname = \"shop\"\n");
    let comment = "# padding padding padding padding padding padding padding padding\n";
    while text.len() <= limit {
        text.push_str(comment);
    }
    std::fs::write(&path, &text).unwrap();
    insta::assert_snapshot!(
        "manifest_over_the_size_limit",
        diagnostics(&path, dir.path(), "[TEMP]")
    );
}
