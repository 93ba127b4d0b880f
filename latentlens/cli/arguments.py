"""The command line's arguments: one parser, every default read from a typed settings class.

No option repeats a default: each is the field default of the settings class the command builds
(BuildSettings, EvaluationSettings, SparkSettings, PublishSettings, SynthSettings, ServeSettings,
MlflowUiSettings), read here by `default(...)`; an option whose default is None leaves the choice to
those classes (the MLflow store from the environment, progress bars when stderr is a terminal, the
scale plan's evaluation sizes). tests/test_cli_defaults.py holds every option to its field. The
modules imported here are standard-library only, so `latentlens --help` stays fast.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any, get_args

import latentlens.cli.commands as commands
from latentlens._version import __version__
from latentlens.build.data.synth_settings import SynthSettings
from latentlens.build.engines.spark.settings import SparkSettings
from latentlens.build.experiments.settings import ReportSettings, SimulateSettings
from latentlens.build.publish.settings import PublishSettings
from latentlens.build.report import QUERY_FORMATS
from latentlens.build.scale import LARGE_RATINGS, plan_for
from latentlens.build.settings import (
    DEFAULT_ENGINE,
    DEFAULT_MLFLOW_DB,
    BuildSettings,
    Engine,
    EvaluationSettings,
    LogModels,
    ScaleChoice,
)
from latentlens.cli.settings import MlflowUiSettings, ServeSettings

DESCRIPTION = """\
LatentLens: a MovieLens recommender in two halves.

  latentlens build      trains and evaluates every model on MovieLens ratings, tracks the
                        comparison in MLflow and exports per-user top-N lists, similar movies,
                        popular lists and metadata into ONE DuckDB file;
  latentlens serve      answers lookups from that file over HTTP (the same app as the Lambda);
  latentlens query      runs read-only SQL against it;
  latentlens data       inspects or synthesises MovieLens datasets;
  latentlens mlflow-ui  opens the MLflow UI on the build's tracking store.

Run `latentlens COMMAND --help` for a command's options."""

MLFLOW_URI_HELP = f"MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///{DEFAULT_MLFLOW_DB})"
PROGRESS_HELP = "progress bars on stderr (default: on when stderr is a terminal)"


def default(settings: type, name: str) -> Any:
    """The default of field `name` of the dataclass `settings` (its default, or what its factory makes)."""
    found = {f.name: f for f in dataclasses.fields(settings)}[name]
    if found.default is not dataclasses.MISSING:
        return found.default
    if found.default_factory is not dataclasses.MISSING:
        return found.default_factory()
    raise KeyError(f"{settings.__name__}.{name} has no default")


class _HelpFormatter(argparse.HelpFormatter):
    """Multi-line descriptions as written (one-liners wrapped), and every option's default in its help
    (unless it says it already, or the default is None/False, whose meaning the help text spells out)."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (action.default not in (None, False, argparse.SUPPRESS) and "default" not in text
                and (action.option_strings or action.nargs in ("?", "*"))):
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    """One line and exit 2 for a usage mistake (argparse's default prints the whole usage first)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _int_in(low: int, high: int | None = None, what: str = "a number"):
    """An argparse type: an integer in [low, high], with a message that says which."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"{what} must be {bound}, got {value}")
        return value
    return parse


def _seconds(what: str):
    """An argparse type: a number of seconds, 0 or more."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value >= 0:
            raise argparse.ArgumentTypeError(f"{what} must be at least 0, got {text}")
        return value
    return parse


PORT = _int_in(1, 65535, "a TCP port")


def _share(text: str) -> float:
    """An argparse type: the challenger's share of people, strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"the challenger's share must be between 0 and 1 (exclusive), got {text}")
    return value


def _add_progress(parser: argparse.ArgumentParser) -> None:
    """--progress/--no-progress; None (neither given) leaves it to the settings' default."""
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help=PROGRESS_HELP)


