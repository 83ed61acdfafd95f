"""The ``docker`` backend for production hosts: a judge container and a candidate container per execution.

As with bubblewrap, the tests and the untrusted program never share a process: the
judge container runs the tests, the candidate container the program, and they speak
only plain data (flywheel_sandbox.wire) over a Unix socket in a 1 MiB tmpfs volume both mount at /link. Only
the judge mounts /results, where its report goes. Each container gets no network, a
read-only root filesystem with size-capped tmpfs work dirs, pid/memory/CPU limits,
every capability dropped, ``no-new-privileges``, a non-root user, an empty environment
and the same seccomp filter as the bwrap backend (its deny-list, sockets for AF_UNIX only).
Image: ``sandbox/Dockerfile``, or offline ``python -m flywheel_sandbox docker-image``
(flywheel_sandbox.docker_image, from this machine's system Python).
"""

from __future__ import annotations

import base64
import json
import tempfile
import time
from pathlib import Path

from flywheel_sandbox import seccomp
from flywheel_sandbox.result import Limits, Result
from flywheel_sandbox.tests import judge_run, prepare_tests
from flywheel_sandbox.worker import Run, frames

IMAGE = "flywheel-sandbox:latest"
# /link holds only the socket: a tmpfs volume this small bounds what a candidate can write there (a host folder
# did not: 384 MiB went through it past the candidate's own 64 MiB tmpfs).
LINK_BYTES = 1 << 20
HERE = Path(__file__).resolve().parent
MODULES = ("wire", "candidate", "judge", "docker_entry")
BOOTSTRAP = (
    "import base64, json, sys, types\n"
    "job = json.loads(base64.b64decode(sys.argv[1]))\n"
    "for name, source in job.pop('modules'):\n"
    "    module = types.ModuleType(name)\n"
    "    sys.modules[name] = module\n"
    "    exec(compile(source, name + '.py', 'exec'), module.__dict__)\n"
    "sys.exit(sys.modules['docker_entry'].run(job))\n"
)


