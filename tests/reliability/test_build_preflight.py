"""Output problems and degenerate data are found before training, exit 2, one line; nothing lost.

Read-only and full disks are real: a tmpfs mounted in a private mount namespace (tiny_fs.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from latentlens.build.export.artifact import write_artifact
from latentlens.build.minimum import MIN_RATED_MOVIES, MIN_USERS
from latentlens.cli import main
from tests.export.test_artifact import small_tables
from tests.reliability.build_runner import MODELS
from tests.reliability.tiny_fs import run_on_tmpfs

REPO = Path(__file__).resolve().parents[2]


def write_ratings(directory: Path, pairs: list[tuple[int, int]]) -> Path:
    directory.mkdir(parents=True)
    movies = sorted({m for _, m in pairs})
    (directory / "movies.csv").write_text("movieId,title,genres\n" + "".join(
        f"{m},Movie {m} (2000),Drama|Comedy\n" for m in movies))
    (directory / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + "".join(
        f"{u},{m},{(i % 9 + 1) / 2:.1f},{1_000_000 + i}\n" for i, (u, m) in enumerate(pairs)))
    return directory


def build_args(data: Path, out: Path, tmp: Path, *extra: str) -> list[str]:
    return ["build", "--data", str(data), "--out", str(out), "--mlflow-uri", f"sqlite:///{tmp / 'mlflow.db'}",
            "--quick", "--no-register", "--no-progress", "--models", MODELS, *extra]


def cli_build(capsys, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(args))
    return code, capsys.readouterr().err


def assert_refused_before_training(code: int, err: str, tmp: Path, *fragments: str) -> None:
    assert code == 2, err
    errors = [line for line in err.splitlines() if line.startswith("latentlens: error:")]
    assert len(errors) == 1, err
    for fragment in fragments:
        assert fragment in errors[0], err
    assert "Traceback" not in err and "evaluating" not in err
    assert not (tmp / "mlflow.db").exists(), "an MLflow run was started"


@pytest.fixture
def small_data(tmp_path: Path) -> Path:
    return write_ratings(tmp_path / "ml-small", [(u, m) for u in range(1, 6) for m in range(1, 6) if (u + m) % 3])


# --- degenerate data ---------------------------------------------------------------------------

DEGENERATE = [
    pytest.param([(1, 1)], "1 user, 1 rated movie, 1 rating", id="one-rating"),
    pytest.param([(1, m) for m in range(1, 21)], "1 user, 20 rated movies", id="one-user"),
    pytest.param([(u, 1) for u in range(1, 21)], "20 users, 1 rated movie", id="one-movie"),
    pytest.param([(1, 1), (2, 2), (1, 2)], "3 ratings", id="fewer-ratings-than-folds"),
]


@pytest.mark.parametrize("pairs,found", DEGENERATE)
def test_degenerate_data_is_refused_before_training_naming_the_minimum(tmp_path, capsys, pairs, found) -> None:
    data = write_ratings(tmp_path / "ml-degenerate", pairs)
    out = tmp_path / "out" / "a.duckdb"
    code, err = cli_build(capsys, *build_args(data, out, tmp_path, "--folds", "5"))
    assert_refused_before_training(code, err, tmp_path, found,
                                   f"at least {MIN_USERS} users, {MIN_RATED_MOVIES} rated movies and 5 ratings")
    assert not out.exists()


@pytest.mark.build
def test_data_where_no_user_has_two_ratings_builds_with_the_top_n_protocol_skipped_and_logged(tmp_path, capsys) -> None:
    data = write_ratings(tmp_path / "ml-one-each", [(u, u) for u in range(1, 6)])
    out = tmp_path / "out" / "a.duckdb"
    code, err = cli_build(capsys, *build_args(data, out, tmp_path, "--folds", "2"))
    assert code == 0, err
    assert "top-N protocol skipped: no user has 2 ratings" in err
    assert "Traceback" not in err and out.is_file()


# --- the output location -----------------------------------------------------------------------

def test_out_naming_a_directory_is_refused_before_training(small_data, tmp_path, capsys) -> None:
    (tmp_path / "adir").mkdir()
    code, err = cli_build(capsys, *build_args(small_data, tmp_path / "adir", tmp_path))
    assert_refused_before_training(code, err, tmp_path, "is a directory")
    assert "loading" not in err  # refused before even reading the data


def test_out_refuses_to_replace_a_file_that_is_not_a_latentlens_artifact_exit_2(small_data, tmp_path, capsys) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    (tmp_path / "notes.txt.sha256").write_text("keep me\n")
    code, err = cli_build(capsys, *build_args(small_data, notes, tmp_path))
    assert_refused_before_training(code, err, tmp_path, "not a LatentLens artifact", "--force")
    assert notes.read_text() == "my notes\n" and (tmp_path / "notes.txt.sha256").read_text() == "keep me\n"


@pytest.mark.parametrize("engine", ["inprocess", "spark"])
@pytest.mark.parametrize("case", ["a directory", "not an artifact"])
def test_a_bad_out_is_refused_before_the_data_is_read_on_every_engine(tmp_path, capsys, engine, case) -> None:
    """Data whose ratings.csv is broken: an engine that read it first would name the data; each names --out.
    (The Spark engine checked --out only when it wrote the artifact, after reading and training on the data.)"""
    data = write_ratings(tmp_path / "ml-broken", [(1, 1), (2, 2)])
    (data / "ratings.csv").write_text("not,a,ratings,header\n")
    out = tmp_path / "adir" if case == "a directory" else tmp_path / "notes.txt"
    out.mkdir() if case == "a directory" else out.write_text("my notes\n")
    code, err = cli_build(capsys, "build", "--data", str(data), "--out", str(out), "--engine", engine,
                          "--mlflow-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--quick", "--no-progress")
    assert_refused_before_training(code, err, tmp_path, str(out),
                                   "is a directory" if case == "a directory" else "not a LatentLens artifact")
    assert "ratings.csv" not in err and (out.is_dir() or out.read_text() == "my notes\n")


@pytest.mark.build
def test_out_with_force_replaces_a_file_that_is_not_a_latentlens_artifact(small_data, tmp_path, capsys) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    code, err = cli_build(capsys, *build_args(small_data, notes, tmp_path, "--force", "--folds", "2"))
    assert code == 0, err
    assert notes.read_bytes()[8:12] == b"DUCK"


# --- --out naming the build's own input: refused, --force or not ---------------------------------

def digests(directory: Path) -> dict[str, tuple[bool, str]]:
    """Every entry under `directory` by relative path: whether it is a symlink, and the sha256 of what it reads as
    (symlinks followed): the whole input, byte for byte, and no file swapped for a link."""
    return {str(p.relative_to(directory)): (p.is_symlink(), hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture
def real_data(tmp_path: Path) -> Path:
    """A copy of the committed ml-latest-small: ratings, movies, tags and links, as a real build reads them."""
    return Path(shutil.copytree(REPO / "data" / "ml-latest-small", tmp_path / "ml-latest-small"))


def out_inside(data: Path, tmp: Path, case: str) -> tuple[Path, Path, str]:
    """(--data as given, --out, the path the one error line must name) for each way --out can be an input."""
    if case in ("ratings.csv", "movies.csv", "tags.csv", "links.csv"):
        return data, data / case, str(data / case)
    if case == "the-data-directory":
        return data, data, str(data)
    if case == "a-new-file-inside":
        return data, data / "latentlens.duckdb", str(data / "latentlens.duckdb")
    if case == "a-symlink-to-ratings":
        (tmp / "link.duckdb").symlink_to(data / "ratings.csv")
        return data, tmp / "link.duckdb", str(data / "ratings.csv")
    if case == "data-given-through-a-symlink":
        (tmp / "data-link").symlink_to(data, target_is_directory=True)
        return tmp / "data-link", data / "ratings.csv", str(data / "ratings.csv")
    assert case == "an-input-symlinked-from-outside"
    moved = tmp / "elsewhere" / "movies.csv"
    moved.parent.mkdir()
    (data / "movies.csv").rename(moved)
    (data / "movies.csv").symlink_to(moved)
    return data, moved, str(moved)


@pytest.mark.parametrize("case", ["ratings.csv", "movies.csv", "tags.csv", "links.csv", "the-data-directory",
                                  "a-new-file-inside", "a-symlink-to-ratings", "data-given-through-a-symlink",
                                  "an-input-symlinked-from-outside"])
def test_out_naming_an_input_is_refused_even_with_force_and_the_input_is_untouched(real_data, tmp_path, capsys,
                                                                                   case) -> None:
    data, out, named = out_inside(real_data, tmp_path, case)
    before = digests(real_data)
    code, err = cli_build(capsys, *build_args(data, out, tmp_path, "--force"))
    assert_refused_before_training(code, err, tmp_path, named, "never writes over its input", "--force")
    assert "loading" not in err  # refused before reading a line of the data
    assert digests(real_data) == before  # nothing added, removed, changed or replaced by a link


def test_out_beside_the_data_directory_is_not_mistaken_for_an_input(real_data, tmp_path, capsys) -> None:
    """Only the directory and what is in it count: a sibling whose name starts like it is an ordinary --out
    (refused here for another reason, a directory, to stay fast: the input check let it through)."""
    sibling = tmp_path / "ml-latest-small-out"
    sibling.mkdir()
    code, err = cli_build(capsys, *build_args(real_data, sibling, tmp_path, "--force"))
    assert_refused_before_training(code, err, tmp_path, "is a directory")
    assert "input" not in err


def run_cli_on_tmpfs(mount: Path, options: str, data: Path, tmp: Path) -> tuple[int, str]:
    done = run_on_tmpfs(mount, options, [sys.executable, "-m", "latentlens", *build_args(
        data, mount / "a.duckdb", tmp)], cwd=REPO)
    return done.returncode, done.stderr


def test_out_in_a_read_only_directory_is_refused_before_training(small_data, tmp_path) -> None:
    code, err = run_cli_on_tmpfs(tmp_path / "ro", "ro", small_data, tmp_path)
    assert_refused_before_training(code, err, tmp_path, "cannot write the artifact here", "Read-only file system")


def test_out_on_a_disk_too_small_for_the_artifact_is_refused_before_training(small_data, tmp_path) -> None:
    code, err = run_cli_on_tmpfs(tmp_path / "tiny", "size=512k", small_data, tmp_path)
    assert_refused_before_training(code, err, tmp_path, "MB free, the artifact needs about")


FILL_DISK = textwrap.dedent("""
    import json, os, sys
    from pathlib import Path
    from latentlens.build.export.artifact import write_artifact, OutputError
    from tests.export.test_artifact import small_tables
    out = Path(sys.argv[1])
    write_artifact(out, small_tables(tag="old"))
    try:
        write_artifact(out, small_tables(tag="new"))
        result = {"error": None}
    except OutputError as exc:
        result = {"error": str(exc)}
    from latentlens.handler.artifact import open_artifact
    from latentlens.handler.settings import Settings
    art = open_artifact(str(out), Settings(db=str(out), tmp_dir="/tmp/latentlens-test-fill"))
    result["served"] = art.build_info["dataset_name"]
    result["files"] = sorted(os.listdir(out.parent))
    print(json.dumps(result))
