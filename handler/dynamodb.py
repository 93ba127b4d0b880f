"""DynamoDB mode (`LATENTLENS_DB=dynamodb://<name>`): the same store interface over a published table.

At the first request the pointer `<name>` names one build table; its meta item and catalogue (movie
map, title index, popular lists, build_info) are read once, with consistent reads, and kept. Each
lookup is then one GetItem (a user, a movie) or one BatchGetItem (liked movies);
latentlens.handler.queries turns the rows into answers exactly as it does for DuckDB's. Build tables are
never written after publishing, so every request is answered from one build. At most once per
`dynamodb_pointer_cache_s` a warm container reads the pointer again and, when it names another table
(a publish, a rollback), opens that one and serves it from then on; a rollback keeps the table it
leaves for longer than that (table_layout.ROLLBACK_GRACE_S), so no warm container reads a deleted one.

Every AWS failure, after botocore's bounded retries, is an ArtifactUnavailable with a stable
reason (table_missing, store_throttled, store_unavailable, ...), answered as a JSON 503. So is a
store that is not what the publisher writes: a corrupt pointer or meta item is `store_invalid` (kept
for `retry_interval_s` like any failed open), one corrupt user or movie item `item_invalid` for the
requests that read it alone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from latentlens.handler import schema, table_layout
from latentlens.handler.artifact import Artifact, ArtifactUnavailable, _etag, _genres
from latentlens.handler.audience import NOBODY, Audience
from latentlens.handler.movie_map import MovieRow, Movies
from latentlens.handler.queries import MOVIE_COLUMNS, NEXT_COLUMNS, SIMILAR_COLUMNS, USER_COLUMNS
from latentlens.handler.settings import Settings
from latentlens.handler.store import LazyArtifact
from latentlens.handler.title_index import TitleIndex

logger = logging.getLogger("latentlens.handler")

SCHEME = "dynamodb://"
_THROTTLED = {"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded"}


def columns() -> dict[str, list[str]]:
    """The row layout this handler reads; a table published with any other is refused, not misread."""
    return {"user": list(USER_COLUMNS), "challenger": list(USER_COLUMNS), "movie": list(MOVIE_COLUMNS),
            "similar": list(SIMILAR_COLUMNS), "next": list(NEXT_COLUMNS)}


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
        return None if item is None else self._value(key, item, decoded=True)

    def _value(self, key: str, item: dict, decoded: bool):
        """An item's payload (or its stored bytes); a value this layout never writes is `item_invalid`."""
        try:
            return table_layout.item_value(item) if decoded else table_layout.item_blob(item)
        except table_layout.LayoutError as exc:
            raise ArtifactUnavailable("item_invalid", f"DynamoDB table {self.table} item {key}: {exc}") from None

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
                    key = item[table_layout.KEY]["S"]  # the key asked for: DynamoDB returns it as given
                    found[key] = self._value(key, item, decoded)
                request = reply.get("UnprocessedKeys") or {}
                if not request:
                    break
                if attempt + 1 < self.max_attempts:
                    time.sleep(0.025 * 2**attempt)  # AWS: retry unprocessed keys with exponential backoff
            if request:
                raise ArtifactUnavailable("store_throttled", f"DynamoDB left keys of {self.table} unprocessed "
                                          f"after {self.max_attempts} attempts; try again shortly")
        return found


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _because(v: Any) -> bool:
    return v is None or (isinstance(v, list) and all(
        isinstance(b, dict) and isinstance(b.get("movie_id"), int) and _number(b.get("rating")) for b in v))


# What each column of an item's rows must hold for latentlens.handler.queries to compute with it.
_CHECKS: dict[str, Callable[[Any], bool]] = {
    "rank": lambda v: isinstance(v, int) and not isinstance(v, bool), "score": _number, "because": _because,
    "source": lambda v: v is None or isinstance(v, str),
    "title": lambda v: isinstance(v, str), "display_title": lambda v: isinstance(v, str),
    "genres": lambda v: v is None or isinstance(v, list), "year": lambda v: v is None or isinstance(v, int),
    "n_ratings": lambda v: v is None or isinstance(v, int), "mean_rating": lambda v: v is None or _number(v),
}
for _id in ("movie_id", "similar_movie_id", "next_movie_id"):
    _CHECKS[_id] = _CHECKS["rank"]


