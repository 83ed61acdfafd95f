"""Shards of a round's verification: split by prompt-id hash, each written as its own Parquet part.

``verify_shard`` judges the samples of one shard and writes
``rounds/<N>/verdicts.parts/part-<i>-of-<n>.parquet``; ``merge_verdicts`` joins the parts
into the stage's output in the order a single pass would have written it. Shards share
no state, so an engine can run them in parallel processes or pods (the Dagster graph in
dagster_project runs them with whichever executor the deployment uses) and retry a
failed one alone. Each part records the lineage key it was made under (samples, config
sections, code): a rerun reuses the parts that are still current and redoes the rest,
and a merge refuses a part made from other samples.

Within a shard, samples are judged in chunks of ``verifiers.chunk_size``, each under its own
timeout and written to ``part-<i>-of-<n>.chunks/chunk-<j>.parquet`` with its key as soon as it
is done: a shard killed at 90% redoes one chunk, not the shard, and a verifier that overruns on
one chunk marks that chunk's verdicts ``timeout`` and leaves the others alone. Samples stream
from Parquet a batch at a time, so memory follows the chunk, not the round.

A verifier whose pass rule is relative to its batch (the reward model's top quantile) may
define ``decide_over_round(scores) -> [(passed, reason)]``; the merge applies it to the whole
round's scores, so the verdicts do not depend on the number of shards.

A prompt's shard is a hash of its id, so all samples of a prompt are judged together
(a batch-relative verifier such as the reward model's top quantile sees them in one
batch) and the split does not depend on the order prompts were collected in.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from flywheel.config import RoundConfig
from flywheel.records.files import concat_parquet, read_parquet, require_stage_output, write_parquet_keyed, written_key
from flywheel.round.layout import RoundPaths
from flywheel.round.lineage import StaleInput, stage_key
from flywheel.records.schema import VERDICT_SCHEMA, table_to_prompts, table_to_samples, verdicts_to_table
from flywheel.round.runs import timed, verifiers_by_domain
from flywheel.verification.plugins import VerifierFailed, close_verifiers, discover, load_verifier, load_verifiers, verify_samples


SECONDS_FIELD = b"flywheel.seconds"  # a part's Parquet metadata: its shard's seconds, and its start and stop parts


def part_seconds(path: Path) -> dict[str, float]:
    """The seconds a part's shard spent (``seconds``, ``start``, ``stop``); zeros for a part written without them."""
    raw = (pq.read_schema(path).metadata or {}).get(SECONDS_FIELD)
    return {"seconds": 0.0, "start": 0.0, "stop": 0.0, **(json.loads(raw) if raw else {})}


class StaleShard(StaleInput):
    """A shard's part was made from other samples, config or code than the round has now (a ``StaleInput``, as
    every refusal of an out-of-date input is)."""


