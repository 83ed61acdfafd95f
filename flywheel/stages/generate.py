"""generate: N samples per prompt from the checkpoint the round starts from, a chunk of prompts at a time."""

from __future__ import annotations

from flywheel.round.layout import previous_dpo, previous_final, seeded_previous
import dataclasses
import json
import shutil
from collections.abc import Callable
import pyarrow.compute as pc
from flywheel.round import lineage
from flywheel.config import RoundConfig
from flywheel.generation import Generator, SamplingParams, close_generator
from flywheel.records.files import concat_parquet, keyed_chunk, read_parquet, write_parquet_atomic, write_parquet_keyed, written_key
from flywheel.round.layout import RoundPaths
from flywheel.records.schema import (
    SAMPLE_SCHEMA,
    samples_to_table,
    table_to_prompts,
)
from flywheel.round.registry import Input
from flywheel.round.runs import stage, timed
from flywheel.verification.shards import OverlappedVerification
from flywheel.store.database import Store


GeneratorFactory = Callable[[str], Generator]


@stage("generate", "samples", "N samples per prompt from round N-1's checkpoint.",
       inputs=(Input("collect"), Input("sft", 1, when=seeded_previous), Input("dpo", 1, when=previous_dpo)),
       sections=("generation", "model"),
       files=lambda c, r: [c.model.base] if r == 1 and not c.seed_round else [], resources=("generator",),
       beside_kept_generator=True)  # it takes over the one round N-1's evaluation kept
def generate(config: RoundConfig, round_number: int, store: Store, make_generator: GeneratorFactory,
             progress: Callable[[int], None] | None = None) -> dict:
    """N samples per prompt, ``generation.chunk_prompts`` prompts at a time. Each chunk is written under
    the stage's lineage key as it finishes: a crash keeps the chunks done, and a rerun with the same
    inputs generates only the rest (a sample's seed is its own, so chunking never changes a sample)."""
    paths = RoundPaths(config.workdir, round_number)
    checkpoint = previous_final(config, round_number)
    prompts = table_to_prompts(read_parquet(paths.prompts))
    g = config.generation
    params = SamplingParams.from_config(g)
    sampling = json.dumps({"backend": g.backend, **dataclasses.asdict(params)})
    key, _ = lineage.stage_key(config, round_number, "generate")
    folder, size = paths.samples.with_name("samples.chunks"), g.chunk_prompts
    generator, chunk_paths = None, []
    parts = {"start": 0.0, "stop": 0.0}  # the engine's start and stop, apart from the generation itself
    overlap = OverlappedVerification(config, round_number, key) if config.verifiers.overlap_generation else None
    finished, overlapped = False, None
    try:
        for index, first in enumerate(range(0, len(prompts), size)):
            chunk_path, chunk_key = keyed_chunk(folder, key, index, size)
            chunk_paths.append(chunk_path)
            if written_key(chunk_path) != chunk_key:
                if generator is None:  # not built when every chunk is kept
                    with timed(parts, "start"):
                        generator = make_generator(str(checkpoint))
                samples = generator.generate(prompts[first:first + size], params, round_number, progress)
                for sample in samples:
                    sample.sampling = sampling
                write_parquet_keyed(samples_to_table(samples), chunk_key, chunk_path)
            if overlap is not None:
                overlap.submit(chunk_path)  # judged beside the next chunk's generation
        finished = True
    finally:  # engines and `vllm serve` replicas go away with the stage, failed or not
        if generator is not None:
            with timed(parts, "stop"):
                close_generator(generator)
        if overlap is not None:  # before the chunk files go: it reads them
            overlapped = overlap.close(finish=finished)
    table = concat_parquet(chunk_paths, SAMPLE_SCHEMA)
    write_parquet_atomic(table, paths.samples)
    shutil.rmtree(folder, ignore_errors=True)  # samples.parquet holds them now
    store.attach_parquet("samples", round_number, paths.samples)
    tokens = pc.sum(table.column("num_tokens")).as_py() or 0
    return {"n_samples": table.num_rows, "checkpoint": str(checkpoint),
            "n_truncated": pc.sum(pc.equal(table.column("finish_reason"), "length")).as_py() or 0,
            "mean_tokens": tokens / max(1, table.num_rows), "tokens": tokens, "chunks": len(chunk_paths),
            "parts": parts, "overlapped_verification": overlapped}
