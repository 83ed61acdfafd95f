"""mix: build the training set from weighted sources, deterministically for a seed.

Per source, in order:
1. rows: ``pool_this_round`` takes the examples the pool got this round, ``pool_earlier_rounds`` the
   earlier rounds' (each weighted by ``decay`` per round of age), ``file`` a demonstrations file;
2. draw: a per-domain quota takes that many distinct examples of the domain; otherwise
   ``weight`` takes whole copies plus a seeded fraction;
3. ``topic_quota`` (the pool kinds only) keeps at most that many of the draw per quality topic, a
   seeded choice within each topic that has more: Llama 3.1's rebalancing by topic;
4. ``cap`` bounds the distinct examples, then ``epochs`` repeats them.
A quota the source cannot fill is reported in the manifest (``shortfall``), never padded
by repeating what is there. One manifest row per (source, domain), and one ``topic_manifest``
row per (pool source, topic).
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict

from flywheel.config.data import POOL_ROW_SOURCES
from flywheel.prompts.formats import load_prompts
from flywheel.records.schema import training_example


class MixtureError(ValueError):
    pass


def file_source_examples(source) -> list[dict]:
    """Demonstrations from a file: every row must carry an answer (the last assistant turn)."""
    rows = []
    for prompt in load_prompts(source.path, fmt=source.format, domain=source.domain):
        if prompt.response is None:
            raise MixtureError(f"{prompt.source}: mixture source {source.name!r} row has no assistant answer to train on")
        rows.append(training_example(prompt, prompt.response, example_id=f"{source.name}-{prompt.id}",
                                     mix_source=source.name, origin_round=0, score=1.0))
    return rows


def assign_sources(candidates: list[dict], sources, round_number: int) -> dict[str, list[dict]]:
    """Which source each candidate belongs to: the pool's examples split into this round's and earlier ones."""
    kinds = {s.kind: s.name for s in sources}
    by_source: dict[str, list[dict]] = {s.name: [] for s in sources}
    for row in candidates:
        if row["mix_source"] in POOL_ROW_SOURCES:
            kind = "pool_this_round" if row["origin_round"] == round_number else "pool_earlier_rounds"
            if kind in kinds:  # a pool the config does not mix in is simply not used
                by_source[kinds[kind]].append(row)
        elif row["mix_source"] in by_source:
            by_source[row["mix_source"]].append(row)
        else:
            raise MixtureError(f"example {row['example_id']} names unknown mixture source {row['mix_source']!r}")
    return by_source


def _copies(weight: float, rng: random.Random) -> int:
    whole, fraction = int(weight), weight - int(weight)
    return whole + (rng.random() < fraction)


def draw_source(rows: list[dict], source, round_number: int, rng: random.Random) -> tuple[list[dict], dict[str, int]]:
    """(drawn rows incl. epochs, requested distinct count per domain)."""
    rows = sorted(rows, key=lambda r: r["example_id"])
    by_domain: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_domain[row["domain"]].append(row)
    distinct, requested = [], {}
    for domain in sorted(by_domain.keys() | source.quotas.keys()):
        available = by_domain.get(domain, [])
        if domain in source.quotas:
            requested[domain] = source.quotas[domain]
            shuffled = available[:]
            rng.shuffle(shuffled)
            distinct.extend(shuffled[: source.quotas[domain]])
            continue
        if source.kind == "pool_earlier_rounds":
            drawn = [r for r in available
                     for _ in range(_copies(source.weight * source.decay ** (round_number - r["origin_round"]), rng))]
        else:
            whole, fraction = int(source.weight), source.weight - int(source.weight)
            drawn = [r for _ in range(whole) for r in available] + rng.sample(available, round(fraction * len(available)))
        requested[domain] = len(drawn)
        distinct.extend(drawn)
    if source.topic_quota is not None:
        distinct = _topic_quota(distinct, source.topic_quota, rng)
    if source.cap is not None and len(distinct) > source.cap:
        distinct = rng.sample(distinct, source.cap)
    return distinct * source.epochs, requested


def _topic_quota(drawn: list[dict], quota: int, rng: random.Random) -> list[dict]:
    """At most ``quota`` rows of ``drawn`` per topic, a seeded choice in each topic over it, the draw's order kept.
    A row without a topic (quality control off that round) is not capped."""
    by_topic: dict[int, list[int]] = defaultdict(list)
    for position, row in enumerate(drawn):
        if row.get("topic") is not None:
            by_topic[row["topic"]].append(position)
    dropped: set[int] = set()
    for topic in sorted(by_topic):
        positions = by_topic[topic]
        if len(positions) > quota:
            kept = set(rng.sample(positions, quota))
            dropped.update(position for position in positions if position not in kept)
    return [row for position, row in enumerate(drawn) if position not in dropped]


def topic_manifest(candidates: list[dict], drawn: list[dict], sources, round_number: int) -> list[dict]:
    """One row per (pool source, topic): the examples it had in that topic and the rows it took
    (epochs included). Recomputable: ``n_taken`` sums to the source's rows in the mixture."""
    by_source = assign_sources(candidates, sources, round_number)
    taken = Counter(row["example_id"] for row in drawn)
    rows = []
    for source in sources:
        if source.kind == "file":
            continue
        available: Counter = Counter()
        took: Counter = Counter()
        for row in by_source[source.name]:
            available[row.get("topic")] += 1
            took[row.get("topic")] += taken[row["example_id"]]
        for topic in sorted(available, key=lambda t: (t is None, t)):
            rows.append({"round": round_number, "source": source.name, "topic": topic,
                         "n_available": available[topic], "n_taken": took[topic]})
    return rows


