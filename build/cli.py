"""`latentlens`: the command line. Parses arguments into typed settings and hands them on.

Heavy modules are imported inside each command so `latentlens --help` and `latentlens query`
stay fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_DATA = Path("data/ml-latest-small")
DEFAULT_OUT = Path("artifacts/latentlens.duckdb")
DEFAULT_MLFLOW_DB = Path("artifacts/mlflow.db")


def _add_data_commands(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="inspect or synthesise MovieLens datasets")
    data_sub = data.add_subparsers(dest="data_command", required=True)

    info = data_sub.add_parser("info", help="summary of a MovieLens directory (the first look of any analysis)")
    info.add_argument("dir", type=Path, nargs="?", default=DEFAULT_DATA)
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.add_argument("--keep-last-duplicate", action="store_true",
                      help="keep the last of duplicate (user, movie) ratings instead of failing")
    info.set_defaults(func=_cmd_data_info)

    synth = data_sub.add_parser("synth", help="write a synthetic dataset in the ML-25M file layout")
    synth.add_argument("out", type=Path)
    synth.add_argument("--preset", default="ml-25m", help="ml-25m (default), 10m, 5m, 1m or small")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--force", action="store_true", help="replace OUT if it exists")
    synth.set_defaults(func=_cmd_data_synth)


def _cmd_data_info(args: argparse.Namespace) -> int:
    import json

    from build.data.loader import LoadOptions, load_movielens
    from build.data.summary import format_summary, summarize

    data = load_movielens(args.dir, LoadOptions(keep_last_duplicate=args.keep_last_duplicate))
    summary = summarize(data)
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0


def _cmd_data_synth(args: argparse.Namespace) -> int:
    from build.data.synth import SynthSettings, write_synthetic

    write_synthetic(args.out, SynthSettings.preset(args.preset, seed=args.seed), force=args.force)
    print(f"wrote synthetic dataset to {args.out}")
    return 0


def _add_build_command(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser("build", help="train and evaluate every model, export the DuckDB artifact")
    b.add_argument("--data", type=Path, default=DEFAULT_DATA)
    b.add_argument("--out", type=Path, default=DEFAULT_OUT)
    b.add_argument("--mlflow-uri", default=None,
                   help=f"MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///{DEFAULT_MLFLOW_DB})")
    b.add_argument("--experiment", default="latentlens")
    b.add_argument("--models", default=None,
                   help="comma-separated subset: popularity, itemknn, ease, content, hybrid, baseline, "
                        "surprise_svd, biased_mf, knn_baseline, rating_blend (default: all)")
    b.add_argument("--quick", action="store_true", help="small settings for tests and smoke runs")
    b.add_argument("--seed", type=int, default=42)
    b.add_argument("--scale", choices=["auto", "small", "large"], default="auto",
                   help="auto (default): the large plan from 5M ratings on (sampled evaluation, capped "
                        "costs; see README, Performance); small: full settings whatever the size")
    b.add_argument("--folds", type=int, default=None,
                   help="k of the rating cross-validation (default 5; 3 in the large plan)")
    b.add_argument("--eval-users", type=int, default=None,
                   help="top-N metrics on at most this many sampled test users, 0 = all "
                        "(default 20,000; 5,000 in the large plan)")
    b.add_argument("--cv-max-ratings", type=int, default=None,
                   help="rating cross-validation on a uniform sample of this many ratings, 0 = all "
                        "(default all; 1,000,000 in the large plan)")
    b.add_argument("--top-n", type=int, default=100, help="recommendations stored per user")
    b.add_argument("--similar-n", type=int, default=50, help="similar movies stored per movie")
    b.add_argument("--keep-last-duplicate", action="store_true")
    b.add_argument("--no-register", action="store_true", help="do not register the rating model")
    b.add_argument("--topn-champion", default=None, metavar="MODEL",
                   help="export this model's top-N lists whatever NDCG@10 says (the comparison is still logged)")
    b.add_argument("--rating-champion", default=None, metavar="MODEL",
                   help="register this rating model whatever RMSE says")
    b.add_argument("--engine", choices=["inprocess", "spark"], default="inprocess",
                   help="inprocess (default): numpy/scipy on this machine; spark: the same build on Apache "
                        "Spark (pip install 'latentlens[spark]'; README, Spark)")
    b.add_argument("--spark-master", default="local[2]", metavar="URL",
                   help="with --engine spark: local[N], spark://host:port, yarn or k8s://... (default local[2])")
    b.set_defaults(func=_cmd_build)


def _cmd_build(args: argparse.Namespace) -> int:
    from build.pipeline import run
    from build.settings import BuildSettings

    settings = BuildSettings.from_cli(args)
    if args.engine == "spark":
        from build.engines.spark.pipeline import run as run_spark
        from build.engines.spark.settings import SparkSettings

        print(run_spark(settings, SparkSettings(master=args.spark_master)).summary_text())
        return 0
    result = run(settings)
    print(result.summary_text())
    return 0


def _add_serving_commands(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("serve", help="serve the lookup API on this machine (uvicorn)")
    s.add_argument("--db", default=str(DEFAULT_OUT), help="artifact path or s3://bucket/key")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("--access-log", action="store_true", help="log one line per request to stdout (off by default)")
    s.set_defaults(func=_cmd_serve)

    q = sub.add_parser("query", help="run read-only SQL against an artifact and print a table")
    q.add_argument("db", type=Path)
    q.add_argument("sql")
    q.add_argument("--format", choices=["table", "csv", "json"], default="table")
    q.set_defaults(func=_cmd_query)

    ui = sub.add_parser("mlflow-ui", help="open the MLflow UI on 127.0.0.1 against the build's store")
    ui.add_argument("--mlflow-uri", default=None)
    ui.add_argument("--port", type=int, default=5000)
    ui.set_defaults(func=_cmd_mlflow_ui)


def _cmd_serve(args: argparse.Namespace) -> int:
    from build.serve import serve

    serve(args.db, host=args.host, port=args.port, workers=args.workers, access_log=args.access_log)
    return 0


def _cmd_query(args: argparse.Namespace) -> int:
    from build.export.query import run_query

    print(run_query(args.db, args.sql, fmt=args.format))
    return 0


def _cmd_mlflow_ui(args: argparse.Namespace) -> int:
    from build.tracking.ui import run_ui

    return run_ui(args.mlflow_uri, port=args.port)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="latentlens", description=__doc__.splitlines()[0])
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)
    _add_data_commands(sub)
    _add_build_command(sub)
    _add_serving_commands(sub)
    return p


def _interrupt_on_sigterm() -> None:
    """SIGTERM (a CI timeout, `kill`, a container stop) unwinds like Ctrl-C: temp files are removed
    and MLflow marks the run KILLED instead of leaving it RUNNING forever."""
    import signal

    def raise_interrupt(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, raise_interrupt)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "build":
        _interrupt_on_sigterm()
    from build.data.errors import DataError
    from build.progress import configure_logging
    from build.settings import SettingsError

    configure_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except (DataError, SettingsError) as exc:
        print(f"latentlens: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("latentlens: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
