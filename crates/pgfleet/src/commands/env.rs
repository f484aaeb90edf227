//! `pgfleet env check|show|export`: connection resolution for people and for other programs.

use crate::cli::{ExportFormat, ReportFormat};
use crate::context::Context;
use crate::error::{CliError, Result};
use crate::output::{self, Report};
use pgfleet_core::Connection;
use pgfleet_core::resolve::{Problem, Source};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub environment: String,
    pub environment_source: String,
    pub ok: bool,
    pub services: Vec<ServiceCheck>,
    /// Every unset variable once, with what needs it.
    pub missing_variables: Vec<MissingVariable>,
    /// Every other problem.
    pub problems: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ServiceCheck {
    pub service: String,
    pub ok: bool,
    /// The redacted URL when it resolved.
    pub url: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct MissingVariable {
    pub var: String,
    /// The settings it provides (`host`, `user`…).
    pub settings: Vec<String>,
    pub servers: Vec<String>,
    pub services: Vec<String>,
}

impl Report for CheckReport {
    fn table(&self) -> String {
        let resolved = self.services.iter().filter(|s| s.ok).count();
        let mut text = format!(
            "environment {} (from {}): {resolved} of {} services resolve",
            self.environment,
            self.environment_source,
            self.services.len()
        );
        if self.ok {
            return text;
        }
        if !self.missing_variables.is_empty() {
            let mut table = output::table(&["missing variable", "setting", "needed by"]);
            for m in &self.missing_variables {
                let needed_by = if m.services.len() == self.services.len() && m.services.len() > 1 {
                    format!("all {} services", m.services.len())
                } else {
                    m.services.join(", ")
                };
                table.add_row(vec![m.var.clone(), m.settings.join(", "), needed_by]);
            }
            text.push_str(&format!(
                "\n{} missing variable(s):\n{table}",
                self.missing_variables.len()
            ));
        }
        for problem in &self.problems {
            text.push_str(&format!("\n- {problem}"));
        }
        text
    }
}

/// `env check`: resolves every service; the report lists every problem, the exit code says
/// whether there were any.
pub fn check(ctx: &Context, format: ReportFormat) -> Result<()> {
    let services = ctx.services(&[])?;
    let resolver = ctx.resolver();
    let mut report = CheckReport {
        environment: ctx.environment.clone(),
        environment_source: ctx.environment_source.clone(),
        ok: true,
        services: Vec::new(),
        missing_variables: Vec::new(),
        problems: Vec::new(),
    };
    // Both logins of each service: the service process's and pgfleet's own.
    for service in &services {
        let problems = resolver.check_all(std::slice::from_ref(service), &ctx.environment);
        let connection = resolver.resolve(service, &ctx.environment).ok();
        report.services.push(ServiceCheck {
            service: service.clone(),
            ok: problems.is_empty(),
            url: connection.filter(|_| problems.is_empty()).map(|c| c.url),
        });
        for problem in problems {
            report.ok = false;
            add_problem(&mut report, problem);
        }
    }
    output::print_report(&report, format);
    if report.ok {
        Ok(())
    } else {
        Err(CliError::Config(format!(
            "the configuration of {} is incomplete",
            ctx.environment
        )))
    }
}

fn add_problem(report: &mut CheckReport, problem: Problem) {
    match problem {
        Problem::MissingVariable {
            var,
            setting,
            server,
            service,
            ..
        } => {
            let entry = match report
                .missing_variables
                .iter_mut()
                .position(|m| m.var == var)
            {
                Some(i) => &mut report.missing_variables[i],
                None => {
                    report.missing_variables.push(MissingVariable {
                        var,
                        settings: Vec::new(),
                        servers: Vec::new(),
                        services: Vec::new(),
                    });
                    let last = report.missing_variables.len() - 1;
                    &mut report.missing_variables[last]
                }
            };
            if !entry.settings.contains(&setting) {
                entry.settings.push(setting);
            }
            if !entry.servers.contains(&server) {
                entry.servers.push(server);
            }
            if !entry.services.contains(&service) {
                entry.services.push(service);
            }
        }
        other => {
            let text = other.to_string();
            if !report.problems.contains(&text) {
                report.problems.push(text);
            }
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct ShowReport(pub Vec<Connection>);

impl Report for ShowReport {
    fn table(&self) -> String {
        let mut table = output::table(&["service", "server", "source", "url", "schema"]);
        for c in &self.0 {
            table.add_row(vec![
                c.service.clone(),
                c.server.clone(),
                match &c.source {
                    Source::UrlVariable { var } => var.clone(),
                    Source::Manifest => "manifest".to_owned(),
                },
                c.url.clone(),
                c.schema.clone().unwrap_or_default(),
            ]);
        }
        table.to_string()
    }
}

/// `env show`: every named service must resolve; all problems are reported together.
pub fn show(ctx: &Context, services: &[String], format: ReportFormat) -> Result<()> {
    let services = ctx.services(services)?;
    let (connections, problems) = ctx.resolver().resolve_all(&services, &ctx.environment);
    if !problems.is_empty() {
        return Err(pgfleet_core::ResolveError { problems }.into());
    }
    output::print_report(&ShowReport(connections), format);
    Ok(())
}

/// The variables a service process needs: the URL in the spelling of the service's driver,
/// and libpq's variables. Without `show_secrets` the password is left out and the URLs are
/// redacted. `env export` writes them and `env exec` hands them to its command.
pub fn export_vars(
    connection: &Connection,
    service: &pgfleet_core::manifest::Service,
    show_secrets: bool,
) -> Result<Vec<(String, String)>> {
    let url = connection
        .driver_url(service.driver, show_secrets)
        .map_err(|e| CliError::Config(e.to_string()))?;
    let mut vars = vec![
        (service.url_env.clone(), url.clone()),
        ("DATABASE_URL".to_owned(), url),
        ("PGHOST".to_owned(), connection.host.clone()),
        ("PGPORT".to_owned(), connection.port.to_string()),
        ("PGDATABASE".to_owned(), connection.database.clone()),
        ("PGUSER".to_owned(), connection.user.clone()),
        (
            "PGSSLMODE".to_owned(),
            connection.sslmode.as_str().to_owned(),
        ),
        ("PGAPPNAME".to_owned(), connection.service.clone()),
    ];
    if let Some(path) = connection.sslrootcert() {
        // The CA file for drivers whose URL cannot name it (asyncpg under SQLAlchemy), read
        // by libpq and asyncpg alike.
        vars.push(("PGSSLROOTCERT".to_owned(), path.to_owned()));
    }
    if let Some(schema) = &connection.schema {
        // libpq applies PGOPTIONS at connect: the service's schema comes first on its path.
        // PgBouncer refuses the startup option: behind it the role's setting carries the path.
        if connection.pooler.is_none() {
            vars.push(("PGOPTIONS".to_owned(), format!("-c search_path={schema}")));
        }
        vars.push(("PGFLEET_SCHEMA".to_owned(), schema.clone()));
    }
    if let Some(mode) = connection.pooler {
        vars.push((
            pgfleet_core::pool_vars::POOLER.to_owned(),
            mode.as_str().to_owned(),
        ));
    }
    // The manifest's pool table, for pgfleet-client (other clients may ignore them).
    vars.extend(pgfleet_core::pool_vars::export(&service.pool));
    if show_secrets && let Some(password) = &connection.password {
        vars.push(("PGPASSWORD".to_owned(), password.expose().to_owned()));
    }
    Ok(vars)
}

pub fn export(
    ctx: &Context,
    service: &str,
    format: ExportFormat,
    show_secrets: bool,
) -> Result<()> {
    let connection = ctx.resolver().resolve(service, &ctx.environment)?;
    let vars = export_vars(&connection, &ctx.manifest.services[service], show_secrets)?;
    match format {
        ExportFormat::Dotenv | ExportFormat::Docker => {
            let mut text = format!("# {service} in {} (pgfleet env export)\n", ctx.environment);
            if !show_secrets && connection.password.is_some() {
                text.push_str("# PGPASSWORD left out and URLs redacted: pass --show-secrets to include them\n");
            }
            // Every value is checked before anything is printed: a refused one prints nothing.
            for (key, value) in &vars {
                let written = if format == ExportFormat::Docker {
                    docker_value(value)
                } else {
                    dotenv_value(value)
                };
                let written = written.map_err(|why| {
                    CliError::Config(format!(
                        "cannot write {key} as {}: its value holds {why}\n  hint: --format json carries any value",
                        if format == ExportFormat::Docker { "a docker env-file line" } else { "dotenv" }
                    ))
                })?;
                text.push_str(&format!("{key}={written}\n"));
            }
            output::print_text(&text);
        }
        ExportFormat::Json => {
            let map: serde_json::Map<String, serde_json::Value> = vars
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect();
            output::print_text(&format!("{}\n", output::json(&map)));
        }
    }
    Ok(())
}

/// `env exec`: replaces this process with `command`, its environment this one's plus the
/// service's variables as `env export --show-secrets` writes them; nothing touches the disk.
/// exec(2) keeps the process: signals sent to pgfleet reach the command, and its exit status
/// (or the signal that killed it) is the caller's to see, as with the command run directly.
pub fn exec(ctx: &Context, service: &str, command: &[String]) -> Result<()> {
    let Some((program, args)) = command.split_first() else {
        return Err(CliError::Config(
            "env exec needs a command\n  hint: pgfleet env exec SERVICE -- COMMAND [ARGS…]"
                .to_owned(),
        ));
    };
    let connection = ctx.resolver().resolve(service, &ctx.environment)?;
    let vars = export_vars(&connection, &ctx.manifest.services[service], true)?;
    let mut child = std::process::Command::new(program);
    child.args(args).envs(vars);
    use std::os::unix::process::CommandExt as _;
    let error = child.exec();
    Err(CliError::NotRun {
        message: format!("cannot run `{program}`: {}", error_text(&error)),
        // The shells' and env(1)'s codes: 127 not found, 126 found but not runnable.
        code: if error.kind() == std::io::ErrorKind::NotFound {
            crate::error::exit::NOT_FOUND
        } else {
            crate::error::exit::NOT_RUNNABLE
        },
    })
}

/// An exec(2) failure in words, without Rust's `(os error N)`.
fn error_text(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => {
            "no such command\n  hint: check its name, or give its path".to_owned()
        }
        std::io::ErrorKind::PermissionDenied => "permission denied (is it executable?)".to_owned(),
        _ => error.to_string(),
    }
}

/// A value written so that sh and bash (`.`/`source`), python-dotenv and dotenvy all read back
/// exactly its bytes and run nothing; or what in it no such writing can carry.
///
/// Single quotes are literal for all of them as long as the value has no `'` and no `\`
/// (python-dotenv decodes `\\` and `\'` inside single quotes, and cannot read sh's `'\''`).
/// Otherwise double quotes with `\\` and `\"`, which all of them decode alike, as long as
/// there is no `$` or backtick (sh would expand them; an escaped `\$` stays `\$` in
/// python-dotenv). Line breaks split line-based readers, and python-dotenv expands `${…}` in
/// any quotes: those are refused.
fn dotenv_value(value: &str) -> Result<String, &'static str> {
    if value.contains(['\n', '\r', '\0']) {
        return Err(
            "a line break, which line-based readers take for the start of another variable",
        );
    }
    if value.contains("${") {
        return Err("`${`, which python-dotenv expands inside any quotes");
    }
    if !value.contains(['\'', '\\']) {
        return Ok(format!("'{value}'"));
    }
    if value.contains(['$', '`']) {
        return Err(
            "a quote or backslash and also `$` or a backtick, which no quoting reads back alike in sh and python-dotenv",
        );
    }
    Ok(format!(
        "\"{}\"",
        value.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

/// A value for `docker run --env-file`: docker takes everything after `=` literally to the end
/// of the line (dropping a final `\r`), so only line breaks cannot be carried.
fn docker_value(value: &str) -> Result<String, &'static str> {
    if value.contains(['\n', '\r', '\0']) {
        return Err("a line break, which docker reads as the end of the value");
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::dotenv_value;

    #[test]
    fn dotenv_values_round_trip_through_dotenvy() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(".env");
        for value in [
            "plain",
            "with space",
            "it's",
            "a\"b$c\\d",
            "p@ss:w/rd#x",
            "`id` $(id) $HOME",
            "back\\slash \"q\" 'single'",
            "trailing\\",
            "",
        ] {
            let Ok(written) = dotenv_value(value) else {
                continue;
            };
            std::fs::write(&path, format!("K={written}\n")).expect("write");
            let vars = pgfleet_core::Vars::default()
                .with_dotenv(&path)
                .expect("parse");
            assert_eq!(vars.get("K").unwrap_or_default(), value, "{written}");
        }
    }

    #[test]
    fn what_no_quoting_carries_is_refused() {
        for value in ["a\nb", "a\rb", "${HOME}", "it's $5", "\\`x`"] {
            assert!(dotenv_value(value).is_err(), "{value:?}");
        }
    }
}
