//! Access as code: each service's owner, runtime and read-only roles, their grants, default
//! privileges and row level security, compared with the live catalogs.
//!
//! desired (manifest) − live (catalogs) = what is missing; live − desired = what is extra.
//! `plan` turns both into statements, `apply` runs them in one transaction per scope (each
//! statement under its own savepoint, so one that fails does not undo the others), `check`
//! lists them. Returns values; never prints. Depends on core, pgfleet-pg and pg_query (policy
//! expressions): never on clap, the migration engine or the CLI.

pub mod desired;
pub mod facts;
pub mod live;
pub mod plan;

use facts::Fact;
use pgfleet_core::manifest::Service;
use pgfleet_core::{Manifest, Secret};
use plan::{Difference, Exec, Extras, Statement};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use tokio_postgres::Client;

/// Sessions a migration login may hold: one run's, and room for a stuck one to be seen. A fact
/// of the login's role, so here; the migration engine creates the login with it.
pub const MIGRATION_LOGIN_CONNECTION_LIMIT: i32 = 4;

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// Reading the catalogs failed.
    #[error("{}", pgfleet_pg::pg_error_text(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// The session failed while a plan was applied, at `statement`: nothing was committed.
    #[error("{statement}: {}", pgfleet_pg::pg_error_text(.source))]
    Apply {
        statement: String,
        source: tokio_postgres::Error,
    },
}

impl AccessError {
    /// The server's error, for a caller that runs this inside its own transaction and looks
    /// at the SQLSTATE (a migration step's grants).
    pub fn into_postgres(self) -> tokio_postgres::Error {
        match self {
            AccessError::Postgres(e) | AccessError::Apply { source: e, .. } => e,
        }
    }
}

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

/// How passwords are brought in line with their variables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Passwords {
    /// Compared where the admin can read the stored verifiers (a superuser), else left alone.
    #[default]
    Verify,
    /// Set every managed login's password from its variable, whatever it is now.
    Rotate,
}

/// Roles and memberships of `services` (all on one server), read through `client`.
/// `passwords` holds the logins' passwords from their variables.
pub async fn plan_cluster(
    manifest: &Manifest,
    server: &str,
    services: &[&Service],
    admin: &str,
    client: &Client,
    passwords: &BTreeMap<String, Secret>,
) -> Result<ScopePlan, AccessError> {
    plan_cluster_with(
        manifest,
        server,
        services,
        admin,
        client,
        passwords,
        Passwords::Verify,
    )
    .await
}

