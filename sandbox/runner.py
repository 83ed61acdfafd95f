"""run_python and run_io: execute untrusted Python in isolation and return a Result.

Backends (chosen by ``backend``):
- ``bwrap`` (default): a candidate sandbox and a judge sandbox (flywheel_sandbox.worker), each a
  bubblewrap sandbox under its own uid, cgroup and seccomp filter (flywheel_sandbox.bwrap). By
  default jobs go to a shared pool of pre-started slots (flywheel_sandbox.pool); ``pooled=False``
  starts a fresh slot for the one execution, under uids leased for it alone.
- ``docker``: see flywheel_sandbox.docker_backend (production hosts with an engine).
- ``process``: the same two processes without any isolation. It can read the host; it
  runs only with ``allow_unsafe=True``, and warns every time.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings

from flywheel_sandbox import bwrap
from flywheel_sandbox.pool import SandboxPool, make_code_dir
from flywheel_sandbox.result import Limits, Result, TestOutcome
from flywheel_sandbox.tests import judge_run, prepare_tests, same_output
from flywheel_sandbox.worker import Slot, WorkerDied
from flywheel_sandbox.worker_pool import shared


class SandboxUnavailable(RuntimeError):
    pass


bwrap_available = bwrap.available

def default_pool_size() -> int:
    """One slot more than CPUs (3 on 2 CPUs, at most 9): a slot spends part of each job waiting on round trips
    between its two sandboxes and the host, and a spare slot fills that time (HumanEval: 112 jobs/s on 2
    slots, 142 on 3, 137 on 4, here)."""
    return max(2, min(8, len(os.sched_getaffinity(0))) + 1)


def default_pool(workers: int | None = None) -> SandboxPool:
    """The process-wide pool, started on first use and closed at exit."""
    return shared("sandbox", lambda: SandboxPool(workers=workers or default_pool_size()))


def run_python(code: str, tests: str | None = None, limits: Limits = Limits(), *, backend: str = "bwrap",
               allow_unsafe: bool = False, pooled: bool = True, stdin: bytes | None = None) -> Result:
    """Run ``code``, then ``tests`` (``def test_*`` functions or bare asserts) in the judge against it."""
    if backend == "process" and not allow_unsafe:
        raise SandboxUnavailable("the 'process' backend does not isolate anything; set sandbox.allow_unsafe: true to use it")
    if backend == "docker":
        from flywheel_sandbox.docker_backend import DockerBackend

        return DockerBackend().run(code, tests, limits)
    if backend not in {"bwrap", "process"}:
        raise SandboxUnavailable(f"unknown sandbox backend {backend!r}")
    if backend == "bwrap" and pooled:
        return default_pool().run(code, tests, limits, stdin=stdin)
    try:
        prepared = prepare_tests(tests) if tests is not None else None
    except SyntaxError as error:
        return Result(status="error", reason=f"tests do not parse: {error}")
    if backend == "process":
        warnings.warn("running untrusted code with the unsafe 'process' backend (no isolation)", stacklevel=2)
    code_dir = make_code_dir()
    leases = [] if backend == "process" else [bwrap.UidLease(), bwrap.UidLease()]
    scratch = tempfile.mkdtemp(prefix="flywheel-unsafe-") if backend == "process" else None
    try:
        uids = [lease.uid for lease in leases] or [os.getuid(), os.getuid()]
        try:
            slot = Slot(uids[0], uids[1], code_dir, limits, unsafe_scratch=scratch)
        except WorkerDied as error:
            raise SandboxUnavailable(str(error)) from None
        try:
            run = slot.run(code, prepared.source if prepared else None, prepared.names if prepared else [], limits,
                           stdin=stdin)
        finally:
            slot.close()
        return judge_run(run, prepared)
    finally:
        for lease in leases:
            lease.release()
        shutil.rmtree(code_dir, ignore_errors=True)
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def run_io(code: str, cases: list[tuple[str, str]], limits: Limits = Limits(), *, compare: str = "tokens",
           **options) -> Result:
    """A stdin/stdout task: run ``code`` once per (input, expected output) case and compare the output on the host.

    ``compare`` names the output rule (flywheel_sandbox.tests.OUTPUT_RULES). The status is ``passed`` when every
    case passed, else that of the first failing run
    (``timeout``, ``memory_exceeded``...), or ``failed`` for a run that ended well with wrong output.
    """
    outcomes, runs, statuses = [], [], []
    for index, (given, expected) in enumerate(cases, start=1):
        run = run_python(code, None, limits, stdin=given.encode(), **options)
        # A run whose output already went over the cap failed on its output, whatever ended it afterwards (a
        # signal, a sandbox lost under load: once seen as 'killed' in a full run on two cores).
        over_cap = run.stdout_truncated and run.status in ("passed", "killed")
        runs.append(run)
        statuses.append("failed" if over_cap or run.status == "passed" else run.status)
        if over_cap:  # a prefix of the output is not the output: never compared
            outcomes.append(TestOutcome(f"case_{index}", False, f"output limit: more than {limits.output_bytes} "
                                                                 f"bytes of output"))
        elif run.status != "passed":
            outcomes.append(TestOutcome(f"case_{index}", False, f"{run.status}: {run.reason}"[:2000]))
        elif not same_output(run.stdout, expected, compare):
            outcomes.append(TestOutcome(f"case_{index}", False, f"wrong output: {run.stdout[:200]!r}"))
        else:
            outcomes.append(TestOutcome(f"case_{index}", True))
    failed = [(outcome, run, case_status) for outcome, run, case_status in zip(outcomes, runs, statuses)
              if not outcome.passed]
    if not failed:
        status, reason = "passed", ""
    else:
        first, run, status = failed[0]
        reason = f"{len(failed)}/{len(outcomes)} cases failed; first: {first.name}: {first.error[:300]}"
    shown = failed[0][1] if failed else (runs[-1] if runs else Result(status="passed"))
    return Result(status=status, tests=outcomes, stdout=shown.stdout, stderr=shown.stderr, exit_code=shown.exit_code,
                  wall_seconds=sum(run.wall_seconds for run in runs), reason=reason)
