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
