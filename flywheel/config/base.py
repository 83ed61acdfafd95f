"""What every section shares: the strict base model (unknown keys fail), the error type, the domains and the
bundled demo config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

Domain = Literal["math", "code", "general"]
DOMAINS: tuple[str, ...] = ("math", "code", "general")
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # flywheel/
DEFAULT_CONFIG = PACKAGE_DIR / "configs" / "demo.yaml"


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