def shard_of(prompt_id: str, n_shards: int) -> int:
    """Stable across processes and machines (unlike hash())."""
    digest = hashlib.blake2b(prompt_id.encode("utf-8", errors="surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % n_shards


def part_path(config: RoundConfig, round_number: int, shard: int, n_shards: int) -> Path:
    folder = RoundPaths(config.workdir, round_number).verdicts.with_suffix(".parts")
    return folder / f"part-{shard:05d}-of-{n_shards:05d}.parquet"


def round_key(config: RoundConfig, round_number: int, assume: dict[str, str] | None = None) -> str:
    """What every part of the round must have been made under: the verify stage's lineage key (samples,
    config, code) and the installed verifiers it would use (a plugin added, removed or upgraded changes
    verdicts). Computed once per call site, not per shard: it hashes files and reads markers. ``assume``: as
    :func:`flywheel.round.lineage.stage_key`'s."""
    key, _ = stage_key(config, round_number, "verify", assume)
    installed = discover()
    used = sorted({name for names in verifiers_by_domain(config).values() for name in names})
    plugins = [(name, installed[name].value, getattr(installed[name].dist, "version", None))
               if name in installed else (name, None, None) for name in used]
    return hashlib.sha256(json.dumps([key, plugins]).encode()).hexdigest()[:20]


def part_key(key: str, shard: int, n_shards: int) -> str:
    return f"{key}:{shard}/{n_shards}"


CHUNK_READ_ROWS = 8192  # rows per Parquet read while streaming a shard's samples


def chunk_folder(part: Path) -> Path:
    return part.with_name(part.stem + ".chunks")


def generation_chunks(prompts: pa.Table, chunk_prompts: int) -> dict[str, int]:
    """Each prompt's generation chunk: its position among the round's prompts (``prompts``, as collect wrote them)
    over ``generation.chunk_prompts`` (the generate stage writes its samples one such chunk at a time)."""
    return {prompt_id: position // chunk_prompts for position, prompt_id in enumerate(prompts.column("id").to_pylist())}


def verify_chunk_path(folder: Path, key: str, generation_chunk: int, piece: int, size: int) -> tuple[Path, str]:
    """Verify chunk ``piece`` of one generation chunk's samples in a shard: its file and the key it is written
    under (the shard's key, where it lies, and the size it was cut at)."""
    return (folder / f"chunk-{generation_chunk:06d}-{piece:04d}.parquet",
            f"{key}|chunk {generation_chunk}.{piece} of {size}")


class _Cutter:
    """Cuts a stream of one shard's samples into verify chunks: at least ``size`` rows, ending at a prompt boundary
    (a prompt's samples stay together, so a batch-relative verifier sees them in one batch), and always ending
    where a generation chunk ends (so a chunk is the same whether it is cut from the round's file or from one
    generation chunk as generate writes it: what lets verification overlap generation)."""

    def __init__(self, size: int):
        self.size = size
        self.pending: pa.Table | None = None
        self.generation_chunk: int | None = None
        self.next_piece: dict[int, int] = {}

    def add(self, rows: pa.Table, generation_chunk: int) -> Iterator[tuple[int, int, pa.Table]]:
        if self.generation_chunk is not None and generation_chunk != self.generation_chunk:
            yield from self.finish()
        self.generation_chunk = generation_chunk
        self.pending = rows if self.pending is None else pa.concat_tables([self.pending, rows])
        while self.pending.num_rows > self.size:
            ids = self.pending.column("prompt_id").to_pylist()
            cut = next((j for j in range(self.size, len(ids)) if ids[j] != ids[j - 1]), None)
            if cut is None:
                break  # the prompt at the boundary may go on in the next batch
            yield self._piece(self.pending.slice(0, cut))
            self.pending = self.pending.slice(cut)

    def finish(self) -> Iterator[tuple[int, int, pa.Table]]:
        if self.pending is not None and self.pending.num_rows:
            yield self._piece(self.pending)
        self.pending = None

    def _piece(self, rows: pa.Table) -> tuple[int, int, pa.Table]:
        piece = self.next_piece.get(self.generation_chunk, 0)  # a file out of generation order never reuses one
        self.next_piece[self.generation_chunk] = piece + 1
        return self.generation_chunk, piece, rows.combine_chunks()


def _runs(values: list[int]) -> Iterator[tuple[int, int, int]]:
    """(start, stop, value) of each run of equal values."""
    start = 0
    for position in range(1, len(values) + 1):
        if position == len(values) or values[position] != values[start]:
            yield start, position, values[start]
            start = position


def _cut(cutter: _Cutter, table: pa.Table, shard: int, n_shards: int, generation_chunk: dict[str, int] | None,
         shard_by_id: dict[str, int]) -> Iterator[tuple[int, int, pa.Table]]:
    """The verify chunks that ``table``'s rows of ``shard`` complete, fed to ``cutter`` run by generation chunk."""
    ids = table.column("prompt_id").to_pylist()
    keep = [shard_by_id.setdefault(i, shard_of(i, n_shards)) == shard for i in ids]
    rows = table.filter(pa.array(keep, type=pa.bool_()))
    # a prompt that was never collected has no generation chunk; verify_samples refuses it by name
    chunks = [generation_chunk.get(i, -1) if generation_chunk is not None else 0 for i, k in zip(ids, keep) if k]
    for start, stop, chunk in _runs(chunks):
        yield from cutter.add(rows.slice(start, stop - start), chunk)


def shard_chunks(samples_path: Path, shard: int, n_shards: int, chunk_size: int,
                 generation_chunk: dict[str, int] | None = None) -> Iterator[tuple[int, int, pa.Table]]:
    """(generation chunk, piece, rows) of the shard's samples in file order, streamed, cut by :class:`_Cutter`
    (``generation_chunk`` maps a prompt id to its generation chunk; without it the file is one). The same file,
    sizes and prompts give the same chunks, which is what lets a rerun keep them."""
    shard_by_id: dict[str, int] = {}
    cutter = _Cutter(chunk_size)
    for batch in pq.ParquetFile(require_stage_output(samples_path)).iter_batches(batch_size=CHUNK_READ_ROWS):
        yield from _cut(cutter, pa.Table.from_batches([batch]), shard, n_shards, generation_chunk, shard_by_id)
    yield from cutter.finish()


def _judge(config: RoundConfig, prompts: pa.Table, chunk: pa.Table, by_domain: dict[str, list[str]],
           loaded) -> pa.Table:
    ids = pc.unique(chunk.column("prompt_id"))
    verdicts = verify_samples(table_to_prompts(prompts.filter(pc.is_in(prompts.column("id"), value_set=ids))),
                              table_to_samples(chunk), by_domain, required=config.verifiers.required,
                              timeout=config.verifiers.timeout_seconds, loaded=loaded)
    return verdicts_to_table(verdicts)


def verify_shard(config: RoundConfig, round_number: int, shard: int, n_shards: int, key: str | None = None,
                 progress: Callable[[int], None] | None = None) -> dict:
    """Judge one shard's samples chunk by chunk and write its part; a part already made under the same
    key is kept. Each chunk (``verifiers.chunk_size`` samples, within one generation chunk) is judged under its
    own timeout and written as it finishes, so a shard killed midway redoes only the chunk it was in, and a chunk
    that verification overlapping generation already wrote (:class:`OverlappedVerification`) is kept. ``key``
    (:func:`round_key`) lets a caller that runs every shard hash once; ``progress`` is told each chunk's sample
    count."""
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} is not one of {n_shards} shards")
    path = part_path(config, round_number, shard, n_shards)
    key = part_key(key or round_key(config, round_number), shard, n_shards)
    if written_key(path) == key:
        return {"shard": shard, "reused": True, "n_verdicts": pq.read_metadata(path).num_rows}
    started = time.perf_counter()
    parts = {"start": 0.0, "stop": 0.0}  # verifiers loaded (a judge's server, a reward model) and closed
    paths = RoundPaths(config.workdir, round_number)
    prompts = read_parquet(paths.prompts)
    by_domain, size, folder = verifiers_by_domain(config), config.verifiers.chunk_size, chunk_folder(path)
    loaded = None  # verifiers load at the first chunk that needs them: a rerun that keeps all loads none
    chunk_paths, n_verified = [], 0
    try:
        for generation_chunk, piece, chunk in shard_chunks(paths.samples, shard, n_shards, size,
                                                           generation_chunks(prompts, config.generation.chunk_prompts)):
            chunk_path, chunk_key = verify_chunk_path(folder, key, generation_chunk, piece, size)
            if written_key(chunk_path) != chunk_key:
                if loaded is None:
                    with timed(parts, "start"):
                        loaded = load_verifiers({n for names in by_domain.values() for n in names},
                                                config.verifier_options())
                write_parquet_keyed(_judge(config, prompts, chunk, by_domain, loaded), chunk_key, chunk_path)
                n_verified += 1
            chunk_paths.append(chunk_path)
            if progress:
                progress(chunk.num_rows)
    finally:
        if loaded is not None:
            with timed(parts, "stop"):
                close_verifiers(loaded)  # a managed judge server stops with the shard, on failure too
    table = concat_parquet(chunk_paths, VERDICT_SCHEMA)
    # the shard's seconds travel with its part: the verify stage records them, also when it runs elsewhere
    seconds = {**parts, "seconds": time.perf_counter() - started}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), SECONDS_FIELD: json.dumps(seconds).encode()})
    write_parquet_keyed(table, key, path)
    shutil.rmtree(folder, ignore_errors=True)  # the part holds them now
    return {"shard": shard, "reused": False, "n_verdicts": table.num_rows, "chunks": len(chunk_paths),
            "chunks_verified": n_verified, "chunks_kept": len(chunk_paths) - n_verified}


