"""`latentlens publish dynamodb`: one new table per build, verified, then one conditional pointer flip.

Items are the rows latentlens.handler.queries reads, selected with its own column lists (USER_COLUMNS for the
champion's and the challenger's lists, MOVIE_COLUMNS, SIMILAR_COLUMNS, NEXT_COLUMNS; and each session a build
trained as a user), so a column added there is published without a change here,
and DynamoDB answers equal DuckDB answers because the same code computes both from equal rows.

Order of work, so a reader never sees a mix and a killed publish harms nothing:
1. read the pointer (its version is the condition of the flip);
2. create `<name>.<build id>` and write every item with BatchWriteItem (threads, unprocessed
   items retried with backoff), or with `via_s3`, stage them in S3 and let ImportTable create it;
3. verify: a Scan count equals the items written, a random sample of users and movies reads
   back equal to the source's rows, the catalogue equals the source's;
4. PutItem the pointer on condition that its version is still the one read in 1 (two publishes
   cannot interleave: the later flip fails and its table is deleted);
5. delete tables beyond the newest `keep` previous ones, tables of publishes that died, and tables a
   rollback left once their grace has passed.
A publish stopped before 4 leaves the pointer, and every table it names, untouched.

A rollback flips the pointer back the same way, but keeps the table it leaves: the pointer's `retired`
map records when, and a later publish or rollback deletes it once `grace_s` has passed (by default
table_layout.ROLLBACK_GRACE_S, five times the handler's pointer cache), so a warm container still
serving it follows the pointer before it goes. A corrupt pointer (no `table`, attributes of the wrong
type) is reported by `status`, refused by `rollback`, and replaced by a publish, which then keeps every
other build table for the grace, as it cannot tell which one containers serve.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from latentlens.build.progress import get_logger, progress
from latentlens.build.publish.settings import PublishSettings
from latentlens.build.publish.source import SourceError, open_source
from latentlens.handler import schema, table_layout
from latentlens.handler.artifact import TITLE_ROWS, ArtifactUnavailable
from latentlens.handler.dynamodb import DynamoDBRows, Reader, columns, open_table, parse_pointer, pointer_item
from latentlens.handler.queries import MOVIE_COLUMNS, NEXT_COLUMNS, SIMILAR_COLUMNS, USER_COLUMNS, DuckDBRows

log = get_logger("publish")

ITEM_LIMIT = 400 * 1024  # DynamoDB's hard limit
ITEM_BUDGET = 200 * 1024  # refuse well before it: a list that big is a build bug, not data
_BATCH = 25  # BatchWriteItem's maximum


class PublishError(Exception):
    """A publish or rollback that cannot go ahead; the message says why (exit 2, nothing changed)."""


@dataclass
class SizeStats:
    """Encoded item sizes of one kind (bytes, as DynamoDB counts them: attribute names plus values)."""

    sizes: list[int] = field(default_factory=list)

    def add(self, n: int) -> None:
        self.sizes.append(n)

    def summary(self) -> dict[str, int]:
        if not self.sizes:
            return {"items": 0}
        s = sorted(self.sizes)
        return {"items": len(s), "mean": sum(s) // len(s), "p50": s[len(s) // 2],
                "p99": s[min(len(s) - 1, len(s) * 99 // 100)], "max": s[-1]}


@dataclass(frozen=True)
class PublishResult:
    table: str
    version: int
    items: int
    seconds: float
    write_seconds: float
    sizes: dict[str, dict[str, int]]
    deleted: list[str]
    history: list[str]
    retired: list[str] = field(default_factory=list)  # left by rollbacks, kept for their grace

    def summary_text(self) -> str:
        rate = self.items / self.write_seconds if self.write_seconds else 0.0
        lines = [f"published {self.table} (pointer version {self.version}): {self.items:,} items "
                 f"in {self.seconds:.1f} s (writes {rate:,.0f} items/s)"]
        for kind, s in self.sizes.items():
            if s.get("items"):
                lines.append(f"  {kind:<9} {s['items']:>10,} items, bytes mean {s['mean']:,} p50 {s['p50']:,} "
                             f"p99 {s['p99']:,} max {s['max']:,}")
        lines.append(f"  rollback targets: {', '.join(self.history) or 'none'}")
        if self.retired:
            lines.append(f"  kept for their grace: {', '.join(self.retired)}")
        if self.deleted:
            lines.append(f"  deleted: {', '.join(self.deleted)}")
        return "\n".join(lines)


def make_client(settings: PublishSettings, service: str = "dynamodb", connect_timeout_s: float | None = None,
                read_timeout_s: float | None = None, max_attempts: int | None = None):
    """A client with the settings' timeouts and attempts per call (boto3 honours AWS_ENDPOINT_URL[_DYNAMODB]
    when no --endpoint-url is given); `service` "s3" for the --via-s3 staging."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=connect_timeout_s or settings.connect_timeout_s,
                    read_timeout=read_timeout_s or settings.read_timeout_s,
                    retries={"mode": "standard", "total_max_attempts": max_attempts or settings.max_attempts})
    return boto3.client(service, endpoint_url=settings.endpoint_url, region_name=settings.region, config=config)


