"""The DuckDB store: one file per workdir holding every round's audit tables.

DuckDB allows one writing process at a time and no writer while another process has the
file open, so writers take an exclusive file lock (``flywheel.duckdb.lock``) and hold the
connection only for the write itself, and readers take the same lock shared for the
length of one query. An auditor's own read-only connection (the duckdb CLI, a notebook)
makes writers wait and retry rather than fail; ``snapshot`` gives auditors a copy that
never blocks a round. Writing a round's rows deletes that round's old rows in the same
transaction, so re-materializing a stage replaces rather than duplicates.

The bulk tables (``samples``, ``verdicts``, ``pool``, ``eval_samples``, ``eval_verdicts``:
a million rows a round at production size) are views over the rounds' Parquet files, not copies:
a stage writes its Parquet file and ``attach_parquet`` records it in ``parquet_files`` and redefines
the view. The file stays the one source of those rows; DuckDB reads only the columns a query needs.
Rows that a store made before this (when these were tables) are kept in ``legacy_<table>`` and
shown for the rounds that have no file recorded.

A file inside the workdir is recorded relative to it, so a workdir can be moved or copied: the next
writer re-points the views at the files where they now are (``parquet_base`` holds the folder the views
were made for), and a reader of a moved store that no writer has opened yet gets the same views as
temporary ones, which shadow the stale ones for that connection.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from flywheel.records.schema import (
    ACCEPTED_SCHEMA,
    DECISION_SCHEMA,
    DIFFICULTY_SCHEMA,
    Example,
    PreferencePair,
    Prompt,
    Sample,
    Verdict,
    arrow_duckdb_columns,
    duckdb_columns,
)

# Column lists are the contract documented in docs/guides/sql-audit.md ("Tables"). Tables that hold a record
# (prompts, samples, verdicts, pool) take their columns from its model in flywheel.records.schema, and select's
# audit tables (prompt_difficulty, accepted_samples, decisions) from the Arrow schemas select writes them with.
ROUND = {"round": "INTEGER"}
TABLES: dict[str, dict[str, str]] = {
    "prompts": duckdb_columns(Prompt, leading=ROUND, exclude=("response",)),
    "samples": duckdb_columns(Sample, leading=ROUND),
    "verdicts": duckdb_columns(Verdict, leading=ROUND),
    "pool": duckdb_columns(Example, leading=ROUND, only=("example_id", "prompt_id", "domain", "origin_round", "score",
                                                         "source")),
    # Preference pairs (flywheel.stages.pairs): both samples' keys, scores and texts; the prompt's turns stay in Parquet.
    "pairs": duckdb_columns(PreferencePair, leading=ROUND, exclude=("prompt",)),
    "pair_drops": {"round": "INTEGER", "prompt_id": "VARCHAR", "domain": "VARCHAR", "origin_round": "INTEGER",
                   "chosen_index": "INTEGER", "rejected_index": "INTEGER", "reason": "VARCHAR", "detail": "VARCHAR"},
    # Quality control (flywheel.stages.quality): one row per pool example per round, with its decision and reason.
    "quality": {"round": "INTEGER", "example_id": "VARCHAR", "prompt_id": "VARCHAR", "domain": "VARCHAR",
                "origin_round": "INTEGER", "topic": "INTEGER", "difficulty": "DOUBLE", "quality": "DOUBLE",
                "kept": "BOOLEAN", "reason": "VARCHAR", "similar_to": "VARCHAR", "similarity": "DOUBLE",
                "difficulty_source": "VARCHAR", "intent_tags": "VARCHAR[]"},
    "prompt_difficulty": arrow_duckdb_columns(DIFFICULTY_SCHEMA, leading=ROUND),
    "decontamination_hits": {"round": "INTEGER", "benchmark": "VARCHAR", "instance_id": "VARCHAR",
                             "overlap": "DOUBLE", "n_shared_ngrams": "INTEGER", "example_ngram": "VARCHAR",
                             "example_id": "VARCHAR", "train_source": "VARCHAR", "train_mix_source": "VARCHAR"},
    "dedup_drops": {"round": "INTEGER", "example_id": "VARCHAR", "mix_source": "VARCHAR", "kind": "VARCHAR",
                    "duplicate_of": "VARCHAR", "duplicate_round": "INTEGER", "similarity": "DOUBLE",
                    "reason": "VARCHAR"},
    "mixture": {"round": "INTEGER", "source": "VARCHAR", "kind": "VARCHAR", "domain": "VARCHAR",
                "weight": "DOUBLE", "epochs": "INTEGER", "n_available": "INTEGER", "n_requested": "INTEGER",
                "n_taken": "INTEGER", "shortfall": "INTEGER"},
    "mixture_topics": {"round": "INTEGER", "source": "VARCHAR", "topic": "INTEGER", "n_available": "INTEGER",
                       "n_taken": "INTEGER"},
    "training_steps": {"round": "INTEGER", "step": "INTEGER", "epoch": "INTEGER", "loss": "DOUBLE",
                       "learning_rate": "DOUBLE", "tokens": "BIGINT", "tokens_per_second": "DOUBLE"},
    # The DPO step's optimizer steps (flywheel.sft.dpo): the loss with its NLL term, the reward margin (beta times
    # the chosen minus the rejected log-ratio, averaged) and the share of pairs whose margin is positive.
    "dpo_steps": {"round": "INTEGER", "step": "INTEGER", "epoch": "INTEGER", "loss": "DOUBLE",
                  "reward_margin": "DOUBLE", "pair_accuracy": "DOUBLE", "learning_rate": "DOUBLE", "tokens": "BIGINT",
                  "tokens_per_second": "DOUBLE"},
    # Every evaluation sample and its verdicts, per split (heldout, train, base_model): the rows that
    # `evaluations` is computed from (docs/guides/sql-audit.md, "Recomputing the evaluation").
    "eval_samples": duckdb_columns(Sample, leading={**ROUND, "split": "VARCHAR", "domain": "VARCHAR"}),
    "eval_verdicts": duckdb_columns(Verdict, leading={**ROUND, "split": "VARCHAR"}),
    "accepted_samples": arrow_duckdb_columns(ACCEPTED_SCHEMA, leading=ROUND),
    # One row per judged sample: its domain's combined decision (verifiers.combine) and the verifiers
    # that passed it (passed_by) or failed, errored or gave no verdict (failed_by).
    "decisions": arrow_duckdb_columns(DECISION_SCHEMA, leading=ROUND),
    "evaluations": {"round": "INTEGER", "split": "VARCHAR", "domain": "VARCHAR", "n_prompts": "INTEGER",
                    "n_samples_per_prompt": "INTEGER", "pass_at_1": "DOUBLE", "pass_at_k": "DOUBLE",
                    "k": "INTEGER", "checkpoint": "VARCHAR"},
    "diversity": {"round": "INTEGER", "population": "VARCHAR", "n_texts": "INTEGER", "distinct_1": "DOUBLE",
                  "distinct_2": "DOUBLE", "distinct_3": "DOUBLE", "self_bleu": "DOUBLE", "gzip_ratio": "DOUBLE",
                  "embedding_vendi": "DOUBLE", "embedding_cosine_distance": "DOUBLE"},
    "stage_runs": {"round": "INTEGER", "stage": "VARCHAR", "started_at": "TIMESTAMP", "finished_at": "TIMESTAMP",
                   "seconds": "DOUBLE", "tokens": "BIGINT", "start_seconds": "DOUBLE", "work_seconds": "DOUBLE",
                   "stop_seconds": "DOUBLE", "runs": "INTEGER", "checkpoint": "VARCHAR"},
    "round_metrics": {"round": "INTEGER", "n_prompts": "INTEGER", "n_samples": "INTEGER", "n_accepted": "INTEGER",
                      "yield": "DOUBLE", "n_selected_pool": "INTEGER", "n_decontaminated_dropped": "INTEGER",
                      "n_deduplicated_dropped": "INTEGER", "n_train_examples": "INTEGER", "train_loss": "DOUBLE",
                      "eval_pass_at_1": "DOUBLE", "eval_pass_at_k": "DOUBLE", "train_pass_at_1": "DOUBLE",
                      "eval_general_pass_at_1": "DOUBLE",
                      "distinct_2": "DOUBLE", "diversity_metric": "VARCHAR", "diversity_value": "DOUBLE",
                      "verifier_errors": "INTEGER", "verifier_timeouts": "INTEGER", "timeout_rate": "DOUBLE",
                      "n_prompts_all_pass": "INTEGER", "n_prompts_none_pass": "INTEGER", "stop": "BOOLEAN",
                      "stop_reason": "VARCHAR", "judge_prompt_tokens": "BIGINT", "judge_completion_tokens": "BIGINT",
                      "judge_cost_usd": "DOUBLE", "warnings": "VARCHAR[]"},
}


# A sample is correct when it finished on its own and every verdict on it passed with status ok (the
# evaluation writes verdicts of the checking verifiers only); a domain with no checker has no verdicts and
# is not scored. pass@k is the unbiased estimator 1 - C(n-c, k)/C(n, k), through lgamma.
EVAL_RECOMPUTED_SQL = """
WITH per_sample AS (
    SELECT s.round, s.split, s.domain, s.prompt_id, s.sample_index,
           any_value(s.finish_reason) = 'stop' AND bool_and(v.passed AND v.status = 'ok') AS correct
    FROM eval_samples s JOIN eval_verdicts v USING (round, split, prompt_id, sample_index)
    GROUP BY s.round, s.split, s.domain, s.prompt_id, s.sample_index),
