"""Stage 3, champions: which model's lists are exported and which rating model is registered.

The metric's best unless the settings pin a model (`--topn-champion`, `--rating-champion`); a pin
is checked against the build's models before any data is read (`check_pins`).
"""

from __future__ import annotations

from dataclasses import dataclass

from latentlens.build.progress import get_logger
from latentlens.build.scale import ScalePlan
from latentlens.build.settings import BuildSettings, SettingsError
from latentlens.build.stages.evaluate import ModelEvaluation, best_by_metric

log = get_logger(__name__)


@dataclass(frozen=True)
class Champions:
    topn: str | None              # None: no model ran the top-N protocol (the export falls back)
    rating: str | None
    topn_by_metric: str | None
    rating_by_metric: str | None
    pinned: tuple[str, ...]       # "topn", "rating": the kinds the settings chose

    def tags(self) -> dict[str, str]:
        return {"topn_champion": self.topn or "", "rating_champion": self.rating or "",
                "topn_champion_by_metric": self.topn_by_metric or "",
                "rating_champion_by_metric": self.rating_by_metric or "",
                "champions_pinned": ",".join(self.pinned)}


def choose_champions(evaluations: list[ModelEvaluation], settings: BuildSettings) -> Champions:
    best_topn, best_rating = best_by_metric(evaluations, settings.evaluation.k)
    pinned = tuple(kind for kind, pin in (("topn", settings.topn_champion), ("rating", settings.rating_champion))
                   if pin)
    champions = Champions(settings.topn_champion or best_topn, settings.rating_champion or best_rating,
                          best_topn, best_rating, pinned)
    log.info("champions: top-N %s, rating %s%s", champions.topn, champions.rating,
             f" (pinned; by the metrics: top-N {best_topn}, rating {best_rating})" if pinned else "")
    return champions


def check_pins(settings: BuildSettings, specs: list, plan: ScalePlan | None) -> None:
    """A pinned champion must be evaluated in this build on its own protocol: fail before any training.
    Without a plan (the data not read yet) only names and kinds are checked."""
    chosen = {spec.name: spec for spec in specs}
    for flag, name, kind in (("--topn-champion", settings.topn_champion, "topn"),
                             ("--rating-champion", settings.rating_champion, "rating")):
        if name is None:
            continue
        spec = chosen.get(name)
        if spec is None:
            raise SettingsError(f"{flag} {name}: not among this build's models ({', '.join(chosen)})")
        if not getattr(spec, kind):
            raise SettingsError(f"{flag} {name}: cannot ship it, it is not evaluated as a "
                                f"{'top-N' if kind == 'topn' else 'rating'} model")
        if kind == "topn" and plan is not None and not plan.runs_topn(spec):
            raise SettingsError(f"{flag} {name}: the {plan.scale} scale plan skips its top-N (superlinear fit); "
                                "--scale small evaluates it")
