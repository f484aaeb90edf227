//! golang-migrate: `{version}_{title}.up.sql` and `.down.sql`, any zero padding, a `V` prefix
//! accepted (seed 003's Perses service). Files of other names are ignored, as golang-migrate
//! ignores them.
//!
//! golang-migrate sends a file as one multi-statement Exec, without a BEGIN of its own: the
//! server runs such a text as one implicit transaction, so pgfleet runs it in one too. A file
//! of only statements that cannot run in a transaction (CREATE INDEX CONCURRENTLY…) runs
//! statement by statement; one mixing both is refused, as PostgreSQL refuses it in one Exec.
//! A `BEGIN; … COMMIT;` around the whole file is the transaction pgfleet opens anyway: it is
//! left out of what runs (blanked, so lines stay the file's) but stays in the checksum.

use super::{Entries, Folder, Pairs, file_name, invalid};
use crate::source::{self, Script, SourceError};
use pg_query::NodeEnum;
use pg_query::protobuf::TransactionStmtKind;
use std::ops::ControlFlow;
use std::path::Path;

/// `V001_x` (the stem of an up or down file): golang-migrate's naming with the V prefix.
pub(super) fn is_v_prefixed(stem: &str) -> bool {
    stem.strip_prefix('V')
        .is_some_and(|rest| super::leading_digits(rest) > 0)
}

/// The version and title of a file name, or `None` when golang-migrate would ignore the file.
fn parse(name: &str) -> Option<(bool, &str, &str)> {
    let (stem, up) = if let Some(stem) = name.strip_suffix(".up.sql") {
        (stem, true)
    } else {
        (name.strip_suffix(".down.sql")?, false)
    };
    let stem = stem.strip_prefix('V').unwrap_or(stem);
    let digits = super::leading_digits(stem);
    let title = stem[digits..].strip_prefix('_')?;
    (digits > 0).then(|| (up, &stem[..digits], title))
}

pub(super) fn read(entries: &Entries, folder: &mut Folder) {
    let mut pairs = Pairs::default();
    for path in &entries.files {
        let name = file_name(path);
        let Some((up, version, title)) = parse(name) else {
            folder.ignore(
                path,
                "not named {version}_{title}.up.sql or .down.sql: golang-migrate ignores it",
            );
            continue;
        };
        match super::version_number(version) {
            Ok(version) => pairs.add(folder, up, version, title, path),
            Err(message) => folder.problems.push(invalid(path, message)),
        }
    }
    for dir in &entries.dirs {
        folder.ignore(
            dir,
            "a folder: golang-migrate reads the files of the folder itself",
        );
    }
    // golang-migrate pairs by version only: a down file's title may differ.
    pairs.finish(folder, false, read_script);
}

fn read_script(path: &Path) -> Result<Script, SourceError> {
    let text = source::read_text(path)?;
    let mut directives = source::directives(&text).map_err(|m| invalid(path, m))?;
    let mut sql = text.clone();
    for range in transaction_wrapper(&sql) {
        super::blank(&mut sql, range);
    }
    directives.no_transaction =
        super::implicit_no_transaction(&sql).map_err(|m| invalid(path, m))?;
    let mut script = Script::new(path, sql, directives);
    script.checksum = source::checksum(&text);
    Ok(script)
}

/// The byte ranges of a BEGIN (or START TRANSACTION) opening the file and the COMMIT (or END)
/// closing it, when the file has both; none otherwise.
fn transaction_wrapper(sql: &str) -> Vec<std::ops::Range<usize>> {
    let kind = |node: Option<&NodeEnum>| match node {
        Some(NodeEnum::TransactionStmt(s)) => Some(s.kind),
        _ => None,
    };
    let mut first = None;
    let mut last = None;
    let _ = source::for_each_statement(sql, |range, node| {
        if first.is_none() {
            first = Some((range.clone(), kind(node)));
        }
        last = Some((range, kind(node)));
        ControlFlow::<()>::Continue(())
    });
    let begins = [
        TransactionStmtKind::TransStmtBegin as i32,
        TransactionStmtKind::TransStmtStart as i32,
    ];
    match (first, last) {
        (Some((open, Some(o))), Some((close, Some(c))))
            if open != close
                && begins.contains(&o)
                && c == TransactionStmtKind::TransStmtCommit as i32 =>
        {
            // The statements' ranges leave out their semicolons: blank those too.
            let through_semicolon = |range: std::ops::Range<usize>| {
                let end = if sql[range.end..].starts_with(';') {
                    range.end + 1
                } else {
                    range.end
                };
                range.start..end
            };
            vec![through_semicolon(open), through_semicolon(close)]
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use crate::layout::{Layout, load};

    #[test]
    fn v_prefixed_padded_names_and_the_no_transaction_rule() {
        let dir = tempfile::tempdir().expect("tempdir");
        let write =
            |name: &str, sql: &str| std::fs::write(dir.path().join(name), sql).expect("write");
        write(
            "V001_initial_schema.up.sql",
            "BEGIN;\nCREATE TABLE t(x int);\nCOMMIT;\n",
        );
        write("V001_initial_schema.down.sql", "DROP TABLE t;");
        write(
            "0002_index.up.sql",
            "CREATE INDEX CONCURRENTLY i ON t(x);\n",
        );
        write("0002_index.down.sql", "DROP INDEX CONCURRENTLY i;\n");
        write("3_seed.up.sql", "INSERT INTO t VALUES (1);");
        write("notes.sql", "SELECT 1;");
        write("schema.up.json", "{}");
        let folder = load(dir.path(), Some(Layout::GolangMigrate)).expect("loads");
        let read: Vec<_> = folder
            .migrations
            .iter()
            .map(|m| (m.version, m.name.as_str(), m.up.directives.no_transaction))
            .collect();
        assert_eq!(
            read,
            [
                (1, "initial_schema", false),
                (2, "index", true),
                (3, "seed", false)
            ]
        );
        let first = &folder.migrations[0].up;
        assert!(!first.sql.contains("BEGIN") && !first.sql.contains("COMMIT"));
        assert_eq!(first.sql.lines().nth(1), Some("CREATE TABLE t(x int);"));
        assert_eq!(
            first.checksum,
            crate::source::checksum("BEGIN;\nCREATE TABLE t(x int);\nCOMMIT;\n")
        );
        assert!(
            folder.migrations[1]
                .down
                .as_ref()
                .expect("down")
                .directives
                .no_transaction
        );
        let ignored: Vec<_> = folder
            .ignored
            .iter()
            .map(|i| (crate::layout::file_name(&i.path), i.warning))
            .collect();
        assert_eq!(ignored, [("notes.sql", true), ("schema.up.json", false)]);

        write(
            "4_mixed.up.sql",
            "CREATE TABLE u(x int);\nCREATE INDEX CONCURRENTLY j ON u(x);\n",
        );
        write("V01_dup.up.sql", "SELECT 1;");
        let error = load(dir.path(), Some(Layout::GolangMigrate))
            .expect_err("refused")
            .to_string();
        assert!(
            error.contains("4_mixed.up.sql: line 2: CREATE INDEX CONCURRENTLY"),
            "{error}"
        );
        assert!(
            error.contains("V01_dup.up.sql: version 1 is also used by"),
            "{error}"
        );
    }
}
