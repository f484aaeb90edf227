//! Other migration tools' history tables. A database adopted from one keeps its table
//! (`migrate adopt` reads it, nothing writes it); it is bookkeeping, not the service's data, so
//! no service role is ever granted on it and `baseline --from-live` leaves it out.

/// golang-migrate's and dbmate's, sqlx's, diesel's, Flyway's and Alembic's.
pub const TABLES: [&str; 5] = [
    "schema_migrations",
    "_sqlx_migrations",
    "__diesel_schema_migrations",
    "flyway_schema_history",
    "alembic_version",
];

/// Whether a table of this name is another tool's history.
pub fn is_history_table(name: &str) -> bool {
    TABLES.contains(&name)
}
