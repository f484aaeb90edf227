//! Migration folders in the layouts of the tools teams come from, read as each tool reads them:
//! what the tool would run is a [`Migration`], what it ignores is listed as ignored, what it
//! would refuse is a problem naming the file. `scan` and `load` are the one way in; the
//! layout is the manifest's `layout` or, when absent, [`detect`]ed from the folder.

mod dbmate;
mod diesel;
pub(crate) mod flyway;
mod golang_migrate;
mod pgfleet;
mod sqlx;

use crate::source::{Migration, Script, SourceError};
pub use pgfleet_core::manifest::Layout;
use serde::Serialize;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

/// A migrations folder as read: the migrations that could be read, and every problem.
#[derive(Debug, Default)]
pub struct Folder {
    pub migrations: Vec<Migration>,
    pub problems: Vec<SourceError>,
    /// Versions whose up file is there but could not be read: not missing, not comparable.
    pub unreadable: Vec<i64>,
    /// False when the folder itself could not be listed (nothing is known of its files).
    pub complete: bool,
    /// The layout it was read in; `None` when it could not be told.
    pub layout: Option<Chosen>,
    /// Flyway's `R__` files: re-applied when edited, which pgfleet's history cannot record yet.
    pub repeatables: Vec<Repeatable>,
    /// What the layout's tool would not run.
    pub ignored: Vec<Ignored>,
}

/// Which layout a folder was read in, and why that one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Chosen {
    pub layout: Layout,
    /// Set in the manifest (else detected).
    pub set: bool,
    pub why: String,
}

/// A Flyway repeatable migration (`R__<description>.sql`).
#[derive(Debug, Clone, Serialize)]
pub struct Repeatable {
    pub name: String,
    #[serde(flatten)]
    pub script: Script,
}

/// A file or folder the layout's tool would not run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ignored {
    pub path: PathBuf,
    pub why: String,
    /// It looks like a migration (a `.sql` file, a folder of them): likely a mistake.
    pub warning: bool,
}

/// The entries of a migrations folder, in name order.
#[derive(Debug)]
pub(crate) struct Entries {
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
    pub dirs: Vec<PathBuf>,
}

/// Reads the migrations folder in `layout` (detected when `None`), collecting every problem
/// instead of stopping at the first (`status` shows them all, beside what the history says).
/// A missing folder is an empty list (a service may have none yet).
pub fn scan(dir: &Path, layout: Option<Layout>) -> Folder {
    let entries = match list(dir) {
        Ok(Some(entries)) => entries,
        Ok(None) => {
            return Folder {
                complete: true,
                layout: Some(Chosen {
                    layout: layout.unwrap_or(Layout::Pgfleet),
                    set: layout.is_some(),
                    why: if layout.is_some() {
                        "set in the manifest".to_owned()
                    } else {
                        "no migrations folder yet".to_owned()
                    },
                }),
                ..Folder::default()
            };
        }
        Err(problem) => {
            return Folder {
                problems: vec![problem],
                ..Folder::default()
            };
        }
    };
    let chosen = match layout {
        Some(layout) => Chosen {
            layout,
            set: true,
            why: "set in the manifest".to_owned(),
        },
        None => match detect(&entries) {
            Ok(chosen) => chosen,
            Err(problem) => {
                return Folder {
                    problems: vec![problem],
                    ..Folder::default()
                };
            }
        },
    };
    let mut folder = Folder {
        complete: true,
        ..Folder::default()
    };
    match chosen.layout {
        Layout::Pgfleet => pgfleet::read(&entries, &mut folder),
        Layout::GolangMigrate => golang_migrate::read(&entries, &mut folder),
        Layout::Sqlx => sqlx::read(&entries, &mut folder),
        Layout::Diesel => diesel::read(&entries, &mut folder),
        Layout::Dbmate => dbmate::read(&entries, &mut folder),
        Layout::Flyway => flyway::read(&entries, &mut folder),
    }
    folder.migrations.sort_by_key(|m| m.version);
    folder.unreadable.sort_unstable();
    folder.ignored.sort_by(|a, b| a.path.cmp(&b.path));
    let explained = !folder.migrations.is_empty()
        || !folder.repeatables.is_empty()
        || !folder.unreadable.is_empty()
        || !folder.problems.is_empty();
    let suspicious: Vec<&Ignored> = folder.ignored.iter().filter(|i| i.warning).collect();
    if !explained && !suspicious.is_empty() {
        let hint = match detect(&entries) {
            Ok(other) if other.layout != chosen.layout => format!(
                "it looks like the {} layout ({}): set `layout = \"{}\"` on the service, or leave `layout` out to detect it",
                other.layout, other.why, other.layout
            ),
            _ => format!(
                "name its migrations as the {} layout does: {}",
                chosen.layout,
                naming(chosen.layout)
            ),
        };
        folder.problems.push(SourceError::Layout {
            dir: entries.dir.clone(),
            message: format!(
                "read in the {} layout ({}), none of its files is a migration, yet {} look like one ({})\n  hint: {hint}",
                chosen.layout,
                chosen.why,
                suspicious.len(),
                suspicious[0].path.display()
            ),
        });
    }
    folder.layout = Some(chosen);
    folder
}

