//! What a migration is whatever the folder's layout (`layout/`): its scripts, their text,
//! directives and checksums, and statement splitting.

use pg_query::NodeEnum;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::ops::{ControlFlow, Range};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One migration: an up file and, if the step is reversible, a down file.
#[derive(Debug, Clone, Serialize)]
pub struct Migration {
    pub version: i64,
    pub name: String,
    pub up: Script,
    pub down: Option<Script>,
}

impl Migration {
    /// What the history's `down_checksum` records for a step applied from these files: the
    /// down file's checksum, or '' when there is none.
    pub fn down_checksum(&self) -> String {
        self.down
            .as_ref()
            .map(|down| down.checksum.clone())
            .unwrap_or_default()
    }
}

/// One SQL file with its directives.
#[derive(Debug, Clone, Serialize)]
pub struct Script {
    pub path: PathBuf,
    /// The text, without a leading UTF-8 byte order mark.
    #[serde(skip)]
    pub sql: String,
    /// SHA-256 of the content with line endings normalised to `\n` and without a leading byte
    /// order mark, hex.
    pub checksum: String,
    pub directives: Directives,
}

impl Script {
    /// Whether a checksum recorded in history is this file's. Earlier versions hashed a leading
    /// byte order mark too: a row they wrote for a file with a BOM still matches, with
    /// or without the BOM now.
    pub fn matches(&self, recorded: &str) -> bool {
        recorded == self.checksum || recorded == checksum_with_bom(&self.sql)
    }
}

/// `-- pgfleet:…` lines in a file's leading comments.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Directives {
    /// Run statement by statement outside a transaction (CREATE INDEX CONCURRENTLY…).
    pub no_transaction: bool,
    #[serde(with = "humantime_serde_opt")]
    pub lock_timeout: Option<Duration>,
    #[serde(with = "humantime_serde_opt")]
    pub statement_timeout: Option<Duration>,
}

mod humantime_serde_opt {
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    /// Text PostgreSQL cannot take: invalid UTF-8 or a NUL byte, at its place in the file.
    #[error("{}:{line}:{column}: {what}\n  hint: save the file as UTF-8 text", path.display())]
    Encoding {
        path: PathBuf,
        line: usize,
        column: usize,
        what: String,
    },
    /// A folder that its layout does not explain (or whose layout cannot be told).
    #[error("{}: {message}", dir.display())]
    Layout { dir: PathBuf, message: String },
    /// Every problem of a migrations folder, one per line.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Several(Vec<SourceError>),
}

const BOM: char = '\u{feff}';

/// SHA-256 of a file's text with CRLF and CR line endings read as LF, so that a checkout with
/// other line endings does not look edited, and without a leading byte order mark (an editor
/// that adds or drops one has not edited the SQL).
pub fn checksum(text: &str) -> String {
    let text = text.strip_prefix(BOM).unwrap_or(text);
    let mut hasher = Sha256::new();
    hash_normalised(&mut hasher, text);
    hex(hasher)
}

/// The checksum earlier versions recorded for `text` read from a file with a BOM.
fn checksum_with_bom(text: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(BOM.to_string().as_bytes());
    hash_normalised(&mut hasher, text);
    hex(hasher)
}

/// Feeds `text` with line endings normalised, in slices (a migration may be large: no copy).
fn hash_normalised(hasher: &mut Sha256, text: &str) {
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\r' {
            hasher.update(&bytes[start..i]);
            hasher.update(b"\n");
            i += if bytes.get(i + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
            start = i;
        } else {
            i += 1;
        }
    }
    hasher.update(&bytes[start..]);
}

