"""Fixture releases written by the tests themselves: tiny, one per layout, with awkward titles."""

from __future__ import annotations

from pathlib import Path

import pytest

CSV_RATINGS = """userId,movieId,rating,timestamp
1,1,4.0,964982703
1,2,3.5,964981247
2,1,5.0,1445714835
2,3,0.5,1445714900
3,2,2.0,1100000000
"""
CSV_MOVIES = '''movieId,title,genres
1,"Big ""Hit"", A (2000)",Action|Comedy
2,"City of Lost Children, The (Cité des enfants perdus, La) (1995)",Adventure|Drama|Fantasy
3,Untitled Documentary Project,(no genres listed)
4,"Homme, L' (2001)",Drama
'''
CSV_TAGS = '''userId,movieId,tag,timestamp
1,1,"funny, loud",964982800
2,3,"""so bad it's good""",1445714999
'''
CSV_LINKS = """movieId,imdbId,tmdbId
1,0114709,862
2,112682,
3,12345678,99
4,0000001,5
"""


def write(directory: Path, name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


@pytest.fixture
def csv_release(tmp_path: Path) -> Path:
    """An ml-latest-shaped directory: four files, quoting, a title with no year, no-genre movie."""
    d = tmp_path / "ml-tiny"
    write(d, "ratings.csv", CSV_RATINGS)
    write(d, "movies.csv", CSV_MOVIES)
    write(d, "tags.csv", CSV_TAGS)
    write(d, "links.csv", CSV_LINKS)
    return d


@pytest.fixture
def one_m_release(tmp_path: Path) -> Path:
    """ML-1M shape: `::` files, Latin-1 movies.dat, whole-star ratings, users.dat present."""
    d = tmp_path / "ml-1m"
    write(d, "ratings.dat", "1::1::5::978300760\n1::2::3::978302109\n2::2::4::978301968\n")
    write(d, "movies.dat", "1::Toy Story (1995)::Animation|Children's|Comedy\n"
                           "2::City of Lost Children, The (Cité des enfants perdus, La) (1995)::Adventure|Sci-Fi\n",
          encoding="latin-1")
    write(d, "users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n")
    return d


@pytest.fixture
def ten_m_release(tmp_path: Path) -> Path:
    """ML-10M shape: `::` files in UTF-8, half-star ratings, tags.dat, no users.dat."""
    d = tmp_path / "ml-10m"
    write(d, "ratings.dat", "1::122::5::838985046\n1::185::4.5::838983525\n2::122::0.5::868245777\n")
    write(d, "movies.dat", "122::Boomerang (1992)::Comedy|Romance\n185::Net, The (1995)::Action|Crime|Thriller\n"
                           "186::Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001)::Comedy|Romance\n")
    write(d, "tags.dat", "15::185::dark, but \"fun\"::1138537770\n")
    return d


def u_item_line(movie_id: int, title: str, date: str, flags: set[int]) -> str:
    bits = "|".join("1" if i in flags else "0" for i in range(19))
    return f"{movie_id}|{title}|{date}||http://us.imdb.com/M/title-exact?x|{bits}\n"


U_GENRE = ("unknown|0\nAction|1\nAdventure|2\nAnimation|3\nChildren's|4\nComedy|5\nCrime|6\nDocumentary|7\n"
           "Drama|8\nFantasy|9\nFilm-Noir|10\nHorror|11\nMusical|12\nMystery|13\nRomance|14\nSci-Fi|15\n"
           "Thriller|16\nWar|17\nWestern|18\n\n")


@pytest.fixture
def hundred_k_release(tmp_path: Path) -> Path:
    """ML-100K shape: tab-separated u.data, Latin-1 pipe-separated u.item with genre flags."""
    d = tmp_path / "ml-100k"
    write(d, "u.data", "196\t1\t3\t881250949\n186\t2\t5\t891717742\n196\t3\t1\t878887116\n")
    items = (u_item_line(1, "Toy Story (1995)", "01-Jan-1995", {3, 4, 5})
             + u_item_line(2, "City of Lost Children, The (1995)", "01-Jan-1995", {2, 15})
             + u_item_line(3, "Cité des enfants perdus", "15-Mar-1995", {0}))
    write(d, "u.item", items, encoding="latin-1")
    write(d, "u.genre", U_GENRE)
    write(d, "u.user", "1|24|M|technician|85711\n")
    return d
