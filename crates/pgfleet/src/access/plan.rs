//! The difference between desired and live facts, as SQL statements with their reasons.

use super::facts::{Fact, Object};
use pgfleet_core::ident::{quote_ident, quote_literal};
use pgfleet_core::manifest::RlsPolicy;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One statement of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct Statement {
    /// The statement as reports show it: a role's password verifier is replaced by `***`.
    pub sql: String,
    pub reason: String,
    /// The statement as it runs.
    #[serde(skip)]
    pub(super) exec: String,
    #[serde(skip)]
    rank: u8,
}

/// One difference between the manifest and the database.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    /// `missing` (the manifest wants it) or `extra` (the database has it, the manifest not).
    pub kind: &'static str,
    pub fact: Fact,
    pub description: String,
}

/// The differences, each once: a role whose attributes differ is one difference.
pub fn differences(desired: &BTreeSet<Fact>, live: &BTreeSet<Fact>) -> Vec<Difference> {
    let mut out = Vec::new();
    for fact in desired.difference(live) {
        out.push(Difference {
            kind: "missing",
            description: match (fact, role_in(live, fact)) {
                (Fact::Role { .. }, Some(existing)) => {
                    format!("{existing}, but the manifest says {fact}")
                }
                _ => format!("missing: {fact}"),
            },
            fact: fact.clone(),
        });
    }
    for fact in live.difference(desired) {
        // The other side of an attribute or ownership difference is already reported.
        if matches!(fact, Fact::Role { .. } | Fact::Owner { .. }) {
            continue;
        }
        out.push(Difference {
            kind: "extra",
            description: format!("not in the manifest: {fact}"),
            fact: fact.clone(),
        });
    }
    out
}

fn role_in<'a>(facts: &'a BTreeSet<Fact>, wanted: &Fact) -> Option<&'a Fact> {
    let Fact::Role { role: name, .. } = wanted else {
        return None;
    };
    facts
        .iter()
        .find(|f| matches!(f, Fact::Role { role, .. } if role == name))
}

/// What a plan needs beyond the facts: passwords of roles to create (as SCRAM verifiers) and
/// the RLS policies with the type of their key column.
#[derive(Debug, Default)]
pub struct Extras {
    pub verifiers: BTreeMap<String, String>,
    /// (schema, table) → (policy, key column type)
    pub rls: BTreeMap<(String, String), (RlsPolicy, String)>,
    /// Roles whose RLS policy lets them see every row (owners; readers with `readers = "all"`).
    pub sees_all: BTreeSet<String>,
}

fn grantee(role: &str) -> String {
    if role == "PUBLIC" {
        "PUBLIC".to_owned()
    } else {
        quote_ident(role)
    }
}

