"""The docker backend at the SDK boundary (no engine here), and for real where an engine answers."""

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import types
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

    def logs(self, stdout=True, stderr=False, stream=False, follow=False):
        data = self.output[0] if stdout else self.output[1]
        return iter([data[i:i + 4096] for i in range(0, len(data), 4096)]) if stream else data

    def kill(self):
        self.process.kill()
        self.output = self.process.communicate()

    def remove(self, force=False):
        self.removed = True


class RecordingVolume:
    """Stands in for the link's tmpfs volume: a host folder, named by its path, so the mounts above resolve."""

    def __init__(self, options):
        self.options = options
        self.name = tempfile.mkdtemp(prefix="flywheel-link-")
        os.chmod(self.name, 0o777)

    def remove(self, force=False):
        shutil.rmtree(self.name, ignore_errors=True)


class RecordingClient:
    def __init__(self):
        self.calls, self.started, self.link_volumes = [], [], []
        self.containers = self
        self.volumes = types.SimpleNamespace(create=self._create_volume)

    def _create_volume(self, driver, driver_opts):
        self.link_volumes.append(RecordingVolume(dict(driver_opts, driver=driver)))
        return self.link_volumes[-1]

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
    # the link is a 1 MiB tmpfs volume, removed after the run; the engine keeps a bounded log
    (link,) = client.link_volumes
    assert link.options == {"driver": "local", "type": "tmpfs", "device": "tmpfs", "o": "size=1048576,mode=1777"}
    assert not os.path.exists(link.name)
    assert judge["log_config"]["config"] == {"max-size": str(1 << 20), "max-file": "1"}


def test_wrong_answer_fails_through_the_same_path():
    result = DockerBackend(client=RecordingClient()).run("def add(a, b):\n    return a - b\n", "assert add(1, 2) == 3", LIMITS)
    assert result.status == "failed"


def _engine():
    """A Docker engine that answers, with the sandbox image (built offline from the system Python if missing)."""
    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception:  # noqa: BLE001 - no SDK, no socket, no daemon: all mean no engine here
        return None
    try:
        client.images.get("flywheel-sandbox:latest")
    except Exception:  # noqa: BLE001 - docker.errors.ImageNotFound
        from flywheel_sandbox.docker_image import build_image

        build_image()
    return client


ENGINE = _engine()
needs_engine = pytest.mark.skipif(ENGINE is None, reason="no Docker engine answers (.ci/run starts dockerd where "
                                                          "Debian's docker.io is installed)")


@needs_engine
def test_real_engine_bounds_the_link_folder_and_the_output_it_reads():
    backend = DockerBackend(client=ENGINE)
    # The link folder was a host folder: 384 MiB went through it, past the candidate's own 64 MiB tmpfs.
    filler = ("import os\nwritten = 0\ntry:\n    for i in range(48):\n        with open('/link/f%d' % i, 'wb') as f:\n"
              "            f.write(bytes(1 << 20))\n        written += 1\nexcept OSError as error:\n"
              "    print(error.errno)\nprint(written)\n")
    result = backend.run(filler, None, LIMITS)
    errno, files = result.stdout.split()
    assert result.status == "passed" and errno == "28" and int(files) <= 1, result  # ENOSPC past 1 MiB
    # A stdout flood: the host read the whole log into memory and took over 45 s to return.
    started = time.monotonic()
    limits = Limits(wall_seconds=10, memory_bytes=256 << 20, processes=16, tmpfs_bytes=32 << 20)  # time to flood,
    flood = backend.run("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n", None, limits)  # even loaded
    assert time.monotonic() - started < limits.wall_seconds + 20
    assert flood.stdout_truncated and len(flood.stdout) == LIMITS.output_bytes, (flood.status, len(flood.stdout))


