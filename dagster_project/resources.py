"""Dagster resources: the round config, the generator, the DuckDB store and the sandbox."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from flywheel.config import DEFAULT_CONFIG, RoundConfig, load_config
from flywheel.generation import Generator, make_generator
from flywheel.store.database import Store
from flywheel_sandbox.runner import SandboxUnavailable, bwrap_available


class FlywheelConfig(dg.ConfigurableResource):
    """The round config file; ``workdir`` overrides the file's own."""

    config_path: str = str(DEFAULT_CONFIG)
    workdir: str | None = None
    _config: RoundConfig | None = PrivateAttr(default=None)

    def load(self) -> RoundConfig:
        if self._config is None:
            self._config = load_config(self.config_path, workdir=self.workdir)
        return self._config


class GeneratorResource(dg.ConfigurableResource):
    """Builds a generator for a checkpoint with the backend (and device) the round config names."""

    flywheel: FlywheelConfig

    def for_checkpoint(self, checkpoint: str) -> Generator:
        return make_generator(checkpoint, self.flywheel.load().generation)


class DuckDBStore(dg.ConfigurableResource):
    """``<workdir>/flywheel.duckdb`` unless a path is given."""

    flywheel: FlywheelConfig
    path: str | None = None

    def get(self) -> Store:
        return Store(Path(self.path) if self.path else self.flywheel.load().workdir / "flywheel.duckdb")


class SandboxResource(dg.ConfigurableResource):
    """Checks, before a run starts, that the sandbox the unit-test verifier will use works here."""

    flywheel: FlywheelConfig

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        s = self.flywheel.load().sandbox
        if s.backend == "bwrap" and not bwrap_available():
            raise SandboxUnavailable("sandbox backend 'bwrap' does not work here: install bubblewrap "
                                     "(apt-get install bubblewrap) or choose another backend in the config")
        # The settings themselves reach the unit-test verifier through RoundConfig.verifier_options().


def location_config_source() -> tuple[str, str | None]:
    """(config file, workdir override) of the code location: FLYWHEEL_CONFIG (default: the bundled
    demo) and FLYWHEEL_WORKDIR. The resources and the definition-time config both read it here."""
    return os.environ.get("FLYWHEEL_CONFIG", str(DEFAULT_CONFIG)), os.environ.get("FLYWHEEL_WORKDIR")


def default_resources(config_path: str | None = None, workdir: str | None = None) -> dict:
    env_config, env_workdir = location_config_source()
    flywheel = FlywheelConfig(config_path=config_path or env_config, workdir=workdir or env_workdir)
    return {"flywheel": flywheel, "generator": GeneratorResource(flywheel=flywheel),
            "store": DuckDBStore(flywheel=flywheel), "sandbox": SandboxResource(flywheel=flywheel)}
