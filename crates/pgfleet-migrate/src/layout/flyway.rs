//! Flyway: `V{version}__{description}.sql` versioned, `U{version}__{description}.sql` its undo
//! (pgfleet's down), `R__{description}.sql` repeatable. A `{file}.conf` beside a script with
//! `executeInTransaction=false` runs it outside a transaction; without one, Flyway's own
//! detection applies: a file of only statements that cannot run in a transaction runs
//! outside one, a file mixing both is refused.
//!
//! Versions: Flyway's are dotted (`1`, `1.1`, `2_0_1`: `_` is a dot), pgfleet's are i64.
//! The mapping keeps their order: up to four parts, the first of up to 6 digits and the others
//! of up to 4, as `p1·10¹² + p2·10⁸ + p3·10⁴ + p4` (`1` → 1000000000000, `1.1` →
//! 1000100000000, `2.0.1` → 2000000010000). A version the rule cannot carry is refused,
//! naming the file. `1` and `1.0` are the same version, as in Flyway.

use super::{Entries, Folder, Pairs, Repeatable, file_name, invalid};
use crate::source::{self, Script, SourceError};
use std::path::Path;

/// Whether a file name is one of Flyway's migration names.
pub(super) fn is_flyway_name(name: &str) -> bool {
    matches!(parse(name), Some(Ok(_)) | Some(Err(_)))
}

enum Kind<'a> {
    Versioned(&'a str),
    Undo(&'a str),
    Repeatable,
}

/// The kind and description of a Flyway file name; `Err` for a Flyway-looking name pgfleet
/// cannot read (a baseline migration); `None` when Flyway would not take it for a migration.
fn parse(name: &str) -> Option<Result<(Kind<'_>, &str), String>> {
    let stem = name.strip_suffix(".sql")?;
    if let Some(description) = stem.strip_prefix("R__") {
        return Some(Ok((Kind::Repeatable, description)));
    }
    let (prefix, rest) = stem.split_at_checked(1)?;
    let (version, description) = rest.split_once("__")?;
    if version.is_empty()
        || !version
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'_')
    {
        return None;
    }
    match prefix {
        "V" => Some(Ok((Kind::Versioned(version), description))),
        "U" => Some(Ok((Kind::Undo(version), description))),
        "B" => Some(Err(
            "a Flyway baseline migration: pgfleet does not read them (see `pgfleet migrate baseline`)"
                .to_owned(),
        )),
        _ => None,
    }
}

/// Flyway's version text as pgfleet's i64 (see the module's documentation).
pub fn version(text: &str) -> Result<i64, String> {
    let parts: Vec<&str> = text.split(['.', '_']).collect();
    let cannot = |why: &str| {
        format!(
            "version `{text}` {why}: pgfleet carries Flyway versions of up to 4 parts, the first of up to 6 digits, the others of up to 4"
        )
    };
    if parts.len() > 4 {
        return Err(cannot("has more than 4 parts"));
    }
    let mut value: i64 = 0;
    for (i, part) in parts.iter().enumerate() {
        let part = part.trim_start_matches('0');
        let limit = if i == 0 { 6 } else { 4 };
        if part.len() > limit {
            return Err(cannot(&format!("has a part of more than {limit} digits")));
        }
        let number: i64 = if part.is_empty() {
            0
        } else {
            part.parse().map_err(|_| cannot("is not a number"))?
        };
        value += number * 10_i64.pow(4 * (3 - i as u32));
    }
    if parts.iter().any(|p| p.is_empty()) {
        return Err(cannot("has an empty part"));
    }
    Ok(value)
}

/// Flyway runs files named like its callbacks around a migration; pgfleet does not.
fn is_callback(name: &str) -> bool {
    let stem = name.strip_suffix(".sql").unwrap_or(name);
    [
        "beforeMigrate",
        "beforeEachMigrate",
        "beforeEachMigrateStatement",
        "afterEachMigrate",
        "afterEachMigrateStatement",
        "afterMigrate",
        "afterMigrateApplied",
        "afterVersioned",
        "afterMigrateError",
        "beforeRepeatables",
        "beforeClean",
        "afterClean",
        "beforeValidate",
        "afterValidate",
        "beforeUndo",
        "afterUndo",
    ]
    .iter()
    .any(|c| stem == *c || stem.strip_prefix(c).is_some_and(|r| r.starts_with("__")))
}

