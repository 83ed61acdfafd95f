import json
from pathlib import Path

import pytest

from flywheel.config import MixtureSource
from flywheel.curation.mixing import EmptyMixture, MixtureError, file_source_examples, mix_sources


def rows(source, n, domain="math", origin_round=1, start=0):
    return [{"example_id": f"{source}-{domain}-r{origin_round}-{i}", "prompt_id": f"p{i}", "domain": domain,
             "messages": [], "source": "f:1", "mix_source": source, "origin_round": origin_round, "score": 1.0}
            for i in range(start, start + n)]


def manifest_by(manifest):
    return {(m["source"], m["domain"]): m for m in manifest}


def test_weights_scale_each_source_and_manifest_counts():
    sources = [MixtureSource(name="new", kind="pool_this_round", weight=2.0),
               MixtureSource(name="seed", kind="file", path="x.jsonl", weight=0.5)]
    mixture, manifest = mix_sources(rows("pool", 3, origin_round=2) + rows("seed", 10, "code"), sources, seed=1,
                                    round_number=2)
    m = manifest_by(manifest)
    assert (m["new", "math"]["n_available"], m["new", "math"]["n_taken"]) == (3, 6)
    assert (m["seed", "code"]["n_available"], m["seed", "code"]["n_taken"]) == (10, 5)
    assert len(mixture) == 11


def test_selected_is_this_round_and_pool_is_earlier_rounds_with_decay():
    candidates = rows("pool", 4, origin_round=3) + rows("pool", 40, origin_round=2) + \
        rows("pool", 40, origin_round=1, start=100)
    sources = [MixtureSource(name="new", kind="pool_this_round"), MixtureSource(name="old", kind="pool_earlier_rounds", decay=0.5)]
    mixture, manifest = mix_sources(candidates, sources, seed=0, round_number=3)
    assert manifest_by(manifest)["new", "math"]["n_taken"] == 4
    taken = [r["origin_round"] for r in mixture if r["origin_round"] < 3]
    # round 2 examples are kept with probability 0.5, round 1 with 0.25
    assert 10 <= taken.count(2) <= 30 and 2 <= taken.count(1) <= 18 and taken.count(1) < taken.count(2)


def test_quota_takes_distinct_examples_and_reports_shortfall_without_padding():
    source = MixtureSource(name="seed", kind="file", path="x.jsonl", quotas={"math": 5, "code": 8})
    mixture, manifest = mix_sources(rows("seed", 9) + rows("seed", 3, "code"), [source], seed=0, round_number=1)
    m = manifest_by(manifest)
    assert (m["seed", "math"]["n_taken"], m["seed", "math"]["shortfall"]) == (5, 0)
    assert (m["seed", "code"]["n_available"], m["seed", "code"]["n_taken"], m["seed", "code"]["shortfall"]) == (3, 3, 5)
    assert len({r["example_id"] for r in mixture}) == len(mixture) == 8  # nothing repeated to fill the gap


def test_quota_for_a_domain_the_source_lacks_is_reported():
    source = MixtureSource(name="seed", kind="file", path="x.jsonl", quotas={"general": 2})
    _, manifest = mix_sources(rows("seed", 2), [source], seed=0, round_number=1)
    assert manifest_by(manifest)["seed", "general"]["shortfall"] == 2


def test_cap_and_epochs():
    source = MixtureSource(name="seed", kind="file", path="x.jsonl", cap=4, epochs=3)
    mixture, manifest = mix_sources(rows("seed", 10), [source], seed=0, round_number=1)
    assert len(mixture) == 12 and len({r["example_id"] for r in mixture}) == 4
    assert manifest_by(manifest)["seed", "math"]["n_taken"] == 12


def test_mix_is_deterministic_for_a_seed():
    sources = [MixtureSource(name="seed", kind="file", path="x.jsonl", weight=0.5)]
    first = [r["example_id"] for r in mix_sources(rows("seed", 20), sources, seed=3, round_number=1)[0]]
    again = [r["example_id"] for r in mix_sources(rows("seed", 20), sources, seed=3, round_number=1)[0]]
    other = [r["example_id"] for r in mix_sources(rows("seed", 20), sources, seed=4, round_number=1)[0]]
    assert first == again and first != other


def test_empty_source_still_reported():
    sources = [MixtureSource(name="new", kind="pool_this_round"), MixtureSource(name="seed", kind="file", path="x.jsonl")]
    _, manifest = mix_sources(rows("seed", 1), sources, seed=0, round_number=1)
    assert [(m["source"], m["domain"], m["n_available"], m["n_taken"]) for m in manifest] == [
        ("new", "-", 0, 0), ("seed", "math", 1, 1)]


def test_an_empty_mixture_is_refused_before_sft_with_the_counts_per_source():
    sources = [MixtureSource(name="new", kind="pool_this_round"),
               MixtureSource(name="seed", kind="file", path="x.jsonl", quotas={"math": 0})]
    with pytest.raises(EmptyMixture, match=r"round 2: the training mixture is empty.*\(new: 0 available, 0 taken; "
                                           r"seed: 3 available, 0 taken\)"):
        mix_sources(rows("seed", 3), sources, seed=0, round_number=2)


