"""The program inside the docker backend's two containers, run as two plain host processes with the same
command lines (no engine, no isolation: the job here is benign): the judge's socket, the candidate's answers,
the report on the results path, the candidate's output cut at its cap. test_docker_backend.py runs it in
containers."""

from __future__ import annotations

import subprocess
from pathlib import Path

from flywheel_sandbox.docker_backend import DockerBackend
from flywheel_sandbox.result import Limits
from flywheel_sandbox.tests import prepare_tests
from flywheel_sandbox.worker import frames

PROGRAM = "import sys\nprint('x' * 5000)\nprint('to stderr', file=sys.stderr)\ndef double(v):\n    return 2 * v\n"
TESTS = "def test_right():\n    assert double(2) == 4\ndef test_wrong():\n    assert double(2) == 5\n"


def _job(folder: Path, limits: Limits) -> dict:
    return {"wall_seconds": 30, "link_path": str(folder / "sock"), "results_path": str(folder / "events"),
            "limits": limits.for_job(), "output_bytes": 1000}


def test_the_judge_reports_each_test_and_the_candidates_output_is_capped(tmp_path):
    backend, limits = DockerBackend(client=object()), Limits()
    prepared = prepare_tests(TESTS)
    job = _job(tmp_path, limits)
    judge = subprocess.Popen(backend._command(dict(job, role="judge", tests=prepared.source, names=prepared.names)),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    candidate = subprocess.run(backend._command(dict(job, role="candidate", program=PROGRAM, mode="tests")),
                               capture_output=True, timeout=60)
    assert judge.wait(timeout=60) == 0, judge.stderr.read()
    judge.stderr.close()
    assert candidate.returncode == 0, candidate.stderr
    assert len(candidate.stdout) == 1001 and candidate.stdout == b"x" * 1001  # the cap plus one: shown as truncated
    assert candidate.stderr == b"to stderr\n"
    events = frames((tmp_path / "events").read_bytes())
    outcomes = {e["name"]: e["passed"] for e in events if e["kind"] == "test"}
    assert outcomes == {"test_right": True, "test_wrong": False}


def test_a_candidate_without_tests_just_runs_with_its_exit_code(tmp_path):
    backend = DockerBackend(client=object())
    ran = subprocess.run(backend._command(dict(_job(tmp_path, Limits()), role="candidate", mode="run",
                                               program="print('hi'); raise SystemExit(3)")),
                         capture_output=True, timeout=60)
    assert (ran.returncode, ran.stdout) == (3, b"hi\n")
