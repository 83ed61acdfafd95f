"""One function per stage of a round, from collection to SFT: read inputs, run the stage, write outputs,
record rows.

Each reads the round's upstream Parquet files, writes its own atomically, replaces its
rows in DuckDB for that round, and returns a small dict of metadata. Its ``@stage``
declaration (flywheel.stage_registry) is the stage's whole story: what it reads (other
stages, config sections, files), what Dagster shows of it, and whether round 0 runs it.
Dagster assets are derived from these declarations, and tests call the functions directly.
The stages that judge a round (evaluate, diversity, round metrics) live in
:mod:`flywheel.round_audit`.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from collections import Counter, deque
from collections.abc import Callable, Iterator

import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from flywheel import lineage
from flywheel import stage_views as views
from flywheel.collect import collect_prompts
from flywheel.config import RoundConfig
from flywheel.decontaminate import build_index, decontaminate, hits_summary
from flywheel.dedup import Deduplicator, prepare_rows
from flywheel.generation import Generator, SamplingParams, close_generator
from flywheel.io import (
    RoundPaths,
    concat_parquet,
    generation_checkpoint,
    keyed_chunk,
    link_dir,
    read_parquet,
    write_parquet_atomic,
    write_parquet_keyed,
    written_key,
)
from flywheel.mix import file_source_examples, mix_sources, topic_manifest
from flywheel.parallel import default_processes, ordered_map
from flywheel.records import BATCH_ROWS, RecordWriter, batches, iter_rows, row_batches, sorted_row_batches, taken_batches
from flywheel.schema import (
    EXAMPLE_SCHEMA,
    SAMPLE_SCHEMA,
    prompts_to_table,
    samples_to_table,
    table_to_prompts,
)
from flywheel.select import Policy
from flywheel.select_round import select_round
from flywheel.sft.launch import run_sft
from flywheel.stage_registry import Check, Image, Input, Shards, seed_round_only
from flywheel.stage_runs import stage, timed, verifier_files, verifiers_by_domain
from flywheel.store import Store
from flywheel.shards import merge_verdicts, part_path, part_seconds, round_key, verify_shard
from flywheel.preflight import require_preflight

GeneratorFactory = Callable[[str], Generator]


def seeded_previous(config: RoundConfig, round_number: int) -> bool:
    """Whether round N-1 trained a checkpoint (round 0 does only with a seed round)."""
    return round_number - 1 > 0 or (round_number - 1 == 0 and config.seed_round)


def previous_dpo(config: RoundConfig, round_number: int) -> bool:
    """Whether round N-1 ends with a DPO checkpoint (round 0 never does: it has no pairs)."""
    return config.dpo.enabled and round_number - 1 > 0


def previous_final(config: RoundConfig, round_number: int) -> Path:
    """The checkpoint round N starts from: round N-1's final one (flywheel.io.generation_checkpoint)."""
    return generation_checkpoint(config.workdir, round_number, config.model.base, config.seed_round,
                                 dpo=config.dpo.enabled)


@stage("collect", "prompts", "Prompts collected from the configured sources, after the preflight (flywheel check) "
       "found nothing that would stop the round later.",
       sections=("prompts",), files=lambda c, r: [s.path for s in c.prompts.sources if s.path],  # hub: its cache
       before=require_preflight,  # the round's first step: a typo fails here, not after generation
       beside_kept_generator=True)
def collect(config: RoundConfig, round_number: int, store: Store) -> dict:
    paths = RoundPaths(config.workdir, round_number)
    checked = {domain for domain, names in verifiers_by_domain(config).items()
               if {"math", "unit_tests"} & set(names)}  # checkers that need a reference answer or tests
    prompts = collect_prompts(config.prompts.sources, config.prompts.max_prompts,
                              allow_empty=config.prompts.allow_empty, needs_reference=checked)
    write_parquet_atomic(prompts_to_table(prompts), paths.prompts)
    store.replace_round("prompts", round_number, [
        {**p.model_dump(exclude={"messages", "response"}), "messages": json.dumps([m.model_dump() for m in p.messages])}
        for p in prompts])
    return {"n_prompts": len(prompts), "by_domain": dict(Counter(p.domain for p in prompts))}


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
    try:
        for index, first in enumerate(range(0, len(prompts), size)):
            chunk_path, chunk_key = keyed_chunk(folder, key, index, size)
            chunk_paths.append(chunk_path)
            if written_key(chunk_path) == chunk_key:
                continue
            if generator is None:  # not built when every chunk is kept
                with timed(parts, "start"):
                    generator = make_generator(str(checkpoint))
            samples = generator.generate(prompts[first:first + size], params, round_number, progress)
            for sample in samples:
                sample.sampling = sampling
            write_parquet_keyed(samples_to_table(samples), chunk_key, chunk_path)
    finally:  # engines and `vllm serve` replicas go away with the stage, failed or not
        if generator is not None:
            with timed(parts, "stop"):
                close_generator(generator)
    table = concat_parquet(chunk_paths, SAMPLE_SCHEMA)
    write_parquet_atomic(table, paths.samples)
    shutil.rmtree(folder, ignore_errors=True)  # samples.parquet holds them now
    store.attach_parquet("samples", round_number, paths.samples)
    tokens = pc.sum(table.column("num_tokens")).as_py() or 0
    return {"n_samples": table.num_rows, "checkpoint": str(checkpoint),
            "n_truncated": pc.sum(pc.equal(table.column("finish_reason"), "length")).as_py() or 0,
            "mean_tokens": tokens / max(1, table.num_rows), "tokens": tokens, "chunks": len(chunk_paths),
            "parts": parts}