""")


@pytest.mark.build
def test_disk_full_during_export_is_exit_2_one_line_and_keeps_the_previous_artifact(tmp_path) -> None:
    one = write_artifact(tmp_path / "sizing" / "a.duckdb", small_tables()).size_bytes
    size_kb = int(one * 1.5) // 1024  # room for the previous build, not for it and the next one
    done = run_on_tmpfs(tmp_path / "full", f"size={size_kb}k", [
        sys.executable, "-c", FILL_DISK, str(tmp_path / "full" / "a.duckdb")], cwd=REPO)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["error"] is not None, "the disk did not fill: the test proves nothing"
    assert "no space left" in result["error"] and "\n" not in result["error"]
    assert result["served"] == "old"
    assert result["files"] == ["a.duckdb", "a.duckdb.builds", "a.duckdb.sha256"]  # no temp file left


def test_size_estimate_is_at_least_the_embedded_build(embedded_build) -> None:
    from latentlens.build.export.artifact import estimate_artifact_bytes

    settings, result = embedded_build
    info = result.artifact
    n_users = info.row_counts["user_recommendations"] // settings.top_n
    assert estimate_artifact_bytes(n_users, info.row_counts["movies"], settings.top_n,
                                   settings.similar_n) >= info.size_bytes
    assert os.path.getsize(settings.out) == info.size_bytes
