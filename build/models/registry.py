"""Every model the build knows, by name: how to make it, which protocols evaluate it, which roles it fills.

Factories take ModelInputs (catalogue, side data, the quick flag) so models that need item
features get them, and `--quick` swaps in small settings for tests and smoke runs. The export
takes its models by role (exactly one spec fills each), never by name; `--models` help lists
this registry. A new model is a module under build/models/, one ModelSpec here and its contract
test (docs/add-a-model.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING, Any, Literal

from latentlens.build.settings import Scale, SettingsError

if TYPE_CHECKING:  # this module stays light: `latentlens build --help` lists it
    import scipy.sparse as sp

    from latentlens.build.data.tables import MovieLensData
    from latentlens.build.interactions import Vocabulary
    from latentlens.build.models.base import Recommender
    from latentlens.build.models.fit_cache import FitCache

# What the export needs whatever the champions are; each role is filled by exactly one spec.
Role = Literal["similar_movies", "content_fallback", "topn_fallback"]
SIMILAR_MOVIES: Role = "similar_movies"      # collaborative similar-movie lists and because reasons
CONTENT_FALLBACK: Role = "content_fallback"  # similar lists of movies too rare for CF, because reasons
TOPN_FALLBACK: Role = "topn_fallback"        # the exported lists when no model ran the top-N protocol
ROLES: tuple[Role, ...] = (SIMILAR_MOVIES, CONTENT_FALLBACK, TOPN_FALLBACK)

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

    def item_features(self) -> sp.csr_matrix:
        """Content features aligned to `items`, computed once per build and shared."""
        if "features" not in self._cache:
            from latentlens.build.models.content import ContentConfig, item_features

            self._cache["features"] = item_features(self.data, self.items, ContentConfig())
        return self._cache["features"]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    factory: Callable[[ModelInputs], Recommender] | None  # the in-process implementation (None: it has none)
    topn: bool = True      # evaluated on the temporal top-N holdout
    rating: bool = False   # evaluated by k-fold rating cross-validation
    linear_fit: bool = False  # fit cost linear in the ratings: never sampled (build/scale.py)
    description: str = ""
    roles: frozenset[Role] = frozenset()  # what the in-process export takes this model for (see ROLES)
    # its implementations on other engines: engine -> "module:attribute", imported only when that engine runs
    implementations: Mapping[Engine, str] = field(default_factory=dict)

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


_SPARK = "latentlens.build.engines.spark.implementations"


def _popularity(inputs: ModelInputs) -> Recommender:
    from latentlens.build.models.popularity import Popularity, PopularityConfig

    return Popularity(PopularityConfig())


def _itemknn(inputs: ModelInputs) -> Recommender:
    from latentlens.build.models.itemknn import ItemKNN, ItemKNNConfig

    return ItemKNN(ItemKNNConfig())


def _ease_config(inputs: ModelInputs):
    from latentlens.build.models.ease import EASEConfig

    if inputs.quick:
        return EASEConfig(max_items=2_000)
    # Large: the dense inverse over the 8,000 most-rated movies (Gram + inverse ~80 s at
    # synthetic ML-25M vs ~10 min at 20,000); they carry most ratings of a long-tailed catalogue.
    return EASEConfig(max_items=8_000) if inputs.large else EASEConfig()


def _ease(inputs: ModelInputs) -> Recommender:
    from latentlens.build.models.ease import EASE

    return EASE(_ease_config(inputs))


def _content(inputs: ModelInputs) -> Recommender:
    from latentlens.build.models.content import ContentConfig, ContentKNN

    return ContentKNN(ContentConfig(k=20) if inputs.quick else ContentConfig(), features=inputs.item_features(),
                      fits=inputs.fits)


def _hybrid(inputs: ModelInputs) -> Recommender:
    from latentlens.build.models.hybrid import Hybrid, HybridConfig

    protocol = {"k": inputs.k, "relevance_threshold": inputs.relevance_threshold}
    if inputs.quick:  # the weights validation chose on ml-latest-small, no grid search
        config = HybridConfig(cf=_ease_config(inputs), weights={"cf": 1.0, "content": 0.01, "popularity": 0.0},
                              **protocol)
    elif inputs.large:
        config = HybridConfig(cf=_ease_config(inputs), validation_fit_users=30_000, **protocol)
    else:
        config = HybridConfig(**protocol)
    return Hybrid(config, features=inputs.item_features(), fits=inputs.fits)


def _baseline(inputs: ModelInputs) -> Recommender:
    from latentlens.build.models.baseline import Baseline, BaselineConfig

    return Baseline(BaselineConfig())


def _surprise_svd(inputs: ModelInputs) -> Recommender:
    from latentlens.build.models.surprise_svd import SurpriseSVD, SurpriseSVDConfig

    return SurpriseSVD(SurpriseSVDConfig(n_factors=20, n_epochs=5) if inputs.quick else SurpriseSVDConfig())


def _biased_mf(inputs: ModelInputs) -> Recommender:
    from latentlens.build.models.biased_mf import BiasedMF, BiasedMFConfig

    return BiasedMF(BiasedMFConfig(reg_grid=None) if inputs.quick else BiasedMFConfig())


def _knn_baseline(inputs: ModelInputs) -> Recommender:
    from latentlens.build.models.knn_baseline import KNNBaseline, KNNBaselineConfig

    return KNNBaseline(KNNBaselineConfig(min_raters=10) if inputs.quick else KNNBaselineConfig())


def _rating_blend(inputs: ModelInputs) -> Recommender:
    from latentlens.build.models.biased_mf import BiasedMFConfig
    from latentlens.build.models.knn_baseline import KNNBaselineConfig
    from latentlens.build.models.rating_blend import RatingBlend, RatingBlendConfig

    if inputs.quick:
        return RatingBlend(RatingBlendConfig(mf=BiasedMFConfig(reg_grid=None),
                                             item_knn=KNNBaselineConfig(min_raters=10), user_knn=None,
                                             refit=False, holdout_fraction=0.2))
    if inputs.large:  # components kept from the 90% fit, and no user kNN: sum over items of
        # (raters)^2 made it 256 s per fit at synth-5M, under the 50,000-user cap
        return RatingBlend(RatingBlendConfig(refit=False, user_knn=None))
    return RatingBlend(RatingBlendConfig())


_REGISTERED: dict[str, ModelSpec] = {}  # models registered by their own module (register), after the built-in ones


def register(spec: ModelSpec) -> ModelSpec:
    """Add a model to the registry from its own module: the build evaluates it on every engine it has an
    implementation for, `--models` lists it, and it can be champion. Returns the spec."""
    if spec.name in _builtin_specs() or _REGISTERED.get(spec.name, spec) != spec:
        raise ValueError(f"a model named {spec.name!r} is already registered")
    _REGISTERED[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a model `register` added (tests)."""
    _REGISTERED.pop(name, None)


