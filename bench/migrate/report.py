#!/usr/bin/env python3
"""Prints the benchmark report from the raw timings that bench/migrate/run writes.

Input: a TSV of `section  runner  rep  seconds` rows (section `single` or `fleet`; `stats`
rows carry statement and commit counts instead).

Two ratios are printed. `x floor` / `x seq` divides medians. `paired` is the median, over the
repetitions, of the ratio within one repetition (the runs of one repetition follow each other
within seconds): on a machine whose speed drifts, it is the steadier of the two.
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict

NAMES = {
    "psql": "psql floor (1 session, BEGIN; \\i file; COMMIT per file)",
    "pgfleet": "pgfleet migrate up <service>",
    "dbmate": "dbmate up",
    "sqlx": "sqlx migrate run",
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("tsv")
    p.add_argument("--meta", default="")
    p.add_argument("--services", default="N")
    args = p.parse_args()

    times: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    stats: dict[str, tuple[str, str]] = {}
    order: list[tuple[str, str]] = []
    with open(args.tsv, encoding="utf-8") as f:
        for line in f:
            section, runner, rep, value = line.rstrip("\n").split("\t")
            if section == "stats":
                stats[runner] = (rep, value)
                continue
            key = (section, runner)
            if key not in times:
                order.append(key)
            times[key][rep] = float(value)

    def table(section: str, base: str, title: str, head: str, label) -> list[str]:
        keys = [k for k in order if k[0] == section]
        if not keys or (section, base) not in times:
            return []
        base_runs = times[(section, base)]
        base_median = statistics.median(base_runs.values())
        lines = [title, f"{head:<62} {'median':>7} {'min':>7} {'max':>7} {'ratio':>6} {'paired':>6}"]
        for key in keys:
            runs = times[key]
            values = list(runs.values())
            m = statistics.median(values)
            paired = [runs[r] / base_runs[r] for r in runs if r in base_runs]
            pr = f"{statistics.median(paired):.2f}" if paired else "-"
            lines.append(
                f"{label(key[1]):<62} {m:>7.3f} {min(values):>7.3f} {max(values):>7.3f} {m / base_median:>6.2f} {pr:>6}"
            )
        return lines + [""]

    out: list[str] = []
    if args.meta:
        out += [args.meta, ""]
    out += table(
        "single",
        "psql",
        "One service, fresh empty database: wall clock in seconds; ratio to the psql floor",
        "runner",
        lambda r: NAMES.get(r, r),
    )

    # pgfleet against each peer, paired by repetition.
    mine = times.get(("single", "pgfleet"))
    peers = [k[1] for k in order if k[0] == "single" and k[1] not in ("pgfleet", "psql")]
    if mine and peers:
        for peer in peers:
            theirs = times[("single", peer)]
            paired = [mine[r] / theirs[r] for r in mine if r in theirs]
            faster = sum(1 for x in paired if x < 1)
            out.append(
                f"pgfleet / {peer}: ratio of medians {statistics.median(mine.values()) / statistics.median(theirs.values()):.2f}, "
                f"paired {statistics.median(paired):.2f}; pgfleet faster in {faster} of {len(paired)} repetitions"
            )
        out.append("")

    n = args.services

    def fleet_label(r: str) -> str:
        if r.startswith("all_jobs_"):
            return f"pgfleet migrate up --all --jobs {r.removeprefix('all_jobs_')}, 1 server"
        return {
            "sequential": f"sum of {n} sequential `pgfleet migrate up <service>`",
            "all": "pgfleet migrate up --all, 1 server (default --jobs: 4)",
            "all_servers": f"pgfleet migrate up --all, {n} servers, one host ({n} jobs)",
            "psql_parallel": f"psql floor, {n} sessions at once (reference)",
        }.get(r, r)

    out += table(
        "fleet",
        "sequential",
        f"Fleet, {n} services: wall clock in seconds; ratio to the sum of sequential runs",
        "run",
        fleet_label,
    )

    if stats:
        out.append("Requests for one service: the client's writes to the server's socket (each one a request the")
        out.append("client then waits on, so about one round trip each; strace) and the commits the database counted")
        out.append(f"{'runner':<62} {'writes':>7} {'commits':>7}")
        for runner, (calls, commits) in stats.items():
            out.append(f"{NAMES.get(runner, runner):<62} {calls:>7} {commits:>7}")
        out.append("")

    print("\n".join(out).rstrip())


if __name__ == "__main__":
    main()
