"""Does each filter earn its place? The flywheel with every filter on, beside runs that turn off one filter each.

Issue 34's ablation. Every arm is ``flywheel demo --seed S --rounds R --ignore-stop`` on a config derived from
``--config`` (the demo's own by default):

- ``full``: every filter on, general samples in training (the pool's general quotas removed) and quality control
  dropping by rule: prompts every sample passed (``quality.min_difficulty`` 0.01, OpenThoughts' best single
  filter) and semantic duplicates within a topic (``quality.semantic_dedup_threshold`` 0.95, Llama 3.1's);
- ``no_math_checker``: math samples enter whatever the checker said (``selection.policies.math: unfiltered``);
- ``no_sandbox``: code samples enter whatever their tests said (``selection.policies.code: unfiltered``);
- ``no_reward_model``: every finished general sample enters (``unfiltered``), not the reward model's top pick;

The verifiers still run in every arm, so the held-out evaluation, which scores with them, is the same measure
everywhere (an arm without its math verifier had no math score at all); only selection stops listening.
- ``no_quality_control``: ``quality.enabled: false`` (neither rule, no annotation);
- ``no_semantic_dedup``: quality control without its semantic dedup (the difficulty rule stays);
- ``previous_default``: not a filter: the demo as it was before general samples trained (their quotas 0, quality
  control annotating only), measured against ``no_quality_control`` (the same, general samples in);
- a same-budget control of ``bench_flywheel.py`` for the ``full`` arm and any other named by ``--controls`` (the
  base model fine-tuned on the seed demonstrations alone for the optimizer steps of each of that arm's rounds),
  reported as "control of <arm>".

"Unfiltered" is no rejection at all: each finished sample, duplicates dropped, up to ``selection.k`` per prompt
(flywheel.curation.policies). A filter's contribution is ``full`` minus the arm without it, per seed (the seeds
pair the runs), with a 95% Student's t interval over seeds; a filter whose interval holds 0 is reported as one
the intervals cannot tell from none, one whose interval is below 0 as one that hurts.

Runs are seed-major (every arm of seed 0, then of seed 1, ...), so a cut-short run still compares every arm on the
same seeds; each arm's workdir is ``OUT/<arm>/seed-<S>`` and a finished one is not run again, so rerunning the
command resumes. Every figure is recomputable from the workdirs: ``evaluations`` (split ``heldout`` by domain,
split ``heldout_general``) and the control's ``control.json``; the script writes ``results.json`` (each seed's
value per arm, round and domain) and ``table.md``.

    .venv/bin/python benchmarks/bench_ablation.py [--seeds 0 1 2] [--rounds 3] [--arms full no_math_checker ...]
        [--controls full ...] [--config flywheel/configs/demo.yaml] [--out runs/bench-ablation]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_flywheel import _heldout, interval, run_control, run_flywheel  # noqa: E402

from flywheel.config import DEFAULT_CONFIG, load_config, parse_config  # noqa: E402

DOMAINS = ("all", "math", "code", "general")  # general: the heldout_general split, scored by its own verifier


def full(data: dict) -> dict:
    """Every filter on: general samples train, and quality control drops by difficulty and semantic duplicates."""
    for source in data["mixture"]["sources"]:
        if source["kind"] in ("pool_this_round", "pool_earlier_rounds") and source.get("quotas"):
            source["quotas"] = {d: q for d, q in source["quotas"].items() if d != "general"}
    data["quality"].update(enabled=True, min_difficulty=0.01, semantic_dedup_threshold=0.95)
    return data


def _unfiltered(domain: str):
    """The domain's samples enter the pool whatever its checker said. The checker still runs: the held-out
    evaluation scores with the same verifiers in every arm, and the verdicts stay in the rows for audit."""
    def turn_off(data: dict) -> dict:
        data["selection"]["policies"][domain] = "unfiltered"
        return data
    return turn_off


def _quality(**settings):
    def turn_off(data: dict) -> dict:
        data["quality"].update(settings)
        return data
    return turn_off


def _previous_default(data: dict) -> dict:
    """The demo's default before general samples trained: the pool's general quotas 0, quality control annotating
    (no drop rule)."""
    for source in data["mixture"]["sources"]:
        if source["kind"] in ("pool_this_round", "pool_earlier_rounds"):
            source["quotas"] = {**(source.get("quotas") or {}), "general": 0}
    data["quality"].update(min_difficulty=None, semantic_dedup_threshold=None)
    return data


ARMS = {
    "full": lambda data: data,
    "no_math_checker": _unfiltered("math"),
    "no_sandbox": _unfiltered("code"),
    "no_reward_model": _unfiltered("general"),
    "no_quality_control": _quality(enabled=False),
    "no_semantic_dedup": _quality(semantic_dedup_threshold=None),
    "previous_default": _previous_default,
}
# Further differences the table reports: (arm, arm it is measured against, what the difference is).
COMPARISONS = [("no_quality_control", "previous_default",
                "general samples in training (quality control's rules off in both)")]
FILTER_OF = {"no_math_checker": "math checker", "no_sandbox": "sandbox (unit tests)",
             "no_reward_model": "reward model (general)", "no_quality_control": "quality control",
             "no_semantic_dedup": "semantic dedup"}


def arm_config(config_path: Path, arm: str, out: Path) -> Path:
    """The arm's config, written with absolute paths (``OUT/<arm>.yaml``); it fails here if it does not load."""
    data = ARMS[arm](full(load_config(config_path).model_dump(mode="json")))
    path = out / f"{arm}.yaml"
    out.mkdir(parents=True, exist_ok=True)
    parse_config(data, base_dir=out, source=str(path))
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def scores_of(workdir: Path, rounds: int) -> dict[str, list[float | None]]:
    """{domain: [held-out pass@1 of round 0..R]} from the arm's ``evaluations`` rows."""
    return {d: [_heldout(workdir, r, "general", "heldout_general") if d == "general" else _heldout(workdir, r, d)
                for r in range(rounds + 1)] for d in DOMAINS}


