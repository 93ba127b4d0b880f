"""DynamoDB mode (`LATENTLENS_DB=dynamodb://<name>`): the same store interface over a published table.

At the first request the pointer `<name>` names one build table; its meta item and catalogue (movie
map, title index, popular lists, build_info) are read once, with consistent reads, and kept for the
container's life. Each lookup is then one GetItem (a user, a movie) or one BatchGetItem (liked
movies); latentlens.handler.queries turns the rows into answers exactly as it does for DuckDB's. Build tables
are never written after publishing, so a container sees one build from first to last request.

Every AWS failure, after botocore's bounded retries, is an ArtifactUnavailable with a stable
reason (table_missing, store_throttled, store_unavailable, ...), answered as a JSON 503.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from latentlens.handler import schema, table_layout
from latentlens.handler.artifact import Artifact, ArtifactUnavailable, MovieRow, _etag, _genres
from latentlens.handler.queries import MOVIE_COLUMNS, NEXT_COLUMNS, SIMILAR_COLUMNS, USER_COLUMNS
from latentlens.handler.settings import Settings
from latentlens.handler.store import LazyArtifact
from latentlens.handler.title_index import TitleIndex

logger = logging.getLogger("latentlens.handler")

SCHEME = "dynamodb://"
_THROTTLED = {"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded"}


def columns() -> dict[str, list[str]]:
    """The row layout this handler reads; a table published with any other is refused, not misread."""
    return {"user": list(USER_COLUMNS), "movie": list(MOVIE_COLUMNS), "similar": list(SIMILAR_COLUMNS),
            "next": list(NEXT_COLUMNS)}


def client_for(settings: Settings):
    """A DynamoDB client with bounded timeouts and retries (boto3 reads AWS_ENDPOINT_URL[_DYNAMODB] itself)."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=settings.dynamodb_connect_timeout_s, read_timeout=settings.dynamodb_read_timeout_s,
                    retries={"mode": "standard", "total_max_attempts": settings.dynamodb_max_attempts})
    return boto3.client("dynamodb", region_name=settings.dynamodb_region, endpoint_url=settings.dynamodb_endpoint_url,
                        config=config)