def _rows_ok(rows: Any, names: tuple[str, ...]) -> bool:
    """Rows as the publisher writes them: lists of len(names) values, each of its column's kind."""
    return isinstance(rows, list) and all(
        isinstance(row, list) and len(row) == len(names)
        and all(_CHECKS.get(name, lambda _v: True)(value) for name, value in zip(names, row, strict=True))
        for row in rows)


class DynamoDBRows:
    """latentlens.handler.queries.RowSource over one published table: one item per user, one per movie.
    Movie items read by `neighbours` are kept for this object's life (one request), so `following` of some
    of the same movies (rate a few's latest) reads nothing more. An item not shaped as the publisher writes
    it is ArtifactUnavailable `item_invalid`: that request a JSON 503, every other key still served."""

    def __init__(self, reader: Reader, audience: Audience = NOBODY) -> None:
        self.reader, self.audience = reader, audience
        self._movies: dict[int, list] = {}

    def _invalid(self, key: str) -> ArtifactUnavailable:
        return ArtifactUnavailable("item_invalid", f"DynamoDB table {self.reader.table} item {key} is not shaped "
                                   "as the publisher writes it")

    def _movie_item(self, key: str, item: Any) -> list:
        if not (isinstance(item, list) and len(item) == 3 and _rows_ok([item[0]], MOVIE_COLUMNS)
                and _rows_ok(item[1], SIMILAR_COLUMNS) and _rows_ok(item[2], NEXT_COLUMNS)):
            raise self._invalid(key)
        return item

    def _movie_items(self, movie_ids: list[int]) -> dict[int, list]:
        wanted = [m for m in dict.fromkeys(movie_ids) if m not in self._movies]
        if wanted:
            items = self.reader.get_many([table_layout.movie_key(m) for m in wanted])
            self._movies.update({int(key[2:]): self._movie_item(key, item) for key, item in items.items()})
        return {m: self._movies[m] for m in dict.fromkeys(movie_ids) if m in self._movies}

    def _one_movie(self, movie_id: int) -> list | None:
        key = table_layout.movie_key(movie_id)
        item = self.reader.get(key)
        return None if item is None else self._movie_item(key, item)

    def _user_rows(self, key: str) -> list:
        rows = self.reader.get(key)
        if rows is not None and not _rows_ok(rows, USER_COLUMNS):
            raise self._invalid(key)
        return rows or []

    def user(self, user_id: int) -> list:
        return self._user_rows(table_layout.user_key(user_id))

    def challenger(self, user_id: int) -> list:
        return self._user_rows(table_layout.challenger_key(user_id))

    def session_user(self, session_sha256: str) -> int | None:
        key = table_layout.session_key(session_sha256)
        user_id = self.reader.get(key)
        if user_id is not None and not _CHECKS["rank"](user_id):
            raise self._invalid(key)
        return user_id

    def movie(self, movie_id: int) -> list | None:
        item = self._one_movie(movie_id)
        return None if item is None else item[0]

    def similar(self, movie_id: int) -> list:
        item = self._one_movie(movie_id)
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


def invalid(what: str) -> ArtifactUnavailable:
    """A store that is not what the publisher writes: a JSON 503 `store_invalid`, never a 500."""
    return ArtifactUnavailable("store_invalid", what)


def pointer_item(reader: Reader) -> dict:
    """The raw pointer item of a deployment name (a consistent read)."""
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
    return item