per_prompt AS (
    SELECT round, split, domain, prompt_id, count(*) AS n, count(*) FILTER (WHERE correct) AS c
    FROM per_sample GROUP BY ALL),
both_levels AS (
    SELECT round, split, domain, n, c FROM per_prompt
    UNION ALL
    SELECT round, split, 'all' AS domain, n, c FROM per_prompt)
SELECT b.round, b.split, b.domain, count(*) AS n_prompts, avg(b.c / b.n) AS pass_at_1,
       avg(CASE WHEN b.n - b.c < e.k THEN 1.0
                ELSE 1.0 - exp(lgamma(b.n - b.c + 1) - lgamma(b.n - b.c - e.k + 1) - lgamma(b.n + 1)
                               + lgamma(b.n - e.k + 1)) END) AS pass_at_k,
       e.k
FROM both_levels b JOIN evaluations e ON e.round = b.round AND e.split = b.split AND e.domain = b.domain
GROUP BY b.round, b.split, b.domain, e.k ORDER BY b.round, b.split, b.domain
"""

# Tables whose rows are the rounds' Parquet files (see the module docstring).
PARQUET_TABLES = ("samples", "verdicts", "pool", "pairs", "eval_samples", "eval_verdicts")
PARQUET_FILES_DDL = "CREATE TABLE IF NOT EXISTS parquet_files (table_name VARCHAR, round INTEGER, path VARCHAR)"
PARQUET_BASE_DDL = "CREATE TABLE IF NOT EXISTS parquet_base (path VARCHAR)"


def sql_string(text: str | Path) -> str:
    """A SQL string literal of ``text`` (a file path, say), quotes doubled."""
    return "'" + str(text).replace("'", "''") + "'"


def parquet_view_sql(table: str, files: list[tuple[int, str]]) -> str:
    """The view of a Parquet-backed table: the legacy rows of rounds without a file, then one SELECT per
    round's file, each column cast to its documented type and the round a literal."""
    columns = TABLES[table]
    names = ", ".join(f'"{c}"' for c in columns)
    rounds = ", ".join(str(r) for r, _ in files) or "NULL"
    parts = [f"SELECT {names} FROM legacy_{table} WHERE round NOT IN ({rounds})"]
    for round_number, path in files:
        projected = ", ".join(f'{round_number}::INTEGER AS "round"' if c == "round" else f'"{c}"::{kind} AS "{c}"'
                              for c, kind in columns.items())
        parts.append(f"SELECT {projected} FROM read_parquet({sql_string(path)})")
    return "\nUNION ALL ".join(parts)


