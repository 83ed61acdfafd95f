"""DPO throughput on the CPU: flywheel's DPO objective on its DeepSpeed engine vs TRL's DPOTrainer, same model,
pairs and budget, one after the other in this run.

Both train a Llama built from config (hidden 256, 4 layers, as benchmarks/bench_sft.py) for one epoch on the same
preference pairs (a worked sum over a wrong one), batches of 4 pairs, beta 0.1 with an NLL term of 0.2 on the
chosen responses (TRL: loss_type ["sigmoid", "sft"], weights [1, 0.2]), fp32, and both score the reference once
before training (TRL: precompute_ref_log_probs, in its constructor). Each reports its tokens per second (chosen and
rejected rows' real tokens) over its training loop: start-up, tokenizing and the reference pass are excluded from
both.

    .venv/bin/python benchmarks/bench_dpo.py [--pairs 200]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_sft import make_model  # noqa: E402 - the same model as the SFT benchmark

LR, BATCH = 1e-4, 4

TRL_SCRIPT = textwrap.dedent('''
    import json, sys, time
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    model_dir, data_file, out_dir, batch, lr = sys.argv[1:6]
    rows = json.load(open(data_file))
    dataset = Dataset.from_list([{"chosen": [*r["prompt"], {"role": "assistant", "content": r["chosen"]}],
                                  "rejected": [*r["prompt"], {"role": "assistant", "content": r["rejected"]}]}
                                 for r in rows])
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    args = DPOConfig(output_dir=out_dir, per_device_train_batch_size=int(batch), num_train_epochs=1,
                     learning_rate=float(lr), beta=0.1, loss_type=["sigmoid", "sft"], loss_weights=[1.0, 0.2],
                     precompute_ref_log_probs=True, lr_scheduler_type="cosine", warmup_steps=0, logging_steps=1000,
                     save_strategy="no", report_to="none", use_cpu=True, seed=0)
    trainer = DPOTrainer(model=AutoModelForCausalLM.from_pretrained(model_dir),
                         ref_model=AutoModelForCausalLM.from_pretrained(model_dir), args=args,
                         train_dataset=dataset, processing_class=tokenizer)
    started = time.perf_counter()  # the reference pass ran in the constructor
    trainer.train()
    seconds = time.perf_counter() - started
    tokens = trainer._total_train_tokens
    print(json.dumps({"tokens": tokens, "tokens_per_second": tokens / seconds}))
''')


def pairs(n: int) -> list[dict]:
    rng = random.Random(0)
    out = []
    for i in range(n):
        a, b = rng.randint(1, 99), rng.randint(1, 99)
        steps = " ".join(f"Step {k}: {a} + {k} = {a + k}." for k in range(rng.randint(1, 8)))
        out.append({"pair_id": f"p{i}", "prompt_id": f"q{i}", "domain": "math", "source": f"bench:{i}",
                    "origin_round": 1, "prompt": [{"role": "user", "content": f"Problem {i}: what is {a} plus {b}?"}],
                    "chosen": f"{steps} So {a} + {b} = {a + b}. The answer is {a + b}.",
                    "rejected": f"{steps} So the answer is {a + b + rng.randint(1, 9)}.", "chosen_index": 0,
                    "rejected_index": 1, "chosen_score": 1.0, "rejected_score": 0.0, "margin": 1.0,
                    "chosen_tokens": 0, "rejected_tokens": 0})
    return out


def run_flywheel(model: Path, data: list[dict], work: Path) -> dict:
    import pyarrow as pa

    from flywheel.config import SFTConfig
    from flywheel.records.files import write_parquet_atomic
    from flywheel.records.schema import PAIR_SCHEMA
    from flywheel.sft.trainer_process import run_sft

    write_parquet_atomic(pa.Table.from_pylist(data, schema=PAIR_SCHEMA), work / "pairs.parquet")
    config = SFTConfig(learning_rate=LR, epochs=1, batch_size=BATCH, max_seq_len=512, packing=False,
                       warmup_ratio=0.0, timeout_seconds=3600)
    result = run_sft(model, work / "pairs.parquet", work / "dpo_ckpt", config, work_dir=work / "dpo",
                     echo=lambda line: None, objective="dpo", beta=0.1, nll_weight=0.2)
    return {"tokens": sum(step["tokens"] for step in result.steps),
            "tokens_per_second": result.stats["tokens_per_second"]}


def run_trl(model: Path, data: list[dict], work: Path) -> dict:
    (work / "pairs.json").write_text(json.dumps(data))
    done = subprocess.run([sys.executable, "-c", TRL_SCRIPT, str(model), str(work / "pairs.json"), str(work / "trl"),
                           str(BATCH), str(LR)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"TRL run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        make_model(work / "model")
        data = pairs(args.pairs)
        print(f"{args.pairs} pairs, {BATCH} per step, 1 epoch, CPU fp32, beta 0.1 + 0.2 NLL on chosen")
        started = time.perf_counter()
        ours = run_flywheel(work / "model", data, work)
        print(f"  flywheel (DeepSpeed engine)     {ours['tokens_per_second']:8.0f} tokens/s over its training loop "
              f"({ours['tokens']} tokens; run with start-up {time.perf_counter() - started:.0f} s)")
        trl = run_trl(work / "model", data, work)
        print(f"  TRL DPOTrainer                  {trl['tokens_per_second']:8.0f} tokens/s over its training loop "
              f"({trl['tokens']} tokens)")
        print(f"  throughput ratio flywheel / TRL: {ours['tokens_per_second'] / trl['tokens_per_second']:.2f}x")


if __name__ == "__main__":
    main()
