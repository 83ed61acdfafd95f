"""A DeepSpeed op build killed half-way leaves torch's baton file; no later SFT may wait on it forever."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from flywheel.sft.comm_op import clear_stale_baton

ROOT = Path(__file__).resolve().parents[3]


def test_a_baton_nothing_touches_is_removed_and_a_live_build_is_waited_for(tmp_path):
    (tmp_path / "shm.o").write_bytes(b"")
    (tmp_path / "lock").write_bytes(b"")
    old = time.time() - 600
    for path in tmp_path.iterdir():
        os.utime(path, (old, old))
    clear_stale_baton(tmp_path, stale_seconds=120)
    assert not (tmp_path / "lock").exists()

    (tmp_path / "lock").write_bytes(b"")  # a live build: it just wrote its files, and ends in a second
    ended = threading.Timer(1.0, lambda: (tmp_path / "lock").unlink())
    ended.start()
    started = time.monotonic()
    clear_stale_baton(tmp_path, stale_seconds=120)
    assert time.monotonic() - started >= 0.9  # waited for it rather than deleting it
    ended.join()


def test_deepspeeds_init_goes_on_after_a_killed_build_left_its_baton(tmp_path):
    # the real op and torch's real baton file; torch alone would wait on it forever
    child = textwrap.dedent("""
        import os, time
        from flywheel.sft import comm_op
        folder = comm_op.build_directory()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "lock").write_bytes(b"")
        old = time.time() - 3600
        os.utime(folder / "lock", (old, old))
        comm_op.STALE_SECONDS = 5.0  # the op was built at setup, minutes ago
        print(comm_op.build_ahead(), (folder / "lock").exists())
    """)
    done = subprocess.run([sys.executable, "-c", child], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=rank_environment())
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "False"


def rank_environment() -> dict:
    """The environment flywheel.sft.trainer_process gives an SFT rank (its PATH names one ninja): a process loading the op
    with any other PATH may take the build for stale and rebuild it (70 s), which is not what these tests test."""
    from flywheel.config import SFTConfig
    from flywheel.sft.trainer_process import launch_command

    return launch_command(Path("spec.json"), SFTConfig(), port=0)[1]



def _load_op(path_variable: str, monkeypatch) -> str:
    """Load the op in a fresh process with the environment a round's SFT rank gets (flywheel.sft.trainer_process) when
    flywheel itself was started with PATH=``path_variable``; returns the op's file and its mtime."""
    monkeypatch.setenv("PATH", path_variable)
    env = rank_environment()
    child = textwrap.dedent("""
        import os
        from flywheel.sft import comm_op
        folder = comm_op.build_ahead()
        op = next(p for p in os.listdir(folder) if p.endswith(".so"))
        print(os.path.join(folder, op), os.stat(os.path.join(folder, op)).st_mtime_ns)
    """)
    done = subprocess.run([sys.executable, "-c", child], cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split("\n")[-2]


def test_one_ninja_first_whichever_path_started_the_process():
    from flywheel.sft.comm_op import ninja_first_path

    venv_bin = str(Path(sys.executable).parent)
    pinned = ninja_first_path(f"/usr/bin{os.pathsep}/bin{os.pathsep}{venv_bin}")
    first = pinned.split(os.pathsep)[0]
    if (Path(venv_bin) / "ninja").exists():
        assert first == venv_bin
    assert (Path(first) / "ninja").exists()
    assert pinned.split(os.pathsep).count(first) == 1  # moved, not added twice
    assert ninja_first_path(pinned) == pinned


def test_a_second_sft_started_from_another_path_does_not_rebuild_the_op(monkeypatch):
    # Debian's ninja first, then the venv's first: before the pin, each took the other's build as stale (33 s)
    venv_bin = str(Path(sys.executable).parent)
    first = _load_op(f"/usr/local/bin{os.pathsep}/usr/bin{os.pathsep}/bin{os.pathsep}{venv_bin}", monkeypatch)
    second = _load_op(f"{venv_bin}{os.pathsep}/usr/local/bin{os.pathsep}/usr/bin{os.pathsep}/bin", monkeypatch)
    third = _load_op(f"/usr/bin{os.pathsep}/bin", monkeypatch)
    assert first == second == third, (first, second, third)
    from flywheel.sft.comm_op import extensions_folder

    assert first.startswith(str(extensions_folder())), first  # this interpreter's own folder


def test_each_interpreter_builds_the_op_in_its_own_folder_and_a_set_folder_is_kept(tmp_path, monkeypatch):
    # Two checkouts' venvs shared torch's one extensions folder and rebuilt each other's op (their build
    # commands name their own include paths): each interpreter now has its own folder under the cache.
    from flywheel.sft.comm_op import extensions_folder, op_environment

    other = tmp_path / "other-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(other)], check=True, timeout=120)
    # the module by its file (its top level is the standard library): the bare venv has none of flywheel's deps
    probe = ("import importlib.util, sys; spec = importlib.util.spec_from_file_location('comm_op', sys.argv[1]); "
             "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module); "
             "print(module.extensions_folder())")
    module_file = str(ROOT / "flywheel" / "sft" / "comm_op.py")
    theirs = subprocess.run([str(other / "bin" / "python"), "-c", probe, module_file], capture_output=True,
                            text=True, timeout=120, check=True).stdout.strip()
    ours = subprocess.run([sys.executable, "-c", probe, module_file], capture_output=True, text=True, timeout=120,
                          check=True).stdout.strip()
    assert ours == str(extensions_folder()) and theirs != ours
    assert Path(theirs).parent == Path(ours).parent  # both under the user's torch_extensions cache
    monkeypatch.delenv("TORCH_EXTENSIONS_DIR", raising=False)
    assert rank_environment()["TORCH_EXTENSIONS_DIR"] == ours  # what a round's SFT rank gets
    assert op_environment({"PATH": "/usr/bin", "TORCH_EXTENSIONS_DIR": "/mine"})["TORCH_EXTENSIONS_DIR"] == "/mine"
