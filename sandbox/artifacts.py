"""What the host keeps between compiles, written only by the host and mounted read-only into the sandboxes.

- **Compiled programs** (``CompileCache``), by the exact source, language, compile command and toolchain version:
  the host writes an entry only from a clean compile's capped tar (``unpack``), and runs mount it read-only, so
  no job can change what another job runs.
- **Precompiled headers** (``precompiled_headers``): C++'s ``<bits/stdc++.h>`` (what competitive programs and
  MultiPL-E's prompts include, and what the function-test serializer includes) is precompiled once per machine
  and toolchain by the host, from the system's own header with the compile command's own flags, kept in a folder
  of the user's own under /tmp, and mounted read-only at ``/pch``, first on the include path: 0.8 s of each
  compile here was parsing it. A program that includes something else first, or the header twice, compiles as
  before: GCC reads the header itself, copied beside the precompiled one, where it cannot use that.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import io
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path

from flywheel_sandbox.languages import Language, toolchain_version


def unpack(tar_bytes: bytes, folder: Path) -> Path:
    """A compile step's tar, unpacked into ``folder``: readable and runnable by any uid, writable by none."""
    folder.chmod(0o755)
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as archive:
        archive.extractall(folder, filter="data")  # no links out of the folder, no devices, no set-uid bits
    for path in [folder, *folder.rglob("*")]:
        if path.is_symlink():
            continue
        executable = path.is_dir() or path.stat().st_mode & 0o100
        path.chmod(0o555 if executable else 0o444)
    return folder


class CompileCache:
    """Compiled programs by the exact source, language, command and toolchain version: one folder each, written by
    the host from a clean compile's tar and mounted read-only by every run. The most recent ``entries`` stay;
    the folder goes at exit."""

    def __init__(self, entries: int = 256):
        self.entries = entries
        self.root = Path(tempfile.mkdtemp(prefix="flywheel-compiled-"))
        self.root.chmod(0o755)
        self._kept: OrderedDict[str, Path] = OrderedDict()
        self._lock = threading.Lock()
        atexit.register(remove_tree, self.root)

    @staticmethod
    def key(language: Language, code: str) -> str:
        fields = [language.name, toolchain_version(language.name), *language.compile, language.source_name(code), code]
        return hashlib.sha256("\0".join(fields).encode()).hexdigest()

    def get(self, key: str) -> Path | None:
        with self._lock:
            folder = self._kept.get(key)
            if folder is not None:
                self._kept.move_to_end(key)
            return folder

    def put(self, key: str, tar_bytes: bytes) -> Path:
        staging = unpack(tar_bytes, Path(tempfile.mkdtemp(prefix="unpack-", dir=self.root)))
        with self._lock:
            if key in self._kept:  # another thread compiled the same source meanwhile
                remove_tree(staging)
                return self._kept[key]
            self._kept[key] = staging
            while len(self._kept) > self.entries:
                _, old = self._kept.popitem(last=False)
                remove_tree(old)
            return staging


_cache: CompileCache | None = None
_cache_lock = threading.Lock()


def compile_cache() -> CompileCache:
    global _cache
    with _cache_lock:
        if _cache is None:
            _cache = CompileCache()
        return _cache


_headers: dict[str, Path | None] = {}
_headers_lock = threading.Lock()


def precompiled_headers(language: Language) -> Path | None:
    """A folder holding ``language.precompiled_header`` precompiled (``<folder>/bits/stdc++.h.gch``), made by the
    host's own compiler (the /usr one every sandbox mounts) from the system header: trusted input, so outside any
    sandbox, and too big (about 100 MB) for a compile step's capped output. Made once per machine and toolchain
    (``_precompile``), looked up once per process. None when the language has none or the compiler cannot make it:
    programs then compile without it."""
    if not language.precompiled_header:
        return None
    with _headers_lock:
        if language.name not in _headers:
            _headers[language.name] = _precompile(language)
        return _headers[language.name]


def _precompile(language: Language) -> Path | None:
    """In the user's own folder of the machine's temporary files (``_precompiled_cache``), under a name keyed by the
    toolchain's version, the flags and the header: every process and every round of the machine reads one, a new
    compiler gets its own. It is built in a folder of its own and renamed into place whole, so two processes that
    race keep one, and a process killed while building leaves no half of one. Without a writable cache, a folder
    of this process's own, removed at exit."""
    compiler, flags = language.compile[0], [f for f in language.compile[1:] if f.startswith(("-std=", "-O"))]
    header = language.precompiled_header
    # where the compiler itself finds the header: ask its preprocessor (-H lists each header it opens) rather
    # than guess the target's folder
    located = subprocess.run([compiler, *flags, "-x", "c++", "-E", "-H", "-o", "/dev/null", "-"],
                             input=f"#include <{header}>\n", capture_output=True, text=True,
                             env={"PATH": "/usr/bin"}, timeout=120)
    system_header = next((line[2:].strip() for line in located.stderr.splitlines() if line.startswith(". ")), None)
    if located.returncode or system_header is None:
        return None
    key = hashlib.sha256("\0".join([toolchain_version(language.name), compiler, *flags, system_header]).encode())
    cache = _precompiled_cache()
    final = cache / f"{language.name}-{key.hexdigest()[:16]}" if cache is not None else None
    if final is not None and (final / f"{header}.gch").is_file():
        return final
    try:
        if cache is None:
            raise OSError("no cache folder of this user's own")
        for left in cache.glob(f".{final.name}-*"):  # a build killed half way, an hour or more ago
            if time.time() - left.stat().st_mtime > 3600:
                remove_tree(left)
        building = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=cache))
    except OSError:
        building = final = Path(tempfile.mkdtemp(prefix="flywheel-pch-"))
        atexit.register(remove_tree, final)
    target = building / f"{header}.gch"
    target.parent.mkdir(parents=True)
    made = subprocess.run([compiler, *flags, "-pipe", "-x", "c++-header", system_header, "-o", str(target)],
                          capture_output=True, env={"PATH": "/usr/bin"}, timeout=300)
    if made.returncode == 0:
        # The header itself beside it: GCC reads it from here where it cannot use the precompiled one (a second
        # include of <bits/stdc++.h>, which has no include guard, or one after other code), and does not search on.
        shutil.copyfile(system_header, target.with_suffix(""))
        for path in [*target.parent.iterdir(), *target.parents]:
            path.chmod(0o755 if path.is_dir() else 0o444)
            if path == building:
                break
        if building != final:
            with contextlib.suppress(OSError):  # another process put the same one there first
                os.rename(building, final)
    if building != final and building.exists():
        remove_tree(building)
    return final if (final / f"{header}.gch").is_file() else None


def _precompiled_cache() -> Path | None:
    """``<tmp>/flywheel-precompiled-<uid>``: the sandbox's uid must traverse to what it mounts, which a home folder
    (0700) does not allow. Trusted only if it is this user's own real folder that no one else can write (another
    user could have made it first, with a header of theirs in it); None otherwise."""
    folder = Path(tempfile.gettempdir()) / f"flywheel-precompiled-{os.getuid()}"
    try:
        folder.mkdir(mode=0o755, exist_ok=True)
        status = folder.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(status.st_mode) or status.st_uid != os.getuid() or status.st_mode & 0o022:
        return None
    return folder



def remove_tree(folder: Path) -> None:
    """A folder the host made read-only (an unpacked program, a precompiled header), removed."""
    for path in [folder, *folder.rglob("*")]:  # read-only folders: writable again to be removed
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)
    shutil.rmtree(folder, ignore_errors=True)
