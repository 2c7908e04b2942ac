"""The HTTP server: uvicorn (h11), with every request's arrival bounded in time.

uvicorn closes idle keep-alive connections (`timeout_keep_alive`) but has no header or body read
timeout: a client that connects and sends nothing, half its headers, or a body slower than a
byte a minute holds a connection (and its memory) forever; a few thousand such clients exhaust
the process. `BoundedH11Protocol` gives every request one deadline, from its first byte (or the
connection's opening) until its body is complete; past it the connection is closed. A deadline,
not an idle timer, so trickling a byte at a time gains nothing. The app's own time is not
bounded here: once the request has arrived the timer stops.
"""

from __future__ import annotations

import asyncio
import logging

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from budeval.config import Settings

log = logging.getLogger(__name__)
_READING = (h11.IDLE, h11.SEND_BODY)
"""The client's h11 states in which a request is (possibly) still arriving."""


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on each request's arrival."""

    read_timeout: float = 30.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm()  # a connection that never sends a byte is bounded too

    def data_received(self, data: bytes) -> None:
        if self._deadline is None:  # the first bytes of a request (after keep-alive idling)
            self._arm()
        super().data_received(data)
        self._settle()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is h11.SEND_BODY or (
            self.conn.their_state is h11.IDLE and self.conn.trailing_data[0]
        ):  # a pipelined request was already partly buffered
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _settle(self) -> None:
        if self.conn.their_state not in _READING:  # the request has arrived (or failed)
            self._disarm()

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.read_timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.conn.their_state in _READING and not self.transport.is_closing():
            log.info("closing a connection whose request did not arrive in %s s", self.read_timeout)
            self.transport.close()


def protocol(read_timeout: float) -> type[BoundedH11Protocol]:
    """The protocol class with this deadline (uvicorn instantiates it per connection)."""
    return type("BoundedH11Protocol", (BoundedH11Protocol,), {"read_timeout": read_timeout})


def build_server(app: ASGIApp, settings: Settings) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=protocol(settings.http_request_timeout_seconds),
        timeout_keep_alive=settings.http_keep_alive_seconds,
        log_level="warning",
    )
    return uvicorn.Server(config)


def serve(settings: Settings) -> None:
    """Run the service until it is told to stop (SIGINT/SIGTERM)."""
    from budeval.api.app import create_app

    build_server(create_app(settings), settings).run()
