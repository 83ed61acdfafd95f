"""Verification in shards on Dagster's multiprocess executor: 2 shards against 1, same job, same machine.

Both arms run the graph-backed ``verdicts`` asset with ``execute_job`` under the multiprocess
executor (``max_concurrent: 2``); only ``verifiers.shards`` differs, so process start-up and the
merge cost the same in both. Two rounds, both from the bundled train prompts x N samples:

- ``builtin``: the built-in mix (math, unit tests in the sandbox, the reward model). These already
  spread their heavy part over the cores inside one process (sympy worker pool, sandbox slots,
  torch threads), so two shards have little left to gain on a 2-core machine.
- ``plugin``: a third-party verifier doing single-threaded Python work per sample (a fuzzy match of
  the answer to a reference, by edit distance), installed as a user would install one. One
  process uses one core for it; two shards use two.

The verdicts of both arms are compared (scores within float32 noise, every other field equal).

    .venv/bin/python benchmarks/bench_sharded_verify.py [--samples-per-prompt 8] [--rounds builtin plugin] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pyarrow.parquet as pq
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.plugin_package import install_verifier_plugin, verify_job  # noqa: E402 - after the path

PLUGIN = textwrap.dedent('''
    from flywheel.verification.plugins import VerdictResult


    def edit_distance(a, b):
        previous = list(range(len(b) + 1))
        for i, x in enumerate(a, 1):
            current = [i]
            for j, y in enumerate(b, 1):
                current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
            previous = current
        return previous[-1]


    class FuzzyMatch:
        """Passes an answer within 20% edit distance of the prompt's text (pure Python, one thread)."""

        name, domains = "fuzzy_match", ("math", "general", "code")

        def verify_batch(self, items):
            results = []
            for item in items:
                target = item.prompt.messages[-1].content * 2
                distance = edit_distance(item.sample.text, target)
                results.append(VerdictResult(distance <= 0.2 * len(target), 1.0 / (1 + distance), f"distance {distance}"))
            return results
''')
def make_round(work: Path, verifiers: dict, samples_per_prompt: int) -> Path:
    from flywheel.stages import collect as collect_stage
    from flywheel.config import DEFAULT_CONFIG, load_config
    from flywheel.records.files import write_parquet_atomic
    from flywheel.round.layout import RoundPaths
    from flywheel.records.schema import Sample, samples_to_table, table_to_prompts
    from flywheel.store.database import Store

    config = load_config(DEFAULT_CONFIG, workdir=work)
    config = config.model_copy(update={"verifiers": type(config.verifiers)(**verifiers)})
    path = work / "round.yaml"
    work.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    config = load_config(path)
    collect_stage.collect(config, 1, Store(config.workdir / "flywheel.duckdb"))
    prompts = table_to_prompts(pq.read_table(RoundPaths(config.workdir, 1).prompts))
    samples = []
    for prompt in prompts:
        question = prompt.messages[-1].content
        for index in range(samples_per_prompt):
            code = prompt.response or f"def solve():\n    return {index}"
            text = (f"Let me think. {question[: 40 + 15 * index]} So the answer is \\boxed{{{prompt.reference}}}."
                    if prompt.domain == "math" else f"```python\n{code}\n```"
                    if prompt.domain == "code" else f"{question} {question[::-1][: 20 * index]}")
            samples.append(Sample(prompt_id=prompt.id, sample_index=index, text=text, num_tokens=len(text) // 4,
                                  finish_reason="stop", round=1, checkpoint="base", seed=index))
    write_parquet_atomic(samples_to_table(samples), RoundPaths(config.workdir, 1).samples)
    return path


def run_arm(path: Path, shards: int, dagster_home: Path) -> tuple[float, list[dict]]:
    import dagster as dg

    from flywheel.config import load_config
    from flywheel.round.layout import RoundPaths

    config = load_config(path)
    config = config.model_copy(update={"verifiers": config.verifiers.model_copy(update={"shards": shards})})
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    os.environ["FLYWHEEL_CONFIG"] = str(path)
    dagster_home.mkdir(parents=True, exist_ok=True)
    with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        instance.add_dynamic_partitions("round", ["1"])
        started = time.perf_counter()
        result = dg.execute_job(dg.reconstructable(verify_job), instance=instance, tags={"dagster/partition": "1"})
        seconds = time.perf_counter() - started
    if not result.success:
        raise SystemExit(f"the {shards}-shard run failed")
    rows = pq.read_table(RoundPaths(config.workdir, 1).verdicts).to_pylist()
    return seconds, [{k: v for k, v in row.items() if k != "cost_seconds"} for row in rows]


def same_verdicts(a: list[dict], b: list[dict]) -> bool:
    return (len(a) == len(b) and all(abs(x["score"] - y["score"]) <= 1e-5 * max(1.0, abs(y["score"]))
                                     for x, y in zip(a, b))
            and [{**x, "score": None} for x in a] == [{**y, "score": None} for y in b])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples-per-prompt", type=int, default=8)
    parser.add_argument("--rounds", nargs="+", choices=["builtin", "plugin"], default=["builtin", "plugin"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-shards-"))
    target = install_verifier_plugin(scratch, name="fuzzy_match", module="flywheel_fuzzy_match", cls="FuzzyMatch",
                                     source=PLUGIN)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(target), str(ROOT), os.environ.get("PYTHONPATH")]))
    sys.path.insert(0, str(target))
    rounds = {
        "builtin": {"math": ["math"], "code": ["unit_tests"], "general": ["reward_model"]},
        "plugin": {"math": ["fuzzy_match"], "code": ["fuzzy_match"], "general": ["fuzzy_match"]},
    }
    report = {}
    for name, verifiers in ((name, rounds[name]) for name in args.rounds):
        path = make_round(scratch / name, verifiers, args.samples_per_prompt)
        serial, one = run_arm(path, 1, scratch / name / "dagster-1")
        sharded, two = run_arm(path, 2, scratch / name / "dagster-2")
        report[name] = {"verdicts": len(one), "one_shard_seconds": round(serial, 2), "two_shard_seconds": round(sharded, 2),
                        "speedup": round(serial / sharded, 2), "identical": same_verdicts(two, one)}
        print(f"{name:8s} {len(one):6d} verdicts: 1 shard {serial:6.1f}s, 2 shards {sharded:6.1f}s, "
              f"{serial / sharded:.2f}x, verdicts identical: {report[name]['identical']}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
