//! dbmate: one `{version}_{name}.sql` per migration, with a `-- migrate:up` section and an
//! optional `-- migrate:down` one; `transaction:false` on a section's marker line runs that
//! direction outside a transaction. Each section is a script of its own: its checksum is its
//! own text's (editing the down section does not change the up checksum), and what runs is
//! the file with the other section blanked (so reported lines are the file's). As dbmate
//! does, files not named `{digits}….sql` are ignored, and a file without an up section, or
//! with statements outside the sections, is refused.

use super::{Entries, Folder, file_name, invalid};
use crate::source::{self, Directives, Migration, Script, SourceError};
use std::io::Read as _;
use std::ops::Range;
use std::path::Path;

/// A `-- migrate:up` / `-- migrate:down` line: which, the range of the line, its options.
struct Marker {
    up: bool,
    line: Range<usize>,
    no_transaction: bool,
}

fn markers(text: &str) -> Vec<Marker> {
    let mut found = Vec::new();
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let range = start..start + line.len();
        start = range.end;
        let Some(rest) = line.trim_end().strip_prefix("--") else {
            continue;
        };
        let Some(rest) = rest.trim_start().strip_prefix("migrate:") else {
            continue;
        };
        let (up, options) = if let Some(options) = rest.strip_prefix("up") {
            (true, options)
        } else if let Some(options) = rest.strip_prefix("down") {
            (false, options)
        } else {
            continue;
        };
        if !(options.is_empty() || options.starts_with(char::is_whitespace)) {
            continue;
        }
        found.push(Marker {
            up,
            line: range,
            no_transaction: options.split_whitespace().any(|o| o == "transaction:false"),
        });
    }
    found
}

/// Whether the file has a `-- migrate:up` line in its first 64 KiB (for detection).
pub(super) fn has_up_marker(path: &Path) -> bool {
    let mut head = Vec::new();
    let read = std::fs::File::open(path).and_then(|f| f.take(64 * 1024).read_to_end(&mut head));
    read.is_ok()
        && markers(&String::from_utf8_lossy(&head))
            .iter()
            .any(|m| m.up)
}

pub(super) fn read(entries: &Entries, folder: &mut Folder) {
    let mut seen: std::collections::BTreeMap<i64, std::path::PathBuf> = Default::default();
    for path in &entries.files {
        let name = file_name(path);
        let digits = super::leading_digits(name);
        let Some(stem) = name.strip_suffix(".sql").filter(|_| digits > 0) else {
            folder.ignore(path, "not named {version}_{name}.sql: dbmate ignores it");
            continue;
        };
        let version = match super::version_number(&stem[..digits]) {
            Ok(version) => version,
            Err(message) => {
                folder.problems.push(invalid(path, message));
                continue;
            }
        };
        if let Some(other) = seen.get(&version) {
            folder.problems.push(invalid(
                path,
                format!("version {version} is also used by {}", other.display()),
            ));
            continue;
        }
        seen.insert(version, path.clone());
        let name = stem[digits..].strip_prefix('_').unwrap_or(&stem[digits..]);
        match read_sections(path) {
            Ok((up, down)) => folder.migrations.push(Migration {
                version,
                name: name.to_owned(),
                up,
                down,
            }),
            Err(e) => {
                folder.problems.push(e);
                folder.unreadable.push(version);
            }
        }
    }
    for dir in &entries.dirs {
        folder.ignore(dir, "a folder: dbmate reads the files of the folder itself");
    }
}