fn hex(hasher: Sha256) -> String {
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One SQL file with its checksum and `-- pgfleet:` directives. The text must be UTF-8
/// without NUL bytes (what PostgreSQL accepts); a leading byte order mark is dropped: it is not
/// SQL.
pub fn read_script(path: &Path) -> Result<Script, SourceError> {
    let sql = read_text(path)?;
    let directives = directives(&sql).map_err(|message| SourceError::Invalid {
        path: path.to_path_buf(),
        message,
    })?;
    Ok(Script::new(path, sql, directives))
}

/// A file's text as PostgreSQL can take it (UTF-8, no NUL byte), without a leading BOM.
pub fn read_text(path: &Path) -> Result<String, SourceError> {
    let bytes = std::fs::read(path).map_err(|source| SourceError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut sql = text_of(bytes).map_err(|(line, column, what)| SourceError::Encoding {
        path: path.to_path_buf(),
        line,
        column,
        what,
    })?;
    if sql.starts_with(BOM) {
        // In place: a large file is not copied.
        sql.drain(..BOM.len_utf8());
    }
    Ok(sql)
}

impl Script {
    /// A script of `sql` (already without a BOM), its checksum that of `sql`.
    pub fn new(path: &Path, sql: String, directives: Directives) -> Script {
        Script {
            path: path.to_path_buf(),
            checksum: checksum(&sql),
            sql,
            directives,
        }
    }
}

/// The file's bytes as text, or the 1-based line and column (in characters) of the first byte
/// that is not UTF-8 or is NUL, and what it is.
fn text_of(bytes: Vec<u8>) -> Result<String, (usize, usize, String)> {
    // The place of the end of `text`: where the bad byte after it is.
    let place = |text: &str| {
        let at = pgfleet_core::manifest::line_column(text, text.len());
        (at.line, at.column)
    };
    match String::from_utf8(bytes) {
        Ok(text) => match text.find('\0') {
            None => Ok(text),
            Some(at) => {
                let (line, column) = place(&text[..at]);
                Err((line, column, "a NUL byte".to_owned()))
            }
        },
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let bytes = e.as_bytes();
            // Up to `at` the bytes are valid UTF-8; a NUL before it is the first bad byte.
            let valid = std::str::from_utf8(&bytes[..at]).unwrap_or_default();
            if let Some(nul) = valid.find('\0') {
                let (line, column) = place(&valid[..nul]);
                return Err((line, column, "a NUL byte".to_owned()));
            }
            let (line, column) = place(valid);
            Err((
                line,
                column,
                format!("invalid UTF-8 (byte 0x{:02x})", bytes[at]),
            ))
        }
    }
}

/// Directives are read from the comment lines before the first statement.
pub fn directives(sql: &str) -> Result<Directives, String> {
    let mut directives = Directives::default();
    for line in sql.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some(comment) = line.strip_prefix("--") else {
            break;
        };
        let Some(directive) = comment.trim().strip_prefix("pgfleet:") else {
            continue;
        };
        let mut parts = directive.split_whitespace();
        let key = parts.next().unwrap_or_default();
        let value = parts.collect::<Vec<_>>().join(" ");
        let duration = |value: &str| {
            humantime::parse_duration(value)
                .map_err(|e| format!("pgfleet:{key} takes a duration like 2s or 5min ({e})"))
        };
        match key {
            "no-transaction" => directives.no_transaction = true,
            "lock-timeout" => directives.lock_timeout = Some(duration(&value)?),
            "statement-timeout" => directives.statement_timeout = Some(duration(&value)?),
            other => {
                return Err(format!(
                    "unknown directive `pgfleet:{other}` (known: no-transaction, lock-timeout, statement-timeout)"
                ));
            }
        }
    }
    Ok(directives)
}

/// The 1-based line of a 1-based character position in `text` (the server counts characters).
pub fn line_of_char(text: &str, position: usize) -> usize {
    let offset = text
        .char_indices()
        .nth(position.saturating_sub(1))
        .map_or(text.len(), |(offset, _)| offset);
    pgfleet_core::manifest::line_column(text, offset).line
}

/// How many lines of whitespace and `--` comments open `text` (so a statement's reported line
/// is its first line of code).
pub fn leading_comment_lines(text: &str) -> usize {
    text.lines()
        .take_while(|line| {
            let line = line.trim();
            line.is_empty() || line.starts_with("--")
        })
        .count()
}

/// How much text PostgreSQL's parser reads at once. The parse tree of a statement takes tens of
/// times its text, so a whole large file is never parsed in one go: memory stays a small
/// multiple of the file (docs/PERFORMANCE.md).
const PARSE_CHUNK: usize = 256 * 1024;

/// Splits a script into statements (byte ranges of `sql`, trimmed), using PostgreSQL's own
/// parser, so semicolons in strings, dollar quotes, comments and `BEGIN ATOMIC` bodies are
/// handled as the server would. Text the parser rejects is split by the scanner, so that the
/// server reports its error against that statement. `Err` when not even the scanner can read
/// the text (an unterminated quote).
pub fn split_statements(sql: &str) -> Result<Vec<Range<usize>>, String> {
    let mut statements = Vec::new();
    for_each_statement(sql, |range, _| {
        statements.push(range);
        ControlFlow::<()>::Continue(())
    })?;
    Ok(statements)
}

