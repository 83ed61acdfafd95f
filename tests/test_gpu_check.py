"""scripts/gpu_check.sh, the one command for a lent GPU: on this CPU machine it runs what needs no CUDA and says
of every other step that it needs CUDA; on a GPU machine (marked gpu) every step runs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_check(out: Path, work: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), str(out), "--quick", "--work", str(work),
                           *extra], capture_output=True, text=True, timeout=900, env={"INSTALL": "0", "PATH": "/usr/bin:/bin",
                                                                                      "HOME": str(work)})


def test_on_the_cpu_it_runs_what_it_can_and_names_what_needs_cuda(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA machine runs every step (test_every_step_runs_on_a_gpu)")
    done = run_check(tmp_path / "out", tmp_path / "work")
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["device"] == "cpu" and summary["date"]
    assert summary["steps"] == {"shapes": "ok", "correctness": "ok", "generation": "skipped", "sft": "skipped",
                                "round": "skipped"}
    correctness = json.loads((tmp_path / "out" / "correctness.json").read_text())
    assert correctness["packed_equals_separate"] and correctness["masks_exact"] and correctness["attention"] == "sdpa"
    for step in ("generation", "sft", "round"):
        reason = json.loads((tmp_path / "out" / f"{step}.json").read_text())["reason"]
        assert "needs CUDA" in reason or "needs vllm" in reason or "needs deepspeed" in reason
        assert f"gpu_check {step}: skipped" in done.stdout


@pytest.mark.gpu
def test_every_step_runs_on_a_gpu(tmp_path):
    done = run_check(tmp_path / "out", tmp_path / "work")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert set(summary["steps"].values()) == {"ok"}, done.stdout[-3000:]
    generation = json.loads((tmp_path / "out" / "generation.json").read_text())
    assert generation["ratio_n_vs_duplicated"] > 0 and generation["vllm_n"]["tokens_per_second"] > 0
    sft = json.loads((tmp_path / "out" / "sft.json").read_text())
    assert sft["llama-3.2-1b"]["mfu"] and sft["checkpoint_loads"]["transformers"] > 0


def test_make_shaped_model_writes_a_loadable_folder(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_shaped_model.py"), "--shape", "qwen2.5-0.5b",
                           "--out", str(tmp_path / "q"), "--layers", "1", "--hidden", "56", "--dtype", "float32"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    config = json.loads((tmp_path / "q" / "config.json").read_text())
    assert config["num_hidden_layers"] == 1 and config["vocab_size"] == 151936
    assert (tmp_path / "q" / "tokenizer.json").exists() and (tmp_path / "q" / "generation_config.json").exists()
