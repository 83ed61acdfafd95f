"""The ``self_consistency`` verifier: an answer passes when most of its prompt's samples say the same thing.

For prompts no checker can prove and no reference answers, the model's own agreement is evidence: a
fact the model knows comes back in most of its N samples, a guess scatters (self-consistency, Wang et
al. 2022; Huang et al. 2022, "Large Language Models Can Self-Improve", trained on the majority-vote
answers of unlabelled questions and kept only those with enough agreement). What an answer *says* is
its claim: its words that the question does not already contain and that are not function words, number
words read as digits (the ``reference_match`` key terms, taken from the answer itself), as a set, so
"Warsaw is the capital of Poland." and "The capital of Poland is Warsaw." make the same claim
(``warsaw``) and "... is Lima." another.

Per prompt, the claims are counted. A sample passes when its claim is not empty, is the single most
common one (a tie is no majority), and at least ``min_agreement`` of the prompt's samples make it. The
score is the share of the prompt's samples that make the sample's claim. No sample can raise its own
share: only other samples that say the same thing do, so an answer cannot steer its verdict by what it
writes (a claim padded with words is a different claim, and agrees with fewer samples).

It reads a prompt's samples together, so it sees them in one batch: verification's chunks end at prompt
boundaries. With fewer than ``min_samples`` samples of a prompt there is no vote; those fail with the
reason. It proves nothing: a model that is consistently wrong passes. Use it for training data where
nothing better exists, never for evaluation.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict

from flywheel.verification.plugins import VerdictResult, VerifyItem
from flywheel_verifiers.reference_match import key_terms, question_of


def claim(question: str, answer: str) -> frozenset[str]:
    """What the answer says beyond the question: its key terms (reference_match.key_terms), as a set."""
    return frozenset(key_terms(question, answer))


class SelfConsistencyVerifier:
    name = "self_consistency"
    domains = ("general",)

    def __init__(self, min_agreement: float = 0.5, min_samples: int = 3):
        if not 0 < min_agreement <= 1:
            raise ValueError(f"min_agreement is a share of a prompt's samples, in (0, 1]; got {min_agreement}")
        if min_samples < 2:
            raise ValueError(f"min_samples must be at least 2 (one sample cannot agree with another); got {min_samples}")
        self.min_agreement, self.min_samples = min_agreement, min_samples

    def verify_batch(self, items: list[VerifyItem]) -> list[VerdictResult]:
        started = time.perf_counter()
        claims: list[frozenset[str]] = []
        by_prompt: dict[str, list[int]] = defaultdict(list)
        for position, item in enumerate(items):
            claims.append(claim(question_of(item.prompt), item.sample.text))
            by_prompt[item.prompt.id].append(position)
        results: list[VerdictResult | None] = [None] * len(items)
        cost = (time.perf_counter() - started) / max(1, len(items))
        for prompt_id, positions in by_prompt.items():
            counts = Counter(claims[p] for p in positions if claims[p])
            ranked = counts.most_common(2)
            majority = ranked[0][0] if ranked and (len(ranked) == 1 or ranked[0][1] > ranked[1][1]) else None
            total = len(positions)
            for p in positions:
                share = counts.get(claims[p], 0) / total if claims[p] else 0.0
                said = ", ".join(sorted(claims[p])) or "nothing beyond the question"
                if total < self.min_samples:
                    passed, reason = False, f"{total} sample(s) of {prompt_id}: fewer than {self.min_samples} to vote"
                elif not claims[p]:
                    passed, reason = False, "says nothing beyond the question"
                elif claims[p] != majority:
                    passed, reason = False, (f"says {said} ({share:.0%} of {total}); " + (
                        "no single answer has the most samples" if majority is None else
                        f"most samples say {', '.join(sorted(majority))}"))
                elif share < self.min_agreement:
                    passed, reason = False, f"says {said}, as only {share:.0%} of {total} samples do (< {self.min_agreement:.0%})"
                else:
                    passed, reason = True, f"says {said}, as {share:.0%} of {total} samples do"
                results[p] = VerdictResult(passed, share, reason, cost_seconds=cost,
                                           details={"claim": sorted(claims[p]), "agreement": round(share, 4),
                                                    "samples": total})
        return results  # type: ignore[return-value]
