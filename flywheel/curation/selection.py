"""select over a round of any size: the prompts in chunks, each with its samples, verdicts and earlier pool.

The choice per prompt is :func:`flywheel.curation.policies.judge_samples` and
:func:`flywheel.curation.policies.select_best_per_prompt`, unchanged. This module feeds them one chunk of
prompts at a time, so memory follows the chunk and not the round. DuckDB reads the three inputs
from Parquet ordered by the prompt's position in ``prompts.parquet`` (spilling to disk past its
memory limit) and a merge walk cuts all three at the same prompt. Rows come out as one pass over
the whole round writes them: the pool sorted by prompt id, difficulty and acceptances in prompt order.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from flywheel.records.files import atomic_path, require_stage_output
from flywheel.parallel import ordered_map
from flywheel.records.schema import (
    ACCEPTED_SCHEMA,
    DECISION_SCHEMA,
    DIFFICULTY_SCHEMA,
    EXAMPLE_SCHEMA,
    table_to_prompts,
    table_to_samples,
    table_to_verdicts,
)
from flywheel.curation.policies import Policy, judge_samples, select_best_per_prompt, top_quantile_cut
from flywheel.store.database import sql_string

CHUNK_SAMPLES = 8192  # samples per chunk of prompts (whole prompts: a chunk may hold a few more)
READ_ROWS = 4096  # rows per Arrow batch read from DuckDB
DUCKDB_MEMORY_LIMIT = "512MB"  # past this DuckDB's sorts spill to the scratch folder (1GB peaked at 1.57 GB at 1M)
SCHEMAS = {"difficulty": DIFFICULTY_SCHEMA, "accepted": ACCEPTED_SCHEMA, "decisions": DECISION_SCHEMA}


@dataclass
class RoundSelection:
    """What select made of a round, besides the pool it wrote: counts and the two audit tables."""

    n_samples: int = 0
    n_accepted: int = 0
    n_selected: int = 0
    pool_by_round: Counter = field(default_factory=Counter)
    status: Counter = field(default_factory=Counter)
    difficulty: list[pa.Table] = field(default_factory=list)
    accepted: list[pa.Table] = field(default_factory=list)
    decisions: list[pa.Table] = field(default_factory=list)
    cuts: dict[str, float] = field(default_factory=dict)

    def table(self, name: str) -> pa.Table:
        return pa.concat_tables(getattr(self, name)) if getattr(self, name) else SCHEMAS[name].empty_table()


class _PositionStream:
    """Rows ordered by ``position``, handed out up to a position at a time."""

    def __init__(self, reader: pa.RecordBatchReader | None, schema: pa.Schema | None = None):
        self.reader, self.buffer = reader, None
        self.schema = schema or (reader.schema if reader is not None else None)

    def _pull(self) -> bool:
        if self.reader is None:
            return False
        try:
            batch = self.reader.read_next_batch()
        except StopIteration:
            self.reader = None
            return False
        table = pa.Table.from_batches([batch])
        self.buffer = table if self.buffer is None else pa.concat_tables([self.buffer, table])
        return True

    def rows_ahead(self, count: int) -> int | None:
        """The position of the ``count``-th row ahead, or None when fewer rows remain."""
        while self.buffer is None or self.buffer.num_rows < count:
            if not self._pull():
                return None
        return self.buffer.column("position")[count - 1].as_py()

    def through(self, position: int) -> pa.Table:
        """Every remaining row at or before ``position`` (the stream is sorted by it)."""
        while (self.buffer is None or self.buffer.num_rows == 0
               or self.buffer.column("position")[-1].as_py() <= position):
            if not self._pull():
                break
        if self.buffer is None:
            return self.schema.empty_table() if self.schema is not None else pa.table({})
        count = pc.sum(pc.less_equal(self.buffer.column("position"), position)).as_py() or 0
        taken, self.buffer = self.buffer.slice(0, count), self.buffer.slice(count)
        return taken


def _stream(connection: duckdb.DuckDBPyConnection, sql: str) -> _PositionStream:
    return _PositionStream(connection.sql(sql).to_arrow_reader(READ_ROWS))


def select_round(prompts_path: Path, samples_path: Path, verdicts_path: Path, previous_pool: Path | None,
                 out: Path, verifiers_by_domain: dict[str, list[str]], policy: Policy, *, k: int,
                 near_threshold: float | None, scratch: Path, chunk_samples: int = CHUNK_SAMPLES,
                 processes: int = 1) -> RoundSelection:
    """Judge the round's samples, choose up to k per prompt pooled with ``previous_pool`` (the earlier
    round's pool file, or None), write the pool to ``out`` sorted by prompt id, and return the rest.
    ``scratch`` is a folder of this call's own (DuckDB's spill files, the unsorted pool), removed after.
    ``processes`` choose chunks side by side; what is written is the same row for row."""
    for path in (prompts_path, samples_path, verdicts_path, previous_pool):
        if path is not None:
            require_stage_output(path)
    prompts = pq.read_table(prompts_path)
    n_prompts = prompts.num_rows
    scratch.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(config={"memory_limit": DUCKDB_MEMORY_LIMIT, "temp_directory": str(scratch)})
    try:
        # A plain table, not TEMP: the cursors below are connections of their own to this database.
        position = (f"CREATE TABLE positions AS SELECT id AS prompt_id, file_row_number AS position "
                    f"FROM read_parquet({sql_string(prompts_path)}, file_row_number = true)")
        connection.execute(position)
        policy = _with_round_cuts(connection, prompts_path, verdicts_path, verifiers_by_domain, policy)
        samples = _stream(connection.cursor(), f"SELECT s.*, p.position FROM read_parquet({sql_string(samples_path)}) "
                          "s JOIN positions p USING (prompt_id) ORDER BY p.position, s.sample_index")
        verdicts = _stream(connection.cursor(), "SELECT v.*, p.position FROM "
                           f"read_parquet({sql_string(verdicts_path)}) v JOIN positions p USING (prompt_id) "
                           "ORDER BY p.position, v.sample_index, v.verifier")
        # The earlier pool's rows of prompts that this round did not collect come last (position n_prompts).
        pool = _PositionStream(None, EXAMPLE_SCHEMA.append(pa.field("position", pa.int64()))) \
            if previous_pool is None else _stream(
                connection.cursor(), f"SELECT e.*, coalesce(p.position, {n_prompts}) AS position "
                f"FROM read_parquet({sql_string(previous_pool)}) e LEFT JOIN positions p USING (prompt_id) "
                "ORDER BY position, e.prompt_id, e.example_id")
        result = RoundSelection(cuts=dict(policy.cuts))
        unsorted = scratch / "pool.unsorted.parquet"

        def chunks() -> Iterator[tuple[pa.Table, ...]]:
            done = -1
            while done < n_prompts:
                cut = samples.rows_ahead(chunk_samples)
                cut = n_prompts if cut is None else cut
                yield (prompts.slice(done + 1, max(0, min(cut, n_prompts - 1) - done)), samples.through(cut),
                       verdicts.through(cut), pool.through(cut))
                done = cut

        settings = _ChooseSettings(verifiers_by_domain, policy, k, near_threshold)
        if pq.read_metadata(samples_path).num_rows <= chunk_samples:
            processes = 1  # one chunk: nothing to do side by side, no process to start
        with pq.ParquetWriter(unsorted, EXAMPLE_SCHEMA.append(pa.field("seq", pa.int64()))) as writer:
            for chunk in ordered_map(_choose_chunk, chunks(), processes, settings):
                _merge_chunk(chunk, result, writer)
        n_in_file = pq.read_metadata(samples_path).num_rows
        if result.n_samples != n_in_file:  # the join above leaves out samples of prompts never collected
            stray = connection.sql(f"SELECT DISTINCT prompt_id FROM read_parquet({sql_string(samples_path)}) "
                                   "ANTI JOIN positions USING (prompt_id) ORDER BY 1 LIMIT 5").fetchall()
            raise ValueError(f"{samples_path}: samples refer to prompts that were not collected: "
                             f"{[row[0] for row in stray]}")
        _write_sorted(connection, unsorted, out)
    finally:
        connection.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return result


def _with_round_cuts(connection: duckdb.DuckDBPyConnection, prompts_path: Path, verdicts_path: Path,
                     verifiers_by_domain: dict[str, list[str]], policy: Policy) -> Policy:
    """The policy with each weighted top-quantile domain's cut over the whole round's combined scores (a
    sample with an errored verifier has none), so chunks decide as one pass would."""
    cuts = {}
    for domain, rule in policy.combine.items():
        names = verifiers_by_domain.get(domain, [])
        if rule.rule != "weighted" or rule.top_quantile is None or not names:
            continue
        connection.register("weights", pa.table({"verifier": names, "weight": [rule.weight(n) for n in names]}))
        scores = connection.execute(
            f"SELECT sum(w.weight * v.score) FROM read_parquet({sql_string(verdicts_path)}) v "
            f"JOIN read_parquet({sql_string(prompts_path)}) p ON p.id = v.prompt_id JOIN weights w USING (verifier) "
            "WHERE p.domain = ? GROUP BY v.prompt_id, v.sample_index "
            "HAVING count(*) FILTER (WHERE v.status = 'ok') = ?", [domain, len(names)]).fetchall()
        connection.unregister("weights")
        cuts[domain] = top_quantile_cut([score for (score,) in scores], rule.top_quantile)
    return replace(policy, cuts=cuts) if cuts else policy


@dataclass
class _ChosenChunk:
    """What one chunk of prompts gave: its pool rows in rank order, and its audit rows."""

    selected: list[dict]
    n_samples: int
    n_accepted: int
    difficulty: pa.Table
    decisions: pa.Table
    accepted: pa.Table


@dataclass(frozen=True)
class _ChooseSettings:
    """What every chunk is chosen with: sent to each worker once (ordered_map's state)."""

    verifiers_by_domain: dict[str, list[str]]
    policy: Policy
    k: int
    near_threshold: float | None


def _choose_chunk(settings: _ChooseSettings, prompts: pa.Table, samples: pa.Table, verdicts: pa.Table,
                  pool: pa.Table) -> _ChosenChunk:
    """Judge and choose one chunk of prompts: it depends on nothing outside the chunk, so chunks can be chosen in
    any process, in any order."""
    chunk_prompts = table_to_prompts(prompts)
    decisions: list[dict] = []
    accepted, difficulty = judge_samples(table_to_samples(samples.drop_columns(["position"])),
                                         table_to_verdicts(verdicts.drop_columns(["position"])), chunk_prompts,
                                         settings.verifiers_by_domain, settings.policy, decisions)
    selected = select_best_per_prompt(chunk_prompts, accepted, settings.k,
                                      pool.drop_columns(["position"]).to_pylist(),
                                      near_threshold=settings.near_threshold)
    domain_of = {p.id: p.domain for p in chunk_prompts}
    return _ChosenChunk(
        selected, samples.num_rows, len(accepted), pa.Table.from_pylist(difficulty, schema=DIFFICULTY_SCHEMA),
        pa.Table.from_pylist(decisions, schema=DECISION_SCHEMA),
        pa.Table.from_pylist([{"prompt_id": s.prompt_id, "sample_index": s.sample_index,
                               "domain": domain_of[s.prompt_id]} for s, _ in accepted], schema=ACCEPTED_SCHEMA))


def _merge_chunk(chunk: _ChosenChunk, result: RoundSelection, writer: pq.ParquetWriter) -> None:
    """Add a chunk to the round's result, in the chunks' order (the pool's ``seq`` numbers follow it)."""
    if chunk.selected:
        seq = range(result.n_selected, result.n_selected + len(chunk.selected))
        writer.write_table(pa.Table.from_pylist([{**row, "seq": i} for row, i in zip(chunk.selected, seq)],
                                                schema=writer.schema))
    result.n_samples += chunk.n_samples
    result.n_accepted += chunk.n_accepted
    result.n_selected += len(chunk.selected)
    result.pool_by_round.update(str(row["origin_round"]) for row in chunk.selected)
    result.status.update(chunk.difficulty.column("status").to_pylist())
    result.difficulty.append(chunk.difficulty)
    result.decisions.append(chunk.decisions)
    result.accepted.append(chunk.accepted)


def _write_sorted(connection: duckdb.DuckDBPyConnection, unsorted: Path, out: Path) -> None:
    """The pool in prompt-id order (each prompt's rows in rank order), streamed into ``out`` atomically."""
    columns = ", ".join(f'"{name}"' for name in EXAMPLE_SCHEMA.names)
    reader = connection.sql(f"SELECT {columns} FROM read_parquet({sql_string(unsorted)}) "
                            "ORDER BY prompt_id, seq").to_arrow_reader(READ_ROWS)
    with atomic_path(out) as temporary, pq.ParquetWriter(temporary, EXAMPLE_SCHEMA) as writer:
        for batch in reader:
            writer.write_table(pa.Table.from_batches([batch]).cast(EXAMPLE_SCHEMA))


