"""Multi-node SFT, as two "nodes" on localhost (CPU, gloo, one process each), against one node with two.

Node 0 is the round's own run_sft: it writes spec.json and, alone, the checkpoint. Node 1 is
what a cluster starts on the other machine: ``flywheel sft-worker SPEC --node-rank 1``.
"""

from concurrent.futures import ThreadPoolExecutor

import pytest

from flywheel.config import SFTConfig
from flywheel.sft.trainer_process import SFTFailed, free_port, run_sft, run_sft_worker
from tests.flywheel.sft.test_train import QUIET, mixture

pytestmark = pytest.mark.slow


def test_two_nodes_train_as_one_node_with_two_processes_and_write_one_checkpoint(tmp_path, random_tiny_model_dir):
    data = mixture(tmp_path / "mix.parquet", n=16)
    settings = {"epochs": 2, "batch_size": 2, "packing": False, "timeout_seconds": 600, "learning_rate": 1e-3}
    one_node = run_sft(random_tiny_model_dir, data, tmp_path / "one-node" / "checkpoint",
                       SFTConfig(num_processes=2, **settings), work_dir=tmp_path / "one-node" / "sft", **QUIET)

    two_nodes = SFTConfig(nnodes=2, num_processes=1, rdzv_endpoint=f"127.0.0.1:{free_port()}", **settings)
    work = tmp_path / "two-nodes" / "sft"
    with ThreadPoolExecutor(1) as pool:  # node 1 starts first on purpose: it waits for node 0's spec
        node_1 = pool.submit(run_sft_worker, work / "spec.json", 1, wait_seconds=120, **QUIET)
        node_0 = run_sft(random_tiny_model_dir, data, tmp_path / "two-nodes" / "checkpoint", two_nodes,
                         work_dir=work, **QUIET)
        node_1.result(timeout=300)  # re-raises the worker's error, if any

    losses = [step["loss"] for step in node_0.steps]
    assert len(losses) == len(one_node.steps) > 2
    assert losses == pytest.approx([step["loss"] for step in one_node.steps], rel=1e-4, abs=1e-5)
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("model.safetensors"))
    assert written == ["one-node/checkpoint/model.safetensors", "two-nodes/checkpoint/model.safetensors"]
    assert (work / "train.node1.log").exists() and "step " not in (work / "train.node1.log").read_text()


def test_worker_and_stage_refuse_ranks_that_are_not_theirs(tmp_path, random_tiny_model_dir):
    with pytest.raises(ValueError, match="rdzv_endpoint must be host:port"):
        SFTConfig(nnodes=2)
    with pytest.raises(ValueError, match="node_rank 2 is not below sft.nnodes 2"):
        SFTConfig(nnodes=2, node_rank=2, rdzv_endpoint="head:29500")
    with pytest.raises(SFTFailed, match="runs on node 0, not node 1; start the other nodes with: flywheel sft-worker"):
        run_sft(random_tiny_model_dir, tmp_path / "x.parquet", tmp_path / "out",
                SFTConfig(nnodes=2, node_rank=1, rdzv_endpoint="head:29500"), work_dir=tmp_path / "w", **QUIET)
    with pytest.raises(SFTFailed, match="no SFT spec from node 0"):
        run_sft_worker(tmp_path / "missing.json", 1, wait_seconds=0.1, **QUIET)
