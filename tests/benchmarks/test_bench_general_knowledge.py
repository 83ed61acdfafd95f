"""benchmarks/bench_general_knowledge.py: the variant's base model reads every general fact as raw text, its pool
gains questions no demonstration answers, and the arms differ in their general filter alone."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from flywheel.config import DEFAULT_CONFIG, load_config

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
bench = pytest.importorskip("bench_general_knowledge")


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_variant_adds_unanswered_general_questions_and_keeps_the_rest(tmp_path):
    bench.write_tasks(tmp_path)
    bundled = bench.TASKS
    for split in ("seed", "heldout", "heldout_general"):
        assert (tmp_path / f"{split}.jsonl").read_text() == (bundled / f"{split}.jsonl").read_text()
    train, before = rows(tmp_path / "train.jsonl"), rows(bundled / "train.jsonl")
    assert train[: len(before)] == before
    added = train[len(before):]
    assert len(added) == len(bench.train_only()) == 42
    assert all(r["domain"] == "general" and len(r["messages"]) == 1 for r in added)  # no demonstration answers them
    seen = {r["messages"][0]["content"] for r in rows(bundled / "seed.jsonl") + rows(bundled / "heldout_general.jsonl")}
    assert not seen & {r["messages"][0]["content"] for r in added}


def test_the_base_model_reads_every_general_fact_as_raw_text_and_no_chat_turn():
    corpus = bench.pretraining_corpus()
    text = "\n".join(corpus)
    for question, answer in bench.facts().items():
        assert f"{question} {answer}" in text, question  # held-out facts included: the base model has read them
    assert "<|im_start|>" not in text
    share = sum(line.split("?")[0] + "?" in bench.facts() for line in corpus) / len(corpus)
    # FACT_SHARE of the lines, plus the bundled text's own general lines (15% of the rest): 0.3 + 0.7 x 0.15
    assert 0.37 < share < 0.44


def test_the_arms_differ_in_their_general_filter_alone(tmp_path):
    (tmp_path / "data" / "tasks").mkdir(parents=True)
    bench.write_tasks(tmp_path / "data" / "tasks")
    (tmp_path / "data" / "tiny-base").mkdir()  # the paths must exist for the config to load
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        (tmp_path / "data" / "tiny-base" / name).write_bytes((bench.BASE / name).read_bytes())
    configs = {arm: load_config(bench.arm_config(DEFAULT_CONFIG, arm, tmp_path)) for arm in bench.ARMS}
    default = load_config(DEFAULT_CONFIG).model_dump(mode="json")
    for arm, config in configs.items():
        data = config.model_dump(mode="json")
        assert data["model"]["base"] == str(tmp_path / "data" / "tiny-base")
        assert data["prompts"]["sources"][0]["path"] == str(tmp_path / "data" / "tasks" / "train.jsonl")
        assert data["evaluation"]["general"]["path"] == str(tmp_path / "data" / "tasks" / "heldout_general.jsonl")
        assert data["verifiers"]["general"] == bench.ARMS[arm][0]
        assert data["selection"]["policies"] == {**default["selection"]["policies"], "general": bench.ARMS[arm][1]}
        assert data["selection"]["reward_verifier"] == bench.ARMS[arm][2]
        for section in ("sft", "generation", "dedup", "quality", "stopping"):
            assert data[section] == default[section]
        assert [s["weight"] for s in data["mixture"]["sources"]] == [s["weight"] for s in default["mixture"]["sources"]]
    assert "self_consistency" in configs["self_consistency"].verifiers.general
