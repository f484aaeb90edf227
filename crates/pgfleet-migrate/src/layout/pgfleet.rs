//! pgfleet's own layout: `<version>_<name>.up.sql` and an optional `.down.sql`, with
//! `-- pgfleet:` directives. Every `.sql` file must follow it: a misnamed one is a migration
//! that would never run.

use super::{Entries, Folder, Pairs, file_name, invalid};
use crate::source;

pub(super) fn read(entries: &Entries, folder: &mut Folder) {
    let mut pairs = Pairs::default();
    for path in &entries.files {
        let name = file_name(path);
        if !name.ends_with(".sql") {
            folder.ignore(path, "not a .sql file");
            continue;
        }
        let (stem, up) = if let Some(stem) = name.strip_suffix(".up.sql") {
            (stem, true)
        } else if let Some(stem) = name.strip_suffix(".down.sql") {
            (stem, false)
        } else {
            folder.problems.push(invalid(
                path,
                "migration files are named <version>_<name>.up.sql or <version>_<name>.down.sql\n  \
                 hint: if the folder is another tool's, set `layout` on the service (sqlx, dbmate, flyway…)",
            ));
            continue;
        };
        let (version, title) = stem.split_once('_').unwrap_or((stem, ""));
        match super::version_number(version) {
            Ok(version) => pairs.add(folder, up, version, title, path),
            Err(message) => folder.problems.push(invalid(path, message)),
        }
    }
    for dir in &entries.dirs {
        folder.ignore(
            dir,
            "a folder (pgfleet reads the files of the folder itself)",
        );
    }
    pairs.finish(folder, true, source::read_script);
}

#[cfg(test)]
mod tests {
    use crate::layout::{Layout, load, scan};

    #[test]
    fn files_pair_up_and_bad_names_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let write =
            |name: &str, sql: &str| std::fs::write(dir.path().join(name), sql).expect("write");
        write(
            "002_add_index.up.sql",
            "-- pgfleet:no-transaction\nCREATE INDEX CONCURRENTLY i ON t(x);",
        );
        write("001_init.up.sql", "CREATE TABLE t(x int);");
        write("001_init.down.sql", "DROP TABLE t;");
        write("README.md", "not sql");
        let layout = Some(Layout::Pgfleet);
        let found = load(dir.path(), layout).expect("loads");
        assert_eq!(
            found
                .migrations
                .iter()
                .map(|m| (m.version, m.name.as_str(), m.down.is_some()))
                .collect::<Vec<_>>(),
            [(1, "init", true), (2, "add_index", false)]
        );
        assert!(found.migrations[1].up.directives.no_transaction);
        assert_eq!(found.ignored.len(), 1);
        assert!(!found.ignored[0].warning);
        write("3_oops.sql", "");
        assert!(load(dir.path(), layout).is_err());
        assert!(
            load(&dir.path().join("missing"), layout)
                .expect("empty")
                .migrations
                .is_empty()
        );
        // Every problem at once, and what could be read is still there.
        std::fs::write(dir.path().join("004_bad.up.sql"), b"\xff").expect("write");
        write("005_lonely.down.sql", "");
        write("V006_x.up.sql", "");
        let folder = scan(dir.path(), layout);
        assert_eq!(folder.migrations.len(), 2);
        assert_eq!(folder.unreadable, [4]);
        assert_eq!(folder.problems.len(), 4, "{:?}", folder.problems);
        let all = load(dir.path(), layout).expect_err("problems").to_string();
        assert_eq!(
            all.lines().filter(|l| !l.starts_with("  hint")).count(),
            4,
            "{all}"
        );
    }
}
