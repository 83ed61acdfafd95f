"""Shared fixtures: the bundled data, a small round config, and a tiny random model built from config."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def _share_the_cores() -> None:
    """Each xdist worker computes on its share of the cores, and so does everything it starts (inherited).

    With ``-n 2`` on 2 cores, two workers whose torch, DeepSpeed and vLLM each ran one OpenMP thread per core
    spin-waited on each other: a small training loop took 11.5 s per process side by side against 1.1 s with
    one thread each (measured here). The user's own OMP_NUM_THREADS wins; vLLM's CPU engine otherwise pins
    its threads to every core itself, so it is told not to bind."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers < 2 or "OMP_NUM_THREADS" in os.environ:
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")
    if "torch" in sys.modules:  # imported before this conftest: it read the variable already
        sys.modules["torch"].set_num_threads(threads)


_share_the_cores()  # before anything imports torch

import pytest  # noqa: E402
import yaml  # noqa: E402

from flywheel.config import PACKAGE_DIR, load_config  # noqa: E402
from flywheel.store.comparison import TIMING_COLUMNS, table_rows  # noqa: E402,F401 - the tests compare runs with these

# nothing left running, SIGTERM ends every child, slow tests marked, the slow set's budget
pytest_plugins = ["tests.session_checks"]

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
        "mixture": {"sources": [{"name": "new", "kind": "pool_this_round"},
                                {"name": "earlier", "kind": "pool_earlier_rounds"},
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


def mixed_prompts(folder: Path) -> Path:
    """12 math and 12 code prompts of the bundled pool, so the math worker and the sandbox both judge."""
    import json

    rows = [json.loads(line) for line in (TASKS / "train.jsonl").read_text().splitlines()]
    chosen = [r for r in rows if r["domain"] == "math"][:12] + [r for r in rows if r["domain"] == "code"][:12]
    path = folder / "prompts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in chosen))
    return path


def small_demo_command(folder: Path, name: str, seed: int = 3, rounds: int = 1) -> tuple[Path, list[str]]:
    """(the workdir, the command) of ``flywheel demo`` on the small config and the mixed prompts, written under
    ``folder``: the same relative paths below any folder, so two runs compare row for row (``table_rows``)."""
    import sys

    workdir = folder / name
    config = folder / f"{name}.yaml"
    raw = small_config_dict(workdir)
    raw["prompts"]["sources"][0]["path"] = str(mixed_prompts(folder))
    config.write_text(yaml.safe_dump(raw))
    return workdir, [sys.executable, "-m", "flywheel.cli", "demo", "--rounds", str(rounds), "--config", str(config),
                     "--seed", str(seed)]


def run_small_demo(folder: Path, name: str, seed: int = 3, rounds: int = 1) -> Path:
    """``flywheel demo`` of the small config on the mixed prompts, through the CLI as a user runs it; its workdir.
    Afterwards nothing it started may still be running."""
    import subprocess

    from tests.session_checks import left_by, tagged_environment

    workdir, command = small_demo_command(folder, name, seed, rounds)
    env, tag = tagged_environment()
    done = subprocess.run(command, cwd=Path(__file__).resolve().parents[1], timeout=1800, capture_output=True,
                          text=True, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert left_by(tag) == [], "flywheel demo left processes running"
    return workdir


def small_demo_seconds(workdir: Path) -> float:
    """How long the shared demo took (its wall time, written when it was made)."""
    return float((workdir.parent / "made").read_text())


@pytest.fixture(scope="session")
def finished_small_demo(tmp_path_factory) -> Path:
    """One finished ``flywheel demo --rounds 1`` (small config, mixed prompts, seed 3), made once per test run,
    whichever xdist worker asks first (the others wait on its lock and read the same workdir). Tests that only
    read a finished demo read this workdir; a test that changes one works on a copy (``copy_workdir``), never
    on this."""
    import fcntl

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the run's folder, above each worker's own
    folder = shared / "shared-demo"
    folder.mkdir(exist_ok=True)
    with open(shared / "shared-demo.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the demo is made, or by the kernel if this worker dies
        if not (folder / "made").exists():
            started = time.monotonic()
            run_small_demo(folder, "demo")
            (folder / "made").write_text(f"{time.monotonic() - started:.1f}")  # its wall time (small_demo_seconds)
    return folder / "demo"


def copy_workdir(workdir: Path, to: Path) -> Path:
    """A copy of a finished workdir for a test that writes to it (a UI's instance, a rerun)."""
    import shutil

    shutil.copytree(workdir, to, symlinks=True)
    return to
