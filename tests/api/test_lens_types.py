"""A type checker sees every Lens lookup typed: its parameters and the model it returns, made from the
lookup table (latentlens.handler.lookups) and not written out by hand. mypy, run as tests/test_types.py
runs it, on a few lines that use a Lens."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from latentlens.handler.lookups import LOOKUPS

REPO = Path(__file__).parents[2]


def test_mypy_sees_each_lookup_method_with_its_parameters_and_model(tmp_path) -> None:
    lines = ["from latentlens.lens import Lens", "", "def use(lens: Lens) -> None:"]
    lines += [f"    reveal_type(lens.{lookup.name})" for lookup in LOOKUPS]
    lines += ['    lens.movie("858")', "    lens.popular(n=3, genres=None)", "    lens.genres().append(3)"]
    snippet = tmp_path / "use_lens.py"
    snippet.write_text("\n".join(lines) + "\n")
    result = subprocess.run([sys.executable, "-m", "mypy", str(snippet)], cwd=REPO, capture_output=True, text=True,
                            timeout=600)
    revealed = re.findall(r'Revealed type is "def \((.*)\) -> (.*)"', result.stdout)
    assert len(revealed) == len(LOOKUPS), result.stdout + result.stderr
    for lookup, (params, returns) in zip(LOOKUPS, revealed, strict=True):
        assert re.findall(r"(?:^|, )(\w+):", params) == [p.name for p in lookup.params], params
        assert returns == ("list[str]" if lookup.unwrap else f"latentlens.handler.models.{lookup.model.__name__}")
    errors = re.findall(r"error: (.*)  \[([\w-]+)\]", result.stdout)
    assert errors == [('Argument 1 has incompatible type "str"; expected "int"', "arg-type"),
                      ('Unexpected keyword argument "genres"; did you mean "genre"?', "call-arg"),
                      ('Argument 1 to "append" of "list" has incompatible type "int"; expected "str"', "arg-type")], \
        result.stdout
