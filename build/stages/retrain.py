"""Stage 4, retrain: the champions and the models the export needs by role, refit on every rating."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from latentlens.build.models import registry
from latentlens.build.models.base import Recommender
from latentlens.build.models.registry import ModelInputs
from latentlens.build.progress import get_logger, progress
from latentlens.build.sampling import sample_ratings
from latentlens.build.stages.champions import Champions
from latentlens.build.stages.evaluate import Comparison, fit_context
from latentlens.build.stages.prepare import Prepared
from latentlens.build.tracking.tracker import Tracker

log = get_logger(__name__)


@dataclass(frozen=True)
class Finals:
    """The models fitted on all data, by name; the export asks for them by role."""

    models: dict[str, Recommender]
    champions: Champions
    challenger_name: str | None = None  # `--challenger`: its lists are exported beside the champion's

    def by_role(self, role: registry.Role) -> Recommender:
        return self.models[registry.for_role(role).name]

    @property
    def topn(self) -> Recommender:
        """The model whose lists the artifact stores: the top-N champion, else the role's fallback."""
        if self.champions.topn is not None:
            return self.models[self.champions.topn]
        return self.by_role(registry.TOPN_FALLBACK)

    @property
    def challenger(self) -> Recommender | None:
        """The challenger's fit: the very champion's object for an A/A test (the champion's own name)."""
        return self.models[self.challenger_name] if self.challenger_name is not None else None

    @property
    def rating(self) -> Recommender | None:
        return self.models[self.champions.rating] if self.champions.rating is not None else None


def retrain(prepared: Prepared, inputs: ModelInputs, comparison: Comparison, champions: Champions,
            tracker: Tracker) -> Finals:
    """Champions, the challenger and the models the export always needs, refit on every rating.

    A model that chose settings on validation during its evaluation (the hybrid's weights)
    is refit with those choices fixed, not searched again. The export's models go first, so
    the hybrid's content and popularity parts are the very fits the export uses (FitCache).
    In the large plan a rating champion whose fit cost is superlinear fits on a sample, and
    EASE and item-kNN (alone or in the hybrid) keep the item-item weights of their evaluation
    fit, on every rating but the evaluated users' latest (ScalePlan.reuses_fits), scoring
    every user's full history: the same weights, up to that share, for a minute or more less
    per model. `inputs` carries the run's FitCache (build/engines/inprocess.py owns it).
    """
    settings, full, plan = prepared.settings, prepared.full, prepared.plan
    train = prepared.split.train
    if not prepared.reuses_evaluation_fits():
        inputs.fits.forget(train)  # no final fit can use them: free them before the refits
    else:
        inputs.fits.allow_stand_in(full, train)
        tracker.log_params({"final_item_models_from_evaluation": True,
                            "final_item_models_train_ratings": train.n_ratings})
        log.info("retrain: item-side models keep their evaluation fit on %d of %d ratings (%.2f%%)",
                 train.n_ratings, full.n_ratings, 100 * train.n_ratings / full.n_ratings)
    topn_champ, rating_champ = champions.topn, champions.rating
    tuned = comparison.tuned()
    specs = registry.all_specs()
    challenger = settings.challenger
    wanted = [n for n in dict.fromkeys([*registry.export_models(), topn_champ, rating_champ, challenger]) if n]
    finals = {}
    for name in progress(wanted, desc="retrain on all data", show=settings.progress, unit="model"):
        log.info("retraining %s on all %d ratings", name, full.n_ratings)
        spec = specs[name]
        model = spec.make(inputs)
        if name in tuned:
            model.config = tuned[name]
        data = full
        if name == rating_champ and name not in (topn_champ, challenger):  # lists come from a fit on everything
            data = sample_ratings(full, plan.final_fit_max_ratings(spec), np.random.default_rng([settings.seed, 2]))
            if data is not full:
                log.info("%s: final fit on a sample of %d ratings (scale plan)", name, data.n_ratings)
                tracker.log_params({"rating_fit_ratings": data.n_ratings})
        context = fit_context(settings.seed, name, settings.threads, settings.progress)
        finals[name] = inputs.fits.fit(model, data, context)
        if chosen := {k: v for k, v in finals[name].chosen().items() if not isinstance(v, dict)}:
            tracker.log_params({f"final_{name}.{k}": v for k, v in chosen.items()})  # what the shipped fit chose
    inputs.fits.forget(train)
    for split in {id(d): d for d in prepared.split.interactions() if d is not full}.values():
        split.release_matrices()  # the export reads `full` only
    return Finals(finals, champions, challenger)
