"""Decoding data that came from somewhere else, on the host, within bounds.

Public sets ship fields that are decoded before any sandbox sees them: LiveCodeBench's private tests are base64 of
zlib of a pickle of a JSON string. Each layer can be made to cost far more than its size:

- zlib: a 5.6 MB field inflates to 4 GiB, so inflation stops at ``MAX_INFLATED_BYTES``;
- pickle: classes are refused outright (``find_class``), and a few hundred bytes of memo references build a
  list whose tree has 2^59 leaves: tiny in memory (every leaf is one shared object) until something walks it, such
  as the conversion to JSON. ``check_plain`` walks the value as a tree, each shared reference counted again,
  and stops at ``MAX_VALUES`` values, ``MAX_DEPTH`` levels and ``MAX_TEXT_CHARS`` characters of text;
- JSON: parsing a deeply nested document raises RecursionError, which is not a row error; ``loads_json`` turns it
  into one.

Every refusal is a ``ValueError`` naming the field, which the loader reports with the file and line.
The bounds are far above any published row (LiveCodeBench's largest private test field inflates to tens of MB).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import pickle
import zlib
from typing import Any

MAX_INFLATED_BYTES = 512 * 2**20
MAX_VALUES = 20_000_000
MAX_DEPTH = 100
MAX_TEXT_CHARS = 2 * 2**30


class _PlainUnpickler(pickle.Unpickler):
    """Plain data only: no class, function or extension is ever looked up."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refusing a persistent id")


def inflate(data: bytes, field: str, limit: int | None = None) -> bytes:
    """zlib-decompress ``data``, refusing output over ``limit`` bytes before it is all in memory."""
    limit = MAX_INFLATED_BYTES if limit is None else limit
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, limit + 1)  # one byte past the limit tells "exactly at it" from "over it"
    if len(out) > limit:
        raise ValueError(f"field {field!r} inflates to more than {limit:,} bytes; refused")
    if not inflater.eof:
        raise ValueError(f"field {field!r}: the zlib stream is cut short")
    return out


def check_plain(value: Any, field: str, *, max_values: int | None = None, max_depth: int | None = None,
                max_chars: int | None = None) -> Any:
    """``value`` unchanged if, walked as a tree (a shared reference counts each time it is reached), it is plain
    data (str, bytes, numbers, None, lists, tuples, dicts) within the bounds; otherwise a ValueError naming
    ``field``. Iterative, so no depth raises RecursionError here."""
    max_values = MAX_VALUES if max_values is None else max_values  # read at call time: a caller may lower them
    max_depth = MAX_DEPTH if max_depth is None else max_depth
    max_chars = MAX_TEXT_CHARS if max_chars is None else max_chars
    stack: list[tuple[Any, int]] = [(value, 1)]
    values = chars = 0
    while stack:
        item, depth = stack.pop()
        values += 1
        if values > max_values:
            raise ValueError(f"field {field!r} holds more than {max_values:,} values (counting repeats); refused")
        if depth > max_depth:
            raise ValueError(f"field {field!r} is nested deeper than {max_depth} levels; refused")
        if isinstance(item, (str, bytes)):
            chars += len(item)
            if chars > max_chars:
                raise ValueError(f"field {field!r} holds more than {max_chars:,} characters of text (counting "
                                 f"repeats); refused")
        elif isinstance(item, (list, tuple)):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, dict):
            for key, child in item.items():
                stack.append((key, depth + 1))
                stack.append((child, depth + 1))
        elif not (item is None or isinstance(item, (bool, int, float))):
            raise ValueError(f"field {field!r} holds a {type(item).__name__}, which is not plain data")
    return value


def loads_json(text: str | bytes, field: str) -> Any:
    """``json.loads`` whose failures, nesting too deep included, are a ValueError naming ``field``; the result
    passes ``check_plain``."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"field {field!r} is not valid JSON ({error.msg} at column {error.colno})") from None
    except RecursionError:
        raise ValueError(f"field {field!r} is JSON nested too deeply to read; refused") from None
    return check_plain(value, field)


def unpickle_base64_zlib(text: str, field: str) -> Any:
    """base64 of zlib of a pickle, the way LiveCodeBench publishes its private tests: decoded within the bounds
    above, plain data only."""
    try:
        packed = base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"field {field!r} is not base64 ({error})") from None
    try:
        pickled = inflate(packed, field)
    except zlib.error as error:
        raise ValueError(f"field {field!r} is not zlib data ({error})") from None
    try:
        value = _PlainUnpickler(io.BytesIO(pickled)).load()
    except RecursionError:
        raise ValueError(f"field {field!r}: the pickle nests too deeply; refused") from None
    except MemoryError:
        raise ValueError(f"field {field!r}: the pickle does not fit in memory; refused") from None
    except Exception as error:  # noqa: BLE001 - the unpickler raises many types on a bad stream
        raise ValueError(f"field {field!r} is not a plain-data pickle ({type(error).__name__}: {error})") from None
    return check_plain(value, field)
