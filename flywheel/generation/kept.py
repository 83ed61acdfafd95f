"""One generator handed from a round's evaluation to the next round's generation, in one process.

Round N's evaluation samples from checkpoint N, and round N+1's generation samples from the same
checkpoint: stopping the engine after one and starting it again for the other costs a `vllm serve`
start (about 27 s for the tiny model here, minutes for an 8B one) per round. So the evaluation
keeps the generator of that checkpoint (``keep``) and ``make_generator`` hands it over (``take``)
when the same checkpoint, unchanged on disk, is asked for with the same generation settings.

A kept engine holds the device, so it is kept only across the light stages in between (collect,
diversity, round_metrics: ``Stage.beside_kept_generator``). Any other stage releases it before it
starts, and so does a request for another checkpoint, the end of the block and the end of the
process. Only a runner that goes on to the next round in the same process keeps one, inside
``handing_over()`` (``flywheel demo``'s rounds); anywhere else (a Dagster step process, a test)
``keep`` closes the generator at once, as before.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

from flywheel.generation.base import close_generator

_lock = threading.Lock()
_kept: tuple[tuple, object] | None = None
_handing_over = 0  # how many handing_over() blocks are open


@contextlib.contextmanager
def handing_over() -> Iterator[None]:
    """Within the block, an evaluation keeps its generator for the next round's generation; at its end (returned,
    failed or interrupted) whatever is kept is stopped."""
    global _handing_over
    with _lock:
        _handing_over += 1
    try:
        yield
    finally:
        with _lock:
            _handing_over -= 1
        release()


def identity(checkpoint: str | Path, generation) -> tuple:
    """What must match for a kept generator to serve a request: the checkpoint's folder and its files (a
    checkpoint rewritten at the same path is another model), and every generation setting."""
    path = Path(checkpoint)
    files = ()
    if path.is_dir():
        stats = ((f.name, f.stat()) for f in path.iterdir() if f.is_file())
        files = tuple(sorted((name, stat.st_size, stat.st_mtime_ns) for name, stat in stats))
    return str(path.resolve()) if path.exists() else str(checkpoint), files, generation.model_dump_json()


def keep(checkpoint: str | Path, generation, generator) -> None:
    """Hold ``generator`` for the next request of the same checkpoint and settings (inside ``handing_over``; closed
    at once outside it); one held before is released."""
    global _kept
    if not _handing_over:
        close_generator(generator)
        return
    key = identity(checkpoint, generation)
    with _lock:
        previous, _kept = _kept, (key, generator)
    if previous is not None and previous[1] is not generator:
        close_generator(previous[1])


def take(checkpoint: str | Path, generation):
    """The kept generator if it serves this checkpoint with these settings (it is no longer kept), else None;
    a kept generator for anything else is released first, so two engines never share the device."""
    global _kept
    with _lock:
        kept, _kept = _kept, None
    if kept is None:
        return None
    if kept[0] == identity(checkpoint, generation):
        return kept[1]
    close_generator(kept[1])
    return None


def release() -> None:
    """Stop the kept generator, if any (before a stage that needs the device, and at the end of a run)."""
    global _kept
    with _lock:
        kept, _kept = _kept, None
    if kept is not None:
        close_generator(kept[1])


def kept_checkpoint() -> str | None:
    """The checkpoint folder of the kept generator (for logs and tests)."""
    with _lock:
        return None if _kept is None else _kept[0][0]


atexit.register(release)
