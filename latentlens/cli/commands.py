"""What each command does with its parsed arguments: make the typed settings, hand them on, print the result.

Heavy modules are imported inside each command so `latentlens --help` and `latentlens query` stay fast.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from latentlens.build.data.synth_settings import SynthSettings
    from latentlens.build.experiments.settings import ReportSettings, SimulateSettings
    from latentlens.build.publish.settings import PublishSettings
    from latentlens.build.settings import BuildSettings, EvaluationSettings
    from latentlens.cli.settings import MlflowUiSettings, ServeSettings


def data_info(args: argparse.Namespace) -> int:
    import json

    from latentlens.build.data.loader import LoadOptions, load_movielens
    from latentlens.build.data.summary import format_summary, summarize

    data = load_movielens(args.dir, LoadOptions(keep_last_duplicate=args.keep_last_duplicate))
    summary = summarize(data)
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0


def synth_settings(args: argparse.Namespace) -> SynthSettings:
    from latentlens.build.data.synth_settings import SynthSettings
    from latentlens.build.settings import SettingsError

    try:
        return SynthSettings.preset(args.preset, seed=args.seed)
    except ValueError as exc:
        raise SettingsError(f"--preset: {exc}") from None


def data_synth(args: argparse.Namespace) -> int:
    from latentlens.build.data.synth import write_synthetic
    from latentlens.build.settings import stderr_is_terminal

    show = stderr_is_terminal() if args.progress is None else args.progress
    write_synthetic(args.out, synth_settings(args), force=args.force, show_progress=show)
    print(f"wrote synthetic dataset to {args.out}")
    return 0


def build_settings(args: argparse.Namespace) -> BuildSettings:
    """`latentlens build`'s arguments as BuildSettings: what an option left at None keeps the settings' default."""
    from latentlens.build.settings import BuildSettings, default_tracking_uri

    models = tuple(m.strip() for m in args.models.split(",") if m.strip()) if args.models else None
    settings = BuildSettings(
        data_dir=Path(args.data),
        out=Path(args.out),
        force=getattr(args, "force", False),
        mlflow_uri=default_tracking_uri(args.mlflow_uri),
        mlflow_timeout_s=args.mlflow_timeout,
        experiment=args.experiment,
        models=models,
        quick=args.quick,
        seed=args.seed,
        scale=args.scale,
        evaluation=evaluation_settings(args),
        top_n=args.top_n,
        similar_n=args.similar_n,
        keep_last_duplicate=args.keep_last_duplicate,
        register_model=not args.no_register,
        topn_champion=args.topn_champion,
        rating_champion=args.rating_champion,
        log_models=args.log_models,
        challenger=args.challenger,
        events=args.events,
    )
    # --progress/--no-progress; neither given: the settings' own default (on when stderr is a terminal)
    return settings if args.progress is None else replace(settings, progress=args.progress)


def evaluation_settings(args: argparse.Namespace) -> EvaluationSettings:
    """Flags left at None keep the defaults (and the scale plan may change them); 0 means all."""
    from latentlens.build.settings import EvaluationSettings

    given = {"folds": args.folds, "max_eval_users": args.eval_users, "cv_max_ratings": args.cv_max_ratings}
    given = {k: v for k, v in given.items() if v is not None}
    values: dict[str, Any] = {k: (v or None) if k != "folds" else v for k, v in given.items()}
    return EvaluationSettings(**values, explicit=frozenset(given))


def build(args: argparse.Namespace) -> int:
    from latentlens.build.settings import check_tracking_uri, default_tracking_uri

    settings = build_settings(args)
    check_tracking_uri(settings.mlflow_uri)
    from latentlens.build.engines import engine_named
    from latentlens.build.pipeline import run

    result = run(settings, engine_named(args.engine, args.spark_master))
    default_uri = default_tracking_uri(None)
    print(result.summary_text(command=shown_command(), out_shown=str(args.out),
                              mlflow_uri_shown=None if settings.mlflow_uri == default_uri else settings.mlflow_uri))
    return 0


def shown_command() -> str:
    """How to type `latentlens` in this shell: the bare name when PATH finds this installation's script,
    else that script's path (relative when under the working directory), else `python -m latentlens`."""
    script = Path(sys.executable).parent / "latentlens"
    found = shutil.which("latentlens")
    if found and script.exists() and Path(found).resolve() == script.resolve():
        return "latentlens"
    if not script.exists():
        return f"{shlex.quote(sys.executable)} -m latentlens"
    relative = os.path.relpath(script)
    return shlex.quote(relative if not relative.startswith("..") else str(script))


