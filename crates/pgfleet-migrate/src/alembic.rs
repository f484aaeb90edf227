//! An Alembic project as pgfleet SQL files: its revision chain (from `alembic history`), and
//! each revision's SQL as Alembic's own offline mode writes it (`alembic upgrade A:B --sql`),
//! without Alembic's bookkeeping (its transaction and the `alembic_version` table). Running
//! Alembic is the caller's: this module only reads what it printed.

use super::source;

/// One revision, oldest first in a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    pub id: String,
    /// The revision before it; `None` for the first.
    pub down: Option<String>,
    pub message: String,
}

/// The revisions of `alembic history` output, oldest first. A branch point, a merge or a
/// second head is refused: pgfleet's versions are one line.
pub fn chain(history: &str, heads: &str) -> Result<Vec<Revision>, String> {
    let heads: Vec<&str> = heads
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    if heads.len() != 1 {
        return Err(format!(
            "the project has {} heads ({}): pgfleet's history is one line of versions; merge them with \
             `alembic merge` first",
            heads.len(),
            heads.join(", ")
        ));
    }
    let mut revisions = Vec::new();
    for line in history.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (arrow, message) = line.split_once(", ").unwrap_or((line, ""));
        let Some((down, rest)) = arrow.split_once(" -> ") else {
            return Err(format!("unexpected line in `alembic history`: {line}"));
        };
        if down.starts_with('(') || rest.contains("mergepoint") || rest.contains("branchpoint") {
            return Err(format!(
                "`{line}`: a branch or a merge; pgfleet's history is one line of versions"
            ));
        }
        let id = rest
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        revisions.push(Revision {
            id,
            down: (down != "<base>").then(|| down.to_owned()),
            message: message.to_owned(),
        });
    }
    // `history` lists newest first; walk from the base so that a gap shows.
    let mut ordered: Vec<Revision> = Vec::new();
    let mut previous: Option<String> = None;
    while let Some(next) = revisions.iter().find(|r| r.down == previous) {
        previous = Some(next.id.clone());
        ordered.push(next.clone());
    }
    if ordered.len() != revisions.len() {
        return Err(format!(
            "the revisions do not form one chain from the base ({} of {} reached)",
            ordered.len(),
            revisions.len()
        ));
    }
    if ordered.last().map(|r| r.id.as_str()) != heads.first().copied() {
        return Err("the chain from the base does not end at the head".to_owned());
    }
    Ok(ordered)
}

/// Alembic's offline SQL of one step without what is Alembic's: `BEGIN`/`COMMIT` (pgfleet
/// wraps each file itself) and every statement on `alembic_version`.
pub fn without_bookkeeping(sql: &str) -> Result<String, String> {
    let mut out = String::new();
    for range in source::split_statements(sql)? {
        let statement = sql[range].trim();
        let code = strip_leading_comments(statement);
        let upper = code.to_ascii_uppercase();
        let bookkeeping = code.is_empty()
            || matches!(upper.trim_end_matches(';').trim(), "BEGIN" | "COMMIT")
            || upper.contains("ALEMBIC_VERSION");
        if !bookkeeping {
            out.push_str(code);
            if !code.ends_with(';') {
                out.push(';');
            }
            out.push_str("\n\n");
        }
    }
    Ok(out)
}

fn strip_leading_comments(statement: &str) -> &str {
    let mut rest = statement.trim_start();
    while let Some(after) = rest.strip_prefix("--") {
        rest = after.split_once('\n').map_or("", |(_, r)| r).trim_start();
    }
    rest
}

/// The name pgfleet gives a revision's files: `<revision>_<message as a name>`; the version in
/// front of it is its place in the chain.
pub fn file_name(revision: &Revision) -> String {
    let mut slug: String = revision
        .message
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    while slug.contains("__") {
        slug = slug.replace("__", "_");
    }
    let slug = slug.trim_matches('_');
    let slug: String = slug.chars().take(40).collect();
    format!("{}_{}", revision.id, slug.trim_end_matches('_'))
}

/// The Alembic revision a converted file came from (its name starts with it).
pub fn revision_of(name: &str) -> &str {
    name.split('_').next().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HISTORY: &str =
        "b2 -> c3 (head), create posts\na1 -> b2, add mood enum\n<base> -> a1, create users\n";

    #[test]
    fn the_chain_reads_from_the_base() {
        let chain = chain(HISTORY, "c3 (head)\n").expect("one chain");
        let ids: Vec<&str> = chain.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a1", "b2", "c3"]);
        assert_eq!(file_name(&chain[1]), "b2_add_mood_enum");
        assert_eq!(revision_of("b2_add_mood_enum"), "b2");
    }

    #[test]
    fn branches_merges_and_two_heads_are_refused() {
        assert!(
            chain(HISTORY, "c3 (head)\nd4 (head)\n")
                .expect_err("refused")
                .contains("2 heads")
        );
        let merged = "(b2, x9) -> c3 (head) (mergepoint), merge\n";
        assert!(
            chain(merged, "c3 (head)\n")
                .expect_err("refused")
                .contains("merge")
        );
        let branched = "a1 -> b2 (head), one\na1 -> x9, two\n<base> -> a1 (branchpoint), base\n";
        assert!(chain(branched, "b2 (head)\n").is_err());
    }

    #[test]
    fn alembics_bookkeeping_goes_the_schema_stays() {
        let sql = "BEGIN;\n\nCREATE TABLE alembic_version (\n    version_num VARCHAR(32) NOT NULL\n);\n\n\
                   -- Running upgrade  -> a1\n\nCREATE TABLE users (id int);\n\n\
                   INSERT INTO alembic_version (version_num) VALUES ('a1') RETURNING alembic_version.version_num;\n\nCOMMIT;\n";
        assert_eq!(
            without_bookkeeping(sql).expect("splits"),
            "CREATE TABLE users (id int);\n\n"
        );
    }
}
