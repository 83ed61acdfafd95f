"""Atomic writes: a stage's output file or folder, keyed parts, and reading an upstream output.

A stage's output either exists whole or not at all: a crash mid-write leaves only a
``.tmp`` file behind, so a resumed round re-runs that stage instead of reading half a file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def _umask() -> int:
    """The process umask (read from /proc: setting it to read it would race with other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


@contextmanager
def atomic_path(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary name beside ``path`` to write to; renamed onto ``path`` when the block ends
    without error, deleted otherwise. ``suffix`` is for writers that pick a format by extension
    (``.png``, ``.npz``). Readers see the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, 0o644 & ~_umask())  # mkstemp makes 0600; outputs are for the whole team to audit
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> Path:
    with atomic_path(path) as temporary:
        temporary.write_text(text)
    return path


def write_parquet_atomic(table: pa.Table, path: Path) -> Path:
    with atomic_path(path) as temporary:
        pq.write_table(table, temporary)
    return path


KEY_FIELD = b"flywheel_lineage_key"  # Parquet schema metadata: what a partial output was made under


def write_parquet_keyed(table: pa.Table, key: str, path: Path) -> Path:
    """Write a part of a stage's output (a shard, a chunk) with the lineage key it was made under, so a
    rerun keeps it only while the key still holds."""
    return write_parquet_atomic(table.replace_schema_metadata({**(table.schema.metadata or {}),
                                                               KEY_FIELD: key.encode()}), path)


def keyed_chunk(folder: Path, key: str, index: int, size: int) -> tuple[Path, str]:
    """Chunk ``index`` of a stage's output cut every ``size`` items: its file and the key it is written under
    (the stage's key, the index and the size, so a rerun with another size makes its chunks again)."""
    return folder / f"chunk-{index:06d}.parquet", f"{key}|chunk {index} of {size}"


def concat_parquet(paths: list[Path], schema: pa.Schema) -> pa.Table:
    """The files' rows in order, as ``schema`` (an empty table for no files)."""
    return pa.concat_tables([read_parquet(p, schema) for p in paths]) if paths else schema.empty_table()


def written_key(path: Path) -> str | None:
    """The key a part was written under; None when there is no such file (or it has no key)."""
    if not path.exists():
        return None
    return ((pq.read_schema(path).metadata or {}).get(KEY_FIELD, b"").decode()) or None


def require_stage_output(path: Path) -> Path:
    """``path``, or the error that names it as an upstream stage's missing output."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: stage output missing; materialize the upstream stage of this round first")
    return path


def read_parquet(path: Path, schema: pa.Schema | None = None) -> pa.Table:
    require_stage_output(path)
    table = pq.read_table(path)
    return table.cast(schema) if schema is not None else table


def _remove(path: Path) -> None:
    """A folder, or a link to one (the link only)."""
    if path.is_symlink():
        path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def replace_dir_atomic(staging: Path, final: Path) -> Path:
    """Move a fully written directory into place, replacing an older one."""
    if final.exists() or final.is_symlink():
        trash = final.with_name(f".{final.name}.old")
        _remove(trash)
        os.replace(final, trash)
        os.replace(staging, final)
        _remove(trash)
    else:
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, final)
    return final


def link_dir(target: Path, link: Path) -> Path:
    """``link`` becomes a relative symbolic link to the folder ``target``, replacing what was there at once."""
    staging = link.with_name(f".{link.name}.link")
    staging.unlink(missing_ok=True)
    staging.symlink_to(os.path.relpath(target, link.parent), target_is_directory=True)
    if link.is_dir() and not link.is_symlink():
        shutil.rmtree(link)
    os.replace(staging, link)
    return link
