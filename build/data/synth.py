"""Synthetic MovieLens releases in the ML-25M file layout, for benchmarks and tests at scale.

The real ML-25M cannot be shipped with the project, but the pipeline must be designed and
measured at that size. The generator mimics what matters to a recommender: long-tailed
user activity (lognormal, at least 20 ratings each) and item popularity (Zipf-like head,
steeper tail, some movies never rated); *which* movies a user rates follows their taste
(a sparse mixture of taste clusters, each favouring the movies whose latent factors point
its way, plus a share of plain popularity), so item co-occurrence has the structure
collaborative filtering learns from real data; ratings from a latent-factor model (biases +
user . item factors + noise, rounded to half stars) whose user factors come from the same
clusters; genres and tags that follow the latent factors, and titles shaped like
GroupLens's ("Garden, The (1987)", commas, quotes, non-ASCII, alternate titles). *When* follows
build/data/synth_time.py: sessions, taste rows that drift in and out, chains inside a row, release
waves, so the order of a user's ratings carries signal as on real data.
`tests/data/test_synth_calibration.py` holds the small preset to ml-latest-small's NDCG@10
and RMSE under the build's own protocol; its order's worth to a sequential model is not held to the real file's
yet (docs/data.md, "The order's worth"; build/data/synth_follows.py is the walk tried for it, off by default).
Everything is vectorised in numpy and written a block of users at a time, so memory stays
bounded; the files appear at OUT only once complete (written beside it, then renamed).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from latentlens.build.data.errors import DataError
from latentlens.build.data.synth_follows import follow_table
from latentlens.build.data.synth_settings import SynthSettings
from latentlens.build.data.synth_time import (
    Calendar,
    acceptance,
    chain_positions,
    draw_calendar,
    expected_acceptance,
    order_and_time,
)
from latentlens.build.progress import get_logger, progress

log = get_logger(__name__)

GENRES = ("Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
          "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western")
# Share of movies carrying each genre (roughly ML-25M's).
GENRE_SHARE = (0.12, 0.07, 0.04, 0.04, 0.27, 0.09, 0.09, 0.41, 0.05, 0.005, 0.09, 0.003, 0.02, 0.05, 0.13,
               0.06, 0.13, 0.03, 0.02)
ADJECTIVES = ("Silent", "Last", "Broken", "Golden", "Midnight", "Crimson", "Lost", "Hidden", "Eternal", "Wild",
              "Little", "Dark", "Secret", "Electric", "Frozen", "Burning", "Quiet", "Lonely", "Brave", "Strange",
              "Forgotten", "Endless", "Savage", "Gentle", "Hollow", "Velvet", "Iron", "Paper", "Distant", "Final")
NOUNS = ("River", "Kingdom", "Garden", "Empire", "Heart", "Road", "City", "Dream", "Summer", "Detective",
         "Island", "Station", "Letter", "Mirror", "Horizon", "Storm", "Promise", "Game", "Machine", "Stranger",
         "Winter", "Harbor", "Circus", "Orchard", "Frontier", "Signal", "Lantern", "Voyage", "Witness", "Bridge")
FOREIGN = ("Café", "Amélie", "Über", "Niño", "Smörgåsbord", "Łódź", "Señor", "Björk", "Crème Brûlée", "Mädchen",
           "Ça", "São Paulo", "Kōbe", "Zoë", "Fräulein", "Hôtel", "Año", "Garçon", "Déjà vu", "Øresund")
ALTERNATES = ("Rivière, La", "Jardin secret, Le", "Stadt, Die", "Ciudad perdida, La", "Sogno, Il", "Traum, Der",
              "Hôtel du Nord, L'", "Années folles, Les", "Niño, El", "Meer, Das")
TAGS = ("funny", "dark comedy", "based on a book", "twist ending", "visually appealing", "atmospheric",
        "Oscar (Best Picture)", "slow, but worth it", '"so bad it\'s good"', "cult film", "feel-good",
        "thought-provoking", "quirky", "violent", "classic", "great soundtrack", "time travel", "dystopia",
        "space", "superhero", "family", "true story", "français", "heist", "revenge", "zombies", "vampires",
        "coming of age", "road trip", "black and white", "surreal", "nonlinear", "philosophical", "beautiful",
        "boring", "overrated", "underrated", "predictable", "great acting", "romance", "war", "noir")

FIRST_TIME = 789_652_009      # 1995-01-09, the first ML-25M rating
LAST_TIME = 1_574_327_703     # 2019-11-21, the last


@dataclass(frozen=True)
class SynthModel:
    """The generator's hidden truth: tests compare what the loader sees against it."""

    movie_ids: np.ndarray       # int64, sorted, non-contiguous
    item_weight: np.ndarray     # float64 popularity weight per movie (0 = never rated)
    choice_cdf: np.ndarray      # (1 + n_clusters, n_movies): cumulative choice probabilities,
                                # row 0 popularity, then one row per taste cluster
    user_mix: np.ndarray        # (n_users, 1 + n_clusters): each user's share of each row
    item_bias: np.ndarray       # float64
    item_factors: np.ndarray    # (n_movies, k)
    user_bias: np.ndarray       # (n_users,)
    user_factors: np.ndarray    # (n_users, k)
    ratings_per_user: np.ndarray  # int64, sums to n_ratings
    calendar: Calendar          # release years, each user's session start times
    chain: np.ndarray           # (1 + n_clusters, n_movies) float32: a movie's place in a session of each row
    follows: np.ndarray         # (1 + n_clusters, QUANTILES) int32: successor table (build/data/synth_follows.py)
    tag_rate: np.ndarray        # probability that one of a user's ratings comes with a tag
    tag_directions: np.ndarray  # (len(TAGS), k)