def reach(settings: PublishSettings, service: str = "dynamodb") -> None:
    """PublishError unless the endpoint answers (any answer, an error too) within settings.deadline_s: one try
    at a time, each cut to the time left, so an endpoint that never answers costs the deadline, not minutes."""
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    deadline = time.monotonic() + settings.deadline_s
    problem = "no attempt"
    while (left := deadline - time.monotonic()) > 0:
        # each try within the time left, connecting and reading together
        client = make_client(settings, service, min(settings.connect_timeout_s, left / 2),
                             min(settings.read_timeout_s, left / 2), max_attempts=1)
        try:
            if service == "s3":
                client.list_buckets()
            else:
                client.describe_table(TableName=settings.name)
            return
        except ClientError:  # an answer (no such table, access denied): the endpoint is there
            return
        except (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError) as exc:
            problem = type(exc).__name__
            time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))
    where = settings.endpoint_url or f"AWS {service}"
    raise PublishError(f"{'DynamoDB' if service == 'dynamodb' else 'S3'} did not answer within "
                       f"{settings.deadline_s:g} s at {where} ({problem}); --timeout sets the wait")


def _reached(settings: PublishSettings):
    reach(settings)
    return make_client(settings)


def _item(key: str, payload) -> tuple[dict, int]:
    blob = table_layout.encode(payload)
    size = len(table_layout.KEY) + len(key.encode()) + len(table_layout.VALUE) + len(blob)
    if size > ITEM_BUDGET:
        raise PublishError(f"item {key} would be {size:,} bytes "
                           f"(budget {ITEM_BUDGET:,}, DynamoDB's limit {ITEM_LIMIT:,})")
    return {table_layout.KEY: {"S": key}, table_layout.VALUE: {"B": blob}}, size


def _grouped(cur, sql: str, batch: int = 20_000) -> Iterator[tuple[Any, list]]:
    """(key, rows without the key) for `sql` ordered by its first column, streamed."""
    cur.execute(sql)
    key: Any = None  # the current group's first column (None before the first row)
    rows: list[tuple] = []
    while chunk := cur.fetchmany(batch):
        for row in chunk:
            if row[0] != key:
                if rows:
                    yield key, rows
                key, rows = row[0], []
            rows.append(row[1:])
    if rows:
        yield key, rows


class _Reservoir:
    """A uniform random sample of at most k keys from a stream (seeded: a failed check can be rerun)."""

    def __init__(self, k: int, seed: int) -> None:
        self.k, self.seen, self.rng = k, 0, random.Random(seed)
        self.keys: list[Any] = []  # user and movie ids, session hashes

    def offer(self, key: Any) -> None:
        self.seen += 1
        if len(self.keys) < self.k:
            self.keys.append(key)
        else:
            j = self.rng.randrange(self.seen)
            if j < self.k:
                self.keys[j] = key


def _catalogue(art) -> dict:
    """What every container loads once: the movie map, the title index's rows, the popular lists."""
    cur = art.conn.cursor()
    try:
        titles = [list(r) for r in cur.execute(TITLE_ROWS).fetchall()]
    finally:
        cur.close()
    return {"movies": [list(m) for m in art.movies.values()], "titles": titles,
            "popular": [[genre, [list(p) for p in pairs]] for genre, pairs in art.popular.items()]}


