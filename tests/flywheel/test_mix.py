import json

import pytest

from flywheel.config import MixtureSource
from flywheel.mix import MixtureError, file_source_examples, mix_sources


def rows(source, n, domain="math"):
    return [{"example_id": f"{source}-{i}", "prompt_id": f"p{i}", "domain": domain, "messages": [], "source": "f:1",
             "mix_source": source, "origin_round": 1, "score": 1.0} for i in range(n)]


def test_weights_scale_each_source_and_manifest_counts():
    sources = [MixtureSource(name="selected", kind="selected", weight=2.0),
               MixtureSource(name="seed", kind="file", path="x.jsonl", weight=0.5)]
    mixture, manifest = mix_sources(rows("selected", 3) + rows("seed", 10, "code"), sources, seed=1, round_number=2)
    counts = {m["source"]: (m["n_available"], m["n_taken"]) for m in manifest}
    assert counts == {"selected": (3, 6), "seed": (10, 5)}
    assert len(mixture) == 11


def test_mix_is_deterministic_for_a_seed():
    sources = [MixtureSource(name="seed", kind="file", path="x.jsonl", weight=0.5)]
    first = [r["example_id"] for r in mix_sources(rows("seed", 20), sources, seed=3, round_number=1)[0]]
    again = [r["example_id"] for r in mix_sources(rows("seed", 20), sources, seed=3, round_number=1)[0]]
    other = [r["example_id"] for r in mix_sources(rows("seed", 20), sources, seed=4, round_number=1)[0]]
    assert first == again and first != other


def test_empty_source_still_reported():
    sources = [MixtureSource(name="selected", kind="selected")]
    _, manifest = mix_sources([], sources, seed=0, round_number=1)
    assert manifest == [{"round": 1, "source": "selected", "domain": "-", "weight": 1.0, "n_available": 0, "n_taken": 0}]


def test_file_source_needs_answers(tmp_path):
    path = tmp_path / "seed.jsonl"
    path.write_text(json.dumps({"domain": "general", "instruction": "hi", "output": "hello"}) + "\n"
                    + json.dumps({"domain": "general", "instruction": "no answer"}) + "\n")
    with pytest.raises(MixtureError, match="seed.jsonl:2"):
        file_source_examples(MixtureSource(name="seed", path=path))
