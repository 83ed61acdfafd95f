"""run_sft: train in a subprocess the caller owns, and return a checkpoint path plus metrics.

Training runs out of process so a crash, an OOM or a timeout never takes the
orchestrator down, and so the weights never travel through it. The subprocess gets its
own process group; on timeout or interruption the whole group is killed, and every
process of it dies with its parent (PR_SET_PDEATHSIG), so a killed orchestrator leaves no
trainer behind. Its log is flushed line by line, so the tail survives such a kill. The checkpoint
is written to a staging folder and moved into place only when training finished.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from flywheel.config import SFTConfig
from flywheel.records.files import replace_dir_atomic, write_text_atomic
from flywheel.process_tree import die_with_parent
from flywheel.sft.comm_op import op_environment
from flywheel.sft.spec import TrainingSpec


class SFTFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class SFTResult:
    checkpoint: Path
    steps: list[dict]
    stats: dict
    log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_command(spec_path: Path, config: SFTConfig, port: int) -> tuple[list[str], dict]:
    """The trainer's command line: one process, torchrun on this node, or torchrun as one of ``nnodes``."""
    env = op_environment(dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), PYTHONUNBUFFERED="1",
                              TOKENIZERS_PARALLELISM="false"))
    if config.num_processes == 1 and config.nnodes == 1:
        # A single process needs the rendezvous variables, or DeepSpeed goes looking for MPI.
        env.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", LOCAL_WORLD_SIZE="1")
        return [sys.executable, "-m", "flywheel.sft.train", str(spec_path)], env
    env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // config.num_processes))
    if config.nnodes > 1:
        # Static rendezvous at node 0: global ranks follow node_rank, so every run splits the data alike.
        host, _, rdzv_port = config.rdzv_endpoint.rpartition(":")
        env.update(MASTER_ADDR=host, MASTER_PORT=rdzv_port)
        where = [f"--nnodes={config.nnodes}", f"--node_rank={config.node_rank}", f"--master_addr={host}",
                 f"--master_port={rdzv_port}"]
    else:
        where = [f"--master_port={port}"]
    return [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={config.num_processes}", *where,
            "-m", "flywheel.sft.train", str(spec_path)], env


def run_sft(init_checkpoint: Path, data: Path, output: Path, config: SFTConfig, *, work_dir: Path,
            echo=print, objective: str = "sft", beta: float = 0.1, nll_weight: float = 0.2) -> SFTResult:
    """Fine-tune ``init_checkpoint`` on the conversations in ``data`` (Parquet); write ``output``. With
    ``objective="dpo"`` the data is preference pairs and the loss is DPO's (flywheel.sft.dpo: ``beta``, and
    ``nll_weight`` on the chosen responses), against ``init_checkpoint`` as the reference.

    With ``nnodes`` > 1 this is node 0: it writes ``work_dir/spec.json``, which nodes 1.. start
    from with :func:`run_sft_worker` (``flywheel sft-worker``), and it alone writes the checkpoint.
    """
    if config.node_rank != 0:
        raise SFTFailed(f"the round's SFT stage runs on node 0, not node {config.node_rank}; start the other "
                        f"nodes with: flywheel sft-worker {work_dir / 'spec.json'} --node-rank K")
    work_dir.mkdir(parents=True, exist_ok=True)
    staging = work_dir / "checkpoint.staging"
    shutil.rmtree(staging, ignore_errors=True)
    metrics, log = work_dir / "steps.jsonl", work_dir / "train.log"
    checkpoints = work_dir / "ds_checkpoints"  # kept after a failure, so a rerun resumes from it
    spec = TrainingSpec(**config.model_dump(), init_checkpoint=init_checkpoint, data=data, output=staging,
                        metrics=metrics, checkpoint_dir=checkpoints, objective=objective, beta=beta,
                        nll_weight=nll_weight)
    spec_path = work_dir / "spec.json"
    write_text_atomic(spec_path, spec.model_dump_json(indent=2))  # other nodes may be polling for it
    _run_trainer(*launch_command(spec_path, config, free_port()), log, echo, config.timeout_seconds, "SFT")
    steps = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    stats = json.loads((staging / "sft_stats.json").read_text())
    replace_dir_atomic(staging, output)
    shutil.rmtree(checkpoints, ignore_errors=True)  # finished: nothing to resume
    return SFTResult(checkpoint=output, steps=steps, stats=stats, log=log)


def run_sft_worker(spec_path: Path, node_rank: int, *, log: Path | None = None, wait_seconds: float = 0.0,
                   echo=print) -> None:
    """Run node ``node_rank`` of a multi-node SFT that node 0 described in ``spec_path`` (on storage every
    node sees). Waits up to ``wait_seconds`` for node 0 to write the spec; writes no checkpoint."""
    spec_path = Path(spec_path)
    deadline = time.monotonic() + wait_seconds
    while not spec_path.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    if not spec_path.exists():
        raise SFTFailed(f"{spec_path}: no SFT spec from node 0 (waited {wait_seconds:.0f}s)")
    spec = TrainingSpec.model_validate_json(spec_path.read_text())
    if spec.nnodes == 1 or not 0 < node_rank < spec.nnodes:
        raise SFTFailed(f"{spec_path}: node rank {node_rank} is not a worker of this job "
                        f"(sft.nnodes is {spec.nnodes}; workers are 1..{spec.nnodes - 1})")
    argv, env = launch_command(spec_path, spec.model_copy(update={"node_rank": node_rank}), free_port())
    _run_trainer(argv, env, log or spec_path.with_name(f"train.node{node_rank}.log"), echo, spec.timeout_seconds,
                 f"SFT node {node_rank}")


def _run_trainer(argv: list[str], env: dict, log: Path, echo, timeout: float, what: str) -> None:
    """The trainer in its own process group, its output in ``log``; a failure raises SFTFailed with the tail."""
    with log.open("w") as log_file:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                   start_new_session=True, preexec_fn=die_with_parent)
        try:
            _pump(process, log_file, echo, timeout)
        except BaseException:
            _kill_group(process)
            raise
    if process.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-25:])
        raise SFTFailed(f"{what} exited with code {process.returncode}; see {log}\n{tail}")


def _pump(process: subprocess.Popen, log_file, echo, timeout: float) -> None:
    """Copy the trainer's output to the log (echoing progress lines) until it exits or times out."""
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        _kill_group(process)

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    try:
        for line in process.stdout:
            log_file.write(line)
            log_file.flush()  # the tail a user needs survives a kill of this process
            if line.startswith("step ") or "Error" in line:
                echo(line.rstrip())
        process.wait()
    finally:
        timer.cancel()
    if expired.is_set():
        raise SFTFailed(f"SFT ran past its timeout of {timeout:.0f}s and was killed")


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
