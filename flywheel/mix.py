"""mix: build the training set from weighted sources.

Sources are this round's pooled selection (which already carries the best of earlier
rounds) and files of demonstrations (seed or human data, read with collect's formats).
A weight of 1.0 takes every example once, 0.5 a seeded half, 2.0 every example twice.
The draw is deterministic for a given seed, and a manifest row per (source, domain)
records what was available and what was taken.
"""

from __future__ import annotations

import random
from collections import Counter

from flywheel.collect import load_prompts
from flywheel.schema import conversation


class MixtureError(ValueError):
    pass


def file_source_examples(source) -> list[dict]:
    """Demonstrations from a file: every row must carry an answer (the last assistant turn)."""
    rows = []
    for prompt in load_prompts(source.path, fmt=source.format, domain=source.domain):
        if prompt.response is None:
            raise MixtureError(f"{prompt.source}: mixture source {source.name!r} row has no assistant answer to train on")
        rows.append({
            "example_id": f"{source.name}-{prompt.id}",
            "prompt_id": prompt.id,
            "domain": prompt.domain,
            "messages": conversation(prompt, prompt.response),
            "source": prompt.source,
            "mix_source": source.name,
            "origin_round": 0,
            "score": 1.0,
        })
    return rows


def weighted_draw(rows: list[dict], weight: float, rng: random.Random) -> list[dict]:
    whole, fraction = int(weight), weight - int(weight)
    drawn = [row for _ in range(whole) for row in rows]
    if fraction > 0 and rows:
        drawn += rng.sample(rows, round(fraction * len(rows)))
    return drawn


def mix_sources(candidates: list[dict], sources, *, seed: int, round_number: int) -> tuple[list[dict], list[dict]]:
    """(training examples, manifest rows). ``candidates`` are decontaminated rows tagged by mix_source."""
    by_source: dict[str, list[dict]] = {s.name: [] for s in sources}
    for row in candidates:
        if row["mix_source"] not in by_source:
            raise MixtureError(f"example {row['example_id']} names unknown mixture source {row['mix_source']!r}")
        by_source[row["mix_source"]].append(row)
    rng = random.Random(seed * 1_000_003 + round_number)
    mixture, manifest = [], []
    for source in sources:
        rows = sorted(by_source[source.name], key=lambda r: r["example_id"])
        drawn = weighted_draw(rows, source.weight, rng)
        available, taken = Counter(r["domain"] for r in rows), Counter(r["domain"] for r in drawn)
        for domain in sorted(set(available) | set(taken)) or ["-"]:
            manifest.append({"round": round_number, "source": source.name, "domain": domain,
                             "weight": source.weight, "n_available": available.get(domain, 0),
                             "n_taken": taken.get(domain, 0)})
        mixture.extend(drawn)
    rng.shuffle(mixture)
    return mixture, manifest