/// Where the statements of `sql` end, by PostgreSQL's scanner (each cut is at a semicolon
/// outside quotes, comments and parentheses), then the end of the text. Every byte belongs to
/// one segment between cuts, so text the scanner does not count as a statement (stray words
/// before a semicolon, an unclosed parenthesis at the end) still reaches the parser or the
/// server. The scanner keeps every token until it is done, so it reads windows of about
/// [`PARSE_CHUNK`] bytes: a window starts at a cut, where the scanner's state is the initial
/// one, and the cuts it finds before its end are the ones a scan of the whole text finds. A
/// window that ends inside a quote or a comment (an error) or holds no cut grows.
fn statement_cuts(sql: &str) -> Result<Vec<usize>, String> {
    let mut cuts = Vec::new();
    let mut from = 0;
    let mut window = PARSE_CHUNK;
    while from < sql.len() {
        let mut end = (from + window).min(sql.len());
        while !sql.is_char_boundary(end) {
            end += 1;
        }
        let at_end = end == sql.len();
        let text = &sql[from..end];
        let base = text.as_ptr() as usize;
        let found: Vec<usize> = match pg_query::split_with_scanner(text) {
            Ok(pieces) => pieces
                .iter()
                .map(|piece| from + (piece.as_ptr() as usize - base) + piece.len())
                // A piece that ends where the window does was cut short by it.
                .filter(|&cut| cut < end)
                .collect(),
            Err(e) if at_end => return Err(e.to_string()),
            Err(_) => Vec::new(),
        };
        match found.last() {
            Some(&last) if !at_end => {
                cuts.extend(found);
                from = last;
                window = PARSE_CHUNK;
            }
            _ if at_end => {
                cuts.extend(found);
                break;
            }
            _ => window *= 2,
        }
    }
    cuts.push(sql.len());
    cuts.dedup();
    Ok(cuts)
}

/// Calls `visit` with each statement of `sql` in order: its byte range (trimmed) and its parse
/// tree when the parser accepts it, until `visit` breaks. The scanner cuts the text into
/// candidate statements ([`statement_cuts`]), and the parser reads runs of them of about
/// [`PARSE_CHUNK`] bytes; a run that ends inside a statement (a `BEGIN ATOMIC` body
/// holds semicolons the scanner cuts at) is extended until the statement ends.
pub fn for_each_statement<T>(
    sql: &str,
    mut visit: impl FnMut(Range<usize>, Option<&NodeEnum>) -> ControlFlow<T>,
) -> Result<Option<T>, String> {
    let cuts = statement_cuts(sql)?;
    let trimmed = |range: Range<usize>| {
        let text = &sql[range.clone()];
        let start = range.start + (text.len() - text.trim_start().len());
        start..(range.start + text.trim_end().len()).max(start)
    };
    let mut from = 0; // start of the next run
    let mut next_cut = 0; // index in `cuts` of the first cut after `from`
    while next_cut < cuts.len() {
        let mut last = next_cut;
        while last + 1 < cuts.len() && cuts[last] - from < PARSE_CHUNK {
            last += 1;
        }
        loop {
            let end = cuts[last];
            let text = &sql[from..end];
            match pg_query::parse(text, 0) {
                Ok(parsed) => {
                    for raw in &parsed.protobuf.stmts {
                        let location = usize::try_from(raw.stmt_location).unwrap_or(0);
                        let length = usize::try_from(raw.stmt_len).unwrap_or(0);
                        let stop = if length == 0 {
                            end
                        } else {
                            (from + location + length).min(end)
                        };
                        let range = trimmed(from + location.min(text.len())..stop);
                        if range.is_empty() {
                            continue;
                        }
                        let node = raw.stmt.as_ref().and_then(|s| s.node.as_ref());
                        if let ControlFlow::Break(value) = visit(range, node) {
                            return Ok(Some(value));
                        }
                    }
                    break;
                }
                // The run ends inside a statement: take more of the text (doubling, so that
                // a long function body costs a few parses, not one per semicolon).
                Err(pg_query::Error::Parse(message))
                    if message.contains("at end of input") && last + 1 < cuts.len() =>
                {
                    let size = cuts[last] - from;
                    while last + 1 < cuts.len() && cuts[last] - from < size * 2 {
                        last += 1;
                    }
                }
                // A syntax error: the scanner's statements, for the server to judge.
                Err(_) => {
                    let mut start = from;
                    for &cut in &cuts[next_cut..=last] {
                        let range = trimmed(start..cut);
                        start = cut;
                        // A segment may start with the previous statement's semicolon.
                        let range = trimmed(
                            range.start + usize::from(sql[range.clone()].starts_with(';'))
                                ..range.end,
                        );
                        if range.is_empty() {
                            continue;
                        }
                        if let ControlFlow::Break(value) = visit(range, None) {
                            return Ok(Some(value));
                        }
                    }
                    break;
                }
            }
        }
        from = cuts[last];
        next_cut = last + 1;
    }
    Ok(None)
}

