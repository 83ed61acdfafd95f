"""Warnings that steer: a round that ran but cannot have done what the user wanted, said in words.

Each is computed from the round's own rows (samples, verdicts, accepted samples) and the config,
so a reader can recompute it in SQL. They go to ``round_metrics.warnings``, the round_metrics
asset's metadata and the console:

- most samples stopped at ``max_new_tokens`` (more than ``TRUNCATED_WARNING``);
- a domain whose samples were judged and none accepted (yield 0);
- ``best_of_n`` for a domain whose verifiers do not include the reward verifier that ranks it;
- ``unfiltered`` for a domain with samples: they entered the pool unchecked.
References a verifier cannot read are not a warning here: the preflight (flywheel.preflight) stops
the round on them before it starts.
A yield of 0 in every domain also stops the loop (``stopping.stop_on_zero_yield``): another round
from the same checkpoint would train on nothing new.
"""

from __future__ import annotations

from flywheel.config import DOMAINS, RoundConfig
from flywheel.store.database import Store

TRUNCATED_WARNING = 0.5


def round_warnings(config: RoundConfig, round_number: int, store: Store) -> list[str]:
    def rows(sql: str) -> list[tuple]:
        return store.query(sql, [round_number])[1]

    warnings = []
    (truncated, total), = rows("SELECT count(*) FILTER (WHERE finish_reason = 'length'), count(*) FROM samples "
                               "WHERE round = ?")
    if total and truncated / total > TRUNCATED_WARNING:
        warnings.append(f"{truncated} of {total} samples ({truncated / total:.0%}) stopped at max_new_tokens "
                        f"({config.generation.max_new_tokens}): raise generation.max_new_tokens, or check that the "
                        "model ends its turns (its chat template's end-of-turn token)")
    per_domain = rows("SELECT p.domain, count(*), count(a.prompt_id), count(*) FILTER (WHERE s.finish_reason = "
                      "'stop') FROM samples s JOIN prompts p "
                      "ON p.id = s.prompt_id AND p.round = s.round LEFT JOIN accepted_samples a ON a.round = s.round "
                      "AND a.prompt_id = s.prompt_id AND a.sample_index = s.sample_index WHERE s.round = ? "
                      "GROUP BY p.domain ORDER BY p.domain")
    for domain, n, accepted, finished in per_domain:
        if accepted == 0:
            names = config.verifiers.for_domain(domain)
            why = ("it has no verifiers" if not names else "every one stopped at max_new_tokens" if not finished
                   else f"{', '.join(names)} passed none of the {finished} that finished")
            warnings.append(f"domain {domain}: yield 0 (0 of {n} samples accepted; {why})")
    reward = config.selection.reward_verifier
    for domain in DOMAINS:
        if config.selection.policies.get(domain) == "best_of_n" and reward not in config.verifiers.for_domain(domain) \
                and any(row[0] == domain for row in per_domain):
            warnings.append(f"selection.policies.{domain} is best_of_n, but verifiers.{domain} does not list "
                            f"{reward!r} (selection.reward_verifier), which ranks it: nothing can be chosen")
        if config.selection.policies.get(domain) == "unfiltered" and any(row[0] == domain for row in per_domain):
            warnings.append(f"selection.policies.{domain} is unfiltered: every finished {domain} sample enters the "
                            "pool whatever its verifiers said (an ablation's baseline, not a training recipe)")
    return warnings


def zero_yield_everywhere(store: Store, round_number: int) -> bool:
    (samples, accepted), = store.query("SELECT (SELECT count(*) FROM samples WHERE round = ?), "
                                       "(SELECT count(*) FROM accepted_samples WHERE round = ?)",
                                       [round_number, round_number])[1]
    return samples > 0 and accepted == 0
