//! The login that runs a service's SQL.
//!
//! SQL from the project (migrations, seeds) can run any statement, `RESET ROLE` and dynamic
//! SQL included, so the only safe session is one whose *login* holds no more than the
//! service's owner rights. Each service has a migration login: `LOGIN NOINHERIT`, a member of
//! the owner role and of nothing else. It works as the owner with `SET ROLE`; `RESET ROLE`
//! leads back to a role with no rights at all. pgfleet's own login (which may be a superuser or
//! hold CREATEROLE) keeps to the lock session and never runs project SQL.
//!
//! The migration login has no password anyone knows: under the service's migration lock,
//! pgfleet sets a random one for the run and connects with it, and removes it afterwards. So
//! there is no secret to configure or rotate, and runners of one service never race for it.

use super::{MigrateError, Target};
use pgfleet_core::ident::{quote_ident, quote_literal};
use pgfleet_core::{Connection, Secret};
use pgfleet_pg::history;
use rand::distr::{Alphanumeric, SampleString};
use tokio_postgres::Client;

/// Sessions the migration login may hold (a fact of its role, so access's).
pub const CONNECTION_LIMIT: i32 = pgfleet_access::MIGRATION_LOGIN_CONNECTION_LIMIT;

/// The roles of a service whose access the fleet manages.
#[derive(Debug, Clone)]
pub struct Roles {
    /// Owns the schema and everything in it; project SQL runs as it (`SET ROLE`).
    pub owner: String,
    /// The login of project SQL (see the module's text).
    pub login: String,
    /// The service as the manifest declares it: what a step's grants are settled against.
    pub service: pgfleet_core::manifest::Service,
}

/// What a run's SQL session logs in as.
#[derive(Debug)]
pub struct RunLogin {
    pub connection: Connection,
    /// The role to `SET ROLE` to; `None` when the fleet does not manage roles (the login is
    /// then the environment's own, as configured).
    pub act_as: Option<String>,
}

/// Makes sure the migration login exists with exactly its rights and gives it a fresh random
/// password; returns the connection to open. Runs on pgfleet's own session, under the lock.
pub async fn prepare(target: &Target, admin: &Client) -> Result<RunLogin, MigrateError> {
    let pg = |context: &str, e: tokio_postgres::Error| target.pg(context, &e);
    history::ensure_tables(admin)
        .await
        .map_err(|e| pg("creating the pgfleet history tables", e))?;
    let Some(roles) = &target.roles else {
        // Roles are not managed: the login is the service's own, as configured.
        let login = target.connection.user.clone();
        serialized(admin, || {
            history::allow_login(admin, &login, &target.service)
        })
        .await
        .map_err(|e| pg("registering the login", e))?;
        return Ok(RunLogin {
            connection: target.connection.clone(),
            act_as: None,
        });
    };
    let password = Secret::new(Alphanumeric.sample_string(&mut rand::rng(), 32));
    let verifier = pgfleet_pg::password::verifier(&password);
    let owner = quote_ident(&roles.owner);
    let login = quote_ident(&roles.login);
    let database = quote_ident(&target.connection.database);
    // A database of its own: the owner may add schemas and trusted extensions.
    let database_grant = match &target.connection.schema {
        Some(_) => String::new(),
        None => format!("GRANT CREATE ON DATABASE {database} TO {owner};"),
    };
    // Idempotent, and the same facts `access apply` keeps (roles, membership, ownership), so
    // the first migration of a new service works before any `access apply`.
    let sql = format!(
        "DO $pgfleet$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {owner_literal}) THEN
                CREATE ROLE {owner} NOLOGIN;
            END IF;
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {login_literal}) THEN
                CREATE ROLE {login} LOGIN NOINHERIT;
            END IF;
            IF NOT pg_has_role(current_user, {owner_literal}, 'USAGE') THEN
                EXECUTE format('GRANT %I TO %I', {owner_literal}, current_user);
            END IF;
         END $pgfleet$;
         ALTER ROLE {login} LOGIN NOINHERIT CONNECTION LIMIT {CONNECTION_LIMIT};
         GRANT {owner} TO {login};
         GRANT CONNECT ON DATABASE {database} TO {login};
         {database_grant}",
        owner_literal = quote_literal(&roles.owner),
        login_literal = quote_literal(&roles.login),
    );
    serialized(admin, || async {
        admin.batch_execute(&sql).await?;
        // The schema and what is in it belong to the owner (adopted objects too), as `access
        // apply` would have it.
        let ownership = pgfleet_access::ownership_statements(
            &target.connection.server,
            &target.connection.database,
            &roles.service,
            admin,
        )
        .await
        .map_err(pgfleet_access::AccessError::into_postgres)?;
        if !ownership.is_empty() {
            admin.batch_execute(&ownership.join(";\n")).await?;
        }
        history::allow_login(admin, &roles.login, &target.service).await
    })
    .await
    .map_err(|e| pg(&format!("preparing migration login {}", roles.login), e))?;
    // The invariant itself, whoever changed the role since: no attribute and no membership
    // beyond the owner.
    let excess: Vec<String> = admin
        .query(
            "SELECT 'attribute ' || a FROM pg_roles r,
                    LATERAL (VALUES ('SUPERUSER', r.rolsuper), ('CREATEROLE', r.rolcreaterole),
                                    ('CREATEDB', r.rolcreatedb), ('REPLICATION', r.rolreplication),
                                    ('BYPASSRLS', r.rolbypassrls)) AS v(a, held)
              WHERE r.rolname = $1 AND held
             UNION ALL
             SELECT 'membership in ' || m.roleid::regrole::text FROM pg_auth_members m
              WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = $1)
                AND m.roleid <> (SELECT oid FROM pg_roles WHERE rolname = $2)",
            &[&roles.login, &roles.owner],
        )
        .await
        .map_err(|e| pg("checking the migration login", e))?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if !excess.is_empty() {
        return Err(target.other(format!(
            "migration login {} holds more than the owner role's rights ({}); nothing was run\n  \
             hint: revoke them (`pgfleet access apply` does), so that project SQL cannot leave the owner's rights",
            roles.login,
            excess.join(", ")
        )));
    }
    let mut attempt = 0;
    while let Err(e) = pgfleet_pg::password::set(admin, &roles.login, &verifier).await {
        let e = e.to_string();
        // As in `serialized`: another pgfleet changed the same role row at that moment.
        if !e.contains("tuple concurrently updated") || attempt >= 5 {
            return Err(target.other(format!(
                "setting the password of migration login {}: {e}",
                roles.login
            )));
        }
        attempt += 1;
        tokio::time::sleep(super::backoff(attempt)).await;
    }
    let mut connection = target.connection.clone();
    connection.user = roles.login.clone();
    connection.password = Some(password);
    // Errors name the URL: the migration login's, not pgfleet's.
    connection.url = connection.redacted_url();
    Ok(RunLogin {
        connection,
        act_as: Some(roles.owner.clone()),
    })
}

