"""The SFT recipe, run as its own process: ``python -m flywheel.sft.train SPEC.json``.

A flat recipe in the torchtune spirit: tokenise with exact loss masks, pack (or pad),
build the DeepSpeed engine, loop, checkpoint for resume, save a Hugging Face folder.
One process or several (torchrun sets RANK and friends); every rank walks the same
seeded order and takes its share. Rank 0 writes per-step metrics as JSON lines.

Resume: every ``checkpoint_every_steps`` optimizer steps (or, when it is 0, at each epoch's
end) DeepSpeed saves model, optimizer, scheduler and the micro-step reached; with
``keep_checkpoints: K`` only the newest K stay on disk. A rerun with the same spec and data
finds the latest and continues from there instead of starting over.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import resource
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from flywheel.records.batches import iter_rows
from flywheel.sft.spec import TrainingSpec
from flywheel.process_tree import die_with_parent

INTERRUPT_ENV = "FLYWHEEL_SFT_INTERRUPT_AFTER_STEP"  # simulates preemption in tests: exit after that step's save
INTERRUPTED_EXIT = 75


class BadExample(ValueError):
    pass


def tokenize_examples(tokenizer, rows: Iterable[dict], spec: TrainingSpec) -> tuple[list[dict], dict]:
    """Token ids and labels per conversation (any iterable of rows: the mixture is read a batch at a time, so only
    the token ids of the whole set are held)."""
    from flywheel.sft.tokenize import IGNORE_INDEX, NoAssistantTurn, tokenize_conversation

    max_len = spec.max_seq_len
    kept, stats = [], {"examples": 0, "truncated": 0, "dropped_overlong": 0, "no_labels": 0}
    for row in rows:
        stats["examples"] += 1
        try:
            encoded = tokenize_conversation(tokenizer, row["messages"], last_turn_only=spec.last_turn_only)
        except NoAssistantTurn:
            raise BadExample(f"{row.get('source', '?')}: conversation {row.get('example_id', '?')} has no assistant "
                             f"turn to train on") from None
        if len(encoded["input_ids"]) > max_len:
            if spec.overlong == "drop":
                stats["dropped_overlong"] += 1
                continue
            stats["truncated"] += 1
            encoded = {key: value[:max_len] for key, value in encoded.items()}
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


def _share(order: list[int], rank: int, world: int) -> list[int]:
    """This rank's share; every rank gets the same count (the remainder is dropped, like drop_last),
    or the ranks would disagree on the number of steps and DeepSpeed's collectives would hang."""
    usable = len(order) - len(order) % world if len(order) >= world else len(order)
    return order[:usable][rank::world]


def micro_batches(examples: list[dict], spec: TrainingSpec, epoch: int, rank: int, world: int, pad_id: int):
    """This rank's micro-batches for one epoch, as (forward kwargs, real tokens, slots)."""
    import torch

    from flywheel.sft.packing import best_fit_decreasing, collate_packed, pack_rows, packed_forward_kwargs

    generator = torch.Generator().manual_seed(spec.seed * 1000 + epoch)
    size = spec.batch_size
    if spec.packing:
        rows = pack_rows(examples, best_fit_decreasing([len(e["input_ids"]) for e in examples], spec.max_seq_len))
        order = _share(torch.randperm(len(rows), generator=generator).tolist(), rank, world)
        for start in range(0, len(order), size):
            chosen = [rows[i] for i in order[start : start + size]]
            tokens = sum(len(r["input_ids"]) for r in chosen)
            yield packed_forward_kwargs(*collate_packed(chosen, pad_id)), tokens, len(chosen) * spec.max_seq_len
        return
    order = _share(torch.randperm(len(examples), generator=generator).tolist(), rank, world)
    for start in range(0, len(order), size):
        ids, labels, mask = pad_batch([examples[i] for i in order[start : start + size]], pad_id)
        yield {"input_ids": ids, "labels": labels, "attention_mask": mask, "use_cache": False}, int(mask.sum()), mask.numel()


