"""`latentlens serve`: the lookup API on this machine with uvicorn, plus copy-paste curl lines.

Runs the same app factory the Lambda uses (latentlens.handler.app:create_app); the artifact is named via
LATENTLENS_DB so every uvicorn worker builds identical settings from the environment.
"""

from __future__ import annotations

import os

EXAMPLES = (
    "/health",
    "/users/1/recommendations?n=5",
    "/users/999999/recommendations?n=5&genre=Comedy",
    "/movies?search=the%20godfather&limit=3",
    "/movies/858",
    "/movies/858/similar?n=5",
    "/recommendations?liked=858,1213&n=10",
    "/popular?genre=Drama&n=5",
)


def base_url(host: str, port: int) -> str:
    """The URL a local client should use (a wildcard bind address is reached via loopback)."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def banner(db: str, host: str, port: int) -> str:
    url = base_url(host, port)
    lines = [f"LatentLens API on {url}  (artifact: {db})", f"  OpenAPI docs: {url}/docs", "  try:"]
    lines += [f"    curl -s '{url}{path}'" for path in EXAMPLES]
    return "\n".join(lines)


def serve(db: str, host: str = "127.0.0.1", port: int = 8000, workers: int = 1, access_log: bool = False) -> None:
    """Serve the artifact `db` (a path or s3://bucket/key) until interrupted.

    httptools and uvloop when installed (they are in the `build` extra): ~2x the requests/s of
    uvicorn's pure-Python defaults. No access log unless asked: one stdout line per request
    costs more than the lookup itself.
    """
    import uvicorn

    if not db.startswith("s3://"):
        db = os.path.abspath(db)
    os.environ["LATENTLENS_DB"] = db
    print(banner(db, host, port), flush=True)
    uvicorn.run("latentlens.handler.app:create_app", factory=True, host=host, port=port, workers=workers, log_level="info",
                access_log=access_log, http="auto", loop="auto")
