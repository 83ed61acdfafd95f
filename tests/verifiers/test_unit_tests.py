import pytest

from flywheel.schema import Message, Prompt, Sample
from flywheel.verify import VerifyItem
from sandbox.runner import bwrap_available
from verifiers.unit_tests import UnitTestVerifier, extract_code


def test_extract_code_takes_last_complete_fence():
    text = "first\n```python\ndef a(): pass\n```\nthen\n```\ndef b(): return 2\n```\nand ```python\nunclosed"
    assert extract_code(text) == "def b(): return 2\n"
    assert extract_code("def plain(): return 1") == "def plain(): return 1"


@pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not installed")
def test_verifier_runs_reference_tests_in_the_sandbox():
    prompt = Prompt(id="p", domain="code", messages=[Message(role="user", content="add_3")],
                    reference="assert add_3(1) == 4\nassert add_3(0) == 3", source="f:1")
    texts = ["```python\ndef add_3(x):\n    return x + 3\n```", "```python\ndef add_3(x):\n    return x + 2\n```",
             "import os; os._exit(0)"]
    items = [VerifyItem(prompt, Sample(prompt_id="p", sample_index=i, text=t, num_tokens=1, finish_reason="stop",
                                       round=1, checkpoint="c", seed=0)) for i, t in enumerate(texts)]
    results = UnitTestVerifier(backend="bwrap", workers=2).verify_batch(items)
    assert [r.passed for r in results] == [True, False, False]
    assert results[0].reason.startswith("passed: 2/2") and results[1].score == 0.0


@pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not installed")
def test_per_test_results_reach_the_verdict_table(tmp_path):
    import json

    from flywheel.store import Store
    from flywheel.verify import verify_samples

    prompt = Prompt(id="p", domain="code", messages=[Message(role="user", content="add_3")],
                    reference="assert add_3(1) == 4\nassert add_3(0) == 4", source="f:1")
    sample = Sample(prompt_id="p", sample_index=0, text="```python\ndef add_3(x):\n    return x + 3\n```",
                    num_tokens=1, finish_reason="stop", round=1, checkpoint="c", seed=0)
    (verdict,) = verify_samples([prompt], [sample], {"code": ["unit_tests"]})
    tests = json.loads(verdict.details)["tests"] if verdict.details else verdict.reason
    assert [(t["name"], t["passed"]) for t in tests] == [("test_assert_1", True), ("test_assert_2", False)], verdict
    store = Store(tmp_path / "f.duckdb")
    store.replace_round("verdicts", 1, [verdict.model_dump()])
    _, rows = store.query("SELECT details->'$.tests[1].passed' FROM verdicts")
    assert rows == [("false",)]