_USERS = f"SELECT user_id, {', '.join(USER_COLUMNS)} FROM {schema.USER_RECOMMENDATIONS} ORDER BY user_id"
_CHALLENGERS = f"SELECT user_id, {', '.join(USER_COLUMNS)} FROM {schema.CHALLENGER_RECOMMENDATIONS} ORDER BY user_id"
_SESSIONS = f"SELECT session_sha256, user_id FROM {schema.SESSION_USERS} ORDER BY session_sha256"


class _Items:
    """Every item of a build table, with size statistics and the sampled keys for verification."""

    def __init__(self, art, sample: int) -> None:
        self.art = art
        self.sizes = {kind: SizeStats() for kind in ("user", "challenger", "session", "movie", "meta", "catalogue")}
        self.users, self.movies = _Reservoir(sample, 1), _Reservoir(sample, 2)
        self.challengers, self.sessions = _Reservoir(sample, 3), _Reservoir(sample, 4)
        cur = art.conn.cursor()
        count = "SELECT count(DISTINCT user_id) FROM {}"
        self.n_users = cur.execute(count.format(schema.USER_RECOMMENDATIONS)).fetchone()[0]
        self.n_challengers = cur.execute(count.format(schema.CHALLENGER_RECOMMENDATIONS)).fetchone()[0]
        self.n_sessions = cur.execute(f"SELECT count(*) FROM {schema.SESSION_USERS}").fetchone()[0]
        self.n_movies = cur.execute(f"SELECT count(*) FROM {schema.MOVIES}").fetchone()[0]
        cur.close()
        blob = table_layout.encode(_catalogue(art))
        step = table_layout.CHUNK_BYTES
        self.chunks = [blob[i:i + step] for i in range(0, len(blob), step)] or [b""]

    @property
    def total(self) -> int:
        return self.n_users + self.n_challengers + self.n_sessions + self.n_movies + 1 + len(self.chunks)

    def _kept(self, kind: str, item: tuple[dict, int]) -> dict:
        self.sizes[kind].add(item[1])
        return item[0]

    def __iter__(self) -> Iterator[dict]:
        art = self.art
        meta = {"format": table_layout.FORMAT_VERSION, "build_info": art.build_info, "sha256": art.sha256,
                "columns": columns(), "chunks": len(self.chunks),
                "counts": {"users": self.n_users, "challenger_users": self.n_challengers, "sessions": self.n_sessions,
                           "movies": self.n_movies}}
        yield self._kept("meta", _item(table_layout.META_KEY, meta))
        for i, chunk in enumerate(self.chunks):
            key = table_layout.chunk_key(i)
            item = {table_layout.KEY: {"S": key}, table_layout.VALUE: {"B": chunk}}
            yield self._kept("catalogue", (item, len(key) + 3 + len(chunk)))
        movies_cur, similar_cur, next_cur, users_cur = (art.conn.cursor() for _ in range(4))
        try:
            similar = _grouped(similar_cur, f"SELECT movie_id, {', '.join(SIMILAR_COLUMNS)} "
                                            f"FROM {schema.SIMILAR_MOVIES} ORDER BY movie_id")
            following = _grouped(next_cur, f"SELECT movie_id, {', '.join(NEXT_COLUMNS)} "
                                           f"FROM {schema.NEXT_MOVIES} ORDER BY movie_id")
            movies = _grouped(movies_cur, f"SELECT movie_id, {', '.join(MOVIE_COLUMNS)} FROM {schema.MOVIES} "
                                          "ORDER BY movie_id")
            for movie_id, row, neighbours, nexts in _by_movie(movies, similar, following):
                self.movies.offer(movie_id)
                yield self._kept("movie", _item(table_layout.movie_key(movie_id), [row, neighbours, nexts]))
            for user_id, rows in _grouped(users_cur, _USERS):
                self.users.offer(user_id)
                yield self._kept("user", _item(table_layout.user_key(user_id), rows))
        finally:
            for c in (movies_cur, similar_cur, next_cur, users_cur):
                c.close()
        yield from self._people()

    def _people(self) -> Iterator[dict]:
        """The challenger's lists (one item per user) and the sessions a build trained as users."""
        cur = self.art.conn.cursor()
        try:
            for user_id, rows in _grouped(cur, _CHALLENGERS):
                self.challengers.offer(user_id)
                yield self._kept("challenger", _item(table_layout.challenger_key(user_id), rows))
            for session_sha256, ((user_id,),) in _grouped(cur, _SESSIONS):  # the key is unique: one row each
                self.sessions.offer(session_sha256)
                yield self._kept("session", _item(table_layout.session_key(session_sha256), user_id))
        finally:
            cur.close()


