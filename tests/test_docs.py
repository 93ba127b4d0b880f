"""The README and the documentation site stay true.

The site builds with `mkdocs build --strict` (a broken link, anchor or include fails) and loads nothing from elsewhere;
the README stays a five-minute read; no page names an issue number; every `make` target, `latentlens` command and
option, file and test that the README and the pages name exists; and the model of docs/add-a-model.md passes the model
contract. The SQL and the Python example are run against a real build by test_docs_sql.py and
api/test_docs_python_example.py.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.models.contract import RecommenderContract

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))  # the site's pages; docs/results/*.md are what bench scripts wrote, included by pages
README_MAX_LINES = 200

# "issue #7", "Issues 7–13", "PR #3", "(#18)": the pages say what is meant instead of a tracker's number
ISSUE_NUMBER = re.compile(r"(?i)\b(?:issues?|PRs?|pull requests?)\s*#?\d+|(?<![\w&])#\d{1,3}\b")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`([^`\n]+)`")
CLI_COMMAND = re.compile(r"(?:^|(?<=[\s(]))(?:\.venv/bin/)?latentlens\s+(?=[a-z-])")
MAKE_COMMAND = re.compile(r"(?:^|[\s(])make\s+([a-z][\w-]*)")
OPTION = re.compile(r"(?<![\w-])--[a-z][\w-]*")
REPO_PATH = re.compile(r"((?:tests|build|handler|bench|infra|latentlens|data|docs)/[\w./-]*)"
                       r"(?:::(\w+)(?:\[[^\]]*\])?)?")
# `docs/results/NAME.md`: a pattern the prose explains, not a file
PLACEHOLDER = re.compile(r"/[A-Z_]+(?:\.\w+)?$")


def documents() -> list[Path]:
    return [README, *PAGES]


def doc_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def code_of(text: str) -> list[str]:
    """Every line of the fenced code blocks and every inline code span outside them, `\\|` unescaped (tables)."""
    lines = [line for block in FENCE.findall(text) for line in block.splitlines()]
    lines += INLINE.findall(FENCE.sub("", text))
    return [line.replace("\\|", "|") for line in lines]


def without_comment(line: str) -> str:
    return re.split(r"\s#(?:\s|$)", line, maxsplit=1)[0]


# -- the site ---------------------------------------------------------------------------------------------------------


def test_the_site_builds_strictly_and_loads_nothing_from_elsewhere(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                           cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert built.returncode == 0, f"mkdocs build --strict failed:\n{built.stdout}\n{built.stderr}"
    html = {page.name: page.read_text(encoding="utf-8") for page in site.glob("*.html")}
    assert {f"{page.stem}.html" for page in PAGES} <= set(html), "a page of docs/ is missing from the site"
    loaded = re.compile(r'<script\b[^>]*\bsrc="(?:https?:)?//[^"]*"'
                        r'|<link\b[^>]*\brel="(?:stylesheet|preconnect|preload|modulepreload|icon)"[^>]*'
                        r'\bhref="(?:https?:)?//[^"]*"')
    external = {name: loaded.findall(text) for name, text in html.items() if loaded.search(text)}
    assert not external, f"pages load scripts, styles or fonts from elsewhere (the site must work offline): {external}"


def test_every_page_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8").split("\nnav:\n", 1)[1]
    listed = set(re.findall(r":\s*([\w-]+\.md)\s*$", nav, flags=re.M))
    assert {page.name for page in PAGES} == listed


# -- the README -------------------------------------------------------------------------------------------------------


def test_the_readme_is_a_five_minute_read() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move the detail to docs/"


def test_the_readme_keeps_the_two_commands_and_links_every_page() -> None:
    text = README.read_text(encoding="utf-8")
    code = [without_comment(line).strip() for line in code_of(text)]
    assert "make run" in code and "make test" in code
    linked = set(re.findall(r"\]\(docs/([\w-]+\.md)(?:#[\w-]+)?\)", text))
    assert {page.name for page in PAGES} <= linked, "the README links every page of the documentation"
    assert "](docs/page.png)" in text


# -- no issue numbers -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", documents(), ids=doc_id)
def test_no_page_names_an_issue_number(path: Path) -> None:
    hits = [f"{n}: {line.strip()}" for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if ISSUE_NUMBER.search(line)]
    assert not hits, "say what is meant instead of an issue number:\n" + "\n".join(hits)


@pytest.mark.parametrize("text", ["as issue #7 found", "Issue 14's target", "issues #7–#13", "(#18)", "see PR #3",
                                  "the fix (#120) made it"])
def test_the_issue_pattern_finds_a_planted_number(text: str) -> None:
    assert ISSUE_NUMBER.search(text)


@pytest.mark.parametrize("text", ["[Search](api.md#search)", "http://127.0.0.1:5000/#/experiments/1/runs",
                                  "color: #1a2b3c", "`u#<user>`, `c#<i>`", "&#8212;", "top 100 items", "C#10"])
def test_the_issue_pattern_spares_anchors_and_numbers(text: str) -> None:
    assert not ISSUE_NUMBER.search(text)


# -- commands ---------------------------------------------------------------------------------------------------------


def make_targets_shown() -> list[tuple[str, str]]:
    return sorted({(doc_id(path), target) for path in documents()
                   for line in code_of(path.read_text(encoding="utf-8"))
                   for target in MAKE_COMMAND.findall(without_comment(line))})


def cli_commands_shown() -> list[tuple[str, str]]:
    found = set()
    for path in documents():
        for line in code_of(path.read_text(encoding="utf-8")):
            line = without_comment(line)
            for match in CLI_COMMAND.finditer(line):
                before = line[:match.start()].split()
                if before and before[-1].startswith("-"):
                    continue  # the value of another tool's option: `--dynamodb-name latentlens`
                found.add((doc_id(path), line[match.end():].strip()))
    return sorted(found)


def test_the_readme_shows_commands_to_check() -> None:
    shown = {page for page, _ in cli_commands_shown()} | {page for page, _ in make_targets_shown()}
    assert "README.md" in shown
    assert len(cli_commands_shown()) >= 20 and len(make_targets_shown()) >= 15


@pytest.mark.parametrize(("page", "target"), make_targets_shown(), ids=lambda v: v)
def test_every_make_target_shown_exists(page: str, target: str) -> None:
    make = shutil.which("make")
    assert make, "make is not installed"
    dry = subprocess.run([make, "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={k: v for k, v in os.environ.items() if not k.startswith("MAKE")})
    assert dry.returncode == 0, f"{page} shows `make {target}`, which the Makefile does not have:\n{dry.stderr}"


@functools.cache
def cli_help(path: tuple[str, ...]) -> str:
    shown = subprocess.run([sys.executable, "-m", "latentlens", *path, "--help"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, f"latentlens {' '.join(path)} --help failed: {shown.stderr}"
    return shown.stdout


def subcommands(help_text: str) -> set[str]:
    """The subcommands a help text offers: `{info,synth}` in its usage, or the indented list under `commands:`."""
    usage = help_text.split("\n\n", 1)[0]
    names = {name for group in re.findall(r"\{([\w,-]+)\}", usage) for name in group.split(",")}
    if "\ncommands:\n" in help_text:
        names |= set(re.findall(r"^    ([a-z][\w-]*)\s{2,}\S", help_text.split("\ncommands:\n", 1)[1], flags=re.M))
    return names


def is_placeholder(token: str) -> bool:
    return not re.fullmatch(r"[a-z][\w-]*", token)


@pytest.mark.parametrize(("page", "command"), cli_commands_shown(), ids=lambda v: v)
def test_every_latentlens_command_shown_exists_with_its_options(page: str, command: str) -> None:
    tokens = command.split()
    path: tuple[str, ...] = ()
    for token in tokens:
        offered = subcommands(cli_help(path))
        if token.startswith("-") or not offered:
            break  # options, or the arguments of a command that has no subcommands
        if is_placeholder(token):
            break  # `latentlens COMMAND --help`, `latentlens data synth … --preset 5m`
        assert token in offered, f"{page}: `latentlens {command}`: no command `{token}` after " \
                                 f"`latentlens {' '.join(path)}` (it has {sorted(offered)})"
        path = (*path, token)
    known = set(OPTION.findall(cli_help(path)))
    unknown = sorted(set(OPTION.findall(command)) - known)
    assert not unknown, f"{page}: `latentlens {command}`: `latentlens {' '.join(path)}` has no option {unknown}"


# -- files and tests named --------------------------------------------------------------------------------------------


def paths_named() -> list[tuple[str, str]]:
    return sorted({(doc_id(path), span) for path in documents()
                   for span in INLINE.findall(FENCE.sub("", path.read_text(encoding="utf-8")))
                   if REPO_PATH.fullmatch(span) and not PLACEHOLDER.search(span)})


def test_the_pages_name_files_and_tests_to_check() -> None:
    assert len([span for _, span in paths_named() if "::" in span]) >= 40


@pytest.mark.parametrize(("page", "span"), paths_named(), ids=lambda v: v)
def test_every_file_and_test_named_exists(page: str, span: str) -> None:
    match = REPO_PATH.fullmatch(span)
    assert match
    name, test = match.groups()
    file = ROOT / name
    assert file.exists(), f"{page} names `{span}`, but {name} does not exist"
    if test:
        assert re.search(rf"^\s*(?:async\s+)?def {test}\b", file.read_text(encoding="utf-8"), flags=re.M), \
            f"{page} names `{span}`, but {name} has no test {test}"


# -- the guide's model ------------------------------------------------------------------------------------------------


@functools.cache
def guide_model() -> dict:
    """The model class of docs/add-a-model.md, run as written."""
    text = (DOCS / "add-a-model.md").read_text(encoding="utf-8")
    blocks = [block for block in re.findall(r"```python\n(.*?)```", text, flags=re.S)
              if re.search(r"\(Recommender(?:\[\w+\])?\):", block)]
    assert len(blocks) == 1, "docs/add-a-model.md has one example model"
    namespace: dict = {"__name__": "docs_add_a_model"}
    exec(compile(blocks[0], str(DOCS / "add-a-model.md"), "exec"), namespace)  # the page's own example, as written
    return namespace


class TestTheGuidesModelKeepsTheContract(RecommenderContract):
    """The whole model contract (tests/models/contract.py) on the example model, as the guide's step 3 says."""

    def make_model(self):
        model = guide_model()
        return model["Cooccurrence"](model["CooccurrenceConfig"]())


def test_the_guide_registers_and_tests_the_model_it_defines() -> None:
    text = (DOCS / "add-a-model.md").read_text(encoding="utf-8")
    step_2 = text.split("## 2.", 1)[1].split("## 3.", 1)[0]
    assert "Cooccurrence(CooccurrenceConfig())" in step_2
    (spec_block,) = re.findall(r"```python\n(.*?)```", step_2, flags=re.S)
    namespace = dict(guide_model())
    exec(compile(spec_block, str(DOCS / "add-a-model.md"), "exec"), namespace)  # the module's spec, as written
    spec = namespace["SPEC"]
    assert spec.name == "cooccurrence" and spec.engines == ("inprocess",)
    assert type(spec.factory(None)) is namespace["Cooccurrence"]
    assert "class TestCooccurrence(RecommenderContract)" in text
    assert guide_model()["Cooccurrence"].name == "cooccurrence"
