"""SandboxPool: pre-started slots (a candidate and a judge sandbox each) that run untrusted Python in milliseconds.

A job costs two forks, not two new sandboxes: each zygote has already imported the
common modules. A slot whose sandbox dies, hangs past a stop, or left too many files is
killed, namespaces and all, and replaced; the pool keeps serving. Each slot runs its candidate
and its judge under two uids of their own, leased from POOL_UIDS across processes (a flock per uid,
released by the kernel when the process dies), so no two sandboxes share a uid, in one process or in
two: process limits are per uid, and two pools that once both started at uid 61000 shared them, so a
fork bomb judged by one pool starved the other's sandboxes (found by running the tests on two cores).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from flywheel_sandbox.bwrap import UidLease
from flywheel_sandbox.cgroups import sweep_stale_groups
from flywheel_sandbox.result import Limits, Result
from flywheel_sandbox.tests import judge_run, prepare_tests
from flywheel_sandbox.worker import Slot, WorkerDied
from flywheel_sandbox.worker_pool import WorkerPool

HERE = Path(__file__).resolve().parent
POOL_UIDS = range(61000, 63000)  # pooled sandboxes; one-shot runs lease from bwrap.ONE_SHOT_UIDS
SANDBOX_FILES = ("zygote.py", "candidate.py", "judge.py", "wire.py")
CODE_DIR_PREFIX = "flywheel-pool-"


def make_code_dir() -> Path:
    """A world-readable copy of the modules the sandboxes run (they cannot see this checkout)."""
    sweep_stale_code_dirs()
    folder = Path(tempfile.mkdtemp(prefix=f"{CODE_DIR_PREFIX}{os.getpid()}-"))
    folder.chmod(0o755)
    for name in SANDBOX_FILES:
        shutil.copy(HERE / name, folder / name)
        (folder / name).chmod(0o644)
    return folder


def sweep_stale_code_dirs() -> None:
    """Delete code dirs of pools whose process is gone (a SIGKILLed run leaves its dir behind)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{CODE_DIR_PREFIX}*"):
        owner = folder.name[len(CODE_DIR_PREFIX):].split("-", 1)[0]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            shutil.rmtree(folder, ignore_errors=True)


class SandboxPool:
    """``run`` and ``map`` are thread-safe; ``workers`` jobs run at once."""

    def __init__(self, workers: int = 2, limits: Limits = Limits()):
        sweep_stale_groups()
        self.limits, self.workers = limits, workers
        if os.getuid() == 0:
            self._leases = [UidLease(POOL_UIDS) for _ in range(2 * workers)]
            self._uids = [(self._leases[2 * i].uid, self._leases[2 * i + 1].uid) for i in range(workers)]
        else:  # without root every sandbox shares the caller's uid
            self._leases, self._uids = [], [(os.getuid(), os.getuid())] * workers
        self._code_dir = make_code_dir()
        # bwrap's --die-with-parent is PR_SET_PDEATHSIG, which fires when the *thread* that started
        # it exits. Every sandbox is therefore started from this one thread, which lives as long as the pool.
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-spawner")
        self._slots: WorkerPool[Slot] = WorkerPool(workers, self._spawn, Slot.close, restart_at_once=True)
        try:
            self._slots.warm()
        except WorkerDied:
            self.close()
            raise

    @property
    def replaced(self) -> int:
        """Slots killed and started afresh (a lost sandbox, a hang, too many files left)."""
        return self._slots.replaced

    def run(self, code: str, tests: str | None = None, limits: Limits | None = None, *,
            stdin: bytes | None = None) -> Result:
        limits = limits or self.limits
        try:
            prepared = prepare_tests(tests) if tests is not None else None
        except SyntaxError as error:
            return Result(status="error", reason=f"tests do not parse: {error}")
        for _ in range(2):
            with self._slots.worker() as (slot, retire):
                run = slot.run(code, prepared.source if prepared else None, prepared.names if prepared else [], limits,
                               stdin=stdin)
                if run.lost or run.recycle:
                    retire()
            # A sandbox lost mid-job (killed from outside, or starved under load) says nothing about the program:
            # the job runs once more on a fresh slot, so a loaded machine gives the verdicts an idle one does. A
            # program that takes its sandbox down itself is lost twice and reported so ('killed').
            if not run.lost:
                break
        return judge_run(run, prepared)

    def map(self, jobs: list[tuple[str, str | None]], limits: Limits | None = None) -> list[Result]:
        return self._slots.map(lambda job: self.run(job[0], job[1], limits), jobs)

    def _spawn(self, index: int) -> Slot:
        candidate_uid, judge_uid = self._uids[index]
        cpus = sorted(os.sched_getaffinity(0))  # slot i on CPU i (mod the CPUs this process may use)
        return self._spawner.submit(Slot, candidate_uid, judge_uid, self._code_dir, self.limits,
                                    cpu=cpus[index % len(cpus)]).result()

    def close(self) -> None:
        if getattr(self, "_closed", False):
            return
        self._closed = True
        if hasattr(self, "_slots"):
            self._slots.close()
        self._spawner.shutdown(wait=False)
        shutil.rmtree(self._code_dir, ignore_errors=True)
        for lease in getattr(self, "_leases", []):  # after the slots: their processes are gone
            lease.release()

    def __enter__(self) -> "SandboxPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