pub async fn plan_cluster_with(
    manifest: &Manifest,
    server: &str,
    services: &[&Service],
    admin: &str,
    client: &Client,
    passwords: &BTreeMap<String, Secret>,
    mode: Passwords,
) -> Result<ScopePlan, AccessError> {
    let admin_is_superuser = live::is_superuser(client, admin).await?;
    let mut desired = desired::cluster(manifest, services, admin, admin_is_superuser);
    let roles: Vec<String> = services.iter().flat_map(|s| service_roles(s)).collect();
    let mut live = live::read_roles(client, &roles).await?;
    let logins: BTreeMap<String, Secret> = passwords
        .iter()
        .filter(|(role, _)| {
            desired
                .iter()
                .any(|f| matches!(f, Fact::Role { role: r, login: true, .. } if r == *role))
        })
        .map(|(role, password)| (role.clone(), password.clone()))
        .collect();
    // A superuser can compare the stored verifiers with the variables; with Rotate every
    // login is reset anyway, so its Password fact is taken as missing.
    if admin_is_superuser || mode == Passwords::Rotate {
        for role in logins.keys() {
            desired.insert(Fact::Password { role: role.clone() });
        }
    }
    if admin_is_superuser && mode == Passwords::Verify {
        live.extend(live::read_passwords(client, &logins).await?);
    }
    let mut differences = plan::differences(&desired, &live);
    if mode == Passwords::Rotate {
        for d in &mut differences {
            if let Fact::Password { role } = &d.fact {
                d.description =
                    format!("--rotate-passwords: set the password of {role} from its variable");
            }
        }
    }
    let extras = Extras {
        verifiers: logins
            .iter()
            .map(|(role, password)| (role.clone(), pgfleet_pg::password::verifier(password)))
            .collect(),
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

/// A service's roles, the owner first.
fn service_roles(service: &Service) -> [String; 4] {
    [
        service.access.owner_role.clone(),
        service.access.runtime_role.clone(),
        service.access.readonly_role.clone(),
        service.access.migration_role.clone(),
    ]
}

/// Grants, ownership, default privileges and RLS in one database.
pub async fn plan_database(
    server: &str,
    database: &str,
    services: &[&Service],
    client: &Client,
) -> Result<ScopePlan, AccessError> {
    plan_database_where(server, database, services, client, |_| true).await
}

/// The roles among `service`'s that exist. Before the first `access apply` some may not: what
/// concerns them waits for it (they cannot see anything meanwhile).
pub async fn existing_roles(
    client: &Client,
    service: &Service,
) -> Result<BTreeSet<String>, AccessError> {
    Ok(client
        .query(
            "SELECT rolname::text FROM pg_roles WHERE rolname = ANY($1)",
            &[&service_roles(service).to_vec()],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect())
}

/// The part of `service`'s database plan that hands its schema and everything in it to the
/// owner role: what pgfleet's login runs before a migration run, so that adopted objects
/// belong to the owner the migrations run as.
pub async fn ownership_statements(
    server: &str,
    database: &str,
    service: &Service,
    client: &Client,
) -> Result<Vec<String>, AccessError> {
    let schema = desired::schema_of(service);
    let existing = existing_roles(client, service).await?;
    let plan = plan_database_where(server, database, &[service], client, |fact| match fact {
        Fact::Owner { object, role } => {
            existing.contains(role)
                && (object.schema.as_deref() == Some(schema.as_str())
                    || (object.kind == facts::ObjectKind::Schema && object.name == schema))
        }
        _ => false,
    })
    .await?;
    Ok(sql_of(plan.statements))
}

/// The call that lists the objects migrations have created in `service`'s schema (see
/// `live::new_objects_call`); its rows go to `new_object_statements`.
pub fn new_objects_call(service: &Service) -> String {
    let rls: Vec<(String, String)> = service
        .access
        .rls
        .iter()
        .map(|p| (p.table.clone(), p.column.clone()))
        .collect();
    live::new_objects_call(&desired::schema_of(service), &rls)
}

/// What the manifest grants on the objects migrations have created in `service`'s schema
/// (`rows` of `new_objects_call`: those with no grants yet), with their row security and
/// policies, for the roles among `existing`: run as the owner at the end of a migration run.
pub fn new_object_statements(
    database: &str,
    service: &Service,
    rows: &[tokio_postgres::SimpleQueryMessage],
    existing: &BTreeSet<String>,
) -> Vec<String> {
    let schema = desired::schema_of(service);
    let live = live::new_objects(&schema, rows);
    if live.objects.is_empty() {
        return Vec::new();
    }
    let new_tables: BTreeSet<String> = live
        .objects
        .iter()
        .filter(|(o, _)| o.kind == facts::ObjectKind::Table)
        .map(|(o, _)| format!("{schema}.{}", o.name))
        .collect();
    let is_new = |object: &facts::Object| live.objects.iter().any(|(o, _)| o == object);
    let desired = desired::database(database, &[service], &live);
    let mut differences = plan::differences(&desired, &live.facts);
    differences.retain(|d| match &d.fact {
        Fact::Grant {
            object, grantee, ..
        } => is_new(object) && (grantee == "PUBLIC" || existing.contains(grantee)),
        Fact::RowSecurity { table } => new_tables.contains(table),
        Fact::Policy { table, roles, .. } => {
            new_tables.contains(table) && roles.iter().all(|r| existing.contains(r))
        }
        _ => false,
    });
    sql_of(plan::statements(
        &differences,
        &live.facts,
        &Extras::default(),
    ))
}

fn sql_of(statements: Vec<Statement>) -> Vec<String> {
    statements
        .into_iter()
        .filter_map(|s| match s.exec {
            Exec::Sql(sql) => Some(sql),
            // Never part of a schema's plan.
            Exec::SetPassword { .. } => None,
        })
        .collect()
}

/// A database's plan, limited to the differences whose fact `keep` accepts.
async fn plan_database_where(
    server: &str,
    database: &str,
    services: &[&Service],
    client: &Client,
    keep: impl Fn(&Fact) -> bool,
) -> Result<ScopePlan, AccessError> {
    let mut scope = live::DatabaseScope {
        schemas: services.iter().map(|s| desired::schema_of(s)).collect(),
        ..Default::default()
    };
    let mut extras = Extras {
        borrow_membership: !client
            .query_one(
                "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
                &[],
            )
            .await?
            .get::<_, bool>(0),
        ..Extras::default()
    };
    for service in services {
        scope.roles.extend(service_roles(service));
        let access = &service.access;
        scope.history_writers.push(access.migration_role.clone());
        for role in [
            &access.runtime_role,
            &access.readonly_role,
            &access.migration_role,
        ] {
            scope.owning_nothing.push(role.clone());
            extras
                .owner_of
                .insert(role.clone(), access.owner_role.clone());
        }
        for policy in &access.rls {
            scope.rls_tables.push((
                desired::schema_of(service),
                policy.table.clone(),
                policy.column.clone(),
            ));
        }
    }
    let live = live::read_database(client, &scope).await?;
    let desired = desired::database(database, services, &live);
    let mut differences = plan::differences(&desired, &live.facts);
    differences.retain(|d| keep(&d.fact));
    let statements = plan::statements(&differences, &live.facts, &extras);
    Ok(ScopePlan {
        server: server.to_owned(),
        database: Some(database.to_owned()),
        services: services.iter().map(|s| s.name.clone()).collect(),
        differences,
        statements,
    })
}

/// A statement of a plan that the server refused.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub sql: String,
    pub error: String,
}

/// Runs a plan's statements in one transaction, each under a savepoint: one that fails is
/// undone alone and returned with the server's message, and every other still commits. `Err`
/// when the session itself fails (nothing is committed then).
pub async fn apply(client: &Client, plan: &ScopePlan) -> Result<Vec<Failure>, AccessError> {
    let mut failures = Vec::new();
    if plan.statements.is_empty() {
        return Ok(failures);
    }
    let run = |sql: &'static str| async move {
        client
            .batch_execute(sql)
            .await
            .map_err(|source| AccessError::Apply {
                statement: sql.to_owned(),
                source,
            })
    };
    run("BEGIN").await?;
    for statement in &plan.statements {
        run("SAVEPOINT pgfleet_statement").await?;
        let result = match &statement.exec {
            Exec::Sql(sql) => client
                .batch_execute(sql)
                .await
                .map_err(|e| pgfleet_pg::pg_error_text(&e)),
            Exec::SetPassword { role, verifier } => {
                pgfleet_pg::password::set(client, role, verifier)
                    .await
                    .map_err(|e| e.to_string())
            }
        };
        match result {
            Ok(()) => run("RELEASE SAVEPOINT pgfleet_statement").await?,
            Err(error) => {
                run("ROLLBACK TO SAVEPOINT pgfleet_statement").await?;
                failures.push(Failure {
                    sql: statement.sql.clone(),
                    error,
                });
            }
        }
    }
    run("COMMIT").await?;
    Ok(failures)
}

/// Roles a plan would create with LOGIN but has no password for.
pub fn logins_without_password(
    plan: &ScopePlan,
    passwords: &BTreeMap<String, Secret>,
) -> Vec<String> {
    plan.differences
        .iter()
        .filter_map(|d| match &d.fact {
            Fact::Role {
                role, login: true, ..
            } if d.kind == plan::DifferenceKind::Missing
                && !d.description.contains(", but the manifest says")
                && !passwords.contains_key(role) =>
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
        Fact::Role { role, .. } | Fact::Password { role } | Fact::RoleSetting { role, .. } => {
            is_own(role)
        }
        Fact::Member { role, member } => is_own(role) || is_own(member),
        Fact::Owner { role, .. } => is_own(role),
        Fact::Grant { grantee, .. } => is_own(grantee),
        Fact::DefaultGrant { owner, grantee, .. } => is_own(owner) || is_own(grantee),
        Fact::RowSecurity { table } => in_schema(table),
        Fact::Policy { table, roles, .. } => in_schema(table) || roles.iter().any(|r| is_own(r)),
    }
}
