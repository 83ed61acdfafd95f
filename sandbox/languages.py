"""The languages other than Python that the sandbox compiles and runs: each one's toolchain, in one table.

Every toolchain comes from Debian's packages (scripts/setup.sh installs them) and lives under /usr,
which every sandbox mounts read-only. A language names the file its source is written to, the
command that compiles it (none for an interpreted language) and the command that runs what came
out. Commands run inside the sandbox: the source is at ``/src/<source>``, a compiler writes to
``/work/out``, and the run finds that folder at ``/prog``. Caches a toolchain keeps (Go's build
cache) point into the job's own ``/tmp``, a tmpfs that dies with the job, so none leaks to the next.

``{memory_mb}`` in a command is the job's memory limit in MiB: the JVM and node size their heaps by it,
since both reserve more address space than they use and are bounded by the job's cgroup instead.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from functools import cache

# MultiPL-E's Java prompts import org.javatuples (Debian's libjavatuples-java); a missing jar is skipped by both tools.
JAVATUPLES = "/usr/share/java/javatuples.jar"
# tsc type-checks against the ambient declarations it is given: a program reads input through node's
# require('fs') and process, which Debian's typescript package does not declare (no @types/node). It compiles
# against the ES2020 lib alone, without the DOM's (half of tsc's time here), so node's console, Buffer and
# timers are declared here too.
NODE_AMBIENT = ("declare var require: any;\ndeclare var process: any;\ndeclare var module: any;\n"
                "declare var console: any;\ndeclare var Buffer: any;\n"
                "declare function setTimeout(callback: (...args: any[]) => void, ms?: number, ...args: any[]): any;\n"
                "declare function setInterval(callback: (...args: any[]) => void, ms?: number, ...args: any[]): any;\n"
                "declare function clearTimeout(handle: any): void;\ndeclare function clearInterval(handle: any): void;\n")


@dataclass(frozen=True)
class Language:
    name: str
    names: tuple[str, ...]  # how prompts, code fences and configs spell it (the name first)
    source: str  # the file the program is written to; Java's is its public class's, see source_name
    run: tuple[str, ...]
    compile: tuple[str, ...] = ()  # empty: interpreted, the source itself is what runs
    version: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    address_space_limit: bool = True  # RLIMIT_AS holds (native code); a runtime that reserves more is bounded by
    # the cgroup's memory limit alone
    precompiled_header: str = ""  # a system header the host precompiles once with the compile's own flags
    # (flywheel_sandbox.artifacts.precompiled_headers); the compiler finds it at /pch before the system's

    def source_name(self, code: str) -> str:
        if self.name == "java":  # javac wants a public class in a file of its name
            found = re.search(r"\bpublic\s+(?:final\s+|abstract\s+)*class\s+([A-Za-z_$][\w$]*)", code)
            return f"{found.group(1) if found else 'Main'}.java"
        return self.source

    def main_class(self, code: str) -> str:
        return self.source_name(code).removesuffix(".java")


LANGUAGES: dict[str, Language] = {language.name: language for language in (
    Language("cpp", ("cpp", "c++", "cc", "cxx"), "main.cpp", ("/prog/main",),
             compile=("g++", "-std=c++17", "-O2", "-pipe", "-o", "/work/out/main", "/src/main.cpp"),
             version=("g++", "--version"), precompiled_header="bits/stdc++.h"),
    Language("c", ("c",), "main.c", ("/prog/main",),
             compile=("gcc", "-std=gnu17", "-O2", "-pipe", "-o", "/work/out/main", "/src/main.c", "-lm"),
             version=("gcc", "--version")),
    Language("java", ("java",), "Main.java",
             ("java", "-Xmx{memory_mb}m", "-Xss64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
              "-XX:-UsePerfData", "-Xshare:auto", "-cp", f"/prog:{JAVATUPLES}", "{main_class}"),
             compile=("javac", "-J-Xmx512m", "-J-XX:+UseSerialGC", "-J-XX:TieredStopAtLevel=1", "-J-XX:-UsePerfData",
                      "-encoding", "UTF-8", "-cp", JAVATUPLES, "-d", "/work/out", "/src/{source}"),
             version=("javac", "-version"), address_space_limit=False),
    Language("javascript", ("javascript", "js", "node", "nodejs"), "main.js",
             ("node", "--max-old-space-size={memory_mb}", "/prog/main.js"),
             version=("node", "--version"), address_space_limit=False),
    Language("typescript", ("typescript", "ts"), "main.ts",
             ("node", "--max-old-space-size={memory_mb}", "/prog/main.js"),
             compile=("tsc", "--target", "es2020", "--lib", "es2020", "--module", "commonjs", "--skipLibCheck",
                      "--outDir", "/work/out", "/src/main.ts", "/src/node_ambient.d.ts"),
             version=("tsc", "--version"), address_space_limit=False),
    Language("rust", ("rust", "rs"), "main.rs", ("/prog/main",),
             compile=("rustc", "--edition", "2021", "-O", "-o", "/work/out/main", "/src/main.rs"),
             version=("rustc", "--version")),
    Language("go", ("go", "golang"), "main.go", ("/prog/main",),
             compile=("go", "build", "-o", "/work/out/main", "/src/main.go"),
             version=("go", "version"),
             env=(("GOCACHE", "/tmp/go-cache"), ("GOPATH", "/tmp/go"), ("GO111MODULE", "off"),
                  ("GOTOOLCHAIN", "local"), ("CGO_ENABLED", "0")),
             address_space_limit=False),
    Language("bash", ("bash", "sh", "shell"), "main.sh", ("bash", "/prog/main.sh"), version=("bash", "--version")),
)}
_BY_NAME = {spelling: language for language in LANGUAGES.values() for spelling in language.names}


def language_named(name: str) -> Language:
    """The language a prompt, a code fence or a config names; ValueError naming the known ones."""
    found = _BY_NAME.get(name.strip().lower())
    if found is None:
        raise ValueError(f"unknown language {name!r}; the sandbox runs python and "
                         f"{', '.join(sorted(LANGUAGES))} (also spelled {', '.join(sorted(set(_BY_NAME) - set(LANGUAGES)))})")
    return found


def is_python(name: str | None) -> bool:
    return name is None or name.strip().lower() in {"python", "python3", "py"}


@cache
def toolchain_version(language: str) -> str:
    """The first line the toolchain prints about its version, or why not: run on the host with the sandbox's PATH,
    so it is the /usr one the sandbox mounts (not, say, a rustup toolchain earlier on the host's PATH)."""
    command = LANGUAGES[language].version
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin"})
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unavailable ({error})"
    text = (done.stdout or done.stderr).strip().splitlines()
    return text[0] if text else "unknown"
