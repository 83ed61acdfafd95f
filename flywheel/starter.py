"""``flywheel init DIR``: a commented starter config and a prompts file in each chat format, ready to run.

The config points at the bundled tiny model and seed demonstrations, so ``flywheel check`` and
``flywheel run`` work on it at once; a user then swaps in their own model, prompts and verifiers,
field by field, with the comments saying what each one does.
"""

from __future__ import annotations

import json
from pathlib import Path

from flywheel.config import PACKAGE_DIR

DATA = PACKAGE_DIR / "data"

# One prompt per domain in each chat format collect reads; ``reference`` is what the domain's checker needs.
PROMPTS = {
    "alpaca.jsonl": [
        {"id": "alpaca-math-1", "domain": "math", "instruction": "Ann has 3 apples and buys 4 more. How many now?",
         "input": "", "reference": "7"},
        {"id": "alpaca-general-1", "domain": "general", "instruction": "What do bees make?", "input": ""},
    ],
    "sharegpt.jsonl": [
        {"id": "sharegpt-code-1", "domain": "code",
         "conversations": [{"from": "human", "value": "Write a Python function add(a, b) that returns a + b."}],
         "reference": "def test_add():\n    assert add(2, 3) == 5\n    assert add(-1, 1) == 0\n"},
        {"id": "sharegpt-general-1", "domain": "general",
         "conversations": [{"from": "human", "value": "What is the opposite of hot?"}]},
    ],
    "messages.jsonl": [
        {"id": "messages-math-1", "domain": "math",
         "messages": [{"role": "user", "content": "Tom has 9 cards and gives away 4. How many are left?"}],
         "reference": "5"},
        {"id": "messages-code-1", "domain": "code",
         "messages": [{"role": "user", "content": "Write a Python function double(x) that returns 2 * x."}],
         "reference": json.dumps({"tests": "assert double(4) == 8\nassert double(0) == 0\n"})},
    ],
    # Held out: never a training source; evaluated every round and decontaminated against.
    "heldout.jsonl": [
        {"id": "heldout-math-1", "domain": "math",
         "messages": [{"role": "user", "content": "Sam has 6 pens and finds 5 more. How many pens does Sam have?"}],
         "reference": "11"},
        {"id": "heldout-code-1", "domain": "code",
         "messages": [{"role": "user", "content": "Write a Python function square(x) that returns x * x."}],
         "reference": "def test_square():\n    assert square(3) == 9\n"},
    ],
}

CONFIG = """\
# A flywheel round config. Relative paths are read from this file's folder.
# Check it with:   flywheel check --config {config}
# Run rounds with: flywheel run --config {config} --rounds 2
# Every field and its default: docs/reference/config.md, from flywheel/config/ (each has a description).
# As written it runs the bundled tiny model on CPU and learns: round 2 accepts samples the checkers proved
# right. For a real model, change model.base, the prompts and evaluation files, and the SFT settings
# marked "tiny model" (docs/guides/your-own-task.md).
workdir: runs/my-task            # every round's files, the DuckDB audit database and the Dagster runs

model:
  base: {model}                  # a Hugging Face model folder, or a hub id (org/name) in your HF cache

generation:
  backend: transformers          # transformers | vllm | vllm_server (starts `vllm serve`) | openai (your servers)
  n: 4                           # samples per prompt
  temperature: 0.7
  max_new_tokens: 48
  device: cpu

prompts:
  sources:                       # JSONL, Parquet, a datasets folder, or hub:; the format is detected per row
    - path: prompts/alpaca.jsonl
    - path: prompts/sharegpt.jsonl
    - path: prompts/messages.jsonl
    - path: prompts/tasks.jsonl  # bundled arithmetic, Python and short questions: replace with your own

verifiers:                       # `flywheel verifiers` lists what is installed
  math: [math]                   # final answer against `reference`, with sympy
  code: [unit_tests]             # `reference` is Python tests, run in the sandbox
  general: [reward_model]        # no checker for open questions: a reward model ranks them (add llm_judge
                                 # with combine: {{general: any_of}} once you have a capable judge, or use
                                 # self_consistency: the answer most of a prompt's samples give)
  required: [math]               # a required verifier that fails stops the round
  options:
    reward_model:
      path: {reward_model}       # the bundled tiny reward model: it only shows the plumbing
      top_quantile: 0.25         # Llama 3 kept the reward model's top quartile

selection:
  policies: {{math: all_correct, code: all_correct, general: best_of_n}}
  k: 2                           # samples kept per prompt

decontamination:
  eval_sets:                     # training rows overlapping these by 8-grams are dropped, with a report
    - name: heldout
      path: prompts/heldout.jsonl

mixture:
  sources:                       # general answers stay out (quota 0): the tiny reward model's picks are noise
    - {{name: new, kind: pool_this_round, quotas: {{general: 0}}}}         # the pool's examples from this round
    - {{name: earlier, kind: pool_earlier_rounds, quotas: {{general: 0}}}} # the pool's best of earlier rounds
    - {{name: seed, kind: file, path: {seed}, weight: 2.0}}        # demonstrations, replayed every round

# Round 0 teaches the base model the chat format from the seed demonstrations, so round 1 samples
# answers that end; a chat model you start from does not need it (seed_round: false).
seed_round: true

sft:
  learning_rate: 1.0e-3          # tiny model: 1e-5 is usual at 8B
  epochs: 4                      # tiny model
  batch_size: 2                  # packed rows of max_seq_len tokens
  max_seq_len: 256
  packing: true
  init_from: base                # ReST-EM: every round fine-tunes the base model on all data so far

evaluation:
  path: prompts/heldout.jsonl    # held-out prompts with references: pass@1 and pass@k per round
  n: 4
  k: 4

stopping:
  max_rounds: 3
"""

# Bundled tasks the starter copies (prompts/tasks.jsonl and more of heldout.jsonl): enough checkable prompts for
# the tiny model to learn on in two rounds, in the bundled pool's proportions.
TASKS_PER_DOMAIN = {"math": 24, "code": 8, "general": 8}
HELDOUT_PER_DOMAIN = {"math": 16, "code": 8}


def _first_per_domain(path: Path, wanted: dict[str, int]) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [row for domain, count in wanted.items() for row in [r for r in rows if r["domain"] == domain][:count]]


def write_starter(folder: Path) -> list[Path]:
    """Write round.yaml and prompts/*.jsonl (one training source per chat format, the bundled tasks, one held out)
    under ``folder``; refuse to overwrite a config already there."""
    folder = Path(folder)
    config = folder / "round.yaml"
    if config.exists():
        raise FileExistsError(f"{config} already exists; choose an empty folder (nothing was written)")
    (folder / "prompts").mkdir(parents=True, exist_ok=True)
    written = []
    files = {**PROMPTS, "tasks.jsonl": _first_per_domain(DATA / "tasks" / "train.jsonl", TASKS_PER_DOMAIN)}
    files["heldout.jsonl"] = PROMPTS["heldout.jsonl"] + _first_per_domain(DATA / "tasks" / "heldout.jsonl",
                                                                          HELDOUT_PER_DOMAIN)
    for name, rows in files.items():
        path = folder / "prompts" / name
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        written.append(path)
    config.write_text(CONFIG.format(config=config, model=DATA / "tiny-base", seed=DATA / "tasks" / "seed.jsonl",
                                    reward_model=DATA / "tiny-rm"))
    return [config, *written]
