//! Access as code: each service's owner, runtime and read-only roles, their grants, default
//! privileges and row level security, compared with the live catalogs.
//!
//! desired (manifest) − live (catalogs) = what is missing; live − desired = what is extra.
//! `plan` turns both into statements, `apply` runs them in one transaction per database,
//! `check` lists them. Returns values; never prints.

pub mod desired;
pub mod facts;
pub mod live;
pub mod plan;

use facts::Fact;
use pgfleet_core::Manifest;
use pgfleet_core::manifest::Service;
use plan::{Difference, Extras, Statement};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use tokio_postgres::Client;

/// The plan of one scope: the cluster's roles, or one database.
#[derive(Debug, Clone, Serialize)]
pub struct ScopePlan {
    pub server: String,
    /// `None` for the cluster-wide part (roles and memberships).
    pub database: Option<String>,
    pub services: Vec<String>,
    pub differences: Vec<Difference>,
    pub statements: Vec<Statement>,
}

/// Roles and memberships of `services` (all on one server), read through `client`.
pub async fn plan_cluster(
    manifest: &Manifest,
    server: &str,
    services: &[&Service],
    admin: &str,
    client: &Client,
    verifiers: &BTreeMap<String, String>,
) -> Result<ScopePlan, tokio_postgres::Error> {
    let admin_is_superuser = live::is_superuser(client, admin).await?;
    let desired = desired::cluster(manifest, services, admin, admin_is_superuser);
    let roles: Vec<String> = services
        .iter()
        .flat_map(|s| {
            [
                s.access.owner_role.clone(),
                s.access.runtime_role.clone(),
                s.access.readonly_role.clone(),
                s.access.migration_role.clone(),
            ]
        })
        .collect();
    let live = live::read_roles(client, &roles).await?;
    let differences = plan::differences(&desired, &live);
    let extras = Extras {
        verifiers: verifiers.clone(),
        ..Extras::default()
    };
    let statements = plan::statements(&differences, &live, &extras);
    Ok(ScopePlan {
        server: server.to_owned(),
        database: None,
        services: services.iter().map(|s| s.name.clone()).collect(),
        differences,
        statements,
    })
}

/// Grants, ownership, default privileges and RLS in one database.
pub async fn plan_database(
    server: &str,
    database: &str,
    services: &[&Service],
    client: &Client,
) -> Result<ScopePlan, tokio_postgres::Error> {
    plan_database_where(server, database, services, client, |_| true).await
}

/// Which part of a service's database plan a migration run settles itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Ownership of the schema and of everything in it (pgfleet's login runs these before the
    /// run, so that adopted objects belong to the owner the migrations run as).
    Ownership,
    /// Grants and revocations on the objects of the schema, row security and policies (the
    /// owner runs these at the end of each step, before it commits).
    Grants,
}

