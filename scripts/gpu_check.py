"""The GPU paths, measured: one command to run when a GPU is lent (scripts/gpu_check.sh installs, then runs this).

    python scripts/gpu_check.py --out gpu_check [--steps shapes,correctness,generation,sft,round] [--quick]

Each step writes ``<out>/<step>.json`` and a line to the console; ``<out>/summary.json`` gathers them with the
date and the device. A step that needs CUDA, or a package the machine lacks, says so and is recorded as
skipped, so the same command runs on a CPU machine as far as it can:

1. ``shapes``: the 1B and 8B Llama shapes and Qwen2.5-0.5B are written (flywheel/shapes.py; full size on CUDA,
   reduced on CPU), their templates render and their end-of-turn ids are the families'.
2. ``correctness``: packed loss equals the separate losses under the attention in use (flash-attn if
   installed, else sdpa), on the 1B shape (bf16 on CUDA, fp32 on CPU); the masks are exact.
3. ``generation`` (CUDA, vLLM): the 1B shape, 256 prompts x N=16: vLLM ``n=N`` against duplicated prompts against
   transformers ``generate``, tokens/s each, and vLLM's prefix-cache hit rate.
4. ``sft`` (CUDA, DeepSpeed): flywheel's own trainer, bf16, packing: the 1B shape at ZeRO-2 and the 8B shape at
   ZeRO-3 with gradient checkpointing, rows of 4096. Tokens/s per GPU, MFU = 6 x parameters x tokens/s / the
   device's dense bf16 peak (989 TFLOP/s for H100 and H200, stated in the JSON), peak GPU memory; the ZeRO-3
   checkpoint is loaded back in transformers and in vLLM.
5. ``round`` (CUDA, vLLM): one flywheel round of the test config with ``device: cuda`` and ``backend: vllm``.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import math
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12}
STEPS = ("shapes", "correctness", "generation", "sft", "round")


class Skipped(Exception):
    """A step this machine cannot run; the message says why."""


def cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def need(*packages: str) -> None:
    missing = [p for p in packages if importlib.util.find_spec(p) is None]
    if missing:
        raise Skipped(f"needs {', '.join(missing)} (scripts/gpu_check.sh installs them: TORCH_SPEC=torch "
                      f"VLLM_SPEC=vllm)")
    if not cuda():
        raise Skipped("needs CUDA (torch.cuda.is_available() is False on this machine)")


def device_name() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"


def shaped_model(work: Path, name: str, *, reduce_on_cpu: bool = True) -> Path:
    from flywheel.shapes import write_shaped_model

    folder = work / name
    if not (folder / "config.json").exists():
        small = reduce_on_cpu and not cuda()
        write_shaped_model(name, folder, layers=2 if small else None, hidden=64 if small else None,
                           dtype="bfloat16" if cuda() else "float32", device="cuda" if cuda() else "cpu")
    return folder


def step_shapes(work: Path, quick: bool) -> dict:
    from transformers import AutoTokenizer

    from flywheel.generation.base import end_of_turn_ids
    from flywheel.shapes import SHAPES

    results = {}
    for name in ("llama-3.2-1b", "qwen2.5-0.5b") if quick else ("llama-3.2-1b", "llama-3.1-8b", "qwen2.5-0.5b"):
        folder = shaped_model(work, name)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        config = json.loads((folder / "config.json").read_text())
        text = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                             add_generation_prompt=True)
        results[name] = {"layers": config["num_hidden_layers"], "hidden": config["hidden_size"],
                         "vocab": config["vocab_size"], "end_of_turn_ids": end_of_turn_ids(tokenizer),
                         "family_eos": tokenizer.convert_tokens_to_ids(SHAPES[name].eos), "prompt": text,
                         "full_size": not (config["num_hidden_layers"] == 2)}
    return results


def _attention() -> str:
    return "flash_attention_2" if cuda() and importlib.util.find_spec("flash_attn") else "sdpa"


def step_correctness(work: Path, quick: bool) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from flywheel.sft.packing import pack_rows, packed_forward_kwargs
    from flywheel.sft.tokenize import IGNORE_INDEX, tokenize_conversation

    folder = shaped_model(work, "llama-3.2-1b")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    dtype = torch.bfloat16 if cuda() else torch.float32
    model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation=_attention(), dtype=dtype)
    model.to("cuda" if cuda() else "cpu").eval()
    conversations = [[{"role": "user", "content": f"Question {i}: what is {i} + {i}?"},
                      {"role": "assistant", "content": f"{i} + {i} = {2 * i}. " * (3 + i)}] for i in range(4)]
    examples = [tokenize_conversation(tokenizer, c) for c in conversations]
    masks_exact = all(tokenizer.decode([t for t, label in zip(e["input_ids"], e["labels"]) if label != IGNORE_INDEX])
                      == conversations[i][1]["content"].strip() + "<|eot_id|>" for i, e in enumerate(examples))
    (row,) = pack_rows(examples, [list(range(len(examples)))])
    device = model.device
    ids, labels, positions = (torch.tensor([row[k]], device=device) for k in ("input_ids", "labels", "position_ids"))
    with torch.no_grad():
        kwargs = {k: v for k, v in packed_forward_kwargs(ids, labels, positions).items() if k != "labels"}
        packed_logits = model(**kwargs).logits.float()
        separate, packed, offset = 0.0, 0.0, 0
        for example in examples:
            n = len(example["input_ids"])
            single = model(input_ids=torch.tensor([example["input_ids"]], device=device), use_cache=False).logits.float()
            target = torch.tensor(example["labels"][1:], device=device)
            separate += torch.nn.functional.cross_entropy(single[0, :-1], target, ignore_index=IGNORE_INDEX,
                                                          reduction="sum").item()
            packed += torch.nn.functional.cross_entropy(packed_logits[0, offset:offset + n - 1], target,
                                                        ignore_index=IGNORE_INDEX, reduction="sum").item()
            offset += n
    relative = abs(packed - separate) / max(1.0, abs(separate))
    tolerance = 2e-2 if dtype == torch.bfloat16 else 1e-4
    return {"attention": _attention(), "dtype": str(dtype), "examples": len(examples), "packed_loss_sum": packed,
            "separate_loss_sum": separate, "relative_difference": relative, "tolerance": tolerance,
            "packed_equals_separate": relative < tolerance, "masks_exact": masks_exact}


def _prompts(tokenizer, count: int) -> list[str]:
    context = " ".join(f"fact{k % 97}" for k in range(150))
    return [tokenizer.apply_chat_template([{"role": "user", "content": f"Context: {context}\n\nTask {i}: add {i} and "
                                            f"{i + 1}."}], tokenize=False, add_generation_prompt=True)
            for i in range(count)]


def step_generation(work: Path, quick: bool) -> dict:
    need("vllm")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from vllm import LLM, SamplingParams

    folder = shaped_model(work, "llama-3.2-1b")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    prompts, n, new_tokens = _prompts(tokenizer, 64 if quick else 256), 16, 128
    results = {"prompts": len(prompts), "n": n, "max_new_tokens": new_tokens}
    llm = LLM(model=str(folder), dtype="bfloat16", enable_prefix_caching=True, gpu_memory_utilization=0.5, seed=0)
    params = SamplingParams(n=n, temperature=0.8, max_tokens=new_tokens, ignore_eos=True, seed=0)
    for label, batch, sampling in (("vllm_n", prompts, params),
                                   ("vllm_duplicated", [p for p in prompts for _ in range(n)],
                                    SamplingParams(n=1, temperature=0.8, max_tokens=new_tokens, ignore_eos=True))):
        started = time.perf_counter()
        outputs = llm.generate(batch, sampling, use_tqdm=False)
        seconds = time.perf_counter() - started
        tokens = sum(len(o.token_ids) for out in outputs for o in out.outputs)
        results[label] = {"seconds": seconds, "tokens": tokens, "tokens_per_second": tokens / seconds}
    metrics = {m.name: getattr(m, "value", None) for m in llm.get_metrics()} if hasattr(llm, "get_metrics") else {}
    queries, hits = metrics.get("vllm:prefix_cache_queries"), metrics.get("vllm:prefix_cache_hits")
    results["prefix_cache_hit_rate"] = hits / queries if queries else None
    del llm
    torch.cuda.empty_cache()
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16).to("cuda").eval()
    tokenizer.padding_side = "left"
    started, tokens = time.perf_counter(), 0
    for start in range(0, len(prompts), 16):
        batch = tokenizer(prompts[start:start + 16], return_tensors="pt", padding=True, add_special_tokens=False).to("cuda")
        with torch.no_grad():
            out = model.generate(**batch, do_sample=True, temperature=0.8, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                 num_return_sequences=n, pad_token_id=tokenizer.pad_token_id)
        tokens += (out.shape[1] - batch["input_ids"].shape[1]) * out.shape[0]
    seconds = time.perf_counter() - started
    results["transformers"] = {"seconds": seconds, "tokens": tokens, "tokens_per_second": tokens / seconds}
    results["ratio_n_vs_duplicated"] = results["vllm_n"]["tokens_per_second"] / results["vllm_duplicated"]["tokens_per_second"]
    results["ratio_vllm_vs_transformers"] = results["vllm_n"]["tokens_per_second"] / results["transformers"]["tokens_per_second"]
    return results


def _sft_data(path: Path, count: int) -> Path:
    from flywheel.records.files import write_parquet_atomic
    from flywheel.records.schema import examples_to_table

    rows = [{"example_id": f"e{i}", "prompt_id": f"p{i}", "domain": "general", "source": f"gpu_check:{i}",
             "mix_source": "gpu_check", "origin_round": 0, "score": 1.0,
             "messages": [{"role": "user", "content": f"Explain step {i} of a long procedure. " * 8},
                          {"role": "assistant", "content": f"Step {i} goes like this: " + "and then it continues " * (
                              60 + i % 90)}]} for i in range(count)]
    write_parquet_atomic(examples_to_table(rows), path)
    return path


def _sft_arm(work: Path, name: str, zero_stage: int, checkpointing: bool, steps: int) -> dict:
    from flywheel.config import SFTConfig
    from flywheel.sft.trainer_process import run_sft

    folder = shaped_model(work, name, reduce_on_cpu=False)
    config = SFTConfig(learning_rate=1e-5, epochs=1, batch_size=1, max_seq_len=4096, packing=True, warmup_ratio=0.0,
                       zero_stage=zero_stage, gradient_checkpointing=checkpointing, max_steps=steps,
                       timeout_seconds=1800)
    data = _sft_data(work / f"{name}-data.parquet", 400)
    result = run_sft(folder, data, work / f"{name}-ckpt", config, work_dir=work / f"{name}-sft", echo=print)
    parameters = sum(math.prod(shape) for shape in _tensor_shapes(folder))
    device = device_name()
    peak = next((v for k, v in PEAK_BF16_FLOPS.items() if k in device), None)
    tokens_per_second = result.stats["tokens_per_second"] / config.num_processes  # the stat counts every process
    return {"zero_stage": zero_stage, "gradient_checkpointing": checkpointing, "row_tokens": 4096, "steps": steps,
            "parameters": parameters, "tokens_per_second_per_gpu": tokens_per_second,
            "mfu": 6 * parameters * tokens_per_second / peak if peak else None,
            "mfu_formula": "6 x parameters x tokens/s / peak dense bf16 FLOP/s", "peak_flops": peak,
            "peak_gpu_memory_gb": result.stats.get("peak_gpu_memory_mb", 0) / 1024,
            "packing_efficiency": result.stats["packing_efficiency"], "checkpoint": str(result.checkpoint)}


def _tensor_shapes(folder: Path):
    """The shape of every tensor in the folder's safetensors files, read from their headers."""
    from safetensors import safe_open

    for file in sorted(folder.glob("*.safetensors")):
        with safe_open(str(file), "pt") as handle:
            for key in handle.keys():
                yield handle.get_slice(key).get_shape()


