"""A round's CPU stages across cores: select on 1 process and on several, on the same synthetic round.

Issue 36's benchmark. This part times ``select`` (flywheel.select_round), which judges and chooses per chunk of
prompts: each chunk depends on nothing outside it, so ``selection.processes`` choose chunks side by side and the
parent writes them in order. The round is bench_round_scale's synthetic one (N/8 prompts x 8 samples, 80% math
checked by sympy, 20% general by a plugin), verified once; then select runs alternately with 1 and with
``--processes`` processes, ``--repeats`` times each, and every run's pool and audit tables are compared with the
first's, row for row. It prints each run's seconds and the ratio of the medians.

Not here yet: verification overlapping generation (the other half of issue 36).

    .venv/bin/python benchmarks/bench_round_overlap.py --samples 400000 [--processes 2] [--repeats 2] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_round_scale import PLUGIN, config_for, record_samples, synthesise  # noqa: E402

from flywheel import stages  # noqa: E402
from flywheel.io import RoundPaths  # noqa: E402
from flywheel.select import Policy  # noqa: E402
from flywheel.select_round import select_round  # noqa: E402
from flywheel.stage_runs import verifiers_by_domain  # noqa: E402
from flywheel.store import Store  # noqa: E402
from tests.plugin_package import install_verifier_plugin  # noqa: E402


def select_once(config, processes: int, out: Path) -> tuple[float, dict]:
    paths = RoundPaths(config.workdir, 1)
    s = config.selection
    started = time.perf_counter()
    chosen = select_round(paths.prompts, paths.samples, paths.verdicts, None, out, verifiers_by_domain(config),
                          Policy.from_config(s, config.verifiers), k=s.k, near_threshold=s.near_duplicate_threshold,
                          scratch=out.parent / f".scratch-{processes}", processes=processes)
    seconds = time.perf_counter() - started
    rows = {"pool": pq.read_table(out), **{name: chosen.table(name) for name in ("difficulty", "accepted", "decisions")}}
    return seconds, rows


def run(n_samples: int, folder: Path, processes: int, repeats: int) -> dict:
    plugin = install_verifier_plugin(folder / "plugin", name="length_ok", module="length_ok_verifier",
                                     cls="LengthOk", source=PLUGIN)
    sys.path.insert(0, str(plugin))
    started = time.perf_counter()
    synthesise(folder, n_samples)
    config = config_for(folder)
    store = Store(config.workdir / "flywheel.duckdb")
    record_samples(config, 1, store)
    stages.verify(config, 1, store)
    print(f"synthesised and verified {n_samples:,} samples in {time.perf_counter() - started:.0f} s", flush=True)
    seconds: dict[int, list[float]] = {1: [], processes: []}
    reference = None
    for repeat in range(repeats):
        for count in (1, processes):
            took, rows = select_once(config, count, folder / f"pool-{count}.parquet")
            seconds[count].append(round(took, 2))
            if reference is None:
                reference = rows
            same = all(rows[name].equals(reference[name]) for name in reference)
            print(f"select, {count} process(es), run {repeat + 1}: {took:7.1f} s  "
                  f"{n_samples / took:9.0f} samples/s  same rows as the first run: {same}", flush=True)
            if not same:
                raise SystemExit(f"select on {count} process(es) wrote other rows than the first run")
    ratio = statistics.median(seconds[1]) / statistics.median(seconds[processes])
    print(f"median: 1 process {statistics.median(seconds[1]):.1f} s, {processes} processes "
          f"{statistics.median(seconds[processes]):.1f} s: {ratio:.2f}x", flush=True)
    return {"samples": n_samples, "processes": processes, "select_seconds": {str(k): v for k, v in seconds.items()},
            "speedup": round(ratio, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=400_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="round-overlap-") as folder:
        result = run(args.samples, Path(folder), args.processes, args.repeats)
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
