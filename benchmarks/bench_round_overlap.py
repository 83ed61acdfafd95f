"""A round's CPU stages across cores: select and decontaminate on 1 process and on several, on the same round.

Issue 36's benchmark. ``select`` (flywheel.curation.selection) judges and chooses per chunk of prompts, and
``decontaminate`` scans each batch of candidates for eval overlap and sketches it for near dedup: that work depends
on nothing outside the chunk, so ``selection.processes`` and ``decontamination.processes`` do it side by side while
the stage dedups and writes in order. The round is bench_round_scale's synthetic one (N/8 prompts x 8 samples, 80%
math checked by sympy, 20% general by a plugin, 5% of prompts copying a held-out question), verified once; then
each stage runs alternately with 1 and with ``--processes`` processes, ``--repeats`` times each, and every run's
rows (the pool and select's audit tables; the decontaminated candidates, hits and dedup drops) are compared with
the first run's. It prints each run's seconds and the ratio of the medians.

With ``--generation`` it measures the other half of issue 36: verification overlapping generation
(``verifiers.overlap_generation``). The generator is an OpenAI-compatible double (``LatencyServer``) that costs wall
time and no CPU: it answers each request after a fixed latency per token of its longest choice (the n choices of a
request decode side by side, as a GPU batches them), standing in for GPUs elsewhere; half of each prompt's answers
are right (the math reference boxed; the code reference solution) and half wrong. Verification is real: sympy for
math, the sandbox running the unit tests for code. After a warm-up round, a serial round (generate, then verify) is
timed with no latency, to measure verification's seconds V; then, for each ratio R of generation to verification time, the
latency is set so that generation takes about R x V, and the round runs serial and overlapped, alternately. It prints
each run's generate + verify wall seconds, the overlapped/serial ratio of the medians over ``--repeats`` alternated
runs (ideal: max(R, 1) / (R + 1)), and checks
that each run's verdicts equal the serial run's, field for field (cost_seconds aside).

    .venv/bin/python benchmarks/bench_round_overlap.py --samples 400000 [--processes 2] [--repeats 2] [--json OUT]
    .venv/bin/python benchmarks/bench_round_overlap.py --generation [--ratios 0.5 1 2] [--prompts 128] [--n 8]
        [--chunk-prompts 8] [--repeats 2] [--json OUT]
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

from flywheel.config import parse_config  # noqa: E402

from flywheel.stages import decontaminate as decontaminate_stage  # noqa: E402
from flywheel.stages import select as select_stage  # noqa: E402
from flywheel.stages import verify as verify_stage  # noqa: E402
from flywheel.round.layout import RoundPaths  # noqa: E402
from flywheel.stages.quality import curate  # noqa: E402
from flywheel.curation.policies import Policy  # noqa: E402
from flywheel.curation.selection import select_round  # noqa: E402
from flywheel.round.runs import verifiers_by_domain  # noqa: E402
from flywheel.store.database import Store  # noqa: E402
from tests.chat_double import ChatDouble  # noqa: E402
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


def right_then_wrong(book: dict[str, tuple[list[str], list[str]]], question: str, n: int) -> list[str]:
    """A request's n choices: right and wrong by turns."""
    right, wrong = book[question]
    return [(right if i % 2 == 0 else wrong)[0] for i in range(n)]


def _serve(book: dict, seconds_per_token: float, ready) -> None:
    """The latency server's process: a ChatDouble until it is terminated."""
    import threading

    double = ChatDouble(lambda question, n: right_then_wrong(book, question, n),
                        delay=lambda texts: seconds_per_token * max(max(1, len(text.split())) for text in texts))
    ready.put(double.url)
    threading.Event().wait()


class LatencyServer:
    """The OpenAI-compatible double (tests/chat_double.py) answering after ``seconds_per_token`` x the tokens of
    the request's longest choice, sleeping (wall time, no CPU): the n choices decode side by side, as a GPU batches
    them. It runs in a process of its own, as a GPU server does: its threads take neither CPU nor the GIL from the
    round's process (in the same process they did, and hid the overlap at low ratios)."""

    def __init__(self, book: dict, seconds_per_token: float):
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        ready = context.Queue()
        self.seconds_per_token = seconds_per_token
        self.process = context.Process(target=_serve, args=(book, seconds_per_token, ready), daemon=True)
        self.process.start()
        self.url = ready.get(timeout=120)

    def close(self) -> None:
        self.process.terminate()
        self.process.join()


