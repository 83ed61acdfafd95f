"""The marker is the one record that a stage ran: its key, what it consumed, and the output it wrote. An output removed
or replaced after the stage ran makes it out of date, and the next stage refuses it by name."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pytest

from flywheel.records.files import write_parquet_atomic
from flywheel.round import lineage
from flywheel.round.layout import RoundPaths


def write_prompts(config, ids: list[str]) -> None:
    write_parquet_atomic(pa.table({"id": ids}), RoundPaths(config.workdir, 1).prompts)


def test_a_stage_is_fresh_while_its_output_is_the_one_it_wrote(small_config):
    write_prompts(small_config, ["a", "b"])
    lineage.record(small_config, 1, "collect")
    assert lineage.freshness(small_config, 1, "collect") == (True, "")
    marker = lineage.read_marker(small_config, 1, "collect")
    assert marker["output"] == lineage.output_fingerprint(RoundPaths(small_config.workdir, 1).prompts)

    write_prompts(small_config, ["a", "c"])  # another run's rows, same size
    fresh, why = lineage.freshness(small_config, 1, "collect")
    assert not fresh and why.endswith("prompts.parquet was replaced since it ran")
    with pytest.raises(lineage.StaleInput, match="generate of round 1 refuses stale input: collect of round 1 is out "
                                                 "of date: its output .*prompts.parquet was replaced"):
        lineage.check_inputs(small_config, 1, "generate")

    RoundPaths(small_config.workdir, 1).prompts.unlink()
    assert lineage.freshness(small_config, 1, "collect")[1].endswith("prompts.parquet went missing since it ran")


def test_a_copied_workdir_keeps_its_stages_fresh(small_config, tmp_path):
    write_prompts(small_config, ["a", "b"])
    lineage.record(small_config, 1, "collect")
    copy = tmp_path / "copy"
    shutil.copytree(small_config.workdir, copy)  # new mtimes: the fingerprint reads sizes and bytes, not times
    moved = small_config.model_copy(update={"workdir": copy})
    assert lineage.freshness(moved, 1, "collect") == (True, "")


def test_a_stage_whose_output_is_rows_alone_records_none_and_a_folder_is_each_of_its_files(small_config):
    assert lineage.output_path(small_config, 1, "round_metrics") is None
    checkpoint = lineage.output_path(small_config, 1, "sft")
    checkpoint.mkdir(parents=True)
    (checkpoint / "config.json").write_text("{}")
    before = lineage.output_fingerprint(checkpoint)
    (checkpoint / "model.safetensors").write_bytes(b"weights")
    assert lineage.output_fingerprint(checkpoint) != before
    assert lineage.output_fingerprint(checkpoint / "absent") == "missing"
