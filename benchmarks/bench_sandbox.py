"""Isolated executions per second: the pre-started pool vs fresh sandboxes per execution, side by side.

All run the same jobs with the same concurrency (2 streams, one per core here). Three ways:
- pool: pre-started slots, the candidate and the judge in two sandboxes (the default);
- one-shot: ``run_python(pooled=False)``, two fresh sandboxes per execution, same isolation;
- bare bwrap: the cheapest fresh isolated execution there is, one bwrap and one Python running
  program and asserts together (weaker: the judge shares the candidate's interpreter), the
  baseline the pool has to beat by 3x.
Two cases: a trivial test, and a realistic function checked by 10 asserts.

    .venv/bin/python benchmarks/bench_sandbox.py [--jobs 400]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import os
import subprocess

from flywheel_sandbox import bwrap, seccomp
from flywheel_sandbox.pool import SandboxPool
from flywheel_sandbox.result import Limits
from flywheel_sandbox.runner import run_python

TRIVIAL = ("def f():\n    return 1\n", "assert f() == 1\n")
REALISTIC = (
    "def running_median(values):\n    import bisect\n    window, out = [], []\n    for v in values:\n"
    "        bisect.insort(window, v)\n        n = len(window)\n"
    "        out.append(window[n // 2] if n % 2 else (window[n // 2 - 1] + window[n // 2]) / 2)\n    return out\n",
    "\n".join(f"assert running_median({list(range(k))}) == {[i / 2 for i in range(k)]}" for k in range(1, 11)) + "\n",
)
STREAMS = 2


def rate(run_one, jobs: int) -> tuple[float, set[str]]:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=STREAMS) as executor:
        statuses = set(executor.map(lambda _: run_one().status, range(jobs)))
    return jobs / (time.perf_counter() - started), statuses


def bare_bwrap(code: str, tests: str, limits: Limits):
    """One fresh bwrap, same flags and uid as a sandbox, running program then asserts in one interpreter."""
    filter_fd = seccomp.program_fd()
    try:
        done = subprocess.run(bwrap.argv(limits.tmpfs_bytes, filter_fd) + [bwrap.SYSTEM_PYTHON, "-I", "-S", "-c",
                              code + "\n" + tests], pass_fds=(filter_fd,), capture_output=True, timeout=limits.wall_seconds,
                              preexec_fn=bwrap.preexec(bwrap.ONE_SHOT_UIDS[0], limits.processes + 8))
    finally:
        os.close(filter_fd)

    class Outcome:
        status = "passed" if done.returncode == 0 else "failed"
    return Outcome


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=400)
    args = parser.parse_args()
    limits = Limits(wall_seconds=10)
    with SandboxPool(workers=STREAMS, limits=limits) as pool:
        pool.run(*TRIVIAL)  # warm
        for name, (code, tests) in (("trivial test", TRIVIAL), ("function + 10 asserts", REALISTIC)):
            # rate() calls each lambda at once, inside this iteration: binding the loop variables is safe
            pooled, ok_pool = rate(lambda: pool.run(code, tests, limits), args.jobs)  # noqa: B023
            fresh, ok_fresh = rate(lambda: run_python(code, tests, limits, pooled=False),  # noqa: B023
                                   max(40, args.jobs // 10))
            bare, ok_bare = rate(lambda: bare_bwrap(code, tests, limits), max(40, args.jobs // 5))  # noqa: B023
            assert ok_pool == ok_fresh == ok_bare == {"passed"}, (ok_pool, ok_fresh, ok_bare)
            print(f"{name:<24} pool ({STREAMS} slots): {pooled:7.1f} exec/s   one-shot: {fresh:6.1f} exec/s "
                  f"(ratio {pooled / fresh:5.1f}x)   bare bwrap per exec: {bare:6.1f} exec/s (ratio {pooled / bare:5.1f}x)")


if __name__ == "__main__":
    main()