# Verification fans out: one shard per prompt-id hash (verifiers.shards), each writing its own Parquet part
# and holding no DuckDB connection, so Dagster runs them side by side (processes under the multiprocess
# executor, pods under k8s_job_executor) and retries a failed one alone. The stage itself is the merge:
# it keeps every current part, redoes any missing one, and writes DuckDB.
def _describe_shard(shard: int, result: dict) -> str:
    kept = " (kept from an earlier run)" if result["reused"] else \
        f" ({result['chunks_verified']} chunk(s) judged, {result['chunks_kept']} kept from an earlier run)"
    return f"shard {shard}: {result['n_verdicts']} verdicts{kept}"


@stage("verify", "verdicts", "One verdict per (sample, verifier) from the plugin verifiers, verified in shards.",
       inputs=(Input("generate"),), sections=("verifiers", "sandbox"), files=lambda c, r: verifier_files(c),
       resources=("sandbox",), views=lambda c, r, db, result: {"verifier_errors": views.verifier_errors(db, r)},
       shards=Shards(count=lambda c: c.verifiers.shards, run=verify_shard, describe=_describe_shard))
def verify(config: RoundConfig, round_number: int, store: Store) -> dict:
    """Judge the round's samples shard by shard and chunk by chunk (parts and chunks that are still
    current are kept) and merge them into the stage's output, in Arrow throughout."""
    paths = RoundPaths(config.workdir, round_number)
    n_shards = config.verifiers.shards
    key = round_key(config, round_number)
    with tqdm(total=pq.read_metadata(paths.samples).num_rows if paths.samples.exists() else None,
              desc=f"round {round_number} verify", unit="sample", disable=None, leave=False) as bar:
        ran_before = [shard for shard in range(n_shards)  # by Dagster's shard steps, or a run that was killed
                      if verify_shard(config, round_number, shard, n_shards, key, progress=bar.update)["reused"]]
    seconds = [part_seconds(part_path(config, round_number, shard, n_shards)) for shard in range(n_shards)]
    parts = {name: sum(s[name] for s in seconds) for name in ("start", "stop")}
    verdicts = merge_verdicts(config, round_number, n_shards)
    write_parquet_atomic(verdicts, paths.verdicts)
    store.attach_parquet("verdicts", round_number, paths.verdicts)
    per_verifier = verdicts.group_by(["verifier", "status", "passed"]).aggregate([([], "count_all")]).to_pylist()
    return {"n_verdicts": verdicts.num_rows,
            "by_verifier": {f"{r['verifier']}/{r['status']}/{'pass' if r['passed'] else 'fail'}": r["count_all"]
                            for r in per_verifier},
            "parts": parts, "shard_seconds": sum(seconds[shard]["seconds"] for shard in ran_before)}


@stage("select", "selected", "Best passing samples per prompt, pooled with earlier rounds.",
       inputs=(Input("verify"), Input("select", 1, when=lambda c, r: c.selection.pool_previous_rounds and r > 1)),
       sections=("selection", "verifiers"), views=lambda c, r, db, result: {"examples": views.sample_examples(db, r)})
