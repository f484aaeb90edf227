//! Other tools' history tables, read as each tool documents them: which versions it applied,
//! whether it stopped half-way, and what it kept of each file to compare.

use serde::Serialize;
use tokio_postgres::Client;

/// A migration tool whose history pgfleet can take over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tool {
    /// `schema_migrations (version bigint, dirty boolean)`: one row, the current version.
    GolangMigrate,
    /// `_sqlx_migrations`: a row per applied version, with `success` and a SHA-384 checksum.
    Sqlx,
    /// `__diesel_schema_migrations (version varchar)`: a row per applied version.
    Diesel,
    /// `schema_migrations (version varchar)`: a row per applied version.
    Dbmate,
    /// `flyway_schema_history`: a row per run, with its type, `success` and a CRC32 checksum.
    Flyway,
    /// `alembic_version (version_num)`: one row, the current revision (of files made by
    /// `migrate import alembic`, whose names start with their revision).
    Alembic,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::GolangMigrate => "golang-migrate",
            Tool::Sqlx => "sqlx",
            Tool::Diesel => "diesel",
            Tool::Dbmate => "dbmate",
            Tool::Flyway => "flyway",
            Tool::Alembic => "alembic",
        }
    }

    pub fn table(self) -> &'static str {
        match self {
            Tool::GolangMigrate | Tool::Dbmate => "schema_migrations",
            Tool::Sqlx => "_sqlx_migrations",
            Tool::Diesel => "__diesel_schema_migrations",
            Tool::Flyway => "flyway_schema_history",
            Tool::Alembic => "alembic_version",
        }
    }
}

