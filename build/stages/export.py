"""Stage 5, export: the artifact's tables from the final models, then publish and register.

Models are taken by role (registry.Role), never by name: the similar-movies source and the content
fallback give similar lists and because reasons, the next-movies model (transitions) the next_movies
lists and the "recent" reasons, the top-N champion (or the role's fallback) the per-user lists.
Only `publish` writes the artifact (temporary name, verified, renamed into place).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from latentlens.build.build_info import BuildInfo
from latentlens.build.data.tables import MovieLensData
from latentlens.build.export import because
from latentlens.build.export import tables as export_tables
from latentlens.build.export.artifact import ArtifactReport, ArtifactTables, write_artifact
from latentlens.build.export.because import Reasons
from latentlens.build.export.similar import SimilarSettings, blended_neighbours
from latentlens.build.interactions import Interactions
from latentlens.build.models import registry
from latentlens.build.models.capabilities import ItemNeighbours, ItemSimilarity, NextItems
from latentlens.build.progress import get_logger
from latentlens.build.stages.evaluate import Comparison, ranking_metric
from latentlens.build.stages.prepare import Prepared
from latentlens.build.stages.retrain import Finals
from latentlens.build.tracking import CHAMPION_ALIAS
from latentlens.build.tracking.tracker import Tracker
from latentlens.handler import schema

log = get_logger(__name__)


@dataclass(frozen=True)
class Published:
    artifact: ArtifactReport
    registered: str | None  # "name vN, name vM (@champion)", None when not registered


def artifact_tables(prepared: Prepared, comparison: Comparison, finals: Finals, info: BuildInfo,
                    tracker: Tracker) -> ArtifactTables:
    from latentlens.build.models.popularity import PopularityConfig, popular_lists

    settings, data, full = prepared.settings, prepared.data, prepared.full
    all_users = np.arange(full.n_users)
    champion = finals.topn
    log.info("top-%d for %d users with %s", settings.top_n, full.n_users, champion.name)
    rec_items, rec_scores = champion.recommend(all_users, full.histories, settings.top_n,
                                               n_threads=settings.threads, show_progress=settings.progress)
    genres = _item_genres(data, full)
    # Lists people browse use the IMDB-style weighted rating, so niche titles with three
    # five-star votes do not top them (the popularity *model* may rank by count).
    pop = popular_lists(full, genres, settings.popular_n, PopularityConfig(score="weighted"))
    following = finals.by_role(registry.NEXT_MOVIES)
    assert isinstance(following, NextItems)  # the movies rated next: its table and the "recent" reasons
    next_idx, next_scores = following.next_items(np.arange(full.n_items), settings.similar_n)
    metrics = export_tables.model_metrics([row for ev in comparison.evaluations for row in ev.metric_rows()])
    explain = _explainer(prepared, finals, next_idx, tracker)
    lists = export_tables.user_recommendations(full, rec_items, rec_scores, explain)
    return ArtifactTables(
        movies=export_tables.movies_table(data),
        user_recommendations=lists,
        similar_movies=_similar_movies(prepared, finals, pop[None]),
        popular_movies=export_tables.popular_movies(pop, full.items),
        model_metrics=metrics,
        build_info=info.row(),
        next_movies=export_tables.next_movies(full.items, next_idx, next_scores),
        challenger_recommendations=_challenger_lists(prepared, finals, lists, _explainer(
            prepared, finals, next_idx, tracker, metric_prefix="challenger_"), tracker),
        session_users=prepared.events.session_users,
    )


def _challenger_lists(prepared: Prepared, finals: Finals, champion_lists: pl.DataFrame,
                      explain: Callable[[np.ndarray, np.ndarray], Reasons], tracker: Tracker) -> pl.DataFrame | None:
    """The challenger's top-n for every user (`--challenger`), its reasons found as the champion's are (the same
    `because` rule: what differs between the arms is the model, not how a list is shown); None without one. An A/A
    test (the champion's own name) stores the champion's very lists."""
    challenger, settings, full = finals.challenger, prepared.settings, prepared.full
    if challenger is None:
        return None
    if challenger is finals.topn:
        log.info("challenger %s is the champion (an A/A test): its lists are the champion's", challenger.name)
        return champion_lists
    started = time.perf_counter()
    log.info("challenger: top-%d for %d users with %s", settings.top_n, full.n_users, challenger.name)
    items, scores = challenger.recommend(np.arange(full.n_users), full.histories, settings.top_n,
                                         n_threads=settings.threads, show_progress=settings.progress)
    lists = export_tables.user_recommendations(full, items, scores, explain)
    tracker.log_metrics({"challenger_export_seconds": time.perf_counter() - started})
    return lists


def _similar_movies(prepared: Prepared, finals: Finals, overall: tuple[np.ndarray, np.ndarray]) -> pl.DataFrame:
    """The similar-movies source's neighbours with enough co-raters blended with the content fallback's by
    each movie's rating count (build/export/similar.py), then the overall popular list as a last resort (one
    extra entry, since a movie skips itself)."""
    settings, full = prepared.settings, prepared.full
    overall_idx, overall_score = overall
    all_items = np.arange(full.n_items)
    n_ratings = np.bincount(full.item_idx, minlength=full.n_items)
    cf, content = finals.by_role(registry.SIMILAR_MOVIES), finals.by_role(registry.CONTENT_FALLBACK)
    assert isinstance(cf, ItemSimilarity) and isinstance(content, ItemSimilarity)
    head = slice(0, settings.similar_n + 1)
    shape = (full.n_items, overall_idx[head].size)
    started = time.perf_counter()
    blended = blended_neighbours(cf.similar_items(all_items, settings.similar_n),
                                 content.similar_items(all_items, settings.similar_n),
                                 full.binary, n_ratings, settings.min_cf_ratings, settings.similar_n, SimilarSettings())
    log.info("similar movies: blended cf and content in %.1f s", time.perf_counter() - started)
    sources = [
        ("popular", np.broadcast_to(overall_idx[head], shape), np.broadcast_to(overall_score[head], shape)),
    ]
    return export_tables.similar_movies(full.items, n_ratings, settings.min_cf_ratings, settings.similar_n, sources,
                                        primary=blended)


def _explainer(prepared: Prepared, finals: Finals, next_idx: np.ndarray, tracker: Tracker,
               metric_prefix: str = "") -> Callable[[np.ndarray, np.ndarray], Reasons]:
    """The because reasons of (user, movie) pairs: a pick rated next after one of the user's RECENT_N latest
    ratings names it first ("recent"), then the largest similarity contributions of the similar-movies
    source's neighbours, the content fallback's where those give none. Its metrics are logged under
    `metric_prefix` (the challenger's lists are explained by the same rule)."""
    settings, full = prepared.settings, prepared.full
    cf, content = finals.by_role(registry.SIMILAR_MOVIES), finals.by_role(registry.CONTENT_FALLBACK)
    assert isinstance(cf, ItemNeighbours) and isinstance(content, ItemNeighbours)  # their neighbours give reasons

    def explain(users: np.ndarray, items: np.ndarray) -> Reasons:
        started = time.perf_counter()
        reasons = because.explain(users, items, full, [cf.neighbours_, content.neighbours_],
                                  schema.BECAUSE_N, show_progress=settings.progress)
        recent, ratings = because.recent_reasons(users, items, full.histories, next_idx, schema.RECENT_N)
        reasons = because.with_recent(reasons, recent, ratings)
        explained = float((reasons.items[:, 0] >= 0).mean()) if users.size else 0.0
        recent_share = float((recent >= 0).mean()) if users.size else 0.0
        log.info("because: %d recommendations explained in %.1f s (%.1f%% with a reason, %.1f%% a recent one)",
                 users.size, time.perf_counter() - started, 100 * explained, 100 * recent_share)
        tracker.log_metrics({f"{metric_prefix}because_seconds": time.perf_counter() - started,
                             f"{metric_prefix}because_explained_share": explained,
                             f"{metric_prefix}because_recent_share": recent_share})
        return reasons
    return explain


def _item_genres(data: MovieLensData, full: Interactions) -> list[list[str]]:
    """Genre lists aligned to the item vocabulary (empty for ids only seen in ratings)."""
    lookup = dict(zip(data.movies["movie_id"].to_list(), data.movies["genres"].to_list(), strict=True))
    return [lookup.get(int(i), []) or [] for i in full.items.ids]


def log_champion_models(prepared: Prepared, comparison: Comparison, finals: Finals, tracker: Tracker) -> list:
    """Both champions logged with the run (pyfuncs); registered only once the artifact is published."""
    by_name, full, k = comparison.by_name(), prepared.full, prepared.evaluation.k
    logged = []
    if finals.rating is not None:
        mean = by_name[finals.rating.name].rating_mean
        logged.append(tracker.log_model("rating", finals.rating, full,
                                        {m: mean[m] for m in ("rmse", "mae") if m in mean}, prepared.settings.top_n))
    topn_model = finals.topn  # the model whose lists the export stores
    topn = by_name[topn_model.name].topn if topn_model.name in by_name else {}
    logged.append(tracker.log_model("topn", topn_model, full,
                                    {m: topn[m] for m in (ranking_metric(k), f"precision_at_{k}") if m in topn},
                                    prepared.settings.top_n))
    return [entry for entry in logged if entry is not None]


def publish(prepared: Prepared, tables: ArtifactTables, logged: list, tracker: Tracker) -> Published:
    """Write the artifact, then register the champions, under one lock: the registry's @champion and the
    file on disk name the same build even when two builds finish together (the last to publish wins both)."""
    settings, data = prepared.settings, prepared.data
    with tracker.publishing():
        if settings.register_model and logged:  # `latentlens doctor` tells a build killed before registering
            tracker.set_tags({"registration": "pending"})
        report = write_artifact(settings.out, tables, force=settings.force)
        registered = None
        if settings.register_model:
            names = {"rating": settings.registered_model_name, "topn": settings.registered_topn_name}
            done = [tracker.register(entry, names[entry.kind], report.path, report.sha256, data.name, data.sha256)
                    for entry in logged]
            registered = ", ".join(done) + f" (@{CHAMPION_ALIAS})" if done else None
            if done:
                tracker.set_tags({"registration": "done"})
    return Published(report, registered)
