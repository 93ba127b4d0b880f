"""The tree stays lint-clean: `ruff check .` (configured in pyproject.toml) finds nothing, and
every suppression says why, as `# noqa: CODE -- reason in a few words`."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIPPED_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".aws-sam", ".ruff_cache", ".mypy_cache"}
# a suppression as ruff reads it: noqa after a hash (or after "ruff:" / "flake8:"), anywhere in a comment
DIRECTIVE = re.compile(r"#\s*(?:(?:ruff|flake8)\s*:\s*)?noqa\b(?P<tail>.*)", re.IGNORECASE)
# what must follow it: the codes, then ` -- ` and the reason
EXPLAINED = re.compile(r":\s*[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*\s+--\s+(?P<reason>\S.*)")
MIN_REASON_WORDS = 3


def python_files() -> list[Path]:
    """The *.py files git tracks or would add (a walk that skips virtualenvs and caches outside a checkout)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "*.py"],
                            cwd=ROOT, capture_output=True, text=True)
    if listed.returncode == 0 and listed.stdout:
        return [ROOT / name for name in listed.stdout.split("\0") if name and (ROOT / name).is_file()]
    found = []
    for path in ROOT.rglob("*.py"):  # rglob does not descend into symlinked folders (infra/lambda/latentlens)
        if not SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts):
            found.append(path)
    return sorted(found)


def unexplained_noqa(source: str) -> list[tuple[int, str]]:
    """(line, comment) of every `# noqa` in the source's comments that names no code or gives no reason."""
    bad = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type != tokenize.COMMENT:
            continue
        for directive in DIRECTIVE.finditer(token.string):
            explained = EXPLAINED.match(directive.group("tail"))
            if explained is None or len(explained.group("reason").split()) < MIN_REASON_WORDS:
                bad.append((token.start[0], token.string))
    return bad


def test_ruff_finds_nothing() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f"ruff check . exited {result.returncode}:\n{result.stdout}{result.stderr}"


def test_every_noqa_names_its_codes_and_says_why() -> None:
    files = python_files()
    assert ROOT / "latentlens" / "__init__.py" in files and Path(__file__).resolve() in files, files[:5]
    bad = [f"{path.relative_to(ROOT)}:{line}: {comment}"
           for path in files for line, comment in unexplained_noqa(path.read_text(encoding="utf-8"))]
    assert not bad, ("write `# noqa: CODE -- why, in a few words` (or fix the code instead):\n" + "\n".join(bad))


def test_the_noqa_check_tells_bare_from_explained() -> None:
    explained = "x = 1  # noqa: E731 -- a one-line helper\nimport os  # noqa: F401, E402 -- kept for the tests\n"
    assert unexplained_noqa(explained) == []
    for bare in ("x = 1  # noqa\n", "x = 1  # noqa: E731\n", "x = 1  # NOQA:E731 -- short\n",
                 "x = 1  # noqa: E731 (a reason without the separator)\n", "# ruff: noqa\n",
                 "x = 1  # see above # noqa: E501\n"):
        assert unexplained_noqa(bare) == [(1, bare.split("  ", 1)[-1].strip())], bare
    assert unexplained_noqa('s = "# noqa"  # the text in a string is no directive\n') == []