/// How the tool marks what it applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Every file up to this version (golang-migrate keeps the current version only).
    UpTo(i64),
    /// Exactly these versions.
    Each(Vec<ForeignStep>),
    /// Flyway: every file up to a baseline (if any), and these versions.
    Flyway {
        baseline: Option<i64>,
        steps: Vec<ForeignStep>,
    },
    /// Every file up to the one made from this Alembic revision.
    UpToRevision(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignStep {
    pub version: i64,
    /// SHA-384 of the file as the tool ran it (sqlx).
    pub sha384: Option<Vec<u8>>,
    /// Flyway's CRC32 of the file's lines.
    pub crc32: Option<i32>,
}

/// What the tool's table says.
#[derive(Debug, Clone)]
pub struct History {
    /// Where the table is, `schema.table`.
    pub table: String,
    pub applied: Applied,
    /// Why the tool's state cannot be taken over as it is (a dirty or failed version).
    pub unfinished: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ForeignError {
    #[error("{0}")]
    Pg(#[from] tokio_postgres::Error),
    #[error("{0}")]
    Shape(String),
}

/// Reads `tool`'s table from the first of `schemas` that has it; `None` when none has.
pub async fn read(
    client: &Client,
    tool: Tool,
    schemas: &[String],
) -> Result<Option<History>, ForeignError> {
    let found = client
        .query_opt(
            "SELECT n.nspname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relname = $1 AND c.relkind IN ('r', 'p') AND n.nspname = ANY($2)
              ORDER BY array_position($2, n.nspname::text) LIMIT 1",
            &[&tool.table(), &schemas],
        )
        .await?;
    let Some(schema) = found.map(|r| r.get::<_, String>(0)) else {
        return Ok(None);
    };
    let table = format!("{}.{}", readable_ident(&schema), tool.table());
    if !is_theirs(client, tool, &table).await? {
        return Err(ForeignError::Shape(format!(
            "{table} is not {}'s (golang-migrate's has a `dirty` column, dbmate's has not)",
            tool.name()
        )));
    }
    let history = match tool {
        Tool::GolangMigrate => {
            let rows = client
                .query(&format!("SELECT version, dirty FROM {table}"), &[])
                .await?;
            match rows.as_slice() {
                [] => History {
                    table,
                    applied: Applied::Each(Vec::new()),
                    unfinished: None,
                },
                [row] => {
                    let version: i64 = row.get(0);
                    let dirty: bool = row.get(1);
                    History {
                        unfinished: dirty.then(|| {
                            format!(
                                "golang-migrate marks version {version} dirty: it failed part-way. Fix the database, \
                                 then `migrate force {version}` (or the version before it) with golang-migrate"
                            )
                        }),
                        table,
                        applied: Applied::UpTo(version),
                    }
                }
                _ => {
                    return Err(ForeignError::Shape(format!(
                        "{table} holds {} rows; golang-migrate keeps one",
                        rows.len()
                    )));
                }
            }
        }
        Tool::Sqlx => {
            let rows = client
                .query(
                    &format!("SELECT version, success, checksum FROM {table} ORDER BY version"),
                    &[],
                )
                .await?;
            let failed: Vec<i64> = rows
                .iter()
                .filter(|r| !r.get::<_, bool>(1))
                .map(|r| r.get(0))
                .collect();
            History {
                unfinished: (!failed.is_empty()).then(|| {
                    format!(
                        "sqlx recorded version(s) {failed:?} as failed (success = false): a no-transaction \
                         migration stopped part-way. Fix the database and the row with sqlx first"
                    )
                }),
                applied: Applied::Each(
                    rows.iter()
                        .map(|r| ForeignStep {
                            version: r.get(0),
                            sha384: Some(r.get(2)),
                            crc32: None,
                        })
                        .collect(),
                ),
                table,
            }
        }
        Tool::Flyway => {
            let rows = client
                .query(
                    &format!(
                        "SELECT version::text, type::text, checksum, success FROM {table} ORDER BY installed_rank"
                    ),
                    &[],
                )
                .await?;
            let mut steps: std::collections::BTreeMap<i64, Option<i32>> = Default::default();
            let (mut baseline, mut failed) = (None, Vec::new());
            for row in &rows {
                let text: Option<String> = row.get(0);
                let kind: String = row.get(1);
                if !row.get::<_, bool>(3) {
                    failed.push(text.clone().unwrap_or_else(|| "a repeatable".to_owned()));
                }
                // Repeatable runs have no version; pgfleet refuses those files for now.
                let Some(text) = text else { continue };
                let version = crate::layout::flyway::version(&text)
                    .map_err(|e| ForeignError::Shape(format!("{table}: {e}")))?;
                match kind.as_str() {
                    "SQL" | "JDBC" | "SPRING_JDBC" => {
                        steps.insert(version, row.get(2));
                    }
                    "UNDO_SQL" | "UNDO_JDBC" | "UNDO_SPRING_JDBC" => {
                        steps.remove(&version);
                    }
                    "BASELINE" | "SQL_BASELINE" | "JDBC_BASELINE" => baseline = Some(version),
                    _ => {}
                }
            }
            History {
                unfinished: (!failed.is_empty()).then(|| {
                    format!(
                        "Flyway recorded version(s) {failed:?} as failed (success = false): run `flyway repair` \
                         once the database is fixed"
                    )
                }),
                applied: Applied::Flyway {
                    baseline,
                    steps: steps
                        .into_iter()
                        .map(|(version, crc32)| ForeignStep {
                            version,
                            sha384: None,
                            crc32,
                        })
                        .collect(),
                },
                table,
            }
        }
        Tool::Alembic => {
            let rows = client
                .query(&format!("SELECT version_num::text FROM {table}"), &[])
                .await?;
            match rows.as_slice() {
                [] => History {
                    table,
                    applied: Applied::Each(Vec::new()),
                    unfinished: None,
                },
                [row] => History {
                    table,
                    applied: Applied::UpToRevision(row.get(0)),
                    unfinished: None,
                },
                _ => History {
                    unfinished: Some(format!(
                        "{table} holds {} revisions: the database is on several Alembic branches",
                        rows.len()
                    )),
                    table,
                    applied: Applied::Each(Vec::new()),
                },
            }
        }
        Tool::Diesel | Tool::Dbmate => {
            let rows = client
                .query(
                    &format!("SELECT version::text FROM {table} ORDER BY version"),
                    &[],
                )
                .await?;
            let mut steps = Vec::new();
            for row in rows {
                let text: String = row.get(0);
                let digits: String = text.chars().filter(|c| *c != '-').collect();
                let version = digits.parse::<i64>().map_err(|_| {
                    ForeignError::Shape(format!(
                        "{table} holds version `{text}`, which is not a number"
                    ))
                })?;
                steps.push(ForeignStep {
                    version,
                    sha384: None,
                    crc32: None,
                });
            }
            History {
                table,
                applied: Applied::Each(steps),
                unfinished: None,
            }
        }
    };
    Ok(Some(history))
}

/// An identifier as SQL reads it, quoted only where it must be (`public`, not `"public"`).
fn readable_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_owned()
    } else {
        pgfleet_core::ident::quote_ident(name)
    }
}

/// Whether `table` is `tool`'s: golang-migrate's and dbmate's are both `schema_migrations`,
/// told apart by golang-migrate's `dirty` column.
async fn is_theirs(
    client: &Client,
    tool: Tool,
    table: &str,
) -> Result<bool, tokio_postgres::Error> {
    if !matches!(tool, Tool::GolangMigrate | Tool::Dbmate) {
        return Ok(true);
    }
    let dirty: bool = client
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'dirty' AND NOT attisdropped)",
            &[&table],
        )
        .await?
        .get(0);
    Ok(dirty == (tool == Tool::GolangMigrate))
}

/// Flyway's checksum of a file: CRC32 over its lines as Java's `readLine` gives them (without
/// their line ends, the first without a byte order mark), as a signed 32-bit integer.
pub fn flyway_checksum(text: &str) -> i32 {
    let mut crc = crc32fast::Hasher::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for line in text.split('\n') {
        crc.update(line.strip_suffix('\r').unwrap_or(line).as_bytes());
    }
    crc.finalize() as i32
}
