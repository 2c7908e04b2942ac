"""The demo endpoint's HTTP layer: a threaded stdlib server that can go down and come back.

One thread per connection (HTTP/1.1 keep-alive), so a request sleeping its latency never blocks
another. Order of checks per request: key (401) → route and mode (404) → [completions only: fault
verdict, latency, injected 429/500] → body (400, model 404) → answer. `go_down` closes the
listening socket (new connections are refused) and cuts open connections (in-flight requests get no
answer), as a crashed server would. The request log holds bodies and answers, never a header, and
any occurrence of the key is masked.
"""

from __future__ import annotations

import contextlib
import hmac
import itertools
import json
import socket
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from budeval.demo import endpoint_openai as openai
from budeval.demo.endpoint_answers import AnswerBook
from budeval.demo.endpoint_faults import FaultPlan, Faults, Traffic

ROUTES = {"/v1/chat/completions": "chat", "/v1/completions": "completions"}
MODES = ("chat", "completions", "both")


class RequestLog:
    """Append-only JSONL request log; masks the key wherever it would appear."""

    def __init__(self, path: Path, secret: str | None) -> None:
        self._file: TextIO = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()
        self._secrets = [s for s in (secret, json.dumps(secret or "")[1:-1]) if s]

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False)
        for secret in self._secrets:
            line = line.replace(secret, "***")
        with self._lock:
            if not self._file.closed:
                self._file.write(line + "\n")
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


@dataclass
class Behaviour:
    """What the endpoint does; attributes may be replaced while it serves (each swap is atomic)."""

    book: AnswerBook
    model: str = "demo-model"
    mode: str = "both"
    api_key: str | None = field(default=None, repr=False)
    latency_ms: float = 0.0
    retry_after: float = 0.0
    faults: Faults = field(default_factory=lambda: Faults(FaultPlan()))
    traffic: Traffic = field(default_factory=Traffic)
    log: RequestLog | None = None
    on_down: Callable[[], None] = lambda: None
    """Called (on the handler thread) after answering the request a `down_after` pointed at."""
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server: DemoHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the request log (if any) is written by `_handle`."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        state = self.server.behaviour
        path = urlsplit(self.path).path.rstrip("/") or "/"
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        state.traffic.begin()
        started, self.then_down = time.monotonic(), False
        body = _decode(raw) if method == "POST" else None
        status: int | None = 200
        payload: dict[str, Any] = {}
        headers: dict[str, str] = {}
        answers: list[str] = []
        try:
            payload, answers = self._route(state, method, path, body)
        except openai.ApiError as error:
            payload, status, headers = error.body(), error.status, error.headers
        except _Dropped:
            status = None
        except Exception:
            traceback.print_exc()
            bug = openai.ApiError(500, "Demo endpoint bug.", kind="server_error")
            status, payload = bug.status, bug.body()
        if self.server.going_down:
            status = None
        # Counted and logged before the answer is written: a client never sees an uncounted answer.
        state.traffic.end(path, status)
        if (log := state.log) is not None:
            elapsed = round((time.monotonic() - started) * 1000, 1)
            logged = None if isinstance(body, _Invalid) else body
            record = {"ts": round(time.time(), 3), "method": method, "path": path}
            record.update(status=status, ms=elapsed, request=logged, answers=answers)
            log.write(record)
        if status is None:
            self.close_connection = True
        elif not self._send(status, payload, headers):
            state.traffic.drop(path, status)
        if self.then_down:
            state.on_down()

    def _route(
        self, state: Behaviour, method: str, path: str, body: Any
    ) -> tuple[dict[str, Any], list[str]]:
        expected = f"Bearer {state.api_key}".encode()
        given = self.headers.get("Authorization", "").encode()
        if state.api_key is not None and not hmac.compare_digest(given, expected):
            raise openai.unauthorised()
        now = int(time.time())
        if method == "GET" and path == "/v1/models":
            return openai.models(state.model, now), []
        if method == "GET" and path == f"/v1/models/{state.model}":
            return openai.models(state.model, now)["data"][0], []
        kind = ROUTES.get(path) if method == "POST" else None
        if kind is None or state.mode not in (kind, "both"):
            raise openai.not_found(path)
        verdict = state.faults.judge()
        if verdict.drop:
            raise _Dropped
        self.then_down = verdict.then_down
        if state.latency_ms > 0 and self.server.stopping.wait(state.latency_ms / 1000):
            raise _Dropped
        if verdict.status is not None:
            raise openai.injected(verdict.status, state.retry_after)
        if isinstance(body, _Invalid):
            raise openai.ApiError(400, f"The request body is not valid JSON: {body.reason}")
        answer = openai.chat if kind == "chat" else openai.completions
        return answer(state.book, body, state.model, str(next(state.ids)), now)

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> bool:
        """Write the response; False if the connection is gone."""
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True
            return False
        return True


class _Dropped(Exception):
    """The request gets no answer: the connection is closed (the endpoint is going down)."""


@dataclass(frozen=True)
class _Invalid:
    reason: str


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return _Invalid(str(error))


class DemoHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.stopping = threading.Event()
        """Set by `go_down`: handlers wake from their latency and answer nothing."""
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Condition()
        super().__init__(address, Handler)

    @property
    def going_down(self) -> bool:
        return self.stopping.is_set()

    def finish_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        try:
            super().finish_request(request, client_address)
        except OSError:
            pass  # the connection was cut by `go_down` or the client
        finally:
            with self._connections_lock:
                self._connections.discard(request)
                self._connections_lock.notify_all()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Silent: a client hanging up is not worth a traceback."""

    def cut_connections(self, wait: float = 5.0) -> None:
        """Shut every open connection down and wait (bounded) for their handlers to finish."""
        with self._connections_lock:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            self._connections_lock.wait_for(lambda: not self._connections, timeout=wait)


class Listener:
    """Runs one `DemoHTTPServer` at a time on a fixed address, in a background thread."""

    def __init__(self, host: str, port: int, behaviour: Behaviour) -> None:
        self.host, self.port, self.behaviour = host, port, behaviour
        self._server: DemoHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def up(self) -> bool:
        return self._server is not None

    def start(self) -> int:
        """Listen (again) on the same port; returns it (chosen by the OS the first time if 0)."""
        with self._lock:
            if self._server is None:
                server = DemoHTTPServer((self.host, self.port), self.behaviour)
                self.port = server.server_address[1]
                thread = threading.Thread(
                    target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
                )
                thread.name = f"demo-endpoint-{self.port}"
                thread.start()
                self._server, self._thread = server, thread
            return self.port

    def stop(self) -> None:
        """Refuse new connections and cut the open ones."""
        with self._lock:
            server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is None or thread is None:
            return
        server.stopping.set()
        server.shutdown()
        server.server_close()
        server.cut_connections()
        thread.join()
