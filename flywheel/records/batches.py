"""Rows between stages, a batch at a time: one writer and the readers the streaming stages share.

A stage that streams holds one batch of Python rows at a time, and at most its input as Arrow
columns (a few times smaller than the same rows as dicts): decontaminate reads its candidates
in dedup order, mix draws on the keys alone and then copies the drawn rows column-wise.
"""

from __future__ import annotations

import heapq
import shutil
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from itertools import islice
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from flywheel.records.files import atomic_path, read_parquet, require_stage_output

BATCH_ROWS = 4096  # rows per batch: enough to amortise the per-batch work, small beside a round


class RecordWriter:
    """A Parquet file of ``schema`` written batch by batch, in place only when the block ends without error
    (readers see the old file or the new one). ``rows`` counts what was written."""

    def __init__(self, path: Path, schema: pa.Schema):
        self.path, self.schema, self.rows = Path(path), schema, 0
        self._stack = ExitStack()

    def __enter__(self) -> RecordWriter:
        temporary = self._stack.enter_context(atomic_path(self.path))
        self._writer = self._stack.enter_context(pq.ParquetWriter(temporary, self.schema))
        return self

    def __exit__(self, *failure) -> bool:
        return self._stack.__exit__(*failure)

    def write(self, rows: list[dict]) -> None:
        if rows:
            self.write_table(pa.Table.from_pylist(rows, schema=self.schema))

    def write_table(self, table: pa.Table) -> None:
        if table.num_rows:
            self._writer.write_table(table.cast(self.schema))
            self.rows += table.num_rows


def batches(items: Sequence, batch_rows: int | None = None) -> Iterator[Sequence]:
    """``items`` in consecutive slices of ``batch_rows`` (default ``BATCH_ROWS``)."""
    size = batch_rows or BATCH_ROWS
    for start in range(0, len(items), size):
        yield items[start:start + size]


def row_batches(path: Path, columns: list[str] | None = None, batch_rows: int | None = None) -> Iterator[list[dict]]:
    """The file's rows as dicts, in file order, one batch at a time."""
    for batch in pq.ParquetFile(require_stage_output(path)).iter_batches(batch_size=batch_rows or BATCH_ROWS,
                                                                         columns=columns):
        yield batch.to_pylist()


def iter_rows(path: Path, columns: list[str] | None = None, batch_rows: int | None = None) -> Iterator[dict]:
    """The file's rows as dicts, one at a time (read ``batch_rows`` at a time)."""
    for batch in row_batches(path, columns, batch_rows):
        yield from batch


def taken_batches(table: pa.Table, order: Sequence[int], batch_rows: int | None = None) -> Iterator[pa.Table]:
    """``table``'s rows at the positions of ``order`` (repeats allowed), as tables of up to ``batch_rows`` rows."""
    for positions in batches(order, batch_rows):
        yield table.take(pa.array(positions, type=pa.int64()))


SORT_RUN_ROWS = 32768  # rows sorted in memory at a time; a bigger file is merged from sorted runs on disk
_MERGE_READ_ROWS = 1024  # rows each sorted run hands the merge at a time


def sorted_row_batches(path: Path, keys: list[str], schema: pa.Schema | None = None,
                       batch_rows: int | None = None, run_rows: int | None = None) -> Iterator[list[dict]]:
    """The file's rows as dicts, ordered by ``keys`` (ascending, nulls last; a stable sort, so ties keep file
    order). A file over ``run_rows`` rows is sorted outside memory: each run of ``run_rows`` rows is sorted and
    written to a scratch folder beside the file, and the runs are merged a few rows of each at a time, so the
    whole file is never in memory (the pool of a 1M-sample round, read in dedup order, held 330 MB here)."""
    path, run_rows = Path(path), run_rows or SORT_RUN_ROWS
    if pq.ParquetFile(require_stage_output(path)).metadata.num_rows <= run_rows:
        table = read_parquet(path, schema)
        yield from (batch.to_pylist() for batch in taken_batches(table, _sort_order(table, keys), batch_rows))
        return
    scratch = path.parent / f".{path.name}.sort"  # one name: a run killed mid-sort leaves what the next removes
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    try:
        runs = []
        for number, batch in enumerate(pq.ParquetFile(path).iter_batches(batch_size=run_rows)):
            table = pa.Table.from_batches([batch])
            table = table.cast(schema) if schema is not None else table
            runs.append(scratch / f"{number:06d}.parquet")
            pq.write_table(table.take(pa.array(_sort_order(table, keys), type=pa.int64())), runs[-1],
                           row_group_size=_MERGE_READ_ROWS)
            del table, batch
        # heapq.merge takes equal keys from the earlier run first, and each run is in file order: stable overall
        merged = heapq.merge(*(iter_rows(run, batch_rows=_MERGE_READ_ROWS) for run in runs), key=lambda row: tuple(
            (row[key] is None, row[key]) for key in keys))
        while batch_of_rows := list(islice(merged, batch_rows or BATCH_ROWS)):
            yield batch_of_rows
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _sort_order(table: pa.Table, keys: list[str]) -> list[int]:
    return pc.sort_indices(table, sort_keys=[(key, "ascending") for key in keys]).to_pylist()  # nulls at the end
