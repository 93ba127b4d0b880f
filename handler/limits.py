"""The bounds of what a request may ask, named once: a leaf module, so the answers (latentlens.handler.answers),
the event model (latentlens.handler.events.model) and the lists that fold events can all read them without
importing each other. latentlens.handler.answers re-exports them: its checks are where callers meet them."""

from __future__ import annotations

MAX_N = 100  # n (and a search's limit): 1..MAX_N
MAX_ID = 2**31 - 1  # ids are DuckDB INTEGERs; larger values can only be unknown
MAX_LIKED = 50  # rated or liked movies per request
MIN_STARS, MAX_STARS = 0.5, 5.0
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"  # session_id, event_id, recommendation_id, experiment names