VIEWS: dict[str, str] = {
    # What decontamination dropped, per round, benchmark and training source.
    "decontamination_summary": "SELECT round, benchmark, train_mix_source, count(DISTINCT example_id) AS examples_dropped, "
                               "count(DISTINCT instance_id) AS instances_hit, count(*) AS hits, "
                               "round(max(overlap), 3) AS max_overlap FROM decontamination_hits GROUP BY ALL",
    # Accepted / generated samples per round and domain.
    "yield_by_domain": "SELECT s.round, p.domain, count(*) AS n_samples, count(a.prompt_id) AS n_accepted, "
                       "count(a.prompt_id) / count(*) AS yield FROM samples s "
                       "JOIN prompts p ON p.round = s.round AND p.id = s.prompt_id "
                       "LEFT JOIN accepted_samples a ON a.round = s.round AND a.prompt_id = s.prompt_id "
                       "AND a.sample_index = s.sample_index GROUP BY ALL ORDER BY s.round, p.domain",
    # Pass rate, errors and timeouts per round, verifier and domain.
    "yield_by_verifier": "SELECT v.round, v.verifier, p.domain, count(*) AS n_verdicts, "
                         "count(*) FILTER (WHERE v.passed) AS n_passed, avg(v.passed::INTEGER) AS pass_rate, "
                         "count(*) FILTER (WHERE v.status = 'error') AS n_errors, "
                         "count(*) FILTER (WHERE v.status = 'timeout') AS n_timeouts, "
                         "sum(v.cost_seconds) AS verifier_seconds FROM verdicts v "
                         "JOIN prompts p ON p.round = v.round AND p.id = v.prompt_id GROUP BY ALL "
                         "ORDER BY v.round, v.verifier, p.domain",
    "verifier_errors": "SELECT round, verifier, status, count(*) AS n, any_value(reason) AS example_reason "
                       "FROM verdicts WHERE status <> 'ok' GROUP BY ALL ORDER BY round, verifier",
    # Held-out pass@1 and pass@k per round and domain (round 0 is the starting model).
    "eval_by_domain": "SELECT round, domain, n_prompts, n_samples_per_prompt, pass_at_1, pass_at_k, k, "
                      "pass_at_1 - lag(pass_at_1) OVER (PARTITION BY domain ORDER BY round) AS pass_at_1_change "
                      "FROM evaluations WHERE split = 'heldout' ORDER BY round, domain",
    "train_test_gap": "SELECT h.round, h.domain, t.pass_at_1 AS train_pass_at_1, h.pass_at_1 AS heldout_pass_at_1, "
                      "t.pass_at_1 - h.pass_at_1 AS gap FROM evaluations h JOIN evaluations t "
                      "ON t.round = h.round AND t.domain = h.domain AND t.split = 'train' "
                      "WHERE h.split = 'heldout' ORDER BY h.round, h.domain",
    "diversity_trend": "SELECT round, population, n_texts, distinct_1, distinct_2, distinct_3, self_bleu, gzip_ratio, "
                       "embedding_vendi, embedding_cosine_distance, distinct_2 / lag(distinct_2) OVER "
                       "(PARTITION BY population ORDER BY round) AS distinct_2_vs_previous FROM diversity "
                       "ORDER BY population, round",
    # pass@1 and pass@k recomputed from the per-sample evaluation rows, with the k that `evaluations` used.
    "eval_recomputed": EVAL_RECOMPUTED_SQL,
    # Tokens and wall time per round and stage.
    # A round's state, derived from its stages' runs (one record of what ran): a round is listed once it generated,
    # and finished once its metrics are written; the checkpoints are what generate read and what SFT wrote.
    "rounds": "SELECT round, CASE WHEN bool_or(stage = 'round_metrics') THEN 'finished' ELSE 'generated' END AS status, "
              "any_value(checkpoint) FILTER (WHERE stage = 'generate') AS generation_checkpoint, "
              "any_value(checkpoint) FILTER (WHERE stage = 'sft') AS checkpoint, "
              "min(started_at) FILTER (WHERE stage = 'generate') AS started_at, "
              "max(finished_at) FILTER (WHERE stage = 'round_metrics') AS finished_at "
              "FROM stage_runs GROUP BY round HAVING bool_or(stage = 'generate') ORDER BY round",
    "stage_costs": "SELECT round, stage, seconds, start_seconds, work_seconds, stop_seconds, tokens, "
                   "tokens / nullif(seconds, 0) AS tokens_per_second FROM stage_runs ORDER BY round, started_at",
}


