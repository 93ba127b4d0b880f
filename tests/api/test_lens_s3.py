"""A Lens over `s3://bucket/key` (moto in-process) downloads and verifies the artifact like the API does,
then answers, SQL included; a corrupt object is refused with its reason."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from moto import mock_aws

import latentlens
from latentlens.handler import schema

BUCKET, KEY = "latentlens-artifacts", "builds/abc/latentlens.duckdb"
URI = f"s3://{BUCKET}/{KEY}"

pytestmark = pytest.mark.usefixtures("fake_aws_credentials")


def upload(artifact: Path, body: bytes | None = None) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=artifact.read_bytes() if body is None else body)
    s3.put_object(Bucket=BUCKET, Key=schema.manifest_path(KEY),
                  Body=Path(schema.manifest_path(str(artifact))).read_bytes())


@mock_aws
def test_an_s3_lens_answers_and_queries(fixture_db, tmp_path) -> None:
    upload(fixture_db)
    with latentlens.open(URI, tmp_dir=str(tmp_path / "lltmp"), s3_region="us-east-1") as lens:
        assert lens.source == URI
        assert lens.info().artifact_sha256 == schema.sha256_file(fixture_db)
        assert [m.movie_id for m in lens.similar(858, n=2).items] == [1221, 2023]
        assert lens.sql(f"SELECT count(*) AS n FROM {schema.MOVIES}")["n"].to_list() == [9]


@mock_aws
def test_a_corrupt_s3_object_is_refused_with_its_reason(fixture_db, tmp_path) -> None:
    body = bytearray(fixture_db.read_bytes())
    body[-100] ^= 0xFF
    upload(fixture_db, bytes(body))
    with pytest.raises(latentlens.ArtifactUnavailable, match=f"cannot open {URI} \\(checksum_mismatch\\)"):
        latentlens.open(URI, tmp_dir=str(tmp_path / "lltmp"), s3_region="us-east-1")
