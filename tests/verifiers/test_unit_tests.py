import pytest

from flywheel.records.schema import Message, Prompt, Sample
from flywheel.verification.plugins import VerifyItem
from flywheel_sandbox.runner import bwrap_available
from flywheel_verifiers.unit_tests import UnitTestVerifier, extract_code


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

    from flywheel.records.files import write_parquet_atomic
    from flywheel.records.schema import verdicts_to_table
    from flywheel.store.database import Store
    from flywheel.verification.plugins import verify_samples

    prompt = Prompt(id="p", domain="code", messages=[Message(role="user", content="add_3")],
                    reference="assert add_3(1) == 4\nassert add_3(0) == 4", source="f:1")
    sample = Sample(prompt_id="p", sample_index=0, text="```python\ndef add_3(x):\n    return x + 3\n```",
                    num_tokens=1, finish_reason="stop", round=1, checkpoint="c", seed=0)
    (verdict,) = verify_samples([prompt], [sample], {"code": ["unit_tests"]})
    tests = json.loads(verdict.details)["tests"] if verdict.details else verdict.reason
    assert [(t["name"], t["passed"]) for t in tests] == [("test_assert_1", True), ("test_assert_2", False)], verdict
    store = Store(tmp_path / "f.duckdb")
    write_parquet_atomic(verdicts_to_table([verdict]), tmp_path / "verdicts.parquet")
    store.attach_parquet("verdicts", 1, tmp_path / "verdicts.parquet")
    _, rows = store.query("SELECT details->'$.tests[1].passed' FROM verdicts")
    assert rows == [("false",)]


def _item(reference, text, index=0):
    prompt = Prompt(id="p", domain="code", messages=[Message(role="user", content="task")], reference=reference,
                    source="f:1")
    return VerifyItem(prompt, Sample(prompt_id="p", sample_index=index, text=text, num_tokens=1, finish_reason="stop",
                                     round=1, checkpoint="c", seed=0))


@pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not installed")
@pytest.mark.parametrize("reference", ["assert f(1) ==", "def helper():\n    return 1\n", '{"io": []}', '{"io": 5}'])
def test_a_broken_reference_is_an_error_verdict_not_a_model_failure(reference):
    (result,) = UnitTestVerifier(workers=1).verify_batch([_item(reference, "def f(x):\n    return x\n")])
    assert result.status == "error" and result.reason.startswith("reference invalid") and not result.passed


@pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not installed")
def test_stdin_stdout_reference():
    reference = '{"io": [["3\\n", "6\\n"], ["10\\n", "20"]]}'
    good, bad = UnitTestVerifier(workers=2).verify_batch([
        _item(reference, "```python\nprint(int(input()) * 2)\n```"),
        _item(reference, "```python\nprint(6)\n```", 1)])
    assert good.passed and good.status == "ok"
    assert not bad.passed and bad.status == "ok" and bad.score == 0.5


@pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not installed")
def test_cpu_limit_is_a_model_failure_and_settings_come_from_the_config(tmp_path):
    from flywheel.config import RoundConfig
    from flywheel.verification.plugins import verify_samples
    from tests.conftest import small_config_dict

    config = RoundConfig.model_validate({**small_config_dict(tmp_path), "sandbox": {"timeout_seconds": 1}})
    options = config.verifier_options()["unit_tests"]
    assert options["cpu_seconds"] == 1 and options["backend"] == "bwrap"
    sample = _item("assert f() == 1\n", "def f():\n    while True:\n        pass\n")
    (verdict,) = verify_samples([sample.prompt], [sample.sample], {"code": ["unit_tests"]},
                                options={"unit_tests": options})
    assert not verdict.passed and verdict.status == "ok" and "CPU time limit" in verdict.reason


@pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not installed")
def test_a_reference_in_another_language_compiles_and_judges_the_answer_in_it():
    import json

    reference = json.dumps({"io": [["2 3\n", "5"], ["2 2\n", "4"]], "language": "cpp"})
    prompt = Prompt(id="p", domain="code", messages=[Message(role="user", content="sum")], reference=reference,
                    source="f:1")
    texts = ["```cpp\n#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a+b;}\n```",
             "```cpp\n#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a*b;}\n```",
             "```cpp\nint main( {\n```",
             "```python\nprint(sum(map(int, input().split())))\n```"]  # the prompt's language is C++: it does not compile
    items = [VerifyItem(prompt, Sample(prompt_id="p", sample_index=i, text=t, num_tokens=1, finish_reason="stop",
                                       round=1, checkpoint="c", seed=0)) for i, t in enumerate(texts)]
    results = UnitTestVerifier(backend="bwrap", workers=2).verify_batch(items)
    assert [r.passed for r in results] == [True, False, False, False]
    assert results[0].score == 1.0 and results[1].score == 0.5  # 2 * 2 is 4, 2 * 3 is not 5
    assert results[2].reason.startswith("failed: 0/0 tests passed (compile error:") and results[2].status == "ok"


def test_a_reference_names_a_language_the_sandbox_runs_and_only_for_stdin_stdout_cases():
    import json

    verifier = UnitTestVerifier(backend="bwrap")

    def why(reference):
        return verifier.check_reference(Prompt(id="p", domain="code", messages=[Message(role="user", content="x")],
                                               reference=json.dumps(reference), source="f:1"))

    assert why({"io": [["1", "1"]], "language": "rust"}) is None
    assert why({"io": [["1", "1"]], "language": "python"}) is None
    assert "unknown language 'cobol'" in why({"io": [["1", "1"]], "language": "cobol"})
    assert "function-level tests in c are not judged yet" in why({"tests": "assert True", "language": "c"})
    assert "Java tests need a public static void main" in why({"tests": "assert(f() == 1);", "language": "java"})
    assert "C++ tests need an int main()" in why({"tests": "assert(f() == 1);", "language": "cpp"})


@pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not installed")
def test_function_level_tests_in_cpp_as_multipl_e_publishes_them():
    import json

    from tests.sandbox.function_tests_by_language import CPP

    prompt_text, tests, right, wrong = CPP["sort_desc"]
    reference = json.dumps({"tests": tests, "prefix": prompt_text, "language": "cpp"})
    prompt = Prompt(id="p", domain="code", messages=[Message(role="user", content=prompt_text)], reference=reference,
                    source="f:1")
    items = [VerifyItem(prompt, Sample(prompt_id="p", sample_index=i, text=t, num_tokens=1, finish_reason="stop",
                                       round=1, checkpoint="c", seed=0)) for i, t in enumerate([right, wrong])]
    results = UnitTestVerifier(backend="bwrap", workers=2).verify_batch(items)
    assert [r.passed for r in results] == [True, False] and results[1].score == 0.5, [r.reason for r in results]


@pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not installed")
def test_a_reference_fenced_as_a_language_is_judged_in_it():
    import json

    from tests.sandbox.function_tests_by_language import JS

    prompt_text, tests, right, wrong = JS["reverse"]
    verifier = UnitTestVerifier(backend="bwrap", workers=2)
    for reference in (f"```javascript\n{tests}```", json.dumps({"tests": f"```js\n{tests}\n```", "prefix": prompt_text})):
        prompt = Prompt(id="p", domain="code", messages=[Message(role="user", content=prompt_text)],
                        reference=reference, source="f:1")
        assert verifier.check_reference(prompt) is None
        answers = [prompt_text + right, prompt_text + wrong] if reference.startswith("```") else [right, wrong]
        items = [VerifyItem(prompt, Sample(prompt_id="p", sample_index=i, text=t, num_tokens=1, finish_reason="stop",
                                           round=1, checkpoint="c", seed=0)) for i, t in enumerate(answers)]
        assert [r.passed for r in verifier.verify_batch(items)] == [True, False]
    python = Prompt(id="p", domain="code", messages=[Message(role="user", content="f")],
                    reference="```python\nassert f() == 1\n```", source="f:1")
    assert verifier.check_reference(python) is None  # a fenced Python reference is Python tests
