"""SandboxPool: pre-started bwrap workers that run untrusted Python in milliseconds per job.

Each worker is one long-lived bubblewrap sandbox running ``zygote.py`` as its own
unprivileged uid (so process limits and signals never cross workers). The zygote has
already imported the common modules and forks a fresh child per job, so a job costs a
fork, not a new sandbox. A worker that dies, hangs past its job's wall limit, or is
asked to recycle is killed with its whole PID namespace and replaced; the pool keeps
serving.
"""

from __future__ import annotations

import ast
import os
import queue
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

from sandbox.result import Limits, Result
from sandbox.runner import SYSTEM_PYTHON, bwrap_prefix, worker_preexec
from sandbox.tests import build_result, prepare_tests

HERE = Path(__file__).resolve().parent
BASE_UID = 61000
GRACE_SECONDS = 5.0  # beyond a job's wall limit before the host gives up on its worker


class WorkerDied(RuntimeError):
    pass


class _Worker:
    def __init__(self, uid: int, code_dir: Path, limits: Limits):
        argv = bwrap_prefix(limits.tmpfs_bytes) + ["--ro-bind", str(code_dir), "/sandbox",
                                                    SYSTEM_PYTHON, "-I", "/sandbox/zygote.py"]
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        preexec_fn=worker_preexec(uid, limits), env={})
        self.buffer = b""
        if self._readline(30.0) != "ready":
            self.kill()
            raise WorkerDied("sandbox worker failed to start (is bubblewrap installed and allowed?)")

    def _readline(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        fd = self.process.stdout.fileno()
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("sandbox worker did not answer in time")
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                data = os.read(fd, 1 << 20)
                if not data:
                    raise WorkerDied("sandbox worker exited")
                self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode()

    def run(self, job: dict) -> dict:
        try:
            self.process.stdin.write((repr(job) + "\n").encode())
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as error:
            raise WorkerDied(f"sandbox worker is gone: {error}") from None
        return ast.literal_eval(self._readline(job["limits"]["wall_seconds"] + GRACE_SECONDS))

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()


class SandboxPool:
    """``run`` and ``map`` are thread-safe; ``workers`` jobs run at once."""

    def __init__(self, workers: int = 2, limits: Limits = Limits(), base_uid: int = BASE_UID):
        if os.getuid() != 0:
            base_uid = os.getuid()  # without root every worker shares the caller's uid
        self.limits = limits
        self._code_dir = Path(tempfile.mkdtemp(prefix="flywheel-pool-"))
        self._code_dir.chmod(0o755)
        for name in ("zygote.py", "harness.py"):
            shutil.copy(HERE / name, self._code_dir / name)
            (self._code_dir / name).chmod(0o644)
        self._uids = [base_uid + i for i in range(workers)]
        self._idle: queue.Queue[tuple[int, _Worker]] = queue.Queue()
        self.replaced = 0
        # bwrap's --die-with-parent is PR_SET_PDEATHSIG, which fires when the *thread* that started
        # it exits. Every worker is therefore started from this one thread, which lives as long as the pool.
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-spawner")
        for slot, uid in enumerate(self._uids):
            self._idle.put((slot, self._spawn(slot)))
        self._closed = False
        self._lock = threading.Lock()

    def run(self, code: str, tests: str | None = None, limits: Limits | None = None) -> Result:
        limits = limits or self.limits
        try:
            prepared = prepare_tests(tests) if tests else None
        except SyntaxError as error:
            return Result(status="error", reason=f"tests do not parse: {error}")
        job = {"program": code, "tests": prepared.source if prepared else None,
               "names": prepared.names if prepared else [], "limits": asdict(limits)}
        slot, worker = self._idle.get()
        started = time.perf_counter()
        try:
            reply = worker.run(job)
        except (WorkerDied, TimeoutError, ValueError, SyntaxError) as error:
            worker = self._replace(slot, worker)
            timed_out = isinstance(error, TimeoutError)
            return Result(status="timeout" if timed_out else "killed", wall_seconds=time.perf_counter() - started,
                          reason=f"the sandbox worker was lost and replaced ({error})")
        finally:
            self._idle.put((slot, worker))
        if reply.get("recycle"):
            self._idle_replace(slot)
        return build_result(reply["events"], prepared, exit_code=reply["exit_code"], timed_out=reply["timed_out"],
                            stdout=reply["stdout"], stderr=reply["stderr"], wall_seconds=reply["wall_seconds"])

    def map(self, jobs: list[tuple[str, str | None]], limits: Limits | None = None) -> list[Result]:
        with ThreadPoolExecutor(max_workers=len(self._uids)) as executor:
            return list(executor.map(lambda job: self.run(job[0], job[1], limits), jobs))

    def _spawn(self, slot: int) -> _Worker:
        return self._spawner.submit(_Worker, self._uids[slot], self._code_dir, self.limits).result()

    def _replace(self, slot: int, worker: _Worker) -> _Worker:
        worker.kill()
        with self._lock:
            self.replaced += 1
        return self._spawn(slot)

    def _idle_replace(self, slot: int) -> None:
        """Swap the idle worker of ``slot`` for a fresh one (it left too many files behind)."""
        held = []
        while True:
            item = self._idle.get()
            if item[0] == slot:
                self._idle.put((slot, self._replace(slot, item[1])))
                break
            held.append(item)
        for item in held:
            self._idle.put(item)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        while not self._idle.empty():
            self._idle.get()[1].kill()
        self._spawner.shutdown(wait=False)
        shutil.rmtree(self._code_dir, ignore_errors=True)

    def __enter__(self) -> "SandboxPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
