"""A local HTTP server that receives status webhooks the way a subscriber's endpoint would.

It verifies signatures with its own code, written from the Standard Webhooks specification
rather than with Firebreak's signer, remembers every request and answers from a script.
"""

import base64
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

TOLERANCE_SECONDS = 300


def signature_valid(*, secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Verify a request per Standard Webhooks: any `v1,` signature of id.timestamp.body."""
    try:
        key = base64.b64decode(secret.split("_", 1)[1])
        message_id = headers["webhook-id"]
        timestamp = headers["webhook-timestamp"]
        signatures = headers["webhook-signature"].split(" ")
    except (KeyError, IndexError, ValueError):
        return False
    if abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    signed = message_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        version == "v1" and hmac.compare_digest(value, expected)
        for version, _, value in (entry.partition(",") for entry in signatures)
    )


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    raw: bytes
    answered: int

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


@dataclass
class Receiver:
    url: str = ""
    secret: str = ""
    script: list[int] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    redirect_to: str = ""

    def accepted(self) -> list[Request]:
        return [r for r in self.requests if 200 <= r.answered < 300]


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    """Serve a receiver on 127.0.0.1 in a thread for the duration of the block."""
    receiver = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {key.lower(): value for key, value in self.headers.items()}
            with lock:
                answer = receiver.script.pop(0) if receiver.script else 200
                if receiver.secret and not signature_valid(
                    secret=receiver.secret, headers=headers, body=raw
                ):
                    answer = 401
                receiver.requests.append(Request(self.path, headers, raw, answer))
            self.send_response(answer)
            if 300 <= answer < 400:
                self.send_header("Location", receiver.redirect_to or "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/status"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
