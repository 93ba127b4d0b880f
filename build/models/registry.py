"""Every model the build knows, by name: how to make it, which protocols evaluate it, which roles it fills.

Factories take ModelInputs (catalogue, side data, the quick flag) so models that need item
features get them, and `--quick` swaps in small settings for tests and smoke runs. The export
takes its models by role (exactly one spec fills each), never by name; `--models` help lists
this registry. A new model is a module under build/models/, one ModelSpec here and its contract
test (docs/add-a-model.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

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
    factory: Callable[[ModelInputs], Recommender]
    topn: bool = True      # evaluated on the temporal top-N holdout
    rating: bool = False   # evaluated by k-fold rating cross-validation
    linear_fit: bool = False  # fit cost linear in the ratings: never sampled (build/scale.py)
    description: str = ""
    roles: frozenset[Role] = frozenset()  # what the export takes this model for (see ROLES)


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


def all_specs() -> dict[str, ModelSpec]:
    specs = [
        ModelSpec("popularity", _popularity, description="IMDB-style weighted rating, overall and per genre",
                  roles=frozenset({TOPN_FALLBACK})),
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
    ]
    return {s.name: s for s in specs}


def for_role(role: Role) -> ModelSpec:
    """The one spec that fills `role`."""
    found = [spec for spec in all_specs().values() if role in spec.roles]
    if len(found) != 1:
        raise LookupError(f"role {role!r} is filled by {[s.name for s in found]}, not by exactly one model")
    return found[0]


def export_models() -> tuple[str, ...]:
    """Models the export needs whatever the champions are: every role's, in registry order."""
    return tuple(spec.name for spec in all_specs().values() if spec.roles)


def models_help() -> str:
    """The `--models` help: every registered name, from this registry."""
    return f"comma-separated subset: {', '.join(all_specs())} (default: all)"


def select(names: tuple[str, ...] | None) -> list[ModelSpec]:
    specs = all_specs()
    if names is None:
        return list(specs.values())
    unknown = [n for n in names if n not in specs]
    if unknown:
        raise SettingsError(f"unknown model(s) {unknown}; known: {', '.join(specs)}")
    return [specs[n] for n in names]
