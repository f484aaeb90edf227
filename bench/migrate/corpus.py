#!/usr/bin/env python3
"""Synthetic migration corpus for the pgfleet migration benchmark.

Writes, under --out:

    pgfleet/<service>/<version>_<name>.up.sql / .down.sql   pgfleet's layout
    sqlx/<service>/...                                       the same files; a non-transactional
                                                             one starts with `-- no-transaction`
    dbmate/<service>/<version>_<name>.sql                    `-- migrate:up` / `-- migrate:down`
    psql/<service>.sql                                       a psql driver: one transaction per file
    fleet.toml                                               one server, every service on it
    fleet-servers.toml                                       one server per service (same host)
    expected.json                                            what a finished run leaves behind

Every file is the same for every runner: only the wrapping (directive line, file layout)
differs. The mix, cycling over eight kinds of step, is: CREATE TABLE with constraints, an FK
child table, ALTER TABLE ADD COLUMN + partial index, a plpgsql trigger function + trigger,
an enum type + a column of it, a data backfill (INSERT ... generate_series + INSERT into the
child + UPDATE that fires the triggers), a view, and a plpgsql function + CHECK constraint.
Every --concurrent-every'th file is a non-transactional CREATE INDEX CONCURRENTLY IF NOT EXISTS
(one statement: dbmate and sqlx send a file as one simple query, where several statements form
an implicit transaction that CREATE INDEX CONCURRENTLY refuses). With --no-concurrent those
files are a transactional CREATE INDEX IF NOT EXISTS instead (same work, for profiling).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

PGFLEET_NO_TX = "-- pgfleet:no-transaction"
SQLX_NO_TX = "-- no-transaction"


@dataclass
class Step:
    version: int
    name: str
    up: str
    down: str
    no_transaction: bool


@dataclass
class State:
    table: str = ""
    child: str = ""
    tables: int = 0  # relations (tables) created, for expected.json
    rows: int = 0


def table_step(i: int, st: State) -> tuple[str, str, str]:
    t = f"account_{i}"
    st.table, st.tables = t, st.tables + 1
    up = f"""CREATE TABLE {t} (
    id          bigserial PRIMARY KEY,
    code        text NOT NULL UNIQUE,
    name        text NOT NULL CHECK (length(name) > 0),
    amount      numeric(12, 2) NOT NULL DEFAULT 0 CHECK (amount >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    payload     jsonb NOT NULL DEFAULT '{{}}'::jsonb,
    CONSTRAINT {t}_dates CHECK (updated_at >= created_at)
);
COMMENT ON TABLE {t} IS 'accounts of step {i}; created by the benchmark corpus';
CREATE INDEX {t}_created_at ON {t} (created_at);
"""
    return f"create_{t}", up, f"DROP TABLE {t};\n"


def child_step(i: int, st: State) -> tuple[str, str, str]:
    t, c = st.table, f"entry_{i}"
    st.child, st.tables = c, st.tables + 1
    up = f"""CREATE TABLE {c} (
    id          bigserial PRIMARY KEY,
    parent_id   bigint NOT NULL REFERENCES {t} (id) ON DELETE CASCADE,
    qty         integer NOT NULL CHECK (qty > 0),
    note        text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX {c}_parent_id ON {c} (parent_id);
"""
    return f"create_{c}", up, f"DROP TABLE {c};\n"


def column_step(i: int, st: State) -> tuple[str, str, str]:
    t = st.table
    up = f"""ALTER TABLE {t} ADD COLUMN score_{i} integer;
ALTER TABLE {t} ADD COLUMN archived_{i} timestamptz;
CREATE INDEX {t}_score_{i} ON {t} (score_{i}) WHERE score_{i} IS NOT NULL;
CREATE INDEX {t}_live_{i} ON {t} (created_at) WHERE archived_{i} IS NULL;
"""
    down = f"""DROP INDEX {t}_live_{i};
DROP INDEX {t}_score_{i};
ALTER TABLE {t} DROP COLUMN archived_{i};
ALTER TABLE {t} DROP COLUMN score_{i};
"""
    return f"add_score_{i}", up, down


def trigger_step(i: int, st: State) -> tuple[str, str, str]:
    t = st.table
    up = f"""CREATE FUNCTION touch_{i}() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    -- semicolons inside a dollar-quoted body; and in a string: ';'
    NEW.updated_at := greatest(now(), NEW.created_at);
    IF NEW.name IS DISTINCT FROM OLD.name THEN
        NEW.payload := NEW.payload || jsonb_build_object('renamed', 'yes; at step {i}');
    END IF;
    RETURN NEW;
END;
$body$;
CREATE TRIGGER touch_{i} BEFORE UPDATE ON {t}
    FOR EACH ROW EXECUTE FUNCTION touch_{i}();
"""
    down = f"DROP TRIGGER touch_{i} ON {t};\nDROP FUNCTION touch_{i}();\n"
    return f"touch_trigger_{i}", up, down


def enum_step(i: int, st: State) -> tuple[str, str, str]:
    t = st.table
    up = f"""CREATE TYPE status_{i} AS ENUM ('new', 'active', 'suspended', 'closed');
ALTER TABLE {t} ADD COLUMN status_{i} status_{i} NOT NULL DEFAULT 'new';
CREATE INDEX {t}_status_{i} ON {t} (status_{i}) WHERE status_{i} <> 'closed';
"""
    down = f"""DROP INDEX {t}_status_{i};
ALTER TABLE {t} DROP COLUMN status_{i};
DROP TYPE status_{i};
"""
    return f"status_enum_{i}", up, down


def backfill_step(i: int, st: State, rows: int) -> tuple[str, str, str]:
    t, c = st.table, st.child
    st.rows += rows
    up = f"""INSERT INTO {t} (code, name, amount, payload)
SELECT 'b{i}-' || g, 'account ' || g, (g % 1000) / 10.0, jsonb_build_object('step', {i}, 'g', g)
  FROM generate_series(1, {rows}) AS g;
INSERT INTO {c} (parent_id, qty, note)
SELECT id, 1 + id % 5, 'backfill {i}' FROM {t} WHERE payload->>'step' = '{i}';
UPDATE {t} SET name = name || ' (backfilled)', amount = amount + 1
 WHERE payload->>'step' = '{i}';
"""
    down = f"DELETE FROM {t} WHERE payload->>'step' = '{i}';\n"
    return f"backfill_{i}", up, down


def view_step(i: int, st: State) -> tuple[str, str, str]:
    t, c = st.table, st.child
    up = f"""CREATE VIEW summary_{i} AS
SELECT a.id, a.code, a.name, count(e.id) AS entries, coalesce(sum(e.qty), 0) AS qty
  FROM {t} a
  LEFT JOIN {c} e ON e.parent_id = a.id
 GROUP BY a.id, a.code, a.name;
COMMENT ON VIEW summary_{i} IS 'entries per account';
"""
    return f"summary_view_{i}", up, f"DROP VIEW summary_{i};\n"


def function_step(i: int, st: State) -> tuple[str, str, str]:
    t = st.table
    up = f"""CREATE FUNCTION describe_{i}(p_id bigint) RETURNS text
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    r record;
BEGIN
    SELECT code, name, amount INTO r FROM {t} WHERE id = p_id;
    IF NOT FOUND THEN
        RETURN 'missing; no such account';
    END IF;
    RETURN format('%s;%s;%s', r.code, r.name, r.amount);
END;
$fn$;
ALTER TABLE {t} ADD CONSTRAINT {t}_code_len_{i} CHECK (length(code) < 200);
"""
    down = f"ALTER TABLE {t} DROP CONSTRAINT {t}_code_len_{i};\nDROP FUNCTION describe_{i}(bigint);\n"
    return f"describe_fn_{i}", up, down


def concurrent_step(i: int, st: State, concurrent: bool) -> tuple[str, str, str, bool]:
    t = st.table
    if concurrent:
        up = f"{PGFLEET_NO_TX}\nCREATE INDEX CONCURRENTLY IF NOT EXISTS {t}_name_{i} ON {t} (name, id);\n"
        down = f"{PGFLEET_NO_TX}\nDROP INDEX CONCURRENTLY IF EXISTS {t}_name_{i};\n"
    else:
        up = f"CREATE INDEX IF NOT EXISTS {t}_name_{i} ON {t} (name, id);\n"
        down = f"DROP INDEX IF EXISTS {t}_name_{i};\n"
    return f"index_name_{i}", up, down, concurrent


def steps(service: str, count: int, rows: int, every: int, concurrent: bool) -> tuple[list[Step], State]:
    st = State()
    out: list[Step] = []
    kinds = [
        table_step,
        child_step,
        column_step,
        trigger_step,
        enum_step,
        lambda i, s: backfill_step(i, s, rows),
        view_step,
        function_step,
    ]
    k = 0
    for i in range(1, count + 1):
        if every > 0 and i % every == 0 and st.table:
            name, up, down, no_tx = concurrent_step(i, st, concurrent)
        else:
            name, up, down = kinds[k % len(kinds)](i, st)
            no_tx = False
            k += 1
        header = f"-- {service}: step {i} ({name})\n"
        if no_tx:
            # The directive stays the first line, as pgfleet's docs and sqlx expect.
            first, rest = up.split("\n", 1)
            up = f"{first}\n{header}{rest}"
            first, rest = down.split("\n", 1)
            down = f"{first}\n{header}{rest}"
        else:
            up, down = header + up, header + down
        out.append(Step(i, name, up, down, no_tx))
    return out, st


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, type=Path, help="folder to (re)create")
    p.add_argument("--services", type=int, default=8)
    p.add_argument("--migrations", type=int, default=300, help="migrations per service")
    p.add_argument("--rows", type=int, default=300, help="rows per backfill step")
    p.add_argument("--concurrent-every", type=int, default=25, help="every Nth file is CREATE INDEX CONCURRENTLY (0: none)")
    p.add_argument("--no-concurrent", action="store_true", help="make those files transactional CREATE INDEX instead")
    args = p.parse_args()

    out: Path = args.out.resolve()
    if out.exists():
        shutil.rmtree(out)
    width = max(4, len(str(args.migrations)))
    services = [f"s{n}" for n in range(1, args.services + 1)]
    expected = {}
    for service in services:
        plan, st = steps(service, args.migrations, args.rows, args.concurrent_every, not args.no_concurrent)
        dirs = {kind: out / kind / service for kind in ("pgfleet", "sqlx", "dbmate")}
        for d in dirs.values():
            d.mkdir(parents=True)
        (out / "psql").mkdir(exist_ok=True)
        driver = ["\\set ON_ERROR_STOP 1", "SET client_min_messages = warning;"]
        for s in plan:
            stem = f"{s.version:0{width}d}_{s.name}"
            up_path = dirs["pgfleet"] / f"{stem}.up.sql"
            write(up_path, s.up)
            write(dirs["pgfleet"] / f"{stem}.down.sql", s.down)
            sq_up, sq_down = s.up, s.down
            if s.no_transaction:
                sq_up = sq_up.replace(PGFLEET_NO_TX, SQLX_NO_TX, 1)
                sq_down = sq_down.replace(PGFLEET_NO_TX, SQLX_NO_TX, 1)
            write(dirs["sqlx"] / f"{stem}.up.sql", sq_up)
            write(dirs["sqlx"] / f"{stem}.down.sql", sq_down)
            opt = " transaction:false" if s.no_transaction else ""
            write(
                dirs["dbmate"] / f"{stem}.sql",
                f"-- migrate:up{opt}\n{s.up}\n-- migrate:down{opt}\n{s.down}",
            )
            if s.no_transaction:
                driver.append(f"\\i {up_path}")
            else:
                driver += ["BEGIN;", f"\\i {up_path}", "COMMIT;"]
        write(out / "psql" / f"{service}.sql", "\n".join(driver) + "\n")
        expected[service] = {"migrations": len(plan), "tables": st.tables, "rows": st.rows}

    env = """[environments.bench]
host = { env = "BENCH_HOST" }
port = { env = "BENCH_PORT" }
user = { env = "BENCH_USER" }
sslmode = "disable"
"""
    head = '[fleet]\nname = "bench"\ndefault_environment = "bench"\n\n' + env
    one = [head, "\n[servers.main]\n"]
    many = [head]
    for service in services:
        one.append(f'\n[services.{service}]\nserver = "main"\ndatabase = "bench_{service}"\nmigrations = "pgfleet/{service}"\n')
        many.append(f"\n[servers.srv_{service}]\n")
        many.append(f'\n[services.{service}]\nserver = "srv_{service}"\ndatabase = "bench_{service}"\nmigrations = "pgfleet/{service}"\n')
    write(out / "fleet.toml", "".join(one))
    write(out / "fleet-servers.toml", "".join(many))
    write(out / "expected.json", json.dumps(expected, indent=2) + "\n")
    files = sum(1 for _ in (out / "pgfleet").rglob("*.sql"))
    print(f"corpus: {args.services} service(s) x {args.migrations} migrations ({files} pgfleet files) in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
