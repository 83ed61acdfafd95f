"""Loading a public set cannot take the host down: LiveCodeBench's base64-zlib-pickle test fields, and JSON, are
decoded within bounds, and every refusal is a row error naming the file, the line and the field."""

from __future__ import annotations

import base64
import json
import pickle
import time
import zlib
from pathlib import Path

import pytest

from flywheel.prompts import untrusted_data
from flywheel.prompts.formats import PromptFormatError, load_prompts
from flywheel.prompts.untrusted_data import check_plain, inflate, loads_json, unpickle_base64_zlib

LIVECODEBENCH = Path(__file__).resolve().parents[2] / "data" / "public" / "livecodebench.jsonl"


def packed(pickled: bytes) -> str:
    return base64.b64encode(zlib.compress(pickled)).decode()


def memo_bomb(levels: int = 59) -> bytes:
    """A few hundred bytes of pickle: one test case whose input, walked as a tree (as json.dumps walks it), has
    2**levels leaves: each level is a list holding the level below twice, by memo reference."""
    out = bytearray(b"\x80\x02X\x01\x00\x00\x00aq\x00")  # PROTO 2, "a", BINPUT 0
    for level in range(1, levels + 1):
        out += b"(h" + bytes([level - 1]) + b"h" + bytes([level - 1]) + b"lq" + bytes([level])  # MARK GET GET LIST PUT
    def text(value: str) -> bytes:
        return b"X" + len(value).to_bytes(4, "little") + value.encode()
    # [{"input": <the levels>, "output": "1", "testtype": "stdin"}]: one stdin case, shaped as LiveCodeBench's
    out += b"]}(" + text("input") + b"h" + bytes([levels]) + text("output") + text("1") + text("testtype")
    return bytes(out + text("stdin") + b"ua.")


def deep_pickle(depth: int) -> bytes:
    return b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."  # EMPTY_LIST x depth, APPEND x depth-1


def zlib_bomb(mebibytes: int) -> bytes:
    """A deflate stream of ``mebibytes`` MiB of zeros in about 1 KB per MiB (full-flush blocks repeat exactly)."""
    compressor = zlib.compressobj(9)
    first = compressor.compress(bytes(2**20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(bytes(2**20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return first + block * (mebibytes - 1)


def livecodebench_file(tmp_path: Path, private_test_cases: str) -> Path:
    rows = [json.loads(line) for line in LIVECODEBENCH.read_text().splitlines()]
    rows[1]["private_test_cases"] = private_test_cases
    path = tmp_path / "lcb.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_a_600_byte_pickle_of_2_to_the_59_leaves_is_a_row_error_not_a_memory_error(tmp_path, monkeypatch):
    bomb = memo_bomb()
    assert len(bomb) < 700
    path = livecodebench_file(tmp_path, packed(bomb))
    started = time.monotonic()
    with pytest.raises(PromptFormatError, match=r"lcb\.jsonl:2: field 'private_test_cases' holds more than "
                                                r"20,000,000 values"):
        load_prompts(path)
    assert time.monotonic() - started < 60  # the walk stops at the bound (about 5 s here), not at 2**59
    monkeypatch.setattr(untrusted_data, "MAX_VALUES", 1000)
    with pytest.raises(PromptFormatError, match="more than 1,000 values"):
        load_prompts(path)


def test_a_field_that_inflates_past_the_bound_is_refused_before_it_is_inflated(tmp_path, monkeypatch):
    bomb = zlib_bomb(4096)  # 4 GiB of zeros in about 4 MB
    assert len(bomb) < 5 * 2**20
    monkeypatch.setattr(untrusted_data, "MAX_INFLATED_BYTES", 16 * 2**20)  # the default (512 MiB) takes seconds
    with pytest.raises(PromptFormatError, match=r"lcb\.jsonl:2: field 'private_test_cases' inflates to more than "
                                                r"16,777,216 bytes"):
        load_prompts(livecodebench_file(tmp_path, base64.b64encode(bomb).decode()))
    assert inflate(zlib.compress(b"x" * 100), "f", limit=100) == b"x" * 100  # exactly at the bound is fine
    with pytest.raises(ValueError, match="more than 99 bytes"):
        inflate(zlib.compress(b"x" * 100), "f", limit=99)
    with pytest.raises(ValueError, match="cut short"):
        inflate(zlib.compress(b"x" * 100)[:-6], "f")


def test_deep_nesting_is_a_named_row_error_not_a_recursion_error(tmp_path):
    with pytest.raises(PromptFormatError, match=r"lcb\.jsonl:2: field 'private_test_cases' is nested deeper than 100"):
        load_prompts(livecodebench_file(tmp_path, packed(deep_pickle(200_000))))
    deep_json = "[" * 100_000 + "]" * 100_000
    with pytest.raises(PromptFormatError, match=r"lcb\.jsonl:2: field 'private_test_cases' is JSON nested too deeply"):
        load_prompts(livecodebench_file(tmp_path, packed(pickle.dumps(deep_json))))
    path = tmp_path / "deep.jsonl"
    path.write_text(json.dumps({"instruction": "hi", "domain": "general"}) + "\n" + deep_json + "\n")
    with pytest.raises(PromptFormatError, match=r"deep\.jsonl:2: JSON nested too deeply"):
        load_prompts(path)


def test_only_plain_data_comes_out_of_a_pickle():
    for refused in (pickle.dumps(Path("/etc/passwd")), pickle.dumps({1, 2}), pickle.dumps(range(3)),
                    b"\x80\x02P1\n."):  # a class, a set (a builtin lookup), a range, a persistent id
        with pytest.raises(ValueError, match="field 'private_test_cases'"):
            unpickle_base64_zlib(packed(refused), "private_test_cases")
    plain = [{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]
    assert unpickle_base64_zlib(packed(pickle.dumps(json.dumps(plain))), "f") == json.dumps(plain)
    assert unpickle_base64_zlib(packed(pickle.dumps(plain)), "f") == plain
    with pytest.raises(ValueError, match="not base64|not zlib"):
        unpickle_base64_zlib("%%%not base64%%%", "f")


def test_repeated_text_counts_every_time_it_is_reached():
    line = "x" * 2**20
    shared = [line] * 1000  # 1000 references to one 1 MiB string: 1 GB once written out
    with pytest.raises(ValueError, match="more than 100,000,000 characters"):
        check_plain(shared, "f", max_chars=10**8)
    assert check_plain(shared[:10], "f", max_chars=10**8) is not None
    with pytest.raises(ValueError, match="nested deeper than 3"):
        check_plain([[[[1]]]], "f", max_depth=3)
    with pytest.raises(ValueError, match="field 'f' is not valid JSON"):
        loads_json("[1,", "f")