/// Statements that turn `live` into `desired`, in an order that works: roles, memberships,
/// ownership, grants, default privileges, row security, then revocations.
pub fn statements(
    differences: &[Difference],
    live: &BTreeSet<Fact>,
    extras: &Extras,
) -> Vec<Statement> {
    let mut out = Vec::new();
    let mut push = |rank: u8, exec: String, reason: String| {
        out.push(Statement {
            sql: redact(&exec),
            exec,
            reason,
            rank,
        })
    };
    for d in differences {
        let reason = d.description.clone();
        match (d.kind, &d.fact) {
            (
                "missing",
                Fact::Role {
                    role,
                    login,
                    connection_limit,
                    ..
                },
            ) => {
                let attributes = format!(
                    "{} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT CONNECTION LIMIT {connection_limit}",
                    if *login { "LOGIN" } else { "NOLOGIN" }
                );
                if role_in(live, &d.fact).is_some() {
                    push(
                        0,
                        format!("ALTER ROLE {} {attributes}", quote_ident(role)),
                        reason,
                    );
                } else {
                    let password = extras
                        .verifiers
                        .get(role)
                        .map(|v| format!(" PASSWORD {}", quote_literal(v)))
                        .unwrap_or_default();
                    push(
                        0,
                        format!("CREATE ROLE {} {attributes}{password}", quote_ident(role)),
                        reason,
                    );
                }
            }
            ("missing", Fact::Member { role, member }) => {
                push(
                    1,
                    format!("GRANT {} TO {}", quote_ident(role), quote_ident(member)),
                    reason,
                );
            }
            ("extra", Fact::Member { role, member }) => {
                push(
                    9,
                    format!("REVOKE {} FROM {}", quote_ident(role), quote_ident(member)),
                    reason,
                );
            }
            ("missing", Fact::Owner { object, role }) => {
                let rank = if object.kind == super::facts::ObjectKind::Schema {
                    2
                } else {
                    3
                };
                let keyword = owner_keyword(object);
                push(
                    rank,
                    format!(
                        "ALTER {keyword} {} OWNER TO {}",
                        object.sql_name(),
                        quote_ident(role)
                    ),
                    reason,
                );
            }
            (
                "missing",
                Fact::Grant {
                    object,
                    grantee: to,
                    privilege,
                },
            ) => {
                push(
                    4,
                    format!(
                        "GRANT {privilege} ON {} {} TO {}",
                        object.kind.keyword(),
                        object.sql_name(),
                        grantee(to)
                    ),
                    reason,
                );
            }
            (
                "extra",
                Fact::Grant {
                    object,
                    grantee: from,
                    privilege,
                },
            ) => {
                push(
                    8,
                    format!(
                        "REVOKE {privilege} ON {} {} FROM {}",
                        object.kind.keyword(),
                        object.sql_name(),
                        grantee(from)
                    ),
                    reason,
                );
            }
            (
                "missing",
                Fact::DefaultGrant {
                    owner,
                    schema,
                    on,
                    grantee: to,
                    privilege,
                },
            ) => {
                push(
                    5,
                    format!(
                        "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT {privilege} ON {} TO {}",
                        quote_ident(owner),
                        quote_ident(schema),
                        on.keyword(),
                        grantee(to)
                    ),
                    reason,
                );
            }
            (
                "extra",
                Fact::DefaultGrant {
                    owner,
                    schema,
                    on,
                    grantee: from,
                    privilege,
                },
            ) => {
                push(
                    8,
                    format!(
                        "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} REVOKE {privilege} ON {} FROM {}",
                        quote_ident(owner),
                        quote_ident(schema),
                        on.keyword(),
                        grantee(from)
                    ),
                    reason,
                );
            }
            ("missing", Fact::RowSecurity { table }) => {
                push(
                    6,
                    format!(
                        "ALTER TABLE {} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY",
                        qualified(table)
                    ),
                    reason,
                );
            }
            ("missing", Fact::Policy { table, role }) => {
                let (schema, name) = table.split_once('.').unwrap_or(("public", table));
                let Some((policy, column_type)) =
                    extras.rls.get(&(schema.to_owned(), name.to_owned()))
                else {
                    continue;
                };
                // The runtime role sees the rows of the session's user; the owner sees all.
                let predicate = if extras.sees_all.contains(role) {
                    "true".to_owned()
                } else {
                    format!(
                        "{} = nullif(current_setting({}, true), '')::{column_type}",
                        quote_ident(&policy.column),
                        quote_literal(&policy.setting)
                    )
                };
                push(
                    7,
                    format!(
                        "CREATE POLICY {} ON {} FOR ALL TO {} USING ({predicate}) WITH CHECK ({predicate})",
                        quote_ident(&format!("pgfleet_{role}")),
                        qualified(table),
                        quote_ident(role)
                    ),
                    reason,
                );
            }
            // An extra policy, or RLS that the manifest does not ask for, is the service's own
            // business (a migration may create them): reported by check, never dropped.
            _ => {}
        }
    }
    out.sort_by_key(|s| s.rank);
    out
}

/// Hides a SCRAM verifier (`PASSWORD '…'`): not the password, but nothing to print or audit.
fn redact(sql: &str) -> String {
    match sql.find(" PASSWORD '") {
        Some(at) => format!(
            "{} PASSWORD '{}'",
            &sql[..at],
            pgfleet_core::secret::REDACTED
        ),
        None => sql.to_owned(),
    }
}

fn qualified(table: &str) -> String {
    match table.split_once('.') {
        Some((schema, name)) => format!("{}.{}", quote_ident(schema), quote_ident(name)),
        None => quote_ident(table),
    }
}

fn owner_keyword(object: &Object) -> &'static str {
    use super::facts::ObjectKind::*;
    match object.kind {
        // ALTER TABLE works for views and sequences too.
        Table | Sequence => "TABLE",
        Database => "DATABASE",
        Schema => "SCHEMA",
        Function => "ROUTINE",
    }
}
