"""The stages that judge a round: evaluation, diversity, and round metrics with the stop decision.

Round 0 is the starting model: its ``evaluate`` scores the checkpoint round 1 generates
with (the base model, or the seed-SFT model when the config has a seed round), so every
later round has a baseline.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from flywheel.collect import load_prompts
from flywheel.config import RoundConfig
from flywheel.diversity import diversity_metrics
from flywheel.evaluate import evaluation_scores
from flywheel.generation import SamplingParams, close_generator, kept
from flywheel.io import RoundPaths, generation_checkpoint, read_parquet, write_parquet_atomic
from flywheel.schema import EVAL_SAMPLE_SCHEMA, EVAL_VERDICT_SCHEMA, table_to_prompts
from flywheel.report import write_report
from flywheel.stage_registry import Check, Image, Input, seed_round_only
from flywheel.stage_runs import checkers_by_domain, stage, timed, verifier_files
from flywheel import stage_views as views
from flywheel.round_warnings import round_warnings, zero_yield_everywhere
from flywheel.stopping import StopDecision, decide
from flywheel.store import Store
from flywheel.tracking import log_round
from flywheel.verify import verify_samples


def evaluated_checkpoint(config: RoundConfig, round_number: int) -> str:
    if round_number == 0:  # the starting model: the base model, or the seed-SFT model round 1 generates with
        return str(generation_checkpoint(config.workdir, 1, config.model.base, config.seed_round))
    return str(RoundPaths(config.workdir, round_number).final_checkpoint(config.dpo.enabled))


def _train_subset(config: RoundConfig, round_number: int, count: int):
    """A fixed, hash-ordered subset of the round's training prompts (the same ids every round)."""
    path = RoundPaths(config.workdir, max(1, round_number)).prompts
    if count == 0 or not path.exists():
        return []
    prompts = table_to_prompts(read_parquet(path))
    return sorted(prompts, key=lambda p: hashlib.sha256(p.id.encode()).hexdigest())[:count]


class _GeneratorPerCheckpoint:
    """One generator per checkpoint for the whole evaluation: the held-out and train splits score the same
    checkpoint, and each new generator of a server backend is a `vllm serve` start (27 s for the tiny model here,
    minutes for an 8B one). When the evaluation succeeds, the generator of ``keep_for_next_round`` (the checkpoint
    the next round generates with) is kept for that generation (flywheel.generation.kept); the others are closed,
    and all of them when it fails."""

    def __init__(self, make_generator, generation=None, keep_for_next_round: str | None = None):
        self._make, self._made = make_generator, {}
        self._generation, self._keep = generation, keep_for_next_round
        self.parts = {"start": 0.0, "stop": 0.0}  # engines brought up and down, apart from the scoring

    def __call__(self, checkpoint: str):
        if checkpoint not in self._made:
            with timed(self.parts, "start"):
                self._made[checkpoint] = self._make(checkpoint)
        return self._made[checkpoint]

    def __enter__(self):
        return self

    def __exit__(self, error_type, *exc) -> None:
        for checkpoint, generator in self._made.items():
            if error_type is None and checkpoint == self._keep and self._generation is not None:
                kept.keep(checkpoint, self._generation, generator)
            else:
                with timed(self.parts, "stop"):
                    close_generator(generator)
        self._made.clear()


def _score(config: RoundConfig, prompts, checkpoint: str, round_number: int, generators: _GeneratorPerCheckpoint):
    e = config.evaluation
    params = SamplingParams(n=e.n, temperature=e.temperature, top_p=1.0,
                            max_new_tokens=e.max_new_tokens or config.generation.max_new_tokens,
                            seed=config.generation.seed)
    checkers = checkers_by_domain(config)
    samples = generators(checkpoint).generate(prompts, params, round_number)
    verdicts = verify_samples(prompts, samples, checkers, timeout=config.verifiers.timeout_seconds,
                              options=config.verifier_options())
    scores = evaluation_scores(prompts, samples, verdicts, checkers, k=e.k)
    domain_of = {p.id: p.domain for p in prompts}
    rows = ([{**s.model_dump(), "domain": domain_of[s.prompt_id]} for s in samples], [v.model_dump() for v in verdicts])
    return scores, sum(s.num_tokens for s in samples), rows