def tokenize_pairs(tokenizer, rows: Iterable[dict], spec: TrainingSpec) -> tuple[list[dict], dict]:
    """Each pair's chosen and rejected conversations with Llama 3.1's DPO masks (flywheel.sft.dpo); a pair whose
    truncation leaves either response nothing to score is dropped and counted."""
    from flywheel.sft.dpo import preference_mask

    kept, stats = [], {"pairs": 0, "truncated": 0, "no_labels": 0}
    for row in rows:
        stats["pairs"] += 1
        sides = {}
        for side in ("chosen", "rejected"):
            ids, mask = preference_mask(tokenizer, [*row["prompt"], {"role": "assistant", "content": row[side]}])
            if len(ids) > spec.max_seq_len:
                stats["truncated"] += 1
                ids, mask = ids[:spec.max_seq_len], mask[:spec.max_seq_len]
            sides[side] = (ids, mask)
        if not all(any(mask) for _, mask in sides.values()):
            stats["no_labels"] += 1
            continue
        kept.append({"chosen": sides["chosen"], "rejected": sides["rejected"]})
    return kept, stats


def pair_batches(pairs: list[dict], spec: TrainingSpec, epoch: int, rank: int, world: int, pad_id: int):
    """This rank's micro-batches of pairs for one epoch, as (forward kwargs, loss mask, pair indices, tokens,
    slots): the chosen conversations first, the rejected ones after, padded to one width."""
    import torch

    generator = torch.Generator().manual_seed(spec.seed * 1000 + epoch)
    order = _share(torch.randperm(len(pairs), generator=generator).tolist(), rank, world)
    for start in range(0, len(order), spec.batch_size):
        chosen = order[start:start + spec.batch_size]
        rows = [pairs[i]["chosen"] for i in chosen] + [pairs[i]["rejected"] for i in chosen]
        width = max(len(ids) for ids, _ in rows)
        ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for row, (token_ids, loss_mask) in enumerate(rows):
            ids[row, :len(token_ids)] = torch.tensor(token_ids)
            attention[row, :len(token_ids)] = 1
            mask[row, :len(token_ids)] = torch.tensor(loss_mask)
        yield ({"input_ids": ids, "attention_mask": attention, "use_cache": False}, mask, torch.tensor(chosen),
               int(attention.sum()), attention.numel())


def pair_reference_logps(model, pairs: list[dict], spec: TrainingSpec, pad_id: int):
    """Every pair's reference log-probs (chosen, rejected), from the model training starts from, before any step:
    computed once per run, so a resumed run scores against the same reference."""
    import torch

    from flywheel.sft.dpo import reference_logps

    reference = torch.zeros((len(pairs), 2))
    was_training = model.training
    model.eval()
    for kwargs, mask, indices, _, _ in pair_batches(pairs, spec, 0, 0, 1, pad_id):  # every pair, in any order
        logps = reference_logps(model, kwargs["input_ids"], kwargs["attention_mask"], mask)
        reference[indices, 0], reference[indices, 1] = logps.chunk(2)
    model.train(was_training)
    return reference


def add_neftune(model, alpha: float) -> None:
    """NEFTune: uniform noise on the input embeddings while training, scaled by alpha / sqrt(length * dim)."""
    import torch

    def hook(module, inputs, output):
        if module.training:
            scale = alpha / math.sqrt(output.shape[-2] * output.shape[-1])
            output = output + torch.empty_like(output).uniform_(-scale, scale)
        return output

    model.get_input_embeddings().register_forward_hook(hook)


def fingerprint(spec: TrainingSpec) -> str:
    """What must match for a checkpoint to be resumed: the spec (minus paths that move) and the data."""
    digest = hashlib.sha256(json.dumps(spec.stable_fields(), sort_keys=True).encode())
    digest.update(spec.data.read_bytes())
    return digest.hexdigest()[:16]


def deepspeed_config(spec: TrainingSpec, on_gpu: bool) -> dict:
    return {
        "train_micro_batch_size_per_gpu": spec.batch_size,
        "gradient_accumulation_steps": spec.gradient_accumulation_steps,
        "gradient_clipping": spec.max_grad_norm,
        "zero_optimization": {"stage": spec.zero_stage},
        # Our optimizer is torch's AdamW: DeepSpeed's fused/CPU Adam would JIT-compile ops on first use.
        "zero_allow_untested_optimizer": True,
        "bf16": {"enabled": on_gpu},
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }


def save_hf_checkpoint(engine, tokenizer, out: Path, spec: TrainingSpec, stop_ids: list[int]) -> None:
    from transformers import GenerationConfig

    state = engine._zero3_consolidated_16bit_state_dict() if spec.zero_stage == 3 else None
    if engine.global_rank != 0:
        return
    model = engine.module
    if spec.lora:
        model = model.merge_and_unload()  # the next round's generator loads a plain checkpoint
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, state_dict=state, safe_serialization=True)
    tokenizer.save_pretrained(out)
    GenerationConfig(eos_token_id=stop_ids, pad_token_id=tokenizer.pad_token_id,
                     bos_token_id=tokenizer.bos_token_id).save_pretrained(out)