def control_scores(workdir: Path, rounds: int, full_scores: dict) -> dict[str, list[float | None]]:
    """The same-budget control beside the full arm's workdir, in the shape of ``scores_of`` (round 0 is shared)."""
    arm = run_control(workdir, rounds)
    return {d: [full_scores[d][0]] + [arm[r].get("general_pass_at_1") if d == "general" else
                                      arm[r]["pass_at_1"] if d == "all" else arm[r]["by_domain"].get(d)
                                      for r in range(1, rounds + 1)] for d in DOMAINS}


def _cell(values: list[float], sign: str = "") -> str:
    mean, low, high = interval(values)
    return f"{mean:{sign}.3f} ({low:{sign}.3f}–{high:{sign}.3f})" if len(values) > 1 else f"{mean:{sign}.3f}"


def verdict(differences: list[float]) -> str:
    if len(differences) < 2:
        return "one seed: no interval yet"
    _, low, high = interval(differences)
    return "helps" if low > 0 else "hurts" if high < 0 else "no difference the intervals can see"


def tables(scores: dict, rounds: int) -> str:
    """Held-out pass@1 per arm and domain at the last round, and each filter's contribution, from ``scores``
    ({arm: {seed: {domain: [per round]}}}, controls as "control of <arm>"); only seeds every arm finished count."""
    controls = [name for name in scores if name.startswith("control of ") and scores[name]]
    arms = [a for a in ARMS if scores.get(a)] + controls
    seeds = sorted(set.intersection(*(set(scores[a]) for a in arms))) if arms else []
    lines = [f"Held-out pass@1 at round {rounds}, mean (95% CI) over seeds {seeds}:", "",
             "| arm | all | math | code | general |", "|---|---|---|---|---|"]
    for arm in arms:
        cells = []
        for d in DOMAINS:
            values = [scores[arm][s][d][rounds] for s in seeds if scores[arm][s][d][rounds] is not None]
            cells.append(_cell(values) if values else "–")
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    lines += ["", f"Each filter's contribution at round {rounds}: full minus the arm without it, per seed, "
                  "mean (95% CI); and each controlled arm minus its same-budget control:", "",
              "| filter | all | math | code | general | verdict (all) |", "|---|---|---|---|---|---|"]
    pairs = [("full", arm, FILTER_OF[arm]) for arm in arms if arm in FILTER_OF] + \
        [(a, b, name) for a, b, name in COMPARISONS if a in arms and b in arms] + \
        [(control.removeprefix("control of "), control, f"the flywheel ({control.removeprefix('control of ')}) "
          "minus its same-budget control") for control in controls]
    for minuend, subtrahend, name in pairs:
        cells, overall = [], []
        for d in DOMAINS:
            diffs = [scores[minuend][s][d][rounds] - scores[subtrahend][s][d][rounds] for s in seeds
                     if scores[minuend][s][d][rounds] is not None and scores[subtrahend][s][d][rounds] is not None]
            cells.append(_cell(diffs, "+") if diffs else "–")
            overall = diffs if d == "all" else overall
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {verdict(overall)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--controls", nargs="*", default=["full"], choices=list(ARMS),
                        help="the arms that get a same-budget control (none: no control)")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="default: the demo's own config")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-ablation")
    args = parser.parse_args()
    arms = ["full", *(a for a in args.arms if a != "full")]  # every contribution is measured from full
    out = args.out.resolve()
    configs = {arm: arm_config(args.config, arm, out) for arm in arms}
    started = time.perf_counter()
    scores: dict[str, dict[int, dict]] = {arm: {} for arm in arms}
    for seed in args.seeds:
        for arm in arms:
            workdir = out / arm / f"seed-{seed}"
            begun = time.perf_counter()
            run_flywheel(seed, args.rounds, workdir, configs[arm])
            scores[arm][seed] = scores_of(workdir, args.rounds)
            print(f"seed {seed} {arm}: held-out pass@1 by round {[round(v, 3) for v in scores[arm][seed]['all']]} "
                  f"({time.perf_counter() - begun:.0f}s)", flush=True)
        for arm in args.controls:
            if arm in arms:
                scores.setdefault(f"control of {arm}", {})[seed] = control_scores(
                    out / arm / f"seed-{seed}", args.rounds, scores[arm][seed])
        table = tables(scores, args.rounds)
        (out / "results.json").write_text(json.dumps({"seeds": args.seeds, "rounds": args.rounds, "scores": scores,
                                                      "configs": {a: str(p) for a, p in configs.items()}}, indent=2))
        (out / "table.md").write_text(table + "\n")
    print(table)
    print(f"wall time {time.perf_counter() - started:.0f}s; wrote {out / 'results.json'} and {out / 'table.md'}")


if __name__ == "__main__":
    main()
