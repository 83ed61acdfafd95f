"""Can the rounds raise the held-out general score when the base model knows the facts?

The demo's general score stays near 0 in every arm of ``bench_ablation.py``: its 32 held-out questions ask facts
the bundled tiny base never read (its pre-training text holds 12 general facts), and no round can select a sample
that holds a fact the model does not have. A real base model has read its facts; post-training only teaches it to
say them when asked. This benchmark builds that situation on the CPU, in a variant of the demo's data:

- **the base model has read every general fact**: its pre-training text is the bundled one with 30% of the lines
  replaced by general facts as raw text ("What is the plural of ox? The plural of ox is oxen."): the seed's, the
  held-out ones and the ones below; never in the chat format, so the chat model must learn to say them;
- **the prompt pool gains general questions no demonstration answers** (``TRAIN_ONLY``: 42 facts of the seed's
  rule families), as math and code prompts have none: what a round's general samples can add that the seed does
  not already hold. The held-out general questions are unchanged.

Two arms, each the flywheel and its same-budget control (``bench_flywheel.run_flywheel`` / ``run_control``):

- ``reward_model``: the demo's general filter (the reward model's top pick per prompt, ``best_of_n``);
- ``self_consistency``: the majority claim of a prompt's samples (``all_correct``: every majority sample, up to k);
- ``self_consistency_best_of_n``: the same verdicts, one sample per prompt (``best_of_n`` ranked by its agreement),
  so as many general samples train as with the reward model's pick.

It prints held-out pass@1 (math + code) and held-out general pass@1 per round for the flywheel and the control,
their gap with a 95% interval over seeds, and each filter's precision on round 1's general samples (right: the
answer holds the fact's key terms, ``reference_match.key_terms``; the 3 questions whose answers have none, such
as "May comes after April.", are left out; round 1's samples are the round-0 model's, the
same in both arms, which the script checks). Everything lands under ``--out``: the variant's data and base model
(``data/``), each arm's config and workdirs (``<arm>/seed-<S>``: ``evaluations``, ``verdicts`` and
``control.json`` hold every figure), ``results.json`` and ``table.md``. A rerun resumes. With ``--config`` for a
real base model (on a GPU), that model is kept, since it has read its facts, and only the prompts change.

    .venv/bin/python benchmarks/bench_general_knowledge.py [--seeds 0 1 2] [--rounds 3] [--out runs/bench-general-knowledge]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "scripts"))

import make_tasks  # noqa: E402
from bench_flywheel import _heldout, interval, run_control, run_flywheel  # noqa: E402

from flywheel.config import DEFAULT_CONFIG, PACKAGE_DIR, load_config, parse_config  # noqa: E402
from flywheel.store.database import Store  # noqa: E402

# General questions of the seed's rule families that no demonstration answers: the rounds answer them alone.
TRAIN_ONLY_RULES = [
    ("What is the opposite of {0}?", "The opposite of {0} is {1}.",
     [("near", "far"), ("young", "old"), ("good", "bad"), ("first", "last"), ("sweet", "sour"), ("push", "pull"),
      ("black", "white"), ("cheap", "expensive")]),
    ("Which sound does a {0} make?", "A {0} says {1}.",
     [("chick", "cheep"), ("dove", "coo"), ("turkey", "gobble"), ("hen", "cluck"), ("bear", "growl"),
      ("bird", "tweet")]),
    ("What color is {0}?", "{0} is {1}.",
     [("a banana", "yellow"), ("a lime", "green"), ("blood", "red"), ("charcoal", "black"), ("an eggplant", "purple"),
      ("cream", "white")]),
    ("What is the plural of {0}?", "The plural of {0} is {1}.",
     [("loaf", "loaves"), ("calf", "calves"), ("louse", "lice"), ("die", "dice"), ("shelf", "shelves"),
      ("life", "lives")]),
    ("What is the capital of {0}?", "The capital of {0} is {1}.",
     [("Poland", "Warsaw"), ("Hungary", "Budapest"), ("Finland", "Helsinki"), ("Denmark", "Copenhagen"),
      ("Belgium", "Brussels"), ("Cuba", "Havana"), ("Chile", "Santiago"), ("India", "Delhi")]),
    ("How many legs does {0} have?", "{0} has {1} legs.",
     [("a lizard", "4"), ("a goose", "2"), ("a wasp", "6"), ("a mouse", "4"), ("an owl", "2"), ("a moth", "6"),
      ("a pig", "4"), ("a lobster", "10")]),
]
FACT_SHARE = 0.3  # of the pre-training lines, replaced by general facts
# arm: (verifiers.general, selection.policies.general, selection.reward_verifier)
ARMS = {"reward_model": (["reward_model"], "best_of_n", "reward_model"),
        "self_consistency": (["self_consistency"], "all_correct", "reward_model"),
        "self_consistency_best_of_n": (["self_consistency"], "best_of_n", "self_consistency")}
TASKS = PACKAGE_DIR / "data" / "tasks"
BASE = PACKAGE_DIR / "data" / "tiny-base"


def train_only() -> list[tuple[str, str]]:
    return make_tasks.filled(TRAIN_ONLY_RULES)


def facts() -> dict[str, str]:
    """Every general question of the variant with its answer: seed, training-only and held-out."""
    return dict(make_tasks.general_demonstrations() + train_only() + make_tasks.filled(make_tasks.GENERAL_HELDOUT_RULES))


def write_tasks(out: Path) -> None:
    splits = make_tasks.build()
    taught = {question for question, _ in make_tasks.general_demonstrations()}
    held = {row["messages"][0]["content"] for row in splits["heldout_general"]}
    for i, (question, _) in enumerate(train_only()):
        assert question not in taught | held, question
        splits["train"].append(make_tasks.row(f"general-train-{i}", "general", question, None))
    out.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        (out / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


def pretraining_corpus() -> list[str]:
    """The bundled base model's text with FACT_SHARE of its lines replaced by general facts, as raw text."""
    pool = list(facts().items())
    draw = random.Random(11)
    corpus = []
    for line in make_tasks.pretraining_corpus(random.Random(7)):
        if draw.random() < FACT_SHARE:
            question, answer = draw.choice(pool)
            corpus.append(f"{question} {answer}")
        else:
            corpus.append(line)
    return corpus


