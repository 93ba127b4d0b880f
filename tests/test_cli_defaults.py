"""One typed source for every default: each command-line option with a settings counterpart defaults to that
field's default (latentlens/cli/arguments.py reads them from the settings classes and writes none itself), and
the arguments parsed from a bare command make exactly the settings' defaults."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path
from typing import Any

import pytest

from latentlens.build.data.synth_settings import SynthSettings
from latentlens.build.engines.spark.settings import SparkSettings
from latentlens.build.experiments.settings import ReportSettings, SimulateSettings
from latentlens.build.publish.settings import PublishSettings
from latentlens.build.settings import DEFAULT_ENGINE, BuildSettings, EvaluationSettings
from latentlens.cli import commands, parser
from latentlens.cli.arguments import default
from latentlens.cli.settings import MlflowUiSettings, ServeSettings
from latentlens.handler.settings import Settings as HandlerSettings

REPO = Path(__file__).resolve().parents[1]

# (command, option's dest) -> (settings class, field): the option's default must be the field's default
COUNTERPARTS: dict[tuple[str, str], tuple[type, str]] = {
    ("data info", "dir"): (BuildSettings, "data_dir"),
    ("data info", "keep_last_duplicate"): (BuildSettings, "keep_last_duplicate"),
    ("data synth", "seed"): (SynthSettings, "seed"),
    ("build", "data"): (BuildSettings, "data_dir"),
    ("build", "out"): (BuildSettings, "out"),
    ("build", "force"): (BuildSettings, "force"),
    ("build", "experiment"): (BuildSettings, "experiment"),
    ("build", "models"): (BuildSettings, "models"),
    ("build", "quick"): (BuildSettings, "quick"),
    ("build", "seed"): (BuildSettings, "seed"),
    ("build", "scale"): (BuildSettings, "scale"),
    ("build", "top_n"): (BuildSettings, "top_n"),
    ("build", "similar_n"): (BuildSettings, "similar_n"),
    ("build", "keep_last_duplicate"): (BuildSettings, "keep_last_duplicate"),
    ("build", "topn_champion"): (BuildSettings, "topn_champion"),
    ("build", "rating_champion"): (BuildSettings, "rating_champion"),
    ("build", "challenger"): (BuildSettings, "challenger"),
    ("build", "events"): (BuildSettings, "events"),
    ("build", "spark_master"): (SparkSettings, "master"),
    ("serve", "db"): (ServeSettings, "db"),
    ("serve", "host"): (ServeSettings, "host"),
    ("serve", "port"): (ServeSettings, "port"),
    ("serve", "workers"): (ServeSettings, "workers"),
    ("serve", "access_log"): (ServeSettings, "access_log"),
    ("serve", "reload_check"): (ServeSettings, "reload_check_s"),
    ("serve", "events"): (ServeSettings, "events"),
    ("mlflow-ui", "mlflow_uri"): (MlflowUiSettings, "tracking_uri"),
    ("mlflow-ui", "experiment"): (MlflowUiSettings, "experiment"),
    ("mlflow-ui", "port"): (MlflowUiSettings, "port"),
    ("publish dynamodb", "endpoint_url"): (PublishSettings, "endpoint_url"),
    ("publish dynamodb", "region"): (PublishSettings, "region"),
    ("publish dynamodb", "keep"): (PublishSettings, "keep"),
    ("publish dynamodb", "sample"): (PublishSettings, "sample"),
    ("publish dynamodb", "workers"): (PublishSettings, "workers"),
    ("publish dynamodb", "via_s3"): (PublishSettings, "via_s3"),
    ("publish dynamodb", "grace"): (PublishSettings, "grace_s"),
    ("publish dynamodb", "timeout"): (PublishSettings, "deadline_s"),
    ("build", "mlflow_timeout"): (BuildSettings, "mlflow_timeout_s"),
    ("doctor", "out"): (BuildSettings, "out"),
    ("experiment report", "share"): (ReportSettings, "share"),
    ("experiment report", "salt"): (ReportSettings, "salt"),
    ("experiment report", "plot"): (ReportSettings, "plot"),
    ("experiment simulate", "data"): (SimulateSettings, "data_dir"),
    ("experiment simulate", "champion"): (SimulateSettings, "champion"),
    ("experiment simulate", "challenger"): (SimulateSettings, "challenger"),
    ("experiment simulate", "models"): (SimulateSettings, "models"),
    ("experiment simulate", "seeds"): (SimulateSettings, "seeds"),
    ("experiment simulate", "first_seed"): (SimulateSettings, "first_seed"),
    ("experiment simulate", "share"): (SimulateSettings, "share"),
    ("experiment simulate", "workdir"): (SimulateSettings, "work_dir"),
}
# Options whose default is None so the settings decide at run time (the environment, a terminal, the scale
# plan), options that are no field of any settings, and the flags that select an action.
DECIDED_BY_SETTINGS = {
    ("build", "mlflow_uri"): "$MLFLOW_TRACKING_URI or the default store (default_tracking_uri)",
    ("build", "progress"): "BuildSettings.progress: on when stderr is a terminal",
    ("build", "folds"): "EvaluationSettings.folds, or the scale plan's",
    ("build", "eval_users"): "EvaluationSettings.max_eval_users, or the scale plan's",
    ("build", "cv_max_ratings"): "EvaluationSettings.cv_max_ratings, or the scale plan's",
    ("build", "log_models"): "BuildSettings.log_models, or the scale plan's (models_logged)",
    ("doctor", "mlflow_uri"): "$MLFLOW_TRACKING_URI or the default store (default_tracking_uri)",
    ("data synth", "progress"): "on when stderr is a terminal",
    ("publish dynamodb", "progress"): "PublishSettings.progress: on when stderr is a terminal",
}
NOT_SETTINGS = {
    ("build", "no_register"): "inverts BuildSettings.register_model (checked below)",
    ("build", "engine"): "where the build runs: DEFAULT_ENGINE (checked below)",
    ("data info", "json"): "output format of one command",
    ("data synth", "preset"): "SynthSettings.DEFAULT_PRESET (checked below)",
    ("data synth", "out"): "a required argument",
    ("data synth", "force"): "replace OUT: an action of the command",
    ("query", "db"): "a required argument",
    ("query", "sql"): "a required argument",
    ("query", "format"): "QUERY_FORMATS[0], run_query's default (checked below)",
    ("publish dynamodb", "source"): "a positional argument",
    ("publish dynamodb", "name"): "required",
    ("publish dynamodb", "rollback"): "an action",
    ("publish dynamodb", "status"): "an action",
    ("doctor", "repair"): "an action",
    ("experiment report", "events"): "required",
    ("experiment report", "experiment"): "required",
    ("experiment report", "json"): "output format of one command",
    ("experiment simulate", "json"): "output format of one command",
}


def subparsers(p: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every command's parser, by its words ("build", "data info", "publish dynamodb")."""
    found = {}
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                words = f"{prefix} {name}".strip()
                nested = subparsers(sub, words)
                found.update(nested or {words: sub})
    return found


