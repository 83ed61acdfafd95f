"""tokenize_conversation: input ids and labels where only assistant content learns.

The assistant spans are derived by rendering prefixes of the conversation with the
tokenizer's own chat template, so this works for any template, with or without
``{% generation %}`` markers. Rendering ``messages[:i]`` with the generation prompt gives
the text up to where assistant turn i's content starts; rendering ``messages[:i+1]``
gives its end. Labels cover the content and the end-of-turn token that closes it (the
model must learn to stop); role headers, system, user and tool turns are -100.
"""

from __future__ import annotations

from flywheel.generation.base import END_OF_TURN_TOKENS

IGNORE_INDEX = -100


class NoAssistantTurn(ValueError):
    """A conversation with nothing to learn from."""


def _render(tokenizer, messages: list[dict], add_generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def _end_of_turn(tokenizer) -> str | None:
    for token in END_OF_TURN_TOKENS:
        if token in tokenizer.get_vocab():
            return token
    return tokenizer.eos_token


def assistant_char_spans(tokenizer, messages: list[dict], last_turn_only: bool = False) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the [start, end) character spans that carry labels."""
    full = _render(tokenizer, messages, add_generation_prompt=False)
    end_token = _end_of_turn(tokenizer)
    turns = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    if not turns:
        raise NoAssistantTurn("conversation has no assistant turn")
    if last_turn_only:
        turns = turns[-1:]
    spans = []
    for i in turns:
        before = _render(tokenizer, messages[:i], add_generation_prompt=True)
        through = _render(tokenizer, messages[: i + 1], add_generation_prompt=False)
        if not full.startswith(before) or not full.startswith(through):
            raise ValueError("chat template does not render prefixes consistently; cannot derive assistant spans")
        content_at = through.find(messages[i]["content"], len(before))
        start = len(before)
        end = len(through)
        if end_token and content_at >= 0:
            close = through.find(end_token, content_at + len(messages[i]["content"]))
            if close >= 0:
                end = close + len(end_token)
        spans.append((start, end))
    return full, spans


def tokenize_conversation(tokenizer, messages: list[dict], *, last_turn_only: bool = False) -> dict:
    """``input_ids``, ``labels`` and ``attention_mask`` for one conversation (lists of ints)."""
    text, spans = assistant_char_spans(tokenizer, messages, last_turn_only)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    labels = []
    for token_id, (start, end) in zip(encoded["input_ids"], encoded["offset_mapping"]):
        inside = any(start >= s and end <= e and end > start for s, e in spans)
        labels.append(token_id if inside else IGNORE_INDEX)
    return {"input_ids": list(encoded["input_ids"]), "labels": labels, "attention_mask": [1] * len(labels)}
