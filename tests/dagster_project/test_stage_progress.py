"""The console during flywheel run/demo: SFT's steps, streamed from the trainer through the stage's log, show in
the status line as they come (they were only in rounds/N/sft/train.log)."""

from __future__ import annotations

import io
import time

from dagster import EventLogEntry
from rich.console import Console

from dagster_project.demo import _StageProgress


def _log_line(message: str, step_key: str | None) -> EventLogEntry:
    return EventLogEntry(error_info=None, level=20, user_message=message, run_id="r", timestamp=time.time(),
                         step_key=step_key, job_name="round", dagster_event=None)


def test_sft_steps_update_the_status_line_and_other_log_lines_do_not():
    console = Console(file=io.StringIO(), force_terminal=True)
    progress = _StageProgress(console, "2")
    with console.status("round 2 · 3 stage(s) …") as status:
        progress.status = status
        progress.on_event(_log_line("step 12/40 loss 1.2345 lr 1.00e-03 2210 tok/s", "checkpoint"))
        assert str(status.status) == "round 2 · checkpoint · step 12/40 loss 1.2345 lr 1.00e-03 2210 tok/s"
        progress.on_event(_log_line("loading the tokenizer", "checkpoint"))  # not a step: the status keeps the step
        progress.on_event(_log_line("step 1/1", None))  # not from a stage
        assert str(status.status).endswith("step 12/40 loss 1.2345 lr 1.00e-03 2210 tok/s")
