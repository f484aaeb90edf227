//! Checks of a migration's SQL with PostgreSQL's own parser (pg_query), before anything runs.

use super::source::{self, Script, leading_comment_lines};
use pg_query::NodeEnum;
use std::ops::ControlFlow;

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
/// server to report (with its own message and position). The file is parsed a run of
/// statements at a time ([`source::for_each_statement`]), never whole.
pub fn check_script(script: &Script) -> Result<(), (Option<usize>, String)> {
    if script.directives.no_transaction {
        return Ok(());
    }
    let found = source::for_each_statement(&script.sql, |range, node| {
        let Some(node) = node else {
            return ControlFlow::Continue(());
        };
        let message = if let Some(what) = needs_no_transaction(node) {
            format!(
                "{what} cannot run inside a transaction; put `-- pgfleet:no-transaction` at the top of the file"
            )
        } else if let NodeEnum::TransactionStmt(_) = node {
            "transaction control (BEGIN/COMMIT/ROLLBACK) in a migration: pgfleet runs each file in its own transaction \
             (or, with `-- pgfleet:no-transaction`, statement by statement)"
                .to_owned()
        } else {
            return ControlFlow::Continue(());
        };
        ControlFlow::Break((range.start, message))
    });
    match found {
        Ok(Some((offset, message))) => Err((Some(statement_line(&script.sql, offset)), message)),
        // Unscannable text is the server's to report too.
        Ok(None) | Err(_) => Ok(()),
    }
}

/// The line where the code of the statement starting at byte `offset` begins (after its
/// leading comments).
fn statement_line(sql: &str, offset: usize) -> usize {
    sql[..offset].matches('\n').count() + 1 + leading_comment_lines(&sql[offset..])
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
    use crate::source::{Directives, checksum};

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
