"""A scripted HTTP server for faults a real registry cannot produce.

Each test says, per method and path, what the server answers: a :class:`Reply`
(status, headers, body, and optionally a delay, a cut-short body or a reset),
or a function of the :class:`Seen` request that returns one. Several replies
for one route are served in turn and the last one repeats. A ``gate`` sees each
request first and may answer it instead (a 401 challenge, a token server).
Every request is recorded, so a test can assert what was (and was not) sent.
Requests nobody scripted get a 404 and are listed in ``unscripted``.
"""

from __future__ import annotations

import base64
import json
import socket
import socketserver
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    """What to answer. ``body`` may be bytes, text, or a value sent as JSON.

    ``delay`` waits before the status line; ``stall`` waits after the headers,
    before the body. ``truncate`` sends only that many body bytes (with the full
    ``Content-Length``) and closes. ``reset`` answers nothing and resets the
    connection (SO_LINGER 0). ``then`` runs when the reply is served."""

    status: int = 200
    headers: dict[str, str] | list[tuple[str, str]] = field(default_factory=dict)
    body: Any = b""
    delay: float = 0.0
    stall: float = 0.0
    truncate: int | None = None
    reset: bool = False
    then: Callable[[], None] | None = None

    def header_items(self) -> list[tuple[str, str]]:
        items = self.headers.items() if isinstance(self.headers, dict) else self.headers
        return list(items)

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


Script = Reply | Callable[[Seen], Reply]
# Sees every request first: a Reply answers it (a 401, a token), None lets the
# scripted reply answer.
Gate = Callable[[Seen], Reply | None]


def json_reply(body: Any, status: int = 200, **headers: str) -> Reply:
    return Reply(status, {"Content-Type": "application/json", **headers}, body)


def html_reply(status: int = 200, title: str = "Sign in") -> Reply:
    page = f"<!DOCTYPE html><html><head><title>{title}</title></head></html>"
    return Reply(status, {"Content-Type": "text/html; charset=utf-8"}, page)


def registry_error(status: int, code: str, message: str = "") -> Reply:
    return json_reply({"errors": [{"code": code, "message": message}]}, status)


class FakeServer(ThreadingHTTPServer):
    """Listens on 127.0.0.1 on a free port; start with :func:`running`."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[tuple[str, str], list[Script]] = {}
        self.gate: Gate | None = None
        self.requests: list[Seen] = []
        self.handled: list[Seen] = []
        self.unscripted: list[Seen] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up; loopback needs no DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def script(self, method: str, path: str, *replies: Script) -> None:
        """Answer ``method path`` with ``replies`` in turn; the last repeats."""
        self.routes[(method, path)] = list(replies)

    def seen(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        """Requests that got past the gate to their scripted reply."""
        with self._lock:
            return [
                r
                for r in self.handled
                if (method is None or r.method == method)
                and (path is None or r.path == path)
            ]

    def reply_for(self, seen: Seen) -> Reply:
        with self._lock:
            self.requests.append(seen)
        gated = self.gate(seen) if self.gate is not None else None
        if gated is not None:
            return gated
        with self._lock:
            self.handled.append(seen)
            queue = self.routes.get((seen.method, seen.path))
            if not queue:
                self.unscripted.append(seen)
                return registry_error(404, "NOT_SCRIPTED", "no reply scripted")
            script = queue.pop(0) if len(queue) > 1 else queue[0]
        return script(seen) if callable(script) else script

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Resets and cut-short answers break sockets on purpose; stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    server: FakeServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._answer()

    def do_HEAD(self) -> None:
        self._answer()

    def do_PUT(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def do_DELETE(self) -> None:
        self._answer()

    def do_PATCH(self) -> None:
        self._answer()

    def log_message(self, format: str, *args: Any) -> None:
        """The test output stays clean."""

    def _answer(self) -> None:
        self.close_connection = True
        length = int(self.headers.get("Content-Length") or 0)
        parts = urlsplit(self.path)
        seen = Seen(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers=dict(self.headers.items()),
            body=self.rfile.read(length) if length else b"",
        )
        reply = self.server.reply_for(seen)
        if reply.then is not None:
            reply.then()
        if reply.reset:
            self._reset()
            return
        self.server.stopping.wait(reply.delay)
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        body = reply.payload()
        self.send_response(reply.status)
        for name, value in reply.header_items():
            self.send_header(name, value)
        if "Content-Length" not in dict(reply.header_items()):
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()
        self.server.stopping.wait(reply.stall)
        if self.command != "HEAD":
            self.wfile.write(body if reply.truncate is None else body[: reply.truncate])

    def _reset(self) -> None:
        linger = struct.pack("ii", 1, 0)
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        self.connection.close()


@contextmanager
def running() -> Iterator[FakeServer]:
    """A FakeServer serving on a daemon thread until the block ends."""
    server = FakeServer()
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def basic_gate(username: str, password: str) -> Gate:
    """Answer 401 with a Basic challenge unless these credentials are sent."""
    expected = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    challenge = Reply(401, {"WWW-Authenticate": 'Basic realm="fake registry"'})

    def gate(seen: Seen) -> Reply | None:
        return None if seen.headers.get("Authorization") == expected else challenge

    return gate


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
