"""SandboxPool: pre-started slots (a candidate and a judge sandbox each) that run untrusted Python in milliseconds.

A job costs two forks, not two new sandboxes: each zygote has already imported the
common modules. A slot whose sandbox dies, hangs past a stop, or left too many files is
killed, namespaces and all, and replaced; the pool keeps serving. Slot ``i`` runs its
candidate as uid ``base_uid + i`` and its judge as ``base_uid + workers + i``, so no two
sandboxes share a uid (process limits and signals never cross).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from flywheel_sandbox.cgroups import sweep_stale_groups
from flywheel_sandbox.result import Limits, Result
from flywheel_sandbox.tests import judge_run, prepare_tests
from flywheel_sandbox.worker import Slot, WorkerDied
from flywheel_sandbox.worker_pool import WorkerPool

HERE = Path(__file__).resolve().parent
BASE_UID = 61000
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

    def __init__(self, workers: int = 2, limits: Limits = Limits(), base_uid: int = BASE_UID):
        if os.getuid() != 0:
            base_uid = os.getuid()  # without root every sandbox shares the caller's uid
        sweep_stale_groups()
        self.limits, self.workers = limits, workers
        self._code_dir = make_code_dir()
        self._uids = [(base_uid + i, base_uid + workers + i) for i in range(workers)]
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
        with self._slots.worker() as (slot, retire):
            run = slot.run(code, prepared.source if prepared else None, prepared.names if prepared else [], limits,
                           stdin=stdin)
            if run.lost or run.recycle:
                retire()
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

    def __enter__(self) -> "SandboxPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