def select(config: RoundConfig, round_number: int, store: Store) -> dict:
    """Judge and choose per prompt, a chunk of prompts at a time (flywheel.select_round), pooled with the
    previous round's pool."""
    paths = RoundPaths(config.workdir, round_number)
    s = config.selection
    previous = RoundPaths(config.workdir, round_number - 1).selected \
        if s.pool_previous_rounds and round_number > 1 else None
    chosen = select_round(paths.prompts, paths.samples, paths.verdicts, previous, paths.selected,
                          verifiers_by_domain(config), Policy.from_config(s, config.verifiers), k=s.k,
                          near_threshold=s.near_duplicate_threshold, scratch=paths.dir / ".select-scratch",
                          processes=default_processes(s.processes))
    store.attach_parquet("selections", round_number, paths.selected)
    store.replace_round("prompt_difficulty", round_number, chosen.table("difficulty"))
    store.replace_round("accepted_samples", round_number, chosen.table("accepted"))
    store.replace_round("decisions", round_number, chosen.table("decisions"))
    return {"n_accepted": chosen.n_accepted, "n_selected_pool": chosen.n_selected,
            **({"combined_cuts": chosen.cuts} if chosen.cuts else {}),
            "pool_by_round": dict(sorted(chosen.pool_by_round.items())),
            "prompts_all_pass": chosen.status["all_pass"], "prompts_none_pass": chosen.status["none_pass"]}


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
    index: object  # flywheel.decontaminate.EvalIndex
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


def _topic_chart(config: RoundConfig, round_number: int, store: Store, result: dict) -> dict:
    chart = views.topic_chart(store, round_number, RoundPaths(config.workdir, round_number).dir / "topics.png")
    return {"topics": Image(chart) if chart else None}


@stage("mix", "mixture", "The weighted training mixture, with the pool's examples per quality topic.",
       inputs=(Input("decontaminate"),), sections=("mixture",),
       files=lambda c, r: [m.path for m in c.mixture.sources if m.path], in_round_zero=seed_round_only,
       views=_topic_chart)
def mix(config: RoundConfig, round_number: int, store: Store) -> dict:
    """The draw is made on the candidates' keys alone (id, domain, round, source, and the topic quality control
    gave it this round); the drawn rows are then copied column-wise from the Arrow table, a batch at a time, so no
    whole round becomes Python rows."""
    paths = RoundPaths(config.workdir, round_number)
    candidates = read_parquet(paths.decontaminated, EXAMPLE_SCHEMA)
    keys = candidates.select(["example_id", "domain", "origin_round", "mix_source"]).to_pylist()
    topics = dict(store.query("SELECT example_id, topic FROM quality WHERE round = ?", [round_number])[1])
    for position, key in enumerate(keys):
        key["position"] = position
        key["topic"] = topics.get(key["example_id"])
    drawn, manifest = mix_sources(keys, config.mixture.sources, seed=config.mixture.seed, round_number=round_number)
    with RecordWriter(paths.mixture, EXAMPLE_SCHEMA) as writer:
        for batch in taken_batches(candidates, [key["position"] for key in drawn]):
            writer.write_table(batch)
    store.replace_round("mixture", round_number, manifest)
    by_topic = topic_manifest(keys, drawn, config.mixture.sources, round_number)
    store.replace_round("mixture_topics", round_number, by_topic)
    shortfalls = {f"{m['source']}/{m['domain']}": m["shortfall"] for m in manifest if m["shortfall"]}
    return {"n_examples": len(drawn), "by_domain": dict(Counter(r["domain"] for r in drawn)),
            "by_source": {s.name: sum(m["n_taken"] for m in manifest if m["source"] == s.name)
                          for s in config.mixture.sources},
            "quota_shortfalls": shortfalls or None,
            "by_topic": _taken_by_topic(by_topic) or None}


def _taken_by_topic(by_topic: list[dict]) -> dict[str, int]:
    """The pool's rows in the mixture per topic, over its sources ("none": no topic, quality control was off)."""
    taken: Counter = Counter()
    for row in by_topic:
        taken["none" if row["topic"] is None else str(row["topic"])] += row["n_taken"]
    return dict(sorted(taken.items(), key=lambda item: (item[0] == "none", int(item[0]) if item[0] != "none" else 0)))


def _checkpoint_loads(config: RoundConfig, round_number: int, store: Store, result: dict) -> tuple[bool, dict]:
    loads, error = checkpoint_loads(result["checkpoint"])
    return loads, {"error": error}


def _loss_curve(config: RoundConfig, round_number: int, store: Store, result: dict) -> dict:
    curve = views.loss_curve(store, round_number, RoundPaths(config.workdir, round_number).dir / "loss.png")
    return {"loss_curve": Image(curve) if curve else None}


@stage("sft", "checkpoint", "The round's SFT checkpoint (DeepSpeed), a Hugging Face folder.",
       inputs=(Input("mix"), Input("sft", 1, when=lambda c, r: c.sft.init_from == "previous" and seeded_previous(c, r)),
               Input("dpo", 1, when=lambda c, r: c.sft.init_from == "previous" and previous_dpo(c, r))),
       sections=("sft", "model"), files=lambda c, r: [c.model.base], in_round_zero=seed_round_only, resources=("log",),
       views=_loss_curve,
       checks=(Check("checkpoint_loads", "The checkpoint loads with transformers and runs a forward pass.",
                     _checkpoint_loads),))
