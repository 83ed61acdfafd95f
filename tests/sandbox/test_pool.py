"""The pre-started pool: a job whose sandbox is lost mid-run (killed from outside, as the kernel or a loaded machine
may) runs again on a fresh slot, so the verdict is the program's, not the machine's."""

import threading
import time

import pytest

from flywheel_sandbox import Limits, SandboxPool
from flywheel_sandbox.runner import bwrap_available

pytestmark = pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not installed (make setup installs it)")


def test_a_job_whose_sandbox_is_killed_from_outside_runs_again_on_a_fresh_slot():
    with SandboxPool(workers=1, limits=Limits(wall_seconds=20, cpu_seconds=10)) as pool:
        slot = pool._slots._idle[-1][1]  # the one warm slot: the job below lands on it
        result = {}
        job = threading.Thread(target=lambda: result.update(run=pool.run(
            "import time\ntime.sleep(2)\ndef f():\n    return 1\n", "assert f() == 1\n")))
        job.start()
        time.sleep(1.0)
        slot.candidate.process.kill()  # the candidate's sandbox dies mid-job, through no fault of the program
        job.join(timeout=60)
        assert result["run"].status == "passed", result["run"]  # it was 'killed: the sandbox was lost and replaced'
        assert pool.replaced == 1