class OverlappedVerification:
    """Verification that overlaps generation (``verifiers.overlap_generation``): the generate stage hands each
    generation chunk to :meth:`submit` as it is written, and a thread of this process judges it, shard by shard
    and chunk by chunk, into the very chunk files ``verify_shard`` would write, under the key the verify stage
    will have once generate records the key it runs under. The verify stage then keeps them and judges only what
    is left (chunks not reached, or a verifier that failed here): the verdicts are those of the serial path,
    because a chunk holds the same samples either way (:class:`_Cutter`) and each is judged the same way.

    A thread, not a process: on a real deployment generation waits on a server (vLLM on GPUs, or an endpoint),
    and the verifiers' own work runs in their processes (the sandbox, sympy's workers) or outside the GIL (a
    reward model, a judge's requests). Anything this thread could not do is left to the verify stage; a failure
    here (a verifier that will not load, a required one that fails) is recorded, not raised: the verify stage
    meets it again and reports it where it always has."""

    def __init__(self, config: RoundConfig, round_number: int, generate_key: str):
        import queue
        import threading

        self.config, self.round_number = config, round_number
        self.n_shards = config.verifiers.shards
        key = round_key(config, round_number, assume={f"generate@{round_number}": generate_key})
        self.part_keys = [part_key(key, shard, self.n_shards) for shard in range(self.n_shards)]
        self.prompts = read_parquet(RoundPaths(config.workdir, round_number).prompts)
        self.generation_chunk = generation_chunks(self.prompts, config.generation.chunk_prompts)
        self.chunks_verified = self.chunks_kept = 0
        self.error: str | None = None
        self._stopping = False
        self._jobs: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._work, name=f"verify-round-{round_number}", daemon=True)
        self._thread.start()

    def submit(self, samples_path: Path) -> None:
        """Judge a generation chunk's samples (a file generate wrote), after those submitted before it."""
        self._jobs.put(samples_path)

    def close(self, finish: bool = True) -> dict:
        """Wait for the thread; with ``finish`` false (generate failed or was interrupted), chunks still queued
        are dropped and only the one in hand is completed. Returns what was done, for the stage's metadata."""
        self._stopping = not finish
        self._jobs.put(None)
        self._thread.join()
        return {"chunks_verified": self.chunks_verified, "chunks_kept": self.chunks_kept, "error": self.error}

    def _work(self) -> None:
        by_domain, size = verifiers_by_domain(self.config), self.config.verifiers.chunk_size
        loaded = None
        try:
            while (samples_path := self._jobs.get()) is not None:
                if self._stopping or self.error is not None:
                    continue
                try:
                    table = read_parquet(samples_path)
                    shard_by_id: dict[str, int] = {}
                    for shard in range(self.n_shards):
                        part = part_path(self.config, self.round_number, shard, self.n_shards)
                        if written_key(part) == self.part_keys[shard]:
                            continue  # the shard is verified already (a rerun of generate after verify)
                        cutter = _Cutter(size)
                        pieces = [*_cut(cutter, table, shard, self.n_shards, self.generation_chunk, shard_by_id),
                                  *cutter.finish()]
                        for generation_chunk, piece, chunk in pieces:
                            chunk_path, chunk_key = verify_chunk_path(chunk_folder(part), self.part_keys[shard],
                                                                      generation_chunk, piece, size)
                            if written_key(chunk_path) == chunk_key:
                                self.chunks_kept += 1
                                continue
                            if loaded is None:
                                loaded = load_verifiers({n for names in by_domain.values() for n in names},
                                                        self.config.verifier_options())
                            write_parquet_keyed(_judge(self.config, self.prompts, chunk, by_domain, loaded),
                                                chunk_key, chunk_path)
                            self.chunks_verified += 1
                except Exception as error:  # noqa: BLE001 - left to the verify stage, which reports it
                    self.error = f"{type(error).__name__}: {error}"
        finally:
            if loaded is not None:
                close_verifiers(loaded)