def _by_movie(movies: Iterator[tuple[int, list]], *lists: Iterator[tuple[int, list]]) -> Iterator[tuple]:
    """(movie_id, movie row, rows of each of `lists`) per movie, every stream ordered by movie_id; a list's rows of
    a movie not in the catalogue are skipped (never served), a movie without rows in a list gets []."""
    pending = [next(stream, None) for stream in lists]
    for movie_id, (row,) in movies:
        found = []
        for i, stream in enumerate(lists):
            head = pending[i]
            while head is not None and head[0] < movie_id:
                head = next(stream, None)
            rows: list = []
            if head is not None and head[0] == movie_id:
                rows, head = head[1], next(stream, None)
            pending[i] = head
            found.append(rows)
        yield (movie_id, row, *found)


def _batches(items, size: int = _BATCH) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _write_batch(client, table: str, batch: list[dict], attempts: int = 10) -> None:
    """BatchWriteItem, retrying what DynamoDB leaves unprocessed with exponential backoff (as AWS advises)."""
    request = {table: [{"PutRequest": {"Item": item}} for item in batch]}
    for attempt in range(attempts):
        request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
        if not request:
            return
        time.sleep(min(2.0, 0.05 * 2**attempt))
    raise PublishError(f"DynamoDB left items of {table} unprocessed after {attempts} attempts")


def _write_all(client, table: str, items: _Items, workers: int, show_progress: bool = False) -> int:
    written = 0
    lock = threading.Lock()
    inflight: set[Future] = set()

    def send(batch: list[dict]) -> None:
        nonlocal written
        _write_batch(client, table, batch)
        with lock:
            written += len(batch)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="publish") as pool:
        try:
            for batch in progress(_batches(items), desc=f"writing {table}", show=show_progress,
                                  total=-(-items.total // _BATCH), unit="batch"):
                inflight.add(pool.submit(send, batch))
                if len(inflight) >= 2 * workers:
                    done, inflight = wait(inflight, return_when=FIRST_COMPLETED)
                    for f in done:
                        f.result()
            for f in inflight:
                f.result()
        except BaseException:
            for f in inflight:
                f.cancel()
            raise
    return written


IMPORT_PART_BYTES = 64 * 1024 * 1024  # uncompressed DynamoDB JSON per staged S3 object


def _parse_s3(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket:
        raise PublishError(f"--via-s3 {uri!r}: give s3://bucket[/prefix]")
    return bucket, prefix.strip("/")


def _import_via_s3(client, s3, uri: str, table: str, items: _Items, show_progress: bool = False) -> int:
    """Stage every item as gzipped DynamoDB JSON under s3://bucket/prefix/<table>/, then ImportTable creates
    and fills the table (no write capacity used: AWS's bulk path for very large builds). Returns items imported."""
    import base64
    import gzip
    import io
    import json

    bucket, prefix = _parse_s3(uri)
    folder = f"{prefix}/{table}/" if prefix else f"{table}/"
    keys: list[str] = []

    def upload(buffer: io.BytesIO) -> None:
        key = f"{folder}part-{len(keys):05d}.json.gz"
        s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(buffer.getvalue(), 6))
        keys.append(key)

    try:
        buffer = io.BytesIO()
        for item in progress(items, desc=f"staging {table}", show=show_progress, total=items.total, unit="item"):
            line = {"Item": {table_layout.KEY: item[table_layout.KEY],
                             table_layout.VALUE: {"B": base64.b64encode(item[table_layout.VALUE]["B"]).decode()}}}
            buffer.write(json.dumps(line, separators=(",", ":")).encode() + b"\n")
            if buffer.tell() >= IMPORT_PART_BYTES:
                upload(buffer)
                buffer = io.BytesIO()
        if buffer.tell():
            upload(buffer)
        log.info("staged %d parts under s3://%s/%s; importing", len(keys), bucket, folder)
        arn = client.import_table(
            S3BucketSource={"S3Bucket": bucket, "S3KeyPrefix": folder}, InputFormat="DYNAMODB_JSON",
            InputCompressionType="GZIP",
            TableCreationParameters={"TableName": table, "BillingMode": "PAY_PER_REQUEST",
                                     "AttributeDefinitions": [{"AttributeName": table_layout.KEY,
                                                               "AttributeType": "S"}],
                                     "KeySchema": [{"AttributeName": table_layout.KEY, "KeyType": "HASH"}]},
        )["ImportTableDescription"]["ImportArn"]
        delay = 0.1
        while True:
            status = client.describe_import(ImportArn=arn)["ImportTableDescription"]
            if status["ImportStatus"] not in ("IN_PROGRESS", "CANCELLING"):
                break
            time.sleep(delay)  # an import takes minutes on AWS: poll gently
            delay = min(10.0, delay * 1.5)
        if status["ImportStatus"] != "COMPLETED" or status.get("ErrorCount"):
            raise PublishError(f"ImportTable of {table} ended {status['ImportStatus']} "
                               f"with {status.get('ErrorCount', 0)} errors: "
                               f"{status.get('FailureMessage') or status.get('FailureCode') or 'no message'}")
        client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        return int(status["ImportedItemCount"])
    finally:  # the staged copy has served its purpose (or failed); the table is the build now
        for start in range(0, len(keys), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[start:start + 1000]]})


