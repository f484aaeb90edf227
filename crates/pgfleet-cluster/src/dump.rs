//! `pg_dump` of a service's schema, for `migrate baseline --from-live`. The child gets the
//! connection as `PG*` variables on a cleared environment (the password never in its argv),
//! and an error names the command without its environment.

use crate::{ClusterError, PgBinaries};
use pgfleet_core::Connection;

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
    let program = bins.tool("pg_dump");
    let mut cmd = crate::process::command(&program);
    let mut args: Vec<String> = vec![
        "--schema-only".into(),
        "--no-owner".into(),
        "--no-privileges".into(),
        "--no-password".into(),
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
    cmd.args(&args)
        .env("PGHOST", &connection.host)
        .env("PGPORT", connection.port.to_string())
        .env("PGDATABASE", &connection.database)
        .env("PGUSER", &connection.user)
        .env("PGSSLMODE", connection.sslmode.as_str())
        .env("PGAPPNAME", "pgfleet baseline");
    for (key, value) in &connection.params {
        match key.as_str() {
            "sslrootcert" => cmd.env("PGSSLROOTCERT", value),
            other => {
                return Err(ClusterError::Unsupported(format!(
                    "pg_dump cannot be given the connection setting `{other}`"
                )));
            }
        };
    }
    if let Some(password) = &connection.password {
        cmd.env("PGPASSWORD", password.expose());
    }
    let shown = format!("{} {}", program.display(), args.join(" "));
    let output = cmd
        .output()
        .map_err(|e| ClusterError::io(format!("running {shown}"), e))?;
    if !output.status.success() {
        return Err(ClusterError::CommandFailed {
            command: shown,
            status: output.status,
            output: String::from_utf8_lossy(&output.stderr)
                .trim_end()
                .to_owned(),
        });
    }
    String::from_utf8(output.stdout).map_err(|_| ClusterError::CommandFailed {
        command: shown,
        status: output.status,
        output: "its output is not UTF-8".to_owned(),
    })
}

/// A pg_dump pattern matching exactly `name` (its own pattern characters quoted).
fn quoted_pattern(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
