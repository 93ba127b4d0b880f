"""`latentlens serve`: the lookup API on this machine with uvicorn, plus copy-paste curl lines.

Runs the same app factory the Lambda uses (latentlens.handler.app:create_app), with settings made once,
in this process: the handler's Settings (its `LATENTLENS_*` environment, with `db` from --db) and the
serve options (ServeSettings). They reach every uvicorn worker as data, never through the environment:
uvicorn is given a `ServeApp`, a picklable app factory holding them (`factory=True`), inside its Config.
With one worker the factory is called in this process; with `--workers N` uvicorn's supervisor
(`uvicorn.supervisors.Multiprocess`, as `uvicorn.run` itself uses it) starts each worker with the
multiprocessing "spawn" method, which pickles that Config, factory and settings included, into the
worker, where the factory builds the app. (`uvicorn.run` refuses anything but an import string for
`--workers N`; an import string cannot carry settings, hence the supervisor.) The HTTP guards' limits
(`LATENTLENS_SERVE_*`, serve_protocol.py) are the user's environment, which each worker inherits and reads;
nothing here sets an environment variable.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import os
import re
import socket
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from latentlens.cli.settings import ServeSettings
    from latentlens.handler.artifact import Artifact
    from latentlens.handler.duckdb_store import DuckDBStore
    from latentlens.handler.settings import Settings

_log = logging.getLogger("latentlens.serve")

EXAMPLES = (
    "/health",
    "/users/1/recommendations?n=5",
    "/users/999999/recommendations?n=5&genre=Comedy",
    "/movies?search=the%20godfather&limit=3",
    "/movies/858",
    "/movies/858/similar?n=5",
    "/recommendations?liked=858,1213&n=10",
    "/recommendations?ratings=858:5,1213:4.5,1:1&n=10",
    "/popular?genre=Drama&n=5",
)


def base_url(host: str, port: int) -> str:
    """The URL a local client should use (a wildcard bind address is reached via loopback)."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


EVENT_EXAMPLE = '{"session_id": "try-it", "movie_id": 858, "type": "rating", "rating": 5}'


def banner(db: str, host: str, port: int, events: str | None = None) -> str:
    url = base_url(host, port)
    lines = [f"LatentLens API on {url}  (artifact: {db})", f"  OpenAPI docs: {url}/docs",
             f"  events: POST {url}/events into {events}" if events else "  events: off (--events URI turns them on)",
             "  try:"]
    lines += [f"    curl -s '{url}{path}'" for path in EXAMPLES]
    if events:
        lines.append(f"    curl -s -X POST '{url}/events' -H 'content-type: application/json' -d '{EVENT_EXAMPLE}'")
    lines.append(f"Open {url}/ in a browser: search a movie, rate a few, see picks with reasons.")
    return "\n".join(lines)


class ServeError(ValueError):
    """`latentlens serve` cannot start as asked (port in use, bad host): one line, exit 2."""