def _count(client, table: str, segments: int = 4) -> int:
    """Items in the table by a parallel Scan (DescribeTable's ItemCount lags by hours)."""
    def segment(i: int) -> int:
        total, start = 0, None
        while True:
            kwargs = {"TableName": table, "Select": "COUNT", "Segment": i, "TotalSegments": segments,
                      "ConsistentRead": True}
            if start:
                kwargs["ExclusiveStartKey"] = start
            reply = client.scan(**kwargs)
            total += reply["Count"]
            start = reply.get("LastEvaluatedKey")
            if not start:
                return total

    with ThreadPoolExecutor(max_workers=segments) as pool:
        return sum(pool.map(segment, range(segments)))


def _json(value):
    """A value as it comes back from an item (tuples become lists)."""
    return table_layout.decode(table_layout.encode(value))


def _normal(rows) -> list:
    """Rows as they come back from JSON (tuples become lists), sorted like latentlens.handler.queries sorts them."""
    return sorted(_json(list(rows)))


def _reads_equal(stored: DynamoDBRows, source: DuckDBRows, method: str, key: object, one: bool = False) -> bool:
    """Whether `method(key)` gives the same rows (`one`: the same row) from the table as from the source, in any
    order; an unreadable one is unequal."""
    try:
        found, expected = getattr(stored, method)(key), getattr(source, method)(key)
    except ArtifactUnavailable:
        return False
    return _normal([found] if one else found) == _normal([expected] if one else expected)


def _compare_sample(stored: DynamoDBRows, source: DuckDBRows, table: str, items: _Items) -> None:
    """The sampled users' and movies' items read back equal to the source's rows (an unreadable one is unequal)."""
    for user_id in items.users.keys:
        if not _reads_equal(stored, source, "user", user_id):
            raise PublishError(f"{table}: user {user_id}'s rows read back differ from the source")
    for movie_id in items.movies.keys:
        if not (_reads_equal(stored, source, "movie", movie_id, one=True)
                and _reads_equal(stored, source, "similar", movie_id)
                and _reads_equal(stored, source, "following", [movie_id])):
            raise PublishError(f"{table}: movie {movie_id}'s rows read back differ from the source")
    _compare_people(stored, source, table, items)


def _compare_people(stored: DynamoDBRows, source: DuckDBRows, table: str, items: _Items) -> None:
    """The sampled challenger lists and sessions read back equal to the source's (an unreadable one is unequal)."""
    for user_id in items.challengers.keys:
        if not _reads_equal(stored, source, "challenger", user_id):
            raise PublishError(f"{table}: the challenger's rows of user {user_id} read back differ from the source")
    for session_sha256 in items.sessions.keys:
        if not _reads_equal(stored, source, "session_user", session_sha256, one=True):
            raise PublishError(f"{table}: session {session_sha256[:12]}... reads back differently from the source")


