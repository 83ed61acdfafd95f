"""The ``docker`` backend for production hosts: one locked-down container per execution.

The container gets no network, a read-only root filesystem with size-capped tmpfs work
dirs, pid/memory/CPU limits, every capability dropped, ``no-new-privileges``, a non-root
user and an empty environment. The job (harness, program, tests) travels in the command
line; assertion reports come back through a bind-mounted results folder and are judged
on the host exactly as for bwrap. Image: ``sandbox/Dockerfile``.
"""

from __future__ import annotations

import base64
import json
import tempfile
import time
from pathlib import Path

from sandbox.result import Limits, Result
from sandbox.tests import build_result, prepare_tests

IMAGE = "flywheel-sandbox:latest"
HARNESS = Path(__file__).with_name("harness.py")
BOOTSTRAP = (
    "import base64, json, os, sys, types\n"
    "job = json.loads(base64.b64decode(sys.argv[1]))\n"
    "harness = types.ModuleType('harness')\n"
    "exec(compile(job['harness'], 'harness.py', 'exec'), harness.__dict__)\n"
    "fd = os.open('/results/events', os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)\n"
    "harness.run_job(harness.Channel(fd), job['program'], job['tests'], job['names'])\n"
)


class DockerBackend:
    def __init__(self, client=None, image: str = IMAGE):
        self._client = client
        self.image = image

    @property
    def client(self):
        if self._client is None:
            import docker

            self._client = docker.from_env()
        return self._client

    def container_spec(self, command: list[str], limits: Limits, results_dir: str) -> dict:
        """The keyword arguments for ``client.containers.run``: every isolation setting in one place."""
        from docker.types import Ulimit

        tmpfs = f"size={limits.tmpfs_bytes},mode=1777"
        return {
            "image": self.image, "command": command, "detach": True, "stdin_open": False, "environment": {},
            "network_mode": "none", "read_only": True, "tmpfs": {"/tmp": tmpfs, "/work": tmpfs}, "working_dir": "/work",
            "user": "65534:65534", "cap_drop": ["ALL"], "security_opt": ["no-new-privileges"],
            "pids_limit": limits.processes, "mem_limit": limits.memory_bytes, "memswap_limit": limits.memory_bytes,
            "nano_cpus": 1_000_000_000,
            "ulimits": [Ulimit(name="cpu", soft=limits.cpu_seconds, hard=limits.cpu_seconds + 1),
                        Ulimit(name="fsize", soft=limits.file_bytes, hard=limits.file_bytes),
                        Ulimit(name="nofile", soft=limits.open_files, hard=limits.open_files),
                        Ulimit(name="core", soft=0, hard=0)],
            "volumes": {results_dir: {"bind": "/results", "mode": "rw"}},
        }

    def run(self, code: str, tests: str | None = None, limits: Limits = Limits()) -> Result:
        try:
            prepared = prepare_tests(tests) if tests else None
        except SyntaxError as error:
            return Result(status="error", reason=f"tests do not parse: {error}")
        payload = base64.b64encode(json.dumps({
            "harness": HARNESS.read_text(), "program": code, "tests": prepared.source if prepared else None,
            "names": prepared.names if prepared else []}).encode()).decode()
        with tempfile.TemporaryDirectory(prefix="flywheel-docker-") as results_dir:
            Path(results_dir).chmod(0o777)  # the container's user (nobody) writes the report here
            started = time.perf_counter()
            container = self.client.containers.run(**self.container_spec(
                ["python3", "-I", "-c", BOOTSTRAP, payload], limits, results_dir))
            timed_out = False
            try:
                try:
                    status = container.wait(timeout=limits.wall_seconds)["StatusCode"]
                except Exception:  # noqa: BLE001 - the SDK raises requests' timeout types
                    timed_out, status = True, None
                    container.kill()
                wall = time.perf_counter() - started
                stdout = container.logs(stdout=True, stderr=False)[: limits.output_bytes].decode("utf-8", "replace")
                stderr = container.logs(stdout=False, stderr=True)[: limits.output_bytes].decode("utf-8", "replace")
            finally:
                container.remove(force=True)
            events_file = Path(results_dir, "events")
            raw = events_file.read_bytes()[: 1 << 20].decode("utf-8", "replace") if events_file.exists() else ""
        # Docker reports death by signal N as 128 + N; the other backends as -N.
        exit_code = None if status is None else (-(status - 128) if status > 128 else status)
        return build_result(raw, prepared, exit_code=exit_code, timed_out=timed_out, stdout=stdout, stderr=stderr,
                            wall_seconds=wall)
