"""evaluate: pass@1 and pass@k of a checkpoint, per domain, with the round's verifiers.

A sample is correct when it finished on its own and every checking verifier of its
domain passed it (``select.correct_sample_keys``): every correct sample counts, whatever
the training selection later keeps of it. With n samples per prompt and c of them correct, pass@k is the unbiased estimator of Chen et al.
(2021), 1 - C(n-c, k) / C(n, k), averaged over prompts; pass@1 is then the mean c/n.
The same scores on training prompts give the train/test gap.
"""

from __future__ import annotations

from collections import defaultdict
from math import comb

from flywheel.records.schema import Prompt
from flywheel.curation.policies import correct_sample_keys


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn without replacement from n is correct."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n (n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def correct_counts(prompts: list[Prompt], samples, verdicts, verifiers_by_domain: dict[str, list[str]]
                   ) -> dict[str, tuple[int, int]]:
    """{prompt id: (n samples, n correct)} for prompts whose domain has a checking verifier."""
    passed = correct_sample_keys(samples, verdicts, prompts, verifiers_by_domain)
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for sample in samples:
        totals[sample.prompt_id][0] += 1
        totals[sample.prompt_id][1] += (sample.prompt_id, sample.sample_index) in passed
    return {p.id: tuple(totals[p.id]) for p in prompts if verifiers_by_domain.get(p.domain) and totals[p.id][0]}


def evaluation_scores(prompts: list[Prompt], samples, verdicts, verifiers_by_domain: dict[str, list[str]],
                      k: int) -> dict[str, dict]:
    """{domain: {n_prompts, n_samples_per_prompt, pass_at_1, pass_at_k, k}} plus an ``all`` row.

    ``k`` is capped at the number of samples per prompt.
    """
    counts = correct_counts(prompts, samples, verdicts, verifiers_by_domain)
    domain_of = {p.id: p.domain for p in prompts}
    by_domain: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for prompt_id, (n, c) in counts.items():
        by_domain[domain_of[prompt_id]].append((n, c))
    by_domain["all"] = [nc for rows in list(by_domain.values()) for nc in rows]
    result = {}
    for domain, rows in by_domain.items():
        n_min = min((n for n, _ in rows), default=1)
        k_used = max(1, min(k, n_min))
        result[domain] = {
            "n_prompts": len(rows),
            "n_samples_per_prompt": n_min if rows else 0,
            "pass_at_1": sum(c / n for n, c in rows) / len(rows) if rows else 0.0,
            "pass_at_k": sum(pass_at_k(n, c, k_used) for n, c in rows) / len(rows) if rows else 0.0,
            "k": k_used,
        }
    return result