/// The statements of `service`'s database plan of one `Settle` kind.
pub async fn settle_statements(
    server: &str,
    database: &str,
    service: &Service,
    client: &Client,
    which: Settle,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let schema = desired::schema_of(service);
    // Before the first `access apply` some roles may not exist yet: what concerns them waits
    // for it (they cannot see anything meanwhile).
    let existing: BTreeSet<String> = client
        .query(
            "SELECT rolname::text FROM pg_roles WHERE rolname = ANY($1)",
            &[&vec![
                service.access.runtime_role.clone(),
                service.access.readonly_role.clone(),
                service.access.owner_role.clone(),
            ]],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let exists = |role: &str| role == "PUBLIC" || existing.contains(role);
    let in_schema = |object: &facts::Object| {
        object.schema.as_deref() == Some(schema.as_str())
            || (object.kind == facts::ObjectKind::Schema && object.name == schema)
    };
    let plan = plan_database_where(server, database, &[service], client, |fact| {
        match (which, fact) {
            (Settle::Ownership, Fact::Owner { object, role }) => in_schema(object) && exists(role),
            (
                Settle::Grants,
                Fact::Grant {
                    object, grantee, ..
                },
            ) => object.kind != facts::ObjectKind::Schema && in_schema(object) && exists(grantee),
            (Settle::Grants, Fact::Policy { role, .. }) => exists(role),
            (Settle::Grants, Fact::RowSecurity { .. }) => true,
            _ => false,
        }
    })
    .await?;
    Ok(plan.statements.into_iter().map(|s| s.exec).collect())
}

/// A database's plan, limited to the differences whose fact `keep` accepts.
async fn plan_database_where(
    server: &str,
    database: &str,
    services: &[&Service],
    client: &Client,
    keep: impl Fn(&Fact) -> bool,
) -> Result<ScopePlan, tokio_postgres::Error> {
    let schemas: Vec<String> = services.iter().map(|s| desired::schema_of(s)).collect();
    let rls_tables: Vec<(String, String, String)> = services
        .iter()
        .flat_map(|s| {
            s.access
                .rls
                .iter()
                .map(|p| (desired::schema_of(s), p.table.clone(), p.column.clone()))
        })
        .collect();
    let live = live::read_database(client, &schemas, &rls_tables).await?;
    let desired = desired::database(database, services, &live);
    let mut differences = plan::differences(&desired, &live.facts);
    differences.retain(|d| keep(&d.fact));
    let mut extras = Extras::default();
    for service in services {
        let schema = desired::schema_of(service);
        for policy in &service.access.rls {
            let key = (schema.clone(), policy.table.clone());
            if let Some(column_type) = live.rls_columns.get(&key) {
                extras
                    .rls
                    .insert(key, (policy.clone(), column_type.clone()));
                extras.sees_all.insert(service.access.owner_role.clone());
                if policy.readers_see_all {
                    extras.sees_all.insert(service.access.readonly_role.clone());
                }
            }
        }
    }
    let statements = plan::statements(&differences, &live.facts, &extras);
    Ok(ScopePlan {
        server: server.to_owned(),
        database: Some(database.to_owned()),
        services: services.iter().map(|s| s.name.clone()).collect(),
        differences,
        statements,
    })
}

/// Runs a plan's statements in one transaction: all of them or none.
pub async fn apply(
    client: &Client,
    plan: &ScopePlan,
) -> Result<(), (String, tokio_postgres::Error)> {
    if plan.statements.is_empty() {
        return Ok(());
    }
    client
        .batch_execute("BEGIN")
        .await
        .map_err(|e| ("BEGIN".to_owned(), e))?;
    for statement in &plan.statements {
        if let Err(e) = client.batch_execute(&statement.exec).await {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err((statement.sql.clone(), e));
        }
    }
    client
        .batch_execute("COMMIT")
        .await
        .map_err(|e| ("COMMIT".to_owned(), e))
}

/// Roles a plan would create with LOGIN but has no password for.
pub fn logins_without_password(
    plan: &ScopePlan,
    verifiers: &BTreeMap<String, String>,
) -> Vec<String> {
    plan.differences
        .iter()
        .filter_map(|d| match &d.fact {
            Fact::Role {
                role, login: true, ..
            } if d.kind == "missing"
                && !d.description.contains(", but the manifest says")
                && !verifiers.contains_key(role) =>
            {
                Some(role.clone())
            }
            _ => None,
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Whether a fact is about `service`: one of its roles, or a table in its schema. A
/// membership between two services' roles concerns both.
pub fn fact_concerns(fact: &Fact, service: &Service) -> bool {
    let access = &service.access;
    let is_own = |role: &str| {
        role == access.owner_role
            || role == access.runtime_role
            || role == access.readonly_role
            || role == access.migration_role
    };
    let in_schema = |table: &str| {
        table
            .strip_prefix(&desired::schema_of(service))
            .is_some_and(|rest| rest.starts_with('.'))
    };
    match fact {
        Fact::Role { role, .. } => is_own(role),
        Fact::Member { role, member } => is_own(role) || is_own(member),
        Fact::Owner { role, .. } => is_own(role),
        Fact::Grant { grantee, .. } => is_own(grantee),
        Fact::DefaultGrant { owner, grantee, .. } => is_own(owner) || is_own(grantee),
        Fact::RowSecurity { table } => in_schema(table),
        Fact::Policy { table, role } => in_schema(table) || is_own(role),
    }
}
