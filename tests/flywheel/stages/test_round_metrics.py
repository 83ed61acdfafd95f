"""round_metrics and diversity on hand-built rows: each figure is the one recomputed from the rows it came from."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from flywheel.measures.diversity import diversity_metrics
from flywheel.records.files import write_parquet_atomic
from flywheel.records.schema import EVAL_VERDICT_SCHEMA, SAMPLE_SCHEMA, VERDICT_SCHEMA
from flywheel.round.layout import RoundPaths
from flywheel.stages import diversity as diversity_stage
from flywheel.stages import round_metrics as round_metrics_stage
from flywheel.store.database import Store

TEXTS = ["The answer is 4.", "Two plus two makes four, so 4.", "def add(a, b):\n    return a + b", "Paris."]


def sample(index: int, text: str) -> dict:
    return {"prompt_id": f"p{index}", "sample_index": 0, "text": text, "num_tokens": len(text.split()),
            "finish_reason": "stop", "round": 1, "checkpoint": "base", "seed": index, "sampling": None}


def verdict(index: int, status: str, details: dict | None, split: str | None = None) -> dict:
    row = {"prompt_id": f"p{index}", "sample_index": 0, "round": 1, "verifier": "llm_judge", "passed": status == "ok",
           "score": 1.0, "status": status, "reason": "", "cost_seconds": 0.1,
           "details": json.dumps(details) if details is not None else None, "sample_hash": None}
    return {"split": split, **row} if split else row


def test_judge_cost_and_timeouts_sum_the_training_and_evaluation_verdicts(tmp_path):
    store = Store(tmp_path / "flywheel.duckdb")
    paths = RoundPaths(tmp_path, 1)
    training = [verdict(0, "ok", {"prompt_tokens": 100, "completion_tokens": 7, "cost_usd": 0.002}),
                verdict(1, "timeout", None),
                verdict(2, "ok", {"prompt_tokens": 50, "completion_tokens": 3, "cost_usd": 0.001}),
                verdict(3, "ok", {"score_text": "not a cost"})]  # a verdict without token counts adds nothing
    evaluation = [verdict(0, "timeout", None, split="heldout"),
                  verdict(1, "ok", {"prompt_tokens": 10, "completion_tokens": 1, "cost_usd": 0.0005}, split="heldout")]
    write_parquet_atomic(pa.Table.from_pylist(training, schema=VERDICT_SCHEMA), paths.verdicts)
    write_parquet_atomic(pa.Table.from_pylist(evaluation, schema=EVAL_VERDICT_SCHEMA), paths.eval_verdicts)
    store.attach_parquet("verdicts", 1, paths.verdicts)
    store.attach_parquet("eval_verdicts", 1, paths.eval_verdicts)

    assert round_metrics_stage._judge_cost(store, 1) == {"judge_prompt_tokens": 160, "judge_completion_tokens": 11,
                                                         "judge_cost_usd": pytest.approx(0.0035)}
    assert round_metrics_stage._timeouts(store, 1) == {"verifier_timeouts": 2, "timeout_rate": 2 / 6}
    assert round_metrics_stage._judge_cost(store, 2) == {"judge_prompt_tokens": 0, "judge_completion_tokens": 0,
                                                         "judge_cost_usd": 0.0}


def test_diversity_measures_the_accepted_samples_in_prompt_order(small_config):
    store = Store(small_config.workdir / "flywheel.duckdb")
    paths = RoundPaths(small_config.workdir, 1)
    write_parquet_atomic(pa.Table.from_pylist([sample(i, t) for i, t in enumerate(TEXTS)], schema=SAMPLE_SCHEMA),
                         paths.samples)
    store.attach_parquet("samples", 1, paths.samples)
    accepted = [{"prompt_id": f"p{i}", "sample_index": 0, "domain": "math"} for i in (2, 0, 1)]  # p3 was not accepted
    store.replace_round("accepted_samples", 1, accepted)

    result = diversity_stage.measure_diversity(small_config, 1, store)

    expected = diversity_metrics(TEXTS[:3], seed=small_config.generation.seed)
    columns, rows = store.query("SELECT * FROM diversity WHERE round = 1 AND population = 'accepted'")
    stored = dict(zip(columns, rows[0]))
    assert stored["n_texts"] == 3
    assert stored["distinct_2"] == expected["distinct_2"]
    assert result["accepted/distinct_2"] == round(expected["distinct_2"], 4)
    assert store.query("SELECT count(*) FROM diversity WHERE round = 1 AND population = 'evaluation'")[1] == [(0,)]