def _no_eval_regression(config: RoundConfig, round_number: int, store: Store, result: dict) -> tuple[bool, dict]:
    now, before = result["pass_at_1/all"], previous_eval_pass_at_1(store, round_number)
    return before is None or now >= before, {"pass_at_1": now,
                                             "previous_pass_at_1": before if before is not None else "none"}


@stage("evaluate", "evaluation", "Held-out pass@1/pass@k per domain and the train/test gap. Partition 0 scores the "
       "starting model.", inputs=(Input("sft", when=lambda c, r: r > 0 or c.seed_round),
                                  Input("dpo", when=lambda c, r: r > 0 and c.dpo.enabled)),
       sections=("evaluation", "generation", "verifiers", "sandbox", "selection"),
       files=lambda c, r: [c.evaluation.path] + ([c.model.base] if r == 0 else []) + verifier_files(c),
       in_round_zero=lambda seed_round: True, resources=("generator", "sandbox"),
       views=lambda c, r, db, result: {"pass_at_1_by_domain": views.pass_at_1_by_domain(db, r)},
       checks=(Check("no_eval_regression", "Held-out pass@1 is not below the previous round's.", _no_eval_regression,
                     warn=True),))
def evaluate(config: RoundConfig, round_number: int, store: Store, make_generator) -> dict:
    """Held-out pass@1/pass@k per domain, and the same on training prompts for the train/test gap."""
    paths = RoundPaths(config.workdir, round_number)
    checkpoint = evaluated_checkpoint(config, round_number)
    heldout = load_prompts(config.evaluation.path)[: config.evaluation.max_prompts]
    # the checkpoint evaluated here is the one round N+1 generates with
    with _GeneratorPerCheckpoint(make_generator, config.generation, keep_for_next_round=checkpoint) as generators:
        scores, tokens, per_sample = _score(config, heldout, checkpoint, round_number, generators)
        rows = [{"split": "heldout", "domain": d, **v, "checkpoint": checkpoint} for d, v in scores.items()]
        sample_rows = [{**r, "split": "heldout"} for r in per_sample[0]]
        verdict_rows = [{**r, "split": "heldout"} for r in per_sample[1]]
        train = _train_subset(config, round_number, config.evaluation.train_prompts)
        train_scores = {}
        splits = []
        if train:
            splits.append(("train", train, checkpoint))
        if round_number == 0 and config.seed_round:
            # Round 0 scores the seed-SFT model; the base model it started from is reported beside it.
            splits.append(("base_model", heldout, str(config.model.base)))
        for split, prompts, scored_checkpoint in splits:
            split_scores, split_tokens, per_sample = _score(config, prompts, scored_checkpoint, round_number,
                                                            generators)
            tokens += split_tokens
            train_scores = split_scores if split == "train" else train_scores
            rows += [{"split": split, "domain": d, **v, "checkpoint": scored_checkpoint} for d, v in split_scores.items()]
            sample_rows += [{**r, "split": split} for r in per_sample[0]]
            verdict_rows += [{**r, "split": split} for r in per_sample[1]]
    store.replace_round("evaluations", round_number, rows)
    # Every split's rows, in one file per kind: the eval_samples / eval_verdicts views read them.
    write_parquet_atomic(pa.Table.from_pylist(sample_rows, schema=EVAL_SAMPLE_SCHEMA), paths.eval_samples)
    write_parquet_atomic(pa.Table.from_pylist(verdict_rows, schema=EVAL_VERDICT_SCHEMA), paths.eval_verdicts)
    store.attach_parquet("eval_samples", round_number, paths.eval_samples)
    store.attach_parquet("eval_verdicts", round_number, paths.eval_verdicts)
    result = {f"pass_at_1/{d}": round(v["pass_at_1"], 4) for d, v in scores.items()}
    result[f"pass_at_{scores['all']['k']}/all"] = round(scores["all"]["pass_at_k"], 4)
    if train_scores:
        result["train_test_gap/all"] = round(train_scores["all"]["pass_at_1"] - scores["all"]["pass_at_1"], 4)
    return {**result, "checkpoint": checkpoint, "tokens": tokens, "parts": generators.parts}


