//! diesel: a folder per migration, `{version}_{name}/` holding `up.sql`, an optional
//! `down.sql` and an optional `metadata.toml` (`run_in_transaction = false`). The version is
//! the name's leading part with its dashes removed (`2024-01-15-093000_x` → 20240115093000,
//! `00000000000000_diesel_initial_setup` → 0). As diesel does, files beside the folders and
//! hidden folders are ignored, and a folder without `up.sql` is refused.

use super::{Entries, Folder, file_name, invalid};
use crate::source::{self, Directives, Migration, Script, SourceError};
use std::path::Path;

/// A folder named like a diesel migration, holding an `up.sql`.
pub(super) fn is_migration_dir(dir: &Path) -> bool {
    super::leading_digits(file_name(dir)) > 0 && dir.join("up.sql").is_file()
}

/// `2024-01-15-093000_x` → (20240115093000, "x").
fn parse(name: &str) -> Result<(i64, &str), String> {
    let (version, title) = name.split_once('_').unwrap_or((name, ""));
    let digits: String = version.chars().filter(|c| *c != '-').collect();
    let version = super::version_number(&digits).map_err(|_| {
        format!(
            "`{version}` is not a diesel version (digits and dashes, such as 2024-01-15-093000)"
        )
    })?;
    Ok((version, title))
}

pub(super) fn read(entries: &Entries, folder: &mut Folder) {
    for path in &entries.files {
        folder.ignore(
            path,
            "a file beside the migration folders: diesel ignores it",
        );
    }
    let mut seen: std::collections::BTreeMap<i64, std::path::PathBuf> = Default::default();
    for dir in &entries.dirs {
        let name = file_name(dir);
        if name.starts_with('.') {
            folder.ignore(dir, "a hidden folder: diesel ignores it");
            continue;
        }
        let (version, title) = match parse(name) {
            Ok(parsed) => parsed,
            Err(message) => {
                folder.problems.push(invalid(dir, message));
                continue;
            }
        };
        if let Some(other) = seen.get(&version) {
            folder.problems.push(invalid(
                dir,
                format!("version {version} is also used by {}", other.display()),
            ));
            continue;
        }
        seen.insert(version, dir.clone());
        let up_path = dir.join("up.sql");
        if !up_path.is_file() {
            folder.problems.push(invalid(
                dir,
                "a migration folder without up.sql: diesel refuses it",
            ));
            continue;
        }
        for inner in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let inner = inner.path();
            if !matches!(file_name(&inner), "up.sql" | "down.sql" | "metadata.toml") {
                folder.ignore(
                    &inner,
                    "not up.sql, down.sql or metadata.toml: diesel ignores it",
                );
            }
        }
        let no_transaction = match run_in_transaction(&dir.join("metadata.toml")) {
            Ok(run_in_transaction) => !run_in_transaction,
            Err(e) => {
                folder.problems.push(e);
                folder.unreadable.push(version);
                continue;
            }
        };
        let read = |path: &Path| -> Result<Script, SourceError> {
            let sql = source::read_text(path)?;
            let directives = Directives {
                no_transaction,
                ..source::directives(&sql).map_err(|m| invalid(path, m))?
            };
            Ok(Script::new(path, sql, directives))
        };
        let down_path = dir.join("down.sql");
        let down = if down_path.is_file() {
            match read(&down_path) {
                Ok(down) => Some(down),
                Err(e) => {
                    folder.problems.push(e);
                    None
                }
            }
        } else {
            None
        };
        match read(&up_path) {
            Ok(up) => folder.migrations.push(Migration {
                version,
                name: title.to_owned(),
                up,
                down,
            }),
            Err(e) => {
                folder.problems.push(e);
                folder.unreadable.push(version);
            }
        }
    }
}

/// `metadata.toml`'s `run_in_transaction` (default true, as without the file).
fn run_in_transaction(path: &Path) -> Result<bool, SourceError> {
    if !path.is_file() {
        return Ok(true);
    }
    let text = source::read_text(path)?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| invalid(path, e.message().to_owned()))?;
    match table.get("run_in_transaction") {
        None => Ok(true),
        Some(toml::Value::Boolean(value)) => Ok(*value),
        Some(_) => Err(invalid(path, "run_in_transaction is true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::parse;
    use crate::layout::{Layout, load};

    #[test]
    fn versions_are_the_leading_digits_without_dashes() {
        assert_eq!(parse("2024-01-15-093000_x"), Ok((20240115093000, "x")));
        assert_eq!(
            parse("00000000000000_diesel_initial_setup"),
            Ok((0, "diesel_initial_setup"))
        );
        assert_eq!(parse("20240115093000_a_b"), Ok((20240115093000, "a_b")));
        assert!(parse("init_x").is_err());
        assert!(parse("2024-01-x_y").is_err());
    }

    #[test]
    fn folders_metadata_and_what_diesel_ignores_or_refuses() {
        let dir = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, sql: &str| {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, sql).expect("write");
        };
        write("00000000000000_diesel_initial_setup/up.sql", "SELECT 1;");
        write("00000000000000_diesel_initial_setup/down.sql", "SELECT 1;");
        write(
            "2024-01-15-093000_index/up.sql",
            "CREATE INDEX CONCURRENTLY i ON t(x);",
        );
        write(
            "2024-01-15-093000_index/metadata.toml",
            "run_in_transaction = false\n",
        );
        write("2024-01-15-093000_index/notes.txt", "why");
        write(".keep", "");
        let folder = load(dir.path(), Some(Layout::Diesel)).expect("loads");
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
                (0, "diesel_initial_setup", false, true),
                (20240115093000, "index", true, false)
            ]
        );
        assert_eq!(folder.ignored.len(), 2);
        write("2024-02-01-000000_empty/down.sql", "SELECT 1;");
        write("2024-03-01-000000_bad/up.sql", "SELECT 1;");
        write(
            "2024-03-01-000000_bad/metadata.toml",
            "run_in_transaction = \"no\"",
        );
        let error = load(dir.path(), Some(Layout::Diesel))
            .expect_err("refused")
            .to_string();
        assert!(
            error.contains("2024-02-01-000000_empty: a migration folder without up.sql"),
            "{error}"
        );
        assert!(
            error.contains("metadata.toml: run_in_transaction is true or false"),
            "{error}"
        );
    }
}
