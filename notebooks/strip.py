"""Strip notebooks for a commit: no outputs, no execution counts, no run metadata (`make notebooks-strip`).

    python notebooks/strip.py [NOTEBOOK ...]     # default: every notebooks/*.ipynb

A notebook run in Jupyter and stripped again is byte for byte the committed one (tests/test_notebooks.py checks
that, and that every committed notebook is stripped).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

RUN_METADATA = ("execution", "collapsed", "scrolled")  # what a run or a viewer adds to a cell's metadata
# the notebook's own metadata as committed: any Python 3 kernel (a run records the kernel and Python it used)
METADATA = {
    "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
    "language_info": {"name": "python"},
}


def strip(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in RUN_METADATA:
            cell.metadata.pop(key, None)
    notebook.metadata = nbformat.from_dict(METADATA)
    return notebook


def main(paths: list[str]) -> int:
    for path in paths or sorted(str(p) for p in Path(__file__).resolve().parent.glob("*.ipynb")):
        before = Path(path).read_text(encoding="utf-8")
        notebook = strip(nbformat.reads(before, as_version=nbformat.NO_CONVERT))
        after = nbformat.writes(notebook) + "\n"
        if after != before:
            Path(path).write_text(after, encoding="utf-8")
            print(f"stripped {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
