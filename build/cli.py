"""`latentlens`: the command line. Parses arguments into typed settings and hands them on.

Heavy modules are imported inside each command so `latentlens --help` and `latentlens query`
stay fast. A user mistake ends in one line on stderr and exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from pathlib import Path

DEFAULT_DATA = Path("data/ml-latest-small")
DEFAULT_OUT = Path("artifacts/latentlens.duckdb")
DEFAULT_MLFLOW_DB = Path("artifacts/mlflow.db")

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


PORT = _int_in(1, 65535, "a TCP port")


def _add_data_commands(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="inspect or synthesise MovieLens datasets",
                          description="Inspect a MovieLens directory, or write a synthetic one in the same layout.")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="{info,synth}")

    info = data_sub.add_parser(
        "info", help="summary of a MovieLens directory (the first look of any analysis)",
        description="Read a MovieLens directory (ml-latest-small, ML-1M/10M/20M/25M layouts) with the build's own "
                    "loader and print its counts, time span, rating distribution, activity and top genres. "
                    "Fails with the file and line of the first bad row.")
    info.add_argument("dir", type=Path, nargs="?", default=DEFAULT_DATA, help="the MovieLens directory")
    info.add_argument("--json", action="store_true", help="print the summary as JSON instead of a table")
    info.add_argument("--keep-last-duplicate", action="store_true",
                      help="keep the last of duplicate (user, movie) ratings instead of failing")
    info.set_defaults(func=_cmd_data_info)

    synth = data_sub.add_parser(
        "synth", help="write a synthetic dataset in the ML-25M file layout",
        description="Write a synthetic MovieLens release (ratings, movies, links, tags) with a known latent "
                    "structure, for scale tests: ml-25m has ML-25M's counts. Written to a temporary directory "
                    "beside OUT and renamed when complete.")
    synth.add_argument("out", type=Path, help="directory to write (must not exist unless --force)")
    synth.add_argument("--preset", default="ml-25m",
                       help="size: ml-25m (ML-25M's counts), 10m, 5m, 1m (like ML-1M) or small (like ml-latest-small)")
    synth.add_argument("--seed", type=_int_in(0, what="--seed"), default=0, help="random seed of the generator")
    synth.add_argument("--force", action="store_true", help="replace OUT if it exists")
    synth.set_defaults(func=_cmd_data_synth)


def _cmd_data_info(args: argparse.Namespace) -> int:
    import json

    from latentlens.build.data.loader import LoadOptions, load_movielens
    from latentlens.build.data.summary import format_summary, summarize

    data = load_movielens(args.dir, LoadOptions(keep_last_duplicate=args.keep_last_duplicate))
    summary = summarize(data)
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0


def _cmd_data_synth(args: argparse.Namespace) -> int:
    from latentlens.build.data.synth import SynthSettings, write_synthetic
    from latentlens.build.settings import SettingsError

    try:
        preset = SynthSettings.preset(args.preset, seed=args.seed)
    except ValueError as exc:
        raise SettingsError(f"--preset: {exc}") from None
    write_synthetic(args.out, preset, force=args.force)
    print(f"wrote synthetic dataset to {args.out}")
    return 0


def _add_build_command(sub: argparse._SubParsersAction) -> None:
    from latentlens.build.models.registry import models_help

    b = sub.add_parser(
        "build", help="train and evaluate every model, export the DuckDB artifact",
        description="Load the ratings, evaluate every model (top-N on a temporal holdout, ratings by k-fold "
                    "cross-validation), pick the champions, refit them on all data and export one DuckDB "
                    "artifact (written to a temporary file, verified, then renamed into place). Everything is "
                    "tracked in one MLflow run; once the artifact is published the champions are registered "
                    "and the alias @champion points at them.")
    b.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MovieLens directory to read")
    b.add_argument("--out", type=Path, default=DEFAULT_OUT, help="artifact to write (its sha256 manifest beside it)")
    b.add_argument("--force", action="store_true",
                   help="replace --out even if it is not a LatentLens artifact (refused otherwise)")
    b.add_argument("--mlflow-uri", default=None,
                   help=f"MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///{DEFAULT_MLFLOW_DB})")
    b.add_argument("--experiment", default="latentlens", help="MLflow experiment name")
    b.add_argument("--models", default=None, help=models_help())
    b.add_argument("--quick", action="store_true", help="small settings for tests and smoke runs")
    b.add_argument("--seed", type=_int_in(0, what="--seed"), default=42,
                   help="seed of every split and model: the same seed gives the same artifact")
    b.add_argument("--scale", choices=["auto", "small", "large"], default="auto",
                   help="auto (default): the large plan from 5M ratings on (sampled evaluation, capped "
                        "costs; see docs/performance.md); small: full settings whatever the size")
    b.add_argument("--folds", type=_int_in(2, what="--folds"), default=None,
                   help="k of the rating cross-validation (default 5; 3 in the large plan)")
    b.add_argument("--eval-users", type=_int_in(0, what="--eval-users"), default=None,
                   help="top-N metrics on at most this many sampled test users, 0 = all "
                        "(default 20,000; 5,000 in the large plan)")
    b.add_argument("--cv-max-ratings", type=_int_in(0, what="--cv-max-ratings"), default=None,
                   help="rating cross-validation on a uniform sample of this many ratings, 0 = all "
                        "(default all; 1,000,000 in the large plan)")
    b.add_argument("--top-n", type=_int_in(1, what="--top-n"), default=100, help="recommendations stored per user")
    b.add_argument("--similar-n", type=_int_in(1, what="--similar-n"), default=50,
                   help="similar movies stored per movie")
    b.add_argument("--keep-last-duplicate", action="store_true",
                   help="keep the last of duplicate (user, movie) ratings instead of failing")
    b.add_argument("--no-register", action="store_true",
                   help="log the champions with the run but do not register them (the @champion alias stays)")
    b.add_argument("--topn-champion", default=None, metavar="MODEL",
                   help="export this model's top-N lists whatever NDCG@10 says (the comparison is still logged)")
    b.add_argument("--rating-champion", default=None, metavar="MODEL",
                   help="register this rating model whatever RMSE says (the comparison is still logged)")
    b.add_argument("--engine", choices=["inprocess", "spark"], default="inprocess",
                   help="inprocess (default): numpy/scipy on this machine; spark: the same build on Apache "
                        "Spark (pip install 'latentlens[spark]'; docs/spark.md)")
    b.add_argument("--spark-master", default="local[2]", metavar="URL",
                   help="with --engine spark: local[N], spark://host:port, yarn or k8s://... (default local[2])")
    b.set_defaults(func=_cmd_build)


def _cmd_build(args: argparse.Namespace) -> int:
    from latentlens.build.pipeline import run
    from latentlens.build.settings import BuildSettings, default_tracking_uri

    settings = BuildSettings.from_cli(args)
    check_tracking_uri(settings.mlflow_uri)
    if args.engine == "spark":
        from latentlens.build.engines.spark.pipeline import run as run_spark
        from latentlens.build.engines.spark.settings import SparkSettings

        print(run_spark(settings, SparkSettings(master=args.spark_master)).summary_text())
        return 0
    result = run(settings)
    default_uri = default_tracking_uri(None)
    print(result.summary_text(command=shown_command(), out_shown=str(args.out),
                              mlflow_uri_shown=None if settings.mlflow_uri == default_uri else settings.mlflow_uri))
    return 0


TRACKING_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "http", "https", "file", "databricks")


def check_tracking_uri(uri: str) -> None:
    """An MLflow URI with a scheme MLflow has no store for fails here, not after loading the data."""
    from latentlens.build.settings import SettingsError

    scheme = uri.split("://", 1)[0].split("+", 1)[0].lower() if "://" in uri else ""
    if scheme and scheme not in TRACKING_SCHEMES:
        raise SettingsError(f"--mlflow-uri {uri}: no MLflow store for scheme {scheme!r} "
                            "(e.g. sqlite:///artifacts/mlflow.db or http://127.0.0.1:5000)")


def shown_command() -> str:
    """How to type `latentlens` in this shell: the bare name when PATH finds this installation's script,
    else that script's path (relative when under the working directory), else `python -m latentlens.build.cli`."""
    script = Path(sys.executable).parent / "latentlens"
    found = shutil.which("latentlens")
    if found and script.exists() and Path(found).resolve() == script.resolve():
        return "latentlens"
    if not script.exists():
        return f"{shlex.quote(sys.executable)} -m latentlens.build.cli"
    relative = os.path.relpath(script)
    return shlex.quote(relative if not relative.startswith("..") else str(script))


