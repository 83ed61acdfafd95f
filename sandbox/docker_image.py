"""The docker backend's image, built offline from this machine's system Python (no registry needed).

``sandbox/Dockerfile`` builds the same image from ``python:3.11-slim`` where a registry can
be reached. Where none can (these machines, an air-gapped cluster), ``build_image`` packs the
interpreter the bwrap backend already runs (``/usr/bin/python3``), its standard library and
the shared libraries it and its extension modules link, with an ``/etc/passwd`` that names
nobody, into a root filesystem tarball and imports it with ``docker import``: the image
holds nothing else (no shell, no package manager, no pip).

    python -m flywheel_sandbox docker-image [--tag flywheel-sandbox:latest]
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tarfile
from pathlib import Path

from flywheel_sandbox.bwrap import SYSTEM_PYTHON
from flywheel_sandbox.docker_backend import IMAGE

_LDD_PATH = re.compile(r"(/\S+) \(0x")
_SKIP = re.compile(r"/(?:test|tests|idlelib|tkinter|turtledemo|ensurepip|lib2to3|__pycache__)(?:/|$)")


def _system_stdlib() -> Path:
    found = subprocess.run([SYSTEM_PYTHON, "-I", "-S", "-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"],
                           capture_output=True, text=True, check=True)
    return Path(found.stdout.strip())


def _libraries(binaries: list[Path]) -> set[Path]:
    """Every shared library the binaries load, as ldd resolves it (the dynamic loader included)."""
    found: set[Path] = set()
    for binary in binaries:
        listed = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
        for match in _LDD_PATH.finditer(listed.stdout):
            found.add(Path(match.group(1)))
    return found


def _add_file(archive: tarfile.TarFile, path: Path, name: str | None = None) -> None:
    real = path.resolve()
    info = archive.gettarinfo(str(real), arcname=(name or str(path)).lstrip("/"))
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    with open(real, "rb") as handle:
        archive.addfile(info, handle)


def _add_dir(archive: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name.lstrip("/"))
    info.type, info.mode = tarfile.DIRTYPE, mode
    archive.addfile(info)


def rootfs_tar() -> bytes:
    """The image's root filesystem: the system Python, its standard library and their shared libraries."""
    stdlib = _system_stdlib()
    python = Path(SYSTEM_PYTHON)
    extensions = sorted((stdlib / "lib-dynload").glob("*.so"))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for folder in ("/usr", "/usr/bin", "/usr/lib", "/etc", "/tmp", "/work", "/link", "/results"):
            _add_dir(archive, folder, 0o1777 if folder in ("/tmp", "/work") else 0o755)
        _add_file(archive, python, "/usr/bin/python3")
        for library in sorted(_libraries([python.resolve(), *extensions])):
            _add_file(archive, library)
            if str(library).startswith("/lib"):  # the loader looks in /lib64 and /lib/<triplet> too
                _add_file(archive, library, "/usr" + str(library))
        for path in sorted(stdlib.rglob("*")):
            if path.is_file() and not _SKIP.search(str(path.relative_to(stdlib))) and not path.name.endswith(".pyc"):
                _add_file(archive, path)
        passwd = b"root:x:0:0:root:/root:/nonexistent\nnobody:x:65534:65534:nobody:/nonexistent:/nonexistent\n"
        for name, data in (("etc/passwd", passwd), ("etc/group", b"root:x:0:\nnogroup:x:65534:\n")):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def build_image(tag: str = IMAGE) -> str:
    """``docker import`` the root filesystem as ``tag``, running as nobody in /work; returns the image id."""
    done = subprocess.run(["docker", "import", "--change", "USER 65534:65534", "--change", "WORKDIR /work",
                           "--change", "ENV PATH=/usr/bin", "-", tag], input=rootfs_tar(), capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"docker import failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout.decode().strip()


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m flywheel_sandbox docker-image")
    parser.add_argument("--tag", default=IMAGE)
    args = parser.parse_args(argv)
    print(build_image(args.tag))
    return 0


if __name__ == "__main__":
    sys.exit(main())
