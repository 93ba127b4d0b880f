"""The garbage collector and the objects that live as long as the process (the framework, an open artifact).

gc.freeze moves every object alive to the permanent generation, which no collection walks again: a full
collection over the few hundred thousand objects fastapi, pydantic and duckdb make costs tens of ms, on
whichever request happens to trigger it. Used once the app is built (handler.import_pause) and once an
artifact is open (handler.store). Standard library only.
"""

from __future__ import annotations

import atexit
import gc

_unfreeze_registered = False  # process-wide, as gc.freeze is


def freeze_long_lived() -> None:
    """Freeze every object alive now; at exit they are handed back (gc.unfreeze), so DuckDB's bindings are
    torn down as usual."""
    global _unfreeze_registered
    gc.freeze()
    if not _unfreeze_registered:
        atexit.register(gc.unfreeze)
        _unfreeze_registered = True