def check_port(host: str, port: int) -> None:
    """Bind the address once before anything is printed, so a port in use is one clear line."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ServeError(f"--host {host}: cannot resolve it ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ServeError(f"port {port} on {host} is already in use (another `latentlens serve`?); "
                                 "pick a free one with --port") from None
            raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def events_uri(uri: str) -> str:
    """An event store as the handler takes it: `dynamodb://TABLE` as given, a file path made absolute (every
    worker resolves it alike); a directory, or a file in a folder that does not exist, is a ServeError."""
    from latentlens.handler.events.stores import DYNAMODB_SCHEME

    if uri.startswith(DYNAMODB_SCHEME):
        if not re.fullmatch(r"[A-Za-z0-9_.-]{3,255}", uri.removeprefix(DYNAMODB_SCHEME)):
            raise ServeError(f"--events {uri}: not a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)")
        return uri
    path = os.path.abspath(uri)
    if os.path.isdir(path):
        raise ServeError(f"--events {path}: is a directory (name the event store's file, e.g. events.sqlite)")
    if not os.path.isdir(os.path.dirname(path)):
        raise ServeError(f"--events {path}: the folder {os.path.dirname(path)} does not exist")
    return path


def check_events(handler: Settings) -> None:
    """Open the event store once before serving (a file is created with its schema), so a store that cannot be
    used is one line at startup, not a 503 on every POST."""
    from latentlens.handler.events.store import EventStoreUnavailable
    from latentlens.handler.events.stores import open_event_store

    if not handler.events:
        return
    store = open_event_store(handler.events, handler)
    try:
        store.check()
    except EventStoreUnavailable as exc:
        raise ServeError(f"--events: {exc.detail}") from None
    finally:
        store.close()


def handler_settings(db: str, events: str | None) -> Settings:
    """The handler's Settings (its LATENTLENS_* environment) with `db`, and the event store: --events, else
    LATENTLENS_EVENTS, checked and made absolute."""
    from pydantic import ValidationError

    from latentlens.handler.settings import Settings

    try:
        env = Settings(db=db)
        events = events or env.events
        return Settings(db=db, events=events_uri(events)) if events else env
    except ValidationError as exc:  # a LATENTLENS_* variable out of its bounds (the value is never shown)
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ServeError(f"LATENTLENS_{str(first['loc'][0]).upper()}: {message}") from None


def missing_artifact_warning(db: str, command: str) -> str | None:
    """A warning when a local artifact is absent: the API would answer 503 until one is built."""
    if db.startswith(("s3://", "dynamodb://")) or os.path.exists(db):
        return None
    return (f"latentlens serve: warning: no artifact at {db}; every lookup answers 503 until a build writes it: "
            f"`{command} build --out {db}` (or `make build` for the default path)")


def _identity(path: str) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class ReloadOnReplace:
    """ASGI wrapper: when a rebuild replaces the local artifact (a new inode, size or mtime), the new
    build is opened and verified on a worker thread while requests go on being answered from the old
    one; then the store switches to it in one step. Checked on a request at most every
    `check_every_s` seconds (one stat). Local serving only: a Lambda container keeps its artifact for
    life by design.

    The reopen first takes a shared lock on the artifact's directory, which a build holds exclusively
    while it publishes (build/export/artifact.py `_publish`), so it reads the pair once published. The
    old build is closed only when every request begun before the switch has finished (`_running`
    counts requests per switch, `_retired` waits for them), so no request finds its connection closed.
    A replacement that fails to open or verify is logged and the old build keeps answering; the next
    change of the file is tried again."""

    def __init__(self, app, store: DuckDBStore, path: str, check_every_s: float = 1.0) -> None:
        self.app = app
        self.store = store
        self.path = path
        self.check_every_s = check_every_s
        self._seen = _identity(path)
        self._checked = time.monotonic()
        self.reopening: asyncio.Task[None] | None = None
        self._epoch = 0  # how many times the store switched builds
        self._running: dict[int, int] = {}  # epoch -> requests begun in it, not yet finished
        self._retired: list[tuple[int, Artifact]] = []  # (last epoch it served, artifact) awaiting release

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self._check()
        epoch = self._epoch
        self._running[epoch] = self._running.get(epoch, 0) + 1
        try:
            await self.app(scope, receive, send)
        finally:
            self._running[epoch] -= 1
            if not self._running[epoch]:
                del self._running[epoch]
            self._release_retired()

    def _check(self) -> None:
        now = time.monotonic()
        if now - self._checked < self.check_every_s or self.reopening is not None:
            return
        self._checked = now
        current = _identity(self.path)
        if current != self._seen:
            self._seen = current
            if current is not None:
                _log.warning("%s was replaced (a new build): reopening it; the current build answers meanwhile",
                             self.path)
                self.reopening = asyncio.get_running_loop().create_task(self._switch())

    async def _switch(self) -> None:
        from latentlens.handler.artifact import ArtifactUnavailable

        try:
            new = await asyncio.to_thread(self._open_published)
        except (ArtifactUnavailable, OSError) as exc:
            reason = exc.reason if isinstance(exc, ArtifactUnavailable) else "io_error"
            _log.error("the replaced %s cannot be served (%s: %s); still serving the previous build",
                       self.path, reason, exc)
            return
        finally:
            self.reopening = None
        old = self.store.replace(new)
        if old is not None:
            self._retired.append((self._epoch, old))
        self._epoch += 1
        self._release_retired()
        _log.warning("%s reopened: now serving build %s", self.path, new.etag)

    def _open_published(self) -> Artifact:
        """On a worker thread: wait until no build is publishing into the directory, then open and verify."""
        from latentlens.handler.artifact import ArtifactUnavailable

        try:
            fd = os.open(os.path.dirname(self.path) or ".", os.O_RDONLY)
        except OSError as exc:
            raise ArtifactUnavailable("io_error", f"cannot open the artifact's directory: {exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)  # a publishing build holds it exclusively
            return self.store.open_replacement()
        finally:
            os.close(fd)  # closing releases the lock

    def _release_retired(self) -> None:
        """Close the builds switched away from that no running request began on."""
        oldest = min(self._running, default=self._epoch)
        for _, art in [r for r in self._retired if r[0] < oldest]:
            self.store.release(art)
        self._retired = [r for r in self._retired if r[0] >= oldest]


@dataclass(frozen=True)
class ServeApp:
    """The app factory of `latentlens serve` (uvicorn's `factory=True`): the handler's app over `handler`
    (its Settings, made once by the serving process), reopening a local artifact that a rebuild replaces
    (checked at most every `reload_check_s`). Frozen data and a module-level class, so it pickles into
    each spawned uvicorn worker (see the module docstring)."""

    handler: Settings
    reload_check_s: float = 1.0

    def __call__(self):
        from latentlens.handler.app import create_app

        app = create_app(self.handler)
        if self.handler.db.startswith(("s3://", "dynamodb://")):
            return app
        return ReloadOnReplace(app, app.state.store, self.handler.db, self.reload_check_s)


def serve(settings: ServeSettings, command: str = "latentlens") -> None:
    """Serve `settings.db` (a path, s3://bucket/key or dynamodb://<name>) until interrupted.

    httptools and uvloop when installed (they are in the `build` extra): ~2x the requests/s of
    uvicorn's pure-Python defaults. No access log unless asked: one stdout line per request
    costs more than the lookup itself. The HTTP protocol is uvicorn's httptools one with a cap on
    request-head size and time (latentlens/cli/serve_protocol.py; LATENTLENS_SERVE_MAX_HEADER_BYTES,
    LATENTLENS_SERVE_HEADER_TIMEOUT_S). The port is checked before the banner; a missing local
    artifact is a warning (the API answers 503 until it is built); a replaced one is reopened on a
    worker thread while the old build answers (ReloadOnReplace).
    With one worker the banner comes once the server listens, after uvicorn's own start lines, so
    the output ends with the line to open the page (`make run`) and every curl line works when
    shown; `--workers N` prints it first (the workers log their start after it).
    """
    import uvicorn

    db, host, port = settings.db, settings.host, settings.port
    if not db.startswith(("s3://", "dynamodb://")):
        db = os.path.abspath(db)
        if os.path.isdir(db):
            raise ServeError(f"--db {db}: is a directory (name the .duckdb artifact)")
    check_port(host, port)
    handler = handler_settings(db, settings.events)
    check_events(handler)
    if warning := missing_artifact_warning(db, command):
        print(warning, file=sys.stderr, flush=True)
    app = ServeApp(handler, settings.reload_check_s)
    config = uvicorn.Config(app, factory=True, host=host, port=port, workers=settings.workers, log_level="info",
                            access_log=settings.access_log, loop="auto",
                            http="latentlens.cli.serve_protocol:BoundedHttpToolsProtocol")
    if settings.workers > 1:
        from uvicorn.supervisors import Multiprocess

        print(banner(db, host, port, handler.events), flush=True)
        try:
            Multiprocess(config, sockets=[config.bind_socket()]).run()
        except KeyboardInterrupt:
            pass
        return
    announcement = banner(db, host, port, handler.events)

    class AnnouncingServer(uvicorn.Server):
        """uvicorn's server, printing the banner once it listens (after its "Uvicorn running on" line)."""

        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)
            if self.started:
                print(announcement, flush=True)

    server = AnnouncingServer(config)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    if not server.started:
        sys.exit(3)  # as uvicorn.run: the server never started (its error is logged above)
