"""Every evaluation figure is recomputable with plain SQL over the per-sample rows it was computed from.

Generation is the edge here (a scripted generator stands in for the model, so the test controls which
answers are right); verification, scoring, the store and the SQL are the real ones.
"""

import json
from pathlib import Path

import pytest

from flywheel.config import RoundConfig
from flywheel.stages.evaluate import evaluate
from flywheel.records.schema import Sample
from flywheel.store.database import Store
from tests.conftest import small_config_dict

SQL_GUIDE = Path(__file__).resolve().parents[3] / "docs" / "guides" / "sql-audit.md"
RECOMPUTE = SQL_GUIDE.read_text().split("## Recomputing the evaluation")[1].split("```sql")[1].split("```")[0]


class ScriptedGenerator:
    """Prompt i gets (i mod (n+1)) right answers out of n: some prompts none, some all, the rest in between."""

    def generate(self, prompts, params, round_number):
        samples = []
        for i, prompt in enumerate(sorted(prompts, key=lambda p: p.id)):
            right = i % (params.n + 1)
            for j in range(params.n):
                if prompt.domain == "math":
                    text = f"The answer is {prompt.reference if j < right else 'nothing'}."
                else:
                    text = "```python\npass\n```"
                samples.append(Sample(prompt_id=prompt.id, sample_index=j, text=text, num_tokens=5,
                                      finish_reason="stop", round=round_number, checkpoint="scripted", seed=j))
        return samples


@pytest.fixture
def evaluated(tmp_path):
    raw = small_config_dict(tmp_path)
    raw["evaluation"].update({"n": 4, "k": 2, "max_prompts": 30, "train_prompts": 0})
    raw["verifiers"]["code"] = []
    config = RoundConfig.model_validate(raw)
    store = Store(tmp_path / "flywheel.duckdb")
    for round_number in (1, 2):
        evaluate(config, round_number, store, lambda checkpoint: ScriptedGenerator())
    return store


def test_sql_over_the_rows_gives_the_reported_figures(evaluated):
    _, reported = evaluated.query("SELECT round, split, domain, n_prompts, pass_at_1, pass_at_k, k FROM evaluations "
                                  "ORDER BY round, split, domain")
    _, recomputed = evaluated.query(RECOMPUTE)
    view = evaluated.query("SELECT * FROM eval_recomputed")[1]  # the view is the SQL guide's query
    assert [row[:4] + row[6:] for row in view] == [row[:4] + row[6:] for row in recomputed]
    assert [v for row in view for v in row[4:6]] == pytest.approx([v for row in recomputed for v in row[4:6]], abs=1e-12)
    assert len(reported) == len(recomputed) > 0
    for got, want in zip(recomputed, reported):
        assert got[:4] == want[:4] and got[6] == want[6]
        assert got[4] == pytest.approx(want[4], abs=1e-12) and got[5] == pytest.approx(want[5], abs=1e-9)


def test_a_prompt_every_sample_solved_counts_fully(evaluated):
    _, solved = evaluated.query(
        "SELECT s.prompt_id FROM eval_samples s JOIN eval_verdicts v USING (round, split, prompt_id, sample_index) "
        "WHERE s.round = 1 GROUP BY s.prompt_id HAVING bool_and(v.passed) AND count(*) = 4")
    assert solved, "the scripted round has prompts that all four samples solved"
    _, (row,) = evaluated.query("SELECT pass_at_1 FROM evaluations WHERE round = 1 AND domain = 'math'")
    _, counts = evaluated.query("SELECT count(*) FILTER (WHERE v.passed), count(*) FROM eval_verdicts v WHERE round = 1")
    correct, total = counts[0]
    assert row[0] == pytest.approx(correct / total)  # every prompt has n=4 samples, so the mean of c/n is c/N


def test_an_auditor_can_ask_which_heldout_prompts_a_round_got_wrong(evaluated):
    _, wrong = evaluated.query(
        "SELECT DISTINCT prompt_id FROM eval_verdicts WHERE round = 2 AND split = 'heldout' AND NOT passed")
    _, samples = evaluated.query("SELECT text, sampling FROM eval_samples WHERE round = 2 AND prompt_id = ?",
                                 [wrong[0][0]])
    assert any("nothing" in text for text, _ in samples)
    assert json.loads(samples[0][1] or "null") is None or isinstance(json.loads(samples[0][1]), dict)
