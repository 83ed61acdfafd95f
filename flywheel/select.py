"""select: keep up to k passing samples per prompt, pooled with the best of earlier rounds.

A sample is accepted when it finished on its own (not truncated), and every verifier its
domain names passed it with status ``ok``. A domain with no verifiers accepts nothing:
no evidence is not a pass. Exact duplicates (after whitespace and case folding) are
dropped. Llama 2 regressed when it kept only the latest round, so the pool for round N is
the best of rounds 1..N, each example keeping the round it came from.
"""

from __future__ import annotations

import re
from collections import defaultdict

from flywheel.schema import Prompt, Sample, Verdict, conversation


def normalized_text(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def accepted_samples(samples: list[Sample], verdicts: list[Verdict], prompts: list[Prompt],
                     verifiers_by_domain: dict[str, list[str]]) -> list[tuple[Sample, float]]:
    """(sample, mean score) for every sample that passed all of its domain's verifiers."""
    domain = {p.id: p.domain for p in prompts}
    by_sample: dict[tuple[str, int], dict[str, Verdict]] = defaultdict(dict)
    for verdict in verdicts:
        by_sample[(verdict.prompt_id, verdict.sample_index)][verdict.verifier] = verdict
    accepted = []
    for sample in samples:
        wanted = verifiers_by_domain.get(domain[sample.prompt_id], [])
        got = by_sample.get((sample.prompt_id, sample.sample_index), {})
        if sample.finish_reason != "stop" or not wanted:
            continue
        if all(name in got and got[name].status == "ok" and got[name].passed for name in wanted):
            accepted.append((sample, sum(got[n].score for n in wanted) / len(wanted)))
    return accepted


def select_best_per_prompt(prompts: list[Prompt], accepted: list[tuple[Sample, float]], k: int,
                           previous_pool: list[dict] = ()) -> list[dict]:
    """Up to k distinct examples per prompt from this round's accepted samples and the earlier pool.

    Ranked by score, then newest round first, so a tie goes to the fresher checkpoint.
    """
    by_id = {p.id: p for p in prompts}
    candidates: dict[str, list[dict]] = defaultdict(list)
    for row in previous_pool:
        candidates[row["prompt_id"]].append(row)
    for sample, score in accepted:
        prompt = by_id[sample.prompt_id]
        candidates[prompt.id].append({
            "example_id": f"r{sample.round}-{prompt.id}-{sample.sample_index}",
            "prompt_id": prompt.id,
            "domain": prompt.domain,
            "messages": conversation(prompt, sample.text),
            "source": prompt.source,
            "mix_source": "selected",
            "origin_round": sample.round,
            "score": score,
        })
    selected = []
    for prompt_id in sorted(candidates):
        seen: set[str] = set()
        ranked = sorted(candidates[prompt_id], key=lambda r: (-r["score"], -r["origin_round"], r["example_id"]))
        kept = 0
        for row in ranked:
            key = normalized_text(row["messages"][-1]["content"])
            if key in seen or kept >= k:
                continue
            seen.add(key)
            selected.append(row)
            kept += 1
    return selected
