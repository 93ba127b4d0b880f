"""Stage 1, prepare: settings in, the data and every split the evaluation needs out.

The only stage that reads input files. Everything a user can get wrong (an unknown model, a pin the
build cannot honour, a bad --out, too little data) fails here, before any training.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from latentlens.build.build_info import DatasetFacts
from latentlens.build.data.loader import INPUT_FILES, LoadOptions, load_movielens
from latentlens.build.data.summary import summarize
from latentlens.build.data.tables import MovieLensData
from latentlens.build.evaluate.protocol import EvaluationData, evaluation_data
from latentlens.build.export.artifact import OutputError, check_output, estimate_artifact_bytes, store_dir
from latentlens.build.interactions import Interactions, to_interactions
from latentlens.build.minimum import check_minimum, topn_skip_reason
from latentlens.build.models import registry
from latentlens.build.progress import get_logger
from latentlens.build.scale import ScalePlan, choose_scale, plan_for
from latentlens.build.settings import BuildSettings, EvaluationSettings, SettingsError
from latentlens.build.stages.events import LearnedEvents, learn_from_events
from latentlens.build.tracking.tracker import Tracker

if TYPE_CHECKING:
    from latentlens.build.models.fit_cache import FitCache

log = get_logger(__name__)


@dataclass(frozen=True)
class Prepared:
    """What every later stage reads: the settings, the models to evaluate, the data and its splits."""

    settings: BuildSettings
    specs: list[registry.ModelSpec]
    data: MovieLensData
    full: Interactions               # every rating: the retrain and the export
    plan: ScalePlan
    evaluation: EvaluationSettings   # the settings' protocol with the scale plan applied
    split: EvaluationData
    summary: dict                    # data info's summary of the dataset
    topn_skip: str | None            # why no model can run the top-N protocol here (None: it runs)
    # asked-for models with no in-process implementation, an optional extra missing or the large plan skipping them
    skipped: dict[str, str] = field(default_factory=dict)
    events: LearnedEvents = field(default_factory=LearnedEvents)  # what `--events` folded into `data` and `full`

    def model_inputs(self, fits: FitCache) -> registry.ModelInputs:
        """What model factories need (catalogue, features), sharing fits through the run's `fits`."""
        return registry.ModelInputs(data=self.data, items=self.full.items, quick=self.settings.quick,
                                    scale=self.plan.scale, k=self.evaluation.k,
                                    relevance_threshold=self.evaluation.relevance_threshold, fits=fits)

    def dataset(self) -> DatasetFacts:
        """What was read, as build_info states it."""
        full = self.full
        return DatasetFacts(name=self.data.name, path=str(Path(self.settings.data_dir).resolve()),
                            sha256=self.data.sha256, n_users=full.n_users, n_movies=full.n_items,
                            n_rated_movies=int(self.summary.get("rated_movies", np.unique(full.item_idx).size)),
                            n_ratings=full.n_ratings, events_used=self.events.used,
                            events_sessions=self.events.sessions)

    def reuses_evaluation_fits(self) -> bool:
        """Whether the retrain may keep item-side evaluation fits (ScalePlan.reuses_fits on this split)."""
        return self.plan.reuses_fits(self.split.train.n_ratings, self.full.n_ratings)


def prepare(settings: BuildSettings, chosen: registry.Selection | None = None) -> Prepared:
    """`chosen`: the models to evaluate (default: the settings' on the in-process engine)."""
    if chosen is None:
        check_challenger(settings, registry.INPROCESS)
        chosen = registry.selection(settings.model_names(), registry.INPROCESS)
    specs = chosen.specs
    check_pins(settings, specs, None)  # names and kinds: before reading 25M ratings
    check_out_is_not_input(settings.out, settings.data_dir)  # --force or not
    check_output(settings.out, force=settings.force)  # a bad --out costs seconds, not the whole build
    data = load_movielens(settings.data_dir, LoadOptions(keep_last_duplicate=settings.keep_last_duplicate))
    data, events = learn_from_events(data, settings.events)  # the people's ratings since: `--events`
    full = to_interactions(data)
    check_output(settings.out, force=settings.force, needed_bytes=estimate_artifact_bytes(
        full.n_users, full.n_items, settings.top_n, settings.similar_n))
    plan = plan_for(choose_scale(settings.scale, full.n_ratings))
    plan_skipped = plan_skips(settings, specs, plan)
    specs = [spec for spec in specs if spec.name not in plan_skipped]
    check_pins(settings, specs, plan, plan_skipped)
    evaluation = plan.apply(settings.evaluation)
    check_minimum(full, evaluation.folds, settings.data_dir)  # 1 user, 1 movie, 1 rating: exit 2, not a crash
    split = evaluation_data(full, evaluation, settings.seed)
    log.info("protocols: %s", split.caption())
    log.info("%s: %d users, %d movies, %d ratings; evaluating %d models",
             data.name, full.n_users, full.n_items, full.n_ratings, len(specs))
    log.info("scale plan: %s (%d-fold CV, eval users %s, CV ratings %s)", plan.scale, evaluation.folds,
             evaluation.max_eval_users or "all", evaluation.cv_max_ratings or "all")
    return Prepared(settings, specs, data, full, plan, evaluation, split, summarize(data),
                    topn_skip_reason(split.test), {**chosen.skipped, **plan_skipped}, events)


