"""evaluate: held-out pass@1/pass@k per domain and the train/test gap.

Round 0 is the starting model: its ``evaluate`` scores the checkpoint round 1 generates
with (the base model, or the seed-SFT model when the config has a seed round), so every
later round has a baseline."""

from __future__ import annotations

from flywheel.round import views
from flywheel.config import RoundConfig
from flywheel.generation import SamplingParams, close_generator
from flywheel.records.files import read_parquet, write_parquet_atomic
from flywheel.round.layout import RoundPaths, generation_checkpoint
from flywheel.records.schema import (
    table_to_prompts,
)
from flywheel.round.registry import Check, Input
from flywheel.round.runs import stage, timed, verifier_files
from flywheel.store.database import Store
import hashlib
import pyarrow as pa
from flywheel.prompts.formats import load_prompts
from flywheel.measures.evaluation import evaluation_scores
from flywheel.generation import kept
from flywheel.records.schema import EVAL_SAMPLE_SCHEMA, EVAL_VERDICT_SCHEMA
from flywheel.round.runs import checkers_by_domain
from flywheel.verification.plugins import verify_samples


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


def _general_heldout(general) -> list:
    """The general split's prompts, each with its reference answer (a row's last assistant turn when it has no
    ``reference``); a row without a domain is a general one."""
    prompts = load_prompts(general.path, domain="general")[: general.max_prompts]
    return [p if p.reference or not p.response else p.model_copy(update={"reference": p.response}) for p in prompts]


def _score(config: RoundConfig, prompts, checkpoint: str, round_number: int, generators: _GeneratorPerCheckpoint,
           checkers: dict[str, list[str]] | None = None):
    """Scores per domain, tokens generated, and the sample and verdict rows; ``checkers`` are the verifiers per domain
    (the training domains' checkers unless given)."""
    e = config.evaluation
    params = SamplingParams(n=e.n, temperature=e.temperature, top_p=1.0,
                            max_new_tokens=e.max_new_tokens or config.generation.max_new_tokens,
                            seed=config.generation.seed)
    checkers = checkers if checkers is not None else checkers_by_domain(config)
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
       files=lambda c, r: [c.evaluation.path] + ([c.evaluation.general.path] if c.evaluation.general else [])
       + ([c.model.base] if r == 0 else []) + verifier_files(c),
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
        general = config.evaluation.general
        if general is not None:  # scored by its own verifier alone, which no training domain uses
            splits.append(("heldout_general", _general_heldout(general), checkpoint))
        for split, prompts, scored_checkpoint in splits:
            checkers = {"general": [general.verifier]} if split == "heldout_general" else None
            split_scores, split_tokens, per_sample = _score(config, prompts, scored_checkpoint, round_number,
                                                            generators, checkers)
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
    general_rows = [r for r in rows if r["split"] == "heldout_general" and r["domain"] == "general"]
    if general_rows:
        result["heldout_general/pass_at_1"] = round(general_rows[0]["pass_at_1"], 4)
    return {**result, "checkpoint": checkpoint, "tokens": tokens, "parts": generators.parts}


def previous_eval_pass_at_1(store: Store, round_number: int) -> float | None:
    """Held-out pass@1 of the round before (round 0 included), for the regression check."""
    rows = store.query("SELECT pass_at_1 FROM evaluations WHERE split = 'heldout' AND domain = 'all' AND round = ?",
                       [round_number - 1])[1]
    return rows[0][0] if rows else None
