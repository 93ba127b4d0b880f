"""The one logger and the one progress helper of the build; library code never prints."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

LOGGER_NAME = "latentlens"


def get_logger(name: str | None = None) -> logging.Logger:
    """A child of the project's logger, e.g. get_logger(__name__)."""
    return logging.getLogger(LOGGER_NAME if name is None else f"{LOGGER_NAME}.{name}")


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record is emitted, not the one at configuration:
    a caller that swaps stderr (a test, an embedding tool) never gets a write to a closed stream."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it; nothing to keep
        pass


def configure_logging(verbose: bool = False) -> None:
    """Called once by the CLI: timestamps on stderr, stdout stays free for results."""
    root = logging.getLogger(LOGGER_NAME)
    if not root.handlers:
        handler = _CurrentStderr()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)


def stderr_is_terminal() -> bool:
    """Whether stderr is a terminal: the default of every `progress` setting (bars for people, not for logs)."""
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def progress(iterable: Iterable[T], desc: str, *, show: bool, total: int | None = None,
             unit: str = "it") -> Iterator[T]:
    """Wrap a long loop in a progress bar on stderr when `show` (the caller's typed setting: BuildSettings.progress,
    FitContext.show_progress, PublishSettings.progress, ...); else the loop as it is."""
    if not show:
        return iter(iterable)
    # here, not at the top: `latentlens serve` imports this module without the build extra; plain tqdm, not
    # tqdm.auto: the bars are text on stderr, and tqdm.auto warns on import in a Jupyter kernel without ipywidgets
    from tqdm import tqdm

    return iter(
        tqdm(iterable, desc=desc, total=total, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True,
             mininterval=0.5)
    )
