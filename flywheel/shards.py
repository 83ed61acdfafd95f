"""Shards of a round's verification: split by prompt-id hash, each written as its own Parquet part.

``verify_shard`` judges the samples of one shard and writes
``rounds/<N>/verdicts.parts/part-<i>-of-<n>.parquet``; ``merge_verdicts`` joins the parts
into the stage's output in the order a single pass would have written it. Shards share
no state, so an engine can run them in parallel processes or pods (the Dagster graph in
dagster_project runs them with whichever executor the deployment uses) and retry a
failed one alone. Each part records the lineage key it was made under (samples, config
sections, code): a rerun reuses the parts that are still current and redoes the rest,
and a merge refuses a part made from other samples.

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
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from flywheel.config import RoundConfig
from flywheel.io import RoundPaths, read_parquet, write_parquet_atomic
from flywheel.lineage import stage_key
from flywheel.schema import (
    VERDICT_SCHEMA,
    Prompt,
    Sample,
    Verdict,
    table_to_prompts,
    table_to_samples,
    table_to_verdicts,
    verdicts_to_table,
)
from flywheel.stage_runs import verifiers_by_domain
from flywheel.verify import VerifierFailed, discover, load_verifier, verify_samples

KEY_FIELD = b"flywheel_lineage_key"


class StaleShard(RuntimeError):
    """A shard's part was made from other samples, config or code than the round has now."""


