"""The registry's order of stages is the declaration order, whichever stage module is imported first."""

from __future__ import annotations

import subprocess
import sys

ORDER = ["collect", "generate", "verify", "select", "quality", "decontaminate", "mix", "sft", "pairs", "dpo",
         "evaluate", "diversity", "round_metrics"]


def stage_order_after_importing(module: str) -> list[str]:
    code = (f"import {module}\nfrom flywheel.round import registry\n"
            "print(' '.join(s.name for s in registry.all_stages()))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_the_order_does_not_depend_on_which_stage_module_came_first():
    # a stage's module imported on its own (a test, a benchmark, a plugin) registers it first
    for first in ("flywheel.round.registry", "flywheel.stages.pairs", "flywheel.stages.round_metrics"):
        assert stage_order_after_importing(first) == ORDER, first
