"""The docker backend at the SDK boundary (no engine here), and for real where an engine answers."""

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from flywheel_sandbox.docker_backend import DockerBackend
from flywheel_sandbox.result import Limits

LIMITS = Limits(wall_seconds=3, memory_bytes=256 << 20, processes=16, tmpfs_bytes=32 << 20)


class RecordingContainer:
    """Stands in for a docker container: runs its command locally (concurrently, as containers run), with the
    mounts' container paths rewritten to their host folders, so the socket and the results path are exercised."""

    def __init__(self, spec):
        self.spec = spec
        mounts = {bind["bind"]: path for path, bind in spec["volumes"].items()}
        job = json.loads(base64.b64decode(spec["command"][4]))
        self.job = dict(job)
        job["link_path"] = job["link_path"].replace("/link", mounts["/link"])
        if "/results" in mounts:
            job["results_path"] = job["results_path"].replace("/results", mounts["/results"])
        payload = base64.b64encode(json.dumps(job).encode()).decode()
        self.process = subprocess.Popen([sys.executable, "-I", "-c", spec["command"][3], payload],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.output = None
        self.removed = False

    def wait(self, timeout):
        self.output = self.process.communicate(timeout=timeout)
        return {"StatusCode": self.process.returncode}

    def logs(self, stdout=True, stderr=False):
        return self.output[0] if stdout else self.output[1]

    def kill(self):
        self.process.kill()
        self.output = self.process.communicate()

    def remove(self, force=False):
        self.removed = True


class RecordingClient:
    def __init__(self):
        self.calls, self.started = [], []
        self.containers = self

    def run(self, **spec):
        self.calls.append(spec)
        self.started.append(RecordingContainer(spec))
        return self.started[-1]


def test_container_specs_lock_everything_down():
    client = RecordingClient()
    result = DockerBackend(client=client).run("def add(a, b):\n    return a + b\n", "assert add(1, 2) == 3", LIMITS)
    judge, candidate = client.calls
    for spec in (judge, candidate):
        assert spec["network_mode"] == "none" and spec["read_only"] is True
        assert spec["tmpfs"] == {"/tmp": f"size={32 << 20},mode=1777", "/work": f"size={32 << 20},mode=1777"}
        assert spec["pids_limit"] == 16 and spec["mem_limit"] == spec["memswap_limit"] == 256 << 20
        assert spec["nano_cpus"] == 1_000_000_000
        assert spec["cap_drop"] == ["ALL"] and spec["security_opt"][0] == "no-new-privileges"
        profile = json.loads(spec["security_opt"][1].removeprefix("seccomp="))
        assert {"ptrace", "process_vm_readv", "shmget"} <= set(profile["syscalls"][0]["names"])
        assert spec["user"] == "65534:65534" and spec["environment"] == {}
        assert {u["Name"]: u["Hard"] for u in spec["ulimits"]} == {"cpu": LIMITS.cpu_seconds + 1,
                                                                     "fsize": LIMITS.file_bytes,
                                                                     "nofile": LIMITS.open_files, "core": 0}
        assert spec["image"] == "flywheel-sandbox:latest" and spec["command"][:3] == ["python3", "-I", "-c"]
    # the judge alone mounts the results folder; the candidate never sees the tests
    assert {b["bind"] for b in judge["volumes"].values()} == {"/link", "/results"}
    assert {b["bind"] for b in candidate["volumes"].values()} == {"/link"}
    judge_job, candidate_job = (c.job for c in client.started)
    assert judge_job["names"] == ["test_assert_1"] and "add(1, 2)" in judge_job["tests"]
    assert "tests" not in candidate_job and "add(1, 2)" not in json.dumps(candidate_job)
    assert all(c.removed for c in client.started)
    assert result.status == "passed", result  # the report came back through the results folder and was judged


def test_wrong_answer_fails_through_the_same_path():
    result = DockerBackend(client=RecordingClient()).run("def add(a, b):\n    return a - b\n", "assert add(1, 2) == 3", LIMITS)
    assert result.status == "failed"


def _engine():
    try:
        import docker

        client = docker.from_env()
        client.ping()
        client.images.get("flywheel-sandbox:latest")
        return client
    except Exception:  # noqa: BLE001
        return None


@pytest.mark.skipif(_engine() is None, reason="no Docker engine with the flywheel-sandbox image (docker build -t "
                                              "flywheel-sandbox:latest sandbox/)")
def test_real_engine_isolates():
    backend = DockerBackend(client=_engine())
    assert backend.run("def add(a, b):\n    return a + b\n", "assert add(1, 2) == 3", LIMITS).status == "passed"
    net = backend.run("import socket\nsocket.create_connection(('192.0.2.1', 80), timeout=2)\n", None, LIMITS)
    assert net.status == "error"
    assert backend.run("while True:\n    pass\n", None, LIMITS).status == "timeout"


def test_dockerfile_exists_and_runs_as_nobody():
    text = (Path(__file__).resolve().parents[2] / "sandbox" / "Dockerfile").read_text()
    assert "USER 65534:65534" in text
