"""Fits shared within one build: a deterministic model fitted twice on the same data is fitted once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar, cast

from latentlens.build.progress import get_logger

if TYPE_CHECKING:
    from latentlens.build.interactions import Interactions
    from latentlens.build.models.base import FitContext, Recommender

log = get_logger(__name__)

T = TypeVar("T")


class FitCache:
    """Fits of deterministic models shared within one build, keyed by model, config and data.

    The hybrid's EASE and content components are the very models evaluated on their own a
    moment earlier (and retrained for the export): at ML-25M each EASE fit is over a minute.
    The data object is held with its entry, so its id() cannot be reused by another object.
    """

    def __init__(self) -> None:
        self._fits: dict[tuple[str, str, int], tuple[Interactions, Recommender]] = {}
        self._memo: dict[tuple, tuple[object, object]] = {}
        self._stand_ins: dict[int, tuple[Interactions, Interactions]] = {}

    def fit(self, model: Recommender, data: Interactions, ctx: FitContext) -> Recommender:
        if not type(model).deterministic:
            return model.fit(data, ctx)
        key = (type(model).__name__, model.fit_key(), id(data))
        hit = self._fits.get(key)
        if hit is None and (rebound := self._rebound(key, data)) is not None:
            hit = self._fits[key] = (data, rebound)
        elif hit is None:
            hit = self._fits[key] = (data, model.fit(data, ctx))
        else:
            log.info("%s: reusing the fit on the same data", model.name)
        return hit[1]

    def allow_stand_in(self, data: Interactions, stand_in: Interactions) -> None:
        """Let fits on `stand_in` serve for `data` where a model can take `data`'s user histories
        (Recommender.with_histories): the large plan's top-N training split is all the ratings but
        the evaluated users' latest, and EASE's or item-kNN's item-item weights learned from it
        differ from a refit on everything by that share alone, at a minute or more per fit."""
        self._stand_ins[id(data)] = (data, stand_in)

    def _rebound(self, key: tuple[str, str, int], data: Interactions) -> Recommender | None:
        entry = self._stand_ins.get(id(data))
        near = self._fits.get((key[0], key[1], id(entry[1]))) if entry is not None else None
        if near is None:
            return None
        rebound = near[1].with_histories(data)
        if rebound is not None:
            log.info("%s: the evaluation's fit on %d ratings, with the user histories of all %d",
                     rebound.name, near[0].n_ratings, data.n_ratings)
        return rebound

    def memo(self, key: tuple, owner: object, compute: Callable[[], T]) -> T:
        """A value computed once per (key, owner) for the build: data-independent parts of a fit,
        such as content similarities, which depend on the item features alone."""
        full_key = (*key, id(owner))
        hit = self._memo.get(full_key)
        if hit is None:
            hit = self._memo[full_key] = (owner, compute())
        # one store for every kind of value: what `compute` made under this key and owner
        return cast(T, hit[1])

    def forget(self, data: Interactions) -> None:
        """Drop the fits on `data` (the evaluation's train split, once the retrain is done) and
        the stand-in it was."""
        self._fits = {k: v for k, v in self._fits.items() if v[0] is not data}
        self._stand_ins = {k: v for k, v in self._stand_ins.items() if v[1] is not data}
