"""collect: read prompts from JSONL or Parquet in Alpaca, ShareGPT or OpenAI-messages form.

Each row becomes a :class:`Prompt`. A row that cannot be read fails with ``file:line``
and the reason; nothing is skipped silently. Besides the format's own fields a row may
carry ``id``, ``domain`` and ``reference`` (aliases: ``answer``, ``tests``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from pydantic import ValidationError

from flywheel.schema import Message, Prompt

SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "system": "system", "tool": "tool", "function": "tool", "chatgpt": "assistant"}


class PromptFormatError(ValueError):
    """A prompt row that cannot be read; the message starts with ``file:line:``."""


def _rows(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, decoded row); Parquet rows are numbered from 1 like lines."""
    if path.suffix == ".parquet":
        try:
            table = pq.read_table(path)
        except Exception as error:  # noqa: BLE001 - pyarrow raises several types for a bad file
            raise PromptFormatError(f"{path}: not a readable Parquet file ({type(error).__name__}: {error})") from None
        for number, row in enumerate(table.to_pylist(), start=1):
            yield number, row
        return
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise PromptFormatError(f"{path}:{number}: not UTF-8 text (byte 0x{raw[error.start]:02x} at column "
                                        f"{error.start + 1}); is this a binary file?") from None
            if "\x00" in line:
                raise PromptFormatError(f"{path}:{number}: a NUL byte at column {line.index(chr(0)) + 1}; "
                                        f"is this a binary file?")
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as error:
                raise PromptFormatError(f"{path}:{number}: not valid JSON ({error.msg} at column {error.colno})") from None


def detect_format(row: dict) -> str:
    if "messages" in row:
        return "openai"
    if "conversations" in row:
        return "sharegpt"
    if "instruction" in row:
        return "alpaca"
    raise ValueError(f"cannot tell the format: expected 'messages', 'conversations' or 'instruction', got keys {sorted(row)}")


def _openai_messages(row: dict) -> list[dict]:
    messages = row["messages"]
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' must be a non-empty list")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def _sharegpt_messages(row: dict) -> list[dict]:
    turns = row["conversations"]
    if not isinstance(turns, list) or not turns:
        raise ValueError("'conversations' must be a non-empty list")
    messages = []
    for index, turn in enumerate(turns):
        speaker = turn.get("from")
        if speaker not in SHAREGPT_ROLES:
            raise ValueError(f"conversations[{index}].from: unknown speaker {speaker!r}")
        messages.append({"role": SHAREGPT_ROLES[speaker], "content": turn.get("value")})
    return messages


def _alpaca_messages(row: dict) -> list[dict]:
    instruction = row["instruction"]
    if not isinstance(instruction, str) or not instruction.strip():
        raise ValueError("'instruction' must be a non-empty string")
    extra = row.get("input") or ""
    user = f"{instruction}\n\n{extra}" if extra.strip() else instruction
    messages = [{"role": "user", "content": user}]
    if row.get("output"):
        messages.append({"role": "assistant", "content": row["output"]})
    return messages


READERS = {"openai": _openai_messages, "sharegpt": _sharegpt_messages, "alpaca": _alpaca_messages}


def row_to_prompt(row: Any, *, fmt: str, source: str, default_domain: str | None) -> Prompt:
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    fmt = detect_format(row) if fmt == "auto" else fmt
    messages = READERS[fmt](row)
    # A trailing assistant turn is a demonstration, not part of the prompt.
    response = None
    if messages[-1]["role"] == "assistant":
        response = messages.pop()["content"]
    if not messages or messages[-1]["role"] != "user":
        raise ValueError("the conversation must end with a user turn (optionally followed by one answer)")
    domain = row.get("domain") or default_domain
    if domain is None:
        raise ValueError("no 'domain' field and the source sets no default domain")
    reference = next((row[key] for key in ("reference", "answer", "tests") if row.get(key) is not None), None)
    prompt_id = row.get("id")
    if prompt_id is None:
        # Stable across runs: the same conversation always gets the same id.
        digest = hashlib.sha1(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:12]
        prompt_id = f"{domain}-{digest}"
    return Prompt(
        id=str(prompt_id),
        domain=domain,
        messages=[Message(**m) for m in messages],
        reference=None if reference is None else str(reference),
        response=response,
        source=source,
    )


def load_prompts(path: str | Path, *, fmt: str = "auto", domain: str | None = None) -> list[Prompt]:
    """Read every row of one JSONL or Parquet file; the first bad row fails with file:line."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: prompt file not found")
    if path.suffix not in {".jsonl", ".json", ".parquet"}:
        raise PromptFormatError(f"{path}: expected a .jsonl or .parquet file")
    prompts, seen = [], {}
    for number, row in _rows(path):
        where = f"{path}:{number}"
        try:
            prompt = row_to_prompt(row, fmt=fmt, source=where, default_domain=domain)
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise PromptFormatError(f"{where}: field {field!r}: {first['msg']}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            reason = f"missing field {error}" if isinstance(error, KeyError) else str(error)
            raise PromptFormatError(f"{where}: {reason}") from None
        if prompt.id in seen:
            raise PromptFormatError(f"{where}: duplicate id {prompt.id!r} (first at line {seen[prompt.id]})")
        seen[prompt.id] = number
        prompts.append(prompt)
    return prompts


def collect_prompts(sources, max_prompts: int | None = None, *, allow_empty: bool = False,
                    needs_reference: set[str] = frozenset()) -> list[Prompt]:
    """Concatenate the configured prompt sources, failing on ids repeated across files, on an empty
    source (unless ``allow_empty``) and on a prompt of a ``needs_reference`` domain that has none."""
    prompts: list[Prompt] = []
    origin: dict[str, str] = {}
    for source in sources:
        loaded = load_prompts(source.path, fmt=source.format, domain=source.domain)
        if not loaded and not allow_empty:
            raise PromptFormatError(f"{source.path}: no prompts in this source (set prompts.allow_empty: true "
                                    f"if an empty source is expected)")
        for prompt in loaded:
            if prompt.id in origin:
                raise PromptFormatError(f"{prompt.source}: id {prompt.id!r} already read from {origin[prompt.id]}")
            if prompt.domain in needs_reference and not prompt.reference:
                raise PromptFormatError(f"{prompt.source}: {prompt.domain} prompt {prompt.id!r} has no reference "
                                        f"(its verifier checks answers against one)")
            origin[prompt.id] = prompt.source
            prompts.append(prompt)
    return prompts[:max_prompts] if max_prompts else prompts
