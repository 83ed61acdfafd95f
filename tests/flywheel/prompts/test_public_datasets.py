"""Public data sets fed in as published (rows written from their published schemas, tests/data/public/), read in
their own fields, and judged by the real verifiers: each row's own solution passes, a wrong one fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flywheel.prompts.formats import PromptFormatError, load_prompts
from flywheel.records.schema import Sample
from flywheel.verification.plugins import VerifyItem
from flywheel_sandbox import bwrap_available

PUBLIC = Path(__file__).resolve().parents[2] / "data" / "public"
needs_bwrap = pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap")

# file, the format it is read as, its domain, and how many rows it has
FORMATS = [("humaneval.jsonl", "humaneval", "code", 5), ("humanevalplus.jsonl", "humaneval", "code", 2),
           ("mbpp.jsonl", "mbpp", "code", 3), ("mbppplus.jsonl", "humaneval", "code", 1),
           ("apps.jsonl", "apps", "code", 2), ("taco.jsonl", "apps", "code", 1), ("codecontests.jsonl", "apps", "code", 1),
           ("livecodebench.jsonl", "livecodebench", "code", 2), ("gsm8k.jsonl", "gsm8k", "math", 3),
           ("math.jsonl", "math", "math", 2), ("math500.jsonl", "math", "math", 1), ("numina.jsonl", "numina", "math", 2)]

# Solutions for rows that publish none (LiveCodeBench), and certainly-wrong ones for every code file.
LIVECODEBENCH_SOLUTIONS = {
    "2727": "class Solution:\n    def countSeniors(self, details: List[str]) -> int:\n"
            "        return sum(int(d[11:13]) > 60 for d in details)\n",
    "1999A": "a, b = map(int, input().split())\nprint(a + b)\n",
}
WRONG = "```python\ndef similar_elements(a, b):\n    return ()\nclass Solution:\n    def twoSum(self, n, t):\n" \
        "        return [0, 0]\n    def countSeniors(self, d):\n        return -1\nprint(-12345)\n```"


def sample(prompt_id: str, text: str) -> Sample:
    return Sample(prompt_id=prompt_id, sample_index=0, text=text, num_tokens=1, finish_reason="stop", round=1,
                  checkpoint="c", seed=0)


@pytest.mark.parametrize("name,fmt,domain,count", FORMATS)
def test_each_format_loads_from_its_own_fields(name, fmt, domain, count):
    auto = load_prompts(PUBLIC / name)
    explicit = load_prompts(PUBLIC / name, fmt=fmt)
    assert [p.model_dump() for p in auto] == [p.model_dump() for p in explicit]
    assert len(auto) == count and {p.domain for p in auto} == {domain}
    assert all(p.reference for p in auto) and all(p.messages[-1].role == "user" for p in auto)


def test_the_references_are_the_published_answers():
    gsm8k = load_prompts(PUBLIC / "gsm8k.jsonl")
    assert [p.reference for p in gsm8k] == ["72", "10", "3500"]  # '#### 3,500' without its separator
    assert "<<" not in gsm8k[0].response and gsm8k[0].response.endswith("The answer is 72.")
    assert load_prompts(PUBLIC / "math500.jsonl")[0].reference == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert load_prompts(PUBLIC / "math500.jsonl")[0].id == "test/precalculus/807.json"
    assert [p.id for p in load_prompts(PUBLIC / "humaneval.jsonl")][:2] == ["HumanEval/0", "HumanEval/2"]
    mbpp = load_prompts(PUBLIC / "mbpp.jsonl")
    assert "assert similar_elements" in mbpp[0].messages[0].content  # the tests name the function to write
    reference = json.loads(mbpp[2].reference)
    # the setup runs before the tests and before the candidate's code; challenge_test_list is not scored
    assert reference["tests"].startswith("import heapq as hq") and reference["tests"].count("assert") == 2
    assert reference["prefix"] == "import heapq as hq\n"


@needs_bwrap
def test_code_rows_are_judged_as_their_harnesses_judge_them():
    from flywheel_verifiers.unit_tests import UnitTestVerifier

    items, expected = [], []
    for name, _, domain, _ in FORMATS:
        if domain != "code":
            continue
        for prompt in load_prompts(PUBLIC / name):
            right = prompt.response or f"```python\n{LIVECODEBENCH_SOLUTIONS[prompt.id]}```"
            items += [VerifyItem(prompt=prompt, sample=sample(prompt.id, right)),
                      VerifyItem(prompt=prompt, sample=sample(prompt.id, WRONG))]
            expected += [(prompt.id, True), (prompt.id, False)]
    results = UnitTestVerifier().verify_batch(items)
    got = [(prompt_id, result.passed) for (prompt_id, _), result in zip(expected, results)]
    assert got == expected, [r.reason for r in results]
    assert all(r.status == "ok" for r in results), [r.reason for r in results if r.status != "ok"]
    # per-case partial credit: HumanEval/0's check has 7 asserts, each its own test
    assert len(results[0].details["tests"]) == 7


def test_math_rows_are_judged_by_the_math_checker():
    from flywheel_verifiers.math import MathVerifier

    items, expected = [], []
    for name in ("gsm8k.jsonl", "math.jsonl", "math500.jsonl", "numina.jsonl"):
        for prompt in load_prompts(PUBLIC / name):
            items += [VerifyItem(prompt=prompt, sample=sample(prompt.id, prompt.response)),
                      VerifyItem(prompt=prompt, sample=sample(prompt.id, "The answer is 123456."))]
            expected += [True, False]
    assert [r.passed for r in MathVerifier().verify_batch(items)] == expected


def test_a_missing_field_names_the_file_line_and_field(tmp_path):
    rows = [json.loads(line) for line in (PUBLIC / "humaneval.jsonl").read_text().splitlines()]
    del rows[1]["entry_point"]
    path = tmp_path / "he.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(PromptFormatError, match=r"he\.jsonl:2: missing field 'entry_point'"):
        load_prompts(path, fmt="humaneval")
    (tmp_path / "g.jsonl").write_text(json.dumps({"question": "q", "answer": "no final answer"}) + "\n")
    with pytest.raises(PromptFormatError, match=r"g\.jsonl:1: field 'answer' has no '#### N'"):
        load_prompts(tmp_path / "g.jsonl", fmt="gsm8k")


def test_a_json_list_of_asserts_is_tests_not_the_text_of_a_list(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"instruction": "Write f.", "domain": "code",
                                "tests": ["assert f(1) == 2", "assert f(2) == 3"]}) + "\n")
    (prompt,) = load_prompts(path)
    assert prompt.reference == "assert f(1) == 2\nassert f(2) == 3\n"


def test_a_datasets_folder_and_a_dataset_dict_split(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = [json.loads(line) for line in (PUBLIC / "gsm8k.jsonl").read_text().splitlines()]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "single"))
    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows[:2]),
                          "test": datasets.Dataset.from_list(rows[2:])}).save_to_disk(str(tmp_path / "dict"))
    assert [p.reference for p in load_prompts(tmp_path / "single")] == ["72", "10", "3500"]
    assert [p.reference for p in load_prompts(tmp_path / "dict")] == ["72", "10"]  # train by default
    assert [p.reference for p in load_prompts(tmp_path / "dict", split="test")] == ["3500"]
    with pytest.raises(PromptFormatError, match="splits"):
        load_prompts(tmp_path / "dict", split="validation")
    (tmp_path / "plain").mkdir()
    with pytest.raises(PromptFormatError, match="not a Hugging Face datasets folder"):
        load_prompts(tmp_path / "plain")


def test_a_hub_name_offline_says_so(monkeypatch):
    datasets = pytest.importorskip("datasets")
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    # Both libraries read the variables when first imported, maybe by an earlier test of this worker; without
    # these, the load went to the network and retried for 23 s before it failed.
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(PromptFormatError, match="flywheel-nonexistent/nothing: could not load this hub data set"):
        load_prompts(None, hub="flywheel-nonexistent/nothing")


def test_livecodebench_private_tests_never_unpickle_a_class(tmp_path):
    import base64
    import pickle
    import zlib

    row = json.loads((PUBLIC / "livecodebench.jsonl").read_text().splitlines()[0])
    row["private_test_cases"] = base64.b64encode(zlib.compress(pickle.dumps(Path("/etc/passwd")))).decode()
    path = tmp_path / "lcb.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(PromptFormatError, match="refusing to load"):
        load_prompts(path)
