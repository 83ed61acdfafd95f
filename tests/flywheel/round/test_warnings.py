"""Warnings that steer, from a real round whose every sample hits max_new_tokens (the tiny base model never
ends a turn): in the console, in round_metrics.warnings, and as the reason the loop stops."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from tests.conftest import TASKS, small_config_dict

pytestmark = pytest.mark.slow
FLYWHEEL = Path(sys.executable).with_name("flywheel")


def test_a_round_that_accepts_nothing_says_why_and_stops(tmp_path):
    rows = [json.loads(line) for line in (TASKS / "train.jsonl").read_text().splitlines()]
    chosen = [r for r in rows if r["domain"] == "math"][:4] + [r for r in rows if r["domain"] == "general"][:4]
    (tmp_path / "prompts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in chosen))
    data = small_config_dict(tmp_path / "work")
    data["prompts"] = {"sources": [{"path": str(tmp_path / "prompts.jsonl")}]}
    data["selection"]["policies"] = {"general": "best_of_n",  # with no reward model among general's verifiers
                                     "math": "unfiltered"}  # accepts what finished: here nothing does
    data["stopping"]["stop_on_zero_yield"] = True
    path = tmp_path / "round.yaml"
    path.write_text(yaml.safe_dump(data))
    run = subprocess.run([str(FLYWHEEL), "run", "--config", str(path), "--rounds", "2"], capture_output=True,
                         text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    with duckdb.connect(str(tmp_path / "work" / "flywheel.duckdb"), read_only=True) as db:
        rounds = db.execute("SELECT round, stop, stop_reason, warnings FROM round_metrics ORDER BY round").fetchall()
        truncated, total = db.execute("SELECT count(*) FILTER (WHERE finish_reason = 'length'), count(*) "
                                      "FROM samples WHERE round = 1").fetchone()
        losses = db.execute("SELECT step, loss FROM training_steps WHERE round = 1 ORDER BY step").fetchall()
    assert [r[0] for r in rounds] == [1]  # the loop stopped after round 1
    _, stop, reason, warnings = rounds[0]
    assert stop and reason.startswith("yield 0 in every domain")
    assert truncated / total > 0.5
    assert warnings[0].startswith(f"{truncated} of {total} samples") and "max_new_tokens (24)" in warnings[0]
    assert "domain general: yield 0 (0 of 8 samples accepted; it has no verifiers)" in warnings
    assert "domain math: yield 0 (0 of 8 samples accepted; every one stopped at max_new_tokens)" in warnings
    assert any(w.startswith("selection.policies.general is best_of_n, but verifiers.general does not list "
                            "'reward_model'") for w in warnings)
    assert any(w.startswith("selection.policies.math is unfiltered: every finished math sample enters the pool")
               for w in warnings)
    for warning in warnings:  # and each was said on the console, in full
        assert f"warning: {warning}" in run.stdout
    # The default tracker, TensorBoard, has the round's SFT curve: the training_steps rows.
    from tests.flywheel.store.test_tracking import scalars

    curve = scalars(tmp_path / "work" / "tensorboard" / "round_1")["sft/loss"]
    assert [s for s, _ in curve] == [s for s, _ in losses] and losses
    assert [v for _, v in curve] == pytest.approx([v for _, v in losses])
