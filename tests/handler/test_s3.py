"""S3 mode: download once to tmp_dir, verify against the manifest, refuse and leave nothing behind when corrupt.

Mostly with moto's in-process mock; once against moto's server on 127.0.0.1 so boto3's real HTTP path runs.
"""

from __future__ import annotations

import socket
from pathlib import Path

import boto3
import pytest
from fastapi.testclient import TestClient
from moto import mock_aws

from latentlens.handler import schema
from latentlens.handler.app import create_app
from tests.handler.conftest import make_settings, running_moto

BUCKET = "latentlens-artifacts"
KEY = "builds/abc/latentlens.duckdb"
URI = f"s3://{BUCKET}/{KEY}"


pytestmark = pytest.mark.usefixtures("fake_aws_credentials")


def client(apps, tmp_path: Path, **overrides) -> TestClient:
    app = create_app(make_settings(URI, tmp_path, s3_region="us-east-1", **overrides))
    apps.append(app)
    return TestClient(app, raise_server_exceptions=False)


def upload(s3, artifact: Path, body: bytes | None = None, manifest: bool = True) -> None:
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=artifact.read_bytes() if body is None else body)
    if manifest:
        s3.put_object(Bucket=BUCKET, Key=schema.manifest_path(KEY),
                      Body=Path(schema.manifest_path(str(artifact))).read_bytes())


def cached_files(tmp_path: Path) -> list[str]:
    scratch = tmp_path / "lltmp"
    return sorted(p.name for p in scratch.iterdir() if p.is_file()) if scratch.exists() else []


def digest_of(artifact: Path) -> str:
    return Path(schema.manifest_path(str(artifact))).read_text().split()[0]


@mock_aws
def test_downloads_verifies_and_serves(artifact, tmp_path, apps):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    upload(s3, artifact)
    c = client(apps, tmp_path)
    health = c.get("/health")
    assert health.status_code == 200
    assert health.json()["artifact_sha256"] == digest_of(artifact)
    assert c.get("/movies/858").json()["title"] == "Godfather, The (1972)"
    assert cached_files(tmp_path) == [f"{digest_of(artifact)[:16]}-latentlens.duckdb"]


@mock_aws
def test_a_verified_local_copy_is_reused_without_downloading_again(artifact, tmp_path, apps):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    upload(s3, artifact)
    first = client(apps, tmp_path)
    assert first.get("/health").status_code == 200
    first.app.state.store.close()
    s3.delete_object(Bucket=BUCKET, Key=KEY)  # only the manifest remains in S3
    assert client(apps, tmp_path).get("/health").status_code == 200


@mock_aws
def test_corrupted_download_is_refused_and_not_cached(artifact, tmp_path, apps):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    data = bytearray(artifact.read_bytes())
    data[1000] ^= 0x01
    upload(s3, artifact, body=bytes(data))
    c = client(apps, tmp_path)
    r = c.get("/health")
    assert r.status_code == 503 and r.json()["error"]["code"] == "checksum_mismatch"
    assert c.get("/users/1/recommendations").status_code == 503
    assert cached_files(tmp_path) == []  # neither the corrupt file nor a partial download
    upload(s3, artifact)  # a good object appears: served on the next request
    assert c.get("/health").status_code == 200


@mock_aws
def test_truncated_download_is_refused(artifact, tmp_path, apps):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    upload(s3, artifact, body=artifact.read_bytes()[:5000])
    r = client(apps, tmp_path).get("/health")
    assert r.status_code == 503 and r.json()["error"]["code"] == "checksum_mismatch"
    assert cached_files(tmp_path) == []


@mock_aws
@pytest.mark.parametrize("what", ["artifact", "manifest", "bucket"])
def test_missing_object_is_503_artifact_missing(artifact, tmp_path, apps, what):
    s3 = boto3.client("s3", region_name="us-east-1")
    if what != "bucket":
        s3.create_bucket(Bucket=BUCKET)
        if what == "artifact":
            s3.put_object(Bucket=BUCKET, Key=schema.manifest_path(KEY),
                          Body=Path(schema.manifest_path(str(artifact))).read_bytes())
    r = client(apps, tmp_path).get("/health")
    assert r.status_code == 503 and r.json()["error"]["code"] == "artifact_missing"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_s3_is_a_bounded_503(tmp_path, apps):
    c = client(apps, tmp_path, s3_endpoint_url=f"http://127.0.0.1:{free_port()}",
               s3_max_attempts=2, s3_connect_timeout_s=0.5, s3_read_timeout_s=0.5)
    r = c.get("/health")
    assert r.status_code == 503 and r.json()["error"]["code"] == "s3_unavailable"
    assert c.get("/popular").status_code == 503


@pytest.fixture
def moto_server():
    with running_moto() as endpoint:
        yield endpoint


def test_against_moto_server_over_http(artifact, tmp_path, apps, moto_server):
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_server)
    s3.create_bucket(Bucket=BUCKET)
    upload(s3, artifact)
    c = client(apps, tmp_path, s3_endpoint_url=moto_server)
    assert c.get("/health").status_code == 200
    body = c.get("/recommendations", params={"liked": "858"}).json()
    assert "Godfather: Part II, The (1974)" in [i["title"] for i in body["items"]]

    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"not the artifact")
    other = tmp_path / "other"
    other.mkdir()
    r = client(apps, other, s3_endpoint_url=moto_server).get("/health")
    assert r.status_code == 503 and r.json()["error"]["code"] == "checksum_mismatch"
    assert cached_files(other) == []


@pytest.mark.parametrize("code", ["AccessDenied", "403"])
def test_a_403_says_the_key_may_be_missing(code):
    """Without s3:ListBucket (the role's least privilege) S3 answers a missing key with 403, not 404."""
    from botocore.exceptions import ClientError

    from latentlens.handler.s3 import _s3_failure

    exc = ClientError({"Error": {"Code": code, "Message": "Access Denied"}}, "GetObject")
    failure = _s3_failure(exc, "s3://bucket/latentlens.duckdb")
    assert failure.reason == "s3_unavailable"
    assert "key does not exist" in failure.message and "s3:ListBucket" in failure.message
    other = _s3_failure(ClientError({"Error": {"Code": "SlowDown"}}, "GetObject"), "s3://bucket/k")
    assert "ListBucket" not in other.message
