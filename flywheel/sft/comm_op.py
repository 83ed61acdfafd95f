"""DeepSpeed's CPU collective op, built and loaded so that a killed build can never hang a later SFT.

On the CPU accelerator ``deepspeed.init_distributed`` JIT-compiles its shared-memory collective
(``deepspeed_shm_comm``, 70-80 s the first time, then cached under torch's extensions folder).
torch guards the build with a FileBaton: a lock *file*, created with O_EXCL and deleted when the
build ends. A process killed inside that window (a round killed mid-SFT; the crash tests do it)
leaves the file behind, and every later init waits on it forever: the rerun's SFT hung until its
timeout. Here the op is built and loaded before the init, under an ``flock`` (the kernel releases it
when its holder dies), so no two flywheel processes build at once; a baton file found while holding it belongs to a killed
build, or to a build outside flywheel (which writes its files as it goes): it is removed once
nothing in the folder has changed for STALE_SECONDS. ``python -m flywheel.sft.comm_op`` builds the
op ahead (scripts/setup.sh), so a round's SFT only loads it.

torch runs whichever ``ninja`` is first on PATH, and a machine may have two (Debian's 1.11 in /usr/bin
and the venv's 1.13 from PyPI) whose build logs hash commands differently: each takes the other's
build as stale, so processes started with and without the venv's bin/ on PATH rebuilt the op in turn
(18 rebuilds of 25-88 s in 73 minutes on one machine). ``ninja_first_path`` puts one ninja first, the
one beside this interpreter when there is one, on the PATH of every process that builds or loads it.

torch's extensions folder is one per user (``~/.cache/torch_extensions``), and an op built by one virtualenv
carries that venv's include paths in its build commands: two checkouts on one machine (a work tree and a CI
clone) rebuilt each other's op in turn, 17 s each time, 5 times in 70 minutes here. ``op_environment`` gives each
interpreter its own folder under it (unless TORCH_EXTENSIONS_DIR is set), beside the pinned PATH.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

OP_BUILDER = "ShareMemCommBuilder"
STALE_SECONDS = 120.0  # longer than the build's quietest stretch (one source file compiles in ~40 s)


def build_directory() -> Path | None:
    """Where torch builds the op (TORCH_EXTENSIONS_DIR or its default), or None when the accelerator has none."""
    from deepspeed.accelerator import get_accelerator
    from torch.utils.cpp_extension import _get_build_directory

    builder = get_accelerator().create_op_builder(OP_BUILDER)
    if builder is None:
        return None
    return Path(_get_build_directory(builder.NAME, verbose=False))


@contextlib.contextmanager
def op_build_guard() -> Iterator[None]:
    """Hold the build's flock, with any baton file a killed build left removed, for the block."""
    folder = build_directory()
    if folder is None:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{folder.name}.flywheel.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)  # released by the kernel if this process dies
        clear_stale_baton(folder, STALE_SECONDS)
        yield


def clear_stale_baton(folder: Path, stale_seconds: float = STALE_SECONDS) -> None:
    """Wait out a live build's baton; remove one that nothing has touched for ``stale_seconds``."""
    baton = folder / "lock"
    while baton.exists():
        if time.time() - _newest_change(folder) > stale_seconds:
            baton.unlink(missing_ok=True)
            return
        time.sleep(1.0)


def _newest_change(folder: Path) -> float:
    newest = 0.0
    for path in folder.iterdir():
        with contextlib.suppress(FileNotFoundError):
            newest = max(newest, path.stat().st_mtime)
    return newest


def init_distributed(backend: str) -> None:
    """``deepspeed.init_distributed`` with the op built and loaded first, under the guard. The rendezvous itself
    runs outside it: it waits for every rank, and the other ranks would be waiting for the lock."""
    import deepspeed

    build_ahead()  # DeepSpeed keeps loaded ops per process: the init below finds it loaded, no baton taken
    deepspeed.init_distributed(dist_backend=backend)


def ninja_first_path(path: str) -> str:
    """``path`` (a PATH value) with one ninja's folder first: the interpreter's own (the venv's bin/) when it has
    one, else the first ninja on ``path``. Every process that builds or loads the op gets this PATH
    (flywheel.sft.trainer_process for the ranks, ``__main__`` below for setup's build ahead), so one ninja checks the log."""
    beside = Path(sys.executable).parent / "ninja"  # not resolved: the venv's bin/, not the base interpreter's
    found = str(beside) if os.access(beside, os.X_OK) else shutil.which("ninja", path=path)
    if found is None:
        return path
    folder = str(Path(found).parent)
    rest = [entry for entry in path.split(os.pathsep) if entry and entry != folder]
    return os.pathsep.join([folder, *rest])


def extensions_folder() -> Path:
    """This interpreter's own torch extensions folder: ``~/.cache/torch_extensions/<its prefix's hash>``."""
    prefix = hashlib.sha256(str(Path(sys.prefix).resolve()).encode()).hexdigest()[:12]
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "torch_extensions" / f"flywheel-{prefix}"


def op_environment(env: dict) -> dict:
    """``env`` with what every process that builds or loads the op needs: one ninja first on PATH, and this
    interpreter's own extensions folder (a TORCH_EXTENSIONS_DIR already set is kept)."""
    return {**env, "PATH": ninja_first_path(env.get("PATH", "")),
            "TORCH_EXTENSIONS_DIR": env.get("TORCH_EXTENSIONS_DIR") or str(extensions_folder())}


def build_ahead() -> str:
    """Build (or find) the op now, outside any round; returns where it lives."""
    from deepspeed.accelerator import get_accelerator

    builder = get_accelerator().create_op_builder(OP_BUILDER)
    if builder is None:
        return "no shared-memory op for this accelerator"
    with op_build_guard():
        builder.load(verbose=False)
    return str(build_directory())


if __name__ == "__main__":
    wanted = op_environment(dict(os.environ))
    if any(os.environ.get(name) != wanted[name] for name in ("PATH", "TORCH_EXTENSIONS_DIR")):
        # build with the environment a round's ranks will have
        os.execve(sys.executable, [sys.executable, "-m", "flywheel.sft.comm_op"], wanted)
    print(f"deepspeed_shm_comm: {build_ahead()}")
