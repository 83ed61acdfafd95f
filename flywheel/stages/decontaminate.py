"""decontaminate: the training candidates with eval-set overlaps and duplicates removed, streamed."""

from __future__ import annotations

import dataclasses
from collections import Counter, deque
from collections.abc import Iterator
import pyarrow.parquet as pq
from flywheel.round import views
from flywheel.config import RoundConfig
from flywheel.curation.decontamination import build_index, decontaminate, hits_summary
from flywheel.curation.dedup import Deduplicator, prepare_rows
from flywheel.round.layout import RoundPaths
from flywheel.curation.mixing import file_source_examples
from flywheel.parallel import default_processes, ordered_map
from flywheel.records.batches import BATCH_ROWS, RecordWriter, batches, iter_rows, row_batches, sorted_row_batches
from flywheel.records.schema import (
    EXAMPLE_SCHEMA,
)
from flywheel.round.registry import Check, Input, seed_round_only
from flywheel.round.runs import stage
from flywheel.store.database import Store


def eval_index(config: RoundConfig):
    d = config.decontamination
    return build_index([(e.name, e.path, e.fields) for e in d.eval_sets], d.n, cache_dir=config.workdir / "cache")


def _no_overlap_left(config: RoundConfig, round_number: int, store: Store, result: dict) -> tuple[bool, dict]:
    left = remaining_contamination(config, round_number)
    return not left, {"remaining_hits": len(left)}


@stage("decontaminate", "decontaminated", "Training candidates with eval-set n-gram overlaps removed.",
       inputs=(Input("quality", when=lambda c, r: r > 0),), sections=("decontamination", "dedup", "mixture"),
       files=lambda c, r: [e.path for e in c.decontamination.eval_sets] + [m.path for m in c.mixture.sources if m.path],
       in_round_zero=seed_round_only, views=lambda c, r, db, result: {"top_hits": views.top_decontamination_hits(db, r)},
       checks=(Check("no_overlap_left", "An independent re-scan finds no contamination left.", _no_overlap_left),))
def decontaminate_round(config: RoundConfig, round_number: int, store: Store) -> dict:
    """Every training candidate (the pool after quality control, and each file source): eval overlap, then duplicates.
    Streamed: a batch of candidates at a time is scanned, deduplicated against what was kept, and written."""
    paths = RoundPaths(config.workdir, round_number)
    d, u = config.decontamination, config.dedup
    index = eval_index(config)
    dedup = None
    if u.enabled:
        dedup = Deduplicator(threshold=u.threshold, num_perm=u.num_perm, shingle_size=u.shingle_size, near=u.near)
        previous_file = RoundPaths(config.workdir, round_number - 1).decontaminated
        if round_number > 1 and previous_file.exists():  # dedup keeps only each earlier row's id and round
            for row in iter_rows(previous_file, ["example_id", "origin_round", "messages"]):
                dedup.remember(row)
    n_candidates, hits, drops = 0, [], []
    # The scan and the sketches depend on the row alone: workers do them, a batch each, and this process
    # deduplicates and writes in the batches' order, so the output is the same on any number of processes.
    processes = (default_processes(d.processes)
                 if round_number > 0 and pq.read_metadata(paths.curated).num_rows > BATCH_ROWS else 1)
    # In this process dedup keys and sketches a row only when it needs to (not a carried or an exact duplicate);
    # workers prepare every clean row, which costs them a little more and this process nothing.
    scan = _ScanSettings(index, d.rule, d.threshold, d.check_responses,
                         (u.shingle_size, u.num_perm, u.near) if dedup is not None and processes > 1 else None)
    in_flight: deque[list[dict]] = deque()  # the batches sent and not yet back: a worker returns positions

    def batches_in() -> Iterator[tuple[list[dict]]]:
        for batch in _candidate_batches(config, round_number, in_dedup_order=dedup is not None):
            in_flight.append(batch)
            yield (batch,)

    with RecordWriter(paths.decontaminated, EXAMPLE_SCHEMA) as writer:
        for positions, batch_hits, prepared in ordered_map(_scan_batch, batches_in(), processes, scan):
            batch = in_flight.popleft()
            n_candidates += len(batch)
            hits += batch_hits
            clean = [batch[position] for position in positions]
            writer.write(dedup.keep(clean, drops, prepared) if dedup is not None else clean)
    store.replace_round("decontamination_hits", round_number, hits)
    store.replace_round("dedup_drops", round_number, drops)
    return {"n_candidates": n_candidates, "n_kept": writer.rows,
            "n_dropped_contaminated": len({h["example_id"] for h in hits}), "n_dropped_duplicates": len(drops),
            "hits_per_benchmark": hits_summary(hits), "hits_per_source": hits_summary(hits, "train_mix_source"),
            "duplicates": dict(Counter(d["kind"] for d in drops))}


@dataclasses.dataclass(frozen=True)
class _ScanSettings:
    index: object  # flywheel.curation.decontamination.EvalIndex
    rule: str
    threshold: float
    check_responses: bool
    dedup: tuple[int, int, bool] | None  # (shingle size, permutations, near) when dedup follows here, else None


def _scan_batch(scan: _ScanSettings, batch: list[dict]) -> tuple[list[int], list[dict], list | None]:
    """(the clean rows' positions in the batch, the hits, the clean rows' dedup keys and sketches or None): one
    batch's work that depends on nothing else, in a worker process or this one. Positions, not rows, go back: the
    stage still holds the batch."""
    clean, hits = decontaminate(batch, scan.index, rule=scan.rule, threshold=scan.threshold,
                                check_responses=scan.check_responses)
    kept = {id(row) for row in clean}
    prepared = None
    if scan.dedup is not None:
        shingle_size, num_perm, near = scan.dedup
        prepared = prepare_rows(clean, shingle_size=shingle_size, num_perm=num_perm, near=near)
    return [position for position, row in enumerate(batch) if id(row) in kept], hits, prepared


def _candidate_batches(config: RoundConfig, round_number: int, *, in_dedup_order: bool) -> Iterator[list[dict]]:
    """The round's training candidates, a batch at a time. In dedup's order, earlier rounds first, so the first
    occurrence of a text stays and later copies go: the file sources (demonstrations) by example id, then the
    pool by (round, example id). Otherwise the pool in file order, then the file sources."""
    files = [row for source in config.mixture.sources if source.kind == "file" for row in file_source_examples(source)]
    if in_dedup_order:
        files.sort(key=lambda row: row["example_id"])
        yield from batches(files)
    # Round 0 (the seed round) has generated nothing: its candidates are the file sources alone.
    pool = RoundPaths(config.workdir, round_number).curated
    if round_number > 0:
        yield from (sorted_row_batches(pool, ["origin_round", "example_id"], EXAMPLE_SCHEMA) if in_dedup_order
                    else row_batches(pool))
    if not in_dedup_order:
        yield from batches(files)


def remaining_contamination(config: RoundConfig, round_number: int) -> list[dict]:
    """Independent re-scan of the decontaminated output; the asset check expects none."""
    d = config.decontamination
    index = eval_index(config)
    return [hit for batch in row_batches(RoundPaths(config.workdir, round_number).decontaminated)
            for hit in decontaminate(batch, index, rule=d.rule, threshold=d.threshold,
                                     check_responses=d.check_responses)[1]]