def _add_serving_commands(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser(
        "serve", help="serve the lookup API on this machine (uvicorn)",
        description="Serve the artifact with the same FastAPI app the Lambda runs, on uvicorn. Prints the URL, "
                    "the OpenAPI docs and ready-to-paste curl lines. A local artifact that a rebuild replaces is "
                    "picked up without a restart.")
    s.add_argument("--db", default=str(DEFAULT_OUT), help="artifact path, s3://bucket/key or dynamodb://<name>")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 for every interface)")
    s.add_argument("--port", type=PORT, default=8000, help="TCP port to listen on")
    s.add_argument("--workers", type=_int_in(1, what="--workers"), default=1, help="uvicorn worker processes")
    s.add_argument("--access-log", action="store_true", help="log one line per request to stdout (off by default)")
    s.set_defaults(func=_cmd_serve)

    q = sub.add_parser(
        "query", help="run read-only SQL against an artifact and print a table",
        description="Open the artifact read-only and print the result of one SQL statement (at most 1,000 rows). "
                    "Tables: movies, user_recommendations, similar_movies, popular_movies, model_metrics, "
                    "build_info. In CSV, lists (genres) are |-joined like MovieLens' own files.")
    q.add_argument("db", type=Path, help="the DuckDB artifact, e.g. artifacts/latentlens.duckdb")
    q.add_argument("sql", help="one SQL statement, e.g. \"SELECT * FROM build_info\"")
    q.add_argument("--format", choices=["table", "csv", "json"], default="table", help="output format")
    q.set_defaults(func=_cmd_query)

    ui = sub.add_parser(
        "mlflow-ui", help="open the MLflow UI on 127.0.0.1 against the build's store",
        description="Run `mlflow ui` on 127.0.0.1 against the build's tracking store and print the experiment's "
                    "URL (opened as a machine-learning experiment). Ctrl-C or SIGTERM stops MLflow and its workers.")
    ui.add_argument("--mlflow-uri", default=None,
                    help=f"MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///{DEFAULT_MLFLOW_DB})")
    ui.add_argument("--experiment", default="latentlens", help="experiment whose URL is printed")
    ui.add_argument("--port", type=PORT, default=5000, help="TCP port of the UI")
    ui.set_defaults(func=_cmd_mlflow_ui)


