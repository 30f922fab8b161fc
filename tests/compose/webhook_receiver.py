"""The operator's notification webhook, run in a container on the Compose network.

Standard library only: it runs on the product image's Python. The notifier POSTs each
notification to /notify; the test, on the host, reads them back at GET /received through the
port published on 127.0.0.1.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

received: list[dict] = []
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with lock:
            received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        with lock:
            body = json.dumps(received).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
