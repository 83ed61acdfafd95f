"""collect: read prompts from JSONL, Parquet or a Hugging Face ``datasets`` folder.

Chat formats (Alpaca, ShareGPT, OpenAI messages) and public data sets in their own
published fields (HumanEval, MBPP, APPS/TACO/CodeContests, LiveCodeBench, GSM8K, MATH,
NuminaMath: :mod:`flywheel.prompts.public_datasets`). Each row becomes a :class:`Prompt`. A row
that cannot be read fails with ``file:line`` and the reason, naming the missing field;
nothing is skipped silently. Besides a chat format's own fields a row may carry ``id``,
``domain`` and ``reference`` (aliases: ``answer``, ``tests``). A source's ``fields`` maps a
format's field names to the file's own column names.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from pydantic import ValidationError

from flywheel.prompts import public_datasets
from flywheel.records.schema import Message, Prompt

SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "system": "system", "tool": "tool", "function": "tool", "chatgpt": "assistant"}


class PromptFormatError(ValueError):
    """A prompt row that cannot be read; the message starts with ``file:line:``."""


def _datasets_folder_files(path: Path, split: str | None) -> list[Path]:
    """The Arrow files of a ``Dataset.save_to_disk`` folder, or of one split of a ``DatasetDict``'s."""
    if (path / "dataset_dict.json").exists():
        splits = json.loads((path / "dataset_dict.json").read_text()).get("splits", [])
        chosen = split or ("train" if "train" in splits else splits[0] if len(splits) == 1 else None)
        if chosen not in splits:
            raise PromptFormatError(f"{path}: a DatasetDict with splits {splits}; set the source's split "
                                    f"(got {split!r})")
        path = path / chosen
    state = path / "state.json"
    if not state.exists():
        raise PromptFormatError(f"{path}: a folder that is not a Hugging Face datasets folder (no state.json or "
                                f"dataset_dict.json; expected the output of save_to_disk)")
    return [path / item["filename"] for item in json.loads(state.read_text()).get("_data_files", [])]


def _arrow_rows(files: list[Path]) -> Iterator[tuple[int, Any]]:
    import pyarrow as pa

    number = 0
    for file in files:
        try:
            with pa.memory_map(str(file)) as source:
                reader = pa.ipc.open_stream(source)
                for batch in reader:
                    for row in batch.to_pylist():
                        number += 1
                        yield number, row
        except (OSError, pa.ArrowInvalid) as error:
            raise PromptFormatError(f"{file}: not a readable Arrow file ({error})") from None


def _hub_rows(name: str, split: str | None) -> Iterator[tuple[int, Any]]:
    """A data set by its hub name, through ``datasets`` (its cache, or the hub when the machine is online)."""
    try:
        import datasets
    except ImportError:
        raise PromptFormatError(f"{name}: not a file; reading a hub data set needs the 'datasets' package "
                                f"(pip install datasets)") from None
    try:
        loaded = datasets.load_dataset(name, split=split or "train")
    except Exception as error:  # noqa: BLE001 - offline, unknown name, no such split: all named to the user
        raise PromptFormatError(f"{name}: could not load this hub data set ({type(error).__name__}: {error}); "
                                f"offline and not in the cache? save it with save_to_disk and point path at "
                                f"that folder") from None
    for number, row in enumerate(loaded, start=1):
        yield number, row


