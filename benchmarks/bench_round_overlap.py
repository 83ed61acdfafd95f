"""A round's CPU stages across cores: select and decontaminate on 1 process and on several, on the same round.

Issue 36's benchmark. ``select`` (flywheel.curation.selection) judges and chooses per chunk of prompts, and
``decontaminate`` scans each batch of candidates for eval overlap and sketches it for near dedup: that work depends
on nothing outside the chunk, so ``selection.processes`` and ``decontamination.processes`` do it side by side while
the stage dedups and writes in order. The round is bench_round_scale's synthetic one (N/8 prompts x 8 samples, 80%
math checked by sympy, 20% general by a plugin, 5% of prompts copying a held-out question), verified once; then
each stage runs alternately with 1 and with ``--processes`` processes, ``--repeats`` times each, and every run's
rows (the pool and select's audit tables; the decontaminated candidates, hits and dedup drops) are compared with
the first run's. It prints each run's seconds and the ratio of the medians.

Not here yet: verification overlapping generation (the rest of issue 36).

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

from flywheel.stages import decontaminate as decontaminate_stage  # noqa: E402
from flywheel.stages import select as select_stage  # noqa: E402
from flywheel.stages import verify as verify_stage  # noqa: E402
from flywheel.round.layout import RoundPaths  # noqa: E402
from flywheel.stages.quality import curate  # noqa: E402
from flywheel.curation.policies import Policy  # noqa: E402
from flywheel.curation.selection import select_round  # noqa: E402
from flywheel.round.runs import verifiers_by_domain  # noqa: E402
from flywheel.store.database import Store  # noqa: E402
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
    verify_stage.verify(config, 1, store)
    print(f"synthesised and verified {n_samples:,} samples in {time.perf_counter() - started:.0f} s", flush=True)
    report = {"samples": n_samples, "processes": processes}
    report["select"] = compare("select", lambda count: select_once(config, count, folder / f"pool-{count}.parquet"),
                               n_samples, processes, repeats)
    select_stage.select(config, 1, store)
    curate(config, 1, store)  # quality control off: the pool passes through
    report["decontaminate"] = compare("decontaminate", lambda count: decontaminate_once(config, store, count),
                                      n_samples, processes, repeats)
    return report


def decontaminate_once(config, store: Store, processes: int) -> tuple[float, dict]:
    d = config.decontamination.model_copy(update={"processes": processes})
    started = time.perf_counter()
    decontaminate_stage.decontaminate_round(config.model_copy(update={"decontamination": d}), 1, store)
    seconds = time.perf_counter() - started
    rows = {"decontaminated": pq.read_table(RoundPaths(config.workdir, 1).decontaminated),
            **{table: store.query(f"SELECT * EXCLUDE (round) FROM {table} WHERE round = 1")[1]
               for table in ("decontamination_hits", "dedup_drops")}}
    return seconds, rows


def compare(stage: str, run_once, n_samples: int, processes: int, repeats: int) -> dict:
    """``run_once(processes) -> (seconds, rows)`` alternately on 1 and ``processes``; every run's rows equal."""
    seconds: dict[int, list[float]] = {1: [], processes: []}
    reference = None
    for repeat in range(repeats):
        for count in (1, processes):
            took, rows = run_once(count)
            seconds[count].append(round(took, 2))
            if reference is None:
                reference = rows
            same = all(rows[name] == reference[name] if isinstance(rows[name], list) else rows[name].equals(
                reference[name]) for name in reference)
            print(f"{stage}, {count} process(es), run {repeat + 1}: {took:7.1f} s  "
                  f"{n_samples / took:9.0f} samples/s  same rows as the first run: {same}", flush=True)
            if not same:
                raise SystemExit(f"{stage} on {count} process(es) wrote other rows than the first run")
    ratio = statistics.median(seconds[1]) / statistics.median(seconds[processes])
    print(f"{stage} median: 1 process {statistics.median(seconds[1]):.1f} s, {processes} processes "
          f"{statistics.median(seconds[processes]):.1f} s: {ratio:.2f}x", flush=True)
    return {"seconds": {str(k): v for k, v in seconds.items()}, "speedup": round(ratio, 2)}


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
