"""template.yaml's A/B experiment: three parameters, told to the function as the handler's settings, whose patterns
let through only what those settings accept (a share CloudFormation took and the handler refused would fail the
function at start, every request a 502)."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from latentlens.handler.settings import Settings

PARAMETERS = {"LATENTLENS_EXPERIMENT": "Experiment", "LATENTLENS_EXPERIMENT_SHARE": "ExperimentShare",
              "LATENTLENS_EXPERIMENT_SALT": "ExperimentSalt"}


def test_the_function_is_told_the_experiment(template, function):
    env = function["Environment"]["Variables"]
    for variable, parameter in PARAMETERS.items():
        assert env[variable] == {"Ref": parameter}, variable
    defaults = {variable: str(template["Parameters"][p]["Default"]) for variable, p in PARAMETERS.items()}
    settings = Settings(db="x", experiment=defaults["LATENTLENS_EXPERIMENT"],
                        experiment_share=defaults["LATENTLENS_EXPERIMENT_SHARE"],
                        experiment_salt=defaults["LATENTLENS_EXPERIMENT_SALT"])
    assert settings.experiment is None and settings.experiment_share == 0.5  # by default none runs


@pytest.mark.parametrize(("parameter", "field", "accepted", "refused"), [
    ("Experiment", "experiment", ["home-page_2026", "x" * 64], ["has space", "x" * 65, "é", "a.b"]),
    ("ExperimentShare", "experiment_share", ["0.5", "0.1", "0.05", "0.999999"], ["0", "1", "1.0", "0.0", "0.", "-0.5",
                                                                                   "0.5e0", ".5", "0.1234567"]),
    ("ExperimentSalt", "experiment_salt", ["", "2026-q4", "x" * 64], ["has space", "x" * 65]),
])
def test_the_patterns_let_through_only_what_the_settings_accept(template, parameter, field, accepted, refused):
    pattern = re.compile(template["Parameters"][parameter]["AllowedPattern"])
    for value in accepted:
        assert pattern.fullmatch(value), value
        Settings(db="x", **{"experiment": "a", field: value})  # accepted by the handler too
    for value in refused:  # narrower than the handler where it does no harm (".5", a 65-character salt)
        assert not pattern.fullmatch(value), value


@pytest.mark.parametrize("values", [
    {"experiment": "has space"}, {"experiment": "x" * 65}, {"experiment": "a", "experiment_share": 0},
    {"experiment": "a", "experiment_share": 1}, {"experiment": "a", "experiment_salt": "x" * 201}])
def test_the_handler_refuses_what_no_experiment_can_be(values):
    with pytest.raises(ValidationError):
        Settings(db="x", **values)
