"""The run monitor's view of a run worker: a real gRPC code server, alive, restarted or gone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.launcher import WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG
from dagster._grpc.client import DagsterGrpcClient

from dagster_project.run_launcher import SERVER_ID_TAG, MonitoredRunLauncher
from tests.dagster_project.dagster_server import free_port

DEFINITIONS = """
import dagster as dg

@dg.asset
def nothing():
    return 1

defs = dg.Definitions(assets=[nothing])
"""


def _run(port: int, server_id: str | None = None, run_id: str = "0f0f0f0f-0000-4000-8000-000000000000") -> dg.DagsterRun:
    tags = {GRPC_INFO_TAG: json.dumps({"host": "127.0.0.1", "port": port})}
    if server_id:
        tags[SERVER_ID_TAG] = server_id
    return dg.DagsterRun(job_name="__ASSET_JOB", run_id=run_id, tags=tags)


@pytest.fixture(scope="module")
def code_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("grpc")
    (folder / "defs.py").write_text(DEFINITIONS)
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).with_name("dagster")), "api", "grpc", "-h", "127.0.0.1",
                               "-p", str(port), "-f", str(folder / "defs.py")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    client = DagsterGrpcClient(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            yield port, client.get_server_id(timeout=5)
            break
        except Exception:  # noqa: BLE001 -- still starting
            time.sleep(0.5)
    else:
        pytest.fail("dagster api grpc did not come up")
    os.killpg(server.pid, signal.SIGKILL)
    server.wait()


def test_a_silent_code_server_fails_the_run_on_the_second_poll_saying_why():
    launcher, run = MonitoredRunLauncher(), _run(free_port())  # nothing listens there
    first = launcher.check_run_worker_health(run)
    assert first.status == WorkerStatus.RUNNING  # one silent poll is not a dead worker
    second = launcher.check_run_worker_health(run)
    assert second.status == WorkerStatus.FAILED
    assert "stopped answering" in second.msg and "127.0.0.1" in second.msg and "Launch the round again" in second.msg


def test_the_same_code_server_without_the_run_twice_means_the_worker_died(code_server):
    port, server_id = code_server
    launcher, run = MonitoredRunLauncher(), _run(port, server_id)
    first = launcher.check_run_worker_health(run)
    assert first.status == WorkerStatus.RUNNING and "suspect (1/2)" in first.msg
    second = launcher.check_run_worker_health(run)
    assert second.status == WorkerStatus.FAILED and "no longer runs this run's worker" in second.msg


def test_a_healthy_answer_between_two_suspect_polls_clears_the_suspicion(code_server):
    port, server_id = code_server
    launcher, run_id = MonitoredRunLauncher(), "2d2d2d2d-0000-4000-8000-000000000000"
    assert launcher.check_run_worker_health(_run(port, server_id, run_id)).status == WorkerStatus.RUNNING
    assert launcher.check_run_worker_health(_run(port, "reloaded", run_id)).status == WorkerStatus.RUNNING
    assert launcher.check_run_worker_health(_run(port, server_id, run_id)).status == WorkerStatus.RUNNING


def test_another_code_process_is_given_the_benefit_of_the_doubt(code_server):
    port, _ = code_server  # a reload keeps earlier runs in the old process, out of the new one's sight
    result = MonitoredRunLauncher().check_run_worker_health(_run(port, "an-earlier-server-id"))
    assert result.status == WorkerStatus.RUNNING


def test_silence_is_counted_per_run(code_server):
    port, _ = code_server
    launcher = MonitoredRunLauncher()
    dead = _run(free_port())
    assert launcher.check_run_worker_health(dead).status == WorkerStatus.RUNNING
    other = _run(port, "an-earlier-server-id", run_id="1e1e1e1e-0000-4000-8000-000000000000")
    assert launcher.check_run_worker_health(other).status == WorkerStatus.RUNNING  # no effect on dead's count
    assert launcher.check_run_worker_health(dead).status == WorkerStatus.FAILED