def numbered_rows(path: Path, split: str | None = None) -> Iterator[tuple[int, Any]]:
    """(line number, decoded row) of any file collect reads (JSONL, gzipped JSONL, Parquet, a datasets folder):
    the one record reader, shared by decontamination's eval sets and flywheel verify's responses. Parquet and
    Arrow rows are numbered from 1 like lines; a bad line is a PromptFormatError naming it."""
    if path.is_dir():
        yield from _arrow_rows(_datasets_folder_files(path, split))
        return
    if path.suffix == ".parquet":
        try:
            table = pq.read_table(path)
        except Exception as error:  # noqa: BLE001 - pyarrow raises several types for a bad file
            raise PromptFormatError(f"{path}: not a readable Parquet file ({type(error).__name__}: {error})") from None
        for number, row in enumerate(table.to_pylist(), start=1):
            yield number, row
        return
    with (gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")) as handle:  # HumanEval ships .jsonl.gz
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
            text = line.rstrip("\r\n")  # with its newline, an error at the line's end is "column 1" of the next
            try:
                yield number, json.loads(text)
            except json.JSONDecodeError as error:
                raise PromptFormatError(f"{path}:{number}:{error.pos + 1}: not valid JSON ({error.msg} at column "
                                        f"{error.pos + 1} of {len(text)})") from None
            except RecursionError:
                raise PromptFormatError(f"{path}:{number}: JSON nested too deeply to read") from None


def detect_format(row: dict) -> str:
    public = public_datasets.detect_public_format(row)
    if public is not None:
        return public
    if "messages" in row:
        return "openai"
    if "conversations" in row:
        return "sharegpt"
    if "instruction" in row:
        return "alpaca"
    raise ValueError(f"cannot tell the format: expected 'messages', 'conversations' or 'instruction', or a public "
                     f"data set's fields (set the source's format: {', '.join(public_datasets.READERS)}), "
                     f"got keys {sorted(row)}")


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


def _public_prompt(row: dict, fmt: str, source: str, default_domain: str | None) -> Prompt:
    parts = public_datasets.READERS[fmt](row)
    domain = row.get("domain") or default_domain or parts["domain"]
    prompt_id = parts["id"]
    if prompt_id is None:
        digest = hashlib.sha1(parts["user"].encode()).hexdigest()[:12]
        prompt_id = f"{domain}-{digest}"
    return Prompt(id=str(prompt_id), domain=domain, messages=[Message(role="user", content=parts["user"])],
                  reference=parts["reference"], response=parts["response"], source=source)


def _reference_text(value: Any, field: str) -> str:
    """A reference as text: a list of assert strings (MBPP's test_list) is Python tests, an object is JSON."""
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise ValueError(f"field {field!r}: a list reference must hold assert strings")
        return "\n".join(value) + "\n"
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


PYTHON_NAMES = {"python", "python3", "py"}


def with_language(reference: str | None, language: str | None) -> str | None:
    """The reference with the language its answers are judged in, where it names none: the unit_tests verifier
    reads ``language`` from a JSON reference (Python tests as plain source are Python)."""
    if not language or reference is None:
        return reference
    stripped = reference.lstrip()
    if not stripped.startswith("{"):
        if language.strip().lower() in PYTHON_NAMES:
            return reference
        raise ValueError(f"language {language!r}: only a JSON reference ({{\"io\": ...}} or {{\"tests\": ...}}) "
                         f"names a language; this reference is Python tests")
    data = json.loads(stripped)
    if not isinstance(data, dict) or data.get("language"):
        return reference
    return json.dumps({**data, "language": language.strip().lower()})


def row_to_prompt(row: Any, *, fmt: str, source: str, default_domain: str | None,
                  fields: dict[str, str] | None = None, language: str | None = None) -> Prompt:
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    if fields:  # the format's field name -> this file's column
        row = {**row, **{name: row[column] for name, column in fields.items() if column in row}}
    language = row.get("language") or language  # the row's own, else its source's
    if language is not None and not isinstance(language, str):
        raise ValueError(f"field 'language': expected a name such as cpp, got {type(language).__name__}")
    prompt = _row_to_prompt(row, fmt, source, default_domain)
    if language and prompt.domain == "code":
        prompt.reference = with_language(prompt.reference, language)
    return prompt


def _row_to_prompt(row: dict, fmt: str, source: str, default_domain: str | None) -> Prompt:
    fmt = detect_format(row) if fmt == "auto" else fmt
    if fmt in public_datasets.READERS:
        return _public_prompt(row, fmt, source, default_domain)
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
    key = next((key for key in ("reference", "answer", "tests") if row.get(key) is not None), None)
    reference = None if key is None else _reference_text(row[key], key)
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


def load_prompts(path: str | Path | None, *, fmt: str = "auto", domain: str | None = None, split: str | None = None,
                 fields: dict[str, str] | None = None, hub: str | None = None,
                 language: str | None = None) -> list[Prompt]:
    """Read every row of one JSONL, Parquet or datasets folder (or a hub data set); the first bad row fails with file:line."""
    path = Path(path if hub is None else hub)
    if hub is not None:
        rows = _hub_rows(hub, split)
    elif not path.exists():
        raise FileNotFoundError(f"{path}: prompt file not found")
    elif not path.is_dir() and not path.name.endswith((".jsonl", ".json", ".parquet", ".jsonl.gz")):
        raise PromptFormatError(f"{path}: expected a .jsonl, .jsonl.gz or .parquet file, or a datasets folder "
                                f"(save_to_disk)")
    else:
        rows = numbered_rows(path, split)
    prompts, seen = [], {}
    for number, row in rows:
        where = f"{path}:{number}"
        try:
            prompt = row_to_prompt(row, fmt=fmt, source=where, default_domain=domain, fields=fields, language=language)
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
        loaded = load_prompts(source.path, fmt=source.format, domain=source.domain, split=source.split,
                              fields=source.fields, hub=source.hub, language=source.language)
        loaded = loaded[: source.max_prompts]
        if not loaded and not allow_empty:
            raise PromptFormatError(f"{source.path or source.hub}: no prompts in this source (set prompts.allow_empty: true "
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
