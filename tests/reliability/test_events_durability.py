"""Events acknowledged by `latentlens serve --events FILE` survive a kill -9 of the server: after a restart on the
same file, every event that got its 202 is in the store (count in = count stored); events sent again after the
crash are acknowledged as duplicates, never stored twice. Several uvicorn workers write one file at once."""

from __future__ import annotations

import http.client
import json
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from tests.reliability.conftest import free_port
from tests.reliability.serve_process import Server

pytestmark = [pytest.mark.server, pytest.mark.slow]

WRITERS = 4


def post(conn: http.client.HTTPConnection, events: list[dict]) -> tuple[int, dict]:
    conn.request("POST", "/events", body=json.dumps(events), headers={"content-type": "application/json"})
    r = conn.getresponse()
    return r.status, json.loads(r.read())


def one_event(writer: int, n: int) -> dict:
    return {"session_id": f"writer-{writer}", "movie_id": 858, "type": "click", "event_id": f"w{writer}-{n}"}


class Writers:
    """WRITERS threads, each posting one event per request on its own keep-alive connection until the server is
    gone (or `stop`): which event ids were sent, and which were acknowledged with a 202."""

    def __init__(self, port: int, limit: int | None = None) -> None:
        self.sent: set[str] = set()
        self.acked: set[str] = set()
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(port, w, limit)) for w in range(WRITERS)]
        for t in self.threads:
            t.start()

    def _run(self, port: int, writer: int, limit: int | None) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        n = 0
        while not self.stop.is_set() and (limit is None or n < limit):
            event = one_event(writer, n)
            with self.lock:
                self.sent.add(event["event_id"])
            try:
                status, body = post(conn, [event])
            except (OSError, http.client.HTTPException):
                return  # the server is gone: this event was sent and never acknowledged
            with self.lock:
                if status == 202 and body["event_ids"] == [event["event_id"]]:
                    self.acked.add(event["event_id"])
                else:
                    self.errors.append(f"{status} {body}")
            n += 1

    def join(self) -> None:
        for t in self.threads:
            t.join(timeout=30)


def stored_ids(path: Path) -> list[str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return [row[0] for row in conn.execute("SELECT event_id FROM events")]


def test_every_event_acknowledged_before_a_kill_9_is_stored_after_the_restart(artifact, tmp_path):
    events_file = tmp_path / "events.sqlite"
    server = Server(artifact, free_port(), tmp_path / "lltmp", "--events", str(events_file))
    try:
        server.wait_healthy()
        writers = Writers(int(server.url.rsplit(":", 1)[1]))
        deadline = time.monotonic() + 60
        while len(writers.acked) < 400 and time.monotonic() < deadline:
            time.sleep(0.01)
        server.proc.send_signal(signal.SIGKILL)  # mid-run: the writers are still posting
        assert server.proc.wait(timeout=10) == -signal.SIGKILL
        writers.join()
    finally:
        server.stop()
    assert not writers.errors, writers.errors[:3]
    assert len(writers.acked) >= 400, "the writers never got going"

    restarted = Server(artifact, port := free_port(), tmp_path / "lltmp", "--events", str(events_file))
    try:
        restarted.wait_healthy()
        stored = stored_ids(events_file)
        assert len(stored) == len(set(stored))
        assert writers.acked <= set(stored), f"{len(writers.acked - set(stored))} acknowledged events lost"
        assert set(stored) <= writers.sent
        # the client resends what it never got an answer for: stored now, or acknowledged as already there
        unanswered = sorted(writers.sent - writers.acked)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for start in range(0, len(unanswered), 25):
            ids = unanswered[start:start + 25]
            batch = [one_event(int(i[1:].split("-")[0]), int(i.split("-")[1])) for i in ids]
            status, body = post(conn, batch)
            assert status == 202 and body["event_ids"] == ids
        assert sorted(stored_ids(events_file)) == sorted(writers.sent)  # count in = count stored, each once
    finally:
        restarted.stop()


def test_two_uvicorn_workers_write_one_file_and_lose_nothing(artifact, tmp_path):
    events_file = tmp_path / "events.sqlite"
    server = Server(artifact, free_port(), tmp_path / "lltmp", "--events", str(events_file), "--workers", "2")
    try:
        server.wait_healthy()
        writers = Writers(int(server.url.rsplit(":", 1)[1]), limit=150)
        writers.join()
    finally:
        server.stop()
    assert not writers.errors, writers.errors[:3]
    assert len(writers.acked) == WRITERS * 150
    assert sorted(stored_ids(events_file)) == sorted(writers.acked)
