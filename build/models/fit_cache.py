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


def _owner_key(owner: object) -> str:
    """A content key for memo's owner: a sparse matrix's (or array's) fingerprint, else its type and id."""
    import numpy as np
    import scipy.sparse as sp

    from latentlens.build.interactions import fingerprint

    if sp.issparse(owner):
        csr = sp.csr_matrix(owner)
        return fingerprint(np.asarray(csr.shape), csr.indptr, csr.indices, csr.data)
    if isinstance(owner, np.ndarray):
        return fingerprint(owner)
    return f"{type(owner).__name__}@{id(owner)}"


class FitCache:
    """Fits of deterministic models shared within one build, keyed by model, config (`fit_key`) and
    the data's fingerprint (Interactions.fingerprint): equal data shares a fit whichever object holds it.

    The hybrid's EASE and content components are the very models evaluated on their own a
    moment earlier (and retrained for the export): at ML-25M each EASE fit is over a minute.
    Its lifetime is the build's (ModelInputs holds one per build); `forget` drops a split's fits
    once no later stage can ask for them.
    """

    def __init__(self) -> None:
        self._fits: dict[tuple[str, str, str], Recommender] = {}
        self._memo: dict[tuple, object] = {}
        self._stand_ins: dict[str, str] = {}  # data fingerprint -> the fingerprint of the data standing in
        self._n_ratings: dict[str, int] = {}

    def fit(self, model: Recommender, data: Interactions, ctx: FitContext) -> Recommender:
        if not type(model).deterministic:
            return model.fit(data, ctx)
        key = (type(model).__name__, model.fit_key(), data.fingerprint)
        hit = self._fits.get(key)
        if hit is None and (hit := self._stand_in(key)) is not None:
            self._fits[key] = hit
        elif hit is None:
            hit = self._fits[key] = model.fit(data, ctx)
            self._n_ratings[data.fingerprint] = data.n_ratings
        else:
            log.info("%s: reusing the fit on the same data", model.name)
        return hit

    def allow_stand_in(self, data: Interactions, stand_in: Interactions) -> None:
        """Let fits on `stand_in` serve for `data` where what a model learned is about items only
        (Recommender.item_side: it scores the histories it is given): the large plan's top-N training
        split is all the ratings but the evaluated users' latest, and EASE's or item-kNN's item-item
        weights learned from it differ from a refit on everything by that share alone, at a minute or
        more per fit."""
        self._stand_ins[data.fingerprint] = stand_in.fingerprint

    def _stand_in(self, key: tuple[str, str, str]) -> Recommender | None:
        stand_in = self._stand_ins.get(key[2])
        near = self._fits.get((key[0], key[1], stand_in)) if stand_in is not None else None
        if near is None or not type(near).item_side:
            return None
        log.info("%s: the evaluation's fit on %d ratings scores every user's full history", near.name,
                 self._n_ratings.get(stand_in or "", 0))
        return near

    def memo(self, key: tuple, owner: object, compute: Callable[[], T]) -> T:
        """A value computed once per (key, owner) for the build: data-independent parts of a fit,
        such as content similarities, which depend on the item features alone (keyed by their content)."""
        full_key = (*key, _owner_key(owner))
        if full_key not in self._memo:
            self._memo[full_key] = compute()
        # one store for every kind of value: what `compute` made under this key and owner
        return cast(T, self._memo[full_key])

    def forget(self, data: Interactions) -> None:
        """Drop the fits on `data` (the evaluation's train split, once the retrain is done) and
        the stand-in it was."""
        gone = data.fingerprint
        self._fits = {k: v for k, v in self._fits.items() if k[2] != gone}
        self._stand_ins = {k: v for k, v in self._stand_ins.items() if v != gone}
