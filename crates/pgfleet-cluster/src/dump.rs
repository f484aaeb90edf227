//! PostgreSQL's client tools (`pg_dump`, `pg_dumpall`, `pg_restore`, `psql`) on a resolved
//! connection, for `migrate baseline --from-live` and `backup`. The child gets the connection
//! as `PG*` variables on a cleared environment (the password never in its argv), and an error
//! names the command without its environment.

use crate::{ClusterError, PgBinaries};
use pgfleet_core::Connection;
use std::process::{Command, ExitStatus};

/// A client tool's command on a connection, and how errors name it.
#[derive(Debug)]
pub struct ClientCommand {
    /// The command, its environment set; callers may add arguments, or turn it into a
    /// `tokio::process::Command` (`From<std::process::Command>`).
    pub command: Command,
    /// The program and its arguments, as errors show them (no variable, so no password).
    pub shown: String,
}

impl ClientCommand {
    /// The error of a run of this command that exited with `status`.
    pub fn failed(&self, status: ExitStatus, stderr: &[u8]) -> ClusterError {
        ClusterError::CommandFailed {
            command: self.shown.clone(),
            status,
            output: String::from_utf8_lossy(stderr).trim_end().to_owned(),
        }
    }

    /// Runs it to the end; its stdout, or its stderr in the error.
    pub fn output(mut self) -> Result<Vec<u8>, ClusterError> {
        let output = self
            .command
            .output()
            .map_err(|e| ClusterError::io(format!("running {}", self.shown), e))?;
        if !output.status.success() {
            return Err(self.failed(output.status, &output.stderr));
        }
        Ok(output.stdout)
    }
}

/// `tool` of `bins` with `args`, connecting as `connection` says (`PGHOST`, `PGPORT`,
/// `PGDATABASE`, `PGUSER`, `PGSSLMODE`, `PGPASSWORD`…) and named `application` in
/// `pg_stat_activity`. It never prompts for a password. A connection setting the tools
/// cannot be given is refused rather than dropped.
pub fn client_command(
    bins: &PgBinaries,
    tool: &str,
    connection: &Connection,
    application: &str,
    args: &[String],
) -> Result<ClientCommand, ClusterError> {
    let program = bins.tool(tool);
    let mut command = crate::process::command(&program);
    command
        .arg("--no-password")
        .args(args)
        .env("PGHOST", &connection.host)
        .env("PGPORT", connection.port.to_string())
        .env("PGDATABASE", &connection.database)
        .env("PGUSER", &connection.user)
        .env("PGSSLMODE", connection.sslmode.as_str())
        .env("PGAPPNAME", application);
    for (key, value) in &connection.params {
        match key.as_str() {
            "sslrootcert" => command.env("PGSSLROOTCERT", value),
            other => {
                return Err(ClusterError::Unsupported(format!(
                    "{tool} cannot be given the connection setting `{other}`"
                )));
            }
        };
    }
    if let Some(password) = &connection.password {
        command.env("PGPASSWORD", password.expose());
    }
    Ok(ClientCommand {
        command,
        shown: format!("{} --no-password {}", program.display(), args.join(" ")),
    })
}

/// What `tool --version` prints (e.g. `pg_dump (PostgreSQL) 15.8`), for catalogs.
pub fn tool_version(bins: &PgBinaries, tool: &str) -> Result<String, ClusterError> {
    let program = bins.tool(tool);
    let mut command = crate::process::command(&program);
    command.arg("--version");
    Ok(crate::process::run(&mut command)?.trim().to_owned())
}

/// What to dump.
#[derive(Debug, Clone, Default)]
pub struct DumpScope<'a> {
    /// Only this schema (a service's schema in a shared database).
    pub schema: Option<&'a str>,
    /// Schemas left out (pgfleet's own).
    pub exclude_schemas: &'a [&'a str],
    /// Tables left out, as (schema, table): other tools' history tables.
    pub exclude_tables: &'a [(&'a str, &'a str)],
}

/// The schema of `connection`'s database as `pg_dump --schema-only --no-owner
/// --no-privileges` writes it: ownership and grants are access-as-code's.
pub fn schema_only(
    bins: &PgBinaries,
    connection: &Connection,
    scope: &DumpScope,
) -> Result<String, ClusterError> {
    let mut args: Vec<String> = vec![
        "--schema-only".into(),
        "--no-owner".into(),
        "--no-privileges".into(),
    ];
    if let Some(schema) = scope.schema {
        args.push(format!("--schema={}", quoted_pattern(schema)));
    }
    for schema in scope.exclude_schemas {
        args.push(format!("--exclude-schema={}", quoted_pattern(schema)));
    }
    for (schema, table) in scope.exclude_tables {
        args.push(format!(
            "--exclude-table={}.{}",
            quoted_pattern(schema),
            quoted_pattern(table)
        ));
    }
    let command = client_command(bins, "pg_dump", connection, "pgfleet baseline", &args)?;
    let shown = command.shown.clone();
    let stdout = command.output()?;
    String::from_utf8(stdout).map_err(|_| ClusterError::CommandFailed {
        command: shown,
        status: ExitStatus::default(),
        output: "its output is not UTF-8".to_owned(),
    })
}

/// A pg_dump pattern matching exactly `name` (its own pattern characters quoted).
pub fn quoted_pattern(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
