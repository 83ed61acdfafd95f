"""The only things that cross between candidate, judge and host: plain values and length-prefixed frames.
In-process and fast; test_link.py attacks the same code through real sandboxes."""

from __future__ import annotations

import collections
import decimal
import fractions
import os
import time

import pytest

from flywheel_sandbox.wire import FrameError, Unplain, decode, encode, recv, send
from flywheel_sandbox.worker import frames, valid_text

PLAIN = [None, True, 0, -(1 << 80), 0.1, float("inf"), complex(1.5, -2), "é\n", b"\x00\xff", [1, [2]], (1, "a"), {1, 2},
         frozenset({"x"}), {"k": (1, 2), 3: None}, fractions.Fraction(1, 3), decimal.Decimal("1.10")]


@pytest.mark.parametrize("value", PLAIN, ids=repr)
def test_plain_values_come_back_equal_and_of_the_same_type(value):
    back = decode(encode(value))
    assert back == value and type(back) is type(value)


class LyingInt(int):
    def __eq__(self, other):  # an answer that equals everything
        return True

    __hash__ = int.__hash__


def test_a_subclass_crosses_as_its_plain_base_and_loses_its_methods():
    back = decode(encode(LyingInt(3)))
    assert type(back) is int and back == 3 and back != 4
    assert decode(encode(collections.Counter("aab"))) == {"a": 2, "b": 1}


def test_what_is_not_plain_is_refused_or_sent_as_a_handle():
    with pytest.raises(Unplain, match="object"):
        encode(object())
    assert encode(object(), handle_of=lambda value: ["h", 7]) == {"h": ["h", 7]}
    shared = [1]
    for _ in range(40):  # shared 2**40 times over as data
        shared = [shared, shared]
    with pytest.raises(Unplain, match="too large"):
        encode(shared, budget=[10_000])
    deep: list = []
    for _ in range(200):
        deep = [deep]
    with pytest.raises(Unplain, match="nested"):
        encode(deep)


@pytest.mark.parametrize("data", [{"h": [1, 2]}, {"x": 1}, {"i": "1" * 200_000}, {"d": [[1]]}, 1.5],
                         ids=["handle-without-maker", "unknown-tag", "huge-int", "bad-dict", "bare-float"])
def test_decoding_accepts_nothing_but_the_encodings(data):
    with pytest.raises(ValueError):
        decode(data)


def test_frames_cross_a_pipe_and_a_bad_peer_is_a_frame_error():
    read, write = os.pipe()
    try:
        send(write, {"kind": "result", "value": [1, 2]})
        assert recv(read, time.monotonic() + 5) == {"kind": "result", "value": [1, 2]}
        os.write(write, (5).to_bytes(4, "big") + b"{]")  # a short, malformed frame
        with pytest.raises(FrameError, match="deadline"):
            recv(read, time.monotonic() + 0.3)
        os.write(write, (1 << 30).to_bytes(4, "big"))
        with pytest.raises(FrameError, match="over the limit"):
            recv(read, time.monotonic() + 5)
        os.close(write)
        write = -1
        with pytest.raises(FrameError, match="closed"):
            recv(read, time.monotonic() + 5)
    finally:
        os.close(read)
        if write >= 0:
            os.close(write)


def test_the_host_reads_a_jobs_event_stream_up_to_its_first_bad_frame_and_repairs_text():
    good = b'{"kind": "stdout", "text": "a\\ud800b"}'
    stream = len(good).to_bytes(4, "big") + good + (3).to_bytes(4, "big") + b"{{{" + len(good).to_bytes(4, "big") + good
    assert frames(stream) == [{"kind": "stdout", "text": "a\ufffdb"}]  # nothing after a torn frame is trusted
    assert frames(b'\x00\x00\x00\x02[]') == []  # not an event
    assert valid_text({"k\udc00": ["\ud83d"]}) == {"k\ufffd": ["\ufffd"]}
