"""``sft``: the DeepSpeed fine-tune (packing, masking, LoRA, checkpoints)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from flywheel.config.base import _Strict


class LoRAConfig(_Strict):
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: list[str] = ["q_proj", "k_proj", "v_proj", "o_proj"]


class SFTConfig(_Strict):
    learning_rate: float = Field(1e-5, gt=0)
    epochs: int = Field(2, ge=1, le=100)
    batch_size: int = Field(8, ge=1, description="micro-batch per process (rows when packing)")
    gradient_accumulation_steps: int = Field(1, ge=1)
    warmup_ratio: float = Field(0.03, ge=0.0, lt=1.0)
    weight_decay: float = Field(0.0, ge=0.0)
    max_grad_norm: float = Field(1.0, gt=0)
    max_seq_len: int = Field(512, ge=8)
    packing: bool = Field(True, description="best-fit-decreasing rows, no cross-example attention")
    overlong: Literal["truncate", "drop"] = Field("truncate", description="examples longer than max_seq_len")
    last_turn_only: bool = Field(False, description="train only the last assistant turn of multi-turn data")
    neftune_alpha: float | None = Field(None, gt=0, description="NEFTune embedding noise (e.g. 5)")
    lora: LoRAConfig | None = Field(None, description="train LoRA adapters, merged into the weights at the end")
    zero_stage: int = Field(0, ge=0, le=3)
    gradient_checkpointing: bool = Field(False, description="recompute activations in the backward pass (less "
                                         "memory, ~30% more compute): what an 8B model at 4k rows needs")
    num_processes: int = Field(1, ge=1, description="training processes per node (GPUs per node)")
    nnodes: int = Field(1, ge=1, description="nodes in the job; every node runs the same launch with its node_rank")
    node_rank: int = Field(0, ge=0, description="this node's rank; node 0 writes the checkpoint and the step log")
    rdzv_endpoint: str | None = Field(None, description="host:port of node 0, where the nodes meet (torchrun's "
                                      "static rendezvous, so node_rank fixes the global ranks); needed when nnodes > 1")
    checkpoint_every_steps: int = Field(0, ge=0, description="DeepSpeed checkpoint cadence for resume, in optimizer "
                                        "steps (epoch ends are then not saved too); 0: at each epoch's end")
    keep_checkpoints: int | None = Field(None, ge=1, description="keep only the newest K DeepSpeed checkpoints "
                                         "(global_step* folders) while training; default: all of them (at 8B, each "
                                         "with its optimizer state is about 100 GB)")
    timeout_seconds: float = Field(3600.0, gt=0)
    seed: int = 0
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimizer steps, repeating epochs "
                                  "as needed; the schedule spans them (a control arm's matched budget)")
    init_from: Literal["previous", "base"] = Field("previous", description="ReST-EM restarts from the base model")

    @model_validator(mode="after")
    def _lora_needs_gathered_weights(self) -> "SFTConfig":
        if self.lora is not None and self.zero_stage == 3:
            raise ValueError("lora cannot be merged from ZeRO-3 partitions; use zero_stage 0-2 with lora")
        return self

    @model_validator(mode="after")
    def _nodes_meet_somewhere(self) -> "SFTConfig":
        if self.node_rank >= self.nnodes:
            raise ValueError(f"sft.node_rank {self.node_rank} is not below sft.nnodes {self.nnodes}")
        if self.nnodes > 1:
            host, _, port = (self.rdzv_endpoint or "").rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"sft.rdzv_endpoint must be host:port of node 0 when sft.nnodes > 1, "
                                 f"not {self.rdzv_endpoint!r}")
        return self
