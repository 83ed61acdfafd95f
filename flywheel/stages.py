"""One function per stage of a round: read inputs, run the stage, write outputs, record rows.

Each reads the round's upstream Parquet files, writes its own atomically, replaces its
rows in DuckDB for that round, and returns a small dict of metadata. Dagster assets are
thin wrappers over these, and tests call them directly.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone

from flywheel.collect import collect_prompts, load_prompts
from flywheel.config import RoundConfig
from flywheel.decontaminate import build_index, decontaminate, hits_summary
from flywheel.dedup import deduplicate
from flywheel.diversity import distinct_n
from flywheel.evaluate import pass_at_1
from flywheel.generate import Generator, SamplingParams
from flywheel.io import RoundPaths, generation_checkpoint, read_parquet, write_parquet_atomic
from flywheel.mix import file_source_examples, mix_sources
from flywheel.schema import (
    EXAMPLE_SCHEMA,
    examples_to_table,
    prompts_to_table,
    samples_to_table,
    table_to_prompts,
    table_to_samples,
    table_to_verdicts,
    verdicts_to_table,
)
from flywheel.select import Policy, judge_samples, select_best_per_prompt
from flywheel.sft.launch import run_sft
from flywheel.stopping import decide
from flywheel.store import Store
from flywheel.verify import verify_samples

GeneratorFactory = Callable[[str], Generator]


def _verifiers(config: RoundConfig) -> dict[str, list[str]]:
    return {domain: config.verifiers.for_domain(domain) for domain in ("math", "code", "general")}


def _checkers(config: RoundConfig) -> dict[str, list[str]]:
    """Verifiers that say right or wrong: the reward model ranks, so held-out pass rates leave it out."""
    return {d: [v for v in names if v != config.selection.reward_verifier] for d, names in _verifiers(config).items()}


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def collect(config: RoundConfig, round_number: int, store: Store) -> dict:
    paths = RoundPaths(config.workdir, round_number)
    prompts = collect_prompts(config.prompts.sources, config.prompts.max_prompts)
    write_parquet_atomic(prompts_to_table(prompts), paths.prompts)
    store.replace_round("prompts", round_number, [
        {**p.model_dump(exclude={"messages", "response"}), "messages": json.dumps([m.model_dump() for m in p.messages])}
        for p in prompts])
    return {"n_prompts": len(prompts), "by_domain": dict(Counter(p.domain for p in prompts))}


def generate(config: RoundConfig, round_number: int, store: Store, make_generator: GeneratorFactory,
             progress: Callable[[int], None] | None = None) -> dict:
    paths = RoundPaths(config.workdir, round_number)
    checkpoint = generation_checkpoint(config.workdir, round_number, config.model.base)
    prompts = table_to_prompts(read_parquet(paths.prompts))
    g = config.generation
    params = SamplingParams(n=g.n, temperature=g.temperature, top_p=g.top_p, max_new_tokens=g.max_new_tokens, seed=g.seed)
    started = _now()
    samples = make_generator(str(checkpoint)).generate(prompts, params, round_number, progress)
    sampling = json.dumps({"backend": g.backend, "n": g.n, "temperature": g.temperature, "top_p": g.top_p,
                           "max_new_tokens": g.max_new_tokens, "seed": g.seed})
    for sample in samples:
        sample.sampling = sampling
    write_parquet_atomic(samples_to_table(samples), paths.samples)
    store.replace_round("samples", round_number, [s.model_dump() for s in samples])
    store.replace_round("rounds", round_number, [{"status": "generated", "generation_checkpoint": str(checkpoint),
                                                  "started_at": started}])
    return {"n_samples": len(samples), "checkpoint": str(checkpoint),
            "n_truncated": sum(s.finish_reason == "length" for s in samples),
            "mean_tokens": sum(s.num_tokens for s in samples) / max(1, len(samples))}


def verify(config: RoundConfig, round_number: int, store: Store) -> dict:
    paths = RoundPaths(config.workdir, round_number)
    prompts = table_to_prompts(read_parquet(paths.prompts))
    samples = table_to_samples(read_parquet(paths.samples))
    verdicts = verify_samples(prompts, samples, _verifiers(config), required=config.verifiers.required,
                              timeout=config.verifiers.timeout_seconds, options=config.verifiers.options)
    write_parquet_atomic(verdicts_to_table(verdicts), paths.verdicts)
    store.replace_round("verdicts", round_number, [v.model_dump() for v in verdicts])
    per_verifier = Counter((v.verifier, v.status, v.passed) for v in verdicts)
    return {"n_verdicts": len(verdicts),
            "by_verifier": {f"{name}/{status}/{'pass' if ok else 'fail'}": n for (name, status, ok), n in per_verifier.items()}}


def select(config: RoundConfig, round_number: int, store: Store) -> dict:
    paths = RoundPaths(config.workdir, round_number)
    prompts = table_to_prompts(read_parquet(paths.prompts))
    accepted, difficulty = judge_samples(table_to_samples(read_parquet(paths.samples)),
                                         table_to_verdicts(read_parquet(paths.verdicts)), prompts, _verifiers(config),
                                         Policy.from_config(config.selection))
    previous = []
    if config.selection.pool_previous_rounds and round_number > 1:
        previous = read_parquet(RoundPaths(config.workdir, round_number - 1).selected).to_pylist()
    selected = select_best_per_prompt(prompts, accepted, config.selection.k, previous,
                                      near_threshold=config.selection.near_duplicate_threshold)
    write_parquet_atomic(examples_to_table(selected), paths.selected)
    store.replace_round("selections", round_number, selected)
    store.replace_round("prompt_difficulty", round_number, difficulty)
    status = Counter(row["status"] for row in difficulty)
    return {"n_accepted": len(accepted), "n_selected_pool": len(selected),
            "pool_by_round": dict(Counter(str(r["origin_round"]) for r in selected)),
            "prompts_all_pass": status["all_pass"], "prompts_none_pass": status["none_pass"]}


def eval_index(config: RoundConfig):
    d = config.decontamination
    return build_index([(e.name, e.path, e.fields) for e in d.eval_sets], d.n, cache_dir=config.workdir / "cache")


def decontaminate_round(config: RoundConfig, round_number: int, store: Store) -> dict:
    """Every training candidate (the pooled selection and each file source): eval overlap, then duplicates."""
    paths = RoundPaths(config.workdir, round_number)
    candidates = read_parquet(paths.selected).to_pylist()
    for source in config.mixture.sources:
        if source.kind == "file":
            candidates.extend(file_source_examples(source))
    d = config.decontamination
    clean, hits = decontaminate(candidates, eval_index(config), rule=d.rule, threshold=d.threshold,
                                check_responses=d.check_responses)
    drops: list[dict] = []
    if config.dedup.enabled:
        previous_file = RoundPaths(config.workdir, round_number - 1).decontaminated
        previous = read_parquet(previous_file).to_pylist() if round_number > 1 and previous_file.exists() else []
        # Earlier rounds first: the first occurrence of a text stays, later copies go.
        clean.sort(key=lambda r: (r["origin_round"] if r["mix_source"] == "selected" else -1, r["example_id"]))
        u = config.dedup
        clean, drops = deduplicate(clean, previous=previous, threshold=u.threshold, num_perm=u.num_perm,
                                   shingle_size=u.shingle_size, near=u.near)
    write_parquet_atomic(examples_to_table(clean), paths.decontaminated)
    store.replace_round("decontamination_hits", round_number, hits)
    store.replace_round("dedup_drops", round_number, drops)
    return {"n_candidates": len(candidates), "n_kept": len(clean),
            "n_dropped_contaminated": len({h["example_id"] for h in hits}), "n_dropped_duplicates": len(drops),
            "hits_per_benchmark": hits_summary(hits), "hits_per_source": hits_summary(hits, "train_mix_source"),
            "duplicates": dict(Counter(d["kind"] for d in drops))}


def remaining_contamination(config: RoundConfig, round_number: int) -> list[dict]:
    """Independent re-scan of the decontaminated output; the asset check expects none."""
    d = config.decontamination
    rows = read_parquet(RoundPaths(config.workdir, round_number).decontaminated, EXAMPLE_SCHEMA).to_pylist()
    return decontaminate(rows, eval_index(config), rule=d.rule, threshold=d.threshold,
                         check_responses=d.check_responses)[1]


def mix(config: RoundConfig, round_number: int, store: Store) -> dict:
    paths = RoundPaths(config.workdir, round_number)
    candidates = read_parquet(paths.decontaminated).to_pylist()
    mixture, manifest = mix_sources(candidates, config.mixture.sources, seed=config.mixture.seed,
                                    round_number=round_number)
    write_parquet_atomic(examples_to_table(mixture), paths.mixture)
    store.replace_round("mixture", round_number, manifest)
    shortfalls = {f"{m['source']}/{m['domain']}": m["shortfall"] for m in manifest if m["shortfall"]}
    return {"n_examples": len(mixture), "by_domain": dict(Counter(r["domain"] for r in mixture)),
            "by_source": {s.name: sum(m["n_taken"] for m in manifest if m["source"] == s.name)
                          for s in config.mixture.sources},
            "quota_shortfalls": shortfalls or None}


def sft(config: RoundConfig, round_number: int, store: Store, echo=print) -> dict:
    paths = RoundPaths(config.workdir, round_number)
    start_from = (config.model.base if config.sft.init_from == "base"
                  else generation_checkpoint(config.workdir, round_number, config.model.base))
    result = run_sft(start_from, paths.mixture, paths.checkpoint, config.sft, work_dir=paths.sft_work, echo=echo)
    store.replace_round("training_steps", round_number, result.steps)
    return {"checkpoint": str(result.checkpoint), "init_from": str(start_from), "steps": len(result.steps),
            "final_loss": result.steps[-1]["loss"] if result.steps else None, **result.stats}


def evaluate(config: RoundConfig, round_number: int, store: Store, make_generator: GeneratorFactory) -> dict:
    paths = RoundPaths(config.workdir, round_number)
    prompts = load_prompts(config.evaluation.path)[: config.evaluation.max_prompts]
    e = config.evaluation
    params = SamplingParams(n=e.n, temperature=e.temperature, top_p=1.0,
                            max_new_tokens=e.max_new_tokens or config.generation.max_new_tokens, seed=config.generation.seed)
    samples = make_generator(str(paths.checkpoint)).generate(prompts, params, round_number)
    verdicts = verify_samples(prompts, samples, _checkers(config), timeout=config.verifiers.timeout_seconds,
                              options=config.verifiers.options)
    write_parquet_atomic(samples_to_table(samples), paths.eval_samples)
    write_parquet_atomic(verdicts_to_table(verdicts), paths.eval_verdicts)
    scores = pass_at_1(prompts, samples, verdicts, _checkers(config))
    store.replace_round("evaluations", round_number, [
        {"domain": domain, **values, "checkpoint": str(paths.checkpoint)} for domain, values in scores.items()])
    return {domain: round(values["pass_at_1"], 4) for domain, values in scores.items()}


def round_metrics(config: RoundConfig, round_number: int, store: Store) -> dict:
    paths = RoundPaths(config.workdir, round_number)
    prompts = table_to_prompts(read_parquet(paths.prompts))
    samples = table_to_samples(read_parquet(paths.samples))
    verdicts = table_to_verdicts(read_parquet(paths.verdicts))
    accepted = judge_samples(samples, verdicts, prompts, _verifiers(config), Policy.from_config(config.selection))[0]
    distinct_2 = distinct_n([s.text for s, _ in accepted], 2) if accepted else None
    _, history_rows = store.query("SELECT round, distinct_2 FROM round_metrics WHERE round < ?", [round_number])
    decision = decide(round_number, distinct_2, {r: d for r, d in history_rows}, config.stopping)
    _, evals = store.query("SELECT pass_at_1 FROM evaluations WHERE round = ? AND domain = 'all'", [round_number])
    difficulty = dict(store.query("SELECT status, count(*) FROM prompt_difficulty WHERE round = ? GROUP BY status",
                                  [round_number])[1])
    _, dropped = store.query("SELECT count(DISTINCT example_id) FROM decontamination_hits WHERE round = ?",
                             [round_number])
    _, steps = store.query("SELECT loss FROM training_steps WHERE round = ? ORDER BY step DESC LIMIT 1", [round_number])
    row = {
        "n_prompts": len(prompts), "n_samples": len(samples), "n_accepted": len(accepted),
        "yield": len(accepted) / max(1, len(samples)),
        "n_selected_pool": read_parquet(paths.selected).num_rows,
        "n_decontaminated_dropped": dropped[0][0],
        "n_deduplicated_dropped": store.query("SELECT count(*) FROM dedup_drops WHERE round = ?", [round_number])[1][0][0],
        "n_train_examples": read_parquet(paths.mixture).num_rows,
        "train_loss": steps[0][0] if steps else None,
        "eval_pass_at_1": evals[0][0] if evals else None,
        "distinct_2": distinct_2,
        "verifier_errors": sum(v.status != "ok" for v in verdicts),
        "n_prompts_all_pass": difficulty.get("all_pass", 0), "n_prompts_none_pass": difficulty.get("none_pass", 0),
        "stop": decision.stop, "stop_reason": decision.reason,
    }
    store.replace_round("round_metrics", round_number, [row])
    _, started = store.query("SELECT generation_checkpoint, started_at FROM rounds WHERE round = ?", [round_number])
    store.replace_round("rounds", round_number, [{
        "status": "finished", "generation_checkpoint": started[0][0] if started else None,
        "checkpoint": str(paths.checkpoint), "started_at": started[0][1] if started else None, "finished_at": _now()}])
    return row



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
