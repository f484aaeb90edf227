//! What users of ripgrep, cargo or kubectl expect of a command line: completions, a man page,
//! a version with its commit, plain output in pipes, JSON logs, progress lines in CI logs,
//! distinct exit codes. Every run here goes through pipes, as in CI.

#[tokio::test]
async fn drift_and_usage_errors_have_distinct_exit_codes() {
    let f = crate::access::fleet().await;
    // Nothing applied yet: every role is missing.
    let drift = f.ctx.run(&["access", "check"]).failure(6);
    assert!(drift.stderr.contains("difference(s)"), "{}", drift.stderr);
    f.ctx.run(&["access", "check", "--no-such-flag"]).failure(2);
    f.ctx.run(&["access", "apply"]).success();
    f.ctx.run(&["access", "check"]).success();
    let help = f.ctx.run(&["--help"]).success().stdout;
    assert!(help.contains("6 `access check` found drift"), "{help}");
}
