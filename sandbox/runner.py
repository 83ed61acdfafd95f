"""run_python: execute untrusted Python with tests in isolation, and return a Result.

Backends (chosen by ``backend``):
- ``bwrap`` (default): bubblewrap namespaces (no network, no host files but read-only
  /usr and /etc, size-capped tmpfs work dirs, empty environment, no nested user
  namespaces), as an unprivileged uid, with rlimits and a wall-clock kill of the whole
  process group. By default jobs go to a shared pool of pre-started workers
  (sandbox.pool); ``pooled=False`` starts one fresh sandbox per execution.
- ``docker``: see sandbox.docker_backend (production hosts with an engine).
- ``process``: rlimits only. It can read the host; it runs only with ``allow_unsafe=True``,
  and warns every time.
"""

from __future__ import annotations

import atexit
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import warnings
from pathlib import Path

from sandbox.result import Limits, Result
from sandbox.tests import build_result, prepare_tests

HARNESS = Path(__file__).with_name("harness.py")
SYSTEM_PYTHON = "/usr/bin/python3"  # pyenv interpreters live under /root (mode 0700)
ONE_SHOT_UID = 60999  # fresh-sandbox executions; pool workers use 61000 + i


class SandboxUnavailable(RuntimeError):
    pass


def bwrap_prefix(tmpfs_bytes: int) -> list[str]:
    return [
        "bwrap", "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session",
        "--cap-drop", "ALL", "--disable-userns",
        "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
        "--symlink", "usr/bin", "/bin", "--ro-bind", "/etc", "/etc",
        "--proc", "/proc", "--dev", "/dev",
        "--size", str(tmpfs_bytes), "--tmpfs", "/tmp",
        "--size", str(tmpfs_bytes), "--tmpfs", "/work",
        "--chdir", "/work", "--clearenv", "--setenv", "PATH", "/usr/bin", "--setenv", "HOME", "/work",
    ]


def _drop_privileges(uid: int) -> None:
    if os.getuid() == 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)


def worker_preexec(uid: int, limits: Limits):
    """For a pool worker: its own session and uid, no core files, a process budget for the whole worker."""
    def preexec() -> None:
        os.setsid()
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        _drop_privileges(uid)
        # NPROC counts per real uid, so it is set after the uid change; the zygote and bwrap need a few.
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes + 8, limits.processes + 8))

    return preexec


def _one_shot_preexec(limits: Limits, drop: bool):
    def preexec() -> None:
        os.setsid()
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if drop:
            _drop_privileges(ONE_SHOT_UID)
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))

    return preexec


def bwrap_available() -> bool:
    if shutil.which("bwrap") is None:
        return False
    probe = subprocess.run(bwrap_prefix(16 << 20) + ["/bin/true"], capture_output=True,
                           preexec_fn=lambda: _drop_privileges(ONE_SHOT_UID))
    return probe.returncode == 0


_POOL = None
_POOL_LOCK = threading.Lock()


def default_pool(workers: int | None = None):
    """The process-wide pool, started on first use and closed at exit."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            from sandbox.pool import SandboxPool

            _POOL = SandboxPool(workers=workers or max(2, min(4, os.cpu_count() or 2)))
            atexit.register(_POOL.close)
        return _POOL


def run_python(code: str, tests: str | None = None, limits: Limits = Limits(), *, backend: str = "bwrap",
               allow_unsafe: bool = False, pooled: bool = True) -> Result:
    """Run ``code`` then ``tests`` (``def test_*`` functions or bare asserts) in isolation."""
    if backend == "process" and not allow_unsafe:
        raise SandboxUnavailable("the 'process' backend does not isolate anything; set sandbox.allow_unsafe: true to use it")
    if backend == "docker":
        from sandbox.docker_backend import DockerBackend

        return DockerBackend().run(code, tests, limits)
    if backend not in {"bwrap", "process"}:
        raise SandboxUnavailable(f"unknown sandbox backend {backend!r}")
    if backend == "bwrap" and pooled:
        return default_pool().run(code, tests, limits)
    return _run_one_shot(code, tests, limits, backend)


def _run_one_shot(code: str, tests: str | None, limits: Limits, backend: str) -> Result:
    try:
        prepared = prepare_tests(tests) if tests else None
    except SyntaxError as error:
        return Result(status="error", reason=f"tests do not parse: {error}")
    with tempfile.TemporaryDirectory(prefix="flywheel-sbx-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        (root / "program.py").write_text(code)
        if prepared is not None:
            (root / "tests.py").write_text(prepared.source)
        shutil.copy(HARNESS, root / "harness.py")
        for item in root.iterdir():
            item.chmod(0o644)
        stdout_path, stderr_path = root / "stdout", root / "stderr"
        inside = "/sandbox" if backend == "bwrap" else str(root)
        read_end, write_end = os.pipe()
        argv = [SYSTEM_PYTHON, "-I", "-S", f"{inside}/harness.py", str(write_end), f"{inside}/program.py"]
        if prepared is not None:
            argv += [f"{inside}/tests.py", *prepared.names]
        if backend == "bwrap":
            argv = bwrap_prefix(limits.tmpfs_bytes) + ["--ro-bind", str(root), "/sandbox"] + argv
        else:
            warnings.warn("running untrusted code with the unsafe 'process' backend (rlimits only)", stacklevel=3)
        started = time.perf_counter()
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, pass_fds=(write_end,),
                                       preexec_fn=_one_shot_preexec(limits, drop=backend == "bwrap"),
                                       env={"PATH": "/usr/bin"} if backend == "process" else {}, cwd=str(root))
            os.close(write_end)
            timed_out = False
            try:
                process.wait(timeout=limits.wall_seconds)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait()
        wall = time.perf_counter() - started
        with os.fdopen(read_end, "rb") as channel:
            raw = channel.read(1 << 20).decode("utf-8", errors="replace")
        stdout = stdout_path.open("rb").read(limits.output_bytes).decode("utf-8", errors="replace")
        stderr = stderr_path.open("rb").read(limits.output_bytes).decode("utf-8", errors="replace")
    return build_result(raw, prepared, exit_code=process.returncode, timed_out=timed_out, stdout=stdout,
                        stderr=stderr, wall_seconds=wall)
