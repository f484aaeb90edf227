//! The difference between desired and live facts, as SQL statements with their reasons.

use super::facts::{Fact, Object};
use pgfleet_core::ident::{quote_ident, quote_literal};
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
    pub(super) exec: Exec,
    #[serde(skip)]
    rank: u8,
}

/// How a statement runs.
#[derive(Debug, Clone)]
pub(super) enum Exec {
    Sql(String),
    /// Through `pgfleet_pg::password::set`, so that the verifier never appears in a statement's text.
    SetPassword {
        role: String,
        verifier: String,
    },
}

/// Which side of a difference has the fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DifferenceKind {
    /// The manifest wants it, the database does not have it.
    Missing,
    /// The database has it, the manifest not.
    Extra,
}

impl DifferenceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DifferenceKind::Missing => "missing",
            DifferenceKind::Extra => "extra",
        }
    }
}

/// One difference between the manifest and the database.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    pub kind: DifferenceKind,
    pub fact: Fact,
    pub description: String,
}

/// The differences, each once: a role whose attributes differ is one difference.
pub fn differences(desired: &BTreeSet<Fact>, live: &BTreeSet<Fact>) -> Vec<Difference> {
    let mut out = Vec::new();
    for fact in desired.difference(live) {
        out.push(Difference {
            kind: DifferenceKind::Missing,
            description: match (fact, role_in(live, fact)) {
                (Fact::Role { .. }, Some(existing)) => {
                    format!("{existing}, but the manifest says {fact}")
                }
                (Fact::RoleSetting { .. }, _) => match setting_in(live, fact) {
                    Some(current) => {
                        format!("{current}, but the manifest says {}", setting_value(fact))
                    }
                    None => format!("missing: {fact}"),
                },
                (Fact::Password { role }, _) => {
                    format!("the password of {role} is not the one its variable gives")
                }
                // Who owns it now says where it came from (an adopted database's superuser).
                (Fact::Owner { object, role }, _) => match owner_in(live, object) {
                    Some(current) => {
                        format!("{object} is owned by {current}, but the manifest says {role}")
                    }
                    None => format!("missing: {fact}"),
                },
                _ => format!("missing: {fact}"),
            },
            fact: fact.clone(),
        });
    }
    for fact in live.difference(desired) {
        // The other side of an attribute or ownership difference is already reported; an
        // object the manifest has no owner for (a schema a runtime role owns) is not.
        let reported = match fact {
            Fact::Role { .. } => true,
            // Another value of a setting the manifest has is set over, not reset.
            Fact::RoleSetting { .. } => setting_in(desired, fact).is_some(),
            Fact::Owner { object, .. } => desired
                .iter()
                .any(|f| matches!(f, Fact::Owner { object: o, .. } if o == object)),
            _ => false,
        };
        if reported {
            continue;
        }
        out.push(Difference {
            kind: DifferenceKind::Extra,
            description: format!("not in the manifest: {fact}"),
            fact: fact.clone(),
        });
    }
    out
}

fn owner_in<'a>(facts: &'a BTreeSet<Fact>, object: &Object) -> Option<&'a str> {
    facts.iter().find_map(|f| match f {
        Fact::Owner { object: o, role } if o == object => Some(role.as_str()),
        _ => None,
    })
}

/// The fact in `facts` for the same role setting as `wanted` (same role, database, name).
fn setting_in<'a>(facts: &'a BTreeSet<Fact>, wanted: &Fact) -> Option<&'a Fact> {
    let Fact::RoleSetting {
        role,
        database,
        name,
        ..
    } = wanted
    else {
        return None;
    };
    facts.iter().find(|f| {
        matches!(f, Fact::RoleSetting { role: r, database: d, name: n, .. }
            if r == role && d == database && n == name)
    })
}

fn setting_value(fact: &Fact) -> &str {
    match fact {
        Fact::RoleSetting { value, .. } => value,
        _ => "",
    }
}

