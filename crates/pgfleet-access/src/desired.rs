//! The access state the manifest asks for, as facts.

use super::facts::{
    DefaultKind, Fact, Object, ObjectKind, canonical_setting, duration_setting, setting_identifier,
};
use super::live::Live;
use pgfleet_core::Manifest;
use pgfleet_core::ident::{quote_ident, quote_literal};
use pgfleet_core::manifest::Service;
use std::collections::BTreeSet;

/// The schema a service owns: its own, or `public` of its own database.
pub fn schema_of(service: &Service) -> String {
    service.placement.schema().unwrap_or("public").to_owned()
}

const RUNTIME_TABLE: [&str; 4] = ["SELECT", "INSERT", "UPDATE", "DELETE"];
const RUNTIME_SEQUENCE: [&str; 2] = ["USAGE", "SELECT"];

/// Roles and memberships of the services on one server (cluster-wide facts).
pub fn cluster(
    manifest: &Manifest,
    services: &[&Service],
    admin: &str,
    admin_is_superuser: bool,
) -> BTreeSet<Fact> {
    let mut facts = BTreeSet::new();
    for service in services {
        let access = &service.access;
        for (role, login, limit) in [
            (&access.owner_role, false, -1),
            (&access.runtime_role, true, access.connection_limit),
            (&access.readonly_role, false, -1),
        ] {
            facts.insert(Fact::Role {
                role: role.clone(),
                login,
                connection_limit: limit,
                inherit: true,
                elevated: Vec::new(),
            });
            facts.extend(role_settings(service, role));
        }
        // Project SQL runs as the migration login, a member of the owner and of nothing else
        // (NOINHERIT: with `RESET ROLE` it has no rights at all).
        facts.insert(Fact::Role {
            role: access.migration_role.clone(),
            login: true,
            connection_limit: crate::MIGRATION_LOGIN_CONNECTION_LIMIT,
            inherit: false,
            elevated: Vec::new(),
        });
        facts.insert(Fact::Member {
            role: access.owner_role.clone(),
            member: access.migration_role.clone(),
        });
        // pgfleet's login sets up the owner's objects (ownership, default privileges).
        if !admin_is_superuser {
            facts.insert(Fact::Member {
                role: access.owner_role.clone(),
                member: admin.to_owned(),
            });
        }
        for read in &service.reads {
            let Some(other) = manifest.services.get(read) else {
                continue;
            };
            // Roles are per cluster: a read across servers cannot be granted. The owner reads
            // too, so that the service's views and functions over the other's data work.
            if other.server == service.server {
                for member in [&access.runtime_role, &access.owner_role] {
                    facts.insert(Fact::Member {
                        role: other.access.readonly_role.clone(),
                        member: member.clone(),
                    });
                }
            }
        }
    }
    facts
}

/// The `ALTER ROLE … SET` settings a service's role should have, role-wide (every database,
/// every client: psql, Django, asyncpg and Go sessions get them without client code). The
/// runtime role gets the pool table's limits and, for a schema-placed service, a search_path
/// with its schema first; other roles none, so every setting found on them is drift (a
/// `role` that changes who the login acts as).
fn role_settings(service: &Service, role: &str) -> Vec<Fact> {
    if role != service.access.runtime_role {
        return Vec::new();
    }
    let pool = &service.pool;
    let mut settings = vec![
        (
            "statement_timeout",
            duration_setting(pool.statement_timeout),
        ),
        (
            "idle_in_transaction_session_timeout",
            duration_setting(pool.idle_in_transaction_session_timeout),
        ),
    ];
    if let Some(lock_timeout) = pool.lock_timeout {
        settings.push(("lock_timeout", duration_setting(lock_timeout)));
    }
    if let Some(schema) = service.placement.schema() {
        settings.push((
            "search_path",
            format!("{}, public", setting_identifier(schema)),
        ));
    }
    settings
        .into_iter()
        .map(|(name, value)| Fact::RoleSetting {
            role: role.to_owned(),
            database: None,
            name: name.to_owned(),
            value: canonical_setting(name, &value),
        })
        .collect()
}

