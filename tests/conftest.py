"""Suite-wide fixtures: one real quick build of the embedded data, shared by every test that needs it."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EMBEDDED = REPO / "data" / "ml-latest-small"

# What a test needs, read from the fixtures it uses (directly or through other fixtures) and the folder it is in;
# `make test-fast` deselects these tiers. A test that needs one in another way says so with its own marker.
TIER_OF_FIXTURE = {
    "embedded_build": "build",
    "spark": "spark",
    "chromium": "browser",
    "page": "browser",
    "server": "server",
    "moto_server": "server",
    "stage_gateway": "server",
}
TIER_OF_FOLDER = {"engines/spark": "spark", "page": "browser", "docker": "docker"}


def tiers_of(item: pytest.Item) -> set[str]:
    tiers = {TIER_OF_FIXTURE[name] for name in getattr(item, "fixturenames", ()) if name in TIER_OF_FIXTURE}
    folder = item.path.parent.relative_to(REPO / "tests").as_posix()
    tiers.update(tier for prefix, tier in TIER_OF_FOLDER.items() if folder.startswith(prefix))
    return tiers


# `make test` runs the suite in two processes (pytest-xdist, --dist loadgroup), and a group runs whole in one of
# them: a file is a group, so its module fixtures are made once; Spark's files are one group (one JVM at a time on
# two cores, one Spark session for all) and Docker's are one (a single dockerd of the suite's own).
GROUP_OF_TIER = {"spark": "spark", "docker": "docker"}


def xdist_group(item: pytest.Item, tiers: set[str]) -> str:
    return next((GROUP_OF_TIER[t] for t in sorted(tiers) if t in GROUP_OF_TIER),
                item.path.relative_to(REPO / "tests").as_posix())


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        tiers = tiers_of(item)
        for tier in sorted(tiers):
            item.add_marker(tier)
        item.add_marker(pytest.mark.xdist_group(xdist_group(item, tiers)))


@pytest.fixture(scope="session")
def embedded_build(tmp_path_factory: pytest.TempPathFactory):
    """`latentlens build --quick` on the embedded ml-latest-small, with a real sqlite MLflow store, run through
    the Python API (`latentlens.run_build`, which calls latentlens.build.pipeline.run as the CLI does)."""
    import latentlens
    from latentlens.build.settings import BuildSettings, EvaluationSettings

    root = tmp_path_factory.mktemp("embedded-build")
    settings = BuildSettings(
        data_dir=EMBEDDED,
        out=root / "latentlens.duckdb",
        mlflow_uri=f"sqlite:///{root / 'mlflow.db'}",
        quick=True,
        evaluation=EvaluationSettings(folds=2),
        progress=False,  # keep test logs readable
    )
    return settings, latentlens.run_build(settings)


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded data cut to its first 150 users: a real MovieLens directory that builds fast."""
    import polars as pl

    root = tmp_path_factory.mktemp("small-ml") / "ml-small-150"
    root.mkdir()
    ratings = pl.read_csv(EMBEDDED / "ratings.csv")
    ratings.filter(pl.col("userId") <= 150).write_csv(root / "ratings.csv")
    for name in ("movies.csv", "links.csv"):
        (root / name).write_bytes((EMBEDDED / name).read_bytes())
    pl.read_csv(EMBEDDED / "tags.csv").filter(pl.col("userId") <= 150).write_csv(root / "tags.csv")
    return root


@pytest.fixture
def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and region for moto, so no real AWS profile is ever touched."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