def sft(config: RoundConfig, round_number: int, store: Store, echo=print) -> dict:
    paths = RoundPaths(config.workdir, round_number)
    # Round 0 is the seed round: the base model learns the format from the seed demonstrations.
    start_from = (config.model.base if config.sft.init_from == "base" or round_number == 0
                  else previous_final(config, round_number))
    result = run_sft(start_from, paths.mixture, paths.checkpoint, config.sft, work_dir=paths.sft_work, echo=echo)
    store.replace_round("training_steps", round_number, result.steps)
    return {"checkpoint": str(result.checkpoint), "init_from": str(start_from), "steps": len(result.steps),
            "final_loss": result.steps[-1]["loss"] if result.steps else None, **result.stats,
            "tokens": sum(step.get("tokens") or 0 for step in result.steps)}


def _dpo_checkpoint_loads(config: RoundConfig, round_number: int, store: Store, result: dict) -> tuple[bool, dict]:
    if not result.get("enabled"):
        return True, {"skipped": "dpo.enabled is false: the round ends with its SFT checkpoint"}
    loads, error = checkpoint_loads(result["checkpoint"])
    return loads, {"error": error}


def _preference_curve(config: RoundConfig, round_number: int, store: Store, result: dict) -> dict:
    curve = views.preference_curve(store, round_number, RoundPaths(config.workdir, round_number).dir / "dpo.png")
    return {"margin_and_accuracy": Image(curve) if curve else None}


@stage("dpo", "dpo_checkpoint", "With dpo.enabled, the round's SFT checkpoint trained on its preference pairs "
       "(Llama 3.1's DPO step): the round's evaluation and the next round's generation use it.",
       inputs=(Input("sft", when=lambda c, r: c.dpo.enabled), Input("pairs", when=lambda c, r: c.dpo.enabled)),
       sections=("dpo",), resources=("log",), views=_preference_curve,
       checks=(Check("dpo_checkpoint_loads", "The DPO checkpoint loads with transformers and runs a forward pass.",
                     _dpo_checkpoint_loads),))
def dpo(config: RoundConfig, round_number: int, store: Store, echo=print) -> dict:
    """DPO on the round's pairs, from its SFT checkpoint as policy and reference (flywheel.sft.dpo), on the SFT
    engine; per-step loss, reward margin and pair accuracy go to ``dpo_steps``."""
    if not config.dpo.enabled:
        store.replace_round("dpo_steps", round_number, [])
        return {"enabled": False}
    paths = RoundPaths(config.workdir, round_number)
    d = config.dpo
    if pq.read_metadata(paths.pairs).num_rows == 0:
        # Nothing to prefer (no prompt had a passed and a failed sample): the round ends with its SFT weights,
        # linked rather than copied, so the next round and the evaluation find the checkpoint they expect.
        link_dir(paths.checkpoint, paths.dpo_checkpoint)
        store.replace_round("dpo_steps", round_number, [])
        return {"enabled": True, "checkpoint": str(paths.dpo_checkpoint), "steps": 0, "pairs": 0,
                "skipped": "no preference pairs this round: the round ends with its SFT checkpoint"}
    result = run_sft(paths.checkpoint, paths.pairs, paths.dpo_checkpoint, d.engine_settings(),
                     work_dir=paths.dir / "dpo", echo=echo, objective="dpo", beta=d.beta, nll_weight=d.nll_weight)
    store.replace_round("dpo_steps", round_number, result.steps)
    last = result.steps[-1] if result.steps else {}
    return {"enabled": True, "checkpoint": str(result.checkpoint), "steps": len(result.steps),
            "final_loss": last.get("loss"), "final_reward_margin": last.get("reward_margin"),
            "final_pair_accuracy": last.get("pair_accuracy"), "pairs": result.stats.get("pairs"),
            "tokens": sum(step.get("tokens") or 0 for step in result.steps)}


def checkpoint_loads(path: str) -> tuple[bool, str]:
    """(True, "") when the checkpoint loads with transformers and runs one forward pass."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path)
        ids = tokenizer.apply_chat_template([{"role": "user", "content": "1 + 1"}], add_generation_prompt=True,
                                            return_tensors="pt", return_dict=True)["input_ids"]
        with torch.inference_mode():
            logits = model(input_ids=ids).logits
        if not torch.isfinite(logits).all():
            return False, "forward pass produced non-finite logits"
        return True, ""
    except Exception as error:  # noqa: BLE001 - the check reports any failure
        return False, f"{type(error).__name__}: {error}"