fn read_sections(path: &Path) -> Result<(Script, Option<Script>), SourceError> {
    let text = source::read_text(path)?;
    let markers = markers(&text);
    let Some(up_at) = markers.iter().position(|m| m.up) else {
        return Err(invalid(
            path,
            "no `-- migrate:up` section: dbmate requires one",
        ));
    };
    let first = &markers[0];
    if !first.up {
        return Err(invalid(
            path,
            "`-- migrate:down` comes before `-- migrate:up`: dbmate requires the up section first",
        ));
    }
    if markers.iter().filter(|m| m.up).count() > 1 || markers.iter().filter(|m| !m.up).count() > 1 {
        return Err(invalid(
            path,
            "more than one -- migrate:up or -- migrate:down line",
        ));
    }
    let before = &text[..first.line.start];
    if before.lines().any(|l| {
        let l = l.trim();
        !l.is_empty() && !l.starts_with("--")
    }) {
        return Err(invalid(
            path,
            "statements before `-- migrate:up`: dbmate refuses statements outside its sections",
        ));
    }
    let up = &markers[up_at];
    let down = markers.iter().find(|m| !m.up);
    let up_body = up.line.end..down.map_or(text.len(), |d| d.line.start);
    let section = |marker: &Marker, body: Range<usize>| -> Result<Script, SourceError> {
        let mut sql = text.clone();
        let end = sql.len();
        super::blank(&mut sql, body.end..end);
        super::blank(&mut sql, 0..body.start);
        let directives = Directives {
            no_transaction: marker.no_transaction,
            ..source::directives(&text[body.clone()]).map_err(|m| invalid(path, m))?
        };
        let mut script = Script::new(path, sql, directives);
        script.checksum = source::checksum(&text[body]);
        Ok(script)
    };
    let up_script = section(up, up_body)?;
    let down_script = match down {
        Some(down) => Some(section(down, down.line.end..text.len())?),
        None => None,
    };
    Ok((up_script, down_script))
}

#[cfg(test)]
mod tests {
    use crate::layout::{Layout, load};
    use crate::source::checksum;

    #[test]
    fn sections_are_scripts_of_their_own() {
        let dir = tempfile::tempdir().expect("tempdir");
        let write =
            |name: &str, sql: &str| std::fs::write(dir.path().join(name), sql).expect("write");
        let file = "-- the users\n-- migrate:up\nCREATE TABLE users(id int);\n\n-- migrate:down\nDROP TABLE users;\n";
        write("20240101000000_create_users.sql", file);
        write(
            "20240102000000_index.sql",
            "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY u ON users(id);\n-- migrate:down\nDROP INDEX u;\n",
        );
        write("schema.sql", "-- dbmate's dump");
        let folder = load(dir.path(), Some(Layout::Dbmate)).expect("loads");
        let first = &folder.migrations[0];
        assert_eq!(
            (first.version, first.name.as_str()),
            (20240101000000, "create_users")
        );
        assert_eq!(
            first.up.checksum,
            checksum("CREATE TABLE users(id int);\n\n")
        );
        let down = first.down.as_ref().expect("down");
        assert_eq!(down.checksum, checksum("DROP TABLE users;\n"));
        // Lines stay the file's: the up statement is on line 3, the down one on line 6.
        assert_eq!(
            first.up.sql.lines().nth(2),
            Some("CREATE TABLE users(id int);")
        );
        assert!(!first.up.sql.contains("DROP"));
        assert_eq!(down.sql.lines().nth(5), Some("DROP TABLE users;"));
        assert!(!down.sql.contains("CREATE"));
        let second = &folder.migrations[1];
        assert!(second.up.directives.no_transaction);
        assert!(
            !second
                .down
                .as_ref()
                .expect("down")
                .directives
                .no_transaction
        );
        assert!(folder.ignored[0].warning);

        // A down edit leaves the up checksum alone.
        write(
            "20240101000000_create_users.sql",
            &file.replace("DROP TABLE users", "DROP TABLE IF EXISTS users"),
        );
        let again = load(dir.path(), Some(Layout::Dbmate)).expect("loads");
        assert_eq!(again.migrations[0].up.checksum, first.up.checksum);
        assert_ne!(
            again.migrations[0].down.as_ref().expect("down").checksum,
            down.checksum
        );

        write(
            "20240103000000_bad.sql",
            "CREATE TABLE x();\n-- migrate:up\nSELECT 1;\n",
        );
        write("20240104000000_none.sql", "SELECT 1;\n");
        let error = load(dir.path(), Some(Layout::Dbmate))
            .expect_err("refused")
            .to_string();
        assert!(
            error.contains("20240103000000_bad.sql: statements before"),
            "{error}"
        );
        assert!(
            error.contains("20240104000000_none.sql: no `-- migrate:up`"),
            "{error}"
        );
    }
}
