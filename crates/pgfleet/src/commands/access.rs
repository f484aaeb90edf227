//! `pgfleet access plan|apply|check`: the manifest's roles and grants against the live
//! catalogs, per server (roles) and per database (everything else).

use crate::cli::ReportFormat;
use crate::context::Context;
use crate::error::{CliError, Result, pg_error};
use crate::output::{self, Report};
use pgfleet_access::{self as access, ScopePlan};
use pgfleet_core::manifest::Service;
use pgfleet_core::resolve::dev_password_path;
use pgfleet_core::{Connection, Secret};
use pgfleet_pg::history::{self, AuditEntry, AuditResult};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;
use tokio_postgres::Client;

/// A scope's plan and the session it was read through (applied through the same one).
struct Scope {
    plan: ScopePlan,
    client: Client,
    connection: Connection,
}

/// The runtime roles' passwords from their variables; in a local environment a missing one
/// is generated (as `dev up` does for its login).
fn passwords(ctx: &Context, services: &[&Service]) -> Result<BTreeMap<String, Secret>> {
    let local = ctx.manifest.is_local(&ctx.environment);
    let resolver = ctx.resolver();
    let mut passwords = BTreeMap::new();
    for service in services {
        let mut connection =
            resolver.resolve_service_from_manifest(&service.name, &ctx.environment);
        if local && matches!(&connection, Ok(c) if c.password.is_none()) {
            pgfleet_cluster::fleet::generate_password(&dev_password_path(
                &ctx.manifest,
                &service.access.runtime_role,
            ))?;
            connection = resolver.resolve_service_from_manifest(&service.name, &ctx.environment);
        }
        if let Ok(Connection {
            password: Some(password),
            ..
        }) = connection
        {
            passwords.insert(service.access.runtime_role.clone(), password);
        }
    }
    Ok(passwords)
}

/// Reads the live state of every scope of the selected services and plans each.
async fn plan_scopes(
    ctx: &Context,
    names: &[String],
    mode: access::Passwords,
) -> Result<Vec<Scope>> {
    if !ctx.manifest.fleet.manage_roles {
        return Err(CliError::Config(
            "this fleet does not manage roles (manage_roles = false in [fleet])".to_owned(),
        ));
    }
    let names = ctx.services(names)?;
    let services: Vec<&Service> = names.iter().map(|n| &ctx.manifest.services[n]).collect();
    let everyone: Vec<&Service> = ctx.manifest.services.values().collect();
    let passwords = passwords(ctx, &everyone)?;
    // The selection picks the servers and databases to act on; each is then planned with
    // every service that lives in it, so acting on one service never revokes its
    // neighbours' grants.
    let mut by_server: BTreeMap<&str, Vec<&Service>> = BTreeMap::new();
    for service in ctx.manifest.services.values() {
        if services.iter().any(|s| s.server == service.server) {
            by_server.entry(&service.server).or_default().push(service);
        }
    }
    let resolver = ctx.resolver();
    let mut scopes = Vec::new();
    for (server, on_server) in by_server {
        let mut by_database: BTreeMap<&str, Vec<&Service>> = BTreeMap::new();
        for service in &on_server {
            let selected = services.iter().any(|s| {
                s.server == service.server && s.placement.database() == service.placement.database()
            });
            if selected {
                by_database
                    .entry(service.placement.database())
                    .or_default()
                    .push(service);
            }
        }
        let mut first = true;
        for (database, in_database) in by_database {
            let connection = resolver.resolve_admin(&in_database[0].name, &ctx.environment)?;
            let open = || pgfleet_pg::connect(&connection, "access", ctx.connect_timeout);
            if first {
                first = false;
                let client = open().await?;
                let plan = access::plan_cluster_with(
                    &ctx.manifest,
                    server,
                    &on_server,
                    &connection.user,
                    &client,
                    &passwords,
                    mode,
                )
                .await
                .map_err(|e| {
                    pg_error(
                        &format!("reading the roles of server {server}"),
                        &e.into_postgres(),
                    )
                })?;
                // Migration logins have no lasting password: each run sets one of its own.
                let mut missing = access::logins_without_password(&plan, &passwords);
                missing.retain(|role| on_server.iter().all(|s| s.access.migration_role != *role));
                if !missing.is_empty() {
                    let vars: Vec<String> = on_server
                        .iter()
                        .filter(|s| missing.contains(&s.access.runtime_role))
                        .filter_map(|s| s.access.password.var().map(str::to_owned))
                        .collect();
                    return Err(CliError::Config(format!(
                        "cannot create login role(s) {} without a password: set {}",
                        missing.join(", "),
                        vars.join(", ")
                    )));
                }
                scopes.push(Scope {
                    plan,
                    client,
                    connection: connection.clone(),
                });
            }
            let client = open().await?;
            let plan = access::plan_database(server, database, &in_database, &client)
                .await
                .map_err(|e| {
                    pg_error(
                        &format!("reading the catalogs of database {database}"),
                        &e.into_postgres(),
                    )
                })?;
            scopes.push(Scope {
                plan,
                client,
                connection,
            });
        }
    }
    Ok(scopes)
}

