"""Size and shape of a synthetic MovieLens release (build/data/synth.py writes one): standard library only, so
the CLI reads its defaults here without loading the generator."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar


@dataclass(frozen=True)
class SynthSettings:
    """Size and shape of one synthetic release; `preset` gives the named sizes."""

    name: str                          # the preset it came from ("ml-25m", ..., "small")
    n_users: int
    n_movies: int
    n_ratings: int
    n_tags: int
    seed: int = 0
    n_factors: int = 8
    min_ratings_per_user: int = 20
    max_user_share: float = 0.5        # no user rates more than this share of the rated movies
    unrated_share: float = 0.04        # movies nobody rates
    activity_sigma: float = 1.25       # lognormal spread of ratings per user (ML-25M: mean/median ~ 2.2)
    popularity_exponent: float = 1.0   # item weight ~ (rank + popularity_offset) ** -exponent in the head,
    popularity_offset: float = 40.0
    tail_start: float = 0.1            # ... and from this share of movies on, a steeper power law, so
    tail_exponent: float = 2.5         # most movies get few ratings (real per-movie median is ~6)
    global_mean: float = 3.3
    user_bias_sd: float = 0.35
    item_bias_sd: float = 0.45
    factor_sd: float = 0.15           # sd of the user . item interaction term
    noise_sd: float = 0.35
    # Choice follows taste: a user's draws come from popularity with this share, the rest from
    # their taste clusters (Dirichlet(cluster_concentration) mixture over n_clusters). A cluster
    # weighs movie i as popularity_i ** cluster_popularity * exp(taste_strength * z_ci), z_ci the
    # standardised alignment of the cluster's direction with the movie's factors.
    n_clusters: int = 64
    cluster_concentration: float = 0.1
    popularity_share: float = 0.1
    taste_strength: float = 3.0
    cluster_popularity: float = 0.385
    # None: the tail flattened like the head (what the calibration test holds). At ML-25M size
    # that leaves few rarely rated movies (median ~85 ratings per rated movie, real ~6), so the
    # ml-25m preset steepens it (PRESET_SHAPES); on the small preset a steep tail makes
    # popularity too strong (+66% NDCG@10 at 1.0).
    cluster_tail: float | None = None
    cluster_rating_sd: float = 0.85    # sd of a user's liking for one cluster's movies (rating shift)
    user_factor_noise: float = 0.5     # user factors = their clusters' directions + this much own taste
    # Time (build/data/synth_time.py). Release years: ages release_min_age + exponential(release_age_years) back
    # from 2019 (ml-latest-small's catalogue: median 1999, 90% before 2014).
    release_age_years: float = 24.0
    release_min_age: float = 3.0
    # A drawn movie is kept with probability floor + (1 - floor) * exp(-age / wave_years), age its age in years at
    # the user's last session (0 if not yet released): never before the release, with a floor below 1 most near it.
    # Floor 1 (no wave, only availability): at 0.3 the ages of rated movies matched ml-latest-small's, but item-kNN's
    # NDCG@10 on the small preset fell from 0.088 to 0.070 (outside the calibration band).
    release_wave_years: float = 8.0
    release_floor: float = 1.0
    prerelease_keep: float = 0.0       # ... and with this probability if not released by the user's last session
    # Sessions per user: 1 + floor(lognormal(0, sessions_sigma)) (ml-latest-small: median 1, 75% <= 4, 90% <= 14),
    # an hour plus lognormal(session_gap_days, session_gap_sigma) apart.
    sessions_sigma: float = 2.0
    session_gap_days: float = 2.0
    session_gap_sigma: float = 2.5
    # Inside a session: lognormal gaps of seconds (real median of non-zero gaps ~15 s), this share of them 0.
    within_gap_seconds: float = 15.0
    within_gap_sigma: float = 1.5
    same_second: float = 0.17
    # Order: each taste row the user chose through sits at a uniform place on their timeline; its movies spread
    # around it by drift_spread (in shares of the timeline) times their place on the row's cycle (a random order
    # shared by the row's users, blended with release year by chain_year_weight), joined at a random point and
    # walked either way, plus chain_noise. Small spreads and noise (strong drift, strict chains) cost popularity,
    # item-kNN and EASE their calibration bands long before the hybrid gains from its sequence part (docs/data.md):
    # the defaults keep the bands and leave the order nearly random within a user's sessions.
    drift_spread: float = 5.0
    chain_noise: float = 5.0
    chain_year_weight: float = 0.2
    chain_reverse: float = 0.5         # share of a user's rows walked down their chain instead of up
    # Follows (build/data/synth_follows.py): a movie chosen through a taste row has follow_successors successors
    # from that row's choice distribution, the same for every user; inside a session a walk over what the user
    # chose goes to the current movie's first successor they also chose with probability follow_share, else to the
    # earliest not yet rated (segments of follow_window draws bound the walk's steps). It reorders, never
    # re-chooses. popular_first moves popular movies earlier (the order key minus it times standardised log
    # popularity). Both off: on the default base the walk costs the calibration bands and gives no gain; on a base
    # tuned to the real file's random-order figures, with drift, they gave 0.76x the real gain over seeds 5-7 with
    # popularity and item-kNN out of band (docs/data.md, "The order's worth"; bench/synth_order_search.py).
    follow_share: float = 0.0
    follow_successors: int = 10
    follow_window: int = 256
    popular_first: float = 0.0
    block_users: int = 8192            # users generated and written per step (bounds memory)

    PRESETS: ClassVar[dict[str, tuple[int, int, int, int]]] = {  # name: (users, movies, ratings, tags)
        "ml-25m": (162_541, 62_423, 25_000_095, 1_093_360),
        "10m": (69_878, 10_681, 10_000_054, 95_580),
        "5m": (32_500, 20_000, 5_000_000, 250_000),
        "1m": (6_040, 3_706, 1_000_209, 20_000),
        "small": (610, 9_742, 100_836, 3_683),
    }

    # Shape settings a preset overrides. ML-25M's per-movie counts have a long tail (59,047 of
    # 62,423 movies rated, median 6 ratings, top ~81k); its 62k-movie catalogue needs the taste
    # clusters to keep a steep tail for that. Expected shape of these settings, from the choice
    # probabilities (600 sampled users, saturation included): ~57.8k rated, median 7, 60% of
    # the movies under 10 ratings, top ~86k. ML-10M/1M (median >100 per movie) need no override.
    PRESET_SHAPES: ClassVar[dict[str, dict[str, Any]]] = {  # preset -> SynthSettings fields
        "ml-25m": {"cluster_tail": 2.8, "tail_exponent": 1.8},
    }

    DEFAULT_PRESET: ClassVar[str] = "ml-25m"  # what `latentlens data synth` writes unless told

    @classmethod
    def preset(cls, name: str = DEFAULT_PRESET, seed: int = 0) -> SynthSettings:
        """ml-25m (ML-25M's counts), 10m and 1m (like ML-10M/1M), 5m, small (like ml-latest-small)."""
        key = {"25m": "ml-25m", "ml-10m": "10m", "ml-5m": "5m", "ml-1m": "1m"}.get(name, name)
        if key not in cls.PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(cls.PRESETS)}")
        users, movies, ratings, tags = cls.PRESETS[key]
        return cls(name=key, n_users=users, n_movies=movies, n_ratings=ratings, n_tags=tags, seed=seed,
                   **cls.PRESET_SHAPES.get(key, {}))

    def with_seed(self, seed: int) -> SynthSettings:
        return replace(self, seed=seed)
