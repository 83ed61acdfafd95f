"""run_python: execute untrusted Python with tests in an isolated process.

Backends:
- ``bwrap``: bubblewrap namespaces (no network, no host files but read-only /usr and
  /etc, a size-capped tmpfs work dir, empty environment), run as an unprivileged user,
  with rlimits and a wall-clock kill of the whole process group.
- ``process``: rlimits only. It can read the host; it runs only when the caller says
  ``allow_unsafe=True``, and warns every time.
"""

from __future__ import annotations

import ast
import json
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

from sandbox.result import Limits, Result, TestOutcome

HARNESS = Path(__file__).with_name("harness.py")
SYSTEM_PYTHON = "/usr/bin/python3"  # pyenv interpreters live under /root (mode 0700)
UNPRIVILEGED_UID = 65534  # nobody


class SandboxUnavailable(RuntimeError):
    pass


def normalize_tests(tests: str) -> tuple[str, list[str]]:
    """Tests as ``def test_*`` functions; bare top-level asserts become one test each.

    Returns the test source and the names the host expects to see reported.
    """
    tree = ast.parse(tests)
    body, names, counter = [], [], 0
    for node in tree.body:
        if isinstance(node, ast.Assert):
            counter += 1
            name = f"test_assert_{counter}"
            body.append(ast.FunctionDef(name=name, args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[],
                                        kw_defaults=[], defaults=[]), body=[node], decorator_list=[],
                                        returns=None, type_params=[]))
            names.append(name)
        else:
            body.append(node)
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
                names.append(node.name)
    module = ast.fix_missing_locations(ast.Module(body=body, type_ignores=[]))
    return ast.unparse(module), names


def bwrap_available() -> bool:
    if shutil.which("bwrap") is None:
        return False
    probe = subprocess.run(_bwrap_prefix(16 << 20) + ["/bin/true"], capture_output=True, preexec_fn=_drop_privileges)
    return probe.returncode == 0


def _bwrap_prefix(tmpfs_bytes: int) -> list[str]:
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


def _drop_privileges() -> None:
    if os.getuid() == 0:
        os.setgroups([])
        os.setgid(UNPRIVILEGED_UID)
        os.setuid(UNPRIVILEGED_UID)


def _apply_limits(limits: Limits, drop: bool):
    def preexec() -> None:
        os.setsid()
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if drop:
            _drop_privileges()
        # NPROC counts per real uid, so it is set after the uid change.
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))

    return preexec


def _read_capped(path: Path, cap: int) -> str:
    with path.open("rb") as handle:
        return handle.read(cap).decode("utf-8", errors="replace")


def _classify(returncode: int, timed_out: bool, events: list[dict], expected: list[str], stderr: str) -> tuple[str, str]:
    if timed_out:
        return "timeout", "wall-clock limit reached"
    if returncode < 0 and -returncode == signal.SIGXCPU:
        return "timeout", "CPU time limit reached"
    if "MemoryError" in stderr or any("MemoryError" in e.get("error", "") for e in events):
        return "memory_exceeded", "memory limit reached"
    if returncode < 0:
        return "killed", f"killed by signal {-returncode}"
    if any(e["kind"] == "program_error" for e in events):
        return "error", next(e["error"] for e in events if e["kind"] == "program_error")
    if not any(e["kind"] == "program_done" for e in events):
        return "error", f"program exited (code {returncode}) before the harness finished running it"
    reported = {e["name"]: e["passed"] for e in events if e["kind"] == "test"}
    missing = [name for name in expected if name not in reported]
    if missing:
        return "failed", f"tests never reported: {missing}"
    if returncode != 0:
        return "failed", f"exit code {returncode} after the tests"
    if not all(reported.get(name) for name in expected):
        return "failed", "some tests failed"
    return "passed", ""


def run_python(code: str, tests: str | None = None, limits: Limits = Limits(), *, backend: str = "bwrap",
               allow_unsafe: bool = False) -> Result:
    """Run ``code`` then ``tests`` (``def test_*`` functions or bare asserts) in isolation."""
    if backend == "process" and not allow_unsafe:
        raise SandboxUnavailable("the 'process' backend does not isolate anything; set sandbox.allow_unsafe: true to use it")
    if backend not in {"bwrap", "process"}:
        raise SandboxUnavailable(f"unknown sandbox backend {backend!r}")
    try:
        test_source, expected = normalize_tests(tests) if tests else (None, [])
    except SyntaxError as error:
        return Result(status="error", reason=f"tests do not parse: {error}")
    with tempfile.TemporaryDirectory(prefix="flywheel-sbx-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        (root / "program.py").write_text(code)
        if test_source is not None:
            (root / "tests.py").write_text(test_source)
        shutil.copy(HARNESS, root / "harness.py")
        for item in root.iterdir():
            item.chmod(0o644)
        stdout_path, stderr_path = root / "stdout", root / "stderr"
        inside = "/sandbox" if backend == "bwrap" else str(root)
        read_end, write_end = os.pipe()
        argv = [SYSTEM_PYTHON, "-I", "-S", f"{inside}/harness.py", str(write_end), f"{inside}/program.py"]
        if test_source is not None:
            argv.append(f"{inside}/tests.py")
        if backend == "bwrap":
            argv = _bwrap_prefix(limits.tmpfs_bytes) + ["--ro-bind", str(root), "/sandbox"] + argv
        else:
            warnings.warn("running untrusted code with the unsafe 'process' backend (rlimits only)", stacklevel=2)
        started = time.perf_counter()
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, pass_fds=(write_end,),
                                       preexec_fn=_apply_limits(limits, drop=backend == "bwrap"),
                                       env={"PATH": "/usr/bin"} if backend == "process" else {},
                                       cwd=str(root))
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
        events = []
        for line in raw.splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        stdout, stderr = _read_capped(stdout_path, limits.output_bytes), _read_capped(stderr_path, limits.output_bytes)
    status, reason = _classify(process.returncode, timed_out, events, expected, stderr)
    outcomes = [TestOutcome(e["name"], bool(e["passed"]), e.get("error", "")) for e in events if e["kind"] == "test"]
    return Result(status=status, tests=outcomes, stdout=stdout, stderr=stderr, exit_code=process.returncode,
                  wall_seconds=wall, reason=reason)