def build_model(settings: SynthSettings) -> SynthModel:
    """Draw every per-user and per-movie parameter from the seed; cheap even for ML-25M."""
    s = settings
    rng = np.random.default_rng([s.seed, 0])
    k = s.n_factors
    movie_ids = np.sort(rng.choice(int(s.n_movies * 3.35), size=s.n_movies, replace=False)) + 1
    rank = rng.permutation(s.n_movies)
    knee = s.n_movies * s.tail_start + s.popularity_offset
    shifted = rank + s.popularity_offset
    weight = np.where(shifted < knee, shifted ** -s.popularity_exponent,
                      knee ** -s.popularity_exponent * (shifted / knee) ** -s.tail_exponent)
    n_unrated = int(round(s.n_movies * s.unrated_share))
    weight[rank >= s.n_movies - n_unrated] = 0.0  # the least popular never get rated
    log_pop = np.log(np.where(weight > 0, weight, weight[weight > 0].min()))
    pop_z = (log_pop - log_pop.mean()) / log_pop.std()
    item_bias = rng.normal(0, s.item_bias_sd, s.n_movies) + 0.15 * pop_z  # popular movies rate a bit higher
    factor_scale = np.sqrt(s.factor_sd / np.sqrt(k))
    item_factors = rng.normal(0, factor_scale, (s.n_movies, k))
    centres = rng.normal(0, 1, (s.n_clusters, k))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    mix = rng.dirichlet(np.full(s.n_clusters, s.cluster_concentration), s.n_users)
    taste = mix @ centres
    taste /= np.maximum(np.linalg.norm(taste, axis=1, keepdims=True), 1e-12)
    own = rng.normal(0, 1 / np.sqrt(k), (s.n_users, k))
    user_factors = factor_scale * np.sqrt(k) * (taste + s.user_factor_noise * own)
    user_factors /= np.sqrt(1 + s.user_factor_noise ** 2)
    align = centres @ item_factors.T
    align = (align - align.mean(axis=1, keepdims=True)) / align.std(axis=1, keepdims=True)
    pop = weight / weight.sum()
    base = pop ** s.cluster_popularity
    if s.cluster_tail is not None:  # flatten the head only; the tail keeps this power of its steepness
        head = np.where(shifted < knee, shifted, knee) ** -s.popularity_exponent
        tail = np.where(weight > 0, weight / head, 0.0)
        base = (head / head.max()) ** s.cluster_popularity * tail ** s.cluster_tail
    rows = np.vstack([pop, base * np.exp(s.taste_strength * align)])
    cdf = np.cumsum(rows / rows.sum(axis=1, keepdims=True), axis=1)
    user_mix = np.hstack([np.full((s.n_users, 1), s.popularity_share), (1 - s.popularity_share) * mix])
    user_bias = rng.normal(0, s.user_bias_sd, s.n_users)
    counts = _ratings_per_user(rng, s, int((weight > 0).sum()))
    calendar = draw_calendar(s, counts, FIRST_TIME, LAST_TIME)
    propensity = rng.lognormal(0, 1.5, s.n_users)
    tag_rate = np.minimum(1.0, propensity * s.n_tags / float((propensity * counts).sum()))
    return SynthModel(movie_ids.astype(np.int64), weight, cdf, user_mix, item_bias, item_factors, user_bias,
                      user_factors,
                      counts, calendar, chain_positions(s, calendar.year, rows.shape[0]), follow_table(rows),
                      tag_rate,
                      rng.normal(0, 1, (len(TAGS), k)))


