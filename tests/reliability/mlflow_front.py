"""A real MLflow tracking server (MLflow's own server app over a sqlite store) behind a TCP front on 127.0.0.1
that passes every connection through until a chosen request has been answered, then stops answering: it holds
each new connection without sending a byte ("hang"), or closes its listener so connections are refused ("dead").

The server answers in HTTP/1.0 (werkzeug without threads), so every request comes on a connection of its own and
the front's switch takes effect at the very next request.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Literal

Failure = Literal["hang", "dead"]


class Front:
    """Passes connections to the server at `backend_port` until fail(); then holds (hang) or refuses (dead) new ones."""

    def __init__(self) -> None:
        self.backend_port = 0  # set once the server behind it listens
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.mode: Failure | Literal["pass"] = "pass"
        self.failed_at: float | None = None  # time.monotonic() when the server stopped answering
        self.held: list[socket.socket] = []  # connections accepted after the failure, never answered
        self.stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._spawn(self._accept)

    def fail(self, how: Failure) -> None:
        self.failed_at = time.monotonic()
        self.mode = how
        if how == "dead":  # shutdown() stops listening at once (accept wakes up): the next connect is refused
            with suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)
            self.listener.close()

    def close(self) -> None:
        self.stop.set()
        with suppress(OSError):
            self.listener.close()
        for conn in self.held:
            conn.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def held_requests(self) -> list[str]:
        """The request line each held connection sent (in the order they came)."""
        lines = []
        for conn in self.held:
            conn.settimeout(5)
            lines.append(conn.recv(1024).split(b"\r\n", 1)[0].decode())
        return lines

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        self.listener.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:  # the listener closed: dead, or the test is over
                return
            if self.mode == "pass":
                self._spawn(self._relay, conn)
            else:
                self.held.append(conn)

    def _relay(self, client: socket.socket) -> None:
        with client, socket.create_connection(("127.0.0.1", self.backend_port)) as backend:
            back = threading.Thread(target=_pump, args=(backend, client), daemon=True)
            back.start()
            _pump(client, backend)
            back.join(timeout=30)


def _pump(src: socket.socket, dst: socket.socket) -> None:
    with suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    with suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


def fail_after(app, front: Front, how: Failure, path: str, count: int, answer: bool = True):
    """WSGI middleware: at the `count`-th request to `path` the front stops answering, once that request is
    answered in full (`answer`) or leaving it unanswered (its connection held until the test ends)."""
    seen = {"n": 0}

    def middleware(environ, start_response):
        if environ.get("PATH_INFO") == path:
            seen["n"] += 1
            if seen["n"] == count and not answer:
                front.fail(how)
                front.stop.wait()
                start_response("503 Service Unavailable", [("Content-Length", "0")])
                return [b""]
        response = app(environ, start_response)
        if environ.get("PATH_INFO") == path and seen["n"] == count:
            body = b"".join(response)
            front.fail(how)
            return [body]
        return response

    return middleware


@contextmanager
def mlflow_server_that_fails(store: Path, how: Failure, path: str, count: int = 1,
                             answer: bool = True) -> Iterator[Front]:
    """A real MLflow server over sqlite in `store`, reached through a Front that fails as `fail_after` says."""
    import mlflow
    from mlflow.server import app
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args, **kwargs) -> None:
            pass

    from mlflow.server import handlers

    mlflow.MlflowClient(f"sqlite:///{store / 'server.db'}").search_experiments()  # create the store
    os.environ["_MLFLOW_SERVER_FILE_STORE"] = f"sqlite:///{store / 'server.db'}"
    os.environ["_MLFLOW_SERVER_ARTIFACT_ROOT"] = str(store / "mlruns")
    # the server app keeps the stores it made first in this process: made anew from the settings above
    handlers._tracking_store = handlers._model_registry_store = None
    front = Front()
    server = make_server("127.0.0.1", 0, fail_after(app, front, how, path, count, answer), threaded=False,
                         request_handler=Quiet)
    front.backend_port = server.server_port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    front.start()
    try:
        yield front
    finally:
        front.close()
        server.shutdown()
        thread.join(timeout=5)
        for name in ("_MLFLOW_SERVER_FILE_STORE", "_MLFLOW_SERVER_ARTIFACT_ROOT"):
            os.environ.pop(name, None)
        handlers._tracking_store = handlers._model_registry_store = None