def _verify(client, name: str, table: str, items: _Items, written: int) -> None:
    counted = _count(client, table)
    if counted != written or written != items.total:
        raise PublishError(f"{table}: {counted:,} items in the table, {written:,} written, {items.total:,} expected")
    art = items.art
    try:
        built = open_table(name, table, client, max_attempts=8)
    except ArtifactUnavailable as exc:
        raise PublishError(f"{table}: does not read back as a servable build ({exc.reason}: {exc.message})") from None
    if (built.etag, built.build_info, built.sha256) != (art.etag, art.build_info, art.sha256):
        raise PublishError(f"{table}: build_info or identity read back differs from the source")
    if _json(list(built.movies.values())) != _json(list(art.movies.values())):
        raise PublishError(f"{table}: the movie map read back differs from the source")
    if _json(list(built.popular.items())) != _json(list(art.popular.items())):
        raise PublishError(f"{table}: the popular lists read back differ from the source")
    source = DuckDBRows(art.conn.cursor())
    _compare_sample(DynamoDBRows(Reader(client, table, 8)), source, table, items)
    source.cur.close()
    log.info("verified %s: %s items, %d users, %d movies, %d challenger lists and %d sessions compared with the "
             "source", table, f"{counted:,}", len(items.users.keys), len(items.movies.keys),
             len(items.challengers.keys), len(items.sessions.keys))


def _retired(item: dict) -> dict[str, str]:
    """The pointer's `retired` map (build table -> ISO time it was left); an entry that is not one is re-stamped
    now, so it waits out a whole grace rather than being deleted early or kept for ever."""
    raw = item.get("retired", {}).get("M", {}) if isinstance(item.get("retired"), dict) else {}
    retired = {}
    for table, value in (raw.items() if isinstance(raw, dict) else []):
        stamp = value.get("S") if isinstance(value, dict) else None
        try:
            retired[table] = datetime.fromisoformat(stamp).isoformat() if isinstance(stamp, str) else _stamp()
        except ValueError:
            retired[table] = _stamp()
    return retired


def _stamp(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).isoformat(timespec="microseconds")


def _read_pointer(client, name: str) -> dict | None:
    """The pointer with its `retired` map; None when nothing is published (the pointer table made if missing);
    a corrupt pointer as {"corrupt": why, "item": the raw item}."""
    try:
        item = pointer_item(Reader(client, name, 8))
    except ArtifactUnavailable as exc:
        if exc.reason == "not_published":
            return None
        if exc.reason == "pointer_missing":
            log.info("creating pointer table %s", name)
            _create_table(client, name)
            return None
        raise PublishError(exc.message) from None
    try:
        pointer = parse_pointer(name, item)
    except ArtifactUnavailable as exc:
        return {"corrupt": exc.message, "item": item}
    return {**pointer, "retired": _retired(item)}


def _sweep(retired: dict[str, str], grace_s: float, now: datetime) -> tuple[dict[str, str], list[str]]:
    """(tables still in their grace, tables past it: to delete)."""
    due = [t for t, at in retired.items() if (now - datetime.fromisoformat(at)).total_seconds() >= grace_s]
    return {t: at for t, at in retired.items() if t not in due}, due


def _create_table(client, table: str) -> None:
    client.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": table_layout.KEY, "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": table_layout.KEY, "KeyType": "HASH"}])
    client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 300})


def _condition(pointer: dict | None) -> tuple[int, dict]:
    """The version to write and the condition that the pointer is still the one read (also a corrupt one)."""
    if pointer is None:
        return 1, {"ConditionExpression": "attribute_not_exists(#k)",
                   "ExpressionAttributeNames": {"#k": table_layout.KEY}}
    if "corrupt" not in pointer:
        return pointer["version"] + 1, {"ConditionExpression": "#v = :v", "ExpressionAttributeNames": {"#v": "version"},
                                        "ExpressionAttributeValues": {":v": {"N": str(pointer["version"])}}}
    raw = pointer["item"].get("version")
    if raw is None:
        return 1, {"ConditionExpression": "attribute_not_exists(#v)", "ExpressionAttributeNames": {"#v": "version"}}
    try:
        version = int(raw["N"]) + 1
    except (KeyError, TypeError, ValueError):
        version = 1
    return version, {"ConditionExpression": "#v = :v", "ExpressionAttributeNames": {"#v": "version"},
                     "ExpressionAttributeValues": {":v": raw}}


