"""A round at real size: how verify, select, quality, decontaminate (with dedup), pairs, mix and round metrics grow.

Synthesises a round of N samples: N/8 prompts x 8 samples, 80% math (a sympy-checked final
answer, right about half the time) and 20% general (judged by a cheap third-party plugin,
installed as a user would install one). Responses run to about 200 words. About 5% of the prompts
copy a held-out question word for word (planted contamination), and about 5% of the samples
repeat another sample of the same prompt (planted duplicates). Generation and SFT are not run.

It first records the prompts and samples in DuckDB, as collect and generate do after their
work (``record_samples``). For each stage it prints wall seconds, samples per second and peak RSS. The peak is VmHWM, reset
before each stage through /proc/self/clear_refs, plus the largest child process's (the math
workers). ``--json`` writes
{"samples": N, "total_seconds": t, "peak_rss_mb": m, "stages": {stage: {"seconds", "samples_per_second",
"peak_rss_mb", "child_peak_rss_mb"}}}.

    .venv/bin/python benchmarks/bench_round_scale.py --samples 100000 [--json OUT] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flywheel.stages import decontaminate as decontaminate_stage  # noqa: E402 - after the path
from flywheel.stages import mix as mix_stage  # noqa: E402
from flywheel.stages import round_metrics as round_metrics_stage  # noqa: E402
from flywheel.stages import select as select_stage  # noqa: E402
from flywheel.stages import verify as verify_stage  # noqa: E402
from flywheel.config import parse_config  # noqa: E402
from flywheel.round.layout import RoundPaths  # noqa: E402
from flywheel.stages.pairs import make_pairs  # noqa: E402
from flywheel.stages.quality import curate  # noqa: E402
from flywheel.records.schema import PROMPT_SCHEMA, SAMPLE_SCHEMA  # noqa: E402
from flywheel.store.database import Store  # noqa: E402
from tests.plugin_package import install_verifier_plugin  # noqa: E402

SAMPLES_PER_PROMPT = 8
SYNTH_BATCH_PROMPTS = 10_000
PLUGIN = textwrap.dedent('''
    from flywheel.verification.plugins import VerdictResult


    class LengthOk:
        """Passes an answer of 20 to 400 words: the cost of a trivial plugin, not of a judgement."""

        name, domains = "length_ok", ("general",)

        def verify_batch(self, items):
            results = []
            for item in items:
                words = len(item.sample.text.split())
                results.append(VerdictResult(passed=20 <= words <= 400, score=float(words)))
            return results
''')
WORDS = ("the of and to in is that for it as with was on be by this are or an from at which we can so then "
         "value number sum product equation term step result first second next total each both side square root "
         "factor prime divide multiply add subtract compute find solve check answer because therefore thus").split()


def _filler(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def synthesise(folder: Path, n_samples: int, seed: int = 0) -> dict:
    """Write the eval set, the round's prompts.parquet and samples.parquet; return what was planted."""
    rng = random.Random(seed)
    n_prompts = max(1, n_samples // SAMPLES_PER_PROMPT)
    eval_rows = [{"id": f"eval-{i}", "domain": "math", "answer": str(i),
                  "messages": [{"role": "user", "content": f"Held-out question {i}: " + _filler(rng, 30)}]}
                 for i in range(2000)]
    (folder / "heldout.jsonl").write_text("".join(json.dumps(r) + "\n" for r in eval_rows))
    planted = {"contaminated_prompts": 0, "duplicate_samples": 0}
    paths = RoundPaths(folder / "work", 1)
    paths.prompts.parent.mkdir(parents=True, exist_ok=True)
    prompt_writer = pq.ParquetWriter(paths.prompts, PROMPT_SCHEMA)
    sample_writer = pq.ParquetWriter(paths.samples, SAMPLE_SCHEMA)
    prompts, samples, n_samples_written = [], [], 0
    for p in range(n_prompts):
        math = p % 5 != 0
        if rng.random() < 0.05:
            copied = eval_rows[rng.randrange(len(eval_rows))]
            question, answer = copied["messages"][0]["content"], copied["answer"]
            planted["contaminated_prompts"] += 1
        else:
            a, b = rng.randrange(1, 999), rng.randrange(1, 999)
            question = (f"Problem {p}: what is {a} plus {b}? " + _filler(rng, 25) if math else
                        f"Question {p}: describe " + _filler(rng, 20))
            answer = str(a + b)
        prompt_id = f"p{p:07d}"
        prompts.append({"id": prompt_id, "domain": "math" if math else "general",
                        "messages": [{"role": "user", "content": question}],
                        "reference": answer if math else None, "response": None,
                        "source": f"synthetic.jsonl:{p + 1}"})
        texts: list[str] = []
        for i in range(SAMPLES_PER_PROMPT):
            if texts and rng.random() < 0.05:
                text = rng.choice(texts)
                planted["duplicate_samples"] += 1
            else:
                body = _filler(rng, rng.randrange(150, 250))
                final = prompts[-1]["reference"] if math and rng.random() < 0.5 else str(rng.randrange(2000))
                text = f"{body}. The answer is \\boxed{{{final}}}." if math else body
            texts.append(text)
            samples.append({"prompt_id": prompt_id, "sample_index": i, "text": text,
                            "num_tokens": len(text.split()), "finish_reason": "stop", "round": 1,
                            "checkpoint": "synthetic", "seed": 0, "sampling": None})
        if len(prompts) == SYNTH_BATCH_PROMPTS or p == n_prompts - 1:  # written in batches: the round never sits in memory
            prompt_writer.write_table(pa.Table.from_pylist(prompts, schema=PROMPT_SCHEMA))
            sample_writer.write_table(pa.Table.from_pylist(samples, schema=SAMPLE_SCHEMA))
            n_samples_written += len(samples)
            prompts, samples = [], []
    prompt_writer.close()
    sample_writer.close()
    return {"prompts": n_prompts, "samples": n_samples_written, **planted}


def config_for(folder: Path, quality: bool = False) -> object:
    data = {
        "workdir": str(folder / "work"),
        "model": {"base": str(ROOT / "flywheel" / "data" / "tiny-base")},
        "prompts": {"sources": [{"path": str(ROOT / "flywheel" / "data" / "tasks" / "train.jsonl")}]},
        "verifiers": {"math": ["math"], "code": [], "general": ["length_ok"], "required": ["math"],
                      "timeout_seconds": 36000},
        "selection": {"k": 2, "policies": {"math": "all_correct", "general": "all_correct"}},
        "decontamination": {"eval_sets": [{"name": "heldout", "path": str(folder / "heldout.jsonl")}]},
        "dedup": {"enabled": True},
        # Quality control's cost is the sentence model's throughput on the pool (a GPU's job at this size): off,
        # the stage passes the pool through; --quality times it with its topics and semantic dedup.
        "quality": {"enabled": quality, "topics": 64, "semantic_dedup_threshold": 0.95},
        "mixture": {"sources": [{"name": "new", "kind": "pool_this_round"}]},
        "evaluation": {"path": str(folder / "heldout.jsonl")},
    }
    (folder / "round.yaml").write_text(yaml.safe_dump(data))
    return parse_config(data, base_dir=folder)


def record_samples(config, round_number: int, store: Store) -> dict:
    """What collect and generate do to the store after their work: the prompts' rows copied into DuckDB,
    the samples' Parquet file attached as the round's ``samples`` rows."""
    paths = RoundPaths(config.workdir, round_number)
    n_prompts = store.replace_round("prompts", round_number, pq.read_table(paths.prompts))
    return {"n_prompts": n_prompts, "n_samples": store.attach_parquet("samples", round_number, paths.samples)}


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(n_samples: int, folder: Path, quality: bool = False) -> dict:
    plugin = install_verifier_plugin(folder / "plugin", name="length_ok", module="length_ok_verifier",
                                     cls="LengthOk", source=PLUGIN)
    sys.path.insert(0, str(plugin))
    started = time.perf_counter()
    planted = synthesise(folder, n_samples)
    print(f"synthesised {planted['samples']:,} samples of {planted['prompts']:,} prompts in "
          f"{time.perf_counter() - started:.1f} s (planted: {planted['contaminated_prompts']} contaminated prompts, "
          f"{planted['duplicate_samples']} duplicate samples)", flush=True)
    config = config_for(folder, quality)
    store = Store(config.workdir / "flywheel.duckdb")
    steps = [("record_samples", record_samples), ("verify", verify_stage.verify), ("select", select_stage.select),
             ("quality", curate), ("decontaminate", decontaminate_stage.decontaminate_round), ("pairs", make_pairs), ("mix", mix_stage.mix),
             ("round_metrics", round_metrics_stage.round_metrics)]
    report, total = {}, 0.0
    for name, stage in steps:
        _reset_peak()
        t0 = time.perf_counter()
        result = stage(config, 1, store)
        seconds = time.perf_counter() - t0
        total += seconds
        report[name] = {"seconds": round(seconds, 2), "samples_per_second": round(n_samples / seconds, 1),
                        "peak_rss_mb": round(_peak_mb(), 1),
                        "child_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)}
        shown = {k: v for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        print(f"{name:<14} {seconds:9.1f} s {n_samples / seconds:10.0f} samples/s  peak RSS "
              f"{report[name]['peak_rss_mb']:8.1f} MB  {shown}", flush=True)
    return {"samples": n_samples, "planted": planted, "total_seconds": round(total, 2),
            "peak_rss_mb": max(s["peak_rss_mb"] for s in report.values()), "stages": report}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, required=True)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--workdir", type=Path, help="keep the synthetic round here (default: a temporary folder)")
    parser.add_argument("--quality", action="store_true", help="quality control on (embeddings, 64 topics, "
                        "semantic dedup at 0.95); off, the quality stage passes the pool through")
    args = parser.parse_args()
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        result = run(args.samples, args.workdir, args.quality)
    else:
        with tempfile.TemporaryDirectory(prefix="round-scale-") as folder:
            result = run(args.samples, Path(folder), args.quality)
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
