"""mix: the weighted training mixture, drawn on the candidates' keys and copied column-wise."""

from __future__ import annotations

from collections import Counter
from flywheel.round import views
from flywheel.config import RoundConfig
from flywheel.records.files import read_parquet
from flywheel.round.layout import RoundPaths
from flywheel.curation.mixing import mix_sources, topic_manifest
from flywheel.records.batches import RecordWriter, taken_batches
from flywheel.records.schema import (
    EXAMPLE_SCHEMA,
)
from flywheel.round.registry import Image, Input, seed_round_only
from flywheel.round.runs import stage
from flywheel.store.database import Store


def _topic_chart(config: RoundConfig, round_number: int, store: Store, result: dict) -> dict:
    chart = views.topic_chart(store, round_number, RoundPaths(config.workdir, round_number).dir / "topics.png")
    return {"topics": Image(chart) if chart else None}


@stage("mix", "mixture", "The weighted training mixture, with the pool's examples per quality topic.",
       inputs=(Input("decontaminate"),), sections=("mixture",),
       files=lambda c, r: [m.path for m in c.mixture.sources if m.path], in_round_zero=seed_round_only,
       views=_topic_chart)
def mix(config: RoundConfig, round_number: int, store: Store) -> dict:
    """The draw is made on the candidates' keys alone (id, domain, round, source, and the topic quality control
    gave it this round); the drawn rows are then copied column-wise from the Arrow table, a batch at a time, so no
    whole round becomes Python rows."""
    paths = RoundPaths(config.workdir, round_number)
    candidates = read_parquet(paths.decontaminated, EXAMPLE_SCHEMA)
    keys = candidates.select(["example_id", "domain", "origin_round", "mix_source"]).to_pylist()
    topics = dict(store.query("SELECT example_id, topic FROM quality WHERE round = ?", [round_number])[1])
    for position, key in enumerate(keys):
        key["position"] = position
        key["topic"] = topics.get(key["example_id"])
    drawn, manifest = mix_sources(keys, config.mixture.sources, seed=config.mixture.seed, round_number=round_number)
    with RecordWriter(paths.mixture, EXAMPLE_SCHEMA) as writer:
        for batch in taken_batches(candidates, [key["position"] for key in drawn]):
            writer.write_table(batch)
    store.replace_round("mixture", round_number, manifest)
    by_topic = topic_manifest(keys, drawn, config.mixture.sources, round_number)
    store.replace_round("mixture_topics", round_number, by_topic)
    shortfalls = {f"{m['source']}/{m['domain']}": m["shortfall"] for m in manifest if m["shortfall"]}
    return {"n_examples": len(drawn), "by_domain": dict(Counter(r["domain"] for r in drawn)),
            "by_source": {s.name: sum(m["n_taken"] for m in manifest if m["source"] == s.name)
                          for s in config.mixture.sources},
            "quota_shortfalls": shortfalls or None,
            "by_topic": _taken_by_topic(by_topic) or None}


def _taken_by_topic(by_topic: list[dict]) -> dict[str, int]:
    """The pool's rows in the mixture per topic, over its sources ("none": no topic, quality control was off)."""
    taken: Counter = Counter()
    for row in by_topic:
        taken["none" if row["topic"] is None else str(row["topic"])] += row["n_taken"]
    return dict(sorted(taken.items(), key=lambda item: (item[0] == "none", int(item[0]) if item[0] != "none" else 0)))