def step_sft(work: Path, quick: bool) -> dict:
    need("deepspeed")
    results = {"llama-3.2-1b": _sft_arm(work, "llama-3.2-1b", 2, False, 10 if quick else 30)}
    try:
        results["llama-3.1-8b"] = _sft_arm(work, "llama-3.1-8b", 3, True, 5 if quick else 15)
    except Exception as error:  # noqa: BLE001 - an 8B full fine-tune may not fit one GPU: record why, go on
        results["llama-3.1-8b"] = {"error": f"{type(error).__name__}: {error}"[:2000]}
    checkpoint = Path(results["llama-3.1-8b"].get("checkpoint") or results["llama-3.2-1b"]["checkpoint"])
    results["checkpoint_loads"] = _load_back(checkpoint)
    return results


def _load_back(checkpoint: Path) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    loaded = {}
    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.bfloat16)
    loaded["transformers"] = sum(p.numel() for p in model.parameters())
    del model
    if importlib.util.find_spec("vllm"):
        done = subprocess.run([sys.executable, "-c", "import sys; from vllm import LLM, SamplingParams; "
                               "llm = LLM(model=sys.argv[1], dtype='bfloat16', gpu_memory_utilization=0.5); "
                               "print(len(llm.generate(['Hello'], SamplingParams(max_tokens=8))[0].outputs[0].token_ids))",
                               str(checkpoint)], capture_output=True, text=True, timeout=900)
        loaded["vllm"] = done.stdout.strip().splitlines()[-1] if done.returncode == 0 else f"failed: {done.stderr[-500:]}"
    return loaded