def all_specs() -> dict[str, ModelSpec]:
    """Every registered model, the built-in ones first, in registry order."""
    return {**_builtin_specs(), **_REGISTERED}


def _builtin_specs() -> dict[str, ModelSpec]:
    specs = [
        ModelSpec("popularity", _popularity, description="IMDB-style weighted rating, overall and per genre",
                  roles=frozenset({TOPN_FALLBACK}), implementations={"spark": f"{_SPARK}:POPULARITY"}),
        ModelSpec("itemknn", _itemknn, description="item-item cosine kNN on the sparse item-user matrix",
                  roles=frozenset({SIMILAR_MOVIES})),
        ModelSpec("ease", _ease, description="EASE (Steck 2019), recency- and rating-weighted profiles"),
        ModelSpec("content", _content, description="genres + tag TF-IDF + year + genome, cosine",
                  roles=frozenset({CONTENT_FALLBACK})),
        ModelSpec("hybrid", _hybrid, description="EASE + content + popularity, weights chosen on validation"),
        ModelSpec("baseline", _baseline, rating=True, linear_fit=True,
                  description="global mean + user and item biases"),
        ModelSpec("surprise_svd", _surprise_svd, rating=True, description="scikit-surprise SVD"),
        ModelSpec("biased_mf", _biased_mf, rating=True, linear_fit=True,
                  description="biased MF by conjugate-gradient ALS"),
        ModelSpec("knn_baseline", _knn_baseline, rating=True, description="item kNN on baseline residuals"),
        ModelSpec("rating_blend", _rating_blend, rating=True,
                  description="ridge blend of baseline, MF, item- and user-kNN"),
        ModelSpec("als_explicit", None, rating=True, linear_fit=True,
                  description="Spark ML ALS on the ratings, tuned on validation RMSE",
                  implementations={"spark": f"{_SPARK}:ALS_EXPLICIT"}),
        ModelSpec("als_implicit", None, linear_fit=True,
                  description="Spark ML implicit ALS (confidence 1 + alpha rating), tuned on validation NDCG",
                  implementations={"spark": f"{_SPARK}:ALS_IMPLICIT"}),
    ]
    return {s.name: s for s in specs}


def for_role(role: Role, engine: Engine = INPROCESS) -> ModelSpec:
    """The one spec that fills `role` on `engine`."""
    found = [spec for spec in all_specs().values() if role in spec.roles_on(engine)]
    if len(found) != 1:
        raise LookupError(f"role {role!r} is filled by {[s.name for s in found]} on the {engine} engine, "
                          "not by exactly one model")
    return found[0]


def export_models(engine: Engine = INPROCESS) -> tuple[str, ...]:
    """Models `engine`'s export needs whatever the champions are: every role's, in registry order."""
    return tuple(spec.name for spec in all_specs().values() if spec.roles_on(engine))


def models_help() -> str:
    """The `--models` help: every registered name, from this registry."""
    return f"comma-separated subset: {', '.join(all_specs())} (default: all; a model without an " \
           "implementation on the build's engine is reported as skipped)"


@dataclass(frozen=True)
class Selection:
    """The models a build runs on its engine, and the asked-for ones it skips, each with the reason."""

    specs: list[ModelSpec]
    skipped: dict[str, str]


def selection(names: tuple[str, ...] | None, engine: Engine = INPROCESS) -> Selection:
    """`--models` (None: every registered model) on `engine`: unknown names fail, models without an
    implementation there are skipped with the reason."""
    specs = all_specs()
    unknown = [n for n in names or () if n not in specs]
    if unknown:
        raise SettingsError(f"unknown model(s) {unknown}; known: {', '.join(specs)}")
    asked = [specs[n] for n in names] if names is not None else list(specs.values())
    return Selection([s for s in asked if engine in s.engines],
                     {s.name: skip_reason(s, engine) for s in asked if engine not in s.engines})


def select(names: tuple[str, ...] | None, engine: Engine = INPROCESS) -> list[ModelSpec]:
    """The models of `selection` that run on `engine`."""
    return selection(names, engine).specs
