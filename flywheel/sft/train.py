"""The SFT recipe, run as its own process: ``python -m flywheel.sft.train SPEC.json``.

A flat recipe in the torchtune spirit: load, tokenise, build the DeepSpeed engine, loop,
save. One process or several (torchrun / the deepspeed launcher set RANK and friends).
Rank 0 writes per-step metrics as JSON lines and the final Hugging Face checkpoint.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path


def cosine_with_warmup(warmup_steps: int, total_steps: int):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def tokenize_examples(tokenizer, rows: list[dict], max_seq_len: int) -> tuple[list[dict], dict]:
    from flywheel.sft.tokenize import IGNORE_INDEX, tokenize_conversation

    kept, stats = [], {"examples": len(rows), "truncated": 0, "no_labels": 0}
    for row in rows:
        encoded = tokenize_conversation(tokenizer, row["messages"])
        if len(encoded["input_ids"]) > max_seq_len:
            stats["truncated"] += 1
            encoded = {key: value[:max_seq_len] for key, value in encoded.items()}
        if all(label == IGNORE_INDEX for label in encoded["labels"]):
            stats["no_labels"] += 1  # truncation cut every answer token: nothing to learn
            continue
        kept.append(encoded)
    return kept, stats


def pad_batch(examples: list[dict], pad_id: int):
    import torch

    from flywheel.sft.tokenize import IGNORE_INDEX

    width = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, example in enumerate(examples):
        n = len(example["input_ids"])
        ids[row, :n] = torch.tensor(example["input_ids"])
        labels[row, :n] = torch.tensor(example["labels"])
        mask[row, :n] = 1
    return ids, labels, mask


def deepspeed_config(spec: dict, on_gpu: bool) -> dict:
    return {
        "train_micro_batch_size_per_gpu": spec["batch_size"],
        "gradient_accumulation_steps": spec["gradient_accumulation_steps"],
        "gradient_clipping": spec["max_grad_norm"],
        "zero_optimization": {"stage": spec["zero_stage"]},
        # Our optimizer is torch's AdamW: DeepSpeed's fused/CPU Adam would JIT-compile ops on first use.
        "zero_allow_untested_optimizer": True,
        "bf16": {"enabled": on_gpu},
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }


def save_hf_checkpoint(engine, model, tokenizer, out: Path, zero_stage: int, stop_ids: list[int]) -> None:
    from transformers import GenerationConfig

    state = engine._zero3_consolidated_16bit_state_dict() if zero_stage == 3 else None
    if engine.global_rank != 0:
        return
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, state_dict=state, safe_serialization=True)
    tokenizer.save_pretrained(out)
    GenerationConfig(eos_token_id=stop_ids, pad_token_id=tokenizer.pad_token_id,
                     bos_token_id=tokenizer.bos_token_id).save_pretrained(out)


def main(spec_path: str) -> None:
    import deepspeed
    import pyarrow.parquet as pq
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from flywheel.generate import end_of_turn_ids

    spec = json.loads(Path(spec_path).read_text())
    torch.manual_seed(spec["seed"])
    on_gpu = torch.cuda.is_available()
    deepspeed.init_distributed(dist_backend="nccl" if on_gpu else "gloo")
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))

    tokenizer = AutoTokenizer.from_pretrained(spec["init_checkpoint"])
    model = AutoModelForCausalLM.from_pretrained(spec["init_checkpoint"], dtype=torch.float32)
    rows = pq.read_table(spec["data"]).to_pylist()
    examples, stats = tokenize_examples(tokenizer, rows, spec["max_seq_len"])
    if not examples:
        raise SystemExit(f"{spec['data']}: no trainable examples ({stats})")

    steps_per_epoch = math.ceil(len(examples) / (spec["batch_size"] * world * spec["gradient_accumulation_steps"]))
    total_steps = steps_per_epoch * spec["epochs"]
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec["learning_rate"], weight_decay=spec["weight_decay"])
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, cosine_with_warmup(int(spec["warmup_ratio"] * total_steps), total_steps))
    engine, _, _, _ = deepspeed.initialize(model=model, optimizer=optimizer, lr_scheduler=schedule,
                                           config=deepspeed_config(spec, on_gpu))

    metrics = Path(spec["metrics"]).open("w") if rank == 0 else None
    generator = torch.Generator().manual_seed(spec["seed"])
    micro_step, started = 0, time.perf_counter()
    window_tokens, window_loss, window_micro = 0, 0.0, 0
    for epoch in range(spec["epochs"]):
        order = torch.randperm(len(examples), generator=generator).tolist()
        mine = order[rank::world]  # the same permutation on every rank, each takes its share
        for start in range(0, len(mine), spec["batch_size"]):
            ids, labels, mask = pad_batch([examples[i] for i in mine[start : start + spec["batch_size"]]],
                                          tokenizer.pad_token_id)
            ids, labels, mask = ids.to(engine.device), labels.to(engine.device), mask.to(engine.device)
            loss = engine(input_ids=ids, attention_mask=mask, labels=labels, use_cache=False).loss
            engine.backward(loss)
            engine.step()
            micro_step += 1
            window_tokens += int(mask.sum()) * world
            window_loss += float(loss)
            window_micro += 1
            if engine.is_gradient_accumulation_boundary() or start + spec["batch_size"] >= len(mine):
                elapsed = time.perf_counter() - started
                record = {"step": engine.global_steps, "epoch": epoch, "loss": window_loss / window_micro,
                          "learning_rate": schedule.get_last_lr()[0], "tokens": window_tokens,
                          "tokens_per_second": window_tokens / max(elapsed, 1e-9), "total_steps": total_steps}
                if metrics:
                    metrics.write(json.dumps(record) + "\n")
                    metrics.flush()
                    print(f"step {record['step']}/{total_steps} loss {record['loss']:.4f} "
                          f"lr {record['learning_rate']:.2e} {record['tokens_per_second']:.0f} tok/s", flush=True)
                window_tokens, window_loss, window_micro, started = 0, 0.0, 0, time.perf_counter()

    save_hf_checkpoint(engine, engine.module, tokenizer, Path(spec["output"]), spec["zero_stage"],
                       end_of_turn_ids(tokenizer))
    if metrics:
        metrics.close()
        Path(spec["output"], "sft_stats.json").write_text(json.dumps(stats))
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