def _add_data_commands(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="inspect or synthesise MovieLens datasets",
                          description="Inspect a MovieLens directory, or write a synthetic one in the same layout.")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="{info,synth}")

    info = data_sub.add_parser(
        "info", help="summary of a MovieLens directory (the first look of any analysis)",
        description="Read a MovieLens directory (ml-latest-small, ML-1M/10M/20M/25M layouts) with the build's own "
                    "loader and print its counts, time span, rating distribution, activity and top genres. "
                    "Fails with the file and line of the first bad row.")
    info.add_argument("dir", type=Path, nargs="?", default=default(BuildSettings, "data_dir"),
                      help="the MovieLens directory")
    info.add_argument("--json", action="store_true", help="print the summary as JSON instead of a table")
    info.add_argument("--keep-last-duplicate", action="store_true",
                      help="keep the last of duplicate (user, movie) ratings instead of failing")
    info.set_defaults(func=commands.data_info)

    synth = data_sub.add_parser(
        "synth", help="write a synthetic dataset in the ML-25M file layout",
        description="Write a synthetic MovieLens release (ratings, movies, links, tags) with a known latent "
                    "structure, for scale tests: ml-25m has ML-25M's counts. Written to a temporary directory "
                    "beside OUT and renamed when complete.")
    synth.add_argument("out", type=Path, help="directory to write (must not exist unless --force)")
    synth.add_argument("--preset", default=SynthSettings.DEFAULT_PRESET,
                       help="size: ml-25m (ML-25M's counts), 10m, 5m, 1m (like ML-1M) or small (like ml-latest-small)")
    synth.add_argument("--seed", type=_int_in(0, what="--seed"), default=default(SynthSettings, "seed"),
                       help="random seed of the generator")
    synth.add_argument("--force", action="store_true", help="replace OUT if it exists")
    _add_progress(synth)
    synth.set_defaults(func=commands.data_synth)


def _add_build_command(sub: argparse._SubParsersAction) -> None:
    from latentlens.build.models.registry import models_help

    b = sub.add_parser(
        "build", help="train and evaluate every model, export the DuckDB artifact",
        description="Load the ratings, evaluate every model (top-N on a temporal holdout, ratings by k-fold "
                    "cross-validation), pick the champions, refit them on all data and export one DuckDB "
                    "artifact (written to a temporary file, verified, then renamed into place). Everything is "
                    "tracked in one MLflow run; once the artifact is published the champions are registered "
                    "and the alias @champion points at them.")
    b.add_argument("--data", type=Path, default=default(BuildSettings, "data_dir"), help="MovieLens directory to read")
    b.add_argument("--out", type=Path, default=default(BuildSettings, "out"),
                   help="artifact to write (its sha256 manifest beside it)")
    b.add_argument("--force", action="store_true",
                   help="replace --out even if it is not a LatentLens artifact (refused otherwise); never a file "
                        "of --data: an --out inside the data directory is refused, --force or not")
    b.add_argument("--models", default=None, help=models_help())
    b.add_argument("--quick", action="store_true", help="small settings for tests and smoke runs")
    b.add_argument("--seed", type=_int_in(0, what="--seed"), default=default(BuildSettings, "seed"),
                   help="seed of every split and model: the same seed gives the same artifact")
    _add_evaluation_options(b)
    b.add_argument("--top-n", type=_int_in(1, what="--top-n"), default=default(BuildSettings, "top_n"),
                   help="recommendations stored per user")
    b.add_argument("--similar-n", type=_int_in(1, what="--similar-n"), default=default(BuildSettings, "similar_n"),
                   help="similar movies stored per movie")
    b.add_argument("--keep-last-duplicate", action="store_true",
                   help="keep the last of duplicate (user, movie) ratings instead of failing")
    b.add_argument("--events", default=default(BuildSettings, "events"), metavar="URI",
                   help="learn from people: fold the rating events of this store (the file `serve --events` "
                        "wrote, or dynamodb://TABLE) into the ratings; a session becomes a user of its own "
                        "(docs/events.md)")
    _add_tracking_options(b)
    b.add_argument("--engine", choices=get_args(Engine), default=DEFAULT_ENGINE,
                   help="inprocess (default): numpy/scipy on this machine; spark: the same build on Apache "
                        "Spark (pip install 'latentlens[spark]'; docs/spark.md)")
    b.add_argument("--spark-master", default=default(SparkSettings, "master"), metavar="URL",
                   help="with --engine spark: local[N], spark://host:port, yarn or k8s://... "
                        f"(default {default(SparkSettings, 'master')})")
    _add_progress(b)
    b.set_defaults(func=commands.build)


