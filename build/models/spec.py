"""What the registry holds of a model: its spec (how to make it, which protocols evaluate it, which
roles it fills, its implementations per engine) and the inputs its factory takes.

Each model module declares its own `SPEC` with this module's `ModelSpec`, its factory holding its
`--quick` and large-plan settings; build/models/registry.py lists the modules. This module stays
light (no numpy): `latentlens build --help` reads the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from latentlens.build.settings import Scale

if TYPE_CHECKING:
    from latentlens.build.data.tables import MovieLensData
    from latentlens.build.interactions import Vocabulary
    from latentlens.build.models.base import Recommender
    from latentlens.build.models.fit_cache import FitCache

T = TypeVar("T")

# Where the models' Spark implementations live: `implementations={"spark": f"{SPARK_IMPLEMENTATIONS}:NAME"}`.
SPARK_IMPLEMENTATIONS = "latentlens.build.engines.spark.implementations"

# What the export needs whatever the champions are; each role is filled by exactly one spec.
Role = Literal["similar_movies", "content_fallback", "topn_fallback", "next_movies"]
SIMILAR_MOVIES: Role = "similar_movies"      # collaborative similar-movie lists and because reasons
CONTENT_FALLBACK: Role = "content_fallback"  # similar lists of movies too rare for CF, because reasons
TOPN_FALLBACK: Role = "topn_fallback"        # the exported lists when no model ran the top-N protocol
NEXT_MOVIES: Role = "next_movies"            # the movies rated next after each movie, and the "recent" reasons
ROLES: tuple[Role, ...] = (SIMILAR_MOVIES, CONTENT_FALLBACK, TOPN_FALLBACK, NEXT_MOVIES)

# The engines a model may have an implementation for: the in-process one is `ModelSpec.factory`,
# any other is named in `ModelSpec.implementations`.
Engine = Literal["inprocess", "spark"]
INPROCESS: Engine = "inprocess"
ENGINES: tuple[Engine, ...] = (INPROCESS, "spark")


def _fit_cache() -> FitCache:
    from latentlens.build.models.fit_cache import FitCache

    return FitCache()


@dataclass(frozen=True)
class ModelInputs:
    """What a model factory may need beyond the interactions: the catalogue and its metadata."""

    data: MovieLensData
    items: Vocabulary
    quick: bool = False
    scale: Scale = "small"  # "large": the configs whose cost outgrows the data are capped
    k: int = 10                      # the protocol's cut-off and relevance, for models that validate on it
    relevance_threshold: float = 4.0
    fits: FitCache = field(default_factory=_fit_cache, compare=False, repr=False)
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def large(self) -> bool:
        return self.scale == "large" and not self.quick

    def shared(self, key: str, make: Callable[[], T]) -> T:
        """A value made once per build and shared by the factories that ask for it under `key` (the
        content features of content.shared_features, read by the content model and the hybrid)."""
        if key not in self._cache:
            self._cache[key] = make()
        return cast(T, self._cache[key])


@dataclass(frozen=True)
class ModelSpec:
    name: str
    factory: Callable[[ModelInputs], Recommender] | None  # the in-process implementation (None: it has none)
    topn: bool = True      # evaluated on the temporal top-N holdout
    rating: bool = False   # evaluated by k-fold rating cross-validation
    linear_fit: bool = False  # fit cost linear in the ratings: never sampled (build/scale.py)
    calibrates: bool = False  # one of the models the synthetic data is held to the real data by (build/calibration.py)
    description: str = ""
    roles: frozenset[Role] = frozenset()  # what the in-process export takes this model for (see ROLES)
    # its implementations on other engines: engine -> "module:attribute", imported only when that engine runs
    implementations: Mapping[Engine, str] = field(default_factory=dict)
    # why it cannot run in this install (an optional extra missing), None when it can: asked when the build
    # selects its models, so a build without the extra reports the model as skipped instead of failing
    unavailable: Callable[[], str | None] | None = None
    # why the large scale plan skips it (a fit that outgrows the build's budget there), None when it runs;
    # naming it in --models runs it all the same (build/stages/prepare.py)
    large_plan_skip: str | None = None

    @property
    def engines(self) -> tuple[Engine, ...]:
        """The engines this model has an implementation for, in ENGINES order."""
        return tuple(e for e in ENGINES if (self.factory is not None if e == INPROCESS else e in self.implementations))

    def make(self, inputs: ModelInputs) -> Recommender:
        """A new in-process model."""
        if self.factory is None:
            raise LookupError(f"{self.name}: {skip_reason(self, INPROCESS)}")
        return self.factory(inputs)

    def implementation(self, engine: Engine) -> Any:
        """This model's implementation on `engine` (not the in-process one: that is `make`)."""
        if engine not in self.implementations:
            raise LookupError(f"{self.name}: {skip_reason(self, engine)}")
        module, _, attribute = self.implementations[engine].partition(":")
        return getattr(import_module(module), attribute)

    def roles_on(self, engine: Engine) -> frozenset[Role]:
        """What `engine`'s export takes this model for."""
        if engine == INPROCESS:
            return self.roles if self.factory is not None else frozenset()
        return self.implementation(engine).roles if engine in self.implementations else frozenset()


def skip_reason(spec: ModelSpec, engine: Engine) -> str:
    """Why `spec` does not run on `engine`: reported, never silently left out."""
    has = ", ".join(spec.engines) or "none"
    return f"no implementation on the {engine} engine (it has: {has})"


def unavailable_reason(spec: ModelSpec, engine: Engine) -> str | None:
    """Why `spec` cannot run on `engine` in this install (no implementation there, an extra missing), or None."""
    if engine not in spec.engines:
        return skip_reason(spec, engine)
    return spec.unavailable() if engine == INPROCESS and spec.unavailable is not None else None