def _flip(client, name: str, pointer: dict | None, table: str, history: list[str], sha256: str | None,
          retired: dict[str, str]) -> int:
    """The one write a reader acts on; conditional on the pointer being what this publish read."""
    version, condition = _condition(pointer)
    item = {table_layout.KEY: {"S": table_layout.POINTER_KEY}, "table": {"S": table}, "version": {"N": str(version)},
            "history": {"L": [{"S": t} for t in history]}, "sha256": {"S": sha256 or ""},
            "published_at": {"S": datetime.now(UTC).isoformat(timespec="seconds")},
            "retired": {"M": {t: {"S": at} for t, at in retired.items()}}}
    from botocore.exceptions import ClientError

    try:
        client.put_item(TableName=name, Item=item, **condition)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise PublishError(f"the pointer {name} changed while this publish ran (another publish or a rollback); "
                               "nothing was switched") from None
        raise
    return version


def _delete_tables(client, tables: list[str]) -> list[str]:
    from botocore.exceptions import ClientError

    deleted = []
    for t in tables:
        try:
            client.delete_table(TableName=t)
            deleted.append(t)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                log.warning("could not delete %s: %s", t, exc)
    return deleted


def _build_tables(client, name: str) -> list[str]:
    tables, start = [], None
    while True:
        reply = client.list_tables(**({"ExclusiveStartTableName": start} if start else {}))
        tables += [t for t in reply.get("TableNames", []) if table_layout.is_build_table(name, t)]
        start = reply.get("LastEvaluatedTableName")
        if not start:
            return tables


def _check_name(name: str) -> None:
    if not table_layout.NAME_PATTERN.match(name):
        raise PublishError(f"--name {name!r}: use 3-200 letters, digits, '_' or '-' "
                           f"({table_layout.NAME_PATTERN.pattern})")


@dataclass
class _NextPointer:
    """What the pointer names after a flip to a new table, and the tables the flip lets go of."""

    history: list[str]
    retired: dict[str, str]  # tables in their grace, kept
    expired: list[str]  # beyond --keep, or past their grace: deleted after the flip


def _next_pointer(client, settings: PublishSettings, pointer: dict | None, table: str) -> _NextPointer:
    now = datetime.now(UTC)
    if pointer is not None and "corrupt" in pointer:
        log.warning("the pointer %s is corrupt (%s): this publish replaces it, and keeps every other build table "
                    "for the grace (%s s), as it cannot tell which one containers serve", settings.name,
                    pointer["corrupt"], f"{settings.grace_s:g}")
        others = [t for t in _build_tables(client, settings.name) if t != table]
        return _NextPointer([], {t: _stamp(now) for t in others}, [])
    previous = ([pointer["table"]] + pointer["history"]) if pointer else []
    retired, due = _sweep(pointer["retired"] if pointer else {}, settings.grace_s, now)
    return _NextPointer(previous[:settings.keep], retired, previous[settings.keep:] + due)


def _open_source(settings: PublishSettings):
    _check_name(settings.name)
    if settings.keep < 1:
        raise PublishError("--keep must be at least 1 (the build rolled back to)")
    if settings.source is None or not settings.source.exists():
        raise PublishError(f"{settings.source}: no such artifact file or Parquet directory")
    try:
        return open_source(settings.source, settings.tmp_dir)
    except SourceError as exc:
        raise PublishError(str(exc)) from None


def _fill(client, settings: PublishSettings, table: str, items: _Items) -> int:
    """Write (or import) every item into the new table; the number written."""
    if settings.via_s3:
        reach(settings, "s3")
        s3 = make_client(settings, "s3")
        return _import_via_s3(client, s3, settings.via_s3, table, items, settings.progress)
    return _write_all(client, table, items, settings.workers, settings.progress)