def test_unknown_source_is_an_error():
    with pytest.raises(MixtureError, match="unknown mixture source 'mystery'"):
        mix_sources(rows("mystery", 1), [MixtureSource(name="new", kind="pool_this_round")], seed=0, round_number=1)


def test_file_source_needs_answers(tmp_path):
    path = tmp_path / "seed.jsonl"
    path.write_text(json.dumps({"domain": "general", "instruction": "hi", "output": "hello"}) + "\n"
                    + json.dumps({"domain": "general", "instruction": "no answer"}) + "\n")
    with pytest.raises(MixtureError, match="seed.jsonl:2"):
        file_source_examples(MixtureSource(name="seed", path=path))


def with_topics(candidates, topic_of):
    return [{**row, "topic": topic_of(i)} for i, row in enumerate(candidates)]


def test_a_topic_quota_keeps_at_most_that_many_of_each_topic_and_counts_every_topic():
    from flywheel.curation.mixing import topic_manifest

    # topic 0 has 12 examples, topic 1 has 3, and 2 have no topic (a round quality control did not annotate)
    candidates = with_topics(rows("pool", 17, origin_round=2), lambda i: 0 if i < 12 else 1 if i < 15 else None)
    sources = [MixtureSource(name="new", kind="pool_this_round", topic_quota=4, epochs=2)]
    mixture, _ = mix_sources(candidates, sources, seed=0, round_number=2)
    taken = [r["topic"] for r in mixture]
    assert taken.count(0) == 4 * 2 and taken.count(1) == 3 * 2 and taken.count(None) == 2 * 2  # epochs after the quota
    again, _ = mix_sources(candidates, sources, seed=0, round_number=2)
    other, _ = mix_sources(candidates, sources, seed=5, round_number=2)
    ids = lambda m: sorted(r["example_id"] for r in m)  # noqa: E731
    assert ids(again) == ids(mixture) and ids(other) != ids(mixture)  # a seeded choice within the topic
    by_topic = {(m["source"], m["topic"]): (m["n_available"], m["n_taken"])
                for m in topic_manifest(candidates, mixture, sources, 2)}
    assert by_topic == {("new", 0): (12, 8), ("new", 1): (3, 6), ("new", None): (2, 4)}
    assert sum(n for _, n in by_topic.values()) == len(mixture)  # recomputable from the mixture's rows
    # without a quota the draw is what it was: every example, the rng untouched
    plain, _ = mix_sources(candidates, [MixtureSource(name="new", kind="pool_this_round")], seed=0, round_number=2)
    assert len(plain) == 17


def test_a_topic_quota_is_refused_where_there_are_no_topics():
    from pydantic import ValidationError

    from flywheel.config import RoundConfig

    with pytest.raises(ValidationError, match="kind 'file' has no topics"):
        MixtureSource(name="seed", kind="file", path="x.jsonl", topic_quota=3)
    from tests.conftest import small_config_dict

    raw = small_config_dict(Path("work"))
    raw["quality"] = {"enabled": False}
    raw["mixture"]["sources"][0]["topic_quota"] = 2
    with pytest.raises(ValidationError, match=r"\['new'\] set topic_quota, but quality.enabled is false"):
        RoundConfig.model_validate(raw)
    raw["quality"] = {"enabled": True}
    assert RoundConfig.model_validate(raw).mixture.sources[0].topic_quota == 2  # topics to cap by: accepted


def test_a_config_from_before_the_pool_was_named_reads_with_a_warning_naming_the_new_kind():
    with pytest.warns(FutureWarning, match="kind 'selected' is now 'pool_this_round'"):
        new = MixtureSource(name="new", kind="selected")
    with pytest.warns(FutureWarning, match="kind 'pool' is now 'pool_earlier_rounds'"):
        earlier = MixtureSource(name="old", kind="pool", decay=0.5)
    assert (new.kind, earlier.kind) == ("pool_this_round", "pool_earlier_rounds")
    # and the rows of a round made then (mix_source "selected") are still the pool's
    candidates = rows("selected", 2, origin_round=2) + rows("pool", 3, origin_round=1)
    _, manifest = mix_sources(candidates, [new, earlier], seed=0, round_number=2)
    m = manifest_by(manifest)
    assert (m["new", "math"]["n_available"], m["old", "math"]["n_available"]) == (2, 3)


def test_a_file_source_may_not_take_the_name_that_marks_the_pools_rows():
    from pydantic import ValidationError

    from flywheel.config import MixtureConfig

    for name in ("pool", "selected"):
        with pytest.raises(ValidationError, match=f"mixture source '{name}' of kind 'file'"):
            MixtureConfig(sources=[MixtureSource(name=name, kind="file", path="x.jsonl")])
