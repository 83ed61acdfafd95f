"""select: keep the best samples per prompt, pooled with the best of earlier rounds.

Policies, per domain:
- ``all_correct``: every sample that finished on its own (never a truncated one) and that
  every verifier of its domain passed with status ``ok``; a domain with no verifiers
  accepts nothing (no evidence is not a pass). Exact and near duplicates among a
  prompt's samples are dropped (normalised text; MinHash of word 5-grams).
- ``best_of_n``: the sample with the highest reward score per prompt, among finished
  samples the reward verifier passed and, optionally, the domain's other verifiers too.
- ``unfiltered``: every finished sample, whatever its verifiers said (none need run), with
  score 0, up to k after duplicates are dropped: no rejection at all, the baseline a filter
  is measured against (benchmarks/bench_ablation.py). Nothing checked its samples, so its
  prompts get no difficulty row (quality control's difficulty rule then leaves them alone).
Combining (``verifiers.combine``, :class:`Combine`): a domain's verifiers make one decision by
``all_of`` (the default, as above), ``any_of`` (Llama 3.1: reward model top quartile OR judge
high; the score is the fraction of verifiers that passed) or ``weighted`` (the sum of weight x
score, against a threshold or the round's top quantile). With a rule set, ``best_of_n`` ranks
the samples the combined decision passed by the reward score. Every judged sample gets a
decision row: which verifiers passed it and which failed it (the ``decisions`` table).
Difficulty: each prompt's pass rate (passing / N) is recorded; prompts every sample
passed are down-weighted (at most ``all_pass_keep`` kept), prompts none passed are
flagged. All stay in the prompt pool for the next round.
Pooling (Llama 2): the pool for round N is the best of rounds 1..N, each example keeping
the round it came from.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from flywheel.round.lineage import StaleInput
from flywheel.records.schema import Prompt, Sample, Verdict, sample_text_hash, training_example
from flywheel.text import folded


@dataclass(frozen=True)
class Combine:
    """How one domain's verifiers make one decision (``verifiers.combine``; plain values)."""

    rule: str = "all_of"  # all_of | any_of | weighted
    weights: dict[str, float] = field(default_factory=dict)
    threshold: float | None = None
    top_quantile: float | None = None

    def weight(self, name: str) -> float:
        return self.weights.get(name, 1.0)


@dataclass(frozen=True)
class Decision:
    passed: bool
    score: float | None
    passed_by: list[str]  # verifiers that passed the sample with status ok
    failed_by: list[str]  # verifiers that failed it, errored, or gave no verdict


def weighted_score(got: dict[str, Verdict], names: list[str], combine: Combine) -> float | None:
    """Sum of weight x score, or None when a verifier gave no ok verdict (no evidence is not a score)."""
    if not all(name in got and got[name].status == "ok" for name in names):
        return None
    return sum(combine.weight(name) * got[name].score for name in names)


def combined_decision(got: dict[str, Verdict], names: list[str], combine: Combine, cut: float | None = None) -> Decision:
    """One domain's decision on one sample from its verifiers' verdicts; ``cut`` is the round's weighted
    top-quantile score (select_round computes it), when the rule uses one."""
    passed_by = [n for n in names if n in got and got[n].status == "ok" and got[n].passed]
    failed_by = [n for n in names if n not in passed_by]
    if not names:
        return Decision(False, None, [], [])
    if combine.rule == "any_of":
        return Decision(bool(passed_by), len(passed_by) / len(names), passed_by, failed_by)
    if combine.rule == "weighted":
        score = weighted_score(got, names, combine)
        bar = combine.threshold if combine.threshold is not None else cut
        return Decision(score is not None and bar is not None and score >= bar, score, passed_by, failed_by)
    scores = [got[n].score for n in names if n in got]
    return Decision(not failed_by, sum(scores) / len(names) if scores else None, passed_by, failed_by)


def top_quantile_cut(scores: list[float], quantile: float) -> float:
    """The lowest score in the top ``quantile`` of ``scores`` (at least one), as the reward model's rule."""
    ranked = sorted(scores, reverse=True)
    return ranked[max(1, round(quantile * len(ranked))) - 1] if ranked else float("inf")