def mix_sources(candidates: list[dict], sources, *, seed: int, round_number: int) -> tuple[list[dict], list[dict]]:
    """(training examples, manifest rows). ``candidates`` are decontaminated rows tagged by mix_source."""
    by_source = assign_sources(candidates, sources, round_number)
    rng = random.Random(seed * 1_000_003 + round_number)
    mixture, manifest = [], []
    for source in sources:
        rows = by_source[source.name]
        drawn, requested = draw_source(rows, source, round_number, rng)
        available = Counter(r["domain"] for r in rows)
        taken = Counter(r["domain"] for r in drawn)
        for domain in sorted(set(available) | set(requested)) or ["-"]:
            distinct_taken = taken.get(domain, 0) // source.epochs
            wanted = requested.get(domain, 0)
            manifest.append({"round": round_number, "source": source.name, "kind": source.kind, "domain": domain,
                             "weight": source.weight, "epochs": source.epochs, "n_available": available.get(domain, 0),
                             "n_requested": wanted, "n_taken": taken.get(domain, 0),
                             "shortfall": max(0, wanted - distinct_taken) if domain in source.quotas else 0})
        mixture.extend(drawn)
    if not mixture:
        raise EmptyMixture(round_number, manifest)
    rng.shuffle(mixture)
    return mixture, manifest


class EmptyMixture(MixtureError):
    """No source gave the round a training example: refused here, before SFT starts (it would fail minutes
    later with only its log saying why). The message counts, per source, what was available and what was taken."""

    def __init__(self, round_number: int, manifest: list[dict]):
        counts = defaultdict(lambda: [0, 0])
        for row in manifest:
            counts[row["source"]][0] += row["n_available"]
            counts[row["source"]][1] += row["n_taken"]
        per_source = "; ".join(f"{name}: {available} available, {taken} taken"
                               for name, (available, taken) in counts.items()) or "no sources configured"
        super().__init__(f"round {round_number}: the training mixture is empty, so there is nothing to fine-tune on "
                         f"({per_source}). Check the round's yield (SELECT * FROM round_metrics), the sources' "
                         f"weights and quotas (mixture.sources), and the decontamination report.")