def answer_book(prompts) -> dict[str, tuple[list[str], list[str]]]:
    """Per question: (right answers, wrong answers) as a model would write them."""
    book = {}
    for prompt in prompts:
        if prompt.domain == "math":
            right = [f"Adding step by step, the answer is \\boxed{{{prompt.reference}}}."]
            wrong = [f"Adding step by step, the answer is \\boxed{{{prompt.reference}1}}."]
        else:
            right = [f"```python\n{prompt.response}\n```"]
            wrong = ["```python\nprint(0)\n```"]
        book[prompt.messages[-1].content] = (right, wrong)
    return book


GENERATION_CONCURRENCY = 16


def overlap_config(folder: Path, url: str, overlap: bool, chunk_prompts: int, n: int):
    data = {
        "workdir": str(folder / "work"),
        "model": {"base": str(ROOT / "flywheel" / "data" / "tiny-base")},
        "prompts": {"sources": [{"path": str(folder.parent / "prompts.jsonl")}]},
        "generation": {"backend": "openai", "n": n, "chunk_prompts": chunk_prompts,
                       "openai": {"base_url": url, "model": "double", "max_concurrency": GENERATION_CONCURRENCY}},
        "verifiers": {"math": ["math"], "code": ["unit_tests"], "general": [], "required": ["math"],
                      "overlap_generation": overlap},
        "evaluation": {"path": str(ROOT / "flywheel" / "data" / "tasks" / "heldout.jsonl")},
        "sandbox": {"backend": "bwrap", "timeout_seconds": 10},
    }
    return parse_config(data, base_dir=folder)


def round_once(folder: Path, url: str, overlap: bool, chunk_prompts: int, n: int) -> tuple[float, float, list[dict]]:
    """Collect, then generate and verify (timed): the seconds of both, of generate, and the verdicts, cost aside."""
    from flywheel.generation import make_generator
    from flywheel.round import lineage
    from flywheel.stages import collect as collect_stage
    from flywheel.stages import generate as generate_stage

    folder.mkdir(parents=True)
    config = overlap_config(folder, url, overlap, chunk_prompts, n)
    store = Store(config.workdir / "flywheel.duckdb")
    collect_stage.collect(config, 1, store)
    lineage.record(config, 1, "collect")
    started = time.perf_counter()
    generate_stage.generate(config, 1, store, lambda checkpoint: make_generator(checkpoint, config.generation))
    lineage.record(config, 1, "generate")  # as a round's bookkeeping does between the stages
    generated = time.perf_counter()
    verify_stage.verify(config, 1, store)
    seconds = time.perf_counter() - started
    rows = [{k: v for k, v in row.items() if k != "cost_seconds"}
            for row in pq.read_table(RoundPaths(config.workdir, 1).verdicts).to_pylist()]
    return seconds, generated - started, rows


