"""``flywheel export`` off a small hand-made round taken through select, decontaminate and mix (no model):
the rows equal the stored ones, the dataset card's counts are the round's, bad requests are named."""

from __future__ import annotations

import json

import datasets
import pyarrow.parquet as pq
import pytest

from flywheel.stages import decontaminate as decontaminate_stage
from flywheel.stages import mix as mix_stage
from flywheel.cli import main
from flywheel.config import ConfigError
from flywheel.export import export_round, export_rows
from flywheel.round.layout import RoundPaths
from flywheel.stages.quality import curate


@pytest.fixture
def mixed_round(selected_round_copy):
    config, store = selected_round_copy
    curate(config, 1, store)
    decontaminate_stage.decontaminate_round(config, 1, store)
    mix_stage.mix(config, 1, store)
    return config


def test_the_mixture_and_the_accepted_set_are_the_stored_rows(mixed_round, tmp_path):
    paths = RoundPaths(mixed_round.workdir, 1)
    out, count = export_round(mixed_round.workdir, 1, "mixture", "jsonl", tmp_path / "mix.jsonl")
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    stored = pq.read_table(paths.mixture).to_pylist()
    assert count == len(stored) == len(exported) > 0
    assert [(r["example_id"], r["messages"]) for r in exported] == [(r["example_id"], r["messages"]) for r in stored]
    kept = {r["example_id"] for r in pq.read_table(paths.decontaminated).to_pylist()}
    accepted = export_rows(mixed_round.workdir, 1, "accepted")
    assert {r["example_id"] for r in accepted} == kept & {r["example_id"] for r in pq.read_table(paths.pool).to_pylist()}
    assert all(r["messages"][-1]["role"] == "assistant" for r in accepted)


def test_hf_folder_loads_and_its_card_counts_the_round(mixed_round, tmp_path):
    assert main(["export", "--workdir", str(mixed_round.workdir), "--round", "1", "--set", "accepted", "--format", "hf",
                 "--out", str(tmp_path / "hf")]) == 0
    loaded = datasets.load_from_disk(str(tmp_path / "hf"))
    rows = export_rows(mixed_round.workdir, 1, "accepted")
    assert loaded.num_rows == len(rows)
    card = (tmp_path / "hf" / "README.md").read_text()
    assert f"- rows: {len(rows)}" in card and "# flywheel round 1: accepted" in card
    by_domain = {}
    for row in rows:
        by_domain[row["domain"]] = by_domain.get(row["domain"], 0) + 1
    assert "- rows per domain: " + ", ".join(f"{k} {v}" for k, v in sorted(by_domain.items())) in card
    with pytest.raises(FileExistsError, match="not empty"):  # nothing is overwritten
        export_round(mixed_round.workdir, 1, "accepted", "hf", tmp_path / "hf")


def test_bad_requests_are_named(mixed_round, tmp_path):
    with pytest.raises(ConfigError, match="unknown set 'preferences'"):
        export_rows(mixed_round.workdir, 1, "preferences")
    with pytest.raises(ConfigError, match="unknown format 'csv'"):
        export_round(mixed_round.workdir, 1, "mixture", "csv", tmp_path / "x")
    with pytest.raises(FileNotFoundError, match="round 2 has no mixture yet"):
        export_rows(mixed_round.workdir, 2, "mixture")