/// Runs `work` in one transaction that holds a lock shared by every pgfleet of the database:
/// runs of services sharing a database change the same catalog rows (the database's and the
/// `pgfleet` schema's privileges), which PostgreSQL refuses to update concurrently.
///
/// Roles are the cluster's, beyond any database's lock: a run that meets another pgfleet's
/// change of the same role row ("tuple concurrently updated") tries again after a pause.
async fn serialized<T, F>(admin: &Client, work: impl Fn() -> F) -> Result<T, tokio_postgres::Error>
where
    F: std::future::Future<Output = Result<T, tokio_postgres::Error>>,
{
    let mut attempt = 0;
    loop {
        admin
            .batch_execute(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock({})",
                history::BOOTSTRAP_LOCK
            ))
            .await?;
        let result = match work().await {
            Ok(value) => admin.batch_execute("COMMIT").await.map(|()| value),
            Err(e) => Err(e),
        };
        match result {
            Ok(value) => return Ok(value),
            Err(e) => {
                let _ = admin.batch_execute("ROLLBACK").await;
                // Or created the same role at that moment (its CREATE ROLE won the race).
                let concurrent = e.as_db_error().is_some_and(|db| {
                    db.message() == "tuple concurrently updated"
                        || (db.code() == &tokio_postgres::error::SqlState::UNIQUE_VIOLATION
                            && db.constraint() == Some("pg_authid_rolname_index"))
                });
                if !concurrent || attempt >= 5 {
                    return Err(e);
                }
                attempt += 1;
                tokio::time::sleep(super::backoff(attempt)).await;
            }
        }
    }
}

/// Removes the run's password: between runs nobody can log in as the migration login.
pub async fn finish(target: &Target, admin: &Client) {
    if let Some(roles) = &target.roles
        && let Err(e) = admin
            .batch_execute(&format!(
                "ALTER ROLE {} PASSWORD NULL",
                quote_ident(&roles.login)
            ))
            .await
    {
        tracing::warn!(service = %target.service, error = %pgfleet_pg::pg_error_text(&e), "could not remove the migration login's password");
    }
}