@stage("diversity", "diversity", "Diversity of accepted and evaluation samples: distinct-n, self-BLEU, gzip, "
       "embedding Vendi.", inputs=(Input("select", when=lambda c, r: r > 0), Input("evaluate")),
       in_round_zero=seed_round_only, beside_kept_generator=True)
def measure_diversity(config: RoundConfig, round_number: int, store: Store) -> dict:
    """Diversity of the round's accepted samples and of its held-out evaluation samples."""
    paths = RoundPaths(config.workdir, round_number)
    _, accepted = store.query(
        "SELECT s.text FROM accepted_samples a JOIN samples s ON s.round = a.round AND s.prompt_id = a.prompt_id "
        "AND s.sample_index = a.sample_index WHERE a.round = ? ORDER BY a.prompt_id, a.sample_index", [round_number])
    populations = {"accepted": [text for (text,) in accepted]}
    if paths.eval_samples.exists():
        evaluated = read_parquet(paths.eval_samples)
        populations["evaluation"] = evaluated.filter(pc.equal(evaluated.column("split"), "heldout")).column(
            "text").to_pylist()
    rows = [{"population": name, **diversity_metrics(texts, seed=config.generation.seed)}
            for name, texts in populations.items()]
    store.replace_round("diversity", round_number, rows)
    return {f"{row['population']}/{metric}": round(row[metric], 4) for row in rows
            for metric in ("distinct_2", "self_bleu", "embedding_vendi") if row[metric] is not None}


def _series(store: Store, sql: str, params: list) -> dict[int, float | None]:
    return {r: v for r, v in store.query(sql, params)[1]}


def _round_chart(config: RoundConfig, round_number: int, store: Store, result: dict) -> dict:
    _, chart = write_report(config.workdir)
    return {"stop_reason": f"**{'STOP' if result['stop'] else 'CONTINUE'}**: {result['stop_reason']}",
            "chart": Image(chart, "round over round"), "chart_path": chart,
            "duckdb_path": Path(store.path)}  # flywheel launch prints the table from it


@stage("round_metrics", "round_metrics", "Round-over-round metrics and the stopping decision.",
       inputs=(Input("evaluate"), Input("diversity"), Input("round_metrics", 1, when=lambda c, r: r > 1)),
       sections=("stopping",), views=_round_chart, beside_kept_generator=True)