def unavailable_from(exc: Exception, table: str) -> ArtifactUnavailable:
    """A botocore failure (after its retries) as the 503 reason the API reports."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            return ArtifactUnavailable("table_missing", f"DynamoDB table {table} does not exist")
        if code in _THROTTLED:
            return ArtifactUnavailable("store_throttled", f"DynamoDB throttled reads of {table}; try again shortly")
        return ArtifactUnavailable("store_unavailable", f"DynamoDB refused a read of {table} ({code or 'error'})")
    if isinstance(exc, BotoCoreError):
        return ArtifactUnavailable("store_unavailable",
                                   f"DynamoDB did not answer a read of {table} ({type(exc).__name__})")
    raise exc


class Reader:
    """GetItem/BatchGetItem on one table, values decoded, failures as ArtifactUnavailable."""

    def __init__(self, client, table: str, max_attempts: int) -> None:
        self.client, self.table, self.max_attempts = client, table, max_attempts

    def get(self, key: str, consistent: bool = False):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            item = self.client.get_item(TableName=self.table, Key={table_layout.KEY: {"S": key}},
                                        ConsistentRead=consistent).get("Item")
        except (BotoCoreError, ClientError) as exc:
            raise unavailable_from(exc, self.table) from None
        return None if item is None else table_layout.decode(item[table_layout.VALUE]["B"])

    def get_many(self, keys: list[str], consistent: bool = False, decoded: bool = True) -> dict[str, Any]:
        """Values by key (absent keys left out), decoded or as stored bytes; unprocessed keys are
        retried a bounded number of times."""
        from botocore.exceptions import BotoCoreError, ClientError

        found: dict[str, Any] = {}
        for start in range(0, len(keys), 100):  # BatchGetItem takes at most 100 keys
            request = {self.table: {"Keys": [{table_layout.KEY: {"S": k}} for k in keys[start:start + 100]],
                                    "ConsistentRead": consistent}}
            for attempt in range(self.max_attempts):
                try:
                    reply = self.client.batch_get_item(RequestItems=request)
                except (BotoCoreError, ClientError) as exc:
                    raise unavailable_from(exc, self.table) from None
                for item in reply.get("Responses", {}).get(self.table, []):
                    blob = item[table_layout.VALUE]["B"]
                    found[item[table_layout.KEY]["S"]] = table_layout.decode(blob) if decoded else blob
                request = reply.get("UnprocessedKeys") or {}
                if not request:
                    break
                if attempt + 1 < self.max_attempts:
                    time.sleep(0.025 * 2**attempt)  # AWS: retry unprocessed keys with exponential backoff
            if request:
                raise ArtifactUnavailable("store_throttled", f"DynamoDB left keys of {self.table} unprocessed "
                                          f"after {self.max_attempts} attempts; try again shortly")
        return found


class DynamoDBRows:
    """latentlens.handler.queries.RowSource over one published table: one item per user, one per movie.
    Movie items read by `neighbours` are kept for this object's life (one request), so `following` of some
    of the same movies (rate a few's latest) reads nothing more."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self._movies: dict[int, list] = {}

    def _movie_items(self, movie_ids: list[int]) -> dict[int, list]:
        wanted = [m for m in dict.fromkeys(movie_ids) if m not in self._movies]
        if wanted:
            items = self.reader.get_many([table_layout.movie_key(m) for m in wanted])
            self._movies.update({int(key[2:]): item for key, item in items.items()})
        return {m: self._movies[m] for m in dict.fromkeys(movie_ids) if m in self._movies}

    def user(self, user_id: int) -> list:
        return self.reader.get(table_layout.user_key(user_id)) or []

    def movie(self, movie_id: int) -> list | None:
        item = self.reader.get(table_layout.movie_key(movie_id))
        return None if item is None else item[0]

    def similar(self, movie_id: int) -> list:
        item = self.reader.get(table_layout.movie_key(movie_id))
        return [] if item is None else item[1]

    def neighbours(self, movie_ids: list[int]) -> list:
        sid, score = SIMILAR_COLUMNS.index("similar_movie_id"), SIMILAR_COLUMNS.index("score")
        return [(m, row[sid], row[score]) for m, item in self._movie_items(movie_ids).items() for row in item[1]]

    def following(self, movie_ids: list[int]) -> list:
        nid, score = NEXT_COLUMNS.index("next_movie_id"), NEXT_COLUMNS.index("score")
        return [(m, row[nid], row[score]) for m, item in self._movie_items(movie_ids).items() for row in item[2]]


@dataclass(frozen=True)
class PublishedBuild(Artifact):
    """A build served from DynamoDB: the same in-memory parts as a DuckDB artifact, no connection."""

    table: str = ""
    title_rows: list = field(default_factory=list, repr=False)

    @cached_property
    def titles(self) -> TitleIndex:
        return TitleIndex(self.title_rows)


def _check_build_info(info: dict[str, str]) -> None:
    raw = info.get("schema_version", "")
    try:
        version = int(raw)
    except ValueError:
        raise ArtifactUnavailable("artifact_incomplete",
                                  f"build_info.schema_version is not an integer: {raw!r}") from None
    if version != schema.SCHEMA_VERSION:
        older = version < schema.SCHEMA_VERSION
        raise ArtifactUnavailable("schema_too_old" if older else "schema_too_new",
                                  f"published schema {version}, this handler reads {schema.SCHEMA_VERSION}; "
                                  + ("publish a new build" if older else "deploy a newer handler"))
    missing = [k for k in schema.REQUIRED_BUILD_INFO if k not in info]
    if missing:
        raise ArtifactUnavailable("artifact_incomplete", f"build_info lacks {', '.join(missing)}")


def read_pointer(reader: Reader) -> dict:
    """The pointer item of a deployment name, decoded from its plain attributes."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        item = reader.client.get_item(TableName=reader.table, Key={table_layout.KEY: {"S": table_layout.POINTER_KEY}},
                                      ConsistentRead=True).get("Item")
    except (BotoCoreError, ClientError) as exc:
        err = unavailable_from(exc, reader.table)
        if err.reason == "table_missing":
            err = ArtifactUnavailable("pointer_missing", f"no pointer table {reader.table}: publish a build first")
        raise err from None
    if item is None:
        raise ArtifactUnavailable("not_published", f"nothing is published under {reader.table} yet")
    return {"table": item["table"]["S"], "version": int(item["version"]["N"]),
            "history": [v["S"] for v in item.get("history", {}).get("L", [])]}


def open_published(name: str, client, max_attempts: int) -> PublishedBuild:
    """Follow the pointer, then open the build table it names: what a container serves."""
    pointer = read_pointer(Reader(client, name, max_attempts))
    return open_table(name, pointer["table"], client, max_attempts)


def open_table(name: str, table: str, client, max_attempts: int) -> PublishedBuild:
    """Check one build table's meta item and load its catalogue (the publisher verifies a new table this way)."""
    reader = Reader(client, table, max_attempts)
    meta = reader.get(table_layout.META_KEY, consistent=True)
    if meta is None:
        raise ArtifactUnavailable("artifact_incomplete", f"DynamoDB table {table} has no meta item")
    if meta.get("format") != table_layout.FORMAT_VERSION:
        raise ArtifactUnavailable("schema_too_new", f"table {table} has layout {meta.get('format')}, this handler "
                                  f"reads {table_layout.FORMAT_VERSION}")
    info = {str(k): str(v) for k, v in meta["build_info"].items()}
    _check_build_info(info)
    if meta.get("columns") != columns():
        raise ArtifactUnavailable("schema_mismatch", f"table {table} was published with columns {meta.get('columns')}, "
                                  f"this handler reads {columns()}; publish again with this version")
    keys = [table_layout.chunk_key(i) for i in range(int(meta["chunks"]))]
    chunks = reader.get_many(keys, consistent=True, decoded=False)
    if len(chunks) != len(keys):
        raise ArtifactUnavailable("artifact_incomplete",
                                  f"table {table} lacks {len(keys) - len(chunks)} catalogue chunks")
    catalogue = table_layout.decode(b"".join(chunks[k] for k in keys))
    movies = {m[0]: MovieRow(*m) for m in catalogue["movies"]}
    popular = {genre: [tuple(p) for p in pairs] for genre, pairs in catalogue["popular"]}
    sha256 = meta.get("sha256")
    return PublishedBuild(conn=None, path=f"{SCHEME}{name}/{table}", build_info=info, sha256=sha256,
                          etag=_etag(info, sha256), movies=movies, popular=popular,
                          genres=_genres([m.genres or [] for m in movies.values()]),
                          table=table, title_rows=catalogue["titles"])


class DynamoDBStore:
    """latentlens.handler.store.Store over `dynamodb://<name>`: the pointer's build table, its catalogue kept
    in memory (a LazyArtifact, as the DuckDB store keeps its file), its items read per lookup."""

    def __init__(self, settings: Settings, client=None) -> None:
        self.settings = settings
        self.name = settings.db.removeprefix(SCHEME)
        self._client = client
        # nothing to release: no connection is held, and the client is shared and stateless
        self._artifact: LazyArtifact[PublishedBuild] = LazyArtifact(settings, self._open, lambda _build: None)

    @property
    def client(self):
        if self._client is None:
            self._client = client_for(self.settings)
        return self._client

    def artifact(self) -> PublishedBuild:
        return self._artifact.get()

    def _open(self) -> PublishedBuild:
        if not table_layout.NAME_PATTERN.match(self.name):
            raise ArtifactUnavailable("store_misconfigured", f"{SCHEME}{self.name}: the name must match "
                                      f"{table_layout.NAME_PATTERN.pattern}")
        from botocore.exceptions import BotoCoreError

        try:
            client = self.client
        except BotoCoreError as exc:  # e.g. no region configured
            raise ArtifactUnavailable("store_misconfigured", f"cannot make a DynamoDB client: {exc}") from None
        build = open_published(self.name, client, self.settings.dynamodb_max_attempts)
        logger.info("serving DynamoDB table %s", build.table)
        return build

    def rows(self) -> tuple[PublishedBuild, DynamoDBRows]:
        art = self.artifact()
        return art, DynamoDBRows(Reader(self.client, art.table, self.settings.dynamodb_max_attempts))

    def invalidate(self, art: Artifact, exc: Exception) -> None:
        self._artifact.drop(art, exc)

    def close(self) -> None:
        self._artifact.close()
