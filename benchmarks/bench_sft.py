"""SFT throughput on the CPU: flywheel's DeepSpeed engine vs TRL's SFTTrainer, same model, data and budget.

Both train a Llama built from config (hidden 256, 4 layers) on the same conversations
(30-250 tokens, prompt tokens masked), packed into rows of 256 tokens (2 rows per step)
and of 1024 tokens (1 row per step), one epoch, fp32, in separate subprocesses run one
after the other in this run. Each reports training tokens per second (start-up
excluded), packing efficiency (real tokens / row slots) and its own peak RSS. Rows only
a few examples long leave gaps any packer must waste; rows of 1024 are closer to real
SFT (2-4k rows, examples of a few hundred tokens).

    .venv/bin/python benchmarks/bench_sft.py [--examples 600]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = [(256, 2), (1024, 1)]  # (row length, rows per step)
LR = 1e-4


def conversations(n: int) -> list[list[dict]]:
    import random

    rng = random.Random(0)
    out = []
    for i in range(n):
        a, b = rng.randint(1, 99), rng.randint(1, 99)
        reasoning = " ".join(f"Step {k}: {a} + {k} = {a + k}." for k in range(rng.randint(1, 12)))
        out.append([{"role": "user", "content": f"Problem {i}: what is {a} plus {b}? Show your work."},
                    {"role": "assistant", "content": f"{reasoning} So {a} + {b} = {a + b}. The answer is {a + b}."}])
    return out


def make_model(path: Path) -> None:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(ROOT / "flywheel" / "data" / "tiny-base")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=256, intermediate_size=688, num_hidden_layers=4,
                         num_attention_heads=8, num_key_value_heads=8, max_position_embeddings=512,
                         tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)


TRL_SCRIPT = textwrap.dedent('''
    import json, resource, sys, time
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    model_dir, data_file, out_dir, max_len, rows, lr = sys.argv[1:7]
    convs = json.load(open(data_file))
    dataset = Dataset.from_list([{"prompt": c[:-1], "completion": c[-1:]} for c in convs])
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    args = SFTConfig(output_dir=out_dir, max_length=int(max_len), packing=True, per_device_train_batch_size=int(rows),
                     num_train_epochs=1, learning_rate=float(lr), lr_scheduler_type="cosine", warmup_steps=0,
                     logging_steps=1000, save_strategy="no", report_to="none", use_cpu=True, seed=0)
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    packed = trainer.train_dataset
    tokens = sum(len(ids) for ids in packed["input_ids"])
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    print(json.dumps({"tokens_per_second": tokens / seconds, "packing_efficiency": tokens / (len(packed) * int(max_len)),
                      "rows": len(packed), "tokens": tokens,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
''')


def run_flywheel(model: Path, data: list[list[dict]], work: Path, max_len: int, rows_per_step: int) -> dict:
    from flywheel.config import SFTConfig
    from flywheel.records.files import write_parquet_atomic
    from flywheel.records.schema import examples_to_table
    from flywheel.sft.trainer_process import run_sft

    rows = [{"example_id": f"e{i}", "prompt_id": f"p{i}", "domain": "math", "source": f"bench:{i}", "mix_source": "bench",
             "origin_round": 0, "score": 1.0, "messages": c} for i, c in enumerate(data)]
    write_parquet_atomic(examples_to_table(rows), work / "mix.parquet")
    config = SFTConfig(learning_rate=LR, epochs=1, batch_size=rows_per_step, max_seq_len=max_len, packing=True,
                       warmup_ratio=0.0, timeout_seconds=3600)
    result = run_sft(model, work / "mix.parquet", work / f"ckpt{max_len}", config, work_dir=work / f"sft{max_len}",
                     echo=lambda line: None)
    return result.stats


def run_trl(model: Path, data: list[list[dict]], work: Path, max_len: int, rows_per_step: int) -> dict:
    (work / "data.json").write_text(json.dumps(data))
    done = subprocess.run([sys.executable, "-c", TRL_SCRIPT, str(model), str(work / "data.json"), str(work / "trl"),
                           str(max_len), str(rows_per_step), str(LR)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"TRL run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=600)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        make_model(work / "model")
        data = conversations(args.examples)
        print(f"{args.examples} conversations, 1 epoch, CPU fp32, prompt tokens masked")
        for max_len, rows_per_step in SETTINGS:
            ours = run_flywheel(work / "model", data, work, max_len, rows_per_step)
            trl = run_trl(work / "model", data, work, max_len, rows_per_step)
            print(f"rows of {max_len} tokens, {rows_per_step} per step:")
            for name, r in (("flywheel (DeepSpeed, BFD packing)", ours), ("TRL SFTTrainer (packing=True)", trl)):
                print(f"  {name:<36} {r['tokens_per_second']:8.0f} tokens/s   packing efficiency "
                      f"{r['packing_efficiency']:.3f}   peak RSS {r['peak_rss_mb']:.0f} MB")
            print(f"  throughput ratio flywheel / TRL: {ours['tokens_per_second'] / trl['tokens_per_second']:.2f}x")

if __name__ == "__main__":
    main()
