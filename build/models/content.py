"""Content-based model: movies described by what they are, not by who rated them.

Each movie is a concatenation of L2-normalised, weighted feature blocks - genres (one-hot),
tags (TF-IDF over every user's tags of the movie), release year (bucketed) and, where the
release has it, the tag genome (relevance above the tag's average, sparsified to each
movie's strongest tags) - and the whole row is normalised again, so a dot product is a
cosine. Neighbours are kept top-k per movie with the chunked product of item-kNN. It
serves movies too rarely rated for collaborative filtering: any movie with features has
neighbours. A user's scores sum, for each movie, its similarities to the movies the user
liked (rating at or above their own mean).
"""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
import polars as pl
import scipy.sparse as sp
from pydantic import Field
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from latentlens.build.data.tables import MovieLensData
from latentlens.build.interactions import Histories, Interactions, Vocabulary, fingerprint
from latentlens.build.models.base import FitContext, ModelConfig, ModelError, Recommender
from latentlens.build.models.fit_cache import FitCache
from latentlens.build.models.itemknn import sparse_rows_top_n, top_k_neighbours
from latentlens.build.models.spec import CONTENT_FALLBACK, ModelInputs, ModelSpec
from latentlens.build.progress import get_logger

log = get_logger(__name__)

NO_GENRE = "(no genres listed)"


class ContentConfig(ModelConfig):
    # Block weights (each block is unit length before weighting, so these are relative).
    genre_weight: float = Field(1.0, ge=0.0)
    tag_weight: float = Field(1.0, ge=0.0)
    year_weight: float = Field(0.5, ge=0.0)
    genome_weight: float = Field(1.0, ge=0.0)
    year_bucket: int = Field(5, ge=1)          # years per bucket
    tag_min_df: int = Field(2, ge=1)           # a tag must be on this many movies to count
    genome_top: int = Field(50, ge=1)          # genome tags kept per movie (sparse, fast products)
    k: int = Field(100, ge=1)                  # neighbours kept per movie
    # A rated movie counts as liked at or above the user's mean rating, or at or above this
    # absolute threshold when set.
    liked_threshold: float | None = None


def _rows(items: Vocabulary, movie_ids: np.ndarray) -> np.ndarray:
    return items.index(np.asarray(movie_ids, dtype=np.int64))


def genre_block(movies: pl.DataFrame, items: Vocabulary) -> sp.csr_matrix:
    flat = movies.select("movie_id", "genres").explode("genres").drop_nulls("genres")
    flat = flat.filter(pl.col("genres") != NO_GENRE)
    rows = _rows(items, flat["movie_id"].to_numpy())
    names, cols = np.unique(flat["genres"].to_numpy().astype(str), return_inverse=True)
    keep = rows >= 0
    return sp.csr_matrix((np.ones(int(keep.sum()), np.float32), (rows[keep], cols[keep])),
                         shape=(len(items), names.shape[0]))


def year_block(movies: pl.DataFrame, items: Vocabulary, bucket: int) -> sp.csr_matrix:
    known = movies.filter(pl.col("year").is_not_null())
    rows = _rows(items, known["movie_id"].to_numpy())
    buckets = known["year"].to_numpy() // bucket
    _, cols = np.unique(buckets, return_inverse=True)
    keep = rows >= 0
    n_cols = int(cols.max()) + 1 if cols.size else 0
    return sp.csr_matrix((np.ones(int(keep.sum()), np.float32), (rows[keep], cols[keep])),
                         shape=(len(items), n_cols))


def _identity(doc: list[str]) -> list[str]:
    return doc