def publish(settings: PublishSettings, client=None) -> PublishResult:
    """Write a new table from the source, verify it, flip the pointer, prune; see the module docstring."""
    source = _open_source(settings)
    client = client or _reached(settings)
    started = time.monotonic()
    art = source.artifact
    assert art.conn is not None  # a DuckDB artifact (a Parquet source is loaded into one)
    pointer = _read_pointer(client, settings.name)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    table = table_layout.build_table(settings.name, f"{stamp}-{(art.sha256 or 'nosha')[:8]}")
    items = _Items(art, settings.sample)
    log.info("publishing %s to %s: %s users, %s movies", source.label, table,
             f"{items.n_users:,}", f"{items.n_movies:,}")
    if settings.via_s3:
        _parse_s3(settings.via_s3)
    else:
        _create_table(client, table)
    flipped = False
    try:
        t0 = time.monotonic()
        written = _fill(client, settings, table, items)
        write_seconds = time.monotonic() - t0
        _verify(client, settings.name, table, items, written)
        after = _next_pointer(client, settings, pointer, table)
        version = _flip(client, settings.name, pointer, table, after.history, art.sha256, after.retired)
        flipped = True
    finally:
        if not flipped:  # an error or Ctrl-C: the pointer never named this table, so nobody reads it
            _delete_tables(client, [table])
        art.conn.close()
    # Tables of publishes that died before their flip are older than this one and named by no pointer.
    keep = {table, *after.history, *after.retired, *after.expired}
    orphans = [t for t in _build_tables(client, settings.name) if t not in keep and t < table]
    deleted = _delete_tables(client, after.expired + orphans)
    log.info("pointer %s -> %s (version %d)", settings.name, table, version)
    return PublishResult(table=table, version=version, items=written, seconds=time.monotonic() - started,
                         write_seconds=write_seconds, sizes={k: v.summary() for k, v in items.sizes.items()},
                         deleted=deleted, history=after.history, retired=sorted(after.retired))


def rollback(settings: PublishSettings, client=None) -> dict:
    """Point back at the newest previous build (checked servable first). The table left stays for
    `settings.grace_s`, for warm containers still serving it; tables left earlier and past theirs are deleted."""
    _check_name(settings.name)
    client = client or _reached(settings)
    pointer = _read_pointer(client, settings.name)
    if pointer is not None and "corrupt" in pointer:
        raise PublishError(f"the pointer {settings.name} is corrupt ({pointer['corrupt']}), so which build is served "
                           f"is unknown; publish a build to replace it: latentlens publish dynamodb ARTIFACT "
                           f"--name {settings.name}")
    if pointer is None or not pointer["history"]:
        raise PublishError(f"{settings.name}: no previous build to roll back to")
    target, rest = pointer["history"][0], pointer["history"][1:]
    try:
        open_table(settings.name, target, client, max_attempts=8)
    except ArtifactUnavailable as exc:
        raise PublishError(f"cannot roll back to {target}: {exc.message}") from None
    now = datetime.now(UTC)
    retired, due = _sweep(pointer["retired"], settings.grace_s, now)
    retired[pointer["table"]] = _stamp(now)
    version = _flip(client, settings.name, pointer, target, rest, None, retired)
    deleted = _delete_tables(client, due)
    log.info("pointer %s -> %s (version %d); %s kept for %s s; deleted %s", settings.name, target, version,
             pointer["table"], f"{settings.grace_s:g}", ", ".join(deleted) or "nothing")
    return {"table": target, "version": version, "history": rest, "retired": retired, "deleted": deleted}


def status(settings: PublishSettings, client=None) -> dict:
    """The pointer as it stands (what `--status` prints), once its table is checked servable; a corrupt pointer
    or a table that cannot be served is a PublishError saying so in one line."""
    _check_name(settings.name)
    client = client or _reached(settings)
    try:
        item = pointer_item(Reader(client, settings.name, 8))
        pointer = parse_pointer(settings.name, item)
    except ArtifactUnavailable as exc:
        if exc.reason != "store_invalid":
            raise PublishError(exc.message) from None
        raise PublishError(f"the pointer {settings.name} is corrupt ({exc.message}); publish a build to replace it: "
                           f"latentlens publish dynamodb ARTIFACT --name {settings.name}") from None
    try:
        open_table(settings.name, pointer["table"], client, max_attempts=8)
    except ArtifactUnavailable as exc:
        raise PublishError(f"the pointer {settings.name} names {pointer['table']}, which cannot be served "
                           f"({exc.reason}: {exc.message}); publish a build or --rollback") from None
    return {**pointer, "retired": _retired(item)}
