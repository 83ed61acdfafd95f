"""``dagster dev`` for the UI tests: started in its own process group, stopped with SIGINT as DESIGN.md says."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def dagster_dev(env: dict):
    """Yield the URL of a ``dagster dev`` serving dagster_project.definitions with ``env`` added."""
    port = free_port()
    dagster = Path(sys.executable).with_name("dagster")
    with _served([str(dagster), "dev", "-m", "dagster_project.definitions", "-p", str(port)], port,
                 dict(os.environ, PYTHONPATH=str(ROOT), **env)) as (url, _):
        yield url


@contextmanager
def flywheel_ui(workdir: Path, cwd: Path):
    """Yield the URL of ``flywheel ui --workdir workdir``, started from ``cwd`` as a user would; after a Ctrl-C
    (SIGINT to its process group) the command must have exited 0, saying it stopped."""
    port = free_port()
    flywheel = Path(sys.executable).with_name("flywheel")
    with _served([str(flywheel), "ui", "--workdir", str(workdir), "--port", str(port)], port, dict(os.environ),
                 cwd=cwd, stdout=subprocess.PIPE) as (url, server):
        yield url
    out = server.stdout.read().decode()
    assert server.returncode == 0 and "stopped" in out, (server.returncode, out[-2000:])


@contextmanager
def _served(command: list[str], port: int, env: dict, cwd: Path = ROOT, stdout=subprocess.DEVNULL):
    server = subprocess.Popen(command, cwd=cwd, env=env, stdout=stdout, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{url}/server_info", timeout=2)
                break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("dagster dev did not come up within 180 s")
        yield url, server
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        try:  # the webserver, daemon and code server it started share its process group
            os.killpg(server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@contextmanager
def chromium_page():
    """A page of Debian's headless Chromium driven by Playwright (no browser download), closed afterwards."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium for the UI tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            browser.close()