pub(super) fn read(entries: &Entries, folder: &mut Folder) {
    let mut pairs = Pairs::default();
    for path in &entries.files {
        let name = file_name(path);
        if let Some(script) = name.strip_suffix(".conf")
            && script.ends_with(".sql")
            && path.with_file_name(script).is_file()
        {
            continue;
        }
        if name.ends_with(".sql") && is_callback(name) {
            folder.problems.push(invalid(
                path,
                "a Flyway callback: pgfleet does not run callbacks\n  hint: make it a versioned migration",
            ));
            continue;
        }
        let (kind, description) = match parse(name) {
            None => {
                folder.ignore(
                    path,
                    "not named V…__…sql, U…__…sql or R__…sql: Flyway ignores it",
                );
                continue;
            }
            Some(Err(message)) => {
                folder.problems.push(invalid(path, message));
                continue;
            }
            Some(Ok(parsed)) => parsed,
        };
        match kind {
            Kind::Repeatable => match read_script(path) {
                Ok(script) => folder.repeatables.push(Repeatable {
                    name: description.to_owned(),
                    script,
                }),
                Err(e) => folder.problems.push(e),
            },
            Kind::Versioned(text) | Kind::Undo(text) => match version(text) {
                Ok(number) => pairs.add(
                    folder,
                    matches!(kind, Kind::Versioned(_)),
                    number,
                    description,
                    path,
                ),
                Err(message) => folder.problems.push(invalid(path, message)),
            },
        }
    }
    for dir in &entries.dirs {
        folder.ignore(
            dir,
            "a folder: pgfleet reads Flyway's files of the folder itself",
        );
    }
    // Flyway pairs an undo with its versioned migration by version only.
    pairs.finish(folder, false, read_script);
}

fn read_script(path: &Path) -> Result<Script, SourceError> {
    let sql = source::read_text(path)?;
    let mut directives = source::directives(&sql).map_err(|m| invalid(path, m))?;
    directives.no_transaction = match execute_in_transaction(path)? {
        Some(in_transaction) => !in_transaction,
        None => super::implicit_no_transaction(&sql).map_err(|m| invalid(path, m))?,
    };
    Ok(Script::new(path, sql, directives))
}

/// `executeInTransaction` of the script's `.conf` file, when it says.
fn execute_in_transaction(script: &Path) -> Result<Option<bool>, SourceError> {
    let conf = script.with_file_name(format!("{}.conf", file_name(script)));
    if !conf.is_file() {
        return Ok(None);
    }
    let text = source::read_text(&conf)?;
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim() == "executeInTransaction" {
            return match value.trim() {
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                other => Err(invalid(
                    &conf,
                    format!("executeInTransaction is true or false, not `{other}`"),
                )),
            };
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::version;
    use crate::layout::{Layout, load};

    #[test]
    fn versions_map_in_order_and_what_cannot_be_carried_is_refused() {
        assert_eq!(version("1"), Ok(1_0000_0000_0000));
        assert_eq!(version("1.1"), Ok(1_0001_0000_0000));
        assert_eq!(version("2_0_1"), Ok(2_0000_0001_0000));
        assert_eq!(version("1.0"), version("1"));
        assert_eq!(version("001"), version("1"));
        let order = [
            "0.9",
            "1",
            "1.0.1",
            "1.2",
            "1.10",
            "2",
            "10.0.0.1",
            "999999.9999.9999.9999",
        ];
        let mapped: Vec<i64> = order.iter().map(|v| version(v).expect(v)).collect();
        assert!(mapped.windows(2).all(|w| w[0] < w[1]), "{mapped:?}");
        assert!(version("1.2.3.4.5").is_err());
        assert!(version("1.12345").is_err());
        assert!(version("20240115093000").is_err());
        assert!(version("1..2").is_err());
    }

    #[test]
    fn versioned_undo_repeatable_and_ignored_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let write =
            |name: &str, sql: &str| std::fs::write(dir.path().join(name), sql).expect("write");
        write("V1__create_users.sql", "CREATE TABLE users(id int);");
        write("U1__create_users.sql", "DROP TABLE users;");
        write(
            "V1_1__index_users.sql",
            "CREATE INDEX CONCURRENTLY u ON users(id);",
        );
        write("V2__backfill.sql", "UPDATE users SET id = id;");
        write("V2__backfill.sql.conf", "executeInTransaction=false\n");
        write(
            "R__users_view.sql",
            "CREATE OR REPLACE VIEW v AS SELECT * FROM users;",
        );
        write("notes.sql", "SELECT 1;");
        write("README.md", "docs");
        let folder = load(dir.path(), Some(Layout::Flyway)).expect("loads");
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
                (1_0000_0000_0000, "create_users", false, true),
                (1_0001_0000_0000, "index_users", true, false),
                (2_0000_0000_0000, "backfill", true, false),
            ]
        );
        assert_eq!(folder.repeatables.len(), 1);
        assert_eq!(folder.repeatables[0].name, "users_view");
        let ignored: Vec<_> = folder
            .ignored
            .iter()
            .map(|i| (crate::layout::file_name(&i.path), i.warning))
            .collect();
        assert_eq!(ignored, [("README.md", false), ("notes.sql", true)]);
        write("V3.12345__too_long.sql", "SELECT 1;");
        write("afterMigrate.sql", "SELECT 1;");
        write("V1.0__again.sql", "SELECT 1;");
        let error = load(dir.path(), Some(Layout::Flyway))
            .expect_err("refused")
            .to_string();
        assert!(
            error.contains("V3.12345__too_long.sql: version `3.12345`"),
            "{error}"
        );
        assert!(
            error.contains("afterMigrate.sql: a Flyway callback"),
            "{error}"
        );
        assert!(
            error.contains("version 1000000000000 is also used by"),
            "{error}"
        );
    }
}
