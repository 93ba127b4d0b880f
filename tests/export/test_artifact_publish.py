"""Publishing: the artifact and its manifest are one pair for every reader, whatever step fails.

Each write is interrupted at each of its filesystem steps in turn (a child process that dies
outright, or an OSError), then the readers that matter check what they see: the handler's
open_artifact and deploy's verify must both accept it, and it must be the old build or the new
one, never the new file beside the old manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from infra.artifact import verify as deploy_verify
from latentlens.build.export import artifact as artifact_mod
from latentlens.build.export.artifact import OutputError, store_dir, write_artifact
from latentlens.handler import schema
from latentlens.handler.artifact import open_artifact
from latentlens.handler.settings import Settings
from tests.export.test_artifact import small_tables

ROOT = Path(__file__).resolve().parents[2]

# One interpreter imports everything once, then forks a child per step k (before any polars or
# DuckDB work, so the fork is safe); the child dies, or gets an OSError, at its k-th filesystem
# call that changes or syncs something. k = 0 interrupts nothing and reports how many calls there were.
INTERRUPTED_WRITES = textwrap.dedent("""
    import errno, json, os, sys, traceback
    from pathlib import Path
    from latentlens.build.export.artifact import write_artifact
    from tests.export.test_artifact import small_tables

    mode, outs = sys.argv[1], [Path(p) for p in sys.argv[2:]]
    CALLS = ("replace", "rename", "symlink", "unlink", "fsync", "mkdir", "close")
    original = {name: getattr(os, name) for name in CALLS}

    def child(out, k):
        state = {"calls": 0, "fired": False}

        def interrupting(fn):
            def call(*args, **kwargs):
                state["calls"] += 1
                if state["calls"] == k:
                    state["fired"] = True
                    if mode == "kill":
                        original["_exit"](137)  # no cleanup at all, like SIGKILL or a power cut
                    raise OSError(errno.EIO, "injected failure")
                return fn(*args, **kwargs)
            return call

        original["_exit"] = os._exit
        for name in CALLS:
            setattr(os, name, interrupting(original[name]))
        try:
            write_artifact(out, small_tables(tag="new"))
        except BaseException as exc:
            sys.stderr.write(f"step {k}: {type(exc).__name__}: {exc}\\n")
            sys.stderr.flush()
            os._exit(1)
        for name in CALLS:
            setattr(os, name, original[name])
        print(json.dumps({"k": k, "calls": state["calls"], "fired": state["fired"]}), flush=True)
        os._exit(0)

    for k, out in enumerate(outs):
        pid = os.fork()
        if pid == 0:
            child(out, k)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"k": k, "exit": os.waitstatus_to_exitcode(status)}), flush=True)
