"""A step's stdout/stderr: captured to the stock manager's files, mirrored to the console by a thread of the run's
own process (no `tail` or watcher child per stream), the block's last line included."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_output_reaches_the_console_and_the_files_without_a_child_process(tmp_path):
    script = textwrap.dedent(f"""
        import os, sys, psutil
        from dagster_project.compute_logs import MirroredComputeLogManager
        from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager
        manager = MirroredComputeLogManager(base_dir={str(tmp_path / "storage")!r})
        with manager.capture_logs(["run", "step"]):
            print("from python", flush=True)
            os.write(1, b"from the descriptor\\n")
            os.system("echo from a child process")
            print("to stderr", file=sys.stderr, flush=True)
            print("children:", len(psutil.Process().children()), file=sys.stderr, flush=True)
            print("the last line", flush=True)
        stock = LocalComputeLogManager(base_dir={str(tmp_path / "storage")!r})  # what the UI opens
        print("complete:", stock.is_capture_complete(["run", "step"]))
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["from python", "from the descriptor", "from a child process", "the last line",
                                        "complete: True"]
    assert done.stderr.splitlines() == ["to stderr", "children: 0"]
    out = next((tmp_path / "storage").rglob("step.out")).read_text()
    assert out.splitlines() == ["from python", "from the descriptor", "from a child process", "the last line"]