/// Grants, ownership, default privileges and RLS inside one database, for the services that
/// live in it; existing objects are taken from `live`.
pub fn database(database: &str, services: &[&Service], live: &Live) -> BTreeSet<Fact> {
    let mut facts = BTreeSet::new();
    let grant =
        |facts: &mut BTreeSet<Fact>, object: &Object, grantee: &str, privileges: &[&str]| {
            for privilege in privileges {
                facts.insert(Fact::Grant {
                    object: object.clone(),
                    grantee: grantee.to_owned(),
                    privilege: (*privilege).to_owned(),
                });
            }
        };
    let db = Object::database(database);
    for service in services {
        let access = &service.access;
        let schema = schema_of(service);
        let mut table_privileges: Vec<&str> = RUNTIME_TABLE.to_vec();
        if access.truncate {
            table_privileges.push("TRUNCATE");
        }
        // Temporary tables are private to a session: the service's own roles may have them
        // (CREATE TEMP TABLE, REFRESH MATERIALIZED VIEW CONCURRENTLY need it).
        grant(
            &mut facts,
            &db,
            &access.runtime_role,
            &["CONNECT", "TEMPORARY"],
        );
        grant(&mut facts, &db, &access.owner_role, &["TEMPORARY"]);
        grant(&mut facts, &db, &access.readonly_role, &["CONNECT"]);
        grant(&mut facts, &db, &access.migration_role, &["CONNECT"]);
        if service.placement.schema().is_none() {
            // A database of its own: the owner may add schemas and trusted extensions
            // (pg_trgm…) from its migrations.
            grant(&mut facts, &db, &access.owner_role, &["CREATE"]);
        }

        let schema_object = Object::schema(&schema);
        facts.insert(Fact::Owner {
            object: schema_object.clone(),
            role: access.owner_role.clone(),
        });
        grant(&mut facts, &schema_object, &access.runtime_role, &["USAGE"]);
        grant(
            &mut facts,
            &schema_object,
            &access.readonly_role,
            &["USAGE"],
        );

        for (object, object_schema) in &live.objects {
            if *object_schema != schema {
                continue;
            }
            facts.insert(Fact::Owner {
                object: object.clone(),
                role: access.owner_role.clone(),
            });
            // Another tool's history table (an adopted database): the owner's, nobody else's.
            if object.kind == ObjectKind::Table
                && pgfleet_core::foreign_history::is_history_table(&object.name)
            {
                continue;
            }
            match object.kind {
                kind if kind.is_relation()
                    && (access.append_only.contains(&object.name)
                        || live
                            .partition_roots
                            .get(object)
                            .is_some_and(|root| access.append_only.contains(root))) =>
                {
                    grant(
                        &mut facts,
                        object,
                        &access.runtime_role,
                        &["SELECT", "INSERT"],
                    );
                    grant(&mut facts, object, &access.readonly_role, &["SELECT"]);
                }
                kind if kind.is_relation() => {
                    grant(&mut facts, object, &access.runtime_role, &table_privileges);
                    grant(&mut facts, object, &access.readonly_role, &["SELECT"]);
                }
                ObjectKind::Sequence => {
                    grant(&mut facts, object, &access.runtime_role, &RUNTIME_SEQUENCE);
                    grant(&mut facts, object, &access.readonly_role, &["SELECT"]);
                }
                // A service's functions are its API: readers may call them.
                kind if kind.is_routine() => {
                    grant(&mut facts, object, &access.runtime_role, &["EXECUTE"]);
                    grant(&mut facts, object, &access.readonly_role, &["EXECUTE"]);
                }
                // Types, operators and the like are only owned: the service's roles use them
                // through PUBLIC's default USAGE.
                _ => {}
            }
        }

        // What later migrations create is covered without another apply. Tables get no
        // default grants: a new table may be append-only or under row security, so each
        // migration run grants on what it created, as the manifest says, when it ends
        // (`access::new_object_statements`); until then no service role sees it at all.
        let mut default = |on: DefaultKind, grantee: &str, privileges: &[&str]| {
            for privilege in privileges {
                facts.insert(Fact::DefaultGrant {
                    owner: access.owner_role.clone(),
                    schema: Some(schema.clone()),
                    on,
                    grantee: grantee.to_owned(),
                    privilege: (*privilege).to_owned(),
                });
            }
        };
        default(
            DefaultKind::Sequences,
            &access.runtime_role,
            &RUNTIME_SEQUENCE,
        );
        default(DefaultKind::Sequences, &access.readonly_role, &["SELECT"]);
        default(DefaultKind::Functions, &access.runtime_role, &["EXECUTE"]);
        default(DefaultKind::Functions, &access.readonly_role, &["EXECUTE"]);

        for policy in &access.rls {
            let Some(column_type) = live
                .rls_columns
                .get(&(schema.clone(), policy.table.clone()))
            else {
                continue;
            };
            let table = format!("{schema}.{}", policy.table);
            facts.insert(Fact::RowSecurity {
                table: table.clone(),
            });
            // The runtime role sees the rows of the session's user. RLS is forced, so the
            // owner (migrations, backfills) needs a policy of its own that sees every row;
            // readers get the session's rows, or every row with `readers = "all"`.
            let session_rows = session_predicate(&policy.column, &policy.setting, column_type);
            for (role, predicate) in [
                (&access.runtime_role, session_rows.as_str()),
                (&access.owner_role, "true"),
                (
                    &access.readonly_role,
                    if policy.readers_see_all {
                        "true"
                    } else {
                        session_rows.as_str()
                    },
                ),
            ] {
                let definition = canonical_expression(predicate);
                facts.insert(Fact::Policy {
                    table: table.clone(),
                    name: format!("pgfleet_{role}"),
                    roles: vec![role.clone()],
                    command: "ALL".to_owned(),
                    using: Some(definition.clone()),
                    check: Some(definition),
                });
            }
        }
    }
    facts
}

