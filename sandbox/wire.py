"""Frames and plain values: the only things that cross between candidate, judge and host.

Standard library only: this module is copied into the sandboxes. A frame is a 4-byte
big-endian length and a UTF-8 JSON document. Values are encoded with exact-type checks
and rebuilt by ``decode`` from JSON data alone, so the side that decodes never holds an
object the other side made: a metaclass, an ``int`` subclass or an object whose
arithmetic lies cannot cross. Plain values are None, bool, int, float, complex, str, bytes, and
lists, tuples, dicts, sets and frozensets of them. Anything else travels as a *handle*
(an id on the sending side) that the receiver may only call methods on, never compare.
"""

import base64
import json
import os
import select
import struct
import time

MAX_FRAME = 64 << 20
MAX_DEPTH = 100
_HEADER = struct.Struct(">I")


class Unplain(TypeError):
    """A value that is not plain data and may not cross."""


class FrameError(OSError):
    """The peer sent something that is not a frame, or went away, or missed the deadline."""


_BASES = ((dict, lambda v: dict(dict.items(v))), (list, lambda v: list(list.__iter__(v))),
          (tuple, lambda v: tuple(tuple.__iter__(v))), (frozenset, lambda v: frozenset(frozenset.__iter__(v))),
          (set, lambda v: set(set.__iter__(v))), (int, int.__int__), (float, float.__float__),
          (str, str.__str__), (bytes, lambda v: bytes(memoryview(v))),
          (complex, lambda v: complex(complex.__complex__(v))))


def encode(value, handle_of=None, depth=0, budget=None):
    """JSON-ready data for a plain ``value``; non-plain values become handles via ``handle_of`` or raise Unplain.

    ``budget``, a one-item list, bounds the nodes encoded (a value that shares one list many times over grows
    exponentially as data): past it, Unplain.
    """
    if depth > MAX_DEPTH:
        raise Unplain("value nested more than %d deep" % MAX_DEPTH)
    if budget is not None:
        budget[0] -= 1
        if budget[0] < 0:
            raise Unplain("value too large to cross as plain data")
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return value
    if kind is int:
        return {"i": str(value)} if abs(value) >= 1 << 53 else value
    if kind is float:
        return {"f": value.hex()}
    if kind is complex:
        return {"c": [value.real.hex(), value.imag.hex()]}
    if kind is bytes:
        return {"b": base64.b64encode(value).decode("ascii")}
    if kind is list:
        return [encode(item, handle_of, depth + 1, budget) for item in value]
    if kind is tuple:
        return {"t": [encode(item, handle_of, depth + 1, budget) for item in value]}
    if kind is set or kind is frozenset:
        return {"s" if kind is set else "fs": [encode(item, handle_of, depth + 1, budget) for item in value]}
    if kind is dict:
        return {"d": [[encode(k, handle_of, depth + 1, budget), encode(v, handle_of, depth + 1, budget)] for k, v in value.items()]}
    if kind.__module__ == "fractions" and kind.__name__ == "Fraction":
        return {"fr": [str(value.numerator), str(value.denominator)]}
    if kind.__module__ == "decimal" and kind.__name__ == "Decimal":
        return {"dec": str(value)}
    # Subclasses of plain types (Counter, defaultdict, OrderedDict, namedtuples, IntEnum, StrEnum) cross as
    # their base value, read through the base type's own methods; the receiver compares only what it rebuilt.
    for base, to_plain in _BASES:
        if isinstance(value, base):
            return encode(to_plain(value), handle_of, depth, budget)
    if handle_of is not None:
        return {"h": handle_of(value)}
    raise Unplain("a value of type %s cannot cross as plain data" % kind.__name__)


def decode(data, make_handle=None, depth=0):
    """The plain value that ``data`` describes, built here; raises ValueError for anything else."""
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply")
    kind = type(data)
    if data is None or kind is bool or kind is str or kind is int:
        return data
    if kind is list:
        return [decode(item, make_handle, depth + 1) for item in data]
    if kind is dict and len(data) == 1:
        (tag, inner), = data.items()
        if tag == "i" and type(inner) is str and len(inner) < 100_000:
            return int(inner)
        if tag == "f" and type(inner) is str:
            return float.fromhex(inner)
        if tag == "c" and type(inner) is list and len(inner) == 2 and all(type(x) is str for x in inner):
            return complex(float.fromhex(inner[0]), float.fromhex(inner[1]))
        if tag == "b" and type(inner) is str:
            return base64.b64decode(inner, validate=True)
        if tag in ("t", "s", "fs") and type(inner) is list:
            items = [decode(item, make_handle, depth + 1) for item in inner]
            return tuple(items) if tag == "t" else set(items) if tag == "s" else frozenset(items)
        if tag == "d" and type(inner) is list:
            result = {}
            for pair in inner:
                if type(pair) is not list or len(pair) != 2:
                    raise ValueError("malformed dict entry")
                result[decode(pair[0], make_handle, depth + 1)] = decode(pair[1], make_handle, depth + 1)
            return result
        if tag == "fr" and type(inner) is list and len(inner) == 2 and all(type(x) is str for x in inner):
            import fractions

            return fractions.Fraction(int(inner[0][:100_000]), int(inner[1][:100_000]))
        if tag == "dec" and type(inner) is str and len(inner) < 100_000:
            import decimal

            return decimal.Decimal(inner)
        if tag == "h" and make_handle is not None and type(inner) is list and len(inner) == 2:
            return make_handle(inner)
    raise ValueError("not a plain value")


def read_all(fd):
    """Everything in ``fd`` up to its end (a job's program or tests, passed as a memfd); closes it."""
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def send(fd, message):
    data = json.dumps(message, separators=(",", ":")).encode("utf-8")
    if len(data) > MAX_FRAME:
        raise FrameError("frame of %d bytes is over the limit" % len(data))
    data = _HEADER.pack(len(data)) + data
    while data:
        data = data[os.write(fd, data):]


def _read_exact(fd, size, deadline):
    chunks, need = [], size
    while need:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FrameError("deadline passed")
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                raise FrameError("deadline passed")
        chunk = os.read(fd, min(need, 1 << 20))
        if not chunk:
            raise FrameError("peer closed the channel")
        chunks.append(chunk)
        need -= len(chunk)
    return b"".join(chunks)


def recv(fd, deadline=None):
    """One JSON frame from ``fd``; ``deadline`` is a time.monotonic() value or None to wait forever."""
    (size,) = _HEADER.unpack(_read_exact(fd, 4, deadline))
    if size > MAX_FRAME:
        raise FrameError("frame of %d bytes is over the limit" % size)
    try:
        return json.loads(_read_exact(fd, size, deadline).decode("utf-8"))
    except (ValueError, RecursionError) as error:
        raise FrameError("malformed frame: %s" % type(error).__name__) from None
