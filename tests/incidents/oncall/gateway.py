"""A local HTTP server that behaves like an SMS/voice gateway receiving Firebreak's webhooks.

It checks the HMAC signature the way a real gateway would, remembers every request, and answers
from a script of responses: a status code, or "hang" to answer too late (a timeout).
"""

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    body: dict[str, Any]
    signature_ok: bool


@dataclass
class Gateway:
    secret: str
    url: str = ""
    script: list[int | str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    hang_seconds: float = 1.0

    def accepted(self) -> list[Received]:
        return [r for r in self.received if r.headers.get("x-answered") == "200"]


@contextmanager
def running_gateway(secret: str) -> Iterator[Gateway]:
    """Serve a fake gateway on 127.0.0.1 in a thread for the duration of the block."""
    gateway = Gateway(secret=secret)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            timestamp = self.headers.get("X-Firebreak-Timestamp", "")
            expected = (
                "sha256="
                + hmac.new(
                    gateway.secret.encode(), timestamp.encode() + b"." + raw, hashlib.sha256
                ).hexdigest()
            )
            ok = hmac.compare_digest(expected, self.headers.get("X-Firebreak-Signature", ""))
            with lock:
                answer = gateway.script.pop(0) if gateway.script else 200
                headers = {k.lower(): v for k, v in self.headers.items()}
                headers["x-answered"] = str(answer)
                gateway.received.append(Received(headers, json.loads(raw or b"{}"), ok))
                number = len(gateway.received)
            if answer == "hang":
                time.sleep(gateway.hang_seconds)
                answer = 200
            if not ok:
                answer = 401
            self.send_response(int(answer))
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            if answer == 200:
                self.wfile.write(json.dumps({"message_id": f"gw-{number}"}).encode())

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    gateway.url = f"http://127.0.0.1:{server.server_address[1]}/page"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gateway
    finally:
        server.shutdown()
        server.server_close()
