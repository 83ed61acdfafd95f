"""`flywheel demo --rounds 1 --backend vllm|vllm_server` end to end on the small round config.

Each run must finish, record its backend in every sample's ``sampling``, and leave no vLLM
process behind (engines and servers are closed with the stage that started them). Round 0's
evaluation hands its engine to round 1's generation (the same checkpoint): two engine starts,
not three.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.session_checks import left_by, tagged_environment

pytest.importorskip("vllm")
pytestmark = pytest.mark.slow

FLYWHEEL = Path(sys.executable).with_name("flywheel")


@pytest.mark.parametrize("backend", ["vllm", "vllm_server"])
def test_demo_round_with_a_vllm_backend(backend, small_config_path, tmp_path):
    workdir = tmp_path / f"demo-{backend}"
    env, tag = tagged_environment()  # what the demo starts carries its tag (the other test worker runs its own)
    result = subprocess.run([str(FLYWHEEL), "demo", "--rounds", "1", "--backend", backend, "--config",
                             str(small_config_path), "--workdir", str(workdir)],
                            capture_output=True, text=True, timeout=1200, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with duckdb.connect(str(workdir / "flywheel.duckdb"), read_only=True) as db:
        rows = db.execute("SELECT sampling, finish_reason, num_tokens FROM samples").fetchall()
        evaluated = db.execute("SELECT count(*) FROM eval_samples").fetchone()[0]
    assert rows and evaluated > 0
    assert {json.loads(sampling)["backend"] for sampling, _, _ in rows} == {backend}
    assert {finish for _, finish, _ in rows} <= {"stop", "length"}
    assert all(0 < tokens <= 24 for _, _, tokens in rows)
    assert left_by(tag) == []  # engines and servers (VLLM::EngineCore, vllm serve, its supervisor) included
    # one engine for the base model (round 0's evaluation, then round 1's generation), one for round 1's checkpoint
    output = result.stdout + result.stderr
    starts = output.count("vllm serve replica 0 ready" if backend == "vllm_server" else "vllm engine ready for")
    assert starts == 2, output[-3000:]
