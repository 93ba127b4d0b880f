"""Imported first by handler.app, for its side effect: the garbage collector is paused while the app's modules
load, and `resume()`, at the end of handler.app, freezes what they made and turns the collector back on.

While fastapi, pydantic, starlette and duckdb load, the collector (run by allocation counts) walks their
objects again and again although none of them is garbage: ~45 ms of the Lambda package's ~0.45 s import
(bench/bench_handler.py). Nothing else imports this module, so importing other handler modules (Lens, tests)
never pauses the collector.
"""

from __future__ import annotations

import gc

from latentlens.handler import collector

_was_enabled = gc.isenabled()
gc.disable()


def resume() -> None:
    """The app is built: freeze its objects (collector.freeze_long_lived) and let the collector run again, if
    it ran before this module paused it."""
    collector.freeze_long_lived()
    if _was_enabled:
        gc.enable()