def tag_block(tags: pl.DataFrame, items: Vocabulary, min_df: int) -> sp.csr_matrix:
    """TF-IDF over movies, one token per (lower-cased, trimmed) tag, every user's tags counted."""
    if tags.height == 0:
        return sp.csr_matrix((len(items), 0), dtype=np.float32)
    docs = (tags.select("movie_id", pl.col("tag").str.to_lowercase().str.strip_chars().alias("tag"))
            .filter(pl.col("tag") != "").group_by("movie_id").agg("tag").sort("movie_id"))
    rows = _rows(items, docs["movie_id"].to_numpy())
    keep = rows >= 0
    corpus = [d for d, k in zip(docs["tag"].to_list(), keep, strict=True) if k]
    try:
        tfidf = TfidfVectorizer(analyzer=_identity, min_df=min_df, dtype=np.float32).fit_transform(corpus)
    except ValueError:  # no tag reaches min_df
        return sp.csr_matrix((len(items), 0), dtype=np.float32)
    # scatter the corpus rows onto their item rows
    placed = sp.csr_matrix((np.ones(len(corpus), np.float32), (rows[keep], np.arange(len(corpus)))),
                           shape=(len(items), len(corpus)))
    return (placed @ tfidf).tocsr()


def genome_block(scores: pl.DataFrame, items: Vocabulary, top: int) -> sp.csr_matrix:
    """Genome relevance above each tag's average, keeping each movie's `top` strongest tags."""
    rows = _rows(items, scores["movie_id"].to_numpy())
    tag_ids, cols = np.unique(scores["tag_id"].to_numpy(), return_inverse=True)
    rel = scores["relevance"].to_numpy().astype(np.float32)
    mean = np.bincount(cols, weights=rel) / np.maximum(np.bincount(cols), 1)
    lift = rel - mean[cols].astype(np.float32)
    keep = (rows >= 0) & (lift > 0)
    rows, cols, lift = rows[keep], cols[keep], lift[keep]
    order = np.lexsort((-lift, rows))  # per movie, strongest first
    rows, cols, lift = rows[order], cols[order], lift[order]
    first = np.searchsorted(rows, rows)  # start of each movie's run (rows are sorted)
    keep = np.arange(rows.shape[0]) - first < top
    return sp.csr_matrix((lift[keep], (rows[keep], cols[keep])), shape=(len(items), tag_ids.shape[0]))


def item_features(data: MovieLensData, items: Vocabulary, config: ContentConfig | None = None) -> sp.csr_matrix:
    """Items x features (CSR float32), rows aligned to `items`, each row unit length (or empty)."""
    config = config or ContentConfig()
    blocks = [(genre_block(data.movies, items), config.genre_weight),
              (tag_block(data.tags, items, config.tag_min_df), config.tag_weight),
              (year_block(data.movies, items, config.year_bucket), config.year_weight)]
    if data.genome_scores is not None and data.genome_scores.height:
        blocks.append((genome_block(data.genome_scores, items, config.genome_top), config.genome_weight))
    parts = [normalize(b.astype(np.float32), norm="l2", axis=1) * w for b, w in blocks if b.shape[1] and w > 0]
    if not parts:
        raise ModelError("content: no item features")
    features = normalize(sp.hstack(parts, format="csr").astype(np.float32), norm="l2", axis=1)
    log.info("content: %d items x %d features (%d blocks)", features.shape[0], features.shape[1], len(parts))
    return features.tocsr()