class Store:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.lock_path = self.path.with_suffix(self.path.suffix + ".lock")

    @property
    def base(self) -> Path:
        """The folder that relative Parquet paths are relative to: the database's own."""
        return self.path.parent.resolve()

    @contextmanager
    def _locked_connection(self, read_only: bool, timeout: float) -> Iterator[duckdb.DuckDBPyConnection]:
        """Our file lock (shared for readers, exclusive for writers), then a DuckDB connection.

        A writer that finds the file held by an outside session (an auditor's duckdb CLI) lets go
        of our lock between attempts, so our own readers never queue behind a writer that waits.
        """
        mode = fcntl.LOCK_SH if read_only else fcntl.LOCK_EX
        deadline = time.monotonic() + timeout
        with self.lock_path.open("a") as lock:
            while True:
                self._flock(lock, mode, deadline, timeout)
                try:
                    connection = duckdb.connect(str(self.path), read_only=read_only)
                except duckdb.IOException as error:
                    fcntl.flock(lock, fcntl.LOCK_UN)
                    if "lock" not in str(error).lower():
                        raise
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{self.path}: held by another process for over {timeout:.0f}s "
                                           f"({str(error).splitlines()[0]})") from None
                    time.sleep(0.1)
                    continue
                try:
                    yield connection
                finally:
                    connection.close()
                    fcntl.flock(lock, fcntl.LOCK_UN)
                return

    def _flock(self, lock, mode: int, deadline: float, timeout: float) -> None:
        while True:
            try:
                fcntl.flock(lock, mode | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.lock_path}: a writer held the store for {timeout:.0f}s") from None
                time.sleep(0.05)

    @contextmanager
    def writer(self, timeout: float = 600.0) -> Iterator[duckdb.DuckDBPyConnection]:
        """An exclusive write connection, serialized across processes by a file lock."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked_connection(read_only=False, timeout=timeout) as connection:
            self._ensure_schema(connection)
            yield connection

    @contextmanager
    def reader(self, timeout: float = 600.0) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection that waits for a write in progress instead of failing."""
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path}: no flywheel database here yet; run a round first")
        for attempt in range(2):
            with self._locked_connection(read_only=True, timeout=timeout) as connection:
                present = self._present(connection, ("selections", "pool", "parquet_base"))
                if attempt == 1 or not ("selections" in present and "pool" not in present):  # else: from before the pool
                    if self._moved(connection, present):
                        for table in PARQUET_TABLES:
                            self._define_parquet_view(connection, table, temporary=True)
                    yield connection
                    return
            self._upgrade_through_writer(timeout)  # once, by the writer; then read again

    def bring_up_to_date(self, timeout: float = 600.0) -> None:
        """Migrate a store (and the round files it names) made by an older flywheel, if it is one: what reads a
        workdir's files without a query (``flywheel export``) calls this first."""
        with self.reader(timeout):
            pass

    def _upgrade_through_writer(self, timeout: float) -> None:
        try:
            with self.writer(timeout):
                pass
        except (OSError, duckdb.Error) as error:
            raise RuntimeError(f"{self.path}: this store is from an older flywheel (its pool is still called "
                               f"'selections') and could not be brought up to date here ({error}); open it once "
                               f"where it is writable, with any flywheel command, or read it with the flywheel it "
                               f"was made with") from error

    def snapshot(self, destination: Path) -> Path:
        """A consistent copy of the database for long audits: it never blocks a round's writes. The
        Parquet-backed views become tables in the copy, so a round rerun later does not change it."""
        destination = Path(destination)
        with self.reader():  # the shared lock keeps writers out while the file is copied
            shutil.copyfile(self.path, destination)
            copy = duckdb.connect(str(destination))
            try:
                for table in PARQUET_TABLES:
                    self._define_parquet_view(copy, table)  # the files as seen from this store's folder
                    copy.execute(f"CREATE TABLE {table}_rows AS SELECT * FROM {table}")
                    copy.execute(f"DROP VIEW {table}")
                    copy.execute(f"ALTER TABLE {table}_rows RENAME TO {table}")
                copy.execute("DELETE FROM parquet_files")
            finally:
                copy.close()
        return destination

    @staticmethod
    def _derive_rounds(connection: duckdb.DuckDBPyConnection) -> None:
        """A store from before ``rounds`` was derived from ``stage_runs``: the checkpoints it recorded move to
        their stages' rows, and the old table is kept as ``legacy_rounds``, for the view to take its name."""
        for stage, column in (("generate", "generation_checkpoint"), ("sft", "checkpoint")):
            connection.execute(f"UPDATE stage_runs SET checkpoint = r.{column} FROM rounds r "
                               f"WHERE stage_runs.round = r.round AND stage_runs.stage = '{stage}' "
                               f"AND stage_runs.checkpoint IS NULL")
        connection.execute("ALTER TABLE rounds RENAME TO legacy_rounds")

    def _name_the_pool(self, connection: duckdb.DuckDBPyConnection, kinds: dict[str, str]) -> None:
        """A store from before the pool was called the pool: its ``selections`` become ``pool``, and each round's
        ``selected.parquet`` it recorded becomes ``pool.parquet`` beside it (the name select writes now), so an
        older workdir reads, audits and exports as it did. ``kinds`` is brought up to date."""
        for round_number, path in connection.execute(
                "SELECT round, path FROM parquet_files WHERE table_name = 'selections'").fetchall():
            old = Path(path)
            new = old.with_name("pool.parquet") if old.name == "selected.parquet" else old
            located_old, located_new = self.base / old, self.base / new  # an absolute path stays
            if new != old and located_old.exists() and not located_new.exists():
                os.replace(located_old, located_new)
            connection.execute("UPDATE parquet_files SET table_name = 'pool', path = ? "
                               "WHERE table_name = 'selections' AND round = ?", [str(new), round_number])
        if kinds.pop("selections") == "VIEW":
            connection.execute("DROP VIEW selections")
        else:  # older still: a table of rows, kept as the legacy rows of the view
            connection.execute("ALTER TABLE selections RENAME TO legacy_pool")
            kinds["legacy_pool"] = "BASE TABLE"
        if kinds.pop("legacy_selections", None):
            connection.execute("ALTER TABLE legacy_selections RENAME TO legacy_pool")
            kinds["legacy_pool"] = "BASE TABLE"

    @staticmethod
    def _present(connection: duckdb.DuckDBPyConnection, names: tuple[str, ...]) -> set[str]:
        """Which of ``names`` the store has, as tables or views: one catalogue query for a reader's checks."""
        return {name for (name,) in connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' AND table_name IN "
            f"({', '.join('?' * len(names))})", list(names)).fetchall()}

    def _moved(self, connection: duckdb.DuckDBPyConnection, present: set[str] | None = None) -> bool:
        """Whether the views were made for another folder than the one the database is in now (``present``: what
        ``_present`` found of parquet_base, when the caller asked already)."""
        if "parquet_base" not in (present if present is not None else self._present(connection, ("parquet_base",))):
            return False  # a store older than relative paths: its paths are absolute
        made_for = connection.execute("SELECT path FROM parquet_base").fetchone()
        return made_for is not None and made_for[0] != str(self.base)

    def _ensure_schema(self, connection: duckdb.DuckDBPyConnection) -> None:
        kinds = dict(connection.execute("SELECT table_name, table_type FROM information_schema.tables "
                                        "WHERE table_schema = 'main'").fetchall())
        existing: dict[str, set[str]] = {}
        for table, column in connection.execute("SELECT table_name, column_name FROM information_schema.columns "
                                                "WHERE table_schema = 'main'").fetchall():
            existing.setdefault(table, set()).add(column)
        connection.execute(PARQUET_FILES_DDL)
        connection.execute(PARQUET_BASE_DDL)
        if "selections" in kinds and "pool" not in kinds:
            self._name_the_pool(connection, kinds)
        moved = self._moved(connection)
        for name, columns in TABLES.items():
            ddl = ", ".join(f"{column} {kind}" for column, kind in columns.items())
            if name not in PARQUET_TABLES:
                connection.execute(f"CREATE TABLE IF NOT EXISTS {name} ({ddl})")
                if name in kinds:  # a store made before a column was added gets it, empty
                    for column in sorted(columns.keys() - existing.get(name, set())):
                        connection.execute(f"ALTER TABLE {name} ADD COLUMN {column} {columns[column]}")
                continue
            if kinds.get(name) == "BASE TABLE":  # a store from before the views: its rows are kept
                connection.execute(f"ALTER TABLE {name} RENAME TO legacy_{name}")
            connection.execute(f"CREATE TABLE IF NOT EXISTS legacy_{name} ({ddl})")
            if kinds.get(name) != "VIEW" or moved:
                self._define_parquet_view(connection, name)
        if kinds.get("rounds") == "BASE TABLE":
            self._derive_rounds(connection)
        for name, query in VIEWS.items():
            connection.execute(f"CREATE OR REPLACE VIEW {name} AS {query}")
        if moved or not connection.execute("SELECT count(*) FROM parquet_base").fetchone()[0]:
            connection.execute("DELETE FROM parquet_base")
            connection.execute("INSERT INTO parquet_base VALUES (?)", [str(self.base)])

    def _define_parquet_view(self, connection: duckdb.DuckDBPyConnection, table: str, temporary: bool = False) -> None:
        files = connection.execute("SELECT round, path FROM parquet_files WHERE table_name = ? ORDER BY round",
                                   [table]).fetchall()
        located = [(round_number, str(self.base / path)) for round_number, path in files]  # an absolute path stays
        kind = "TEMPORARY VIEW" if temporary else "VIEW"
        connection.execute(f"CREATE OR REPLACE {kind} {table} AS {parquet_view_sql(table, located)}")

    def attach_parquet(self, table: str, round_number: int, path: Path) -> int:
        """Make the round's Parquet file the rows of ``table`` for that round, replacing what was there.
        Returns the file's row count."""
        if table not in PARQUET_TABLES:
            raise KeyError(f"{table!r} is not a Parquet-backed table (those are {sorted(PARQUET_TABLES)})")
        path = Path(path).resolve()
        rows = pq.read_metadata(path).num_rows  # also: the file exists and is Parquet, before the view names it
        recorded = path.relative_to(self.base) if path.is_relative_to(self.base) else path
        with self.writer() as connection:
            connection.execute("BEGIN TRANSACTION")
            try:
                connection.execute("DELETE FROM parquet_files WHERE table_name = ? AND round = ?", [table, round_number])
                connection.execute("INSERT INTO parquet_files VALUES (?, ?, ?)", [table, round_number, str(recorded)])
                self._define_parquet_view(connection, table)
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        return rows

    def replace_round(self, table: str, round_number: int, rows: list[dict] | pa.Table,
                      where: dict | None = None) -> int:
        """Replace ``table``'s rows for one round (only those matching ``where``'s column=value
        pairs, when given), in one transaction. Returns the row count."""
        if table not in TABLES:
            raise KeyError(f"unknown table {table!r}")
        if table in PARQUET_TABLES:
            raise KeyError(f"{table!r} is a view over the rounds' Parquet files: write the file, then attach_parquet")
        columns = list(TABLES[table])
        if isinstance(rows, pa.Table):  # an Arrow table's round, when it has one, is set to this round too
            arrow = rows.drop_columns([c for c in ("round",) if c in rows.column_names])
            arrow = arrow.append_column("round", pa.array([round_number] * arrow.num_rows, type=pa.int32()))
        else:
            arrow = pa.Table.from_pylist(
                [{**{c: r.get(c) for c in columns}, "round": round_number} for r in rows]) if rows else None
        where = where or {}
        clauses = "".join(f" AND {column} = ?" for column in where)
        with self.writer() as connection:
            connection.execute("BEGIN TRANSACTION")
            try:
                connection.execute(f"DELETE FROM {table} WHERE round = ?{clauses}", [round_number, *where.values()])
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
        with self.reader() as connection:
            result = connection.execute(sql, params or [])
            names = [d[0] for d in result.description] if result.description else []
            return names, result.fetchall()