def run_generation(folder: Path, ratios: list[float], n_prompts: int, n: int, chunk_prompts: int,
                   repeats: int = 1) -> dict:
    from flywheel.prompts.formats import load_prompts

    if chunk_prompts > GENERATION_CONCURRENCY:
        raise SystemExit(f"--chunk-prompts at most {GENERATION_CONCURRENCY}: a chunk's requests are sent together")
    tasks = [json.loads(line) for name in ("train", "heldout")
             for line in (ROOT / "flywheel" / "data" / "tasks" / f"{name}.jsonl").read_text().splitlines()]
    math = [t for t in tasks if t["domain"] == "math"]
    code = [t for t in tasks if t["domain"] == "code"]
    # the bundled tasks hold 144 code prompts; interleaved, so every chunk holds both kinds of work (code after
    # math put all of the sandbox's work in the last chunks, which no overlap can hide)
    chosen = [task for pair in zip(math[: n_prompts // 2], code[: n_prompts - n_prompts // 2]) for task in pair]
    (folder / "prompts.jsonl").write_text("".join(json.dumps(t) + "\n" for t in chosen))
    book = answer_book(load_prompts(folder / "prompts.jsonl"))

    def answers(question: str, count: int) -> list[str]:
        return right_then_wrong(book, question, count)

    server = LatencyServer(book, 0.0)
    runs = iter(range(10_000))
    try:
        round_once(folder / f"run-{next(runs)}", server.url, False, chunk_prompts, n)  # warm: imports, the sandbox
        total, generated, reference = round_once(folder / f"run-{next(runs)}", server.url, False, chunk_prompts, n)
        verify_seconds = total - generated
        # A chunk's requests are in flight together (chunk_prompts <= the client's concurrency), so a chunk takes
        # its slowest request's latency: generation takes seconds_per_token x the sum of those token counts.
        questions = [json.loads(line)["messages"][-1]["content"] for line in (folder / "prompts.jsonl").read_text().splitlines()]
        slowest = [max(max(1, len(text.split())) for q in questions[first:first + chunk_prompts]
                       for text in answers(q, n)) for first in range(0, len(questions), chunk_prompts)]
        tokens = sum(slowest)
        print(f"{len(chosen)} prompts x {n} samples: serial verification {verify_seconds:.1f} s "
              f"(generation with no latency {generated:.1f} s)", flush=True)
        report = {"prompts": len(chosen), "n": n, "chunk_prompts": chunk_prompts, "verify_seconds": verify_seconds,
                  "ratios": {}}
        for ratio in ratios:
            # generation's own overhead (the client, writing the chunks) counts toward its time
            server.close()
            server = LatencyServer(book, max(0.0, ratio * verify_seconds - generated) / tokens)
            timings: dict[str, list[float]] = {"serial": [], "overlapped": [], "measured_ratio": []}
            for _ in range(repeats):
                for overlap in (False, True):
                    seconds, gen_seconds, rows = round_once(folder / f"run-{next(runs)}", server.url, overlap,
                                                            chunk_prompts, n)
                    same = rows == reference
                    timings["overlapped" if overlap else "serial"].append(seconds)
                    measured = "" if overlap else \
                        f", generation / verification {gen_seconds / max(1e-9, seconds - gen_seconds):.2f}"
                    print(f"ratio {ratio:g}: {'overlapped' if overlap else 'serial    '} {seconds:6.1f} s "
                          f"(generate stage {gen_seconds:.1f} s{measured})  verdicts equal the serial path's: {same}",
                          flush=True)
                    if not overlap:
                        timings["measured_ratio"].append(gen_seconds / max(1e-9, seconds - gen_seconds))
                    if not same:
                        raise SystemExit("overlapped verification wrote other verdicts than the serial path")
            serial, overlapped = statistics.median(timings["serial"]), statistics.median(timings["overlapped"])
            share = overlapped / serial
            ideal = max(ratio, 1) / (ratio + 1)
            print(f"ratio {ratio:g}: medians of {repeats}: serial {serial:.1f} s, overlapped {overlapped:.1f} s: "
                  f"overlapped / serial = {share:.2f}x (ideal {ideal:.2f}x)", flush=True)
            report["ratios"][str(ratio)] = {"serial": [round(t, 2) for t in timings["serial"]],
                                            "overlapped": [round(t, 2) for t in timings["overlapped"]],
                                            "measured_ratio": round(statistics.median(timings["measured_ratio"]), 3),
                                            "share": round(share, 3), "ideal": round(ideal, 3),
                                            "seconds_per_token": server.seconds_per_token}
    finally:
        server.close()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=400_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="runs per setting, alternated; medians compared")
    parser.add_argument("--generation", action="store_true", help="verification overlapping generation instead")
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    parser.add_argument("--prompts", type=int, default=128, help="half math, half code")
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--chunk-prompts", type=int, default=8)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="round-overlap-") as folder:
        if args.generation:
            result = run_generation(Path(folder), args.ratios, args.prompts, args.n, args.chunk_prompts,
                                    args.repeats)
        else:
            result = run(args.samples, Path(folder), args.processes, args.repeats)
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