def parse_pointer(name: str, item: dict) -> dict:
    """table, version and history of a pointer item, or `store_invalid` naming what is wrong with it."""
    table, version, history = (item.get(k) for k in ("table", "version", "history"))
    if not isinstance(table, dict) or not isinstance(table.get("S"), str):
        raise invalid(f"pointer {name}: no string attribute 'table'")
    if not table_layout.is_build_table(name, table["S"]):
        raise invalid(f"pointer {name}: 'table' {table['S'][:100]!r} is not a build table of {name}")
    try:
        number = int(version["N"]) if isinstance(version, dict) else None
    except (KeyError, TypeError, ValueError):
        number = None
    if number is None:
        raise invalid(f"pointer {name}: no number attribute 'version'")
    entries = history.get("L") if isinstance(history, dict) else [] if history is None else None
    if not isinstance(entries, list) or not all(isinstance(v, dict) and isinstance(v.get("S"), str) for v in entries):
        raise invalid(f"pointer {name}: 'history' is not a list of strings")
    return {"table": table["S"], "version": number, "history": [v["S"] for v in entries]}


def read_pointer(reader: Reader) -> dict:
    """The pointer item of a deployment name, decoded from its plain attributes (checked)."""
    return parse_pointer(reader.table, pointer_item(reader))


def open_published(name: str, client, max_attempts: int) -> PublishedBuild:
    """Follow the pointer, then open the build table it names: what a container serves."""
    pointer = read_pointer(Reader(client, name, max_attempts))
    return open_table(name, pointer["table"], client, max_attempts)


def _meta(reader: Reader) -> dict:
    """A build table's meta item, checked: what open_table reads before anything else."""
    table = reader.table
    try:
        meta = reader.get(table_layout.META_KEY, consistent=True)
    except ArtifactUnavailable as exc:
        raise (invalid(f"meta item: {exc.message}") if exc.reason == "item_invalid" else exc) from None
    if meta is None:
        raise ArtifactUnavailable("artifact_incomplete", f"DynamoDB table {table} has no meta item")
    if not isinstance(meta, dict):
        raise invalid(f"DynamoDB table {table}: the meta item is not an object")
    if meta.get("format") != table_layout.FORMAT_VERSION:
        raise ArtifactUnavailable("schema_too_new", f"table {table} has layout {meta.get('format')}, this handler "
                                  f"reads {table_layout.FORMAT_VERSION}")
    if not isinstance(meta.get("build_info"), dict):
        raise invalid(f"DynamoDB table {table}: the meta item has no build_info object")
    chunks = meta.get("chunks")
    if not isinstance(chunks, int) or isinstance(chunks, bool) or not 1 <= chunks <= 10_000:
        raise invalid(f"DynamoDB table {table}: the meta item's chunk count is {str(chunks)[:40]!r}")
    if meta.get("sha256") is not None and not isinstance(meta["sha256"], str):
        raise invalid(f"DynamoDB table {table}: the meta item's sha256 is not a string")
    return meta