#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct PlanReport(pub Vec<ScopePlan>);

impl Report for PlanReport {
    fn table(&self) -> String {
        let mut text = String::new();
        for scope in &self.0 {
            if scope.statements.is_empty() {
                continue;
            }
            text.push_str(&format!(
                "-- server {}, {}\n",
                scope.server,
                scope_name(scope)
            ));
            for statement in &scope.statements {
                text.push_str(&format!("-- {}\n{};\n", statement.reason, statement.sql));
            }
        }
        if text.is_empty() {
            text.push_str("-- nothing to do: every role and grant matches the manifest");
        }
        text.trim_end().to_owned()
    }
}

fn scope_name(scope: &ScopePlan) -> String {
    match &scope.database {
        Some(database) => format!("database {database}"),
        None => "roles".to_owned(),
    }
}

pub async fn plan(
    ctx: &Context,
    services: &[String],
    mode: access::Passwords,
    format: ReportFormat,
) -> Result<()> {
    let scopes = plan_scopes(ctx, services, mode).await?;
    output::print_report(
        &PlanReport(scopes.into_iter().map(|s| s.plan).collect()),
        format,
    );
    Ok(())
}

/// What an apply did: the plans, how many statements ran, and the ones the server refused.
#[derive(Debug)]
struct Applied {
    plans: Vec<ScopePlan>,
    ran: usize,
    failures: Vec<(ScopePlan, Vec<access::Failure>)>,
}

/// Plans and applies, each scope in one transaction (a refused statement is undone alone, the
/// others commit), and records the run in each database's audit log. `confirm` sees the plans
/// first and may stop the run.
async fn apply_scopes(
    ctx: &Context,
    services: &[String],
    mode: access::Passwords,
    confirm: impl FnOnce(&[ScopePlan]) -> Result<()>,
) -> Result<Applied> {
    let started = Instant::now();
    let scopes = plan_scopes(ctx, services, mode).await?;
    let plans: Vec<ScopePlan> = scopes.iter().map(|s| s.plan.clone()).collect();
    confirm(&plans)?;
    let mut ran = 0;
    let mut failures = Vec::new();
    // A server's role statements (roles, memberships, role settings) and their failures are
    // recorded in the row of each of its databases (a server's role scope comes before its
    // databases).
    let mut role_statements: Vec<String> = Vec::new();
    let mut role_failures: Vec<access::Failure> = Vec::new();
    for scope in &scopes {
        let failed = access::apply(&scope.client, &scope.plan)
            .await
            .map_err(|e| {
                CliError::Failed(format!(
                    "applying access on server {} ({}): {e}",
                    scope.plan.server,
                    scope_name(&scope.plan)
                ))
            })?;
        ran += scope.plan.statements.len() - failed.len();
        if scope.plan.database.is_none() {
            role_statements = scope
                .plan
                .statements
                .iter()
                .map(|s| s.sql.clone())
                .collect();
            role_failures = failed.clone();
        } else {
            history::ensure_tables(&scope.client)
                .await
                .map_err(|e| pg_error("creating the pgfleet tables", &e))?;
            let all_failed: Vec<&access::Failure> =
                role_failures.iter().chain(failed.iter()).collect();
            for service in &scope.plan.services {
                history::audit(
                    &scope.client,
                    &AuditEntry {
                        service,
                        command: "access apply",
                        environment: &ctx.environment,
                        os_user: history::os_user(),
                        version_before: None,
                        version_after: None,
                        result: if all_failed.is_empty() {
                            AuditResult::Success
                        } else {
                            AuditResult::Failed
                        },
                        duration_ms: started.elapsed().as_millis() as i64,
                        detail: serde_json::json!({
                            "statements": scope.plan.statements.iter().map(|s| &s.sql).collect::<Vec<_>>(),
                            "role_statements": role_statements,
                            "failed": all_failed,
                            "connected_as": scope.connection.user,
                        }),
                    },
                )
                .await
                .map_err(|e| pg_error("writing the audit row", &e))?;
            }
        }
        if !failed.is_empty() {
            failures.push((scope.plan.clone(), failed));
        }
    }
    Ok(Applied {
        plans,
        ran,
        failures,
    })
}

