"""What the training process is handed: the SFT config plus the paths it reads and writes.

``run_sft`` writes it as ``spec.json`` beside the run; ``flywheel.sft.train`` validates it
back into this model on the other side of the process boundary, so a field is read through
the same pydantic model everywhere and a missing or mistyped one fails with its name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from flywheel.config import SFTConfig


class TrainingSpec(SFTConfig):
    objective: Literal["sft", "dpo"] = "sft"  # dpo: data is preference pairs (flywheel.records.schema.PreferencePair)
    beta: float = 0.1  # dpo: the DPO temperature
    nll_weight: float = 0.2  # dpo: the weight of the chosen responses' NLL term
    init_checkpoint: Path  # the Hugging Face folder training starts from
    data: Path  # Parquet of training examples (flywheel.records.schema.Example), or of pairs for dpo
    output: Path  # where the trained Hugging Face folder is written (a staging folder)
    metrics: Path  # per-step JSON lines, rank 0
    checkpoint_dir: Path  # DeepSpeed checkpoints for resume; kept after a failure

    def stable_fields(self) -> dict:
        """What must match for a checkpoint to be resumed: everything but paths that move, the timeout and
        which node reads it (every node of a job must agree on the key)."""
        return self.model_dump(mode="json", exclude={"output", "metrics", "checkpoint_dir", "timeout_seconds",
                                                     "node_rank", "keep_checkpoints"})
