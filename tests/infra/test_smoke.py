"""infra.smoke, the Docker-less run of a built package, on a stand-in package: it reports the
handler's answers, fails on a non-200, and sees nothing outside the package and the stdlib."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from infra import smoke

FAKE_APP = '''
def handler(event, context):
    path = event["rawPath"]
    return {"statusCode": 500 if path == "/broken" else 200, "body": path + "?" + event["rawQueryString"]}
'''


@pytest.fixture
def package(tmp_path) -> Path:
    pkg = tmp_path / "LookupFunction"
    (pkg / "latentlens/handler").mkdir(parents=True)
    (pkg / "latentlens/__init__.py").write_text("")
    (pkg / "latentlens/handler/__init__.py").write_text("")
    (pkg / "latentlens/handler/app.py").write_text(FAKE_APP)
    (pkg / "artifact").mkdir()
    (pkg / "artifact/latentlens.duckdb").write_bytes(b"not opened by the fake handler")
    return pkg


def _run(capsys, *args: str) -> tuple[int, str, str]:
    rc = smoke.main([*args, "--python", sys.executable])
    out, err = capsys.readouterr()
    return rc, out, err


def test_reports_each_request_and_passes_on_200s(package, tmp_path, capsys):
    event = tmp_path / "event.json"
    event.write_text(json.dumps(smoke.http_api_event("/from-file?x=1")))
    rc, out, err = _run(capsys, "--package", str(package), "--event", str(event), "/health", "/movies?search=x")
    assert rc == 0, err
    report = json.loads(out)
    assert [(r["request"], r["status"], r["body"]) for r in report["requests"]] == [
        (str(event), 200, "/from-file?x=1"), ("/health", 200, "/health?"),
        ("/movies?search=x", 200, "/movies?search=x"),
    ]
    assert report["init_ms"] >= 0 and report["max_rss_mb"] > 0


def test_a_non_200_fails(package, capsys):
    rc, out, _ = _run(capsys, "--package", str(package), "/health", "/broken")
    assert rc == 1
    assert [r["status"] for r in json.loads(out)["requests"]] == [200, 500]


def test_only_the_package_and_the_stdlib_are_importable(package, capsys):
    # pytest is installed where this test runs, but not in the package: the run must not see it
    (package / "latentlens/handler/app.py").write_text("import pytest\n" + FAKE_APP)
    rc, _, err = _run(capsys, "--package", str(package), "/health")
    assert rc == 1
    assert "No module named 'pytest'" in err


def test_missing_package_or_artifact_is_reported(package, tmp_path, capsys):
    rc, _, err = _run(capsys, "--package", str(tmp_path / "nowhere"))
    assert rc == 2 and "sam build" in err
    (package / "artifact/latentlens.duckdb").unlink()
    rc, _, err = _run(capsys, "--package", str(package))
    assert rc == 2 and "no artifact" in err