""")


def run_interrupted_writes(mode: str, outs: list[Path]) -> tuple[dict[int, int], dict[int, dict], str]:
    """Exit code per step, the completed children's reports, and stderr."""
    done = subprocess.run([sys.executable, "-c", INTERRUPTED_WRITES, mode, *map(str, outs)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    exits, reports = {}, {}
    for line in done.stdout.splitlines():
        record = json.loads(line)
        if "exit" in record:
            exits[record["k"]] = record["exit"]
        else:
            reports[record["k"]] = record
    return exits, reports, done.stderr


def dataset_name(path: Path) -> str:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT value FROM build_info WHERE key = 'dataset_name'").fetchone()[0]
    finally:
        con.close()


def served_build(out: Path, tmp: Path) -> str:
    """Which build the readers see; fails if any of them refuses what is there."""
    opened = open_artifact(str(out), Settings(db=str(out), tmp_dir=str(tmp / "lltmp")))
    try:
        tag = opened.build_info["dataset_name"]
    finally:
        opened.conn.close()
    verified = deploy_verify(out)
    assert verified.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    assert dataset_name(out) == tag
    return tag


def previous_build(directory: Path, layout: str) -> Path:
    out = directory / "latentlens.duckdb"
    if layout == "published":
        write_artifact(out, small_tables(tag="old"))
    else:  # a plain file and a manifest beside it, as builds before the content-addressed store wrote them
        staged = directory / "staged" / "latentlens.duckdb"
        write_artifact(staged, small_tables(tag="old"))
        shutil.copyfile(staged, out)
        shutil.copyfile(schema.manifest_path(str(staged)), schema.manifest_path(str(out)))
        shutil.rmtree(staged.parent)
    return out


@pytest.mark.slow  # a writer process per step, killed or failed there, then the survivors checked
@pytest.mark.parametrize("mode,layout", [("kill", "published"), ("kill", "plain"), ("error", "published")])
def test_artifact_and_manifest_are_published_together_whatever_step_fails(tmp_path, mode, layout) -> None:
    template = tmp_path / "template"
    template.mkdir()
    previous_build(template, layout)

    def copy_of_previous(name: str) -> Path:
        shutil.copytree(template, tmp_path / name, symlinks=True)
        return tmp_path / name / "latentlens.duckdb"

    exits, reports, err = run_interrupted_writes(mode, [copy_of_previous("dry")])
    assert exits == {0: 0}, err
    steps = reports[0]["calls"]
    assert steps > 5, f"only {steps} filesystem steps: too few to prove anything"

    outs = [copy_of_previous(f"step{k}") for k in range(1, steps + 1)]
    exits, reports, err = run_interrupted_writes(mode, [tmp_path / "unused", *outs])
    seen = []
    for k, out in enumerate(outs, start=1):
        if mode == "kill":
            assert exits[k] in (137, 0), f"step {k} crashed instead of dying:\n{err}"
        else:
            assert exits[k] in (1, 0), err
            assert exits[k] == 0 or f"step {k}: " in err
        build = served_build(out, tmp_path)  # never a mix: both readers accept what is there
        seen.append(build)
        if exits[k] == 1:  # a write that reports failure published nothing
            assert build == "old", (k, build, err)
        if exits[k] == 0:  # one that says it succeeded published everything
            assert build == "new", (k, build)
        if mode == "error" or layout == "plain":
            continue
        # the next build recovers from whatever a kill left, and publishes whole
        write_artifact(out, small_tables(tag="next"))
        assert served_build(out, tmp_path) == "next"
        assert Path(schema.manifest_path(str(out))).read_text().split()[0] == hashlib.sha256(
            out.read_bytes()).hexdigest()  # the manifest beside `out` (for sha256sum -c) is right too
        assert not [p.name for p in out.parent.iterdir() if ".tmp-" in p.name], "temp files left behind"
    assert "old" in seen and seen[-1] == "new", seen
    if mode == "kill":  # (an OSError that a step tolerates lets that write complete, so only kills are ordered)
        assert seen == sorted(seen, key=lambda b: b == "new"), f"back to the old build after the new: {seen}"


def test_previous_build_is_kept_and_older_ones_removed(tmp_path) -> None:
    out = tmp_path / "latentlens.duckdb"
    digests = [write_artifact(out, small_tables(tag=tag)).sha256 for tag in ("one", "two", "three")]
    kept = sorted(p.name for p in store_dir(out).iterdir())
    assert kept == sorted(f"{d}.duckdb{suffix}" for d in digests[1:] for suffix in ("", ".sha256"))
    assert os.readlink(out) == f"{store_dir(out).name}/{digests[2]}.duckdb"


def test_reader_that_resolved_the_old_build_keeps_a_whole_pair_during_a_publish(tmp_path) -> None:
    out = tmp_path / "latentlens.duckdb"
    write_artifact(out, small_tables(tag="old"))
    resolved = out.resolve()  # a reader between resolving and hashing, when the next build publishes
    write_artifact(out, small_tables(tag="new"))
    digest = Path(schema.manifest_path(str(resolved))).read_text().split()[0]
    assert hashlib.sha256(resolved.read_bytes()).hexdigest() == digest
    assert dataset_name(resolved) == "old" and served_build(out, tmp_path) == "new"


# --- --out names something that is not ours ---------------------------------------------------

def test_out_refuses_to_replace_a_file_that_is_not_a_latentlens_artifact(tmp_path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    side = tmp_path / "notes.txt.sha256"
    side.write_text("not a manifest\n")
    with pytest.raises(OutputError, match="not a LatentLens artifact.*--force"):
        write_artifact(notes, small_tables())
    assert notes.read_text() == "my notes\n" and side.read_text() == "not a manifest\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "notes.txt.sha256"]


def test_out_refuses_to_replace_a_duckdb_file_that_is_not_a_latentlens_artifact(tmp_path) -> None:
    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE accounts AS SELECT 1 AS id")
    con.close()
    before = other.read_bytes()
    with pytest.raises(OutputError, match="not a LatentLens artifact"):
        write_artifact(other, small_tables())
    assert other.read_bytes() == before


def test_out_refuses_to_replace_a_manifest_path_holding_something_else(tmp_path) -> None:
    out = tmp_path / "fresh.duckdb"
    side = tmp_path / "fresh.duckdb.sha256"
    side.write_text("shopping list\n")
    with pytest.raises(OutputError, match="not a sha256 manifest"):
        write_artifact(out, small_tables())
    assert side.read_text() == "shopping list\n" and not out.exists()


def test_out_with_force_replaces_a_file_that_is_not_a_latentlens_artifact(tmp_path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    (tmp_path / "notes.txt.sha256").write_text("not a manifest\n")
    write_artifact(notes, small_tables(tag="forced"), force=True)
    assert served_build(notes, tmp_path) == "forced"


def test_out_replaces_an_earlier_artifact_without_force(tmp_path) -> None:
    out = previous_build(tmp_path, "plain")
    write_artifact(out, small_tables(tag="new"))
    assert served_build(out, tmp_path) == "new"


def test_out_naming_a_directory_is_refused(tmp_path) -> None:
    (tmp_path / "adir").mkdir()
    with pytest.raises(OutputError, match="is a directory"):
        write_artifact(tmp_path / "adir", small_tables())


def test_out_under_a_file_is_refused(tmp_path) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputError, match="is not a directory"):
        write_artifact(tmp_path / "afile" / "a.duckdb", small_tables())
    assert (tmp_path / "afile").read_text() == "x"


def test_free_space_check_names_what_is_free_and_what_is_needed(tmp_path) -> None:
    free = shutil.disk_usage(tmp_path).free
    with pytest.raises(OutputError, match=r"MB free, the artifact needs about"):
        artifact_mod.check_output(tmp_path / "a.duckdb", needed_bytes=free * 2)
    artifact_mod.check_output(tmp_path / "a.duckdb", needed_bytes=1)  # enough room: no error


def test_size_estimate_covers_the_artifact_written(tmp_path) -> None:
    tables = small_tables(n_users=3)
    report = write_artifact(tmp_path / "a.duckdb", tables)
    estimate = artifact_mod.estimate_artifact_bytes(n_users=3, n_movies=4, top_n=2, similar_n=2)
    assert estimate >= report.size_bytes
