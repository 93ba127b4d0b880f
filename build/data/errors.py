"""One error type for bad input: it names the file, the line where it applies, and the problem."""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """Input that cannot be used. str() reads `path:line: problem` (line omitted when not known)."""

    def __init__(self, path: Path | str, problem: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {problem}")