def _add_evaluation_options(b: argparse.ArgumentParser) -> None:
    """`build`'s protocol options: the scale plan and what the command line takes over from it."""
    evaluation, large = EvaluationSettings(), plan_for("large").evaluation
    b.add_argument("--scale", choices=get_args(ScaleChoice),
                   default=default(BuildSettings, "scale"),
                   help=f"auto (default): the large plan from {LARGE_RATINGS / 1e6:g}M ratings on (sampled "
                        "evaluation, capped costs; see docs/performance.md); small: full settings whatever the size")
    b.add_argument("--folds", type=_int_in(2, what="--folds"), default=None,
                   help=f"k of the rating cross-validation (default {evaluation.folds}; {large['folds']} in the "
                        "large plan)")
    b.add_argument("--eval-users", type=_int_in(0, what="--eval-users"), default=None,
                   help="top-N metrics on at most this many sampled test users, 0 = all "
                        f"(default {_count(evaluation.max_eval_users)}; {_count(large['max_eval_users'])} in the "
                        "large plan)")
    b.add_argument("--cv-max-ratings", type=_int_in(0, what="--cv-max-ratings"), default=None,
                   help="rating cross-validation on a uniform sample of this many ratings, 0 = all "
                        f"(default {_count(evaluation.cv_max_ratings)}; {_count(large['cv_max_ratings'])} in the "
                        "large plan)")


def _add_tracking_options(b: argparse.ArgumentParser) -> None:
    """`build`'s MLflow options: the store, what is logged and registered, and the champions."""
    b.add_argument("--mlflow-uri", default=None, help=MLFLOW_URI_HELP)
    b.add_argument("--mlflow-timeout", type=_seconds("--mlflow-timeout"), default=default(BuildSettings,
                   "mlflow_timeout_s"), metavar="SECONDS",
                   help="a tracking server must answer within this before the build reads the data, and a server "
                        "lost later ends the build within it too (default "
                        f"{default(BuildSettings, 'mlflow_timeout_s')} s)")
    b.add_argument("--experiment", default=default(BuildSettings, "experiment"), help="MLflow experiment name")
    b.add_argument("--no-register", action="store_true",
                   help="log the champions with the run but do not register them (the @champion alias stays)")
    b.add_argument("--topn-champion", default=None, metavar="MODEL",
                   help="export this model's top-N lists whatever NDCG@10 says (the comparison is still logged)")
    b.add_argument("--rating-champion", default=None, metavar="MODEL",
                   help="register this rating model whatever RMSE says (the comparison is still logged)")
    b.add_argument("--challenger", default=default(BuildSettings, "challenger"), metavar="MODEL",
                   help="an A/B experiment's other arm: evaluate this top-N model too and export its lists beside "
                        "the champion's (challenger_recommendations); the champion's own name is an A/A test")
    b.add_argument("--log-models", choices=get_args(LogModels), default=None,
                   help="which models' MLflow runs keep a loadable model (with its signature and an input example): "
                        "all evaluated models, or the champions only (default: all on the small plan, champions "
                        "on the large)")


def _count(value: int | None) -> str:
    return "all" if value is None else f"{value:,}"


