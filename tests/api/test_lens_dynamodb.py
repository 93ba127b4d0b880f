"""A Lens over a build published to DynamoDB (moto in-process) answers as one over the DuckDB file,
and `.sql` says clearly that a table has no SQL."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

import latentlens
from tests.api.same_answers import outcome
from tests.handler.dynamo_support import NAME, copy_artifact, publish_to

pytestmark = pytest.mark.usefixtures("fake_aws_credentials")

CALLS = [
    lambda lens: lens.recommend(1, n=3), lambda lens: lens.recommend(3, genre="drama"),
    lambda lens: lens.similar(858), lambda lens: lens.similar(5), lambda lens: lens.movie(858),
    lambda lens: lens.for_ratings({858: 5, 1213: 1, 5: 4}), lambda lens: lens.liked([858, 1213], n=2),
    lambda lens: lens.search("godfathr"), lambda lens: lens.popular("Crime", n=2), lambda lens: lens.genres(),
    lambda lens: lens.popular(n=0),
    # 1221 the latest: its next_movies (the third part of its movie item) blend in, "recent" reasons
    lambda lens: lens.for_ratings({858: 5, 1221: 5}), lambda lens: lens.for_ratings({2023: 4, 858: 2, 1221: 4.5}),
    lambda lens: lens.liked([1213, 2023]), lambda lens: lens.recommend(1),
]


def test_dynamodb_lens_answers_as_the_duckdb_lens(fixture_db, tmp_path) -> None:
    db = copy_artifact(fixture_db, tmp_path / "artifact")
    with mock_aws():
        publish_to(boto3.client("dynamodb", region_name="us-east-1"), db, tmp_path)
        with latentlens.open(f"dynamodb://{NAME}", tmp_dir=str(tmp_path / "lltmp"),
                             dynamodb_region="us-east-1") as dyn, \
                latentlens.open(db, tmp_dir=str(tmp_path / "lltmp")) as duck:
            for call in CALLS:
                assert outcome(lambda call=call: call(dyn)) == outcome(lambda call=call: call(duck))
            kinds = {b.kind for m in dyn.for_ratings({858: 5, 1221: 5}).items for b in m.because}
            assert kinds == {"recent", "similar"}
            assert dyn.info().build == duck.info().build
            with pytest.raises(ValueError, match="SQL needs a DuckDB artifact"):
                dyn.sql("SELECT 1")


def test_nothing_published_is_artifact_unavailable(tmp_path) -> None:
    with mock_aws():
        with pytest.raises(latentlens.ArtifactUnavailable, match=f"cannot open dynamodb://{NAME} "):
            latentlens.open(f"dynamodb://{NAME}", tmp_dir=str(tmp_path / "lltmp"), dynamodb_region="us-east-1")
