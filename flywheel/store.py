"""The DuckDB store: one file per workdir holding every round's audit tables.

DuckDB allows one writing process at a time, so writers take an exclusive file lock
(``flywheel.duckdb.lock``) and hold the connection only for the write itself; readers
open read-only. Writing a round's rows deletes that round's old rows in the same
transaction, so re-materializing a stage replaces rather than duplicates.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

# Column lists are the contract documented in the README ("Audit tables").
TABLES: dict[str, str] = {
    "rounds": "round INTEGER, status VARCHAR, generation_checkpoint VARCHAR, checkpoint VARCHAR, "
              "started_at TIMESTAMP, finished_at TIMESTAMP",
    "prompts": "round INTEGER, id VARCHAR, domain VARCHAR, messages JSON, reference VARCHAR, source VARCHAR",
    "samples": "round INTEGER, prompt_id VARCHAR, sample_index INTEGER, text VARCHAR, num_tokens INTEGER, "
               "finish_reason VARCHAR, checkpoint VARCHAR, seed BIGINT, sampling JSON",
    "verdicts": "round INTEGER, prompt_id VARCHAR, sample_index INTEGER, verifier VARCHAR, passed BOOLEAN, "
                "score DOUBLE, status VARCHAR, reason VARCHAR, cost_seconds DOUBLE, details JSON",
    "selections": "round INTEGER, example_id VARCHAR, prompt_id VARCHAR, domain VARCHAR, origin_round INTEGER, "
                  "score DOUBLE, source VARCHAR",
    "prompt_difficulty": "round INTEGER, prompt_id VARCHAR, domain VARCHAR, n_samples INTEGER, n_passed INTEGER, "
                         "pass_rate DOUBLE, status VARCHAR",
    "decontamination_hits": "round INTEGER, benchmark VARCHAR, instance_id VARCHAR, overlap DOUBLE, "
                            "n_shared_ngrams INTEGER, example_ngram VARCHAR, example_id VARCHAR, train_source VARCHAR, "
                            "train_mix_source VARCHAR",
    "dedup_drops": "round INTEGER, example_id VARCHAR, mix_source VARCHAR, kind VARCHAR, duplicate_of VARCHAR, "
                   "duplicate_round INTEGER, similarity DOUBLE, reason VARCHAR",
    "mixture": "round INTEGER, source VARCHAR, kind VARCHAR, domain VARCHAR, weight DOUBLE, epochs INTEGER, "
               "n_available INTEGER, n_requested INTEGER, n_taken INTEGER, shortfall INTEGER",
    "training_steps": "round INTEGER, step INTEGER, epoch INTEGER, loss DOUBLE, learning_rate DOUBLE, "
                      "tokens BIGINT, tokens_per_second DOUBLE",
    "evaluations": "round INTEGER, domain VARCHAR, n_prompts INTEGER, pass_at_1 DOUBLE, checkpoint VARCHAR",
    "round_metrics": "round INTEGER, n_prompts INTEGER, n_samples INTEGER, n_accepted INTEGER, yield DOUBLE, "
                     "n_selected_pool INTEGER, n_decontaminated_dropped INTEGER, n_deduplicated_dropped INTEGER, "
                     "n_train_examples INTEGER, "
                     "train_loss DOUBLE, eval_pass_at_1 DOUBLE, distinct_2 DOUBLE, verifier_errors INTEGER, "
                     "n_prompts_all_pass INTEGER, n_prompts_none_pass INTEGER, "
                     "stop BOOLEAN, stop_reason VARCHAR",
}


VIEWS: dict[str, str] = {
    # What decontamination dropped, per round, benchmark and training source.
    "decontamination_summary": "SELECT round, benchmark, train_mix_source, count(DISTINCT example_id) AS examples_dropped, "
                               "count(DISTINCT instance_id) AS instances_hit, count(*) AS hits, "
                               "round(max(overlap), 3) AS max_overlap FROM decontamination_hits GROUP BY ALL",
}


class Store:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.lock_path = self.path.with_suffix(self.path.suffix + ".lock")

    @contextmanager
    def writer(self, timeout: float = 600.0) -> Iterator[duckdb.DuckDBPyConnection]:
        """An exclusive write connection, serialized across processes by a file lock."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.lock_path.open("a") as lock:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{self.lock_path}: another writer held the store for {timeout:.0f}s") from None
                    time.sleep(0.05)
            try:
                connection = duckdb.connect(str(self.path))
                try:
                    self._ensure_schema(connection)
                    yield connection
                finally:
                    connection.close()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def reader(self) -> duckdb.DuckDBPyConnection:
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path}: no flywheel database here yet; run a round first")
        return duckdb.connect(str(self.path), read_only=True)

    @staticmethod
    def _ensure_schema(connection: duckdb.DuckDBPyConnection) -> None:
        for name, columns in TABLES.items():
            connection.execute(f"CREATE TABLE IF NOT EXISTS {name} ({columns})")
        for name, query in VIEWS.items():
            connection.execute(f"CREATE OR REPLACE VIEW {name} AS {query}")

    def replace_round(self, table: str, round_number: int, rows: list[dict] | pa.Table) -> int:
        """Replace ``table``'s rows for one round, in one transaction. Returns the row count."""
        if table not in TABLES:
            raise KeyError(f"unknown table {table!r}")
        columns = [part.strip().split(" ")[0] for part in TABLES[table].split(", ")]
        arrow = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(
            [{**{c: r.get(c) for c in columns}, "round": round_number} for r in rows]) if rows else None
        with self.writer() as connection:
            connection.execute("BEGIN TRANSACTION")
            try:
                connection.execute(f"DELETE FROM {table} WHERE round = ?", [round_number])
                if arrow is not None and arrow.num_rows:
                    connection.register("incoming", arrow)
                    names = ", ".join(c for c in columns if c in arrow.column_names)
                    connection.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM incoming")
                    connection.unregister("incoming")
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        return 0 if arrow is None else arrow.num_rows

    def query(self, sql: str, params: list | None = None) -> tuple[list[str], list[tuple]]:
        """Read-only SQL: (column names, rows)."""
        connection = self.reader()
        try:
            result = connection.execute(sql, params or [])
            names = [d[0] for d in result.description] if result.description else []
            return names, result.fetchall()
        finally:
            connection.close()