def serve_settings(args: argparse.Namespace) -> ServeSettings:
    from latentlens.cli.settings import ServeSettings

    return ServeSettings(db=args.db, host=args.host, port=args.port, workers=args.workers,
                         access_log=args.access_log, reload_check_s=args.reload_check, events=args.events)


def serve(args: argparse.Namespace) -> int:
    from latentlens.build.settings import SettingsError
    from latentlens.cli.serve import ServeError
    from latentlens.cli.serve import serve as run_server

    try:
        run_server(serve_settings(args), command=shown_command())
    except ServeError as exc:
        raise SettingsError(str(exc)) from None
    return 0


def query(args: argparse.Namespace) -> int:
    from latentlens.build.export.query import run_query

    print(run_query(args.db, args.sql, fmt=args.format))
    return 0


def mlflow_ui_settings(args: argparse.Namespace) -> MlflowUiSettings:
    from latentlens.cli.settings import MlflowUiSettings

    return MlflowUiSettings(tracking_uri=args.mlflow_uri, port=args.port, experiment=args.experiment)


def mlflow_ui(args: argparse.Namespace) -> int:
    from latentlens.build.settings import check_tracking_uri, default_tracking_uri
    from latentlens.cli.mlflow_ui import run_ui

    check_tracking_uri(default_tracking_uri(args.mlflow_uri))
    return run_ui(mlflow_ui_settings(args))


def doctor(args: argparse.Namespace) -> int:
    """Report (and with --repair fix) an @champion that does not name the published artifact: exit 0 or 2."""
    from latentlens.build.settings import BuildSettings, SettingsError, check_tracking_uri, default_tracking_uri

    uri = default_tracking_uri(args.mlflow_uri)
    check_tracking_uri(uri)
    if not args.out.exists():
        raise SettingsError(f"{args.out}: no published artifact to check")
    from latentlens.build.tracking.reconcile import reconcile

    names = {"rating": BuildSettings.registered_model_name, "topn": BuildSettings.registered_topn_name}
    found = reconcile(uri, args.out, names, repair=args.repair)
    print("\n".join(found.lines))
    return 0 if found.consistent else 2


def publish_settings(args: argparse.Namespace) -> PublishSettings:
    from latentlens.build.publish.settings import PublishSettings

    settings = PublishSettings(source=args.source, name=args.name, endpoint_url=args.endpoint_url, region=args.region,
                               keep=args.keep, sample=args.sample, workers=args.workers, via_s3=args.via_s3,
                               grace_s=args.grace, deadline_s=args.timeout)
    return settings if args.progress is None else replace(settings, progress=args.progress)


def publish_dynamodb(args: argparse.Namespace) -> int:
    import json

    from latentlens.build.publish.dynamodb import PublishError, publish, rollback, status

    settings = publish_settings(args)
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


def experiment_report_settings(args: argparse.Namespace) -> ReportSettings:
    from latentlens.build.experiments.settings import ReportSettings

    return ReportSettings(events=args.events, experiment=args.experiment, share=args.share, salt=args.salt,
                          plot=args.plot)


def experiment_report(args: argparse.Namespace) -> int:
    """Print the report (a table, or JSON with --json); with --plot also write it as a PNG."""
    import json

    from latentlens.build.experiments.report import experiment_report as report_on
    from latentlens.build.experiments.report import format_report

    settings = experiment_report_settings(args)
    report = report_on(settings)
    if settings.plot is not None:
        from latentlens.build.experiments.plot import write_plot

        write_plot(report, settings.plot)
    print(json.dumps(report.as_json(), indent=2) if args.json else format_report(report))
    return 0


def experiment_simulate_settings(args: argparse.Namespace) -> SimulateSettings:
    from latentlens.build.experiments.settings import SimulateSettings

    models = tuple(m.strip() for m in args.models.split(",") if m.strip()) if args.models else None
    return SimulateSettings(data_dir=args.data, champion=args.champion, challenger=args.challenger, models=models,
                            seeds=args.seeds, first_seed=args.first_seed, share=args.share, work_dir=args.workdir)


def experiment_simulate(args: argparse.Namespace) -> int:
    import json

    from latentlens.build.experiments.simulate import format_simulation, simulate, simulation_json

    simulation = simulate(experiment_simulate_settings(args))
    print(json.dumps(simulation_json(simulation), indent=2) if args.json else format_simulation(simulation))
    return 0
