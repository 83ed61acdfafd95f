"""The contract every generation backend keeps, and what they share.

A backend is built for one checkpoint and turns prompts into N :class:`~flywheel.records.schema.Sample`
rows per prompt. Seeds are per prompt (or per sample), derived from (seed, round, prompt id),
so a sample never depends on which other prompts shared its batch or which server answered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from flywheel.records.schema import Prompt, Sample


@dataclass(frozen=True)
class SamplingParams:
    n: int = 1
    temperature: float = 0.8
    top_p: float = 0.95
    max_new_tokens: int = 128
    seed: int = 0

    @classmethod
    def from_config(cls, generation) -> SamplingParams:
        """From a round's ``GenerationConfig``."""
        return cls(n=generation.n, temperature=generation.temperature, top_p=generation.top_p,
                   max_new_tokens=generation.max_new_tokens, seed=generation.seed)


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from (round, prompt id, ...): stable across processes, unlike hash()."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


class Generator(Protocol):
    checkpoint: str

    def generate(self, prompts: list[Prompt], params: SamplingParams, round_number: int,
                 progress: Callable[[int], None] | None = None) -> list[Sample]:
        """One Sample per (prompt, sample index), N per prompt."""
        ...

    def close(self) -> None:
        """Release engines, servers and their processes; safe to call twice."""
        ...


def close_generator(generator) -> None:
    """close() a generator; one written before close() was part of the contract has nothing to release."""
    close = getattr(generator, "close", None)
    if close is not None:
        close()


# The tokens that end an assistant turn in the chat templates this project meets: ChatML's
# <|im_end|>, Llama 3's <|eot_id|>, Phi's <|end|>. SFT appends the template's own one.
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|end|>")


def end_of_turn_ids(tokenizer) -> list[int]:
    """Token ids that end an assistant turn: the template's end-of-turn tokens and EOS."""
    ids = []
    for token in END_OF_TURN_TOKENS:
        token_id = tokenizer.convert_tokens_to_ids(token)
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id and token_id is not None:
            ids.append(token_id)
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    return sorted(set(ids))