def round_metrics(config: RoundConfig, round_number: int, store: Store) -> dict:
    paths = RoundPaths(config.workdir, round_number)

    def one(sql: str) -> list[tuple]:  # one-line lookups below
        return store.query(sql, [round_number])[1]

    s = config.stopping
    diversity = _series(store, f"SELECT round, {s.diversity_metric} FROM diversity WHERE population = ? AND round <= ?",
                        [s.diversity_population, round_number])
    evals = _series(store, "SELECT round, pass_at_1 FROM evaluations WHERE split = 'heldout' AND domain = 'all' "
                           "AND round <= ?", [round_number])
    decision = decide(round_number, diversity, evals, s)
    warnings = round_warnings(config, round_number, store)
    if s.stop_on_zero_yield and zero_yield_everywhere(store, round_number):
        decision = StopDecision(True, "yield 0 in every domain: nothing was accepted, so another round from this "
                                      "checkpoint trains on nothing new (see round_metrics.warnings)")
    n_samples = one("SELECT count(*) FROM samples WHERE round = ?")[0][0]
    n_accepted = one("SELECT count(*) FROM accepted_samples WHERE round = ?")[0][0]
    evaluation = dict(((split, col), v) for split, col, v in store.query(
        "SELECT split, 'pass_at_1', pass_at_1 FROM evaluations WHERE round = ? AND domain = 'all' UNION ALL "
        "SELECT split, 'pass_at_k', pass_at_k FROM evaluations WHERE round = ? AND domain = 'all'",
        [round_number, round_number])[1])
    difficulty = dict(one("SELECT status, count(*) FROM prompt_difficulty WHERE round = ? GROUP BY status"))
    accepted_distinct_2 = one("SELECT distinct_2 FROM diversity WHERE round = ? AND population = 'accepted'")
    steps = one("SELECT loss FROM training_steps WHERE round = ? ORDER BY step DESC LIMIT 1")
    row = {
        "n_prompts": one("SELECT count(*) FROM prompts WHERE round = ?")[0][0],
        "n_samples": n_samples, "n_accepted": n_accepted, "yield": n_accepted / max(1, n_samples),
        "n_selected_pool": read_parquet(paths.selected).num_rows,
        "n_decontaminated_dropped": one("SELECT count(DISTINCT example_id) FROM decontamination_hits WHERE round = ?")[0][0],
        "n_deduplicated_dropped": one("SELECT count(*) FROM dedup_drops WHERE round = ?")[0][0],
        "n_train_examples": read_parquet(paths.mixture).num_rows,
        "train_loss": steps[0][0] if steps else None,
        "eval_pass_at_1": evaluation.get(("heldout", "pass_at_1")),
        "eval_pass_at_k": evaluation.get(("heldout", "pass_at_k")),
        "train_pass_at_1": evaluation.get(("train", "pass_at_1")),
        "distinct_2": accepted_distinct_2[0][0] if accepted_distinct_2 else None,
        "diversity_metric": f"{s.diversity_population}/{s.diversity_metric}",
        "diversity_value": diversity.get(round_number),
        "verifier_errors": one("SELECT count(*) FROM verdicts WHERE round = ? AND status <> 'ok'")[0][0],
        # Verdicts a wall-clock deadline decided (the only ones load could change), over the round's
        # training and evaluation verdicts.
        **_timeouts(store, round_number),
        **_judge_cost(store, round_number),
        "n_prompts_all_pass": difficulty.get("all_pass", 0), "n_prompts_none_pass": difficulty.get("none_pass", 0),
        "stop": decision.stop, "stop_reason": decision.reason, "warnings": warnings,
    }
    store.replace_round("round_metrics", round_number, [row])
    tracked = log_round(config, round_number, store)  # SFT steps and round metrics, from the rows just written
    return {**row, "tracking": tracked} if tracked else row


def _timeouts(store: Store, round_number: int) -> dict:
    (timeouts, total), = store.query(
        "SELECT count(*) FILTER (WHERE status = 'timeout'), count(*) FROM (SELECT status FROM verdicts WHERE round = ? "
        "UNION ALL SELECT status FROM eval_verdicts WHERE round = ?)", [round_number, round_number])[1]
    return {"verifier_timeouts": timeouts, "timeout_rate": timeouts / total if total else 0.0}


def _judge_cost(store: Store, round_number: int) -> dict:
    """Tokens a judge verifier (llm_judge) recorded in its verdicts' details, and their estimated price, over
    the round's training and evaluation verdicts; a cached reply counts what it cost when it was made."""
    (prompt_tokens, completion_tokens, usd), = store.query(
        "SELECT sum(CAST(json_extract(details, '$.prompt_tokens') AS BIGINT)), "
        "sum(CAST(json_extract(details, '$.completion_tokens') AS BIGINT)), "
        "sum(CAST(json_extract(details, '$.cost_usd') AS DOUBLE)) "
        "FROM (SELECT details FROM verdicts WHERE round = ? UNION ALL SELECT details FROM eval_verdicts WHERE round = ?) "
        "WHERE details IS NOT NULL AND json_extract(details, '$.prompt_tokens') IS NOT NULL",
        [round_number, round_number])[1]
    return {"judge_prompt_tokens": prompt_tokens or 0, "judge_completion_tokens": completion_tokens or 0,
            "judge_cost_usd": usd or 0.0}


def previous_eval_pass_at_1(store: Store, round_number: int) -> float | None:
    """Held-out pass@1 of the round before (round 0 included), for the regression check."""
    rows = store.query("SELECT pass_at_1 FROM evaluations WHERE split = 'heldout' AND domain = 'all' AND round = ?",
                       [round_number - 1])[1]
    return rows[0][0] if rows else None
