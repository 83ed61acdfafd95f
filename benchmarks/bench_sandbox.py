"""Isolated executions per second: the pre-started pool vs one fresh bwrap per execution, side by side.

Both run the same jobs with the same concurrency (2 streams, one per core here); every
execution is a full isolated run with its tests judged on the host. Two cases: a trivial
test, and a realistic function checked by 10 asserts.

    .venv/bin/python benchmarks/bench_sandbox.py [--jobs 400]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

from sandbox.pool import SandboxPool
from sandbox.result import Limits
from sandbox.runner import run_python

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=400)
    args = parser.parse_args()
    limits = Limits(wall_seconds=10)
    with SandboxPool(workers=STREAMS, limits=limits) as pool:
        pool.run(*TRIVIAL)  # warm
        for name, (code, tests) in (("trivial test", TRIVIAL), ("function + 10 asserts", REALISTIC)):
            pooled, ok_pool = rate(lambda: pool.run(code, tests, limits), args.jobs)
            fresh, ok_fresh = rate(lambda: run_python(code, tests, limits, pooled=False), max(40, args.jobs // 5))
            assert ok_pool == ok_fresh == {"passed"}, (ok_pool, ok_fresh)
            print(f"{name:<24} pool ({STREAMS} workers): {pooled:7.1f} exec/s   fresh bwrap per exec: {fresh:6.1f} exec/s"
                  f"   ratio {pooled / fresh:5.1f}x")


if __name__ == "__main__":
    main()
