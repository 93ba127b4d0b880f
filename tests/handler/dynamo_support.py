"""Shared by the DynamoDB tests: publishing into moto, apps over both stores, and random requests."""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from urllib.parse import urlencode

import duckdb
from fastapi.testclient import TestClient

from latentlens.build.publish.dynamodb import PublishResult, PublishSettings, publish
from latentlens.handler import schema
from latentlens.handler.app import create_app
from tests.handler.conftest import make_settings

NAME = "latentlens-test"


def copy_artifact(src: Path, dest_dir: Path) -> Path:
    """A private copy, so this test's DuckDB configuration meets no other test's open connection."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / src.name
    shutil.copyfile(src, dest)
    shutil.copyfile(schema.manifest_path(str(src)), schema.manifest_path(str(dest)))
    return dest


def trimmed_artifact(src: Path, dest: Path, users: int = 200, movies: int = 1500) -> Path:
    """The first `users` users and the `movies` most rated movies of a real artifact, everything else as built.

    Lists keep their entries for movies cut from the catalogue, so both stores also skip unknown movies
    the same way. A real build's data at a size moto takes seconds, not a minute, to hold."""
    copy = copy_artifact(src, dest.parent / "full")
    con = duckdb.connect(str(dest))
    for ddl in schema.TABLE_DDL.values():
        con.execute(ddl)
    con.execute("ATTACH ? AS src (READ_ONLY)", [str(copy)])
    con.execute(f"INSERT INTO {schema.MOVIES} SELECT * FROM src.{schema.MOVIES} WHERE movie_id IN "
                f"(SELECT movie_id FROM src.{schema.MOVIES} ORDER BY n_ratings DESC, movie_id LIMIT ?) "
                "ORDER BY movie_id", [movies])
    con.execute(f"INSERT INTO {schema.SIMILAR_MOVIES} SELECT * FROM src.{schema.SIMILAR_MOVIES} WHERE movie_id IN "
                f"(SELECT movie_id FROM {schema.MOVIES}) ORDER BY movie_id, rank")
    con.execute(f"INSERT INTO {schema.USER_RECOMMENDATIONS} SELECT * FROM src.{schema.USER_RECOMMENDATIONS} "
                f"WHERE user_id <= ? ORDER BY user_id, rank", [users])
    for table in (schema.POPULAR_MOVIES, schema.MODEL_METRICS, schema.BUILD_INFO):
        con.execute(f"INSERT INTO {table} SELECT * FROM src.{table}")
    con.execute("DETACH src")
    con.close()
    Path(schema.manifest_path(str(dest))).write_text(schema.manifest_text(schema.sha256_file(dest), dest.name))
    return dest


def publish_to(client, artifact: Path, tmp_path: Path, name: str = NAME, **kw) -> PublishResult:
    # tmp_dir as the apps' (make_settings): DuckDB refuses a second open of one file with another config
    kw.setdefault("sample", 50)
    return publish(PublishSettings(source=artifact, name=name, tmp_dir=tmp_path / "lltmp", **kw), client=client)


def dynamo_app(tmp_path: Path, name: str = NAME, **overrides):
    settings = make_settings(f"dynamodb://{name}", tmp_path, dynamodb_region="us-east-1", **overrides)
    return create_app(settings)


def duckdb_app(artifact: Path, tmp_path: Path):
    return create_app(make_settings(artifact, tmp_path))


def random_requests(artifact: Path, count: int, seed: int = 19) -> list[tuple[str, bool]]:
    """`count` (path-with-query, conditional) pairs over every route: known and unknown ids, every genre and
    some misspelt, bounds on both sides, bad values; conditional ones go with the build's ETag.
    Call before anything else opens the artifact (DuckDB allows one configuration per file and process)."""
    con = duckdb.connect(str(artifact), read_only=True)
    users = [r[0] for r in
             con.execute(f"SELECT DISTINCT user_id FROM {schema.USER_RECOMMENDATIONS} ORDER BY 1").fetchall()]
    movies = [r[0] for r in con.execute(f"SELECT movie_id FROM {schema.MOVIES} ORDER BY 1").fetchall()]
    titles = [r[0] for r in
              con.execute(f"SELECT title FROM {schema.MOVIES} ORDER BY n_ratings DESC LIMIT 200").fetchall()]
    genres = sorted({g for r in con.execute(f"SELECT genres FROM {schema.MOVIES}").fetchall() for g in r[0]})
    con.close()
    rng = random.Random(seed)

    def n() -> dict:
        return {"n": rng.choice([1, 2, 5, 10, 50, 100, 0, 101, "x"])} if rng.random() < 0.8 else {}

    def genre() -> dict:
        if rng.random() < 0.5:
            return {}
        g = rng.choice(genres)
        return {"genre": rng.choice([g, g.upper(), g.casefold(), "Nope", ""])}

    def user() -> int:
        return rng.choice(users) if rng.random() < 0.8 else rng.choice([max(users) + rng.randint(1, 999), 2**31 - 1])

    def movie() -> int | str:
        return rng.choice(movies) if rng.random() < 0.85 else rng.choice([max(movies) + 7, 0, -3, 2**31, "abc"])

    def one() -> tuple[str, bool]:
        kind = rng.randrange(8)
        if kind in (0, 1):
            path, query = f"/users/{user()}/recommendations", {**n(), **genre()}
        elif kind == 2:
            path, query = f"/movies/{movie()}", {}
        elif kind == 3:
            path, query = f"/movies/{movie()}/similar", n()
        elif kind == 4:
            path, query = "/popular", {**n(), **genre()}
        elif kind == 5:
            liked = [str(movie()) for _ in range(rng.randint(1, 6))]
            path, query = "/recommendations", {"liked": ",".join(liked), **n()}
        elif kind == 6:
            words = rng.choice(titles).split()
            path, query = "/movies", {"search": " ".join(words[: rng.randint(1, 3)]), "limit": rng.choice([1, 10, 100])}
        else:
            path, query = "/health", {}
        return (path + ("?" + urlencode(query) if query else ""), rng.random() < 0.1)

    return [one() for _ in range(count)]


def assert_same_answers(a: TestClient, b: TestClient, requests: list[tuple[str, bool]]) -> dict[int, int]:
    """Every request answered identically by both (status, headers, body bytes); returns the status counts."""
    etag = b.get("/health").headers["etag"]
    statuses: dict[int, int] = {}
    for path, conditional in requests:
        headers = {"If-None-Match": etag} if conditional else {}
        x, y = a.get(path, headers=headers), b.get(path, headers=headers)
        assert (x.status_code, dict(x.headers), x.content) == (y.status_code, dict(y.headers), y.content), path
        statuses[x.status_code] = statuses.get(x.status_code, 0) + 1
    return statuses