@dataclass(frozen=True)
class Policy:
    """How one round chooses; built from SelectionConfig (plain values, so tests need no config)."""

    policies: dict[str, str]
    reward_verifier: str = "reward_model"
    requires_checker: bool = True
    all_pass_keep: int | None = 1
    combine: dict[str, Combine] = field(default_factory=dict)  # domains with an explicit rule
    cuts: dict[str, float] = field(default_factory=dict)  # weighted top-quantile cut per domain, for the round

    @classmethod
    def from_config(cls, selection, verifiers=None) -> "Policy":
        combine = {domain: Combine(r.rule, dict(r.weights), r.threshold, r.top_quantile)
                   for domain, r in (verifiers.combine.items() if verifiers is not None else ())}
        return cls(dict(selection.policies), selection.reward_verifier, selection.best_of_n_requires_checker,
                   selection.all_pass_keep, combine)

    def rule(self, domain: str) -> Combine:
        return self.combine.get(domain, ALL_OF)


ALL_OF = Combine()


ALL_CORRECT = Policy({})


def _verdicts_by_sample(verdicts: list[Verdict]) -> dict[tuple[str, int], dict[str, Verdict]]:
    by_sample: dict[tuple[str, int], dict[str, Verdict]] = defaultdict(dict)
    for verdict in verdicts:
        by_sample[(verdict.prompt_id, verdict.sample_index)][verdict.verifier] = verdict
    return by_sample


class StaleVerdicts(StaleInput, ValueError):
    """Verdicts judged other texts than the samples they are joined to (samples were regenerated after verify).
    A ``StaleInput``, as every refusal of an out-of-date input is; a ValueError as it always was."""


def check_verdicts_match(samples: list[Sample], verdicts: list[Verdict]) -> None:
    """Refuse verdicts whose recorded sample hash is not that of the sample they would judge."""
    text_hash = {(s.prompt_id, s.sample_index): sample_text_hash(s.text) for s in samples}
    stale = [v for v in verdicts if v.sample_hash is not None
             and text_hash.get((v.prompt_id, v.sample_index)) not in (None, v.sample_hash)]
    if stale:
        first = stale[0]
        raise StaleVerdicts(f"select of round {first.round} refuses stale input: {len(stale)} of {len(verdicts)} "
                            f"verdicts judged other texts than today's samples (first: {first.prompt_id}#"
                            f"{first.sample_index}, {first.verifier}): the samples changed after verification; "
                            f"re-materialize 'verdicts' for round {first.round}")


def _passed(got: dict[str, Verdict], names: list[str]) -> bool:
    return all(name in got and got[name].status == "ok" and got[name].passed for name in names)


def correct_sample_keys(samples: list[Sample], verdicts: list[Verdict], prompts: list[Prompt],
                        verifiers_by_domain: dict[str, list[str]]) -> set[tuple[str, int]]:
    """(prompt id, sample index) of every *correct* sample: it finished on its own and every checking verifier
    of its domain passed it with status ``ok``. What to train on is a separate choice (``judge_samples``)."""
    domain = {p.id: p.domain for p in prompts}
    by_sample = _verdicts_by_sample(verdicts)
    correct = set()
    for sample in samples:
        wanted = verifiers_by_domain.get(domain[sample.prompt_id], [])
        key = (sample.prompt_id, sample.sample_index)
        if wanted and sample.finish_reason == "stop" and _passed(by_sample.get(key, {}), wanted):
            correct.add(key)
    return correct