fn role_in<'a>(facts: &'a BTreeSet<Fact>, wanted: &Fact) -> Option<&'a Fact> {
    let Fact::Role { role: name, .. } = wanted else {
        return None;
    };
    facts
        .iter()
        .find(|f| matches!(f, Fact::Role { role, .. } if role == name))
}

/// What a plan needs beyond the facts: passwords of logins (as SCRAM verifiers), and the
/// owner role that takes over what a role that must own nothing owns.
#[derive(Debug, Default)]
pub struct Extras {
    pub verifiers: BTreeMap<String, String>,
    /// Roles that must own nothing → their service's owner role.
    pub owner_of: BTreeMap<String, String>,
    /// The admin is not a superuser: it needs membership to act for those roles.
    pub borrow_membership: bool,
}

fn grantee(role: &str) -> String {
    if role == "PUBLIC" {
        "PUBLIC".to_owned()
    } else {
        quote_ident(role)
    }
}

/// Statements that turn `live` into `desired`, in an order that works: roles and their
/// passwords and settings, memberships, ownership, grants, default privileges, row security,
/// policies, then revocations.
pub fn statements(
    differences: &[Difference],
    live: &BTreeSet<Fact>,
    extras: &Extras,
) -> Vec<Statement> {
    let mut out = Vec::new();
    let mut passwords = Vec::new();
    for d in differences {
        let reason = d.description.clone();
        match (d.kind, &d.fact) {
            (DifferenceKind::Missing, wanted @ Fact::Role { role, .. }) => {
                match role_in(live, wanted) {
                    // Only the clauses that differ: a CREATEROLE login may not send NOSUPERUSER,
                    // NOREPLICATION or NOBYPASSRLS (PostgreSQL 15), even to a role without them.
                    Some(existing) => push(
                        &mut out,
                        0,
                        format!(
                            "ALTER ROLE {} {}",
                            quote_ident(role),
                            role_clauses(Some(existing), wanted)
                        ),
                        reason,
                    ),
                    None => {
                        push(
                            &mut out,
                            0,
                            format!(
                                "CREATE ROLE {} {}",
                                quote_ident(role),
                                role_clauses(None, wanted)
                            ),
                            reason.clone(),
                        );
                        if extras.verifiers.contains_key(role) {
                            passwords.push((role.clone(), reason));
                        }
                    }
                }
            }
            (DifferenceKind::Missing, Fact::Password { role }) => {
                let created = !live
                    .iter()
                    .any(|f| matches!(f, Fact::Role { role: r, .. } if r == role));
                if !created && extras.verifiers.contains_key(role) {
                    passwords.push((role.clone(), reason));
                }
            }
            (
                kind,
                Fact::RoleSetting {
                    role,
                    database,
                    name,
                    value,
                },
            ) => {
                let scope = match database {
                    Some(database) => format!(" IN DATABASE {}", quote_ident(database)),
                    None => String::new(),
                };
                let is_list = name == "search_path";
                // A setting's name is one identifier or two (`app.user_id`).
                let name = name
                    .split('.')
                    .map(quote_ident)
                    .collect::<Vec<_>>()
                    .join(".");
                let action = if kind == DifferenceKind::Missing {
                    // search_path is a list: one literal would be one schema named `a, public`.
                    // Its value is already a list of quoted or plain identifiers.
                    let value = if is_list {
                        value.clone()
                    } else {
                        quote_literal(value)
                    };
                    format!("SET {name} = {value}")
                } else {
                    format!("RESET {name}")
                };
                push(
                    &mut out,
                    0,
                    format!("ALTER ROLE {}{scope} {action}", quote_ident(role)),
                    reason,
                );
            }
            (DifferenceKind::Missing, Fact::Member { role, member }) => {
                push(
                    &mut out,
                    1,
                    format!("GRANT {} TO {}", quote_ident(role), quote_ident(member)),
                    reason,
                );
            }
            (DifferenceKind::Extra, Fact::Member { role, member }) => {
                push(
                    &mut out,
                    11,
                    format!("REVOKE {} FROM {}", quote_ident(role), quote_ident(member)),
                    reason,
                );
            }
            (DifferenceKind::Missing, Fact::Owner { object, role }) => {
                let rank = if object.kind == super::facts::ObjectKind::Schema {
                    2
                } else {
                    3
                };
                let keyword = object.kind.alter_keyword();
                push(
                    &mut out,
                    rank,
                    format!(
                        "ALTER {keyword} {} OWNER TO {}",
                        object.sql_name(),
                        quote_ident(role)
                    ),
                    reason,
                );
                // Taking it from a role that must own nothing needs that role's privileges.
                if let Some(current) = owner_in(live, object) {
                    as_member(&mut out, extras, current);
                }
            }
            (DifferenceKind::Extra, Fact::Owner { object, role }) => {
                // Owned by a role that must own nothing: its service's owner takes it over.
                let Some(owner) = extras.owner_of.get(role) else {
                    continue;
                };
                let rank = if object.kind == super::facts::ObjectKind::Schema {
                    2
                } else {
                    3
                };
                push(
                    &mut out,
                    rank,
                    format!(
                        "ALTER {} {} OWNER TO {}",
                        object.kind.alter_keyword(),
                        object.sql_name(),
                        quote_ident(owner)
                    ),
                    reason,
                );
                as_member(&mut out, extras, role);
            }
            (
                DifferenceKind::Missing,
                Fact::Grant {
                    object,
                    grantee: to,
                    privilege,
                },
            ) => {
                push(
                    &mut out,
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
                DifferenceKind::Extra,
                Fact::Grant {
                    object,
                    grantee: from,
                    privilege,
                },
            ) => {
                push(
                    &mut out,
                    10,
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
                DifferenceKind::Missing,
                Fact::DefaultGrant {
                    owner,
                    schema,
                    on,
                    grantee: to,
                    privilege,
                },
            ) => {
                push(
                    &mut out,
                    5,
                    format!(
                        "ALTER DEFAULT PRIVILEGES FOR ROLE {}{} GRANT {privilege} ON {} TO {}",
                        quote_ident(owner),
                        in_schema(schema),
                        on.keyword(),
                        grantee(to)
                    ),
                    reason,
                );
            }
            (
                DifferenceKind::Extra,
                Fact::DefaultGrant {
                    owner,
                    schema,
                    on,
                    grantee: from,
                    privilege,
                },
            ) => {
                push(
                    &mut out,
                    10,
                    format!(
                        "ALTER DEFAULT PRIVILEGES FOR ROLE {}{} REVOKE {privilege} ON {} FROM {}",
                        quote_ident(owner),
                        in_schema(schema),
                        on.keyword(),
                        grantee(from)
                    ),
                    reason,
                );
                as_member(&mut out, extras, owner);
            }
            (DifferenceKind::Missing, Fact::RowSecurity { table }) => {
                push(
                    &mut out,
                    6,
                    format!(
                        "ALTER TABLE {} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY",
                        qualified(table)
                    ),
                    reason,
                );
            }
            (
                DifferenceKind::Missing,
                Fact::Policy {
                    table,
                    name,
                    roles,
                    command,
                    using,
                    check,
                },
            ) => {
                let mut sql = format!(
                    "CREATE POLICY {} ON {} AS PERMISSIVE FOR {command} TO {}",
                    quote_ident(name),
                    qualified(table),
                    roles
                        .iter()
                        .map(|r| grantee(r))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                if let Some(using) = using {
                    sql.push_str(&format!(" USING ({using})"));
                }
                if let Some(check) = check {
                    sql.push_str(&format!(" WITH CHECK ({check})"));
                }
                push(&mut out, 8, sql, reason);
            }
            // A permissive policy the manifest does not ask for (or one pgfleet made and
            // somebody altered) widens what the roles see: dropped, and pgfleet's made again.
            (DifferenceKind::Extra, Fact::Policy { table, name, .. }) => {
                push(
                    &mut out,
                    7,
                    format!("DROP POLICY {} ON {}", quote_ident(name), qualified(table)),
                    reason,
                );
            }
            // RLS that the manifest does not ask for is the service's own business.
            _ => {}
        }
    }
    for (role, reason) in passwords {
        let verifier = extras.verifiers[&role].clone();
        out.push(Statement {
            sql: format!(
                "ALTER ROLE {} PASSWORD '{}'",
                quote_ident(&role),
                pgfleet_core::secret::REDACTED
            ),
            exec: Exec::SetPassword { role, verifier },
            reason,
            rank: 0,
        });
    }
    out.sort_by_key(|s| s.rank);
    out
}

fn push(out: &mut Vec<Statement>, rank: u8, sql: String, reason: String) {
    out.push(Statement {
        exec: Exec::Sql(sql.clone()),
        sql,
        reason,
        rank,
    });
}

/// Runs the last statement with `role`'s privileges, when the admin lacks them: acting for a
/// role (its default privileges) or on what it owns needs membership in it, which a CREATEROLE
/// admin may grant itself. The membership lasts for the statement only (and a statement that
/// fails takes it back with its savepoint).
fn as_member(out: &mut [Statement], extras: &Extras, role: &str) {
    if !extras.borrow_membership || !extras.owner_of.contains_key(role) {
        return;
    }
    if let Some(statement) = out.last_mut() {
        statement.exec = Exec::Sql(format!(
            "GRANT {role} TO CURRENT_USER; {}; REVOKE {role} FROM CURRENT_USER",
            statement.sql,
            role = quote_ident(role)
        ));
    }
}

/// The attribute clauses that turn `existing` into `wanted` (all of them for a new role).
fn role_clauses(existing: Option<&Fact>, wanted: &Fact) -> String {
    let (
        Fact::Role {
            login,
            connection_limit,
            inherit,
            elevated,
            ..
        },
        existing,
    ) = (
        wanted,
        existing.and_then(|f| match f {
            Fact::Role {
                login,
                connection_limit,
                inherit,
                elevated,
                ..
            } => Some((login, connection_limit, inherit, elevated)),
            _ => None,
        }),
    )
    else {
        return String::new();
    };
    let mut clauses = Vec::new();
    if existing.is_none_or(|e| e.0 != login) {
        clauses.push(if *login { "LOGIN" } else { "NOLOGIN" }.to_owned());
    }
    for attribute in [
        "SUPERUSER",
        "CREATEDB",
        "CREATEROLE",
        "REPLICATION",
        "BYPASSRLS",
    ] {
        let want = elevated.iter().any(|a| a == attribute);
        match existing {
            // A new role starts without them; only what it should have is said.
            None if want => clauses.push(attribute.to_owned()),
            None => {}
            Some(e) if e.3.iter().any(|a| a == attribute) != want => {
                clauses.push(if want {
                    attribute.to_owned()
                } else {
                    format!("NO{attribute}")
                });
            }
            Some(_) => {}
        }
    }
    if existing.is_none_or(|e| e.2 != inherit) {
        clauses.push(if *inherit { "INHERIT" } else { "NOINHERIT" }.to_owned());
    }
    if existing.is_none_or(|e| e.1 != connection_limit) {
        clauses.push(format!("CONNECTION LIMIT {connection_limit}"));
    }
    clauses.join(" ")
}

fn in_schema(schema: &Option<String>) -> String {
    match schema {
        Some(schema) => format!(" IN SCHEMA {}", quote_ident(schema)),
        None => String::new(),
    }
}

fn qualified(table: &str) -> String {
    match table.split_once('.') {
        Some((schema, name)) => format!("{}.{}", quote_ident(schema), quote_ident(name)),
        None => quote_ident(table),
    }
}
