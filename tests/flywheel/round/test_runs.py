"""A stage's bookkeeping: after a stage, what its process freed goes back to the system (flywheel run and the
demo run every stage in one process)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

FREED_BUT_KEPT = """
import psutil
from flywheel.round.runs import return_freed_memory
rss = lambda: psutil.Process().memory_info().rss >> 20
blocks = [bytes(1000) + bytes([i % 256]) for i in range(200_000)]  # ~200 MB of malloc'd blocks
last = blocks[-1]  # the newest block stays: glibc cannot shrink its heap past it
del blocks
kept = rss()
return_freed_memory()
print(kept, rss())
"""


def test_what_a_stage_freed_goes_back_to_the_system():
    done = subprocess.run([sys.executable, "-c", FREED_BUT_KEPT], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=True)
    kept, after = map(int, done.stdout.split())
    assert kept - after > 100, (kept, after)  # MB: freed without the trim, the heap kept it


def test_every_recorded_stage_returns_what_it_freed(selected_round_copy, monkeypatch):
    from flywheel.round import runs as stage_runs
    from flywheel.stages.quality import curate

    config, store = selected_round_copy
    calls = []
    monkeypatch.setattr(stage_runs, "return_freed_memory", lambda: calls.append(1))
    curate(config, 1, store)  # any stage: each runs through run_recorded
    assert calls == [1]


def test_a_stage_run_again_counts_its_runs(selected_round_copy):
    from flywheel.stages.quality import curate

    config, store = selected_round_copy
    curate(config, 1, store)
    curate(config, 1, store)  # the same inputs, run again: one row, which says it ran twice
    assert store.query("SELECT runs FROM stage_runs WHERE round = 1 AND stage = 'quality'")[1] == [(2,)]
