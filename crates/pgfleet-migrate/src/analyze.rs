//! Checks of a migration's SQL with PostgreSQL's own parser (pg_query), before anything runs.

use super::source::{self, Script, leading_comment_lines};
use pg_query::NodeEnum;
use pg_query::protobuf::{
    AlterSubscriptionType, AlterTableType, DefElem, DiscardMode, ReindexObjectType,
    TransactionStmtKind,
};
use std::ops::ControlFlow;

/// A kind of statement PostgreSQL refuses inside a transaction block (its
/// `PreventInTransactionBlock`): a transactional file that holds one needs
/// `-- pgfleet:no-transaction`. Found here, it is an error before any statement runs, rather
/// than a server error half-way through a fleet run.
#[derive(Debug)]
pub struct NoTransaction {
    /// The statement as the server's refusal names it ("… cannot run inside a transaction
    /// block").
    pub what: &'static str,
    /// Statements of the kind, which `tests/it/analyzer_matches_server.rs` runs on a real
    /// server: on a database with table `t (c int)`, index `i` on it, partitioned table
    /// `parted` with partition `part`, and subscription `pgfleet_sub` (enabled, with a slot
    /// name, publications `p1` and `p2`).
    pub examples: &'static [&'static str],
    matches: fn(&NodeEnum) -> bool,
}

