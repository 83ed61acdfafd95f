"""A small hand-made round taken through real verification and selection, made once per test worker and copied
for each test that writes to it (test_pairs, test_stage_views, test_export)."""

from __future__ import annotations

import pytest
import yaml

from flywheel.store.database import Store
from tests.conftest import copy_workdir, small_config_dict


@pytest.fixture(scope="session")
def selected_round_template(tmp_path_factory):
    from tests.flywheel.round.test_views import selected_round

    folder = tmp_path_factory.mktemp("selected-round")
    path = folder / "round.yaml"
    path.write_text(yaml.safe_dump(small_config_dict(folder / "work")))
    config, _ = selected_round(path)
    return config


@pytest.fixture
def selected_round_copy(selected_round_template, tmp_path):
    """(config, store) of a copy of the selected round: verified and selected, nothing after."""
    workdir = copy_workdir(selected_round_template.workdir, tmp_path / "work")
    return selected_round_template.model_copy(update={"workdir": workdir}), Store(workdir / "flywheel.duckdb")