def truncate_step_log(path: Path, restored_step: int) -> None:
    """Keep the step records up to the checkpoint a resume restored: later steps are trained again."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= restored_step:
                kept.append(line)
        except (ValueError, KeyError, TypeError):
            break  # a torn last line from a kill: nothing after it is trusted
    from flywheel.records.files import write_text_atomic

    write_text_atomic(path, "".join(line + "\n" for line in kept))


def main(spec_path: str) -> None:
    import deepspeed
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, get_cosine_schedule_with_warmup

    from flywheel.generation import end_of_turn_ids
    from flywheel.sft.comm_op import init_distributed

    die_with_parent()
    spec = TrainingSpec.model_validate_json(Path(spec_path).read_text())
    torch.manual_seed(spec.seed)
    on_gpu = torch.cuda.is_available()
    init_distributed("nccl" if on_gpu else "gloo")  # flywheel.sft.comm_op: a killed op build never hangs this
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))

    tokenizer = AutoTokenizer.from_pretrained(spec.init_checkpoint)
    dpo = spec.objective == "dpo"
    try:
        tokenize = tokenize_pairs if dpo else tokenize_examples
        examples, stats = tokenize(tokenizer, iter_rows(spec.data), spec)
    except BadExample as error:
        raise SystemExit(f"bad training example: {error}") from None
    if not examples:
        raise SystemExit(f"{spec.data}: no trainable {'pairs' if dpo else 'examples'} ({stats})")
    model = AutoModelForCausalLM.from_pretrained(spec.init_checkpoint, dtype=torch.float32)
    # DPO's reference is the model training starts from (the round's SFT checkpoint), scored before any step.
    reference = pair_reference_logps(model, examples, spec, tokenizer.pad_token_id) if dpo else None

    def batches(epoch: int):
        if dpo:
            yield from pair_batches(examples, spec, epoch, rank, world, tokenizer.pad_token_id)
            return
        for kwargs, tokens, slots in micro_batches(examples, spec, epoch, rank, world, tokenizer.pad_token_id):
            yield kwargs, None, None, tokens, slots
    if spec.lora:
        from peft import LoraConfig, get_peft_model

        lora = spec.lora
        model = get_peft_model(model, LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                                 target_modules=list(lora.target_modules), task_type="CAUSAL_LM"))
    if spec.neftune_alpha:
        add_neftune(model, spec.neftune_alpha)
    if spec.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False

    per_epoch = sum(1 for _ in batches(0))
    steps_per_epoch = math.ceil(per_epoch / spec.gradient_accumulation_steps)
    total_steps = spec.max_steps or steps_per_epoch * spec.epochs
    epochs = math.ceil(total_steps / steps_per_epoch) if spec.max_steps else spec.epochs
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=spec.learning_rate, weight_decay=spec.weight_decay)
    schedule = get_cosine_schedule_with_warmup(optimizer, int(spec.warmup_ratio * total_steps), total_steps)
    engine, _, _, _ = deepspeed.initialize(model=model, optimizer=optimizer, lr_scheduler=schedule,
                                           config=deepspeed_config(spec, on_gpu))

    checkpoints, done_micro = spec.checkpoint_dir, 0
    key = fingerprint(spec)
    if (checkpoints / "latest").exists() and (checkpoints / "fingerprint").read_text() == key:
        _, client_state = engine.load_checkpoint(str(checkpoints))
        done_micro = client_state["micro_step"]
        if rank == 0:
            print(f"resuming from DeepSpeed checkpoint at micro-step {done_micro} (step {engine.global_steps})", flush=True)
    elif rank == 0:
        checkpoints.mkdir(parents=True, exist_ok=True)
        (checkpoints / "fingerprint").write_text(key)
    every = spec.checkpoint_every_steps or math.ceil(per_epoch / spec.gradient_accumulation_steps)
    interrupt_after = int(os.environ.get(INTERRUPT_ENV, "0"))

    if rank == 0 and done_micro:
        truncate_step_log(spec.metrics, engine.global_steps)
    metrics = spec.metrics.open("a" if done_micro else "w") if rank == 0 else None
    micro, started, tokens_total, slots_total, train_started = 0, time.perf_counter(), 0, 0, time.perf_counter()
    window = {"tokens": 0, "loss": 0.0, "micro": 0, "reward_margin": 0.0, "pair_accuracy": 0.0}
    for epoch in range(epochs):
        if engine.global_steps >= total_steps:
            break
        for kwargs, loss_mask, indices, tokens, slots in batches(epoch):
            if engine.global_steps >= total_steps:
                break
            micro += 1
            if micro <= done_micro:
                continue  # already trained before the interruption
            kwargs = {k: v.to(engine.device) if hasattr(v, "to") else v for k, v in kwargs.items()}
            if dpo:
                from flywheel.sft.dpo import preference_objective

                pair_reference = reference[indices]
                objective = preference_objective(
                    engine(**kwargs).logits, kwargs["input_ids"], loss_mask.to(engine.device),
                    torch.cat([pair_reference[:, 0], pair_reference[:, 1]]).to(engine.device), beta=spec.beta,
                    nll_weight=spec.nll_weight)
                loss = objective["loss"]
                window["reward_margin"] += float(objective["reward_margin"])
                window["pair_accuracy"] += float(objective["pair_accuracy"])
            else:
                loss = engine(**kwargs).loss
            engine.backward(loss)
            engine.step()
            window["tokens"] += tokens * world
            window["loss"] += float(loss)
            window["micro"] += 1
            tokens_total, slots_total = tokens_total + tokens, slots_total + slots
            if not engine.is_gradient_accumulation_boundary() and micro % per_epoch:
                continue
            elapsed = time.perf_counter() - started
            record = {"step": engine.global_steps, "epoch": epoch, "loss": window["loss"] / window["micro"],
                      "learning_rate": schedule.get_last_lr()[0], "tokens": window["tokens"],
                      "tokens_per_second": window["tokens"] / max(elapsed, 1e-9), "total_steps": total_steps}
            if dpo:
                record.update({key: window[key] / window["micro"] for key in ("reward_margin", "pair_accuracy")})
            if metrics:
                metrics.write(json.dumps(record) + "\n")
                metrics.flush()
                shown = f" margin {record['reward_margin']:.4f} acc {record['pair_accuracy']:.2f}" if dpo else ""
                print(f"step {record['step']}/{total_steps} loss {record['loss']:.4f}{shown} "
                      f"lr {record['learning_rate']:.2e} {record['tokens_per_second']:.0f} tok/s", flush=True)
            window = {"tokens": 0, "loss": 0.0, "micro": 0, "reward_margin": 0.0, "pair_accuracy": 0.0}
            started = time.perf_counter()
            epoch_end = micro % per_epoch == 0 and not spec.checkpoint_every_steps
            if engine.global_steps % every == 0 or epoch_end:
                engine.save_checkpoint(str(checkpoints), client_state={"micro_step": micro})
                if spec.keep_checkpoints and int(os.environ.get("LOCAL_RANK", "0")) == 0:
                    prune_checkpoints(checkpoints, spec.keep_checkpoints)
            if interrupt_after and engine.global_steps >= interrupt_after:
                raise SystemExit(INTERRUPTED_EXIT)

    save_hf_checkpoint(engine, tokenizer, spec.output, spec, end_of_turn_ids(tokenizer))
    if metrics:
        metrics.close()
        stats.update(packing=bool(spec.packing),
                     packing_efficiency=tokens_total / max(1, slots_total),
                     tokens_per_second=tokens_total * world / max(1e-9, time.perf_counter() - train_started),
                     peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                     gradient_checkpointing=bool(getattr(model, "is_gradient_checkpointing", False)),
                     peak_gpu_memory_mb=torch.cuda.max_memory_allocated() / 2**20 if on_gpu else 0.0)
        (spec.output / "sft_stats.json").write_text(json.dumps(stats))
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def prune_checkpoints(folder: Path, keep: int) -> list[Path]:
    """Remove all but the newest ``keep`` DeepSpeed ``global_step<N>`` folders (never the one ``latest``
    names); the removed ones are returned. One process per node does this, after the save returned."""
    import shutil

    latest = (folder / "latest").read_text().strip() if (folder / "latest").exists() else None
    steps = sorted((p for p in folder.glob("global_step*") if p.is_dir() and p.name[11:].isdigit()),
                   key=lambda p: int(p.name[11:]))
    removed = [p for p in steps[:-keep] if p.name != latest]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


if __name__ == "__main__":
    main(sys.argv[1])