def _serial_order(verdicts: pa.Table, config: RoundConfig, round_number: int) -> pa.Table:
    """``verdicts`` in the order one pass over the whole round writes them: verifiers in order of first
    use (domains in the order their first sample appears), then samples in their file order."""
    paths = RoundPaths(config.workdir, round_number)
    samples = pq.read_table(paths.samples, columns=["prompt_id", "sample_index"])
    samples = samples.append_column("position", pa.array(np.arange(samples.num_rows, dtype=np.int64)))
    prompts = pq.read_table(paths.prompts, columns=["id", "domain"])
    connection = duckdb.connect()
    # DuckDB orders the verdicts' keys alone and Arrow takes the rows in that order: sorting the whole rows in
    # DuckDB held a copy of every verdict in its sort beside the input and the output (1M verdicts here).
    keys = verdicts.select(["verifier", "prompt_id", "sample_index"]).append_column(
        "row", pa.array(np.arange(verdicts.num_rows, dtype=np.int64)))
    connection.register("samples", samples)
    connection.register("verdicts", keys)
    connection.register("prompts", prompts)
    try:
        domains = connection.execute("SELECT p.domain FROM samples s JOIN prompts p ON p.id = s.prompt_id "
                                     "GROUP BY p.domain ORDER BY min(s.position)").fetchall()
        by_domain, rank = verifiers_by_domain(config), {}
        for (domain,) in domains:
            for name in by_domain.get(domain, []):
                rank.setdefault(name, len(rank))
        connection.register("ranks", pa.table({"verifier": list(rank), "rank": list(rank.values())},
                                              schema=pa.schema([("verifier", pa.string()), ("rank", pa.int64())])))
        order = connection.sql(
            "SELECT v.row FROM verdicts v LEFT JOIN ranks r USING (verifier) "
            "LEFT JOIN samples s USING (prompt_id, sample_index) "
            f"ORDER BY coalesce(r.rank, {len(rank)}), s.position, v.verifier, v.row").to_arrow_table().column("row")
    finally:
        connection.close()
    return verdicts.take(order).cast(VERDICT_SCHEMA)