@needs_engine
def test_real_engine_judges_and_isolates():
    backend = DockerBackend(client=ENGINE)
    assert backend.run("def add(a, b):\n    return a + b\n", "assert add(1, 2) == 3", LIMITS).status == "passed"
    assert backend.run("def add(a, b):\n    return a - b\n", "assert add(1, 2) == 3", LIMITS).status == "failed"
    # the judge/candidate protocol crosses containers: callbacks, in-place mutation, HumanEval's checker
    tests = "def check(candidate):\n    xs = [3, 1]\n    candidate(xs, key=lambda v: -v)\n    assert xs == [3, 1]\n" \
            "    ys = [1, 3]\n    candidate(ys, key=lambda v: -v)\n    assert ys == [3, 1]\n\ncheck(order)\n"
    result = backend.run("def order(xs, key):\n    xs.sort(key=key)\n", tests, LIMITS)
    assert result.status == "passed" and [t.name for t in result.tests] == ["test_check_1", "test_check_2"], result
    inet = backend.run("import socket\nsocket.socket(socket.AF_INET)\n", None, LIMITS)
    vsock = backend.run("import socket\nsocket.socket(40, socket.SOCK_STREAM)\n", None, LIMITS)
    assert inet.status == vsock.status == "error" and "Operation not permitted" in inet.stderr + vsock.stderr
    assert backend.run("import socket\na, b = socket.socketpair()\n", None, LIMITS).status == "passed"
    assert backend.run("open('/etc/x', 'w')\n", None, LIMITS).status == "error"  # read-only root
    assert backend.run("while True:\n    pass\n", None, LIMITS).status == "timeout"
    assert backend.run("x = bytearray(1 << 30)\n", None, LIMITS).status in ("memory_exceeded", "error")
    bomb = backend.run("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n", None,
                       LIMITS)
    assert bomb.status in ("timeout", "killed", "error")


def test_the_docker_backend_is_selectable_in_the_config():
    from flywheel.config import SandboxConfig

    assert SandboxConfig(backend="docker").verifier_options()["backend"] == "docker"


def test_dockerfile_exists_and_runs_as_nobody():
    text = (Path(__file__).resolve().parents[2] / "sandbox" / "Dockerfile").read_text()
    assert "USER 65534:65534" in text


@needs_engine
def test_real_engine_a_flood_then_the_answer_is_judged_on_the_prefix_not_the_tail():
    """The engine's log rotates at its max-size, and a flood past it left only the tail: junk then "42" was
    judged as the output "42". The container's PID 1 now forwards a capped prefix, and /proc/1/fd is closed to
    the candidate, so writing past it fails."""
    backend = DockerBackend(client=ENGINE)
    # 1,000 numbered lines of 1,000 bytes: the log rotated at about line 980, and its last lines read as the
    # whole output, under the cap and not marked truncated
    flood_then_answer = ("import sys\nfor i in range(1000):\n    sys.stdout.write('%04d' % i + 'x' * 995 + '\\n')\n"
                         "sys.stdout.write('42\\n')\n")
    result = backend.run(flood_then_answer, None, LIMITS)
    assert result.status == "passed" and result.stdout_truncated, (result.status, result.stdout[:20])
    printed = "".join("%04d" % i + "x" * 995 + "\n" for i in range(1000)) + "42\n"
    assert result.stdout == printed[:LIMITS.output_bytes]  # the prefix, never the tail with the answer in it
    around = ("try:\n    open('/proc/1/fd/1', 'w').write('42\\n')\n    print('wrote past the forwarder')\n"
              "except OSError as error:\n    print('refused', error.errno)\n")
    result = backend.run(around, None, LIMITS)
    assert result.stdout.split()[0] == "refused", result.stdout


@needs_engine
def test_real_engine_a_process_left_behind_does_not_keep_the_container_up():
    """The candidate runs under the output forwarder: a child it leaves holding stdout does not keep the run going
    past the candidate's end (when the candidate was the container's PID 1, the child ended with it)."""
    backend = DockerBackend(client=ENGINE)
    started = time.monotonic()
    result = backend.run("import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', 'import time; "
                         "time.sleep(60)'])\nprint('done')\n", None, LIMITS)
    assert result.status == "passed" and result.stdout == "done\n", (result.status, result.reason)
    assert time.monotonic() - started < LIMITS.wall_seconds