def _catalogue(table: str, blob: bytes) -> tuple[Movies, dict, list]:
    """The movie map, popular lists and title rows from the catalogue's bytes, or `store_invalid`."""
    try:
        catalogue = table_layout.decode(blob)
        movies = Movies((m[0], MovieRow(*m)) for m in catalogue["movies"])
        popular = {genre: [tuple(p) for p in pairs] for genre, pairs in catalogue["popular"]}
        titles = catalogue["titles"]
    except (table_layout.LayoutError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise invalid(f"DynamoDB table {table}: the catalogue cannot be read ({type(exc).__name__})") from None
    if not isinstance(titles, list):
        raise invalid(f"DynamoDB table {table}: the catalogue's title rows are not a list")
    return movies, popular, titles


def open_table(name: str, table: str, client, max_attempts: int) -> PublishedBuild:
    """Check one build table's meta item and load its catalogue (the publisher verifies a new table this way)."""
    reader = Reader(client, table, max_attempts)
    meta = _meta(reader)
    info = {str(k): str(v) for k, v in meta["build_info"].items()}
    _check_build_info(info)
    if meta.get("columns") != columns():
        raise ArtifactUnavailable("schema_mismatch", f"table {table} was published with columns {meta.get('columns')}, "
                                  f"this handler reads {columns()}; publish again with this version")
    keys = [table_layout.chunk_key(i) for i in range(meta["chunks"])]
    try:
        chunks = reader.get_many(keys, consistent=True, decoded=False)
    except ArtifactUnavailable as exc:
        raise (invalid(f"catalogue: {exc.message}") if exc.reason == "item_invalid" else exc) from None
    if len(chunks) != len(keys):
        raise ArtifactUnavailable("artifact_incomplete",
                                  f"table {table} lacks {len(keys) - len(chunks)} catalogue chunks")
    movies, popular, titles = _catalogue(table, b"".join(chunks[k] for k in keys))
    sha256 = meta.get("sha256")
    counts = meta.get("counts")
    challengers = counts.get("challenger_users") if isinstance(counts, dict) else None
    return PublishedBuild(conn=None, path=f"{SCHEME}{name}/{table}", build_info=info, sha256=sha256,
                          etag=_etag(info, sha256), movies=movies, popular=popular,
                          genres=_genres([m.genres or [] for m in movies.values()]),
                          challenger=isinstance(challengers, int) and challengers > 0, table=table, title_rows=titles)


class DynamoDBStore:
    """latentlens.handler.store.Store over `dynamodb://<name>`: the pointer's build table, its catalogue kept
    in memory (a LazyArtifact, as the DuckDB store keeps its file), its items read per lookup. Once
    `dynamodb_pointer_cache_s` has passed (by `clock`) the next request re-reads the pointer and, if it names
    another table, opens that one and serves it; if that fails, the build held is served on and the pointer
    is read again after `retry_interval_s`."""

    def __init__(self, settings: Settings, client=None, clock: Callable[[], float] | None = None,
                 audience: Audience = NOBODY) -> None:
        self.settings, self.audience = settings, audience
        self.name = settings.db.removeprefix(SCHEME)
        self._client = client
        self._clock = clock if clock is not None else time.monotonic  # looked up when made, not at import
        self._recheck_at = 0.0  # when the pointer is read again (set by each open and each re-read)
        self._rechecking = threading.Lock()  # one re-read at a time; other requests serve the build held
        # nothing to release: no connection is held, and the client is shared and stateless
        self._artifact: LazyArtifact[PublishedBuild] = LazyArtifact(settings, self._open, lambda _build: None, clock)

    @property
    def client(self):
        if self._client is None:
            self._client = client_for(self.settings)
        return self._client

    def artifact(self) -> PublishedBuild:
        art = self._artifact.get()
        if self._clock() < self._recheck_at or not self._rechecking.acquire(blocking=False):
            return art
        try:
            return self._follow(art) if self._clock() >= self._recheck_at else art
        finally:
            self._rechecking.release()

    def _follow(self, art: PublishedBuild) -> PublishedBuild:
        """Re-read the pointer; open and serve the table it names if that is not `art`'s."""
        attempts = self.settings.dynamodb_max_attempts
        try:
            pointer = read_pointer(Reader(self.client, self.name, attempts))
            if pointer["table"] == art.table:
                self._recheck_at = self._clock() + self.settings.dynamodb_pointer_cache_s
                return art
            build = open_table(self.name, pointer["table"], self.client, attempts)
        except ArtifactUnavailable as exc:
            logger.warning("pointer %s re-read failed (%s): %s; still serving %s", self.name, exc.reason,
                           exc.message, art.table)
            self._recheck_at = self._clock() + self.settings.retry_interval_s
            return art
        self._recheck_at = self._clock() + self.settings.dynamodb_pointer_cache_s
        logger.info("pointer %s moved from %s to %s: serving it", self.name, art.table, build.table)
        return self._artifact.swap(art, build)

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
        self._recheck_at = self._clock() + self.settings.dynamodb_pointer_cache_s
        logger.info("serving DynamoDB table %s", build.table)
        return build

    def rows(self) -> tuple[PublishedBuild, DynamoDBRows]:
        art = self.artifact()
        return art, DynamoDBRows(Reader(self.client, art.table, self.settings.dynamodb_max_attempts), self.audience)

    def invalidate(self, art: Artifact, exc: Exception) -> None:
        self._artifact.drop(art, exc)

    def close(self) -> None:
        self._artifact.close()
