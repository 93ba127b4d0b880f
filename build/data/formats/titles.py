"""Movie rows as every layout ends them: GroupLens's title kept, plus a readable title, year, genre list.

GroupLens files titles for sorting: "Godfather, The (1972)", with the original-language
title in parentheses, "City of Lost Children, The (Cité des enfants perdus, La) (1995)".
`display_title` drops the year and any trailing alternate titles, then moves a trailing
article (English or another language's) to the front: "The City of Lost Children". A title
that is only a year, "(1995)", or nothing at all leaves nothing: its display title is
"Untitled" (the page shows "Untitled (1995)", the year being its own column), never empty.

Bidirectional embedding, override and isolate controls (U+202A-U+202E, U+2066-U+2069) are
removed from display titles, with a logged count: one unclosed override reverses the text
around it on the page. The joiners U+200C/U+200D stay, as Persian, Indic and emoji need them.
The GroupLens title is kept as filed.
"""

from __future__ import annotations

import polars as pl

from latentlens.build.progress import get_logger

log = get_logger(__name__)

NO_GENRES = "(no genres listed)"
# Trailing "(1995)", also ranges like "(2007-2013)" or "(1980- )" of TV series.
YEAR_PATTERN = r"\s*\((\d{4})(?:\s*[-–]\s*\d{0,4}\s*)?\)$"
ALTERNATE_TITLES = r"(?:\s+\([^()]*\))+$"
UNTITLED = "Untitled"
BIDI_CONTROLS = "[\u202a-\u202e\u2066-\u2069]"  # embeddings, overrides, isolates; not the joiners U+200C/D
ARTICLES = ("The", "A", "An", "Les", "La", "Le", "Il", "Lo", "Gli", "Der", "Die", "Das", "Den", "Det",
            "El", "Los", "Las", "Un", "Une", "Una", "Ein", "Eine", "Het", "De")


def year_expr(title: pl.Expr) -> pl.Expr:
    return title.str.strip_chars().str.extract(YEAR_PATTERN, 1).cast(pl.Int32, strict=False)


def display_title_expr(title: pl.Expr) -> pl.Expr:
    base = title.str.replace_all(BIDI_CONTROLS, "").str.strip_chars().str.replace(YEAR_PATTERN, "")
    main = base.str.replace(ALTERNATE_TITLES, "")
    name = pl.when(main.str.len_chars() > 0).then(main).otherwise(base)
    shown = (
        name.str.replace(r"^(.+), (L')$", "${2}${1}")
        .str.replace(rf"^(.+), ({'|'.join(ARTICLES)})$", "${2} ${1}")
    )
    return pl.when(shown.str.strip_chars().str.len_chars() > 0).then(shown).otherwise(pl.lit(UNTITLED))


def genres_expr(genres: pl.Expr, separator: str = "|") -> pl.Expr:
    """Split "A|B"; "(no genres listed)", empty or missing become an empty list."""
    return (
        genres.fill_null("")
        .str.split(separator)
        .list.eval(pl.element().filter(~pl.element().is_in([NO_GENRES, ""])))
    )


def finish_movies(raw: pl.DataFrame) -> pl.DataFrame:
    """(movie_id, title, genres list) -> the MOVIES_SCHEMA table, display title and year derived."""
    n_bidi = raw.select(pl.col("title").str.contains(BIDI_CONTROLS).sum()).item() or 0
    if n_bidi:
        log.warning("%d titles hold bidirectional text controls (U+202A-U+202E, U+2066-U+2069): "
                    "removed from their display titles", n_bidi)
    return raw.select(
        pl.col("movie_id").cast(pl.Int32),
        pl.col("title").fill_null(""),
        display_title_expr(pl.col("title").fill_null("")).alias("display_title"),
        year_expr(pl.col("title").fill_null("")).alias("year"),
        pl.col("genres").cast(pl.List(pl.Utf8)),
    )


def placeholder_movies(movie_ids: pl.Series) -> pl.DataFrame:
    """Rows standing in for movies that ratings or tags reference but the movies file lacks."""
    ids = movie_ids.cast(pl.Int32)
    return pl.DataFrame({"movie_id": ids}).select(
        pl.col("movie_id"),
        pl.format("Unknown movie {}", pl.col("movie_id")).alias("title"),
        pl.format("Unknown movie {}", pl.col("movie_id")).alias("display_title"),
        pl.lit(None, dtype=pl.Int32).alias("year"),
        pl.lit([], dtype=pl.List(pl.Utf8)).alias("genres"),
    )
