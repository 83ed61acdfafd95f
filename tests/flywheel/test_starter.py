"""`flywheel init` → `check` → `run` → `sql`: a new user's own task, the README's "Your own task" commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flywheel.prompts.formats import load_prompts
from flywheel.starter import write_starter

FLYWHEEL = Path(sys.executable).with_name("flywheel")


def test_the_starter_has_one_prompts_file_per_chat_format_and_refuses_to_overwrite(tmp_path):
    written = write_starter(tmp_path / "task")
    assert [p.name for p in written] == ["round.yaml", "alpaca.jsonl", "sharegpt.jsonl", "messages.jsonl",
                                         "heldout.jsonl", "tasks.jsonl"]
    domains = {p.name: sorted(x.domain for x in load_prompts(p)) for p in written[1:]}
    assert domains["alpaca.jsonl"] == ["general", "math"] and domains["sharegpt.jsonl"] == ["code", "general"]
    with pytest.raises(FileExistsError, match="already exists"):
        write_starter(tmp_path / "task")


@pytest.mark.slow
def test_init_check_run_two_rounds_learns_and_audits(tmp_path):
    """The README's commands as written: the starter's round 2 accepts checked samples, and no round warns about
    the starter's own settings (a policy without its verifier, a domain with no verifiers)."""
    def flywheel(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(FLYWHEEL), *argv], capture_output=True, text=True, timeout=900, cwd=tmp_path)

    init = flywheel("init", "task")
    assert init.returncode == 0 and "--rounds 2" in init.stdout
    check = flywheel("check", "--config", "task/round.yaml")
    assert check.returncode == 0 and "ready to run" in check.stdout and "warning" not in check.stdout.lower(), \
        check.stdout
    run = flywheel("run", "--config", "task/round.yaml", "--rounds", "2")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    audit = flywheel("sql", "--workdir", "task/runs/my-task", "--format", "json",
                     "SELECT round, n_prompts, n_samples, warnings FROM round_metrics ORDER BY round")
    rounds = json.loads(audit.stdout)
    assert [(r["round"], r["n_prompts"], r["n_samples"]) for r in rounds] == [(1, 46, 184), (2, 46, 184)]
    about_the_config = [w for r in rounds for w in r["warnings"] or [] if "no verifiers" in w or "best_of_n" in w
                        or "max_new_tokens" in w]
    assert about_the_config == []
    # the yield that counts: samples a checker proved right, recomputed from the stored rows
    checked = flywheel("sql", "--workdir", "task/runs/my-task", "--format", "json",
                       "SELECT a.round, p.domain, count(*) AS accepted FROM accepted_samples a JOIN prompts p "
                       "ON p.id = a.prompt_id AND p.round = a.round WHERE p.domain IN ('math', 'code') "
                       "GROUP BY ALL ORDER BY ALL")
    accepted = {(r["round"], r["domain"]): r["accepted"] for r in json.loads(checked.stdout)}
    assert sum(n for (round_number, _), n in accepted.items() if round_number == 2) > 0, accepted
