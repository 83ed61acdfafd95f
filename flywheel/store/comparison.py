"""Two workdirs compared table by table: the same input gives the same rows, whatever ran it and wherever.

What measures time is left out, and the folder holding each workdir is written ``<folder>``, so a run
under /tmp/a and one under /tmp/b compare. ``renamed`` maps a table's name in the first store to its
name in the second, for a comparison across a release that renamed one.
"""

from __future__ import annotations

from pathlib import Path

from flywheel.store.database import Store

# What measures time, left out when two runs are compared row for row.
TIMING_COLUMNS = {"verdicts": ["cost_seconds"], "eval_verdicts": ["cost_seconds"],
                  "training_steps": ["tokens_per_second"], "dpo_steps": ["tokens_per_second"],
                  "stage_runs": ["started_at", "finished_at", "seconds", "start_seconds", "work_seconds",
                                 "stop_seconds"],
                  "rounds": ["started_at", "finished_at"],
                  "stage_costs": ["seconds", "start_seconds", "work_seconds", "stop_seconds", "tokens_per_second"],
                  "yield_by_verifier": ["verifier_seconds"]}
# Views over what is compared already, or bookkeeping of the store itself rather than of a round.
NOT_COMPARED = {"parquet_files", "parquet_base"}


def table_names(connection) -> list[str]:
    """The store's tables and views, its own bookkeeping and the legacy copies of older stores left out."""
    rows = connection.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
                              "ORDER BY table_name").fetchall()
    return [name for (name,) in rows if name not in NOT_COMPARED and not name.startswith("legacy_")]


def table_rows(workdir: Path, table: str, replace: dict[str, str] | None = None) -> list[tuple]:
    """A table's rows in a fixed order, timing columns left out and the folder holding the workdir (its config and
    prompts file) normalised, so runs under different folders compare; ``replace`` rewrites more text in the rows'
    strings first (another checkout's path to the bundled data, say)."""
    workdir = Path(workdir)
    with Store(workdir / "flywheel.duckdb").reader() as connection:
        return _rows(connection, workdir, table, replace)


def _rows(connection, workdir: Path, table: str, replace: dict[str, str] | None) -> list[tuple]:
    columns = {name for (name,) in connection.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]).fetchall()}
    drop = [c for c in TIMING_COLUMNS.get(table, []) if c in columns]
    select = f"SELECT * EXCLUDE ({', '.join(drop)})" if drop else "SELECT *"
    found = connection.execute(f"{select} FROM {table}").fetchall()
    swaps = [*(replace or {}).items(), (str(workdir.parent), "<folder>")]

    def normalised(value):
        if isinstance(value, str):
            for old, new in swaps:
                value = value.replace(old, new)
        return value

    return sorted((tuple(normalised(v) for v in row) for row in found), key=repr)


def compare_workdirs(first: Path, second: Path, renamed: dict[str, str] | None = None,
                     replace: dict[str, str] | None = None) -> dict[str, str]:
    """{table: how it differs} for every table of either store ("" where the rows are the same). ``replace`` rewrites
    text in the first store's strings before comparing (the path of the checkout that made it, say)."""
    renamed = renamed or {}
    first, second = Path(first), Path(second)
    found: dict[str, str] = {}
    with Store(first / "flywheel.duckdb").reader() as a_connection, \
            Store(second / "flywheel.duckdb").reader() as b_connection:
        tables_first, tables_second = table_names(a_connection), set(table_names(b_connection))
        for table in tables_first:
            other = renamed.get(table, table)
            if other not in tables_second:
                found[table] = f"only in {first}"
                continue
            tables_second.discard(other)
            a, b = _rows(a_connection, first, table, replace), _rows(b_connection, second, other, None)
            if a == b:
                found[table] = ""
                continue
            only_a, only_b = set(a) - set(b), set(b) - set(a)
            example = next(iter(only_a or only_b), None)
            found[table] = (f"{len(a)} vs {len(b)} rows; {len(only_a)} only in the first, {len(only_b)} only in the "
                            f"second, e.g. {example}")[:600]
    for table in sorted(tables_second):
        found[table] = f"only in {second}"
    return found
