"""Shared fixtures: the bundled data, a small round config, and a tiny random model built from config."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from flywheel.config import PACKAGE_DIR, load_config

DATA = PACKAGE_DIR / "data"
TASKS = DATA / "tasks"
TINY_BASE = DATA / "tiny-base"


def gpu_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def pytest_collection_modifyitems(config, items):
    if gpu_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def small_config_dict(workdir: Path, base: Path = TINY_BASE) -> dict:
    """A round small enough for CI: few prompts, short samples, one epoch."""
    return {
        "workdir": str(workdir),
        "model": {"base": str(base)},
        "generation": {"n": 2, "max_new_tokens": 24, "batch_size": 16, "device": "cpu", "temperature": 1.0},
        "prompts": {"sources": [{"path": str(TASKS / "train.jsonl")}], "max_prompts": 24},
        "verifiers": {"math": ["math"], "code": ["unit_tests"], "general": [], "required": ["math"]},
        "selection": {"k": 2},
        "decontamination": {"eval_sets": [{"name": "heldout", "path": str(TASKS / "heldout.jsonl")}]},
        "mixture": {"sources": [{"name": "selected", "kind": "selected"}, {"name": "pool", "kind": "pool"},
                                {"name": "seed", "kind": "file", "path": str(TASKS / "seed.jsonl"), "weight": 0.25}]},
        "sft": {"learning_rate": 1e-3, "epochs": 1, "batch_size": 8, "max_seq_len": 128, "timeout_seconds": 300},
        "evaluation": {"path": str(TASKS / "heldout.jsonl"), "max_prompts": 8, "max_new_tokens": 24, "n": 2, "k": 2,
                       "temperature": 0.8, "train_prompts": 4},
        # The tiny base model never ends a turn, so these rounds accept nothing: let them go on anyway.
        "stopping": {"max_rounds": 3, "stop_on_zero_yield": False},
    }


@pytest.fixture
def small_config_path(tmp_path: Path) -> Path:
    path = tmp_path / "round.yaml"
    path.write_text(yaml.safe_dump(small_config_dict(tmp_path / "work")))
    return path


@pytest.fixture
def small_config(small_config_path: Path):
    return load_config(small_config_path)


@pytest.fixture(scope="session")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(TINY_BASE)


@pytest.fixture(scope="session")
def random_tiny_model_dir(tmp_path_factory, tokenizer) -> Path:
    """A randomly initialised tiny Llama with the bundled tokenizer, built from config."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                         tie_word_embeddings=True)
    out = tmp_path_factory.mktemp("random-tiny")
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def processes_matching(predicate) -> list[str]:
    """"pid: command line" of every running process whose command line satisfies ``predicate``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if predicate(command):
                found.append(f"{entry.name}: {command[:120]}")
    return found
