import json
import subprocess
import sys

import pytest

from flywheel_sandbox.runner import bwrap_available

pytestmark = pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not installed")


def run_cli(tmp_path, program, tests=None, *extra):
    (tmp_path / "p.py").write_text(program)
    argv = [sys.executable, "-m", "flywheel_sandbox", "run", str(tmp_path / "p.py"), "--json", *extra]
    if tests is not None:
        (tmp_path / "t.py").write_text(tests)
        argv += ["--tests", str(tmp_path / "t.py")]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_passing_program_exits_zero_with_json(tmp_path):
    done = run_cli(tmp_path, "def f():\n    return 2\n", "assert f() == 2\n")
    assert done.returncode == 0
    result = json.loads(done.stdout)
    assert result["status"] == "passed" and result["tests"] == [{"name": "test_assert_1", "passed": True, "error": ""}]
    assert set(result) >= {"stdout", "stderr", "exit_code", "wall_seconds"}


def test_failing_and_timing_out_exit_one(tmp_path):
    assert run_cli(tmp_path, "def f():\n    return 3\n", "assert f() == 2\n").returncode == 1
    done = run_cli(tmp_path, "while True:\n    pass\n", None, "--timeout", "1")
    assert done.returncode == 1 and json.loads(done.stdout)["status"] == "timeout"
