"""Time every audit query of the SQL guide (docs/guides/sql-audit.md) on a workdir's database (say, bench_round_scale.py's 1M round).

The queries are read from the guide's ``audit-queries`` block, the same text the tests run, so
what is timed is what users paste. Each runs twice on a read-only connection; both times are
printed with the row count (the first includes DuckDB reading the pages from disk).

    .venv/bin/python benchmarks/bench_round_scale.py --samples 1000000 --workdir /tmp/scale
    .venv/bin/python benchmarks/bench_audit_queries.py --workdir /tmp/scale/work [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]


def readme_queries() -> list[str]:
    block = re.search(r"<!-- audit-queries -->\s*```sql\n(.*?)```", (ROOT / "docs" / "guides" / "sql-audit.md").read_text(), re.S).group(1)
    statements = [s.strip() for s in block.split(";")]
    return [s for s in statements if any(not line.startswith("--") and line.strip() for line in s.splitlines())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    database = args.workdir / "flywheel.duckdb"
    connection = duckdb.connect(str(database), read_only=True)
    counts = dict(connection.execute("SELECT 'samples', count(*) FROM samples UNION ALL "
                                     "SELECT 'verdicts', count(*) FROM verdicts").fetchall())
    print(f"{database}: {counts['samples']:,} samples, {counts['verdicts']:,} verdicts "
          f"({database.stat().st_size / 2**20:.0f} MB)")
    results = []
    for sql in readme_queries():
        name = next(line for line in sql.splitlines() if not line.startswith("--"))[:70]
        times = []
        for _ in range(2):
            t0 = time.perf_counter()
            rows = connection.execute(sql).fetchall()
            times.append(time.perf_counter() - t0)
        results.append({"query": name, "rows": len(rows), "first_seconds": round(times[0], 3),
                        "second_seconds": round(times[1], 3)})
        print(f"{times[0]:7.3f} s {times[1]:7.3f} s {len(rows):6d} rows  {name}")
    print(f"slowest: {max(r['first_seconds'] for r in results):.3f} s")
    if args.json:
        args.json.write_text(json.dumps({"database": str(database), **counts, "queries": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