def _add_serving_commands(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser(
        "serve", help="serve the lookup API on this machine (uvicorn)",
        description="Serve the artifact with the same FastAPI app the Lambda runs, on uvicorn. Prints the URL, "
                    "the OpenAPI docs and ready-to-paste curl lines. A local artifact that a rebuild replaces is "
                    "picked up without a restart.")
    s.add_argument("--db", default=default(ServeSettings, "db"),
                   help="artifact path, s3://bucket/key or dynamodb://<name>")
    s.add_argument("--host", default=default(ServeSettings, "host"),
                   help="address to bind (0.0.0.0 for every interface)")
    s.add_argument("--port", type=PORT, default=default(ServeSettings, "port"), help="TCP port to listen on")
    s.add_argument("--workers", type=_int_in(1, what="--workers"), default=default(ServeSettings, "workers"),
                   help="uvicorn worker processes")
    s.add_argument("--access-log", action="store_true", help="log one line per request to stdout (off by default)")
    s.add_argument("--reload-check", type=_seconds("--reload-check"), default=default(ServeSettings, "reload_check_s"),
                   metavar="SECONDS",
                   help="how often, at most, a request checks whether a rebuild replaced a local artifact "
                        "(0: on every request)")
    s.add_argument("--events", default=default(ServeSettings, "events"), metavar="URI",
                   help="take POST /events into this store: a file path (SQLite, created if absent) or "
                        "dynamodb://TABLE (default: $LATENTLENS_EVENTS, else events are off)")
    s.set_defaults(func=commands.serve)

    q = sub.add_parser(
        "query", help="run read-only SQL against an artifact and print a table",
        description="Open the artifact read-only and print the result of one SQL statement (at most 1,000 rows). "
                    "Tables: movies, user_recommendations, similar_movies, popular_movies, model_metrics, "
                    "build_info. In CSV, lists (genres) are |-joined like MovieLens' own files.")
    q.add_argument("db", type=Path, help="the DuckDB artifact, e.g. artifacts/latentlens.duckdb")
    q.add_argument("sql", help="one SQL statement, e.g. \"SELECT * FROM build_info\"")
    q.add_argument("--format", choices=QUERY_FORMATS, default=QUERY_FORMATS[0], help="output format")
    q.set_defaults(func=commands.query)

    ui = sub.add_parser(
        "mlflow-ui", help="open the MLflow UI on 127.0.0.1 against the build's store",
        description="Run `mlflow ui` on 127.0.0.1 against the build's tracking store and print the experiment's "
                    "URL (opened as a machine-learning experiment). Ctrl-C or SIGTERM stops MLflow and its workers.")
    ui.add_argument("--mlflow-uri", default=default(MlflowUiSettings, "tracking_uri"), help=MLFLOW_URI_HELP)
    ui.add_argument("--experiment", default=default(MlflowUiSettings, "experiment"),
                    help="experiment whose URL is printed")
    ui.add_argument("--port", type=PORT, default=default(MlflowUiSettings, "port"), help="TCP port of the UI")
    ui.set_defaults(func=commands.mlflow_ui)


def _add_publish_command(sub: argparse._SubParsersAction) -> None:
    pub = sub.add_parser(
        "publish", help="publish a built artifact to a serving store (DynamoDB)",
        description="Publish a verified artifact (or the Spark engine's Parquet shards) to a store the Lambda "
                    "reads per request, for builds past what one DuckDB file in the package can hold.")
    pub_sub = pub.add_subparsers(dest="publish_command", required=True)
    d = pub_sub.add_parser(
        "dynamodb", help="write a new table per build, verify it, then flip the pointer the Lambda reads",
        description="Write the build into a new DynamoDB table (one item per user and per movie, plus the "
                    "catalogue), read a sample back against the source, then flip the pointer item with a "
                    "conditional write so readers see the old build or the new one, never a mix. The previous "
                    "--keep tables stay for --rollback; older ones are deleted.")
    d.add_argument("source", type=Path, nargs="?",
                   help="artifact .duckdb (with its .sha256) or a Parquet shard directory")
    d.add_argument("--name", required=True, help="deployment name: the pointer table; builds are <name>.<build id>")
    d.add_argument("--endpoint-url", default=default(PublishSettings, "endpoint_url"),
                   help="e.g. a moto server (default: AWS_ENDPOINT_URL[_DYNAMODB] or AWS)")
    d.add_argument("--region", default=default(PublishSettings, "region"),
                   help="default: AWS_REGION / AWS_DEFAULT_REGION / the profile's")
    d.add_argument("--keep", type=int, default=default(PublishSettings, "keep"),
                   help="previous builds kept for --rollback (older are deleted)")
    d.add_argument("--grace", metavar="SECONDS", type=float, default=default(PublishSettings, "grace_s"),
                   help="a table --rollback leaves is deleted by a later publish or rollback once this has passed "
                        "(longer than a warm container's pointer cache, LATENTLENS_DYNAMODB_POINTER_CACHE_S)")
    d.add_argument("--sample", type=int, default=default(PublishSettings, "sample"),
                   help="users and movies read back and compared with the source")
    d.add_argument("--workers", type=int, default=default(PublishSettings, "workers"),
                   help="concurrent BatchWriteItem calls")
    d.add_argument("--via-s3", metavar="S3_URI", default=default(PublishSettings, "via_s3"),
                   help="stage the items under s3://bucket/prefix and let DynamoDB's ImportTable create the table")
    d.add_argument("--timeout", type=_seconds("--timeout"), default=default(PublishSettings, "deadline_s"),
                   metavar="SECONDS", help="the endpoint must answer within this before anything is written "
                                           f"(default {default(PublishSettings, 'deadline_s')} s)")
    d.add_argument("--rollback", action="store_true", help="point back at the previous build instead of publishing")
    d.add_argument("--status", action="store_true", help="print the pointer and exit")
    _add_progress(d)
    d.set_defaults(func=commands.publish_dynamodb)


def _add_experiment_commands(sub: argparse._SubParsersAction) -> None:
    exp = sub.add_parser("experiment", help="A/B experiments: report on one from the event store, or simulate one",
                         description="Report on an A/B experiment from the events the API stored, or replay a "
                                     "temporal holdout as a population through the real API (docs/experiments.md).")
    exp_sub = exp.add_subparsers(dest="experiment_command", required=True, metavar="{report,simulate}")
    r = exp_sub.add_parser(
        "report", help="per arm: people, impressions, clicks, click-through; the lift, its interval and a verdict",
        description="Recompute every person's arm (the API's own salted hash) for the people of the event store "
                    "with at least one impression, and print per arm people, impressions, clicks, click-through "
                    "and rating events; a sample-ratio-mismatch test against the share; the challenger's lift with "
                    "a 95% interval over people (delta method, and a bootstrap over people); the people the "
                    "observed difference needs at 80% power. A winner is named only when the split is right and "
                    "the sample large enough; otherwise the verdict says why not.")
    r.add_argument("--events", required=True, metavar="URI",
                   help="the event store: the file `latentlens serve --events` wrote, or dynamodb://TABLE")
    r.add_argument("--experiment", required=True, metavar="NAME",
                   help="the experiment's name, as the API ran it (LATENTLENS_EXPERIMENT)")
    r.add_argument("--share", type=_share, default=default(ReportSettings, "share"), metavar="S",
                   help="the challenger's share of people, as the API ran it (LATENTLENS_EXPERIMENT_SHARE)")
    r.add_argument("--salt", default=default(ReportSettings, "salt"), metavar="X",
                   help="the experiment's salt, as the API ran it (LATENTLENS_EXPERIMENT_SALT; default empty)")
    r.add_argument("--plot", type=Path, default=default(ReportSettings, "plot"), metavar="PATH",
                   help="also write the report as a PNG here")
    r.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    r.set_defaults(func=commands.experiment_report)
    _add_simulate_command(exp_sub)


def _add_simulate_command(exp_sub: argparse._SubParsersAction) -> None:
    sim = exp_sub.add_parser(
        "simulate", help="replay a temporal holdout as a population through the real API, then report",
        description="Hold out each user's last 20% of ratings by time (the build's own split), build the rest "
                    "once with --challenger, then per seed: serve it (latentlens serve on 127.0.0.1) with an "
                    "experiment salted by the seed and a new SQLite event store; every person fetches their list "
                    "of 10, posts an impression per movie shown and a click per shown movie they rated >= 4 "
                    "later; the report runs on the store. Prints each seed's verdict against the truth (the "
                    "population's click-through under each arm's lists).")
    sim.add_argument("--data", type=Path, default=default(SimulateSettings, "data_dir"),
                     help="MovieLens directory (CSV layout) to split")
    sim.add_argument("--champion", default=default(SimulateSettings, "champion"), metavar="MODEL",
                     help="pin the champion's model (default: the build's choice by NDCG@10)")
    sim.add_argument("--challenger", default=default(SimulateSettings, "challenger"), metavar="MODEL",
                     help="the challenger's model; the champion's own model makes two identical arms (A/A)")
    sim.add_argument("--models", default=None, metavar="A,B",
                     help="the build evaluates only these models (and the challenger); default: every model")
    sim.add_argument("--seeds", type=_int_in(1, what="--seeds"), default=default(SimulateSettings, "seeds"),
                     help="experiments to run, one per seed (the seed is the experiment's salt)")
    sim.add_argument("--first-seed", type=_int_in(0, what="--first-seed"),
                     default=default(SimulateSettings, "first_seed"), help="the first seed")
    sim.add_argument("--share", type=_share, default=default(SimulateSettings, "share"), metavar="S",
                     help="the challenger's share of people")
    sim.add_argument("--workdir", type=Path, default=default(SimulateSettings, "work_dir"), metavar="DIR",
                     help="keep the split, the artifact, the event stores and the server logs here, a new or empty "
                          "directory (default: a temporary one, removed at the end)")
    sim.add_argument("--json", action="store_true", help="print the simulation as JSON instead of a table")
    sim.set_defaults(func=commands.experiment_simulate)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="latentlens", description=DESCRIPTION)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("--version", action="version", version=f"latentlens {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           title="commands")
    _add_data_commands(sub)
    _add_build_command(sub)
    _add_serving_commands(sub)
    _add_publish_command(sub)
    _add_experiment_commands(sub)
    doc = sub.add_parser("doctor", help="check that the registry's @champion names the published artifact",
                         description="Compare the MLflow registry's @champion with the published artifact (its "
                                     "sha256): a build killed between publishing and registering leaves @champion on "
                                     "the previous build. Exit 0 when they agree (or --repair fixed it), 2 otherwise.")
    doc.add_argument("--out", type=Path, default=default(BuildSettings, "out"), help="the published artifact")
    doc.add_argument("--mlflow-uri", default=None, help=MLFLOW_URI_HELP)
    doc.add_argument("--repair", action="store_true",
                     help="register the artifact's champions (logged with its run) and point @champion at them")
    doc.set_defaults(func=commands.doctor)
    return p
