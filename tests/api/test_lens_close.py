"""Closing a Lens: the file is let go, and every lookup after close() (or racing it from another thread) raises
latentlens.LensClosed, never DuckDB's own ConnectionException, and never opens the file again."""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

import latentlens
from latentlens.handler import schema

THREADS, ROUNDS = 6, 5


def private_copy(fixture_db: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / "latentlens.duckdb"
    shutil.copyfile(fixture_db, out)
    shutil.copyfile(schema.manifest_path(str(fixture_db)), schema.manifest_path(str(out)))
    return out


def assert_closed(raised: pytest.ExceptionInfo, source: Path) -> None:
    assert type(raised.value) is latentlens.LensClosed
    assert isinstance(raised.value, latentlens.ArtifactUnavailable) and raised.value.reason == "lens_closed"
    assert str(raised.value) == f"{source}: this Lens is closed (latentlens.open it again)"


def test_context_manager_closes_the_file_and_a_later_lookup_is_lens_closed(fixture_db, tmp_path) -> None:
    copy = private_copy(fixture_db, tmp_path)
    with latentlens.open(str(copy), tmp_dir=str(tmp_path / "lltmp")) as lens:
        assert repr(lens) == f"<latentlens.Lens {str(copy)!r}>"
        with pytest.raises(duckdb.Error, match="different configuration"):
            duckdb.connect(str(copy), read_only=True)  # the Lens holds the file open
    duckdb.connect(str(copy), read_only=True).close()  # closed on exit
    for call in (lambda: lens.movie(858), lambda: lens.genres(), lambda: lens.sql("SELECT 1")):
        with pytest.raises(latentlens.LensClosed) as raised:
            call()
        assert_closed(raised, copy)
    lens.close()  # closing again does nothing
    duckdb.connect(str(copy), read_only=True).close()  # and nothing reopened the file


@dataclass
class Hammer:
    """One thread's lookups, in a loop until one raises: how many whole passes it made, and after close() returned."""

    lens: latentlens.Lens
    passes: int = 0
    passes_after_close: int = 0
    errors: list[BaseException] = field(default_factory=list)
    working: threading.Event = field(default_factory=threading.Event)

    def calls(self):
        lens = self.lens  # DuckDB keyed reads, the title index, the in-memory lists and sql
        return (lambda: lens.similar(858), lambda: lens.for_ratings({858: 5, 1: 2}), lambda: lens.recommend(1),
                lambda: lens.search("godfather"), lambda: lens.popular(), lambda: lens.movie(858),
                lambda: lens.sql("SELECT count(*) FROM movies"))

    def run(self, start: threading.Barrier, closed: threading.Event) -> None:
        start.wait()
        while True:
            after = closed.is_set()  # read before the pass: a pass begun after close() returned must fail
            try:
                for call in self.calls():
                    call()
            except BaseException as exc:  # every kind is recorded: the test asserts there is only LensClosed
                self.errors.append(exc)
                return
            self.passes += 1
            self.working.set()
            if after:
                self.passes_after_close += 1
                return


def close_while_hammered(copy: Path, tmp: Path) -> list[Hammer]:
    """THREADS threads look up on one Lens, started together; close() comes once every one has made a pass."""
    lens = latentlens.open(str(copy), tmp_dir=str(tmp))
    hammers = [Hammer(lens) for _ in range(THREADS)]
    start, closed = threading.Barrier(THREADS + 1), threading.Event()
    threads = [threading.Thread(target=h.run, args=(start, closed)) for h in hammers]
    for thread in threads:
        thread.start()
    start.wait()
    assert all(h.working.wait(timeout=60) for h in hammers), "a thread never finished a pass"
    lens.close()
    closed.set()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return hammers


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_close_racing_lookups_in_other_threads_is_lens_closed_in_each_and_lets_go_of_the_file(
        fixture_db, tmp_path, round_) -> None:
    copy = private_copy(fixture_db, tmp_path / "artifact")
    hammers = close_while_hammered(copy, tmp_path / "lltmp")
    assert all(h.passes >= 1 for h in hammers)  # every thread was looking things up when close() came
    for hammer in hammers:
        assert hammer.passes_after_close == 0  # no lookup begun after close() answered (nor reopened the file)
        assert [type(e) for e in hammer.errors] == [latentlens.LensClosed], hammer.errors
        assert hammer.errors[0].reason == "lens_closed"
    duckdb.connect(str(copy), read_only=True).close()  # nothing holds the file: close() let go of it
