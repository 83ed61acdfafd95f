"""``dpo``: the optional DPO step after SFT (Llama 3.1's rounds), on the round's preference pairs."""

from __future__ import annotations

from pydantic import Field

from flywheel.config.sft import SFTConfig


class DPOConfig(SFTConfig):
    """The SFT engine's settings (ZeRO, LoRA, processes, nodes, checkpoints) for the DPO run, plus its own."""

    enabled: bool = Field(False, description="after SFT, train the round's checkpoint on its preference pairs; the "
                          "round's evaluation and the next round's generation then use the DPO checkpoint")
    beta: float = Field(0.1, gt=0.0, description="DPO's temperature (Llama 3.1: 0.1)")
    nll_weight: float = Field(0.2, ge=0.0, description="weight of the chosen responses' NLL term (Llama 3.1: 0.2)")
    epochs: int = Field(1, ge=1, le=100)
    packing: bool = Field(False, description="pairs are padded, never packed")

    def engine_settings(self) -> SFTConfig:
        return SFTConfig(**self.model_dump(exclude={"enabled", "beta", "nll_weight"}))
