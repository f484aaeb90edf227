//! A synthetic but realistic migration corpus: tables, constraints, indexes, functions and
//! triggers, views, enum types, data backfills, and now and then a non-transactional
//! `CREATE INDEX CONCURRENTLY`. Every step has a down that reverts it exactly.

use std::path::Path;

/// Writes `count` migrations (versions 1..=count) into `dir`.
pub fn write(dir: &Path, count: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut last_table = 0;
    for i in 1..=count {
        let (up, down) = if i == 1 || i % 6 == 1 {
            last_table = i;
            (
                format!(
                    "CREATE TABLE t{i} (\n    id bigserial PRIMARY KEY,\n    name text NOT NULL CHECK (length(name) > 0),\n    \
                     created_at timestamptz NOT NULL DEFAULT now(),\n    payload jsonb NOT NULL DEFAULT '{{}}'\n);\n\
                     COMMENT ON TABLE t{i} IS 'table {i}';\n"
                ),
                format!("DROP TABLE t{i};\n"),
            )
        } else if i % 25 == 0 {
            (
                format!(
                    "-- pgfleet:no-transaction\n-- pgfleet:lock-timeout 2s\n\
                     CREATE INDEX CONCURRENTLY IF NOT EXISTS t{last_table}_created_{i} ON t{last_table} (created_at);\n\
                     CREATE INDEX CONCURRENTLY IF NOT EXISTS t{last_table}_payload_{i} ON t{last_table} USING gin (payload);\n"
                ),
                format!(
                    "-- pgfleet:no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS t{last_table}_payload_{i};\n\
                     DROP INDEX CONCURRENTLY IF EXISTS t{last_table}_created_{i};\n"
                ),
            )
        } else {
            match i % 6 {
                2 => (
                    format!(
                        "ALTER TABLE t{last_table} ADD COLUMN c{i} integer;\n\
                         CREATE INDEX t{last_table}_c{i} ON t{last_table} (c{i}) WHERE c{i} IS NOT NULL;\n"
                    ),
                    format!(
                        "DROP INDEX t{last_table}_c{i};\nALTER TABLE t{last_table} DROP COLUMN c{i};\n"
                    ),
                ),
                3 => (
                    format!(
                        "CREATE FUNCTION touch_{i}() RETURNS trigger LANGUAGE plpgsql AS $$\n\
                         BEGIN\n    NEW.created_at := now(); -- a semicolon inside a body\n    RETURN NEW;\nEND;\n$$;\n\
                         CREATE TRIGGER touch_{i} BEFORE UPDATE ON t{last_table}\n    FOR EACH ROW EXECUTE FUNCTION touch_{i}();\n"
                    ),
                    format!(
                        "DROP TRIGGER touch_{i} ON t{last_table};\nDROP FUNCTION touch_{i}();\n"
                    ),
                ),
                4 => (
                    format!(
                        "INSERT INTO t{last_table} (name, payload)\n\
                         SELECT 'row ' || g, jsonb_build_object('g', g, 'step', {i}) FROM generate_series(1, 200) AS g;\n\
                         UPDATE t{last_table} SET name = name || ' (backfilled)' WHERE payload->>'step' = '{i}';\n"
                    ),
                    format!("DELETE FROM t{last_table} WHERE payload->>'step' = '{i}';\n"),
                ),
                5 => (
                    format!(
                        "CREATE TYPE state_{i} AS ENUM ('new', 'active', 'done');\n\
                         CREATE VIEW v{i} AS SELECT id, name, 'new'::state_{i} AS state FROM t{last_table};\n"
                    ),
                    format!("DROP VIEW v{i};\nDROP TYPE state_{i};\n"),
                ),
                _ => (
                    format!(
                        "CREATE TABLE child{i} (\n    id bigserial PRIMARY KEY,\n    \
                         parent_id bigint NOT NULL REFERENCES t{last_table} (id) ON DELETE CASCADE,\n    \
                         amount numeric(12, 2) NOT NULL DEFAULT 0 CHECK (amount >= 0)\n);\n\
                         CREATE INDEX child{i}_parent ON child{i} (parent_id);\n"
                    ),
                    format!("DROP TABLE child{i};\n"),
                ),
            }
        };
        std::fs::write(dir.join(format!("{i:04}_step_{i}.up.sql")), up).unwrap();
        std::fs::write(dir.join(format!("{i:04}_step_{i}.down.sql")), down).unwrap();
    }
}