def _cmd_serve(args: argparse.Namespace) -> int:
    from latentlens.build.serve import ServeError, serve
    from latentlens.build.settings import SettingsError

    try:
        serve(args.db, host=args.host, port=args.port, workers=args.workers, access_log=args.access_log,
              command=shown_command())
    except ServeError as exc:
        raise SettingsError(str(exc)) from None
    return 0


def _cmd_query(args: argparse.Namespace) -> int:
    from latentlens.build.export.query import run_query

    print(run_query(args.db, args.sql, fmt=args.format))
    return 0


def _cmd_mlflow_ui(args: argparse.Namespace) -> int:
    from latentlens.build.settings import default_tracking_uri
    from latentlens.build.tracking.ui import run_ui

    check_tracking_uri(default_tracking_uri(args.mlflow_uri))
    return run_ui(args.mlflow_uri, port=args.port, experiment=args.experiment)


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
    d.add_argument("--endpoint-url", default=None,
                   help="e.g. a moto server (default: AWS_ENDPOINT_URL[_DYNAMODB] or AWS)")
    d.add_argument("--region", default=None, help="default: AWS_REGION / AWS_DEFAULT_REGION / the profile's")
    d.add_argument("--keep", type=int, default=2, help="previous builds kept for --rollback (older are deleted)")
    d.add_argument("--sample", type=int, default=200, help="users and movies read back and compared with the source")
    d.add_argument("--workers", type=int, default=8, help="concurrent BatchWriteItem calls")
    d.add_argument("--via-s3", metavar="S3_URI", default=None,
                   help="stage the items under s3://bucket/prefix and let DynamoDB's ImportTable create the table")
    d.add_argument("--rollback", action="store_true", help="point back at the previous build instead of publishing")
    d.add_argument("--status", action="store_true", help="print the pointer and exit")
    d.set_defaults(func=_cmd_publish_dynamodb)


def _cmd_publish_dynamodb(args: argparse.Namespace) -> int:
    import json

    from latentlens.build.publish.dynamodb import PublishError, PublishSettings, publish, rollback, status

    settings = PublishSettings(source=args.source, name=args.name, endpoint_url=args.endpoint_url, region=args.region,
                               keep=args.keep, sample=args.sample, workers=args.workers, via_s3=args.via_s3)
    try:
        if args.status or args.rollback:
            print(json.dumps((status if args.status else rollback)(settings), indent=2))
        else:
            print(publish(settings).summary_text())
    except PublishError as exc:
        print(f"latentlens: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # botocore's (no region, no credentials, endpoint down), without importing it first
        if type(exc).__module__.startswith("botocore"):
            print(f"latentlens: error: DynamoDB: {exc}", file=sys.stderr)
            return 2
        raise
    return 0


def parser() -> argparse.ArgumentParser:
    from latentlens.build import __version__

    p = _Parser(prog="latentlens", description=DESCRIPTION)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("--version", action="version", version=f"latentlens {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           title="commands")
    _add_data_commands(sub)
    _add_build_command(sub)
    _add_serving_commands(sub)
    _add_publish_command(sub)
    return p


def _interrupt_on_sigterm() -> None:
    """SIGTERM (a CI timeout, `kill`, a container stop) unwinds like Ctrl-C: temp files are removed
    and MLflow marks the run KILLED instead of leaving it RUNNING forever."""
    import signal

    def raise_interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, raise_interrupt)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "build":
        _interrupt_on_sigterm()
    from latentlens.build.data.errors import DataError
    from latentlens.build.progress import configure_logging
    from latentlens.build.settings import SettingsError

    configure_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except (DataError, SettingsError) as exc:
        print(f"latentlens: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file or port the user named: unreadable, not writable, in use
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"latentlens: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("latentlens: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