class ContentKNN(Recommender[ContentConfig]):
    """Item-item cosine over item features, scored from each user's liked movies."""

    name: ClassVar[str] = "content"
    deterministic: ClassVar[bool] = True

    def __init__(self, config: ContentConfig | None = None, features: sp.csr_matrix | None = None,
                 fits: FitCache | None = None) -> None:
        self.config = config or ContentConfig()
        self.fits = fits or FitCache()  # the build's: similarities are computed once per build
        if features is None:
            raise ValueError("content: pass features=item_features(data, interactions.items, config)")
        # no copy of the build's shared matrix: FitCache keys the similarities by its content
        is_ready = sp.issparse(features) and features.format == "csr" and features.dtype == np.float32
        self.features = features if is_ready else sp.csr_matrix(features, dtype=np.float32)

    def fit(self, data: Interactions, ctx: FitContext) -> Self:
        if self.features.shape[0] != data.n_items:
            raise ModelError(f"content: {self.features.shape[0]} feature rows for {data.n_items} items")
        def similarities() -> sp.csr_matrix:
            f = normalize(self.features, norm="l2", axis=1)
            return top_k_neighbours(f, f.T.tocsr(), self.config.k, desc="content similarities",
                                    show_progress=ctx.show_progress, n_threads=ctx.n_threads)

        # they depend on the features alone, not on the ratings: one computation per build
        self.neighbours_ = self.fits.memo(("content similarities", self.config.k), self.features, similarities)
        self.scorer_ = self.neighbours_.T.tocsr()
        self._columns_for: np.ndarray | None = None  # score_items' column slice of scorer_, made on first use
        self._remember_popularity(data)
        return self

    def score_users(self, users: np.ndarray, histories: Histories) -> np.ndarray:
        return self._liked_scores(users, histories, self.scorer_, self.cold_scores())

    def score_items(self, users: np.ndarray, histories: Histories, items: np.ndarray) -> np.ndarray:
        """Only the `items` columns of the product (the hybrid's 8k candidates, not 62k)."""
        if self._columns_for is not items:
            self._columns, self._columns_for = self.scorer_[:, items].tocsr(), items
        return self._liked_scores(users, histories, self._columns, self.cold_scores()[items])

    def _liked_scores(self, users: np.ndarray, histories: Histories, scorer: sp.csr_matrix,
                      cold: np.ndarray) -> np.ndarray:
        """The histories' liked movies x `scorer` for known users, `cold` for unknown ones."""
        users = np.asarray(users, dtype=np.int64)
        scores = np.empty((users.shape[0], scorer.shape[1]), dtype=np.float32)
        known = users >= 0
        scores[known] = (liked_rows(histories, self.config.liked_threshold)[np.flatnonzero(known)] @ scorer).toarray()
        scores[~known] = cold
        return scores

    def similar_items(self, items: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        return sparse_rows_top_n(self.neighbours_, items, n)

    def fit_key(self) -> str:
        # the features by their content: equal features share the fit whichever matrix holds them
        if not hasattr(self, "_features_key"):
            f = self.features
            self._features_key = fingerprint(np.asarray(f.shape), f.indptr, f.indices, f.data)
        return f"{super().fit_key()} features:{self._features_key}"


def liked_matrix(data: Interactions, threshold: float | None) -> sp.csr_matrix:
    """users x items, 1 where the rating is at or above the user's mean (or `threshold`)."""
    return liked_rows(data.histories, threshold)


def liked_rows(histories: Histories, threshold: float | None) -> sp.csr_matrix:
    """The histories' rows, 1 where the rating is at or above the user's mean (or `threshold`)."""
    cut = histories.mean[histories.entry_rows()] if threshold is None else threshold
    keep = histories.ratings.data >= cut - 1e-6
    liked = histories.with_values(keep.astype(np.float32))
    liked.eliminate_zeros()
    return liked


def shared_features(inputs: ModelInputs) -> sp.csr_matrix:
    """Content features aligned to `inputs.items`, computed once per build and shared (content, hybrid)."""
    return inputs.shared("content features", lambda: item_features(inputs.data, inputs.items, ContentConfig()))


def model_for(inputs: ModelInputs) -> ContentKNN:
    """20 neighbours for `--quick`; the build's FitCache shares the similarities."""
    return ContentKNN(ContentConfig(k=20) if inputs.quick else ContentConfig(), features=shared_features(inputs),
                      fits=inputs.fits)


SPEC = ModelSpec("content", model_for, description="genres + tag TF-IDF + year + genome, cosine",
                 roles=frozenset({CONTENT_FALLBACK}))