/// `column = the session's setting`, written as the server prints it back (casts on the
/// literals, none to `text` where the column is text), so that it compares equal to the
/// policy's definition read from pg_policies.
fn session_predicate(column: &str, setting: &str, column_type: &str) -> String {
    let value = format!(
        "NULLIF(current_setting({}::text, true), ''::text)",
        quote_literal(setting)
    );
    let column = quote_ident(column);
    if column_type == "text" {
        format!("{column} = {value}")
    } else if column_type.starts_with("character varying") {
        // varchar has no `=` of its own: the server compares both sides as text.
        format!("({column})::text = (({value})::{column_type})::text")
    } else {
        format!("{column} = ({value})::{column_type}")
    }
}

/// A policy expression in one canonical spelling (parsed and printed again by PostgreSQL's
/// parser, so parentheses, spacing and quoting do not matter). An expression that does not
/// parse stays as it is, and so differs from every expression pgfleet writes.
pub fn canonical_expression(expression: &str) -> String {
    let select = format!("SELECT {expression}");
    match pg_query::parse(&select, 0).and_then(|p| p.deparse(Default::default())) {
        Ok(text) => text
            .strip_prefix("SELECT ")
            .map(str::to_owned)
            .unwrap_or(text),
        Err(_) => expression.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What PostgreSQL 15 prints in pg_policies.qual for the policies pgfleet creates.
    #[test]
    fn session_predicates_compare_equal_to_the_servers_own_spelling() {
        let value = "NULLIF(current_setting('app.x'::text, true), ''::text)";
        for (column_type, server) in [
            ("text", format!("(a = {value})")),
            ("uuid", format!("(a = ({value})::uuid)")),
            ("bigint", format!("(a = ({value})::bigint)")),
            ("integer", format!("(a = ({value})::integer)")),
            ("character(5)", format!("(a = ({value})::character(5))")),
            ("numeric(10,0)", format!("(a = ({value})::numeric(10,0))")),
            (
                "character varying(20)",
                format!("((a)::text = (({value})::character varying(20))::text)"),
            ),
            (
                "character varying",
                format!("((a)::text = (({value})::character varying)::text)"),
            ),
        ] {
            assert_eq!(
                canonical_expression(&session_predicate("a", "app.x", column_type)),
                canonical_expression(&server),
                "{column_type}"
            );
        }
        assert_ne!(
            canonical_expression("true"),
            canonical_expression(&format!("(a = ({value})::bigint)"))
        );
    }
}