def merge_verdicts(config: RoundConfig, round_number: int, n_shards: int) -> pa.Table:
    """Every shard's verdicts, checked current, in single-pass order, as one Arrow table (the round's
    verdicts never become Python objects). The parts stay: a rerun of the merge alone (a Dagster
    re-execution of that step) finds them."""
    key = round_key(config, round_number)
    tables = []
    for shard in range(n_shards):
        path = part_path(config, round_number, shard, n_shards)
        written, wanted = written_key(path), part_key(key, shard, n_shards)
        if written is None:
            raise StaleShard(f"verify of round {round_number} refuses to merge: {path}: shard {shard} of {n_shards} "
                             "has not been verified; run it first")
        if written != wanted:
            raise StaleShard(f"verify of round {round_number} refuses stale input: {path}: shard {shard} was "
                             f"verified under lineage key {written}, the round is now at "
                             f"{wanted} (samples, verifier config or code changed); verify it again")
        tables.append(read_parquet(path, VERDICT_SCHEMA).replace_schema_metadata(None))
    verdicts = _serial_order(pa.concat_tables(tables), config, round_number)
    return decide_over_round(verdicts, config)


def decide_over_round(verdicts: pa.Table, config: RoundConfig) -> pa.Table:
    """Verifiers whose pass rule is relative to the batch (the reward model's top quantile) decide
    again over the whole round's scores, so shards and chunks give the verdicts of one pass."""
    ok = pc.equal(verdicts.column("status"), "ok")
    for name in pc.unique(verdicts.column("verifier")).to_pylist():
        try:
            verifier = load_verifier(name, config.verifier_options().get(name))
        except VerifierFailed:
            continue  # its verdicts are errors already
        decide = getattr(verifier, "decide_over_round", None)
        close = getattr(verifier, "close", None)
        if close is not None:
            close()  # only its decision rule is used here: nothing it opened (a judge's cache) stays open
        if decide is None:
            continue
        mask = pc.and_(ok, pc.equal(verdicts.column("verifier"), name))
        decisions = decide(verdicts.column("score").filter(mask).to_pylist())
        for column, values, kind in (("passed", [bool(p) for p, _ in decisions], pa.bool_()),
                                     ("reason", [r for _, r in decisions], pa.string())):
            replaced = pc.replace_with_mask(verdicts.column(column).combine_chunks(), mask.combine_chunks(),
                                            pa.array(values, type=kind))
            verdicts = verdicts.set_column(verdicts.schema.get_field_index(column), column, replaced)
    return verdicts
