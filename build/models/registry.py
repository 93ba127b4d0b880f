"""Every model the build knows, by name: how to make it and which protocols evaluate it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import scipy.sparse as sp

from build.data.tables import MovieLensData
from build.models.base import Recommender, Vocabulary


@dataclass(frozen=True)
class ModelInputs:
    """What a model factory may need beyond the interactions: the catalogue and its metadata."""

    data: MovieLensData
    items: Vocabulary
    quick: bool = False
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def item_features(self) -> sp.csr_matrix:
        if "features" not in self._cache:
            from build.models.content import ContentConfig, item_features

            self._cache["features"] = item_features(self.data, self.items, ContentConfig())
        return self._cache["features"]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    factory: Callable[[ModelInputs], Recommender]
    topn: bool = True      # evaluated on the temporal top-N holdout
    rating: bool = False   # evaluated by k-fold rating cross-validation
    description: str = ""


def _popularity(inputs: ModelInputs) -> Recommender:
    from build.models.popularity import PopularityConfig, Popularity

    return Popularity(PopularityConfig())


def all_specs() -> dict[str, ModelSpec]:
    specs = [
        ModelSpec("popularity", _popularity, description="IMDB-style weighted rating baseline"),
    ]
    return {s.name: s for s in specs}


def select(names: tuple[str, ...] | None) -> list[ModelSpec]:
    specs = all_specs()
    if names is None:
        return list(specs.values())
    unknown = [n for n in names if n not in specs]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; known: {sorted(specs)}")
    return [specs[n] for n in names]