/// Reads the migrations folder; any problem is an error that lists them all.
pub fn load(dir: &Path, layout: Option<Layout>) -> Result<Folder, SourceError> {
    let mut folder = scan(dir, layout);
    match folder.problems.len() {
        0 => Ok(folder),
        1 => Err(folder.problems.remove(0)),
        _ => Err(SourceError::Several(std::mem::take(&mut folder.problems))),
    }
}

/// How a layout names its migrations, for hints.
pub fn naming(layout: Layout) -> &'static str {
    match layout {
        Layout::Pgfleet => "<version>_<name>.up.sql and <version>_<name>.down.sql",
        Layout::GolangMigrate => "<version>_<title>.up.sql and .down.sql (V prefix accepted)",
        Layout::Sqlx => "<version>_<description>.sql, or .up.sql and .down.sql",
        Layout::Diesel => "folders <version>_<name>/ with up.sql and down.sql",
        Layout::Dbmate => "<version>_<name>.sql with -- migrate:up and -- migrate:down sections",
        Layout::Flyway => "V<version>__<description>.sql, U<version>__… (undo), R__… (repeatable)",
    }
}

/// `None` when the folder does not exist.
fn list(dir: &Path) -> Result<Option<Entries>, SourceError> {
    let read = match std::fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(SourceError::Read {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut entries = Entries {
        dir: dir.to_path_buf(),
        files: Vec::new(),
        dirs: Vec::new(),
    };
    for path in read.filter_map(|e| e.ok().map(|e| e.path())) {
        if path.is_dir() {
            entries.dirs.push(path);
        } else if path.is_file() {
            entries.files.push(path);
        }
    }
    entries.files.sort();
    entries.dirs.sort();
    Ok(Some(entries))
}

/// The layout a folder's own files show. Each layout has a signature; golang-migrate and sqlx
/// read pgfleet-style `.up.sql` files too, so those are pgfleet's unless V-prefixed files
/// make the folder golang-migrate's; sqlx's is a folder of up-only `<version>_….sql` files.
/// Two other signatures at once cannot be told apart: an error asking for `layout`.
pub fn detect_layout(dir: &Path) -> Result<Chosen, SourceError> {
    match list(dir)? {
        Some(entries) => detect(&entries),
        None => Ok(Chosen {
            layout: Layout::Pgfleet,
            set: false,
            why: "no migrations folder yet".to_owned(),
        }),
    }
}

pub(crate) fn detect(entries: &Entries) -> Result<Chosen, SourceError> {
    let mut signs: BTreeMap<Layout, (usize, PathBuf)> = BTreeMap::new();
    let mut sign = |layout: Layout, path: &Path| {
        signs
            .entry(layout)
            .or_insert_with(|| (0, path.to_path_buf()))
            .0 += 1;
    };
    for dir in &entries.dirs {
        if diesel::is_migration_dir(dir) {
            sign(Layout::Diesel, dir);
        }
    }
    for path in &entries.files {
        let name = file_name(path);
        if flyway::is_flyway_name(name) {
            sign(Layout::Flyway, path);
        } else if name.ends_with(".down.sql") {
            // A down file is no sign of its own: its up file is.
        } else if let Some(stem) = name.strip_suffix(".up.sql") {
            if golang_migrate::is_v_prefixed(stem) {
                sign(Layout::GolangMigrate, path);
            } else if leading_digits(stem) > 0 {
                sign(Layout::Pgfleet, path);
            }
        } else if let Some(stem) = name.strip_suffix(".sql")
            && leading_digits(stem) > 0
        {
            if dbmate::has_up_marker(path) {
                sign(Layout::Dbmate, path);
            } else if stem.contains('_') {
                sign(Layout::Sqlx, path);
            }
        }
    }
    // golang-migrate reads pgfleet-style pairs too: beside V-prefixed files they are its own.
    // Up-only `.sql` files beside pairs are pgfleet's misnamed files (its reader says so),
    // not a sqlx folder: sqlx's own tooling does not mix the two kinds.
    if let Some((count, _)) = signs.get(&Layout::Pgfleet).cloned() {
        signs.remove(&Layout::Sqlx);
        if let Some(entry) = signs.get_mut(&Layout::GolangMigrate) {
            entry.0 += count;
            signs.remove(&Layout::Pgfleet);
        }
    }
    let describe = |layout: Layout, count: usize, first: &Path| {
        let what = match layout {
            Layout::Diesel => "folder(s) <version>_<name>/ with up.sql",
            Layout::Flyway => "file(s) named V<version>__<description>.sql",
            Layout::Dbmate => "file(s) with a -- migrate:up section",
            Layout::GolangMigrate => "file(s) named V<version>_<title>.up.sql",
            Layout::Sqlx => "file(s) named <version>_<description>.sql",
            Layout::Pgfleet => "file(s) named <version>_<name>.up.sql",
        };
        format!("{count} {what}, such as {}", file_name(first))
    };
    let mut found = signs.iter();
    match (found.next(), found.next()) {
        (None, _) => Ok(Chosen {
            layout: Layout::Pgfleet,
            set: false,
            why: if entries.files.is_empty() && entries.dirs.is_empty() {
                "an empty folder".to_owned()
            } else {
                "no other layout's files".to_owned()
            },
        }),
        (Some((layout, (count, first))), None) => Ok(Chosen {
            layout: *layout,
            set: false,
            why: describe(*layout, *count, first),
        }),
        _ => Err(SourceError::Layout {
            dir: entries.dir.clone(),
            message: format!(
                "holds the files of several layouts: {}\n  hint: set `layout = \"…\"` on the service to say which one it is",
                signs
                    .iter()
                    .map(|(layout, (count, first))| format!(
                        "{layout} ({})",
                        describe(*layout, *count, first)
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        }),
    }
}

pub fn file_name(path: &Path) -> &str {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
}

/// How many ASCII digits `text` starts with.
pub(crate) fn leading_digits(text: &str) -> usize {
    text.bytes().take_while(u8::is_ascii_digit).count()
}

/// A version of digits as pgfleet's i64.
pub(crate) fn version_number(digits: &str) -> Result<i64, String> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{digits}` is not a version number"));
    }
    digits
        .parse::<i64>()
        .map_err(|_| format!("version `{digits}` is too large (pgfleet's versions are 64-bit)"))
}

pub(crate) fn invalid(path: &Path, message: impl Into<String>) -> SourceError {
    SourceError::Invalid {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

impl Folder {
    /// Lists `path` as ignored; a `.sql` file or a folder holding migrations is a warning.
    pub(crate) fn ignore(&mut self, path: &Path, why: impl Into<String>) {
        let warning = if path.is_dir() {
            std::fs::read_dir(path)
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "sql"))
        } else {
            path.extension().is_some_and(|x| x == "sql")
        };
        self.ignored.push(Ignored {
            path: path.to_path_buf(),
            why: why.into(),
            warning,
        });
    }
}

/// The up and down files of layouts that name both by version, paired.
#[derive(Default)]
pub(crate) struct Pairs {
    ups: BTreeMap<i64, (String, PathBuf)>,
    downs: BTreeMap<i64, (String, PathBuf)>,
}

impl Pairs {
    pub fn add(&mut self, folder: &mut Folder, up: bool, version: i64, name: &str, path: &Path) {
        let direction = if up { &mut self.ups } else { &mut self.downs };
        if let Some((_, other)) = direction.get(&version) {
            folder.problems.push(invalid(
                path,
                format!("version {version} is also used by {}", other.display()),
            ));
            return;
        }
        direction.insert(version, (name.to_owned(), path.to_path_buf()));
    }

    /// Reads each pair with `read`; `same_name`: a down file must carry its up file's name.
    pub fn finish(
        mut self,
        folder: &mut Folder,
        same_name: bool,
        read: impl Fn(&Path) -> Result<Script, SourceError>,
    ) {
        for (version, (name, up_path)) in std::mem::take(&mut self.ups) {
            let down = match self.downs.remove(&version) {
                Some((down_name, down_path)) if same_name && down_name != name => {
                    folder.problems.push(invalid(
                        &down_path,
                        format!("its name differs from its up file `{name}`"),
                    ));
                    None
                }
                Some((_, down_path)) => match read(&down_path) {
                    Ok(down) => Some(down),
                    Err(e) => {
                        folder.problems.push(e);
                        None
                    }
                },
                None => None,
            };
            match read(&up_path) {
                Ok(up) => folder.migrations.push(Migration {
                    version,
                    name,
                    up,
                    down,
                }),
                Err(e) => {
                    folder.problems.push(e);
                    folder.unreadable.push(version);
                }
            }
        }
        for (_, (_, path)) in self.downs {
            folder
                .problems
                .push(invalid(&path, "a down file without its up file"));
        }
    }
}

/// For tools that send a file without a BEGIN of their own (golang-migrate, Flyway's
/// detection): a file of only statements that cannot run in a transaction runs statement by
/// statement (`true`); one mixing them with others is refused, as PostgreSQL refuses such a
/// file sent in one go; any other file runs in pgfleet's transaction (`false`). Text the
/// parser rejects counts as transactional (the server reports it).
pub(crate) fn implicit_no_transaction(sql: &str) -> Result<bool, String> {
    let mut outside: Option<(&'static str, usize)> = None;
    let mut inside = 0usize;
    let _ = crate::source::for_each_statement(sql, |range, node| {
        match node.and_then(crate::analyze::needs_no_transaction) {
            Some(what) if outside.is_none() => outside = Some((what, range.start)),
            Some(_) => {}
            None => inside += 1,
        }
        ControlFlow::<()>::Continue(())
    });
    match outside {
        None => Ok(false),
        Some(_) if inside == 0 => Ok(true),
        Some((what, offset)) => Err(format!(
            "line {}: {what} cannot run in a transaction, and the file also holds statements that \
             run in one: PostgreSQL refuses the two in one file sent at once\n  \
             hint: move the {what} into a file of its own",
            crate::analyze::statement_line(sql, offset)
        )),
    }
}

/// `text` with `range` replaced by spaces, its line breaks kept (so reported lines stay the
/// file's).
pub(crate) fn blank(text: &mut String, range: std::ops::Range<usize>) {
    let blanked: String = text[range.clone()]
        .chars()
        .map(|c| if c == '\n' || c == '\r' { c } else { ' ' })
        .collect();
    text.replace_range(range, &blanked);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder_with(files: &[(&str, &str)], dirs: &[(&str, &[(&str, &str)])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("write");
        }
        for (name, inner) in dirs {
            let sub = dir.path().join(name);
            std::fs::create_dir_all(&sub).expect("mkdir");
            for (file, text) in *inner {
                std::fs::write(sub.join(file), text).expect("write");
            }
        }
        dir
    }

    fn detected(dir: &Path) -> Result<Layout, String> {
        detect_layout(dir)
            .map(|c| c.layout)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn each_layout_is_detected_by_its_own_files() {
        let up = [
            ("001_a.up.sql", "SELECT 1;"),
            ("001_a.down.sql", "SELECT 1;"),
        ];
        assert_eq!(detected(folder_with(&up, &[]).path()), Ok(Layout::Pgfleet));
        let v = [
            ("V001_a.up.sql", "SELECT 1;"),
            ("002_b.up.sql", "SELECT 1;"),
        ];
        assert_eq!(
            detected(folder_with(&v, &[]).path()),
            Ok(Layout::GolangMigrate)
        );
        let sqlx = [("1_a.sql", "SELECT 1;"), ("2_b.sql", "SELECT 1;")];
        assert_eq!(detected(folder_with(&sqlx, &[]).path()), Ok(Layout::Sqlx));
        // Up-only files beside pairs are pgfleet's misnamed files.
        let misnamed = [("1_a.up.sql", "SELECT 1;"), ("2_b.sql", "SELECT 1;")];
        assert_eq!(
            detected(folder_with(&misnamed, &[]).path()),
            Ok(Layout::Pgfleet)
        );
        let dbmate = [("20240101000000_a.sql", "-- migrate:up\nSELECT 1;\n")];
        assert_eq!(
            detected(folder_with(&dbmate, &[]).path()),
            Ok(Layout::Dbmate)
        );
        let flyway = [("V1__a.sql", "SELECT 1;"), ("R__b.sql", "SELECT 1;")];
        assert_eq!(
            detected(folder_with(&flyway, &[]).path()),
            Ok(Layout::Flyway)
        );
        let diesel = folder_with(&[], &[("2024-01-15-093000_x", &[("up.sql", "SELECT 1;")])]);
        assert_eq!(detected(diesel.path()), Ok(Layout::Diesel));
        let empty = folder_with(&[("README.md", "hi")], &[]);
        assert_eq!(detected(empty.path()), Ok(Layout::Pgfleet));
        let both = folder_with(
            &[("V1__a.sql", "SELECT 1;")],
            &[("2024-01-15-093000_x", &[("up.sql", "SELECT 1;")])],
        );
        let error = detected(both.path()).expect_err("ambiguous");
        assert!(
            error.contains("several layouts")
                && error.contains("diesel")
                && error.contains("flyway"),
            "{error}"
        );
    }

    #[test]
    fn a_folder_its_layout_explains_none_of_is_an_error_naming_the_right_one() {
        let diesel = folder_with(&[], &[("2024-01-15-093000_x", &[("up.sql", "SELECT 1;")])]);
        let folder = scan(diesel.path(), Some(Layout::Pgfleet));
        assert!(folder.migrations.is_empty());
        let error = load(diesel.path(), Some(Layout::Pgfleet))
            .expect_err("mismatch")
            .to_string();
        assert!(
            error.contains("read in the pgfleet layout (set in the manifest)")
                && error.contains("layout = \"diesel\""),
            "{error}"
        );
        assert!(load(diesel.path(), None).is_ok());
    }

    #[test]
    fn only_outside_statements_run_outside_and_a_mix_is_refused() {
        assert_eq!(implicit_no_transaction("CREATE TABLE t(x int);"), Ok(false));
        // ANALYZE runs in a transaction (only VACUUM does not): the file stays transactional.
        assert_eq!(
            implicit_no_transaction("CREATE TABLE t(x int);\nANALYZE t (x);"),
            Ok(false)
        );
        assert_eq!(
            implicit_no_transaction(
                "CREATE INDEX CONCURRENTLY i ON t(x);\nDROP INDEX CONCURRENTLY j;"
            ),
            Ok(true)
        );
        let error = implicit_no_transaction(
            "CREATE TABLE t(x int);\n-- index\nCREATE INDEX CONCURRENTLY i ON t(x);",
        )
        .expect_err("mixed");
        assert!(
            error.starts_with("line 3: CREATE INDEX CONCURRENTLY"),
            "{error}"
        );
    }

    #[test]
    fn blanking_keeps_lines() {
        let mut text = "BEGIN;\nSELECT 1;\nCOMMIT;\n".to_owned();
        blank(&mut text, 0..6);
        assert_eq!(text, "      \nSELECT 1;\nCOMMIT;\n");
    }
}