def options() -> dict[tuple[str, str], argparse.Action]:
    return {(command, action.dest): action for command, sub in subparsers(parser()).items()
            for action in sub._actions if action.dest != "help"}


def test_every_option_is_accounted_for() -> None:
    """A new option must name its settings field here, or say why it has none."""
    assert set(options()) == set(COUNTERPARTS) | set(DECIDED_BY_SETTINGS) | set(NOT_SETTINGS)
    assert not set(COUNTERPARTS) & (set(DECIDED_BY_SETTINGS) | set(NOT_SETTINGS))


@pytest.mark.parametrize("key", sorted(COUNTERPARTS), ids=" ".join)
def test_an_option_defaults_to_its_settings_field(key: tuple[str, str]) -> None:
    settings, field = COUNTERPARTS[key]
    assert options()[key].default == default(settings, field)


@pytest.mark.parametrize("key", sorted(DECIDED_BY_SETTINGS), ids=" ".join)
def test_an_option_left_to_the_settings_defaults_to_none(key: tuple[str, str]) -> None:
    assert options()[key].default is None


def test_the_remaining_defaults_come_from_the_code_they_configure() -> None:
    from latentlens.build.export.query import run_query
    from latentlens.build.report import QUERY_FORMATS

    found = options()
    assert found[("build", "no_register")].default is False and default(BuildSettings, "register_model") is True
    assert found[("build", "engine")].default == DEFAULT_ENGINE
    assert found[("data synth", "preset")].default == SynthSettings.DEFAULT_PRESET
    assert found[("query", "format")].default == QUERY_FORMATS[0] == run_query.__defaults__[0]