def check_out_is_not_input(out: Path, data_dir: Path) -> None:
    """OutputError (exit 2) unless `out` and the builds store beside it lie outside the data directory and
    are none of its input files, symlinks followed: a build never writes over what it reads, not even with
    --force (which only lets it replace a file that is not a LatentLens artifact).

    Anything inside the data directory is refused, not only the files read: the loader recognises a
    layout by the files present, so an artifact written there can change what the next build reads. An
    input file may itself be a symlink out of the directory: its target is refused too."""
    data = Path(os.path.realpath(data_dir))  # realpath, not Path.resolve(): a symlink loop is no RuntimeError
    inputs = {Path(os.path.realpath(data / name)) for name in INPUT_FILES}
    for target in (Path(out), store_dir(Path(out))):
        resolved = Path(os.path.realpath(target))
        shown = "" if resolved == Path(os.path.abspath(target)) else f" (it resolves to {resolved})"
        if resolved == data:
            where = f"is the data directory --data {data_dir}{shown}"
        elif data in resolved.parents:
            where = f"is inside the data directory --data {data_dir}{shown}"
        elif resolved in inputs:
            where = f"resolves to {resolved}, an input file of --data {data_dir}"
        else:
            continue
        raise OutputError(target, f"{where}; a build never writes over its input, not even with --force: "
                                  "choose an --out outside the data directory")


def record_inputs(prepared: Prepared, tracker: Tracker) -> None:
    """What only the in-process protocol has (k-fold CV, the rating holdout's size) and the dataset itself;
    build/pipeline.py logs what every engine's build logs."""
    evaluation = prepared.evaluation
    tracker.log_params({"folds": evaluation.folds, "cv_max_ratings": evaluation.cv_max_ratings,
                        "rating_holdout_users": evaluation.rating_holdout_users})
    tracker.log_dataset(prepared.data, prepared.settings.data_dir, prepared.summary)
    if prepared.settings.events is not None:  # what `--events` read and folded in (events_used: every engine's)
        tracker.log_params(prepared.events.params())
        tracker.log_metrics({"events_used": prepared.events.used, "events_seconds": prepared.events.seconds})


def plan_skips(settings: BuildSettings, specs: list[registry.ModelSpec], plan: ScalePlan) -> dict[str, str]:
    """The models the large plan skips (ModelSpec.large_plan_skip), with the reason; `--quick` and naming one in
    `--models` run it all the same."""
    if plan.scale != "large" or settings.quick:
        return {}
    named = settings.named_models()
    return {spec.name: f"skipped by the large scale plan: {spec.large_plan_skip} (--models or --challenger naming "
                       "it runs it)"
            for spec in specs if spec.large_plan_skip and spec.name not in named}


def check_pins(settings: BuildSettings, specs: list, plan: ScalePlan | None,
               skipped: dict[str, str] | None = None) -> None:
    """A pinned champion must be evaluated in this build on its own protocol: fail before any training.
    Without a plan (the data not read yet) only names and kinds are checked."""
    chosen = {spec.name: spec for spec in specs}
    for flag, name, kind in (("--topn-champion", settings.topn_champion, "topn"),
                             ("--rating-champion", settings.rating_champion, "rating"),
                             ("--challenger", settings.challenger, "topn")):
        if name is None:
            continue
        spec = chosen.get(name)
        if spec is None and skipped and name in skipped:
            raise SettingsError(f"{flag} {name}: {skipped[name]}")
        if spec is None:
            raise SettingsError(f"{flag} {name}: not among this build's models ({', '.join(chosen)})")
        if not getattr(spec, kind):
            raise SettingsError(f"{flag} {name}: cannot ship it, it is not evaluated as a "
                                f"{'top-N' if kind == 'topn' else 'rating'} model")
        if kind == "topn" and plan is not None and not plan.runs_topn(spec):
            raise SettingsError(f"{flag} {name}: the {plan.scale} scale plan skips its top-N (superlinear fit); "
                                "--scale small evaluates it")


def check_challenger(settings: BuildSettings, engine: registry.Engine) -> None:
    """`--challenger MODEL` must name a registered top-N model this engine runs: else one line listing those,
    before any data is read. It is then evaluated like the models `--models` names (BuildSettings.model_names)."""
    name = settings.challenger
    if name is None:
        return
    specs = registry.all_specs()
    choices = [s.name for s in specs.values() if s.topn and registry.unavailable_reason(s, engine) is None]
    spec = specs.get(name)
    if spec is None:
        why = "no such model"
    elif not spec.topn:
        why = "not a top-N model (it is evaluated on ratings only)"
    else:
        why = registry.unavailable_reason(spec, engine) or ""
    if why:
        raise SettingsError(f"--challenger {name}: {why}; choose one of: {', '.join(choices)}")


def record_skipped(skipped: dict[str, str], tracker: Tracker) -> None:
    """Models asked for (or registered) that the engine has no implementation of: a tag each, with the reason."""
    for name, reason in skipped.items():
        log.info("%s: skipped: %s", name, reason)
    if skipped:
        tracker.set_tags({f"skipped.{name}": reason for name, reason in skipped.items()})
