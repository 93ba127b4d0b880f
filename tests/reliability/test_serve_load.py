"""Loopback load on `latentlens serve`: 16 concurrent clients, a fixed number of requests,
zero errors, and the server's memory flat over the run (RSS sampled at start, middle, end)."""

from __future__ import annotations

import http.client
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.reliability.conftest import free_port
from tests.reliability.serve_process import Server, rss_kib

pytestmark = pytest.mark.slow

CONCURRENCY = 16
WARMUP = 400
PER_HALF = 1500  # two halves of 1,500 requests after the warm-up
MAX_GROWTH_KIB = 32 * 1024

# (path, expected status): every endpoint, hits and misses, so no answer is an error by accident
MIX = [
    ("/users/1/recommendations?n=5", 200),
    ("/users/999999/recommendations?genre=Comedy", 200),
    ("/movies/858", 200),
    ("/movies/858/similar?n=3", 200),
    ("/movies?search=the%20godfather&limit=3", 200),
    ("/recommendations?liked=858,1213&n=10", 200),
    ("/popular?genre=Drama&n=5", 200),
    ("/movies/424242", 404),
    ("/popular?n=0", 422),
    ("/health", 200),
]


def drive(port: int, count: int, offset: int) -> list[str]:
    """`count` requests from CONCURRENCY threads, each with its own keep-alive connection; returns the errors.

    http.client rather than httpx: a lighter client leaves more of the two cores to the server."""
    local = threading.local()
    conns: list[http.client.HTTPConnection] = []
    errors: list[str] = []

    def one(i: int) -> None:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conns.append(conn)
        path, expected = MIX[(offset + i) % len(MIX)]
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            body = r.read()
            if r.status != expected or r.getheader("content-type") != "application/json":
                errors.append(f"{path}: {r.status} {body[:200]!r}")
            elif r.status >= 400 and set(json.loads(body)) != {"error"}:
                errors.append(f"{path}: {r.status} without the JSON error body: {body[:200]!r}")
        except (OSError, http.client.HTTPException) as exc:
            errors.append(f"{path}: {type(exc).__name__}: {exc}")
            conn.close()
            local.conn = None

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(one, range(count)))
    for conn in conns:
        conn.close()
    return errors


def test_concurrency_16_zero_errors_and_flat_memory(artifact, tmp_path):
    port = free_port()
    server = Server(artifact, port, tmp_path / "lltmp")
    try:
        server.wait_healthy()
        assert drive(port, WARMUP, 0) == []
        start = rss_kib(server.pid)
        errors = drive(port, PER_HALF, WARMUP)
        middle = rss_kib(server.pid)
        errors += drive(port, PER_HALF, WARMUP + PER_HALF)
        end = rss_kib(server.pid)
        assert server.proc.poll() is None, "the server died under load"
        print(f"\nserve RSS after warm-up {start / 1024:.1f} MB, middle {middle / 1024:.1f} MB, "
              f"end {end / 1024:.1f} MB")
    finally:
        server.stop()
    assert errors == [], f"{len(errors)} errors, e.g. {errors[:5]}"
    assert end - start < MAX_GROWTH_KIB, f"RSS grew {start} -> {middle} -> {end} KiB"
    assert end - middle < MAX_GROWTH_KIB // 2, f"RSS still growing in the second half: {start} -> {middle} -> {end} KiB"