def make_base(out: Path) -> None:
    """scripts/make_tiny_base.py's tokenizer, model and schedule, on the variant's text."""
    if (out / "model.safetensors").exists():
        return
    import torch

    import make_tiny_base

    torch.manual_seed(0)
    corpus = pretraining_corpus()
    tokenizer = make_tiny_base.train_tokenizer(corpus, 1024)
    model = make_tiny_base.make_model(len(tokenizer))
    make_tiny_base.pretrain(model, tokenizer, corpus, steps=1500, batch_size=32, seq_len=128)
    make_tiny_base.save(model, tokenizer, out)


def _moved(value, tasks: Path, base: Path):
    """The config's paths into the bundled tasks and base model, pointed at the variant's."""
    if isinstance(value, dict):
        return {k: _moved(v, tasks, base) for k, v in value.items()}
    if isinstance(value, list):
        return [_moved(v, tasks, base) for v in value]
    if isinstance(value, str) and value == str(BASE):
        return str(base)
    if isinstance(value, str) and value.startswith(str(TASKS) + "/"):
        return str(tasks / Path(value).name)
    return value


def arm_config(config_path: Path, arm: str, out: Path) -> Path:
    data = _moved(load_config(config_path).model_dump(mode="json"), out / "data" / "tasks", out / "data" / "tiny-base")
    general, policy, ranked_by = ARMS[arm]
    data["verifiers"]["general"] = general
    data["selection"]["policies"]["general"] = policy
    data["selection"]["reward_verifier"] = ranked_by
    path = out / f"{arm}.yaml"
    parse_config(data, base_dir=out, source=str(path))
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def precision(workdir: Path, verifier: str, questions: dict[str, str]) -> tuple[dict, dict]:
    """Round 1's general samples: how many the verifier passed and how many of those are right, overall and on the
    training-only questions; and the samples' texts (to check both arms judged the same ones)."""
    from flywheel_verifiers.reference_match import answer_words, key_terms

    known = facts()
    rows = Store(workdir / "flywheel.duckdb").query(
        "SELECT s.prompt_id, s.sample_index, s.text, v.passed FROM samples s JOIN verdicts v "
        "USING (round, prompt_id, sample_index) WHERE s.round = 1 AND v.verifier = ? "
        "ORDER BY s.prompt_id, s.sample_index", [verifier])[1]
    labelled = []  # (prompt_id, passed, right)
    for prompt_id, _, text, passed in rows:
        question = questions[prompt_id]
        terms = key_terms(question, known[question])
        if not terms:  # "May comes after April.", "... the letter a.": every word is a function word; unlabelled
            continue
        labelled.append((prompt_id, bool(passed), set(terms) <= set(answer_words(text))))
    result = {}
    for scope in ("all", "train_only"):
        right = [(p, r) for prompt_id, p, r in labelled if scope == "all" or prompt_id.startswith("general-train-")]
        kept = [r for p, r in right if p]
        result[scope] = {"samples": len(right), "right": sum(r for _, r in right), "accepted": len(kept),
                         "accepted_right": sum(kept)}
    return result, {(prompt_id, index): text for prompt_id, index, text, _ in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="default: the demo's own config")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-general-knowledge")
    args = parser.parse_args()
    out = args.out.resolve()
    started = time.perf_counter()
    write_tasks(out / "data" / "tasks")
    if str(load_config(args.config).model.base) == str(BASE):  # a real base model has read its facts already
        make_base(out / "data" / "tiny-base")
    configs = {arm: arm_config(args.config, arm, out) for arm in args.arms}
    questions = {row["id"]: row["messages"][0]["content"] for row in map(json.loads, (
        out / "data" / "tasks" / "train.jsonl").read_text().splitlines()) if row["domain"] == "general"}
    scores = {arm: {side: {measure: {r: [] for r in range(args.rounds + 1)} for measure in ("all", "general")}
                    for side in ("flywheel", "control")} for arm in args.arms}
    precisions: dict[str, dict[int, dict]] = {arm: {} for arm in args.arms}
    for seed in args.seeds:
        texts = {}
        for arm, config in configs.items():
            workdir = out / arm / f"seed-{seed}"
            run_flywheel(seed, args.rounds, workdir, config)
            control = run_control(workdir, args.rounds)
            for r in range(args.rounds + 1):
                for measure, split in (("all", "heldout"), ("general", "heldout_general")):
                    domain = "general" if measure == "general" else "all"
                    mine = _heldout(workdir, r, domain, split)
                    scores[arm]["flywheel"][measure][r].append(mine)
                    theirs = mine if r == 0 else control[r]["general_pass_at_1" if measure == "general" else "pass_at_1"]
                    scores[arm]["control"][measure][r].append(theirs)
            precisions[arm][seed], texts[arm] = precision(workdir, ARMS[arm][0][0], questions)
        if len({json.dumps(sorted(t.items())) for t in texts.values()}) > 1:
            raise SystemExit(f"seed {seed}: the arms' round-1 general samples differ; their precisions do not compare")
        print(f"seed {seed}: " + "; ".join(
            f"{arm} general {[round(v[-1], 3) for v in scores[arm]['flywheel']['general'].values()]} (control "
            f"{[round(v[-1], 3) for v in scores[arm]['control']['general'].values()]})" for arm in args.arms))
    rows = []
    for arm in args.arms:
        for measure in ("all", "general"):
            for r in range(args.rounds + 1):
                f, c = scores[arm]["flywheel"][measure][r], scores[arm]["control"][measure][r]
                rows.append({"arm": arm, "measure": measure, "round": r, "flywheel": interval(f),
                             "control": interval(c), "gap": interval([a - b for a, b in zip(f, c)])})

    def cell(v, sign=""):
        return f"{v[0]:{sign}.3f} ({v[1]:{sign}.3f}–{v[2]:{sign}.3f})"

    lines = ["| general filter | held-out | round | flywheel (95% CI) | control (95% CI) | gap (95% CI) |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {row['arm']} | {'math + code' if row['measure'] == 'all' else 'general'} | {row['round']} | "
              f"{cell(row['flywheel'])} | {cell(row['control'])} | {cell(row['gap'], '+')} |" for row in rows]
    lines += ["", "| filter | round-1 general samples | right (chance) | accepted | precision | on training-only "
              "questions: chance | precision |", "|---|---|---|---|---|---|---|"]
    for arm in args.arms:
        p = [precisions[arm][s] for s in args.seeds]
        total = {k: sum(x["all"][k] for x in p) for k in ("samples", "right", "accepted", "accepted_right")}
        only = {k: sum(x["train_only"][k] for x in p) for k in ("samples", "right", "accepted", "accepted_right")}
        lines.append(f"| {arm} | {total['samples']} | {total['right']} ({total['right'] / total['samples']:.3f}) | "
                     f"{total['accepted']} | {total['accepted_right'] / max(1, total['accepted']):.3f} | "
                     f"{only['right'] / max(1, only['samples']):.3f} | "
                     f"{only['accepted_right'] / max(1, only['accepted']):.3f} |")
    table = "\n".join(lines)
    print(table)
    print(f"seeds {args.seeds}, {args.rounds} rounds, wall time {time.perf_counter() - started:.0f}s")
    (out / "results.json").write_text(json.dumps({"seeds": args.seeds, "rows": rows, "scores": scores,
                                                  "precision": precisions}, indent=2))
    (out / "table.md").write_text(table + "\n")
    print(f"wrote {out / 'results.json'} and {out / 'table.md'}")


if __name__ == "__main__":
    main()
