"""`latentlens data info` on the embedded ml-latest-small, and the embedded files' integrity."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from latentlens.cli import main

EMBEDDED = Path(__file__).resolve().parents[1] / "data" / "ml-latest-small"


def test_data_info_reports_the_published_counts(capsys) -> None:
    assert main(["data", "info", str(EMBEDDED), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["counts"] == {"users": 610, "movies": 9742, "rated_movies": 9724, "ratings": 100836, "tags": 3683}
    assert summary["time_span"] == {"first_rating": "1996-03-29", "last_rating": "2018-09-24"}
    assert sum(summary["rating_distribution"].values()) == 100836
    assert summary["ratings_per_user"]["min"] == 20
    assert abs(summary["sparsity"] - (1 - 100836 / (610 * 9742))) < 1e-12
    assert summary["top_genres"][0]["genre"] == "Drama"
    # the one note: ml-latest-small's five titles carried by two movies each
    (note,) = summary["notes"]
    assert note.startswith("5 titles are shared by more than one movie")
    assert "War of the Worlds (2005) [34048: 50 ratings, 64997: 2 ratings]" in note
    assert "Emma (1996) [838: 30 ratings" in note


def test_data_info_table(capsys) -> None:
    assert main(["data", "info", str(EMBEDDED)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"ratings\s+100,836", out) and re.search(r"users\s+610", out)


def test_embedded_files_match_provenance() -> None:
    table = (EMBEDDED / "PROVENANCE.md").read_text(encoding="utf-8")
    expected = dict(re.findall(r"^\|\s*([\w.-]+\.(?:csv|txt))\s*\|\s*([0-9a-f]{64})\s*\|", table, re.M))
    assert set(expected) == {"README.txt", "links.csv", "movies.csv", "ratings.csv", "tags.csv"}
    for name, digest in expected.items():
        assert hashlib.sha256((EMBEDDED / name).read_bytes()).hexdigest() == digest, name