def step_round(work: Path, quick: bool) -> dict:
    need("vllm")
    import yaml

    from tests.conftest import small_config_dict

    config = small_config_dict(work / "round")
    config["generation"].update(backend="vllm", device="cuda")
    path = work / "round.yaml"
    path.write_text(yaml.safe_dump(config))
    started = time.perf_counter()
    done = subprocess.run([str(Path(sys.executable).parent / "flywheel"), "demo", "--config", str(path), "--rounds", "1",
                           "--workdir", str(work / "round")], capture_output=True, text=True, timeout=1800)
    return {"exit_code": done.returncode, "seconds": time.perf_counter() - started, "tail": done.stdout[-3000:],
            "stderr_tail": done.stderr[-2000:]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("gpu_check"))
    parser.add_argument("--steps", default=",".join(STEPS))
    parser.add_argument("--quick", action="store_true", help="fewer prompts and steps")
    parser.add_argument("--work", type=Path, default=None, help="where models and checkpoints go (default: a temp dir)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="flywheel-gpu-check-"))
    import torch

    summary = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "device": device_name(), "torch": torch.__version__, "cuda": torch.version.cuda, "steps": {}}
    for step in args.steps.split(","):
        started = time.perf_counter()
        try:
            result = {"status": "ok", **globals()[f"step_{step}"](work, args.quick)}
        except Skipped as reason:
            result = {"status": "skipped", "reason": str(reason)}
        except Exception as error:  # noqa: BLE001 - one failing step is recorded and the rest still run
            result = {"status": "failed", "error": f"{type(error).__name__}: {error}",
                      "traceback": traceback.format_exc()[-4000:]}
        result["seconds"] = round(time.perf_counter() - started, 1)
        (args.out / f"{step}.json").write_text(json.dumps(result, indent=2, default=str))
        summary["steps"][step] = result["status"]
        shown = result.get("reason") or result.get("error") or ""
        print(f"gpu_check {step}: {result['status']} ({result['seconds']} s) {shown}".rstrip(), flush=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    return 0 if all(status != "failed" for status in summary["steps"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
