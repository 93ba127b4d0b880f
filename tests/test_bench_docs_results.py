"""`--docs NAME` on a bench script: what it prints lands in docs/results/NAME.md, headed by the command and the
machine, and only when the script succeeds."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture
def docs_results():
    spec = importlib.util.spec_from_file_location("docs_results", BENCH / "docs_results.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_printed_figures_are_written_under_the_command(docs_results, tmp_path, monkeypatch, capsys) -> None:
    seen_argv: list[str] = []

    def main() -> int:
        seen_argv.extend(sys.argv[1:])
        print("model   ndcg@10\nease    0.1234")
        return 0

    monkeypatch.setattr(sys, "argv", ["bench/bench_x.py", "data", "--docs", "x-small", "--quick"])
    assert docs_results.run(main, results=tmp_path) == 0

    assert seen_argv == ["data", "--quick"]  # the script never sees --docs
    text = (tmp_path / "x-small.md").read_text()
    assert text.startswith("Written by `python bench/bench_x.py data --docs x-small --quick` on ")
    first = text.splitlines()[0]
    assert "CPU" in first and "wall" in first and "max while it ran" in first
    assert "```text\nmodel   ndcg@10\nease    0.1234\n```" in text
    assert "ease    0.1234" in capsys.readouterr().out  # still printed as usual


def test_a_failed_run_keeps_the_earlier_result(docs_results, tmp_path, monkeypatch) -> None:
    earlier = tmp_path / "x.md"
    earlier.write_text("the earlier figures\n")

    def failing() -> int:
        print("half a table")
        return 3

    monkeypatch.setattr(sys, "argv", ["bench/bench_x.py", "--docs=x"])
    assert docs_results.run(failing, results=tmp_path) == 3
    assert earlier.read_text() == "the earlier figures\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.md"]


def test_without_the_flag_nothing_is_written(docs_results, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", ["bench/bench_x.py", "--", "--docs", "y"])
    assert docs_results.run(lambda: 0, results=tmp_path) == 0
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [["--docs"], ["--docs", "../escape"], ["--docs="]])
def test_a_bad_name_is_refused(docs_results, tmp_path, monkeypatch, argv) -> None:
    monkeypatch.setattr(sys, "argv", ["bench/bench_x.py", *argv])
    with pytest.raises(SystemExit, match="--docs"):
        docs_results.run(lambda: 0, results=tmp_path)
