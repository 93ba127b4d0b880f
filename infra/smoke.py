"""Run the package `sam build` made, without Docker: import it and invoke it like Lambda would.

`python -m infra.smoke` starts python3.12 (the Lambda runtime's version) with `-I -S -B`, so only
the standard library and the built folder are importable: a dependency missing from
infra/lambda/requirements.txt fails here, not in AWS. It sends HTTP API (payload 2.0) events to
`latentlens.handler.app.handler` and prints the init time (module import = Lambda's init phase), the first
request (opens and verifies the artifact) and a warm request: the cold start that sized
template.yaml's MemorySize and Timeout. boto3 is not in the package (the runtime provides it),
so point --db at a local file, as bundled mode does.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):  # `python infra/smoke.py`: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.sam import BUILD_DIR, FUNCTION

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PACKAGE = REPO_ROOT / BUILD_DIR / FUNCTION
DEFAULT_PATHS = ["/health", "/movies/1", "/popular", "/health"]

# Runs inside python3.12 -I -S; argv[1]: package dir; stdin: [[label, event], ...]. Prints one JSON line.
_INNER = r"""
import json, sys, time
package = sys.argv[1]
events = json.load(sys.stdin)
sys.path.insert(0, package)
t0 = time.perf_counter()
import latentlens.handler.app
init_s = time.perf_counter() - t0
assert latentlens.handler.app.__file__.startswith(package), latentlens.handler.app.__file__

class Context:
    function_name = "LookupFunction"; memory_limit_in_mb = 1024; aws_request_id = "smoke"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:LookupFunction"
    def get_remaining_time_in_millis(self): return 20000

results = []
for label, event in events:
    t = time.perf_counter()
    r = latentlens.handler.app.handler(event, Context())
    results.append({"request": label, "status": r["statusCode"], "ms": round((time.perf_counter() - t) * 1000, 1),
                    "body": r.get("body", "")[:160]})
import resource
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"init_ms": round(init_s * 1000, 1), "max_rss_mb": round(rss_mb, 1), "requests": results}))
"""


def http_api_event(raw: str) -> dict:
    """A minimal API Gateway HTTP API (payload 2.0) GET event for `raw` = path[?query]."""
    path, _, query = raw.partition("?")
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": {"host": "smoke.local", "accept": "application/json"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "smoke", "domainName": "smoke.local",
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                     "userAgent": "smoke"},
            "requestId": "smoke", "routeKey": "$default", "stage": "$default",
            "time": "22/Nov/2026:00:00:00 +0000", "timeEpoch": 0,
        },
        "isBase64Encoded": False,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m infra.smoke", description=__doc__.splitlines()[0])
    p.add_argument("--package", type=Path, default=DEFAULT_PACKAGE, help="sam build output of the function")
    p.add_argument("--db", type=Path, default=None,
                   help="artifact to serve "
                        "(default: the one bundled in the package, PACKAGE/artifact/latentlens.duckdb)")
    p.add_argument("--python", default="python3.12", help="interpreter matching the template's Runtime")
    p.add_argument("--event", type=Path, action="append", default=[],
                   help="an event file to send as is, e.g. infra/events/health.json (repeatable)")
    p.add_argument("paths", nargs="*", help=f"request paths to GET (default: {' '.join(DEFAULT_PATHS)} unless --event)")
    a = p.parse_args(argv)

    db = a.db or a.package / "artifact/latentlens.duckdb"
    if not (a.package / "latentlens/handler/app.py").is_file():
        print(f"smoke: no built package at {a.package}: run `sam build` first", file=sys.stderr)
        return 2
    if not db.is_file():
        print(f"smoke: no artifact at {db}: deploy-stage one (`python -m infra.deploy --dry-run`) or pass --db",
              file=sys.stderr)
        return 2
    try:  # the real interpreter behind a pyenv shim, so the run below can have a bare environment
        python = subprocess.run([a.python, "-c", "import sys; print(sys.executable)"], capture_output=True,
                                text=True, check=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        print(f"smoke: `{a.python}` does not run; install Python 3.12 (pyenv: export PYENV_VERSION=3.11.7:3.12.1)",
              file=sys.stderr)
        return 2
    env = {"LATENTLENS_DB": str(db.resolve()), "LATENTLENS_TMP_DIR": "/tmp/latentlens-smoke", "PATH": "/usr/bin:/bin"}
    paths = a.paths or ([] if a.event else DEFAULT_PATHS)
    events = [[str(f), json.loads(f.read_text(encoding="utf-8"))] for f in a.event]
    events += [[raw, http_api_event(raw)] for raw in paths]
    proc = subprocess.run([python, "-I", "-S", "-B", "-c", _INNER, str(a.package.resolve())], input=json.dumps(events),
                          capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        print("smoke: the package failed to import or answer (above)", file=sys.stderr)
        return 1
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps(report, indent=2))
    bad = [r for r in report["requests"] if r["status"] != 200]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