def _ratings_per_user(rng: np.random.Generator, s: SynthSettings, n_rated: int) -> np.ndarray:
    """Lognormal activity above the floor, capped, summing exactly to n_ratings."""
    floor, cap = s.min_ratings_per_user, max(s.min_ratings_per_user, int(n_rated * s.max_user_share))
    budget = s.n_ratings - floor * s.n_users
    if budget < 0 or s.n_ratings > cap * s.n_users:
        raise ValueError(f"{s.n_ratings} ratings cannot be spread over {s.n_users} users with {floor}..{cap} each")
    extra = rng.lognormal(0.0, s.activity_sigma, s.n_users)
    for _ in range(50):  # scale to the budget, clip at the cap, repeat until the clipped sum fits
        extra = np.minimum(extra * budget / extra.sum(), cap - floor)
        if abs(extra.sum() - budget) < 1:
            break
    counts = np.floor(extra).astype(np.int64)
    short = budget - int(counts.sum())
    room = np.flatnonzero(counts < cap - floor)
    counts[rng.choice(room, size=short, replace=False)] += 1
    return counts + floor


def _sample_items(rng: np.random.Generator, s: SynthSettings, users: np.ndarray,
                  model: SynthModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user position, movie index, choice row) triples: counts[u] distinct movies per user,
    drawn from the user's mixture `mix[u]` of the choice rows (popularity and taste clusters).

    Most users: draw with replacement (a row by the mixture, then a movie by that row) and
    keep the first `count` distinct draws, which is exactly weighted sampling without
    replacement from the mixture, redrawing with more candidates for the few who came up
    short. Heavy users: Gumbel top-k over every movie of their mixture, each movie's row then
    drawn from its posterior. A draw is kept with its release wave's `acceptance`, so nobody rates a movie
    released after their last session, and movies are rated most near their release.
    """
    counts, mix, end = model.ratings_per_user[users], model.user_mix[users], model.calendar.user_end()[users]
    cdf = model.choice_cdf
    n_rows, n_items = cdf.shape
    # every row's cdf in one ascending array: row c occupies (c, c + 1]
    flat = (cdf + np.arange(n_rows)[:, None]).ravel()
    mix_cdf = np.cumsum(mix, axis=1)
    mix_cdf /= mix_cdf[:, -1:]
    flat_mix = (mix_cdf + np.arange(mix.shape[0])[:, None]).ravel()  # user u's mixture in (u, u + 1]
    n_rated = int((model.item_weight > 0).sum())
    heavy = counts > max(50, n_rated // 20)
    users_out, items_out, rows_out = [], [], []
    todo, factor = np.flatnonzero(~heavy), 1.2
    kept_share = np.maximum(expected_acceptance(s, end, model.calendar.release, model.item_weight), 0.05)
    while todo.size:
        want = counts[todo]
        draws = np.ceil(want * factor / kept_share[todo]).astype(np.int64) + 8
        user = np.repeat(todo, draws)
        row = np.searchsorted(flat_mix, user + rng.random(user.shape[0]), side="right") - user * n_rows
        row = row.clip(0, n_rows - 1)
        target = row + rng.random(user.shape[0]) * cdf[row, -1]
        item = np.minimum(np.searchsorted(flat, target, side="right") - row * n_items, n_items - 1)
        kept = rng.random(user.shape[0]) < acceptance(s, end[user], model.calendar.release[item])
        user, row, item = user[kept], row[kept], item[kept]
        draws = np.bincount(np.searchsorted(todo, user), minlength=todo.size)
        first = np.zeros(user.shape[0], dtype=bool)
        first[np.unique(user.astype(np.int64) * n_items + item, return_index=True)[1]] = True
        seen = np.cumsum(first)
        ends = np.cumsum(draws)
        before = np.repeat(np.concatenate(([0], np.where(ends[:-1] > 0, seen[np.maximum(ends[:-1] - 1, 0)], 0))),
                           draws)
        keep = first & (seen - before <= np.repeat(want, draws))
        got = np.bincount(np.searchsorted(todo, user[keep]), minlength=todo.size)
        done = got == want
        ok = np.repeat(done, draws) & keep
        users_out.append(user[ok])
        items_out.append(item[ok])
        rows_out.append(row[ok])
        todo, factor = todo[~done], factor * 2
    prob = np.diff(cdf, axis=1, prepend=0.0)  # each row's probability of each movie, once for every heavy user
    for u in np.flatnonzero(heavy):
        chosen, rows = _sample_heavy_user(rng, s, model, prob, int(counts[u]), mix[u], end[u])
        users_out.append(np.full(counts[u], u))
        items_out.append(chosen)
        rows_out.append(rows)
    return np.concatenate(users_out), np.concatenate(items_out), np.concatenate(rows_out)


def _sample_heavy_user(rng: np.random.Generator, s: SynthSettings, model: SynthModel, prob: np.ndarray,
                       count: int, mix: np.ndarray, end) -> tuple[np.ndarray, np.ndarray]:
    """(movie indices, choice rows) of one heavy user: Gumbel top-k over every movie of their mixture, each
    movie's row then drawn from its posterior."""
    p = (mix @ prob) * acceptance(s, end, model.calendar.release)
    with np.errstate(divide="ignore"):
        keys = np.log(p) + rng.gumbel(size=prob.shape[1])
    chosen = np.argpartition(-keys, count - 1)[:count]
    with np.errstate(divide="ignore"):
        posterior = np.log(mix)[None, :] + np.log(prob[:, chosen].T)
    return chosen, np.argmax(posterior + rng.gumbel(size=posterior.shape), axis=1)


