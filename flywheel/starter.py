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
# Every field and its default: flywheel/config.py (each has a description).
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

verifiers:                       # `flywheel verifiers` lists what is installed
  math: [math]                   # final answer against `reference`, with sympy
  code: [unit_tests]             # `reference` is Python tests, run in the sandbox
  general: []                    # e.g. [reward_model, llm_judge] with combine: {{general: any_of}}
  required: [math]               # a required verifier that fails stops the round

selection:
  k: 2                           # samples kept per prompt

decontamination:
  eval_sets:                     # training rows overlapping these by 8-grams are dropped, with a report
    - name: heldout
      path: prompts/heldout.jsonl

mixture:
  sources:
    - {{name: selected, kind: selected}}            # this round's accepted samples
    - {{name: pool, kind: pool}}                    # the best of earlier rounds
    - {{name: seed, kind: file, path: {seed}, weight: 0.25}}

sft:
  learning_rate: 1.0e-3          # a tiny model; 1e-5 is usual at 8B
  epochs: 1
  batch_size: 8
  max_seq_len: 128

evaluation:
  path: prompts/heldout.jsonl    # held-out prompts with references: pass@1 and pass@k per round
  n: 2
  k: 2

stopping:
  max_rounds: 3
"""


def write_starter(folder: Path) -> list[Path]:
    """Write round.yaml and prompts/*.jsonl (three training sources, one held out) under ``folder``; refuse to overwrite a config already there."""
    folder = Path(folder)
    config = folder / "round.yaml"
    if config.exists():
        raise FileExistsError(f"{config} already exists; choose an empty folder (nothing was written)")
    (folder / "prompts").mkdir(parents=True, exist_ok=True)
    written = []
    for name, rows in PROMPTS.items():
        path = folder / "prompts" / name
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        written.append(path)
    config.write_text(CONFIG.format(config=config, model=DATA / "tiny-base", seed=DATA / "tasks" / "seed.jsonl"))
    return [config, *written]
