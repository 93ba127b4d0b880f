"""One manifest parser: the handler, deploy and the build's --out check accept and refuse the same texts."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.artifact import DeployError, read_manifest
from latentlens.build.export.artifact import _looks_like_manifest
from latentlens.handler import schema
from latentlens.handler.artifact import ArtifactUnavailable, manifest_digest

DIGEST = "ab" * 32

CASES = [
    (f"{DIGEST}  latentlens.duckdb\n", (DIGEST, "latentlens.duckdb")),
    (f"{DIGEST.upper()}  latentlens.duckdb\n", (DIGEST, "latentlens.duckdb")),   # sha256sum -c takes upper case
    (f"{DIGEST} *latentlens.duckdb\n", (DIGEST, "latentlens.duckdb")),          # sha256sum -b
    (f"{DIGEST}\n", None),                                                       # no file name
    (f"{DIGEST}  a.duckdb\n{DIGEST}  b.duckdb\n", None),                         # two files
    (f"{DIGEST[:-1]}  latentlens.duckdb\n", None),                               # 63 digits
    (f"{DIGEST[:-1]}g  latentlens.duckdb\n", None),                              # not hex
    ("not a digest\n", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_every_reader_agrees_on_what_a_manifest_is(text: str, expected, tmp_path: Path) -> None:
    assert schema.parse_manifest(text) == expected
    path = tmp_path / "latentlens.duckdb.sha256"
    path.write_text(text)
    assert _looks_like_manifest(path) is (expected is not None)
    if expected is None:
        with pytest.raises(ArtifactUnavailable):
            manifest_digest(text)
        with pytest.raises(DeployError):
            read_manifest(path)
    else:
        assert manifest_digest(text) == expected[0]
        assert read_manifest(path) == expected
