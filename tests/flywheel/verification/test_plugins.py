"""The registry reports a failing plugin by name and fails the round only when it is required."""

import time
from importlib.metadata import EntryPoint

import pytest

from flywheel.verification import plugins as verify
from flywheel.records.schema import Message, Prompt, Sample
from flywheel.verification.plugins import VerdictResult, VerifierFailed, verify_samples


class Broken:
    name, domains = "broken", ("math",)

    def verify_batch(self, items):
        raise RuntimeError("reward server down")


class Hangs:
    name, domains = "hangs", ("math",)

    def verify_batch(self, items):
        time.sleep(5)
        return [VerdictResult(True, 1.0)] * len(items)


class Works:
    name, domains = "works", ("math",)

    def verify_batch(self, items):
        return [VerdictResult(passed=item.sample.text == "4", score=1.0, reason="checked") for item in items]


class FailsOnOne:
    name, domains = "fails_on_one", ("math",)

    def verify_batch(self, items):
        return [VerdictResult(False, 0.0, "checker crashed", "error") if item.sample.text == "5" else
                VerdictResult(True, 1.0) for item in items]


@pytest.fixture
def plugins(monkeypatch):
    eps = {
        "fails_on_one": EntryPoint("fails_on_one", f"{__name__}:FailsOnOne", verify.ENTRY_POINT_GROUP),
        "broken": EntryPoint("broken", f"{__name__}:Broken", verify.ENTRY_POINT_GROUP),
        "hangs": EntryPoint("hangs", f"{__name__}:Hangs", verify.ENTRY_POINT_GROUP),
        "works": EntryPoint("works", f"{__name__}:Works", verify.ENTRY_POINT_GROUP),
        "missing_module": EntryPoint("missing_module", "no_such_module_xyz:V", verify.ENTRY_POINT_GROUP),
    }
    monkeypatch.setattr(verify, "discover", lambda: eps)


def data():
    prompts = [Prompt(id="p", domain="math", messages=[Message(role="user", content="2+2")], reference="4", source="f:1")]
    samples = [Sample(prompt_id="p", sample_index=i, text=t, num_tokens=1, finish_reason="stop", round=1,
                      checkpoint="c", seed=0) for i, t in enumerate(["4", "5"])]
    return prompts, samples


def test_working_plugin_gives_one_verdict_per_sample(plugins):
    verdicts = verify_samples(*data(), {"math": ["works"]})
    assert [(v.verifier, v.passed, v.status) for v in verdicts] == [("works", True, "ok"), ("works", False, "ok")]


@pytest.mark.parametrize(("name", "status", "text"), [
    ("broken", "error", "verifier 'broken' raised RuntimeError: reward server down"),
    ("missing_module", "error", "verifier 'missing_module' failed to load: ModuleNotFoundError"),
    ("hangs", "timeout", "verifier 'hangs' timed out"),
    ("not_installed", "error", "verifier 'not_installed' is not installed"),
])
def test_failing_plugin_is_reported_by_name_and_round_goes_on(plugins, name, status, text):
    verdicts = verify_samples(*data(), {"math": [name, "works"]}, timeout=0.5)
    failed = [v for v in verdicts if v.verifier == name]
    assert len(failed) == 2 and all(v.status == status and not v.passed and text in v.reason for v in failed)
    assert sum(v.verifier == "works" for v in verdicts) == 2


@pytest.mark.parametrize("name", ["broken", "missing_module", "hangs"])
def test_required_plugin_failure_fails_the_round(plugins, name):
    with pytest.raises(VerifierFailed, match=name):
        verify_samples(*data(), {"math": [name]}, required=[name], timeout=0.5)


def test_builtins_are_registered_as_entry_points():
    assert {"math", "unit_tests"} <= set(verify.discover())
    rows = {r["name"]: r for r in verify.list_verifiers()}
    assert rows["math"]["loads"] and rows["math"]["domains"] == ["math"]


def test_a_required_verifier_whose_checker_failed_fails_the_round_by_name(plugins):
    with pytest.raises(VerifierFailed, match="'fails_on_one' failed on 1 of 2 samples; first: checker crashed"):
        verify_samples(*data(), {"math": ["fails_on_one"]}, required=["fails_on_one"])
    verdicts = verify_samples(*data(), {"math": ["fails_on_one"]})  # not required: recorded, the round goes on
    assert [v.status for v in verdicts] == ["ok", "error"]
