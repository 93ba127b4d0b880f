"""GroupLens's sortable titles -> display titles and years."""

from __future__ import annotations

import polars as pl
import pytest

from latentlens.build.data.formats.titles import display_title_expr, genres_expr, year_expr


@pytest.mark.parametrize(("title", "display", "year"), [
    ("Godfather, The (1972)", "The Godfather", 1972),
    ("City of Lost Children, The (Cité des enfants perdus, La) (1995)", "The City of Lost Children", 1995),
    ("Misérables, Les (1995)", "Les Misérables", 1995),
    ("Homme, L' (2000)", "L'Homme", 2000),
    ("Postman, The (Postino, Il) (1994)", "The Postman", 1994),
    ("Good, the Bad and the Ugly, The (Buono, il brutto, il cattivo, Il) (1966)",
     "The Good, the Bad and the Ugly", 1966),
    ("Untergang, Der (2004)", "Der Untergang", 2004),
    ("(500) Days of Summer (2009)", "(500) Days of Summer", 2009),
    ("Black Mirror", "Black Mirror", None),
    ("Cosmos (1980- )", "Cosmos", 1980),
    ("Hour, An (1999) ", "An Hour", 1999),
    ("Anne of the Indies (1951)", "Anne of the Indies", 1951),
    # nothing but a year (or nothing): "Untitled", never an empty link on the page
    ("(1995)", "Untitled", 1995),
    ("  (1995) ", "Untitled", 1995),
    ("(2007-2013)", "Untitled", 2007),
    ("", "Untitled", None),
    ("   ", "Untitled", None),
])
def test_display_title_and_year(title: str, display: str, year: int | None) -> None:
    row = pl.DataFrame({"t": [title]}).select(
        display_title_expr(pl.col("t")).alias("d"), year_expr(pl.col("t")).alias("y")).row(0)
    assert row == (display, year)


def test_genres_split_and_no_genres_is_empty() -> None:
    out = pl.DataFrame({"g": ["A|B", "(no genres listed)", None, ""]}).select(genres_expr(pl.col("g")))
    assert out.to_series().to_list() == [["A", "B"], [], [], []]