def judge_samples(samples: list[Sample], verdicts: list[Verdict], prompts: list[Prompt],
                  verifiers_by_domain: dict[str, list[str]], policy: Policy = ALL_CORRECT,
                  decisions: list[dict] | None = None) -> tuple[list[tuple[Sample, float]], list[dict]]:
    """(accepted (sample, score) pairs, one difficulty row per prompt); ``decisions``, when given, gets one
    row per judged sample: the combined decision and the verifiers on each side of it."""
    check_verdicts_match(samples, verdicts)
    domain = {p.id: p.domain for p in prompts}
    by_sample = _verdicts_by_sample(verdicts)
    passing: dict[str, list[tuple[Sample, float]]] = defaultdict(list)
    totals: dict[str, int] = defaultdict(int)
    for sample in samples:
        d = domain[sample.prompt_id]
        totals[sample.prompt_id] += 1
        wanted = verifiers_by_domain.get(d, [])
        got = by_sample.get((sample.prompt_id, sample.sample_index), {})
        finished = sample.finish_reason == "stop"
        if policy.policies.get(d) == "unfiltered":
            if decisions is not None:
                decisions.append({"prompt_id": sample.prompt_id, "sample_index": sample.sample_index, "domain": d,
                                  "rule": "unfiltered", "passed": finished, "finished": finished, "score": 0.0,
                                  "passed_by": [], "failed_by": []})
            if finished:
                passing[sample.prompt_id].append((sample, 0.0))
            continue
        if not wanted:
            continue
        rule = policy.rule(d)
        decision = combined_decision(got, wanted, rule, policy.cuts.get(d))
        if decisions is not None:
            decisions.append({"prompt_id": sample.prompt_id, "sample_index": sample.sample_index, "domain": d,
                              "rule": rule.rule, "passed": decision.passed and finished, "finished": finished,
                              "score": decision.score, "passed_by": decision.passed_by,
                              "failed_by": decision.failed_by})
        if not finished:
            continue
        if policy.policies.get(d, "all_correct") == "best_of_n":
            reward = got.get(policy.reward_verifier)
            if d in policy.combine:  # the combined decision admits, the reward score ranks
                if decision.passed and reward is not None and reward.status == "ok":
                    passing[sample.prompt_id].append((sample, reward.score))
                continue
            checkers = [v for v in wanted if v != policy.reward_verifier] if policy.requires_checker else []
            if _passed(got, [policy.reward_verifier]) and _passed(got, checkers):
                passing[sample.prompt_id].append((sample, reward.score))
        elif decision.passed:
            passing[sample.prompt_id].append((sample, decision.score))
    accepted, difficulty = [], []
    for prompt in prompts:
        chosen = sorted(passing.get(prompt.id, []), key=lambda pair: (-pair[1], pair[0].sample_index))
        n, k = totals.get(prompt.id, 0), len(chosen)
        status = "none_pass" if k == 0 else "all_pass" if k == n else "mixed"
        if policy.policies.get(prompt.domain, "all_correct") == "best_of_n":
            chosen = chosen[:1]
        elif status == "all_pass" and policy.all_pass_keep is not None \
                and policy.policies.get(prompt.domain) != "unfiltered":  # every sample finishing is not easy
            chosen = chosen[: policy.all_pass_keep]  # too easy: little to learn, do not let it dominate
        accepted.extend(chosen)
        if n and policy.policies.get(prompt.domain) != "unfiltered":  # nothing checked it: no pass rate
            difficulty.append({"prompt_id": prompt.id, "domain": prompt.domain, "n_samples": n, "n_passed": k,
                               "pass_rate": k / n, "status": status})
    return accepted, difficulty


def accepted_samples(samples: list[Sample], verdicts: list[Verdict], prompts: list[Prompt],
                     verifiers_by_domain: dict[str, list[str]], policy: Policy = ALL_CORRECT) -> list[tuple[Sample, float]]:
    """(sample, score) for every sample the policy accepts."""
    return judge_samples(samples, verdicts, prompts, verifiers_by_domain, policy)[0]


def select_best_per_prompt(prompts: list[Prompt], accepted: list[tuple[Sample, float]], k: int,
                           previous_pool: list[dict] = (), near_threshold: float | None = None) -> list[dict]:
    """Up to k distinct examples per prompt from this round's accepted samples and the earlier pool.

    Ranked by score, then newest round first, so a tie goes to the fresher checkpoint.
    """
    from flywheel.curation.dedup import deduplicate

    by_id = {p.id: p for p in prompts}
    candidates: dict[str, list[dict]] = defaultdict(list)
    for row in previous_pool:
        candidates[row["prompt_id"]].append(row)
    for sample, score in accepted:
        prompt = by_id[sample.prompt_id]
        candidates[prompt.id].append(training_example(
            prompt, sample.text, example_id=f"r{sample.round}-{prompt.id}-{sample.sample_index}",
            mix_source="pool", origin_round=sample.round, score=score))
    selected = []
    for prompt_id in sorted(candidates):
        seen: set[str] = set()
        ranked = []
        for row in sorted(candidates[prompt_id], key=lambda r: (-r["score"], -r["origin_round"], r["example_id"])):
            key = folded(row["messages"][-1]["content"])
            if key not in seen:
                seen.add(key)
                ranked.append(row)
        if near_threshold is not None and len(ranked) > 1:
            ranked, _ = deduplicate(ranked, threshold=near_threshold)
        selected.extend(ranked[:k])
    return selected