/// Every kind the analyser refuses, in the order it looks. What the server refuses only for
/// what the catalogs hold (REINDEX or CLUSTER of a partitioned table) is not here: the parser
/// cannot tell.
pub const NO_TRANSACTION: &[NoTransaction] = &[
    NoTransaction {
        what: "VACUUM",
        examples: &[
            "VACUUM",
            "VACUUM t",
            "VACUUM FULL t",
            "VACUUM (ANALYZE) t (c)",
        ],
        // ANALYZE is a VacuumStmt too, and runs in a transaction.
        matches: |node| matches!(node, NodeEnum::VacuumStmt(s) if s.is_vacuumcmd),
    },
    NoTransaction {
        what: "CREATE INDEX CONCURRENTLY",
        examples: &[
            "CREATE INDEX CONCURRENTLY i2 ON t (c)",
            "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i3 ON t (c)",
        ],
        matches: |node| matches!(node, NodeEnum::IndexStmt(s) if s.concurrent),
    },
    NoTransaction {
        what: "DROP INDEX CONCURRENTLY",
        examples: &[
            "DROP INDEX CONCURRENTLY i",
            "DROP INDEX CONCURRENTLY IF EXISTS nothing_here",
        ],
        matches: |node| matches!(node, NodeEnum::DropStmt(s) if s.concurrent),
    },
    NoTransaction {
        what: "REINDEX CONCURRENTLY",
        examples: &[
            "REINDEX INDEX CONCURRENTLY i",
            "REINDEX TABLE CONCURRENTLY t",
            "REINDEX (CONCURRENTLY) TABLE t",
        ],
        matches: |node| {
            matches!(node, NodeEnum::ReindexStmt(s)
                if option(&s.params, "concurrently").is_some_and(is_on))
        },
    },
    NoTransaction {
        what: "REINDEX SCHEMA",
        examples: &["REINDEX SCHEMA public"],
        matches: |node| reindexes(node, ReindexObjectType::ReindexObjectSchema),
    },
    NoTransaction {
        what: "REINDEX SYSTEM",
        examples: &["REINDEX SYSTEM app"],
        matches: |node| reindexes(node, ReindexObjectType::ReindexObjectSystem),
    },
    NoTransaction {
        what: "REINDEX DATABASE",
        examples: &["REINDEX DATABASE app"],
        matches: |node| reindexes(node, ReindexObjectType::ReindexObjectDatabase),
    },
    NoTransaction {
        what: "CLUSTER",
        examples: &["CLUSTER", "CLUSTER VERBOSE"],
        // Every clustered table, one transaction each; `CLUSTER t USING i` is one table.
        matches: |node| matches!(node, NodeEnum::ClusterStmt(s) if s.relation.is_none()),
    },
    NoTransaction {
        what: "ALTER TABLE ... DETACH CONCURRENTLY",
        examples: &["ALTER TABLE parted DETACH PARTITION part CONCURRENTLY"],
        matches: |node| {
            let NodeEnum::AlterTableStmt(s) = node else {
                return false;
            };
            s.cmds.iter().any(|cmd| {
                matches!(&cmd.node, Some(NodeEnum::AlterTableCmd(cmd))
                    if cmd.subtype == AlterTableType::AtDetachPartition as i32
                        && matches!(cmd.def.as_ref().and_then(|d| d.node.as_ref()),
                                    Some(NodeEnum::PartitionCmd(p)) if p.concurrent))
            })
        },
    },
    NoTransaction {
        what: "CREATE DATABASE",
        examples: &["CREATE DATABASE pgfleet_never"],
        matches: |node| matches!(node, NodeEnum::CreatedbStmt(_)),
    },
    NoTransaction {
        what: "DROP DATABASE",
        examples: &[
            "DROP DATABASE pgfleet_never",
            "DROP DATABASE IF EXISTS pgfleet_never",
        ],
        matches: |node| matches!(node, NodeEnum::DropdbStmt(_)),
    },
    NoTransaction {
        what: "ALTER DATABASE SET TABLESPACE",
        examples: &["ALTER DATABASE pgfleet_never SET TABLESPACE pg_default"],
        matches: |node| {
            matches!(node, NodeEnum::AlterDatabaseStmt(s)
                if option(&s.options, "tablespace").is_some())
        },
    },
    NoTransaction {
        what: "CREATE TABLESPACE",
        examples: &["CREATE TABLESPACE pgfleet_never LOCATION '/nonexistent'"],
        matches: |node| matches!(node, NodeEnum::CreateTableSpaceStmt(_)),
    },
    NoTransaction {
        what: "DROP TABLESPACE",
        examples: &[
            "DROP TABLESPACE pgfleet_never",
            "DROP TABLESPACE IF EXISTS pgfleet_never",
        ],
        matches: |node| matches!(node, NodeEnum::DropTableSpaceStmt(_)),
    },
    NoTransaction {
        what: "ALTER SYSTEM",
        examples: &[
            "ALTER SYSTEM SET work_mem = '8MB'",
            "ALTER SYSTEM RESET ALL",
        ],
        matches: |node| matches!(node, NodeEnum::AlterSystemStmt(_)),
    },
    NoTransaction {
        what: "CREATE SUBSCRIPTION ... WITH (create_slot = true)",
        examples: &[
            "CREATE SUBSCRIPTION pgfleet_new CONNECTION 'host=/nonexistent' PUBLICATION p1",
            "CREATE SUBSCRIPTION pgfleet_new CONNECTION 'host=/nonexistent' PUBLICATION p1 \
             WITH (enabled = false)",
            "CREATE SUBSCRIPTION pgfleet_new CONNECTION 'host=/nonexistent' PUBLICATION p1 \
             WITH (connect, create_slot = on)",
        ],
        // A slot is made unless asked not to, or not connecting (which means no slot).
        matches: |node| {
            let NodeEnum::CreateSubscriptionStmt(s) = node else {
                return false;
            };
            let connect = option(&s.options, "connect").is_none_or(is_on);
            option(&s.options, "create_slot").map_or(connect, is_on)
        },
    },
    NoTransaction {
        what: "DROP SUBSCRIPTION",
        examples: &["DROP SUBSCRIPTION pgfleet_sub"],
        // Refused when the subscription has a slot (the usual case), which only the catalogs
        // tell.
        matches: |node| matches!(node, NodeEnum::DropSubscriptionStmt(_)),
    },
    NoTransaction {
        what: "ALTER SUBSCRIPTION ... REFRESH",
        examples: &[
            "ALTER SUBSCRIPTION pgfleet_sub REFRESH PUBLICATION",
            "ALTER SUBSCRIPTION pgfleet_sub REFRESH PUBLICATION WITH (copy_data = false)",
        ],
        matches: |node| {
            matches!(node, NodeEnum::AlterSubscriptionStmt(s)
                if s.kind == AlterSubscriptionType::AlterSubscriptionRefresh as i32)
        },
    },
    NoTransaction {
        what: "ALTER SUBSCRIPTION with refresh",
        examples: &[
            "ALTER SUBSCRIPTION pgfleet_sub SET PUBLICATION p3",
            "ALTER SUBSCRIPTION pgfleet_sub ADD PUBLICATION p3 WITH (refresh = true)",
            "ALTER SUBSCRIPTION pgfleet_sub DROP PUBLICATION p2",
        ],
        // Changing the publications refreshes too, unless `refresh = false`.
        matches: |node| {
            let NodeEnum::AlterSubscriptionStmt(s) = node else {
                return false;
            };
            [
                AlterSubscriptionType::AlterSubscriptionSetPublication,
                AlterSubscriptionType::AlterSubscriptionAddPublication,
                AlterSubscriptionType::AlterSubscriptionDropPublication,
            ]
            .iter()
            .any(|kind| s.kind == *kind as i32)
                && option(&s.options, "refresh").is_none_or(is_on)
        },
    },
    NoTransaction {
        what: "DISCARD ALL",
        examples: &["DISCARD ALL"],
        matches: |node| matches!(node, NodeEnum::DiscardStmt(s) if s.target == DiscardMode::DiscardAll as i32),
    },
    NoTransaction {
        what: "COMMIT PREPARED",
        examples: &["COMMIT PREPARED 'pgfleet_never'"],
        matches: |node| transaction(node, TransactionStmtKind::TransStmtCommitPrepared),
    },
    NoTransaction {
        what: "ROLLBACK PREPARED",
        examples: &["ROLLBACK PREPARED 'pgfleet_never'"],
        matches: |node| transaction(node, TransactionStmtKind::TransStmtRollbackPrepared),
    },
];