def shard_of(prompt_id: str, n_shards: int) -> int:
    """Stable across processes and machines (unlike hash())."""
    digest = hashlib.blake2b(prompt_id.encode("utf-8", errors="surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % n_shards


def part_path(config: RoundConfig, round_number: int, shard: int, n_shards: int) -> Path:
    folder = RoundPaths(config.workdir, round_number).verdicts.with_suffix(".parts")
    return folder / f"part-{shard:05d}-of-{n_shards:05d}.parquet"


def round_key(config: RoundConfig, round_number: int) -> str:
    """What every part of the round must have been made under: the verify stage's lineage key (samples,
    config, code) and the installed verifiers it would use (a plugin added, removed or upgraded changes
    verdicts). Computed once per call site, not per shard: it hashes files and reads markers."""
    key, _ = stage_key(config, round_number, "verify")
    installed = discover()
    used = sorted({name for names in verifiers_by_domain(config).values() for name in names})
    plugins = [(name, installed[name].value, getattr(installed[name].dist, "version", None))
               if name in installed else (name, None, None) for name in used]
    return hashlib.sha256(json.dumps([key, plugins]).encode()).hexdigest()[:20]


def part_key(key: str, shard: int, n_shards: int) -> str:
    return f"{key}:{shard}/{n_shards}"


def _written_key(path: Path) -> str | None:
    if not path.exists():
        return None
    metadata = pq.read_schema(path).metadata or {}
    return metadata.get(KEY_FIELD, b"").decode() or None


def _round_inputs(config: RoundConfig, round_number: int) -> tuple[list[Prompt], list[Sample]]:
    paths = RoundPaths(config.workdir, round_number)
    return table_to_prompts(read_parquet(paths.prompts)), table_to_samples(read_parquet(paths.samples))


def _shard_inputs(config: RoundConfig, round_number: int, shard: int, n_shards: int
                  ) -> tuple[list[Prompt], list[Sample]]:
    """This shard's prompts and samples, filtered as Arrow tables: a shard process builds models for its
    own rows only, not for the whole round."""
    paths = RoundPaths(config.workdir, round_number)
    prompts, samples = read_parquet(paths.prompts), read_parquet(paths.samples)
    # The ids come from the samples, so a sample whose prompt is missing still reaches verify_samples,
    # which refuses it by name.
    ids = [i for i in pc.unique(samples.column("prompt_id")).to_pylist() if shard_of(i, n_shards) == shard]
    keep = pa.array(ids, type=pa.string())
    return (table_to_prompts(prompts.filter(pc.is_in(prompts.column("id"), value_set=keep))),
            table_to_samples(samples.filter(pc.is_in(samples.column("prompt_id"), value_set=keep))))


def verify_shard(config: RoundConfig, round_number: int, shard: int, n_shards: int,
                 inputs: tuple[list[Prompt], list[Sample]] | None = None, key: str | None = None) -> dict:
    """Judge one shard's samples and write its part; a part already made under the same key is kept.
    ``inputs`` and ``key`` (:func:`round_key`) let a caller that runs every shard read and hash once."""
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} is not one of {n_shards} shards")
    path = part_path(config, round_number, shard, n_shards)
    key = part_key(key or round_key(config, round_number), shard, n_shards)
    if _written_key(path) == key:
        return {"shard": shard, "reused": True, "n_verdicts": pq.read_metadata(path).num_rows}
    if inputs is None:
        prompts, mine = _shard_inputs(config, round_number, shard, n_shards)
    else:
        mine = [s for s in inputs[1] if shard_of(s.prompt_id, n_shards) == shard]
        wanted = {s.prompt_id for s in mine}
        prompts = [p for p in inputs[0] if p.id in wanted]
    verdicts = verify_samples(prompts, mine, verifiers_by_domain(config),
                              required=config.verifiers.required, timeout=config.verifiers.timeout_seconds,
                              options=config.verifier_options())
    table = verdicts_to_table(verdicts)
    write_parquet_atomic(table.replace_schema_metadata({**(table.schema.metadata or {}), KEY_FIELD: key.encode()}),
                         path)
    return {"shard": shard, "reused": False, "n_verdicts": len(verdicts)}


def serial_order(samples: list[Sample], prompts: list[Prompt], config: RoundConfig):
    """The sort key that puts verdicts in the order one pass over the whole round writes them:
    verifiers in order of first use, then samples in their file order."""
    domain = {p.id: p.domain for p in prompts}
    by_domain = verifiers_by_domain(config)
    verifier_rank: dict[str, int] = {}
    for sample in samples:
        for name in by_domain.get(domain.get(sample.prompt_id), []):
            verifier_rank.setdefault(name, len(verifier_rank))
    position = {(s.prompt_id, s.sample_index): i for i, s in enumerate(samples)}
    return lambda v: (verifier_rank.get(v.verifier, len(verifier_rank)), position[(v.prompt_id, v.sample_index)])


def merge_verdicts(config: RoundConfig, round_number: int, n_shards: int,
                   inputs: tuple[list[Prompt], list[Sample]] | None = None) -> list[Verdict]:
    """Every shard's verdicts, checked current, in single-pass order. The parts stay: a rerun of the
    merge alone (a Dagster re-execution of that step) finds them."""
    prompts, samples = inputs or _round_inputs(config, round_number)
    key = round_key(config, round_number)
    verdicts: list[Verdict] = []
    for shard in range(n_shards):
        path = part_path(config, round_number, shard, n_shards)
        written, wanted = _written_key(path), part_key(key, shard, n_shards)
        if written is None:
            raise StaleShard(f"{path}: shard {shard} of {n_shards} has not been verified; run it first")
        if written != wanted:
            raise StaleShard(f"{path}: shard {shard} was verified under lineage key {written}, the round is now at "
                             f"{wanted} (samples, verifier config or code changed); verify it again")
        verdicts.extend(table_to_verdicts(read_parquet(path, VERDICT_SCHEMA)))
    verdicts.sort(key=serial_order(samples, prompts, config))
    return decide_over_round(verdicts, config)


def decide_over_round(verdicts: list[Verdict], config: RoundConfig) -> list[Verdict]:
    """Verifiers whose pass rule is relative to the batch (the reward model's top quantile) decide
    again over the whole round's scores, so shards give the verdicts of one pass."""
    by_verifier: dict[str, list[int]] = {}
    for index, verdict in enumerate(verdicts):
        if verdict.status == "ok":
            by_verifier.setdefault(verdict.verifier, []).append(index)
    for name, indices in by_verifier.items():
        try:
            verifier = load_verifier(name, config.verifier_options().get(name))
        except VerifierFailed:
            continue  # its verdicts are errors already
        decide = getattr(verifier, "decide_over_round", None)
        if decide is None:
            continue
        for index, (passed, reason) in zip(indices, decide([verdicts[i].score for i in indices])):
            verdicts[index] = verdicts[index].model_copy(update={"passed": bool(passed), "reason": reason})
    return verdicts

