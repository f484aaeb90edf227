//! sqlx: `{version}_{description}.sql` (up only) or `{version}_{description}.up.sql` and
//! `.down.sql`; `-- no-transaction` opening a file runs it outside a transaction. As sqlx
//! does, a file without `_` or not ending in `.sql` is ignored, and one whose part before the
//! first `_` is not a number is refused.

use super::{Entries, Folder, Pairs, file_name, invalid};
use crate::source::{self, Script, SourceError};
use std::path::Path;

pub(super) fn read(entries: &Entries, folder: &mut Folder) {
    let mut pairs = Pairs::default();
    let mut simple: Vec<(i64, String, std::path::PathBuf)> = Vec::new();
    for path in &entries.files {
        let name = file_name(path);
        let Some((version, rest)) = name.split_once('_').filter(|(_, r)| r.ends_with(".sql"))
        else {
            folder.ignore(
                path,
                "not named {version}_{description}.sql: sqlx ignores it",
            );
            continue;
        };
        let version = match super::version_number(version) {
            Ok(version) => version,
            Err(message) => {
                folder.problems.push(invalid(
                    path,
                    format!("{message}: sqlx expects an integer version prefix (e.g. 01_foo.sql)"),
                ));
                continue;
            }
        };
        if let Some(title) = rest.strip_suffix(".up.sql") {
            pairs.add(folder, true, version, title, path);
        } else if let Some(title) = rest.strip_suffix(".down.sql") {
            pairs.add(folder, false, version, title, path);
        } else {
            let title = rest.strip_suffix(".sql").unwrap_or(rest);
            simple.push((version, title.to_owned(), path.clone()));
        }
    }
    for dir in &entries.dirs {
        folder.ignore(dir, "a folder: sqlx reads the files of the folder itself");
    }
    pairs.finish(folder, true, read_script);
    for (version, name, path) in simple {
        if let Some(other) = folder.migrations.iter().find(|m| m.version == version) {
            folder.problems.push(invalid(
                &path,
                format!(
                    "version {version} is also used by {}",
                    other.up.path.display()
                ),
            ));
            continue;
        }
        match read_script(&path) {
            Ok(up) => folder.migrations.push(crate::source::Migration {
                version,
                name,
                up,
                down: None,
            }),
            Err(e) => {
                folder.problems.push(e);
                folder.unreadable.push(version);
            }
        }
    }
}

fn read_script(path: &Path) -> Result<Script, SourceError> {
    let sql = source::read_text(path)?;
    let mut directives = source::directives(&sql).map_err(|m| invalid(path, m))?;
    // sqlx's own test, byte for byte.
    directives.no_transaction = sql.starts_with("-- no-transaction");
    Ok(Script::new(path, sql, directives))
}

#[cfg(test)]
mod tests {
    use crate::layout::{Layout, load};

    #[test]
    fn simple_and_reversible_files_and_the_no_transaction_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let write =
            |name: &str, sql: &str| std::fs::write(dir.path().join(name), sql).expect("write");
        write(
            "20240101000000_create_users.sql",
            "CREATE TABLE users(id int);",
        );
        write(
            "20240102000000_index_users.sql",
            "-- no-transaction\nCREATE INDEX CONCURRENTLY u ON users(id);",
        );
        write(
            "20240103000000_add_email.up.sql",
            "ALTER TABLE users ADD email text;",
        );
        write(
            "20240103000000_add_email.down.sql",
            "ALTER TABLE users DROP email;",
        );
        write("README.md", "docs");
        write("schema.sql", "-- a dump");
        let folder = load(dir.path(), Some(Layout::Sqlx)).expect("loads");
        let read: Vec<_> = folder
            .migrations
            .iter()
            .map(|m| {
                (
                    m.version,
                    m.name.as_str(),
                    m.up.directives.no_transaction,
                    m.down.is_some(),
                )
            })
            .collect();
        assert_eq!(
            read,
            [
                (20240101000000, "create_users", false, false),
                (20240102000000, "index_users", true, false),
                (20240103000000, "add_email", false, true),
            ]
        );
        assert_eq!(folder.ignored.len(), 2);
        write("init_schema.sql", "SELECT 1;");
        write("20240101000000_zz_again.sql", "SELECT 1;");
        let error = load(dir.path(), Some(Layout::Sqlx))
            .expect_err("refused")
            .to_string();
        assert!(
            error.contains("init_schema.sql: `init` is not a version number"),
            "{error}"
        );
        assert!(
            error.contains("20240101000000_zz_again.sql: version 20240101000000 is also used"),
            "{error}"
        );
    }
}
