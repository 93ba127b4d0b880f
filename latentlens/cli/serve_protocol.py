"""uvicorn's httptools protocol with the guards `latentlens serve` needs and uvicorn does not offer.

uvicorn bounds neither the size of a request head (a 48 MB header was read whole, ~10 s, stalling the
other requests: httptools concatenates header pieces) nor the time to receive it (a half-sent head held
its connection open forever); its `h11_max_incomplete_event_size` applies to h11 only. Here:

- a head (request line + headers) over `max_header_bytes` is refused with a JSON 431 and the
  connection closed, having buffered at most that plus one socket read (then at most 1 MiB more
  is read and dropped, so the client can read the answer, before the connection is cut); a head
  that arrives whole within one read is measured as parsed, so it is refused as well, and so is a
  URL over 65,535 bytes, which httptools.parse_url cannot take (uvicorn answered those with a 400);
- a head not complete within `header_timeout_s` of its first byte (or of the connection, for the
  first request) is refused with a JSON 408; a connection that sent nothing is just closed;
- what httptools cannot parse is a JSON 400 (uvicorn's is text/plain), an unknown method such as
  `FOO` a JSON 405 with `Allow: GET, HEAD`, as the app itself answers other methods.

Keep-alive idleness between requests stays uvicorn's `timeout_keep_alive`.
"""

from __future__ import annotations

import asyncio
import json
from functools import lru_cache

import httptools
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_LINGER_S = 1.0  # after a refusal, how long (and how much, at most) to drain the client's bytes before closing
_LINGER_BYTES = 1 << 20
_REASONS = {400: b"Bad Request", 405: b"Method Not Allowed", 408: b"Request Timeout",
            431: b"Request Header Fields Too Large"}
_MAX_URL = 65_535  # httptools.parse_url keeps 16-bit offsets: a longer URL cannot be parsed at all
_REQUEST_LINE = len(b"  HTTP/1.1\r\n")  # a request line less its method and URL


class _HeadTooLarge(Exception):
    """Raised in on_headers_complete, before uvicorn starts the request; httptools raises an
    HttpParserCallbackError from feed_data with this as its __context__."""


class ServeLimits(BaseSettings):
    """Read from `LATENTLENS_SERVE_*` in each worker process (uvicorn builds protocols there, not here)."""

    model_config = SettingsConfigDict(env_prefix="LATENTLENS_SERVE_", frozen=True, extra="ignore")

    max_header_bytes: int = Field(64 * 1024, ge=1024, description="request line plus headers")
    header_timeout_s: float = Field(10.0, gt=0, description="to receive a whole request head")


@lru_cache(maxsize=1)
def serve_limits() -> ServeLimits:
    return ServeLimits()


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """See the module docstring. One instance per connection, as uvicorn's."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        limits = serve_limits()
        self.max_header_bytes = limits.max_header_bytes
        self.header_timeout_s = limits.header_timeout_s
        self._reading_head = True  # between requests, or inside a request line / headers
        self._head_bytes = 0  # bytes received for the head being read
        self._heads_done = 0
        self._header_bytes = 0  # the parsed headers of the head being read, as sent (name: value CRLF)
        self._head_timer: asyncio.TimerHandle | None = None
        self._discarding = False  # refused: what still arrives is dropped until the close
        self._discarded = 0

    # the deadline
    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._discarding or self.transport.is_closing():
            return
        if self._head_bytes == 0:
            self.transport.close()  # an idle connection: nothing to answer
            return
        self.logger.warning("Request head not complete within %g s; closing.", self.header_timeout_s)
        self._refuse(408, "header_timeout", f"request headers not received within {self.header_timeout_s:g} s")

    def _refuse(self, status: int, code: str, message: str, extra: bytes = b"") -> None:
        self._disarm()
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        head = (b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncache-control: no-store\r\n"
                b"x-content-type-options: nosniff\r\n"
                b"content-length: %d\r\nconnection: close\r\n" % (status, _REASONS[status], len(body)))
        self.transport.write(head + extra + b"\r\n" + body)
        # A lingering close: closing with unread bytes makes the kernel send a reset, which can destroy the
        # answer before the client reads it. So: end our side, drop whatever still arrives, close soon after.
        self._discarding = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(_LINGER_S, self.transport.close)

    # uvicorn's hooks
    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """uvicorn's, plus the size cap and the JSON refusals."""
        if self._discarding:
            self._discarded += len(data)
            if self._discarded > _LINGER_BYTES:
                self.transport.abort()  # a client that keeps sending: stop reading it at all
            return
        if self.transport.is_closing():
            return
        if self._reading_head and self._head_timer is None:
            self._arm()  # the first bytes of the next request on a kept-alive connection
        self._unset_keepalive_if_required()
        done = self._heads_done
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserInvalidMethodError:
            self._refuse(405, "method_not_allowed", "only GET and HEAD are served", b"allow: GET, HEAD\r\n")
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _HeadTooLarge):
                self.logger.warning("Request head refused: %s.", exc.__context__)
                self._refuse(431, "header_too_large", str(exc.__context__))
                return
            self.logger.warning("Invalid HTTP request received.")
            self._refuse(400, "bad_request", "invalid HTTP request")
            return
        if self._heads_done != done:
            self._head_bytes = 0  # a head completed in this read (any bytes after it start the next one)
        elif self._reading_head:
            self._head_bytes += len(data)
            if self._head_bytes > self.max_header_bytes:
                self.logger.warning("Request head over %d bytes; refused.", self.max_header_bytes)
                self._refuse(431, "header_too_large", f"request line and headers exceed {self.max_header_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._heads_done += 1
        self._reading_head = False
        self._disarm()
        head = len(self.parser.get_method()) + len(self.url) + _REQUEST_LINE + self._header_bytes + 2
        if head > self.max_header_bytes:
            raise _HeadTooLarge(f"request line and headers exceed {self.max_header_bytes} bytes")
        if len(self.url) > _MAX_URL:
            raise _HeadTooLarge(f"the URL exceeds {_MAX_URL} bytes")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading_head = True