/// The refused statements of an apply as one error, each with the server's message.
fn failed(applied: &Applied) -> Option<CliError> {
    if applied.failures.is_empty() {
        return None;
    }
    let mut text = format!(
        "{} statement(s) failed; the other {} were applied",
        applied.failures.iter().map(|(_, f)| f.len()).sum::<usize>(),
        applied.ran
    );
    for (plan, failures) in &applied.failures {
        for failure in failures {
            text.push_str(&format!(
                "\n  server {} ({}): {}: {}",
                plan.server,
                scope_name(plan),
                failure.sql,
                failure.error.replace('\n', "\n    ")
            ));
        }
    }
    Some(CliError::Failed(text))
}

/// `access apply` as `dev up` and `dev reset` run it: no question, passwords verified.
pub async fn apply_quietly(ctx: &Context, services: &[String]) -> Result<(Vec<ScopePlan>, usize)> {
    let applied = apply_scopes(ctx, services, access::Passwords::Verify, |_| Ok(())).await?;
    match failed(&applied) {
        Some(error) => Err(error),
        None => Ok((applied.plans, applied.ran)),
    }
}

pub async fn apply(
    ctx: &Context,
    services: &[String],
    mode: access::Passwords,
    yes: bool,
    format: ReportFormat,
) -> Result<()> {
    let protected = ctx.manifest.is_protected(&ctx.environment);
    let applied = apply_scopes(ctx, services, mode, |plans| {
        let total: usize = plans.iter().map(|p| p.statements.len()).sum();
        if !protected || total == 0 {
            return Ok(());
        }
        let plan = PlanReport(plans.to_vec()).table();
        super::confirm::protected_change(
            &ctx.environment,
            &format!("{total} statement(s)"),
            &plan,
            yes,
        )
    })
    .await?;
    output::print_report(&PlanReport(applied.plans.clone()), format);
    if let Some(error) = failed(&applied) {
        return Err(error);
    }
    output::note(&format!("applied {} statement(s)", applied.ran));
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub ok: bool,
    pub differences: Vec<CheckRow>,
}

#[derive(Debug, Serialize)]
pub struct CheckRow {
    pub server: String,
    pub database: Option<String>,
    #[serde(flatten)]
    pub difference: access::plan::Difference,
}

impl Report for CheckReport {
    fn table(&self) -> String {
        if self.ok {
            return "no drift: every role and grant matches the manifest".to_owned();
        }
        let mut table = output::table(&["server", "scope", "difference"]);
        for row in &self.differences {
            table.add_row(vec![
                row.server.clone(),
                row.database.clone().unwrap_or_else(|| "roles".to_owned()),
                row.difference.description.clone(),
            ]);
        }
        table.to_string()
    }
}

/// Drift between the manifest and the catalogs; exit 6 when there is any.
pub async fn check(ctx: &Context, services: &[String], format: ReportFormat) -> Result<()> {
    let scopes = plan_scopes(ctx, services, access::Passwords::Verify).await?;
    let differences: Vec<CheckRow> = scopes
        .into_iter()
        .flat_map(|scope| {
            let (server, database) = (scope.plan.server.clone(), scope.plan.database.clone());
            scope
                .plan
                .differences
                .into_iter()
                .map(move |difference| CheckRow {
                    server: server.clone(),
                    database: database.clone(),
                    difference,
                })
        })
        .collect();
    let report = CheckReport {
        ok: differences.is_empty(),
        differences,
    };
    output::print_report(&report, format);
    if report.ok {
        Ok(())
    } else {
        Err(CliError::Drift(report.differences.len()))
    }
}