/// The `.sql` files of a folder in name order (seed files); none when it does not exist.
pub fn sql_files(dir: &Path) -> Result<Vec<PathBuf>, SourceError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(SourceError::Read {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    Ok(files)
}

/// The next version for `migrate new`: a UTC timestamp (YYYYMMDDHHMMSS) by default, or the
/// next integer with `sequential`; never lower than an existing version.
pub fn next_version(existing: &[Migration], sequential: bool, now: std::time::SystemTime) -> i64 {
    let last = existing.iter().map(|m| m.version).max().unwrap_or(0);
    if sequential {
        return last + 1;
    }
    let stamp = timestamp(now);
    stamp.max(last + 1)
}

fn timestamp(now: std::time::SystemTime) -> i64 {
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    y * 10_000_000_000
        + m * 100_000_000
        + d * 1_000_000
        + (rem / 3600) * 10_000
        + (rem % 3600 / 60) * 100
        + rem % 60
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_ignore_line_endings_and_a_bom_but_not_content() {
        assert_eq!(checksum("a\nb\n"), checksum("a\r\nb\r\n"));
        assert_eq!(checksum("a\nb\n"), checksum("a\rb\r"));
        assert_eq!(checksum("a\nb\n"), checksum("\u{feff}a\r\nb\n"));
        assert_ne!(checksum("a\nb\n"), checksum("a\nc\n"));
        assert_ne!(checksum("a\nb\n"), checksum("a\n\nb\n"));
        // What earlier versions recorded: the plain digest of the normalised text.
        let digest = |t: &str| hex(Sha256::new_with_prefix(t.as_bytes()));
        assert_eq!(checksum("a\r\nb"), digest("a\nb"));
        assert_eq!(checksum_with_bom("a\r\nb"), digest("\u{feff}a\nb"));
    }

    #[test]
    fn a_bom_is_not_sql_and_bad_bytes_are_placed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("1_a.up.sql");
        std::fs::write(&path, "\u{feff}-- pgfleet:no-transaction\nSELECT 1;\n").expect("write");
        let script = read_script(&path).expect("reads");
        assert!(script.sql.starts_with("-- pgfleet"));
        assert!(script.directives.no_transaction);
        assert_eq!(
            script.checksum,
            checksum("-- pgfleet:no-transaction\nSELECT 1;\n")
        );
        let legacy = hex(Sha256::new_with_prefix(
            "\u{feff}-- pgfleet:no-transaction\nSELECT 1;\n".as_bytes(),
        ));
        assert!(script.matches(&legacy) && script.matches(&script.checksum));
        assert!(!script.matches(&checksum("SELECT 2;")));

        std::fs::write(&path, b"SELECT 1;\nSELECT '\xc3\xa9t\xe9';\n").expect("write");
        let error = read_script(&path).expect_err("invalid UTF-8").to_string();
        assert!(
            error.starts_with(&format!(
                "{}:2:11: invalid UTF-8 (byte 0xe9)",
                path.display()
            )),
            "{error}"
        );
        std::fs::write(&path, b"SELECT 1;\n\n  \0").expect("write");
        let error = read_script(&path).expect_err("NUL").to_string();
        assert!(error.contains(":3:3: a NUL byte"), "{error}");
    }

    #[test]
    fn directives_come_from_leading_comments_only() {
        let d = directives(
            "-- add an index\n-- pgfleet:no-transaction\n--pgfleet:lock-timeout 2s\n\
             -- pgfleet:statement-timeout 5min\nCREATE INDEX CONCURRENTLY i ON t(x);\n-- pgfleet:bogus\n",
        )
        .expect("valid");
        assert!(d.no_transaction);
        assert_eq!(d.lock_timeout, Some(Duration::from_secs(2)));
        assert_eq!(d.statement_timeout, Some(Duration::from_secs(300)));
        assert!(directives("-- pgfleet:no-transactoin\nselect 1;").is_err());
        assert!(directives("-- pgfleet:lock-timeout soon\n").is_err());
    }

    fn texts(sql: &str) -> Vec<&str> {
        split_statements(sql)
            .expect("scans")
            .into_iter()
            .map(|r| &sql[r])
            .collect()
    }

    #[test]
    fn statements_split_like_the_server_does() {
        let sql = "-- c;\nCREATE TABLE t(x text default ';');\n\nCREATE FUNCTION f() RETURNS int AS $$ select 1; $$ LANGUAGE sql;\nCREATE INDEX CONCURRENTLY i ON t(x)";
        let parts = split_statements(sql).expect("parses");
        assert_eq!(parts.len(), 3, "{parts:?}");
        assert!(sql[parts[1].clone()].starts_with("CREATE FUNCTION"));
        assert_eq!(&sql[parts[2].start..parts[2].start + 12], "CREATE INDEX");
        assert!(sql[parts[2].clone()].ends_with("(x)"));
    }

    #[test]
    fn sql_standard_bodies_stay_whole_and_rejected_text_is_kept() {
        let atomic =
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END";
        assert_eq!(
            texts(&format!("{atomic};\nSELECT 3;")),
            [atomic, "SELECT 3"]
        );
        // Stray words and a syntax error are not dropped: they go to the server, which reports
        // them (the scanner cuts only after a keyword, outside parentheses).
        assert_eq!(
            texts("SELECT 1;\nbogus;\nSELEC 2;\nSELECT (3"),
            ["SELECT 1", "bogus;\nSELEC 2;\nSELECT (3"]
        );
        assert_eq!(
            texts("SELECT 1;\nSELECT 2 +;\nSELECT 3"),
            ["SELECT 1", "SELECT 2 +", "SELECT 3"]
        );
        assert!(split_statements("SELECT 'unterminated").is_err());
    }

    #[test]
    fn a_large_script_splits_the_same_window_by_window() {
        // Well past several windows, with a dollar-quoted body, a BEGIN ATOMIC body and a
        // string holding semicolons crossing window boundaries.
        let body = format!("$body$ {} $body$", "SELECT 1; ".repeat(PARSE_CHUNK / 8));
        let atomic = format!(
            "CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC {} SELECT 2; END",
            "SELECT 1; ".repeat(PARSE_CHUNK / 8)
        );
        let quoted = format!("INSERT INTO t VALUES ('{}')", "; ".repeat(PARSE_CHUNK));
        let mut expected = Vec::new();
        for i in 0..20_000 {
            expected.push(format!("INSERT INTO t VALUES ({i}, 'a; b')"));
            if i == 5_000 {
                expected.push(format!(
                    "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS {body}"
                ));
            }
            if i == 10_000 {
                expected.push(atomic.clone());
            }
            if i == 15_000 {
                expected.push(quoted.clone());
            }
        }
        let sql = expected
            .iter()
            .map(|s| format!("{s};\n"))
            .collect::<String>();
        assert!(sql.len() > 4 * PARSE_CHUNK, "{}", sql.len());
        assert_eq!(texts(&sql), expected);
    }
    #[test]
    fn lines_are_counted_from_character_positions() {
        let text = "é\nselect\n  oops";
        assert_eq!(line_of_char(text, 1), 1);
        assert_eq!(line_of_char(text, 3), 2);
        assert_eq!(line_of_char(text, 12), 3);
    }

    #[test]
    fn versions_are_timestamps_or_sequential_and_always_grow() {
        let at = std::time::UNIX_EPOCH + Duration::from_secs(1_763_159_109); // 2025-11-14 22:25:09
        assert_eq!(next_version(&[], false, at), 20_251_114_222_509);
        assert_eq!(next_version(&[], true, at), 1);
    }
}
