"""Supply chain: installs are reproducible from constraints.txt, the Lambda's pins are its whole
runtime closure, and the vulnerability audit of those pins really audits (a lookup that fails is
a failure, not "no known vulnerabilities").

The audit gate is exercised against a local OSV-compatible service on 127.0.0.1 (the public
vulnerability services are not reachable from every machine that runs the suite); the audit
against the real service is `python -m tests.reliability.audit infra/lambda/requirements.txt`.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.reliability.audit import audit, parse
from tests.reliability.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
CONSTRAINTS = REPO / "constraints.txt"
LAMBDA_REQUIREMENTS = REPO / "infra" / "lambda" / "requirements.txt"
LAMBDA_ROOTS = ["fastapi", "mangum", "duckdb", "pydantic-settings", "fastapi-offline"]
PROVIDED_BY_THE_RUNTIME = {"boto3", "botocore"}  # the python3.12 Lambda runtime ships them (see the requirements file)


def pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
        assert match, f"{path.name}: not an exact pin: {line!r}"
        out[canonicalize_name(match.group(1))] = match.group(2)
    return out


def closure(roots: list[str], extras: tuple[str, ...] = ()) -> dict[str, str]:
    """Installed name -> version of `roots` and everything they require (markers evaluated here)."""
    seen: dict[str, str] = {}
    done: set[tuple[str, tuple[str, ...]]] = set()
    todo = [(r, extras) for r in roots]
    while todo:
        name, wanted = todo.pop()
        key = (canonicalize_name(name), tuple(sorted(wanted)))
        if key in done:
            continue
        done.add(key)
        dist = distribution(name)
        seen[key[0]] = dist.version
        envs = [{"extra": e} for e in wanted] + [{"extra": ""}]
        for raw in dist.requires or []:
            req = Requirement(raw)
            if req.marker is None or any(req.marker.evaluate(env) for env in envs):
                todo.append((req.name, tuple(req.extras)))
    return seen


def test_constraints_pin_every_package_the_project_installs_at_its_installed_version():
    pinned = pins(CONSTRAINTS)
    needed = closure(["latentlens"], extras=("build", "deep", "test"))
    needed.pop("latentlens")
    missing = sorted(set(needed) - set(pinned))
    assert not missing, f"installed but not pinned in constraints.txt: {missing}"
    differ = {n: (pinned[n], v) for n, v in needed.items() if pinned[n] != v}
    assert not differ, f"constraints.txt pin != installed version: {differ}"


# setuptools' fixes for CVE-2022-40897 (65.5.1), CVE-2024-6345 (70.0.0) and CVE-2025-47273 (78.1.1)
SETUPTOOLS_WITHOUT_KNOWN_CVES = "78.1.1"


def test_venv_setuptools_is_pinned_and_upgraded_with_everything_else():
    """pip and setuptools come with the interpreter's venv (setuptools 65.5 on 3.11.7): pinned and upgraded too."""
    from packaging.version import Version

    pinned = pins(CONSTRAINTS)
    for bootstrap in ("pip", "setuptools"):
        assert bootstrap in pinned, f"{bootstrap} is not pinned in constraints.txt"
        assert distribution(bootstrap).version == pinned[bootstrap], f"the venv's {bootstrap} is not the pinned one"
    assert Version(pinned["setuptools"]) >= Version(SETUPTOOLS_WITHOUT_KNOWN_CVES)
    install = (REPO / "Makefile").read_text()
    assert re.search(r"pip install [^\n]*-c constraints.txt --upgrade pip setuptools", install), \
        "make install does not upgrade setuptools to its pin"


def test_lambda_requirements_are_the_whole_runtime_closure_of_the_handler():
    pinned = pins(LAMBDA_REQUIREMENTS)
    needed = {n: v for n, v in closure(LAMBDA_ROOTS).items() if n not in PROVIDED_BY_THE_RUNTIME}
    assert sorted(set(needed) - set(pinned)) == [], "the Lambda would import something it does not install"
    assert {n: v for n, v in needed.items() if pinned[n] != v} == {}
    extra = sorted(set(pinned) - set(needed))
    assert extra == [], f"pinned for the Lambda but not needed: {extra}"


class FakeOSV:
    """An OSV-compatible /v1/query on 127.0.0.1: answers from `advisories`, records what was asked."""

    def __init__(self, advisories: dict[str, list[dict]]) -> None:
        self.queries: list[dict] = []
        queries = self.queries

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                queries.append(body)
                name = canonicalize_name(body["package"]["name"])
                payload = json.dumps({"vulns": advisories.get(name, [])} if name in advisories else {}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/query"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def advisory(package: str, fixed: str) -> dict:
    return {"id": "GHSA-test-0000-0000", "aliases": ["CVE-2099-0001"], "summary": "planted for the test",
            "affected": [{"package": {"name": package, "ecosystem": "PyPI"},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]}


@pytest.fixture
def osv():
    made = []

    def make(advisories: dict[str, list[dict]]) -> FakeOSV:
        made.append(FakeOSV(advisories))
        return made[-1]

    yield make
    for server in made:
        server.close()


def test_every_lambda_pin_is_looked_up_and_a_clean_report_passes(osv):
    service = osv({})
    report = audit(LAMBDA_REQUIREMENTS, service="osv", osv_url=service.url)
    assert report.ok, report.summary()
    asked = {(canonicalize_name(q["package"]["name"]), q["version"]) for q in service.queries}
    assert asked == set(pins(LAMBDA_REQUIREMENTS).items())


def test_a_known_vulnerability_in_a_lambda_pin_fails_the_audit(osv):
    service = osv({"starlette": [advisory("starlette", "99.0.0")]})
    report = audit(LAMBDA_REQUIREMENTS, service="osv", osv_url=service.url)
    assert not report.ok
    [(name, version, ids)] = report.vulnerable
    assert (name, version) == ("starlette", pins(LAMBDA_REQUIREMENTS)["starlette"])
    assert {"GHSA-test-0000-0000", "CVE-2099-0001"} <= set(ids)


def test_an_unreachable_vulnerability_service_fails_the_audit():
    report = audit(LAMBDA_REQUIREMENTS, service="osv", osv_url=f"http://127.0.0.1:{free_port()}/v1/query", timeout_s=2)
    assert not report.ok and report.error, report.summary()


def test_lookups_pip_audit_skipped_fail_the_audit_although_it_says_no_vulnerabilities():
    # What pip-audit prints (exit 0) when PyPI's per-version JSON cannot be fetched for a pin.
    skipped = {"dependencies": [{"name": "fastapi", "skip_reason": "Dependency not found on PyPI and could not be "
                                 "audited: fastapi (0.165.0)"}], "fixes": []}
    assert not parse(skipped).ok
    assert parse({"dependencies": [{"name": "fastapi", "version": "0.165.0", "vulns": []}], "fixes": []}).ok
    assert not parse({"dependencies": [], "fixes": []}).ok  # nothing audited is not a pass either