fn reindexes(node: &NodeEnum, kind: ReindexObjectType) -> bool {
    matches!(node, NodeEnum::ReindexStmt(s) if s.kind == kind as i32)
}

fn transaction(node: &NodeEnum, kind: TransactionStmtKind) -> bool {
    matches!(node, NodeEnum::TransactionStmt(s) if s.kind == kind as i32)
}

/// The option `name` of a statement's option list.
fn option<'a>(options: &'a [pg_query::protobuf::Node], name: &str) -> Option<&'a DefElem> {
    options.iter().find_map(|o| match &o.node {
        Some(NodeEnum::DefElem(d)) if d.defname == name => Some(d.as_ref()),
        _ => None,
    })
}

/// A boolean option's value as the server reads it (`defGetBoolean`): no value is true.
fn is_on(option: &DefElem) -> bool {
    let word = match option.arg.as_ref().and_then(|a| a.node.as_ref()) {
        None => return true,
        Some(NodeEnum::Integer(i)) => return i.ival != 0,
        Some(NodeEnum::Boolean(b)) => return b.boolval,
        Some(NodeEnum::String(s)) => s.sval.to_lowercase(),
        // An unreserved word (`off`) is parsed as a type name.
        Some(NodeEnum::TypeName(t)) => match t.names.last().and_then(|n| n.node.as_ref()) {
            Some(NodeEnum::String(s)) => s.sval.to_lowercase(),
            _ => return true,
        },
        _ => return true,
    };
    !matches!(word.as_str(), "false" | "off" | "no" | "0")
}

/// The name of what `node` is when PostgreSQL refuses it in a transaction block.
pub(crate) fn needs_no_transaction(node: &NodeEnum) -> Option<&'static str> {
    NO_TRANSACTION
        .iter()
        .find(|kind| (kind.matches)(node))
        .map(|kind| kind.what)
}

/// `Err((line, message))` when a transactional script holds a statement that cannot run in a
/// transaction, or transaction control of its own. Text the parser rejects is left for the
/// server to report (with its own message and position). The file is parsed a run of
/// statements at a time ([`source::for_each_statement`]), never whole.
pub fn check_script(script: &Script) -> Result<(), (Option<usize>, String)> {
    if script.directives.no_transaction {
        return Ok(());
    }
    check_transactional(&script.sql)
}

/// [`check_script`]'s check of the text of a file that runs in one transaction.
pub fn check_transactional(sql: &str) -> Result<(), (Option<usize>, String)> {
    let found = source::for_each_statement(sql, |range, node| {
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
        Ok(Some((offset, message))) => Err((Some(statement_line(sql, offset)), message)),
        // Unscannable text is the server's to report too.
        Ok(None) | Err(_) => Ok(()),
    }
}

/// The line where the code of the statement starting at byte `offset` begins (after its
/// leading comments).
pub(crate) fn statement_line(sql: &str, offset: usize) -> usize {
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
    fn each_example_is_refused_under_its_own_name() {
        for kind in NO_TRANSACTION {
            for example in kind.examples {
                let (line, message) = check_transactional(example).expect_err(example);
                assert_eq!(line, Some(1));
                assert!(
                    message.starts_with(&format!("{} cannot run", kind.what)),
                    "{example}: {message}"
                );
            }
        }
    }

    #[test]
    fn analyze_and_options_turned_off_are_accepted() {
        for sql in [
            "ANALYZE",
            "ANALYZE t (c)",
            "ANALYZE VERBOSE t",
            "REINDEX (CONCURRENTLY false) TABLE t",
            "REINDEX TABLE t",
            "CLUSTER t USING i",
            "CREATE SUBSCRIPTION s CONNECTION 'x' PUBLICATION p WITH (connect = false)",
            "CREATE SUBSCRIPTION s CONNECTION 'x' PUBLICATION p WITH (create_slot = off)",
            "ALTER SUBSCRIPTION s ADD PUBLICATION p WITH (refresh = false)",
            "ALTER SUBSCRIPTION s SET (slot_name = NONE)",
            "ALTER DATABASE d SET work_mem = '8MB'",
            "ALTER TABLE parted DETACH PARTITION part",
            "ALTER TABLE parted DETACH PARTITION part FINALIZE",
            "DISCARD PLANS",
            "PREPARE q AS SELECT 1",
        ] {
            assert!(check_transactional(sql).is_ok(), "{sql}");
        }
    }

    #[test]
    fn detects_concurrent_index_builds() {
        assert!(is_concurrent_index_build(
            "create index concurrently i on t(x)"
        ));
        assert!(!is_concurrent_index_build("create index i on t(x)"));
    }
}
