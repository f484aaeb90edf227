//! Puts the commit into `pgfleet --version` when the build has git to ask. Without git (a
//! source archive, a vendored build) the version is the crate's alone: never a failed build.
// Build scripts talk to cargo on stdout.
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let Some(commit) = git(&["rev-parse", "--short", "HEAD"]) else {
        println!("cargo:rustc-env=PGFLEET_VERSION={version}");
        return;
    };
    println!("cargo:rustc-env=PGFLEET_VERSION={version} ({commit})");
    // A commit moves HEAD or the branch it names: rebuild then, and not on every build. Only
    // files that exist are named (cargo reruns a script each time for a missing one).
    let mut watched = vec![git(&["rev-parse", "--git-path", "HEAD"])];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git(&["rev-parse", "--git-path", &branch]));
    }
    watched.push(git(&["rev-parse", "--git-path", "packed-refs"]));
    for path in watched.into_iter().flatten() {
        if Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
