"""Stage 3, champions: which model's lists are exported and which rating model is registered.

The metric's best unless the settings pin a model (`--topn-champion`, `--rating-champion`); a pin
is checked against the build's models before any data is read (stages/prepare.py: `check_pins`).
"""

from __future__ import annotations

from dataclasses import dataclass

from latentlens.build.progress import get_logger
from latentlens.build.settings import BuildSettings
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