def seccomp_profile() -> str:
    """The bwrap filter as a Docker seccomp profile (JSON): its deny-list, and sockets for AF_UNIX only."""
    return json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": sorted(seccomp.denied_syscalls()), "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
        {"names": ["socket", "socketpair"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
         "args": [{"index": 0, "value": seccomp.AF_UNIX, "op": "SCMP_CMP_NE"}]}]})


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

    def container_spec(self, command: list[str], limits: Limits, volumes: dict) -> dict:
        """The keyword arguments for ``client.containers.run``: every isolation setting in one place."""
        from docker.types import Ulimit

        tmpfs = f"size={limits.tmpfs_bytes},mode=1777"
        return {
            "image": self.image, "command": command, "detach": True, "stdin_open": False, "environment": {},
            "network_mode": "none", "read_only": True, "tmpfs": {"/tmp": tmpfs, "/work": tmpfs}, "working_dir": "/work",
            "user": "65534:65534", "cap_drop": ["ALL"], "security_opt": ["no-new-privileges", f"seccomp={seccomp_profile()}"],
            "pids_limit": limits.processes, "mem_limit": limits.memory_bytes, "memswap_limit": limits.memory_bytes,
            "nano_cpus": 1_000_000_000,
            "ulimits": [Ulimit(name="cpu", soft=limits.cpu_seconds, hard=limits.cpu_seconds + 1),
                        Ulimit(name="fsize", soft=limits.file_bytes, hard=limits.file_bytes),
                        Ulimit(name="nofile", soft=limits.open_files, hard=limits.open_files),
                        Ulimit(name="core", soft=0, hard=0)],
            "volumes": volumes,
            # The engine keeps a container's output on disk until it is removed: bounded, so a flood neither fills
            # the disk nor takes the host's read minutes (the read itself is cut at output_bytes, _capped_logs).
            "log_config": {"type": "json-file", "config": {"max-size": str(max(1 << 20, 16 * limits.output_bytes)),
                                                           "max-file": "1"}},
        }

    def _command(self, job: dict) -> list[str]:
        job = dict(job, modules=[(name, (HERE / f"{name}.py").read_text()) for name in MODULES])
        return ["python3", "-I", "-c", BOOTSTRAP, base64.b64encode(json.dumps(job).encode()).decode()]

    def run(self, code: str, tests: str | None = None, limits: Limits = Limits()) -> Result:
        try:
            prepared = prepare_tests(tests) if tests is not None else None
        except SyntaxError as error:
            return Result(status="error", reason=f"tests do not parse: {error}")
        job = {"wall_seconds": limits.wall_seconds, "link_path": "/link/sock", "results_path": "/results/events",
               "limits": limits.for_job(), "output_bytes": limits.output_bytes}
        with tempfile.TemporaryDirectory(prefix="flywheel-docker-") as folder:
            results_dir = Path(folder, "results")
            results_dir.mkdir()
            results_dir.chmod(0o777)  # the judge's user (nobody) writes here
            started = time.perf_counter()
            containers = []
            link = self.client.volumes.create(driver="local", driver_opts={
                "type": "tmpfs", "device": "tmpfs", "o": f"size={LINK_BYTES},mode=1777"})
            # nocopy: the image's own /link (root, 755) is not copied over the tmpfs, which would undo its mode 1777
            link_mount = {link.name: {"bind": "/link", "mode": "rw,nocopy"}}
            try:
                if prepared is not None:
                    containers.append(self.client.containers.run(**self.container_spec(
                        self._command(dict(job, role="judge", tests=prepared.source, names=prepared.names)), limits,
                        {**link_mount, str(results_dir): {"bind": "/results", "mode": "rw"}})))
                candidate = self.client.containers.run(**self.container_spec(
                    self._command(dict(job, role="candidate", program=code, mode="tests" if prepared else "run")),
                    limits, link_mount))
                containers.insert(0, candidate)
                timed_out, statuses = False, []
                for container in containers:
                    remaining = max(0.1, started + limits.wall_seconds - time.perf_counter())
                    try:
                        statuses.append(container.wait(timeout=remaining)["StatusCode"])
                    except Exception:  # noqa: BLE001 - the SDK raises requests' timeout types
                        timed_out = True
                        statuses.append(None)
                        container.kill()
                wall = time.perf_counter() - started
                raw_stdout = _capped_logs(candidate, limits.output_bytes, stdout=True, stderr=False)
                truncated = len(raw_stdout) > limits.output_bytes
                stdout = raw_stdout[: limits.output_bytes].decode("utf-8", "replace")
                stderr = _capped_logs(candidate, limits.output_bytes, stdout=False, stderr=True)[
                    : limits.output_bytes].decode("utf-8", "replace")
            finally:
                for container in containers:
                    container.remove(force=True)
                link.remove(force=True)
            report = results_dir / "events"
            events = frames(report.read_bytes()[: 16 << 20]) if report.exists() else []
        # Docker reports death by signal N as 128 + N; the other backends as -N.
        codes = [None if s is None else (-(s - 128) if s > 128 else s) for s in statuses]
        judge_failed = "" if prepared is None or codes[-1] == 0 else f"the judge container ended with {codes[-1]}"
        run = Run(events=events, stdout=stdout, stderr=stderr, exit_code=codes[0], timed_out=timed_out,
                  cpu_exceeded=False, memory_exceeded=False, judge_failed=judge_failed, wall_seconds=wall,
                  recycle=False, output_truncated=truncated)
        return judge_run(run, prepared)


def _capped_logs(container, cap: int, **which) -> bytes:
    """At most ``cap`` + 1 bytes of a container's output, streamed: reading all of a flood took the host minutes."""
    out = bytearray()
    stream = container.logs(stream=True, follow=False, **which)
    try:
        for chunk in stream:
            out += chunk
            if len(out) > cap:
                break
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    return bytes(out)
