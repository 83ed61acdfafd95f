"""`flywheel init` → `check` → `run` → `sql`: a new user's own task, the README's "Your own task" commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flywheel.collect import load_prompts
from flywheel.starter import write_starter

FLYWHEEL = Path(sys.executable).with_name("flywheel")


def test_the_starter_has_one_prompts_file_per_chat_format_and_refuses_to_overwrite(tmp_path):
    written = write_starter(tmp_path / "task")
    assert [p.name for p in written] == ["round.yaml", "alpaca.jsonl", "sharegpt.jsonl", "messages.jsonl",
                                         "heldout.jsonl"]
    domains = {p.name: sorted(x.domain for x in load_prompts(p)) for p in written[1:]}
    assert domains["alpaca.jsonl"] == ["general", "math"] and domains["sharegpt.jsonl"] == ["code", "general"]
    with pytest.raises(FileExistsError, match="already exists"):
        write_starter(tmp_path / "task")


@pytest.mark.slow
def test_init_check_run_and_audit_a_round(tmp_path):
    def flywheel(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(FLYWHEEL), *argv], capture_output=True, text=True, timeout=900, cwd=tmp_path)

    assert flywheel("init", "task").returncode == 0
    check = flywheel("check", "--config", "task/round.yaml")
    assert check.returncode == 0 and "ready to run" in check.stdout, check.stdout
    run = flywheel("run", "--config", "task/round.yaml", "--rounds", "1")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    audit = flywheel("sql", "--workdir", "task/runs/my-task", "--format", "json",
                     "SELECT round, n_prompts, n_samples FROM round_metrics ORDER BY round")
    assert json.loads(audit.stdout) == [{"round": 1, "n_prompts": 6, "n_samples": 24}]
