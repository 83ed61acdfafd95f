"""evaluate: pass@1 of a checkpoint on held-out prompts, per domain, with the round's verifiers.

A held-out prompt counts as solved by a sample when the sample would have been accepted
for training (finished on its own, every verifier of its domain passed). With n samples
per prompt, pass@1 is the mean per-sample success, averaged over prompts.
"""

from __future__ import annotations

from collections import defaultdict

from flywheel.schema import Prompt
from flywheel.select import accepted_samples


def pass_at_1(prompts: list[Prompt], samples, verdicts, verifiers_by_domain: dict[str, list[str]]) -> dict[str, dict]:
    """{domain: {"n_prompts", "pass_at_1"}} plus an ``all`` row over the domains that have verifiers."""
    passed = {(s.prompt_id, s.sample_index) for s, _ in accepted_samples(samples, verdicts, prompts, verifiers_by_domain)}
    per_prompt_total: dict[str, int] = defaultdict(int)
    per_prompt_passed: dict[str, int] = defaultdict(int)
    for sample in samples:
        per_prompt_total[sample.prompt_id] += 1
        per_prompt_passed[sample.prompt_id] += (sample.prompt_id, sample.sample_index) in passed
    by_domain: dict[str, list[float]] = defaultdict(list)
    for prompt in prompts:
        if not verifiers_by_domain.get(prompt.domain) or not per_prompt_total[prompt.id]:
            continue  # a domain without a checker has no pass rate
        by_domain[prompt.domain].append(per_prompt_passed[prompt.id] / per_prompt_total[prompt.id])
    result = {domain: {"n_prompts": len(rates), "pass_at_1": sum(rates) / len(rates)} for domain, rates in by_domain.items()}
    every = [rate for rates in by_domain.values() for rate in rates]
    result["all"] = {"n_prompts": len(every), "pass_at_1": sum(every) / len(every) if every else 0.0}
    return result