def _block(settings: SynthSettings, model: SynthModel, lo: int, hi: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Ratings and tags of users lo..hi-1, sorted by user then time."""
    rng = np.random.default_rng([settings.seed, 1, lo])
    local, item, row = _sample_items(rng, settings, np.arange(lo, hi), model)
    user = local + lo
    # how much the user likes what they watch for this reason (a cluster, or popularity): two
    # movies of one cluster share it, so co-rated movies' residuals correlate, as in real data
    liking = rng.normal(0, settings.cluster_rating_sd, (hi - lo, model.choice_cdf.shape[0]))
    score = (settings.global_mean + model.user_bias[user] + model.item_bias[item] + liking[local, row]
             + np.einsum("ij,ij->i", model.user_factors[user], model.item_factors[item])
             + rng.normal(0, settings.noise_sd, user.shape[0]))
    rating = np.clip(np.round(score * 2) / 2, 0.5, 5.0).astype(np.float32)
    order, time = order_and_time(rng, settings, model.calendar, model.chain, model.follows,
                                 model.item_weight, local, user, item, row)
    order = order[np.lexsort((model.movie_ids[item[order]], time[order], user[order]))]  # ties: by movie, as real
    user, item, rating, time = user[order], item[order], rating[order], time[order]
    ratings = pl.DataFrame({"userId": (user + 1).astype(np.int32), "movieId": model.movie_ids[item].astype(np.int32),
                            "rating": rating, "timestamp": time})
    tagged = rng.random(user.shape[0]) < model.tag_rate[user]
    affinity = model.item_factors[item[tagged]] @ model.tag_directions.T
    tag = np.argmax(affinity + rng.gumbel(size=affinity.shape), axis=1)
    tags = pl.DataFrame({"userId": (user[tagged] + 1).astype(np.int32),
                         "movieId": model.movie_ids[item[tagged]].astype(np.int32),
                         "tag": np.asarray(TAGS)[tag],
                         "timestamp": time[tagged] + rng.integers(0, 600, int(tagged.sum()))})
    return ratings, tags


def _movies(settings: SynthSettings, model: SynthModel) -> tuple[pl.DataFrame, pl.DataFrame]:
    """movies.csv and links.csv: GroupLens-shaped titles, genres that follow the item factors."""
    rng = np.random.default_rng([settings.seed, 2])
    n = settings.n_movies
    year = model.calendar.year
    pick = lambda words: np.asarray(words)[rng.integers(0, len(words), n)]  # noqa: E731 -- a sampler used just below
    parts = pl.DataFrame({"adj": pick(ADJECTIVES), "noun": pick(NOUNS), "noun2": pick(NOUNS),
                          "foreign": pick(FOREIGN), "alt": pick(ALTERNATES),
                          "pattern": rng.choice(8, n, p=[0.3, 0.15, 0.15, 0.08, 0.06, 0.1, 0.08, 0.08]),
                          "sequel": rng.integers(2, 5, n), "year": year, "no_year": rng.random(n) < 0.003})
    c = pl.col
    name = (
        pl.when(c("pattern") == 0).then(pl.format("{} {}", c("adj"), c("noun")))
        .when(c("pattern") == 1).then(pl.format("{} {}, The", c("adj"), c("noun")))
        .when(c("pattern") == 2).then(pl.format("{} of the {}", c("noun"), c("noun2")))
        .when(c("pattern") == 3).then(pl.format("{}, {} and the {}", c("noun"), c("adj"), c("noun2")))
        .when(c("pattern") == 4).then(pl.format('{} "{}", A', c("adj"), c("noun")))
        .when(c("pattern") == 5).then(pl.format("{} {}", c("foreign"), c("noun")))
        .when(c("pattern") == 6).then(pl.format("{}, The ({})", c("noun"), c("alt")))
        .otherwise(pl.format("{} {} {}", c("adj"), c("noun"), c("sequel")))
    )
    title = pl.when(c("no_year")).then(name).otherwise(pl.format("{} ({})", name, c("year")))
    # Genre g when the movie's factors point along g's direction, thresholded to the genre's share.
    affinity = model.item_factors @ rng.normal(0, 1, (settings.n_factors, len(GENRES)))
    affinity += rng.normal(0, affinity.std() * 0.5, affinity.shape)
    share = np.asarray(GENRE_SHARE)
    has = affinity > np.diagonal(np.quantile(affinity, 1 - share, axis=0))
    has[np.arange(n), np.argmax(affinity / affinity.std(axis=0), axis=1)] |= ~has.any(axis=1)
    has[rng.random(n) < 0.01] = False  # "(no genres listed)", as in the real files
    flags = pl.DataFrame({g: has[:, j] for j, g in enumerate(GENRES)})
    genres = pl.concat_list([pl.when(c(g)).then(pl.lit(g)) for g in GENRES]).list.drop_nulls().list.join("|")
    genre_text = flags.select(pl.when(genres == "").then(pl.lit("(no genres listed)")).otherwise(genres).alias("g"))
    movies = pl.DataFrame({"movieId": model.movie_ids.astype(np.int32),
                           "title": parts.select(title.alias("t")).to_series(),
                           "genres": genre_text.to_series()})
    imdb = rng.choice(9_000_000, n, replace=False) + 10_000
    tmdb = pl.Series("tmdbId", rng.choice(900_000, n, replace=False) + 1, dtype=pl.Int32)
    links = pl.DataFrame({"movieId": model.movie_ids.astype(np.int32),
                          "imdbId": pl.Series(imdb).cast(pl.Utf8).str.zfill(7),
                          "tmdbId": tmdb.scatter(np.flatnonzero(rng.random(n) < 0.01), None)})
    return movies, links


def _readme(settings: SynthSettings) -> str:
    return (
        "SYNTHETIC MovieLens-shaped dataset — not GroupLens data, no real users or movies.\n\n"
        f"generator: latentlens latentlens.build.data.synth (latent-factor model, {settings.n_factors} factors)\n"
        f"preset: {settings.name}\nseed: {settings.seed}\n"
        f"users: {settings.n_users}\nmovies: {settings.n_movies}\nratings: {settings.n_ratings}\n\n"
        "Files follow the ML-25M layout: ratings.csv (userId,movieId,rating,timestamp), movies.csv\n"
        "(movieId,title,genres), tags.csv (userId,movieId,tag,timestamp), links.csv (movieId,imdbId,tmdbId).\n"
        "Regenerate with: latentlens data synth OUT --preset "
        f"{settings.name} --seed {settings.seed}\n"
    )


def write_synthetic(out: Path, settings: SynthSettings, force: bool = False, show_progress: bool = False) -> None:
    """Write the release to `out`; built in a sibling temporary directory, renamed when complete (a progress bar
    on stderr when `show_progress`)."""
    out = Path(out)
    if out.exists() and not force:
        raise DataError(out, "already exists; pass force (--force) to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        _write_files(tmp, settings, show_progress)
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("wrote synthetic %s (%d ratings) to %s", settings.name, settings.n_ratings, out)


def _write_files(directory: Path, settings: SynthSettings, show_progress: bool) -> None:
    model = build_model(settings)
    movies, links = _movies(settings, model)
    movies.write_csv(directory / "movies.csv")
    links.write_csv(directory / "links.csv")
    starts = range(0, settings.n_users, settings.block_users)
    with (directory / "ratings.csv").open("wb") as ratings_fh, (directory / "tags.csv").open("wb") as tags_fh:
        for i, lo in enumerate(progress(starts, desc=f"synth {settings.name}", show=show_progress, unit="block")):
            ratings, tags = _block(settings, model, lo, min(lo + settings.block_users, settings.n_users))
            ratings.write_csv(ratings_fh, include_header=i == 0)
            tags.write_csv(tags_fh, include_header=i == 0)
    (directory / "README.txt").write_text(_readme(settings), encoding="utf-8")
