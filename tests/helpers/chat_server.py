"""A real local HTTP server that speaks the chat-completions protocol from a test's script.

`ChatServer(reply)` serves POSTs on 127.0.0.1 (a free port; `url` ends in /v1). Each request's
JSON body is appended to `seen` as {"path", "body", "headers"} and handed to `reply(body)`, which
returns (status, extra headers, reply body: a dict sent as JSON or a raw string).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

Reply = tuple[int, dict[str, str], "dict[str, Any] | str"]


class ChatServer:
    def __init__(self, reply: Callable[[dict[str, Any]], Reply]):
        self.seen: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.seen.append({"path": self.path, "body": body, "headers": dict(self.headers)})
                status, headers, answer = reply(body)
                data = (answer if isinstance(answer, str) else json.dumps(answer)).encode()
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
