"""SFT: tokenisation with exact loss masks, and DeepSpeed training run as a subprocess."""

from flywheel.sft.tokenize import IGNORE_INDEX, NoAssistantTurn, tokenize_conversation

__all__ = ["IGNORE_INDEX", "NoAssistantTurn", "tokenize_conversation"]
