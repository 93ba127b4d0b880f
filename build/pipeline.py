"""`latentlens build`: prepare → evaluate → choose champions → retrain → export, on any engine.

    run(settings, engine, tracker) -> BuildResult

This module owns the order of the stages, the record of every model (one evaluation.json shape, one
comparison table), the champion rule, the build info and every tracker call about the build as a
whole. The engine (build/engines/engine.py) supplies only what differs: how the data is held and
split, how a model is fit and scored, how the finals are refit and the tables written. The tracker
(build/tracking/tracker.py) is the one place that talks to MLflow: NullTracker builds without a store.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from latentlens._version import __version__
from latentlens.build.build_info import BuildInfo, git_commit
from latentlens.build.engines.engine import Engine, EngineRun, Output
from latentlens.build.export.artifact import check_output
from latentlens.build.models import registry
from latentlens.build.progress import get_logger, progress
from latentlens.build.result import BuildResult
from latentlens.build.settings import BuildSettings
from latentlens.build.stages.champions import Champions, choose_champions
from latentlens.build.stages.evaluate import (
    Comparison,
    ModelEvaluation,
    comparison_table,
    record_comparison,
    record_evaluation,
)
from latentlens.build.stages.prepare import check_out_is_not_input, check_pins, record_skipped
from latentlens.build.tracking.limits import TrackingLost
from latentlens.build.tracking.tracker import MlflowTracker, Tracker

__all__ = ["BuildResult", "run"]

log = get_logger(__name__)


def run(settings: BuildSettings, engine: Engine | None = None, tracker: Tracker | None = None) -> BuildResult:
    """One build: `engine` defaults to this process (InProcessEngine), `tracker` to the settings' MLflow
    store. Everything a user can get wrong fails before any training (SettingsError, DataError)."""
    started = time.perf_counter()
    if engine is None:
        from latentlens.build.engines.inprocess import InProcessEngine

        engine = InProcessEngine()
    chosen = engine.selection(settings)
    check_pins(settings, chosen.specs, None)  # names and kinds: before reading 25M ratings
    check_out_is_not_input(settings.out, settings.data_dir)  # on every engine, before it reads anything
    check_output(settings.out, force=settings.force)  # writable, and no stranger's file replaced: every engine too
    tracker = tracker or MlflowTracker(settings.mlflow_uri, settings.experiment, settings.mlflow_timeout_s,
                                       needed_bytes=store_room(settings))
    tracker.check_store()  # a tracking server that never answers, a full or read-only store: before the data
    with artifact_state_told(settings), engine.open(settings, chosen) as session:
        commit = git_commit()
        with tracker.build_run(f"{session.dataset.name} {datetime.now(UTC):%Y-%m-%d %H:%M:%S}"):
            record_context(session, settings, tracker, commit)
            # less what the engine skipped once it saw the data (the large plan's skips)
            comparison = evaluate(session, [s for s in chosen.specs if s.name not in session.skipped],
                                  settings, tracker)
            champions = choose_champions(comparison.evaluations, settings)
            tracker.set_tags(champions.tags())
            record_comparison(comparison, session.evaluation.k, tracker)
            finals = session.retrain(comparison, champions, tracker)
            info = build_info(session, settings, champions, tracker.run_id, commit)
            output = session.export(comparison, finals, info, tracker)
            record_output(output, settings, tracker, started)
    return BuildResult(output.artifact, comparison.table, champions.topn, champions.rating, tracker.run_id,
                       settings.mlflow_uri, time.perf_counter() - started, output.registered, tracker.experiment_id,
                       comparison.caption, engine.name, output.parquet, output.manifest)


@contextmanager
def artifact_state_told(settings: BuildSettings) -> Iterator[None]:
    """A tracking server lost mid-build (TrackingLost): its one line also says what became of --out, by the file
    itself (replaced or not since the build began), whatever the engine and the stage."""
    before = _identity(settings.out)
    try:
        yield
    except TrackingLost as exc:
        out = settings.out
        if _identity(out) == before:
            state = f"{out} is as it was" if before is not None else f"nothing was written at {out}"
        elif settings.register_model:
            state = (f"{out} is this build's artifact but its champions are not registered: run `latentlens doctor "
                     "--repair` once the server answers")
        else:
            state = f"{out} is this build's artifact; its MLflow run is incomplete"
        raise TrackingLost(exc.tracking_uri, exc.what, exc.limits, state) from exc.__cause__


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_ino, found.st_mtime_ns, found.st_size


def store_room(settings: BuildSettings) -> int:
    """Free bytes the MLflow store needs: less when only the champions' models are logged (before the data is read
    the scale plan is not known, so a build that leaves it to the plan is checked for every model)."""
    from latentlens.build.tracking.preflight import ALL_MODELS_FREE_BYTES, MIN_FREE_BYTES

    return MIN_FREE_BYTES if settings.log_models == "champions" else ALL_MODELS_FREE_BYTES


def record_context(session: EngineRun[Any], settings: BuildSettings, tracker: Tracker, commit: str) -> None:
    """What every build ran on and with which settings (the parent run's tags and params), then the engine's own."""
    evaluation, dataset = session.evaluation, session.dataset
    tracker.set_tags({"git_commit": commit, "dataset": dataset.name, "dataset_sha256": dataset.sha256,
                      "package_version": __version__, "protocols": session.caption})
    tracker.log_params({"data_dir": str(settings.data_dir), "seed": settings.seed, "quick": settings.quick,
                        "scale": session.scale, "test_fraction": evaluation.test_fraction,
                        "relevance_threshold": evaluation.relevance_threshold,
                        "top_n": settings.top_n, "similar_n": settings.similar_n,
                        "min_cf_ratings": settings.min_cf_ratings, "max_eval_users": evaluation.max_eval_users,
                        "challenger_model": settings.challenger or "", "events_used": dataset.events_used})
    tracker.log_params({f"sampled_{k}": v for k, v in session.sampled.items()})
    session.record_context(tracker)
    record_skipped(session.skipped, tracker)


def evaluate(session: EngineRun[Any], specs: list[registry.ModelSpec], settings: BuildSettings,
             tracker: Tracker) -> Comparison:
    """Stage 2: every model on the same splits, each in its own tracked run with one record shape."""
    evaluations: list[ModelEvaluation] = []
    log.info("%s: evaluating %s", session.dataset.name, ", ".join(spec.name for spec in specs))
    for spec in progress(specs, desc="models", show=settings.progress, unit="model"):
        with tracker.model_run(spec.name) as run_id:
            log.info("evaluating %s", spec.name)
            ev = session.evaluate(spec, tracker)
            tracker.log_params(ev.params)
            record_evaluation(ev, tracker, engine=session.engine)
            ev.extra["mlflow_run_id"] = run_id
            if ev.fitted is not None and settings.models_logged(session.scale) == "all":
                tracker.log_evaluated_model(*ev.fitted, top_n=settings.top_n)
            ev.fitted = None  # not kept for the whole build
        evaluations.append(ev)
    return Comparison(evaluations, comparison_table(evaluations, session.evaluation.k), session.caption)


def build_info(session: EngineRun[Any], settings: BuildSettings, champions: Champions, run_id: str,
               commit: str) -> BuildInfo:
    """The artifact's build_info; the in-process artifact leaves `engine` out (its rows predate engines)."""
    engine = None if session.engine == registry.INPROCESS else session.engine
    return BuildInfo.of(settings, session.dataset, champions.topn, champions.rating, run_id, session.scale, commit,
                        engine=engine)


def record_output(output: Output, settings: BuildSettings, tracker: Tracker, started: float) -> None:
    """Where the artifact went and what it is, on the parent run."""
    if output.artifact is not None:
        tracker.log_metrics({"artifact_mb": output.artifact.size_bytes / 1e6})
        tracker.set_tags({"artifact_sha256": output.artifact.sha256})
        tracker.log_params({"artifact_path": str(Path(settings.out).resolve())})
    if output.parquet is not None:
        tracker.log_params({"parquet_path": str(output.parquet.resolve())})
    tracker.log_metrics({"build_seconds": time.perf_counter() - started})
