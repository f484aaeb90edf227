//! Checks of a migration's SQL with PostgreSQL's own parser (pg_query), before anything runs.

use super::source::{Script, line_of_char};
use pg_query::NodeEnum;

/// What cannot run inside the transaction pgfleet wraps a migration in: such a file needs
/// `-- pgfleet:no-transaction`. Found here, it is an error before any statement runs,
/// rather than a server error half-way through a fleet run.
fn needs_no_transaction(node: &NodeEnum) -> Option<&'static str> {
    match node {
        NodeEnum::IndexStmt(s) if s.concurrent => Some("CREATE INDEX CONCURRENTLY"),
        NodeEnum::DropStmt(s) if s.concurrent => Some("DROP INDEX CONCURRENTLY"),
        NodeEnum::ReindexStmt(s)
            if s.params.iter().any(
                |p| matches!(&p.node, Some(NodeEnum::DefElem(d)) if d.defname == "concurrently"),
            ) =>
        {
            Some("REINDEX CONCURRENTLY")
        }
        NodeEnum::VacuumStmt(_) => Some("VACUUM"),
        NodeEnum::CreatedbStmt(_) => Some("CREATE DATABASE"),
        NodeEnum::DropdbStmt(_) => Some("DROP DATABASE"),
        NodeEnum::AlterSystemStmt(_) => Some("ALTER SYSTEM"),
        _ => None,
    }
}

/// `Err((line, message))` when a transactional script holds a statement that cannot run in a
/// transaction, or transaction control of its own. Text the parser rejects is left for the
/// server to report (with its own message and position).
pub fn check_script(script: &Script) -> Result<(), (Option<usize>, String)> {
    if script.directives.no_transaction {
        return Ok(());
    }
    let Ok(parsed) = pg_query::parse(&script.sql, 0) else {
        return Ok(());
    };
    for raw in &parsed.protobuf.stmts {
        let Some(node) = raw.stmt.as_ref().and_then(|s| s.node.as_ref()) else {
            continue;
        };
        // stmt_location is a byte offset.
        let location = usize::try_from(raw.stmt_location).unwrap_or(0);
        let line = || {
            let text = &script.sql[..location.min(script.sql.len())];
            let leading = script.sql[location.min(script.sql.len())..]
                .chars()
                .take_while(|c| c.is_whitespace())
                .filter(|c| *c == '\n')
                .count();
            Some(line_of_char(&script.sql, text.chars().count() + 1) + leading)
        };
        if let Some(what) = needs_no_transaction(node) {
            return Err((
                line(),
                format!(
                    "{what} cannot run inside a transaction; put `-- pgfleet:no-transaction` at the top of the file"
                ),
            ));
        }
        if let NodeEnum::TransactionStmt(_) = node {
            return Err((
                line(),
                "transaction control (BEGIN/COMMIT/ROLLBACK) in a migration: pgfleet runs each file in its own transaction \
                 (or, with `-- pgfleet:no-transaction`, statement by statement)"
                    .to_owned(),
            ));
        }
    }
    Ok(())
}

/// Whether a statement builds an index concurrently. Such a statement is not retried after a
/// lock timeout: it leaves an invalid index behind that a retry would trip over.
pub fn is_concurrent_index_build(statement: &str) -> bool {
    pg_query::parse(statement, 0).is_ok_and(|parsed| {
        parsed.protobuf.stmts.iter().any(|raw| {
            matches!(
                raw.stmt.as_ref().and_then(|s| s.node.as_ref()),
                Some(NodeEnum::IndexStmt(s)) if s.concurrent
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::source::{Directives, checksum};

    fn script(sql: &str, no_transaction: bool) -> Script {
        Script {
            path: "x.up.sql".into(),
            sql: sql.to_owned(),
            checksum: checksum(sql),
            directives: Directives {
                no_transaction,
                ..Directives::default()
            },
        }
    }

    #[test]
    fn concurrent_index_needs_the_directive_and_names_its_line() {
        let sql = "CREATE TABLE t(x int);\n\n-- index\nCREATE INDEX CONCURRENTLY i ON t(x);\n";
        let (line, message) = check_script(&script(sql, false)).expect_err("must be refused");
        assert_eq!(line, Some(4));
        assert!(message.contains("CREATE INDEX CONCURRENTLY"), "{message}");
        assert!(check_script(&script(sql, true)).is_ok());
    }

    #[test]
    fn transaction_control_and_vacuum_are_refused() {
        assert!(check_script(&script("BEGIN; CREATE TABLE t(x int); COMMIT;", false)).is_err());
        assert!(check_script(&script("VACUUM t;", false)).is_err());
        assert!(
            check_script(&script(
                "CREATE TABLE t(x int); CREATE INDEX i ON t(x);",
                false
            ))
            .is_ok()
        );
        // Unparseable text is the server's to report.
        assert!(check_script(&script("CREAT TABLE", false)).is_ok());
    }

    #[test]
    fn detects_concurrent_index_builds() {
        assert!(is_concurrent_index_build(
            "create index concurrently i on t(x)"
        ));
        assert!(!is_concurrent_index_build("create index i on t(x)"));
    }
}