def test_the_served_artifact_is_the_built_one_by_default() -> None:
    """`serve --db`, the handler's LATENTLENS_DB and `build --out` share one default."""
    assert default(ServeSettings, "db") == HandlerSettings.model_fields["db"].default
    assert Path(default(ServeSettings, "db")) == default(BuildSettings, "out")
    assert default(MlflowUiSettings, "experiment") == default(BuildSettings, "experiment")


def parsed(*argv: str) -> argparse.Namespace:
    return parser().parse_args(list(argv))


def test_a_bare_command_makes_the_settings_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert commands.build_settings(parsed("build")) == BuildSettings()
    assert commands.evaluation_settings(parsed("build")) == EvaluationSettings()
    assert commands.serve_settings(parsed("serve")) == ServeSettings()
    assert commands.mlflow_ui_settings(parsed("mlflow-ui")) == MlflowUiSettings()
    assert commands.publish_settings(parsed("publish", "dynamodb", "--name", "x")) == PublishSettings(None, "x")
    assert commands.synth_settings(parsed("data", "synth", str(tmp_path / "out"))) == SynthSettings.preset()
    assert commands.experiment_report_settings(parsed("experiment", "report", "--events", "e.sqlite", "--experiment",
                                                      "x")) == ReportSettings("e.sqlite", "x")
    assert commands.experiment_simulate_settings(parsed("experiment", "simulate")) == SimulateSettings()


def test_the_report_splits_people_as_the_api_does_by_default() -> None:
    """`experiment report --share` and the handler's Experiment default to the same challenger share."""
    import dataclasses

    from latentlens.handler.experiments import Experiment

    share = {f.name: f.default for f in dataclasses.fields(Experiment)}["challenger_share"]
    assert default(ReportSettings, "share") == default(SimulateSettings, "share") == share
    assert default(SimulateSettings, "data_dir") == default(BuildSettings, "data_dir")


@pytest.mark.parametrize("terminal", [True, False])
def test_progress_bars_follow_the_flag_else_the_terminal(monkeypatch: pytest.MonkeyPatch, terminal: bool) -> None:
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal, raising=False)
    assert commands.build_settings(parsed("build")).progress is terminal
    assert commands.build_settings(parsed("build", "--progress")).progress is True
    assert commands.build_settings(parsed("build", "--no-progress")).progress is False
    assert commands.publish_settings(parsed("publish", "dynamodb", "--name", "x")).progress is terminal
    assert commands.publish_settings(parsed("publish", "dynamodb", "--name", "x", "--no-progress")).progress is False


def _literal_defaults(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument":
            for keyword in node.keywords:
                value: Any = keyword.value
                if keyword.arg == "default" and isinstance(value, ast.Constant) and value.value is not None:
                    found.append(f"line {node.lineno}: default={value.value!r}")
    return found


def test_the_parser_writes_no_default_of_its_own() -> None:
    """Every `default=` in the parser is read from a settings class (or None: the settings decide)."""
    tree = ast.parse((REPO / "latentlens" / "cli" / "arguments.py").read_text())
    assert _literal_defaults(tree) == []
    assert _literal_defaults(ast.parse("p.add_argument('--x', default=5)")) == ["line 1: default=5"]  # it would see one
